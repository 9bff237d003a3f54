// Train/validation/test splits: seeded, stratified by class, grouped by capture event (seq_id) or
// camera location so near-identical frames never straddle splits, and stored in a split file
// that repeats a run exactly.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/data/detail/string_index.hpp"
#include "tpt/data/manifest.hpp"
#include "tpt/data/records.hpp"
#include "tpt/io/csv.hpp"

namespace tpt::data {

/// What must stay together in one split.
enum class split_grouping : std::uint8_t {
  none,     ///< every image on its own (exactly stratified)
  seq_id,   ///< all frames of one capture event (the paper's choice)
  location  ///< all images of one camera location (a harder, site-level test)
};

constexpr std::string_view name(split_grouping g) noexcept {
  switch (g) {
    case split_grouping::none: return "none";
    case split_grouping::seq_id: return "seq_id";
    case split_grouping::location: return "location";
  }
  return "?";
}

struct split_options {
  double train = 0.8;
  double validation = 0.1;
  double test = 0.1;
  std::uint64_t seed = 0;
  /// Images with an empty seq_id (or location) form groups of one.
  split_grouping group_by = split_grouping::seq_id;
  /// Keep the split a source fixed (a manifest's split column); the rest is drawn around it.
  bool respect_given = true;

  [[nodiscard]] std::array<double, num_split_kinds> fractions() const noexcept {
    return {train, validation, test};
  }
};

/// The split of every sample of a dataset_index, by position.
struct split_assignment {
  std::vector<split_kind> of;

  [[nodiscard]] std::size_t size() const noexcept { return of.size(); }
  /// Positions of the samples in split `s`, ascending.
  [[nodiscard]] std::vector<std::int64_t> indices(split_kind s) const {
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < of.size(); ++i)
      if (of[i] == s) out.push_back(static_cast<std::int64_t>(i));
    return out;
  }
  [[nodiscard]] std::size_t count(split_kind s) const noexcept {
    return static_cast<std::size_t>(std::count(of.begin(), of.end(), s));
  }
  friend bool operator==(const split_assignment&, const split_assignment&) = default;
};

/// Images per class and split, for reports and checks.
struct split_summary {
  std::vector<std::string> class_names;
  std::vector<std::array<std::int64_t, num_split_kinds>> counts;  ///< [class][split]

  [[nodiscard]] std::int64_t total(split_kind s) const noexcept {
    std::int64_t n = 0;
    for (const auto& c : counts) n += c[static_cast<std::size_t>(s)];
    return n;
  }
};

inline split_summary summarize(const dataset_index& index, const split_assignment& splits) {
  if (splits.size() != index.size())
    throw config_error("splits", fmt::format("one split per sample expected ({}), got {}",
                                             index.size(), splits.size()));
  split_summary out{index.class_names, std::vector<std::array<std::int64_t, num_split_kinds>>(
                                           index.class_names.size(), {0, 0, 0})};
  for (std::size_t i = 0; i < index.size(); ++i)
    ++out.counts[static_cast<std::size_t>(index.samples[i].label)]
                [static_cast<std::size_t>(splits.of[i])];
  return out;
}

namespace detail {

inline void check_fractions(const split_options& o) {
  const auto f = o.fractions();
  for (std::size_t s = 0; s < num_split_kinds; ++s)
    if (!(f[s] >= 0.0 && f[s] <= 1.0))
      throw config_error(std::string(name(all_split_kinds[s])),
                         fmt::format("split fraction must be in [0, 1], got {}", f[s]));
  const double sum = f[0] + f[1] + f[2];
  if (std::abs(sum - 1.0) > 1e-9)
    throw config_error("train/validation/test",
                       fmt::format("split fractions must add up to 1, got {} + {} + {} = {}", f[0],
                                   f[1], f[2], sum));
  if (f[0] <= 0.0) throw config_error("train", "the training split cannot be empty");
}

}  // namespace detail

