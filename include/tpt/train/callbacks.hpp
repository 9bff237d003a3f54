// Callbacks passed to the trainer as a variadic pack (ensmallen style): plain classes with only
// the hooks they need, found at compile time. A hook takes the event, or the event and the
// trainer: on_fit_begin, on_phase_begin, on_batch_end, on_epoch_end, on_phase_end, on_fit_end.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"
#include "tpt/train/events.hpp"

namespace tpt {

namespace detail {

// Each call_<hook> calls cb.<hook>(event, trainer) or cb.<hook>(event), whichever the callback
// has, and nothing if it has neither.
template <class Callback, class Event, class Trainer>
void call_on_fit_begin(Callback& cb, const Event& event, Trainer& trainer) {
  if constexpr (requires { cb.on_fit_begin(event, trainer); }) cb.on_fit_begin(event, trainer);
  else if constexpr (requires { cb.on_fit_begin(event); }) cb.on_fit_begin(event);
}
template <class Callback, class Event, class Trainer>
void call_on_phase_begin(Callback& cb, const Event& event, Trainer& trainer) {
  if constexpr (requires { cb.on_phase_begin(event, trainer); }) cb.on_phase_begin(event, trainer);
  else if constexpr (requires { cb.on_phase_begin(event); }) cb.on_phase_begin(event);
}
template <class Callback, class Event, class Trainer>
void call_on_batch_end(Callback& cb, const Event& event, Trainer& trainer) {
  if constexpr (requires { cb.on_batch_end(event, trainer); }) cb.on_batch_end(event, trainer);
  else if constexpr (requires { cb.on_batch_end(event); }) cb.on_batch_end(event);
}
template <class Callback, class Event, class Trainer>
void call_on_epoch_end(Callback& cb, const Event& event, Trainer& trainer) {
  if constexpr (requires { cb.on_epoch_end(event, trainer); }) cb.on_epoch_end(event, trainer);
  else if constexpr (requires { cb.on_epoch_end(event); }) cb.on_epoch_end(event);
}
template <class Callback, class Event, class Trainer>
void call_on_phase_end(Callback& cb, const Event& event, Trainer& trainer) {
  if constexpr (requires { cb.on_phase_end(event, trainer); }) cb.on_phase_end(event, trainer);
  else if constexpr (requires { cb.on_phase_end(event); }) cb.on_phase_end(event);
}
template <class Callback, class Event, class Trainer>
void call_on_fit_end(Callback& cb, const Event& event, Trainer& trainer) {
  if constexpr (requires { cb.on_fit_end(event, trainer); }) cb.on_fit_end(event, trainer);
  else if constexpr (requires { cb.on_fit_end(event); }) cb.on_fit_end(event);
}

inline std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

}  // namespace detail

/// A progress bar: phase, epoch, step, loss, images/s and ETA, redrawn in place on a terminal
/// (at most every `interval` seconds) and one line per epoch otherwise (CI logs stay readable).
class progress_bar {
 public:
  explicit progress_bar(std::FILE* out = stderr, double interval = 0.25)
      : out_(out), interval_(interval), tty_(::isatty(::fileno(out)) != 0) {}

  void on_phase_begin(const phase_begin_event& e) {
    fmt::print(out_, "phase {}: {} epochs of {} images, batch {}, {} trainable parameters{}\n", e.phase,
               e.epochs, e.examples_per_epoch, e.batch_size, e.trainable_parameters,
               e.fast_path ? " (fast path: classifier on cached features)" : "");
    std::fflush(out_);
  }

  void on_batch_end(const batch_end_event& e) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (e.step != e.steps && std::chrono::duration<double>(now - last_).count() < interval_) return;
    last_ = now;
    const double rate = e.seconds > 0 ? static_cast<double>(e.images) / e.seconds : 0;
    const double eta = e.step > 0 ? e.seconds / static_cast<double>(e.step) * static_cast<double>(e.steps - e.step) : -1;
    constexpr int width = 24;
    const int filled = e.steps > 0 ? static_cast<int>(width * e.step / e.steps) : 0;
    fmt::print(out_, "\r  epoch {}/{} [{:=<{}}{:<{}}] {}/{} loss {:.4f} {:.0f} img/s ETA {}   ", e.epoch + 1,
               e.epochs, "", filled, "", width - filled, e.step, e.steps, e.mean_loss, rate,
               detail::format_duration(eta));
    std::fflush(out_);
  }

