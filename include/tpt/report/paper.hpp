// The paper's own figures, shipped inside tpt so that reports can print them beside ours: Tables
// 1-3 (accuracy and macro precision, recall, F1 of the five models after each phase), and which
// class lists are the paper's 52 Snapshot Serengeti season-9 species (the counts themselves are
// tpt::serengeti::season9, the one copy in tpt). The text of Tables 1-3 is a verbatim copy of the
// paper's results file; a test checks that it stays equal.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/sampling/serengeti.hpp"

namespace tpt::paper {

/// paper_results.csv: model,phase,accuracy,macro_precision,macro_recall,macro_f1.
inline constexpr std::string_view results_csv = R"csv(model,phase,accuracy,macro_precision,macro_recall,macro_f1
baseline,1,0.8527,0.5055,0.3558,0.3944
ros,1,0.8326,0.4691,0.3689,0.3843
ros,2,0.8528,0.5053,0.3635,0.4012
rus,1,0.8012,0.4609,0.3592,0.3681
rus,2,0.8491,0.5319,0.3648,0.4147
ros_rus_15k,1,0.8346,0.4519,0.4094,0.4179
ros_rus_15k,2,0.8454,0.5284,0.3563,0.4094
ros_rus_5k,1,0.7335,0.3702,0.3974,0.3620
ros_rus_5k,2,0.8066,0.5640,0.3438,0.4001
)csv";

/// One row of the paper's Tables 1-3.
struct result {
  std::string model;  // the paper's id: baseline, ros, rus, ros_rus_15k, ros_rus_5k
  int phase = 1;
  double accuracy = 0;
  double macro_precision = 0;
  double macro_recall = 0;
  double macro_f1 = 0;
};

/// The paper's model names in its own order and spelling.
inline constexpr std::string_view model_names[] = {"baseline", "ROS", "RUS", "ROS&RUS(15K)", "ROS&RUS(5K)"};

/// A model name reduced to lower-case letters and digits joined by '_': "ROS&RUS(15K)" and
/// "ros_rus_15k" both give "ros_rus_15k", the id paper_results.csv uses. Also makes file names.
inline std::string model_id(std::string_view name) {
  std::string id;
  bool gap = false;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      if (gap && !id.empty()) id += '_';
      id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      gap = false;
    } else {
      gap = true;
    }
  }
  return id;
}

/// Position of a model among the paper's five (baseline first), or nullopt for a user's model.
inline std::optional<std::size_t> model_rank(std::string_view name) {
  const std::string id = model_id(name);
  for (std::size_t i = 0; i < std::size(model_names); ++i)
    if (model_id(model_names[i]) == id) return i;
  return std::nullopt;
}

/// What groups runs of one model: the paper's id for any spelling of its five models ("ROS&RUS(15K)",
/// "ros_rus_15k"), the exact name for any other. Reducing every name to model_id merged different
/// models: "ResNet-50" and "ResNet 50", or any two names without ASCII letters ("模型一", "模型二").
inline std::string model_key(std::string_view name) {
  if (const auto rank = model_rank(name)) return model_id(model_names[*rank]);
  return std::string(name);
}

/// A part of a file name for a model or loss name: model_id when it is the paper's model or the
/// name already is its id ("cross_entropy"); otherwise the id (or "model" when nothing is left)
/// and 8 hex digits of a hash of the exact name, so that two names never share a file.
inline std::string file_slug(std::string_view name) {
  std::string id = model_id(name);
  if (model_rank(name) || id == name) return id;
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return fmt::format("{}_{:08x}", id.empty() ? "model" : id, h);
}

namespace detail {

inline std::vector<std::vector<std::string>> split_csv(std::string_view text, std::string_view what,
                                                       std::size_t fields) {
  std::vector<std::vector<std::string>> rows;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++line_no;
    if (line_no == 1 || line.empty()) continue;  // header
    std::vector<std::string> cells;
    std::size_t start = 0;
    while (true) {
      const auto comma = line.find(',', start);
      cells.emplace_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (cells.size() != fields) throw input_error(std::string(what), line_no, "wrong number of fields");
    rows.push_back(std::move(cells));
  }
  return rows;
}

template <class T>
T number(const std::string& text, std::string_view what) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size())
    throw input_error(std::string(what), fmt::format("'{}' is not a number", text));
  return value;
}

}  // namespace detail

/// The paper's Tables 1-3, parsed from results_csv.
inline const std::vector<result>& results() {
  static const std::vector<result> rows = [] {
    std::vector<result> out;
    for (const auto& c : detail::split_csv(results_csv, "paper_results.csv", 6))
      out.push_back({c[0], detail::number<int>(c[1], "paper_results.csv"),
                     detail::number<double>(c[2], "paper_results.csv"),
                     detail::number<double>(c[3], "paper_results.csv"),
                     detail::number<double>(c[4], "paper_results.csv"),
                     detail::number<double>(c[5], "paper_results.csv")});
    return out;
  }();
  return rows;
}

/// The paper's figures for a model (any spelling model_id understands) after a phase.
inline std::optional<result> find_result(std::string_view model, int phase) {
  const std::string id = model_id(model);
  for (const auto& r : results())
    if (r.model == id && r.phase == phase) return r;
  return std::nullopt;
}

/// The 52 species of Snapshot Serengeti season 9 with the paper's train and test counts, most
/// frequent first: tpt::serengeti::season9.
inline std::span<const serengeti::species_count> serengeti_s9_species() noexcept { return serengeti::season9; }

/// Whether a class list is the paper's: the 52 Serengeti S9 species, in any order. Only then do
/// the paper's figures mean something beside ours.
inline bool is_serengeti_s9(std::span<const std::string> class_names) {
  const auto species = serengeti_s9_species();
  if (class_names.size() != species.size()) return false;
  std::set<std::string_view> names(class_names.begin(), class_names.end());
  if (names.size() != species.size()) return false;
  return std::all_of(species.begin(), species.end(), [&](const serengeti::species_count& s) { return names.count(s.species) == 1; });
}

}  // namespace tpt::paper
