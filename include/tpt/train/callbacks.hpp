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
#include <type_traits>
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

// For each hook: has_<hook> says whether a callback has it (called with the event and the
// trainer, or with the event alone), declares_<hook> whether it has a member of that name at all
// (a plain member function: a template or an overload set is not looked at), and
// call_<hook>(cb, event, trainer) calls it, or nothing when the callback lacks it. A hook declared
// with the wrong signature is caught by require_callback, not silently never called.
#define TPT_DETAIL_CALLBACK_HOOK(hook, event_type)                                                    \
  template <class Callback, class Trainer>                                                            \
  concept has_##hook = requires(Callback& cb, const event_type& event, Trainer& trainer) {            \
    cb.hook(event, trainer);                                                                          \
  } || requires(Callback& cb, const event_type& event) { cb.hook(event); };                           \
  template <class Callback>                                                                           \
  concept declares_##hook = requires { &std::remove_cvref_t<Callback>::hook; };                      \
  template <class Callback, class Trainer>                                                            \
  concept callable_if_declared_##hook = !declares_##hook<Callback> || has_##hook<Callback, Trainer>;   \
  template <class Callback, class Trainer>                                                            \
  void call_##hook(Callback& cb, const event_type& event, Trainer& trainer) {                         \
    if constexpr (requires { cb.hook(event, trainer); }) cb.hook(event, trainer);                     \
    else if constexpr (requires { cb.hook(event); }) cb.hook(event);                                  \
  }                                                                                                   \
  template <class Callback, class Trainer>                                                            \
  consteval bool check_##hook() {                                                                     \
    static_assert(callable_if_declared_##hook<Callback, Trainer>,                                     \
                  "this type is not a tpt::callback: its " #hook " cannot be called as " #hook        \
                  "(const tpt::" #event_type "&) or " #hook "(const tpt::" #event_type "&, trainer&), " \
                  "so the trainer would never call it (a hook taking the event by non-const "         \
                  "reference, or a non-const hook on a callback passed as const?)");                  \
    return true;                                                                                      \
  }

TPT_DETAIL_CALLBACK_HOOK(on_fit_begin, fit_begin_event)
TPT_DETAIL_CALLBACK_HOOK(on_phase_begin, phase_begin_event)
TPT_DETAIL_CALLBACK_HOOK(on_batch_end, batch_end_event)
TPT_DETAIL_CALLBACK_HOOK(on_epoch_end, epoch_end_event)
TPT_DETAIL_CALLBACK_HOOK(on_phase_end, phase_end_event)
TPT_DETAIL_CALLBACK_HOOK(on_fit_end, fit_end_event)
#undef TPT_DETAIL_CALLBACK_HOOK

template <class Callback>
concept declares_a_hook = declares_on_fit_begin<Callback> || declares_on_phase_begin<Callback> ||
                          declares_on_batch_end<Callback> || declares_on_epoch_end<Callback> ||
                          declares_on_phase_end<Callback> || declares_on_fit_end<Callback>;

}  // namespace detail

/// What the trainer accepts as a callback (for a callback object of type `Callback`, const when
/// passed as const, and the trainer type `Trainer`): a class with at least one of the hooks
/// on_fit_begin, on_phase_begin, on_batch_end, on_epoch_end, on_phase_end, on_fit_end, each
/// taking its event (`const tpt::epoch_end_event&`, ...) and optionally the trainer.
template <class Callback, class Trainer>
concept callback = detail::has_on_fit_begin<Callback, Trainer> || detail::has_on_phase_begin<Callback, Trainer> ||
                   detail::has_on_batch_end<Callback, Trainer> || detail::has_on_epoch_end<Callback, Trainer> ||
                   detail::has_on_phase_end<Callback, Trainer> || detail::has_on_fit_end<Callback, Trainer>;

/// `static_assert(tpt::require_callback<C, Trainer>())`: one error naming tpt::callback when `C`
/// declares a hook the trainer cannot call, or has no hook at all (a misspelt on_epoch_ended would
/// otherwise be skipped without a word).
template <class Callback, class Trainer>
consteval bool require_callback() {
  using C = std::remove_reference_t<Callback>;
  // The first hook that cannot be called, alone: one error, however many hooks share the fault.
  if constexpr (!detail::callable_if_declared_on_fit_begin<C, Trainer>) {
    return detail::check_on_fit_begin<C, Trainer>();
  } else if constexpr (!detail::callable_if_declared_on_phase_begin<C, Trainer>) {
    return detail::check_on_phase_begin<C, Trainer>();
  } else if constexpr (!detail::callable_if_declared_on_batch_end<C, Trainer>) {
    return detail::check_on_batch_end<C, Trainer>();
  } else if constexpr (!detail::callable_if_declared_on_epoch_end<C, Trainer>) {
    return detail::check_on_epoch_end<C, Trainer>();
  } else if constexpr (!detail::callable_if_declared_on_phase_end<C, Trainer>) {
    return detail::check_on_phase_end<C, Trainer>();
  } else if constexpr (!detail::callable_if_declared_on_fit_end<C, Trainer>) {
    return detail::check_on_fit_end<C, Trainer>();
  } else if constexpr (detail::declares_a_hook<C>) {
    return true;
  } else {
    static_assert(callback<C, Trainer>,
                  "this type is not a tpt::callback: it has none of the hooks on_fit_begin, on_phase_begin, "
                  "on_batch_end, on_epoch_end, on_phase_end, on_fit_end (each taking its event, e.g. "
                  "const tpt::epoch_end_event&, and optionally the trainer), so the trainer would never call it "
                  "(a misspelt hook name?)");
    return true;
  }
}

namespace detail {

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
      fmt::print(out_, "  phase {}: restored the weights of epoch {} ({} = {:.4f}, the best)\n", e.phase,
                 e.best_epoch + 1, e.monitor.empty() ? std::string("monitored value") : e.monitor, e.best_value);
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
/// `trainer.resume(path)` continues from it. At the start and end of fit() it removes the
/// temporary files a killed run left beside the checkpoint (io::remove_abandoned_temporaries):
/// each is the size of a checkpoint.
class save_checkpoints {
 public:
  explicit save_checkpoints(std::filesystem::path file) : file_(std::move(file)) {}

  void on_fit_begin(const fit_begin_event&) { io::remove_abandoned_temporaries(file_); }
  void on_fit_end(const fit_end_event&) { io::remove_abandoned_temporaries(file_); }

  template <class Trainer>
  void on_epoch_end(const epoch_end_event&, Trainer& trainer) {
    trainer.save_checkpoint(file_);
  }

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  std::filesystem::path file_;
};

}  // namespace tpt