  void on_epoch_end(const epoch_end_event& e) {
    if (tty_) fmt::print(out_, "\r{:<110}\r", "");
    auto it = e.validation.find(e.monitor);
    fmt::print(out_, "  phase {} epoch {}/{}: loss {:.4f}, val {} {}{}, {:.0f} img/s, {}{}\n", e.phase,
               e.epoch + 1, e.epochs, e.train_loss, e.monitor,
               it != e.validation.end() ? fmt::format("{:.4f}", it->second) : std::string("n/a"),
               e.improved ? " (best)" : "",
               e.images_per_second, detail::format_duration(e.seconds), e.stop ? ", early stop" : "");
    std::fflush(out_);
  }

  void on_phase_end(const phase_end_event& e) {
    if (e.restored_best)
      fmt::print(out_, "  phase {}: restored the weights of epoch {} ({} = {:.4f})\n", e.phase,
                 e.best_epoch + 1, "best", e.best_value);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  double interval_;
  bool tty_;
  std::chrono::steady_clock::time_point last_{};
};

/// Every epoch's record as JSON lines (one object per line) and as CSV (one row per epoch, a
/// column per validation metric). Both files are rewritten atomically after every epoch, so a
/// crash never leaves a torn line; on resume the records of the epochs already done are kept.
class metrics_log {
 public:
  metrics_log(std::filesystem::path jsonl, std::filesystem::path csv)
      : jsonl_(std::move(jsonl)), csv_(std::move(csv)) {}

  void on_fit_begin(const fit_begin_event& e) {
    records_.clear();
    const bool resuming = e.start_phase > 1 || e.start_epoch > 0;
    if (!resuming || !std::filesystem::exists(jsonl_)) return;
    std::ifstream in(jsonl_);
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& ex) {
        throw input_error(jsonl_, number, fmt::format("not a JSON object: {}", ex.what()));
      }
      const int phase = j.value("phase", 0);
      const std::int64_t epoch = j.value("epoch", std::int64_t{0}) - 1;  // stored 1-based
      if (phase < e.start_phase || (phase == e.start_phase && epoch < e.start_epoch)) records_.push_back(j);
    }
  }

  void on_epoch_end(const epoch_end_event& e) {
    nlohmann::json j;
    j["phase"] = e.phase;
    j["epoch"] = e.epoch + 1;
    j["train_loss"] = e.train_loss;
    j["learning_rate"] = e.learning_rate;
    j["images"] = e.images;
    j["seconds"] = e.seconds;
    j["train_seconds"] = e.train_seconds;
    j["images_per_second"] = e.images_per_second;
    j["improved"] = e.improved;
    for (const auto& [name, value] : e.validation) j["val_" + name] = value;
    records_.push_back(std::move(j));
    flush();
  }

  [[nodiscard]] const std::vector<nlohmann::json>& records() const noexcept { return records_; }

 private:
  void flush() const {
    io::write_atomically(jsonl_, [&](std::ostream& out) {
      for (const auto& r : records_) out << r.dump() << '\n';
    });
    std::vector<std::string> columns;
    for (const auto& r : records_)
      for (const auto& item : r.items())
        if (std::find(columns.begin(), columns.end(), item.key()) == columns.end()) columns.push_back(item.key());
    io::write_atomically(csv_, [&](std::ostream& out) {
      for (std::size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << io::csv_escape(columns[i]);
      out << '\n';
      for (const auto& r : records_) {
        for (std::size_t i = 0; i < columns.size(); ++i) {
          if (i) out << ',';
          if (auto it = r.find(columns[i]); it != r.end()) out << (it->is_string() ? it->get<std::string>() : it->dump());
        }
        out << '\n';
      }
    });
  }

  std::filesystem::path jsonl_, csv_;
  std::vector<nlohmann::json> records_;
};

/// Write a checkpoint after every epoch (atomically, so the last good one survives a crash);
/// `trainer.resume(path)` continues from it.
class save_checkpoints {
 public:
  explicit save_checkpoints(std::filesystem::path file) : file_(std::move(file)) {}

  template <class Trainer>
  void on_epoch_end(const epoch_end_event&, Trainer& trainer) {
    trainer.save_checkpoint(file_);
  }

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  std::filesystem::path file_;
};

}  // namespace tpt