/// Assign every sample to train, validation or test.
///
/// Stratified: for each class, each split receives close to its fraction of the class's images.
/// Grouped: all images sharing a seq_id (or location) land in the same split. Groups are placed
/// largest first (equal sizes in a seeded random order), each into the split where it most
/// reduces the squared shortfall against the per-class targets, weighted so that rare classes
/// count as much as common ones. Ungrouped, this is exactly stratified up to rounding. Given
/// splits (a manifest's split column) are kept and the rest placed around them; a group whose
/// images were given two different splits is a tpt::config_error. Depends only on the samples,
/// the options and the seed.
inline split_assignment assign_splits(const dataset_index& index, const split_options& options = {}) {
  detail::check_fractions(options);
  if (index.empty()) throw config_error("dataset", "cannot split an empty dataset");
  const std::size_t n = index.size();
  const std::size_t num_classes = index.class_names.size();

  // Groups: positions of their members, in sample order.
  std::vector<std::uint32_t> group_of(n);
  std::vector<std::vector<std::uint32_t>> members;
  {
    detail::string_index id;       // group key -> position among the keyed groups
    std::vector<std::uint32_t> group_of_key;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = index.samples[i];
      const std::string_view key = options.group_by == split_grouping::seq_id     ? s.seq_id
                                   : options.group_by == split_grouping::location ? s.location
                                                                                  : std::string_view();
      std::uint32_t g;
      if (key.empty()) {
        g = static_cast<std::uint32_t>(members.size());
        members.emplace_back();
      } else {
        bool added = false;
        const auto k = id.insert(key, added);
        if (added) {
          group_of_key.push_back(static_cast<std::uint32_t>(members.size()));
          members.emplace_back();
        }
        g = group_of_key[k];
      }
      group_of[i] = g;
      members[g].push_back(static_cast<std::uint32_t>(i));
    }
  }

  // Per-class targets; given splits placed first.
  std::vector<double> class_total(num_classes, 0.0);
  for (const auto& s : index.samples) class_total[static_cast<std::size_t>(s.label)] += 1.0;
  const auto fractions = options.fractions();
  std::vector<std::array<double, num_split_kinds>> target(num_classes), current(num_classes);
  for (std::size_t c = 0; c < num_classes; ++c)
    for (std::size_t s = 0; s < num_split_kinds; ++s) {
      target[c][s] = fractions[s] * class_total[c];
      current[c][s] = 0.0;
    }

  split_assignment out;
  out.of.assign(n, split_kind::train);
  std::vector<std::uint32_t> free_groups;
  for (std::uint32_t g = 0; g < members.size(); ++g) {
    std::optional<split_kind> given;
    if (options.respect_given) {
      for (auto i : members[g]) {
        const auto& s = index.samples[i].split;
        if (!s) continue;
        if (given && *given != *s) {
          const auto& first = index.samples[members[g].front()];
          throw config_error(
              fmt::format("split grouping by {}", name(options.group_by)),
              fmt::format("the images of group '{}' were given different splits ({} and {}), but "
                          "a group must stay in one split",
                          options.group_by == split_grouping::seq_id ? first.seq_id : first.location,
                          *given, *s));
        }
        given = s;
      }
    }
    if (given) {
      for (auto i : members[g]) {
        out.of[i] = *given;
        current[static_cast<std::size_t>(index.samples[i].label)][static_cast<std::size_t>(*given)] += 1.0;
      }
    } else {
      free_groups.push_back(g);
    }
  }

  rng gen(derive_seed(options.seed, stream_tag("split")));
  tpt::shuffle(free_groups, gen);
  std::stable_sort(free_groups.begin(), free_groups.end(), [&](std::uint32_t a, std::uint32_t b) {
    return members[a].size() > members[b].size();
  });

  std::vector<std::pair<std::size_t, double>> histogram;
  for (auto g : free_groups) {
    histogram.clear();
    for (auto i : members[g]) {
      const auto c = static_cast<std::size_t>(index.samples[i].label);
      auto it = std::find_if(histogram.begin(), histogram.end(),
                             [c](const auto& h) { return h.first == c; });
      if (it == histogram.end()) histogram.emplace_back(c, 1.0);
      else it->second += 1.0;
    }
    std::size_t best = 0;
    double best_cost = 0.0;
    bool have_best = false;
    for (std::size_t s = 0; s < num_split_kinds; ++s) {
      if (fractions[s] <= 0.0) continue;  // a split asked to stay empty stays empty
      // Change in sum_c ((current - target)^2 / total_c) if the group joins split s.
      double cost = 0.0;
      for (const auto& [c, k] : histogram)
        cost += k * (2.0 * (current[c][s] - target[c][s]) + k) / class_total[c];
      if (!have_best || cost < best_cost) {
        have_best = true;
        best = s;
        best_cost = cost;
      }
    }
    for (const auto& [c, k] : histogram) current[c][best] += k;
    for (auto i : members[g]) out.of[i] = all_split_kinds[best];
  }
  return out;
}

/// The dataset restricted to one split (samples in their original order, split field set).
inline dataset_index subset(const dataset_index& index, const split_assignment& splits, split_kind s) {
  if (splits.size() != index.size())
    throw config_error("splits", fmt::format("one split per sample expected ({}), got {}",
                                             index.size(), splits.size()));
  dataset_index out;
  out.image_root = index.image_root;
  out.class_names = index.class_names;
  for (std::size_t i = 0; i < index.size(); ++i)
    if (splits.of[i] == s) {
      out.samples.push_back(index.samples[i]);
      out.samples.back().split = s;
    }
  return out;
}

