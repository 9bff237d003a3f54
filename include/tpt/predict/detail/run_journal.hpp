// The checkpoint of a prediction run: a JSON-lines file that grows by one line per finished image,
// written in blocks and fsync'ed, so a stopped or crashed run loses at most the block in flight
// and a rerun skips what is already done. A line cut short by a crash is dropped on reading.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/data/image_error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/file_stamp.hpp"
#include "tpt/predict/prediction.hpp"

namespace tpt::predict::detail {

// 2: entries carry the boxes they classified (version 1 did not, so a MegaDetector file rewritten
// between a stop and a resume had its old classifications put on its new boxes).
// 3: entries carry the image file's size and modification time (a frame replaced under the same
// name between a stop and a resume kept the old frame's classification). Version 2 journals are
// still resumed, without that check for their entries.
inline constexpr int journal_version = 3;
inline constexpr int oldest_resumable_journal_version = 2;

using io::file_stamp;
using io::stamp_of;

/// One finished image as the journal keeps it: its outcome, the boxes it was for and, since
/// version 3, the stamp of the file it was read from.
struct journal_entry {
  image_outcome outcome;
  std::vector<normalized_box> boxes{whole_frame};
  std::optional<file_stamp> stamp{};
};

/// The entry's line. Boxes are written unless they are the whole frame alone (whole-image runs);
/// doubles print in their shortest form that reads back to the same value.
inline nlohmann::json outcome_to_json(std::string_view key, const image_outcome& o,
                                      std::span<const normalized_box> boxes,
                                      const std::optional<file_stamp>& stamp = std::nullopt) {
  nlohmann::json j{{"key", key}};
  if (stamp) j["file"] = {stamp->size, stamp->mtime_ns};
  if (!(boxes.size() == 1 && boxes.front() == whole_frame)) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& b : boxes) list.push_back({b.x, b.y, b.width, b.height});
    j["boxes"] = std::move(list);
  }
  if (o.failure) {
    j["failure"] = {{"problem", std::string(data::to_string(o.failure->problem))}, {"detail", o.failure->detail}};
    return j;
  }
  nlohmann::json predictions = nlohmann::json::array();
  for (const auto& scores : o.predictions) {
    nlohmann::json list = nlohmann::json::array();
    // The float widened to double prints (shortest form) and reads back to the same float.
    for (const auto& s : scores) list.push_back({s.class_index, static_cast<double>(s.confidence)});
    predictions.push_back(std::move(list));
  }
  j["predictions"] = std::move(predictions);
  return j;
}

inline std::optional<data::image_problem> parse_problem(std::string_view text) {
  using P = data::image_problem;
  for (P p : {P::missing, P::unreadable, P::empty, P::truncated, P::corrupt, P::unsupported, P::too_large,
              P::outside_root})
    if (data::to_string(p) == text) return p;
  return std::nullopt;
}

