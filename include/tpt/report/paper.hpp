// The paper's own figures, shipped inside tpt so that reports can print them beside ours: Tables
// 1-3 (accuracy and macro precision, recall, F1 of the five models after each phase) and the class
// distribution of Snapshot Serengeti season 9 (52 species, train and test images). The texts are
// verbatim copies of the project's reference files; a test checks that they stay equal.
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

/// serengeti_s9_counts.csv: species,train,test, most frequent first.
inline constexpr std::string_view serengeti_s9_counts_csv = R"csv(species,train,test
wildebeest,48377,6047
zebra,36480,4560
gazelleThomsons,30368,3795
elephant,4761,594
buffalo,3920,490
warthog,3730,466
giraffe,3145,392
gazelleGrants,2857,357
impala,2746,343
otherBird,2380,297
hartebeest,2368,295
hyenaSpotted,2119,264
guineaFowl,1516,189
lionFemale,1207,150
topi,1204,150
baboon,1003,125
secretaryBird,735,90
eland,723,90
hippopotamus,608,76
dikDik,590,73
ostrich,478,59
cheetah,470,58
reedbuck,462,57
koriBustard,435,54
insectSpider,385,47
jackal,383,47
lionMale,294,36
serval,242,30
hare,220,27
mongoose,168,21
porcupine,120,14
vervetMonkey,118,12
batEaredFox,96,11
aardvark,88,10
waterbuck,78,9
aardwolf,73,9
leopard,48,5
bushbuck,34,4
vulture,32,4
duiker,29,3
hyenaStriped,29,3
cattle,27,3
reptiles,17,2
rhinoceros,15,1
steenbok,15,1
honeyBadger,14,1
caracal,14,1
civet,11,1
wildcat,8,1
genet,8,1
zorilla,5,1
rodents,1,1
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

/// One species of Snapshot Serengeti season 9 with its image counts in the paper's split.
struct species_count {
  std::string name;
  std::int64_t train = 0;
  std::int64_t test = 0;
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

/// The 52 species of Snapshot Serengeti season 9 with the paper's train and test counts.
inline const std::vector<species_count>& serengeti_s9_species() {
  static const std::vector<species_count> rows = [] {
    std::vector<species_count> out;
    for (const auto& c : detail::split_csv(serengeti_s9_counts_csv, "serengeti_s9_counts.csv", 3))
      out.push_back({c[0], detail::number<std::int64_t>(c[1], "serengeti_s9_counts.csv"),
                     detail::number<std::int64_t>(c[2], "serengeti_s9_counts.csv")});
    return out;
  }();
  return rows;
}

/// Whether a class list is the paper's: the 52 Serengeti S9 species, in any order. Only then do
/// the paper's figures mean something beside ours.
inline bool is_serengeti_s9(std::span<const std::string> class_names) {
  const auto& species = serengeti_s9_species();
  if (class_names.size() != species.size()) return false;
  std::set<std::string_view> names(class_names.begin(), class_names.end());
  if (names.size() != species.size()) return false;
  return std::all_of(species.begin(), species.end(), [&](const species_count& s) { return names.count(s.name) == 1; });
}

}  // namespace tpt::paper