/// Write a split file: a manifest (path,label,split,seq_id,location) with the options that made
/// it in '#' comment lines. read_split_file or read_manifest read it back.
inline void write_split_file(const std::filesystem::path& file, const dataset_index& index,
                             const split_assignment& splits, const split_options& options = {}) {
  if (splits.size() != index.size())
    throw config_error("splits", fmt::format("one split per sample expected ({}), got {}",
                                             index.size(), splits.size()));
  write_manifest(file, index, std::span<const split_kind>(splits.of),
                 {"tpt split file: one row per image; read back with tpt::data::read_split_file",
                  fmt::format("seed={} group_by={} fractions={}/{}/{} images={} classes={}",
                              options.seed, name(options.group_by), options.train,
                              options.validation, options.test, index.size(),
                              index.class_names.size())});
}

/// Read a split file written for `index`. It must list every image of the dataset exactly once,
/// with the same label; anything else is a tpt::input_error naming the line (or the first image
/// it lacks), because a split that does not match its dataset cannot repeat a run.
inline split_assignment read_split_file(const std::filesystem::path& file, const dataset_index& index) {
  const io::csv_table table = io::read_csv(file, {"path", "label", "split"});
  std::unordered_map<std::string_view, std::size_t> position;
  position.reserve(index.size());
  for (std::size_t i = 0; i < index.size(); ++i) position.emplace(index.samples[i].path, i);

  std::vector<std::optional<split_kind>> found(index.size());
  std::vector<std::size_t> line_of(index.size(), 0);
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string& raw = table.at(r, "path");
    if (auto why = path_problem(raw)) table.fail(r, "path", *why);
    const std::string path = normal_relative_path(raw);
    const auto it = position.find(path);
    if (it == position.end())
      table.fail(r, "path", fmt::format("'{}' is not an image of the dataset ({} images under {}); "
                                        "the split file was written for another dataset",
                                        path, index.size(), index.image_root.string()));
    const std::size_t i = it->second;
    const std::string& expected = index.class_names[static_cast<std::size_t>(index.samples[i].label)];
    if (table.at(r, "label") != expected)
      table.fail(r, "label", fmt::format("'{}' but the dataset labels '{}' as '{}'",
                                         table.at(r, "label"), path, expected));
    const auto split = parse_split_kind(table.at(r, "split"));
    if (!split)
      table.fail(r, "split", fmt::format("'{}': expected train, validation or test",
                                         table.at(r, "split")));
    if (found[i])
      table.fail(r, "path", fmt::format("'{}' is already listed on line {}", path, line_of[i]));
    found[i] = split;
    line_of[i] = table.line(r);
  }
  split_assignment out;
  out.of.reserve(index.size());
  std::size_t missing = 0;
  std::optional<std::size_t> first_missing;
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (!found[i]) {
      ++missing;
      if (!first_missing) first_missing = i;
      continue;
    }
    out.of.push_back(*found[i]);
  }
  if (missing)
    throw input_error(file, fmt::format("lists {} of the dataset's {} images; {} are missing, the "
                                        "first is '{}' (the split file was written for another "
                                        "dataset)",
                                        index.size() - missing, index.size(), missing,
                                        index.samples[*first_missing].path));
  return out;
}

}  // namespace tpt::data

template <>
struct fmt::formatter<tpt::data::split_grouping> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::split_grouping g, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::data::name(g), ctx);
  }
};

/// A table of images per class and split with totals, one class per line.
template <>
struct fmt::formatter<tpt::data::split_summary> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::split_summary& s, FormatContext& ctx) const {
    std::size_t width = 5;
    for (const auto& n : s.class_names) width = std::max(width, n.size());
    auto out = fmt::format_to(ctx.out(), "{:<{}} {:>9} {:>10} {:>9}\n", "class", width, "train",
                              "validation", "test");
    for (std::size_t c = 0; c < s.class_names.size(); ++c)
      out = fmt::format_to(out, "{:<{}} {:>9} {:>10} {:>9}\n", s.class_names[c], width,
                           s.counts[c][0], s.counts[c][1], s.counts[c][2]);
    using tpt::data::split_kind;
    return fmt::format_to(out, "{:<{}} {:>9} {:>10} {:>9}", "total", width,
                          s.total(split_kind::train), s.total(split_kind::validation),
                          s.total(split_kind::test));
  }
};