/// The entry in a journal line; nullopt when the line is not one tpt wrote.
inline std::optional<std::pair<std::string, journal_entry>> outcome_from_json(const nlohmann::json& j) {
  try {
    journal_entry entry;
    image_outcome& o = entry.outcome;
    std::string key = j.at("key").get<std::string>();
    if (j.contains("file")) {
      const auto& f = j.at("file");
      if (!f.is_array() || f.size() != 2) return std::nullopt;
      entry.stamp = file_stamp{f.at(0).get<std::int64_t>(), f.at(1).get<std::int64_t>()};
    }
    if (j.contains("boxes")) {
      entry.boxes.clear();
      for (const auto& b : j.at("boxes")) {
        if (b.size() != 4) return std::nullopt;
        entry.boxes.push_back({b.at(0).get<double>(), b.at(1).get<double>(), b.at(2).get<double>(), b.at(3).get<double>()});
      }
    }
    if (j.contains("failure")) {
      const auto problem = parse_problem(j.at("failure").at("problem").get<std::string>());
      if (!problem) return std::nullopt;
      o.failure = image_failure{*problem, j.at("failure").at("detail").get<std::string>()};
    } else {
      for (const auto& list : j.at("predictions")) {
        std::vector<class_score> scores;
        for (const auto& s : list)
          scores.push_back({s.at(0).get<std::int64_t>(), static_cast<float>(s.at(1).get<double>())});
        o.predictions.push_back(std::move(scores));
      }
    }
    return std::pair{std::move(key), std::move(entry)};
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

class run_journal {
 public:
  /// Open the journal at `file` for a run with `settings`. An existing journal written with the
  /// same settings is resumed (restart = false); one with other settings is an error that lists
  /// them; restart = true discards it.
  run_journal(std::filesystem::path file, nlohmann::json settings, bool restart)
      : file_(std::move(file)), settings_(std::move(settings)) {
    std::error_code ec;
    if (restart) std::filesystem::remove(file_, ec);
    if (std::filesystem::exists(file_, ec)) {
      load();
    } else {
      const std::string header =
          nlohmann::json{{"tpt_predict_checkpoint", journal_version}, {"settings", settings_}}.dump() + "\n";
      io::write_text_atomically(file_, header);
    }
  }

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
  [[nodiscard]] std::unordered_map<std::string, journal_entry>& done() noexcept { return done_; }

  /// A finished image to append: its key, outcome, boxes and the stamp of its file.
  struct finished {
    std::string_view key;
    const image_outcome* outcome;
    std::span<const normalized_box> boxes;
    std::optional<file_stamp> stamp{};
  };

  /// Add finished images and make them durable (fsync) before returning.
  void append(std::span<const finished> entries) {
    if (entries.empty()) return;
    std::string text;
    for (const auto& e : entries)
      text += outcome_to_json(e.key, *e.outcome, e.boxes, e.stamp).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
              "\n";
    const int fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) throw input_error(file_, fmt::format("cannot open the checkpoint for appending: {}", std::strerror(errno)));
    std::size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int e = errno;
        ::close(fd);
        throw input_error(file_, fmt::format("cannot write the checkpoint: {} (disk full?)", std::strerror(e)));
      }
      written += static_cast<std::size_t>(n);
    }
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw input_error(file_, "fsync of the checkpoint failed");
  }

  /// Delete the journal (after the final results are written).
  void remove() {
    std::error_code ec;
    std::filesystem::remove(file_, ec);
  }

 private:
  void load() {
    const std::string text = io::read_text(file_);
    std::size_t pos = 0, line_no = 0, complete_end = 0;
    while (pos < text.size()) {
      const std::size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) break;  // cut short by a crash: dropped below
      ++line_no;
      const std::string_view line(text.data() + pos, nl - pos);
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (line_no == 1) {
        if (j.is_discarded() || !j.is_object() || !j.contains("tpt_predict_checkpoint") || !j.contains("settings"))
          throw input_error(file_, 1, "is not a tpt-predict checkpoint; delete it or choose another checkpoint file");
        const auto& version = j["tpt_predict_checkpoint"];
        if (!version.is_number_integer() || version.get<int>() < oldest_resumable_journal_version ||
            version.get<int>() > journal_version)
          throw input_error(file_, 1, fmt::format("checkpoint version {} is not one this tpt resumes ({} to {}); pass "
                                                  "--restart (restart = true) to start over",
                                                  version.dump(), oldest_resumable_journal_version, journal_version));
        check_settings(j["settings"]);
      } else {
        auto entry = j.is_discarded() ? std::nullopt : outcome_from_json(j);
        if (!entry)
          throw input_error(file_, line_no, "damaged checkpoint entry; delete the file or restart to start over");
        done_.insert_or_assign(std::move(entry->first), std::move(entry->second));
      }
      pos = nl + 1;
      complete_end = pos;
    }
    if (line_no == 0)
      throw input_error(file_, "is empty or cut short before its header; delete it or restart to start over");
    if (complete_end < text.size()) std::filesystem::resize_file(file_, complete_end);
  }

  void check_settings(const nlohmann::json& stored) const {
    if (stored == settings_) return;
    std::vector<std::string> differences;
    for (const auto& [key, value] : settings_.items()) {
      if (!stored.contains(key)) {
        differences.push_back(fmt::format("{} (not recorded)", key));
      } else if (stored[key] != value) {
        differences.push_back(fmt::format("{} was {}, now {}", key, stored[key].dump(), value.dump()));
      }
    }
    for (const auto& [key, value] : stored.items())
      if (!settings_.contains(key)) differences.push_back(fmt::format("{} (no longer set)", key));
    throw input_error(file_, fmt::format("holds partial results of a run with other settings ({}); rerun with the "
                                         "same settings to resume, or restart to discard it",
                                         fmt::join(differences, "; ")));
  }

  std::filesystem::path file_;
  nlohmann::json settings_;
  std::unordered_map<std::string, journal_entry> done_;
};

}  // namespace tpt::predict::detail
