// Class distributions to plan on: the built-in Snapshot Serengeti season-9 counts, long-tailed
// profiles (the exponential profile of long-tailed CIFAR / Fashion-MNIST), and distributions
// read from a labels CSV or a per-class counts CSV.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/io/csv.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/serengeti.hpp"

namespace tpt {

/// Named classes with their example counts; class id = position.
struct class_distribution {
  std::string name;                  // where it came from, for titles ("serengeti-s9 train")
  std::vector<std::string> classes;  // class id -> name
  std::vector<std::int64_t> counts;  // class id -> examples

  [[nodiscard]] std::int64_t num_classes() const noexcept {
    return static_cast<std::int64_t>(counts.size());
  }
  [[nodiscard]] std::int64_t total() const noexcept {
    return std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  }
  [[nodiscard]] std::int64_t largest() const noexcept {
    return counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  }
};

/// The labels of a dataset with these class counts: class 0 counts[0] times, then class 1, ...
[[nodiscard]] inline std::vector<std::int64_t> labels_from_counts(
    std::span<const std::int64_t> counts) {
  std::vector<std::int64_t> labels;
  std::int64_t total = 0;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] < 0)
      throw config_error("counts", fmt::format("class {}: count {} is negative", c, counts[c]));
    if (counts[c] > detail::max_plan_examples - total)  // also keeps the sum from overflowing
      throw config_error("counts", fmt::format("the counts add up to more than {:.0e} examples (class {}: {})",
                                               static_cast<double>(detail::max_plan_examples), c, counts[c]));
    total += counts[c];
  }
  labels.reserve(static_cast<std::size_t>(total));
  for (std::size_t c = 0; c < counts.size(); ++c)
    labels.insert(labels.end(), static_cast<std::size_t>(counts[c]), static_cast<std::int64_t>(c));
  return labels;
}

/// The paper's training (or test) distribution: 52 species, most frequent first.
[[nodiscard]] inline class_distribution serengeti_s9(bool test_split = false) {
  class_distribution d;
  d.name = test_split ? "Snapshot Serengeti S9 test" : "Snapshot Serengeti S9 train";
  for (const auto& s : serengeti::season9) {
    d.classes.emplace_back(s.species);
    d.counts.push_back(test_split ? s.test : s.train);
  }
  return d;
}

/// The exponential long-tailed profile (Cui et al. 2019, used for long-tailed CIFAR and
/// Fashion-MNIST): class i of K holds floor(largest x imbalance_ratio^(-i / (K - 1))) examples,
/// so class 0 holds `largest` and class K-1 holds largest / imbalance_ratio (every class at
/// least 1). Throws
/// tpt::config_error for K < 1, largest < 1 or a ratio below 1.
[[nodiscard]] inline class_distribution long_tailed(std::int64_t num_classes, std::int64_t largest,
                                                    double imbalance_ratio) {
  if (num_classes < 1)
    throw config_error("classes", fmt::format("must be at least 1, got {}", num_classes));
  if (largest < 1) throw config_error("largest", fmt::format("must be at least 1, got {}", largest));
  if (!std::isfinite(imbalance_ratio) || imbalance_ratio < 1.0)
    throw config_error("imbalance ratio",
                       fmt::format("must be a number >= 1, got {}", imbalance_ratio));
  class_distribution d;
  d.name = fmt::format("long-tailed, {} classes, largest {}, imbalance {:g}", num_classes, largest,
                       imbalance_ratio);
  for (std::int64_t i = 0; i < num_classes; ++i) {
    const double exponent =
        num_classes == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(num_classes - 1);
    // The small epsilon keeps exact quotients (5600 / 100) from flooring to one less.
    const double n = static_cast<double>(largest) * std::pow(imbalance_ratio, -exponent);
    d.classes.push_back(fmt::format("class {}", i));
    d.counts.push_back(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(n + 1e-9))));
  }
  return d;
}

/// Read a per-class counts CSV (one row per class: a name and a non-negative count), e.g.
/// `class,count` or the paper's `species,train,test` with count_column "train". Class ids follow
/// the file's row order. Throws tpt::input_error naming file and line for a missing column, a
/// count that is not a non-negative integer, a repeated or empty class name, or no rows.
[[nodiscard]] inline class_distribution read_class_counts(const std::filesystem::path& file,
                                                          const std::string& class_column = "class",
                                                          const std::string& count_column = "count") {
  const io::csv_table table = io::read_csv(file, {class_column, count_column});
  if (table.empty()) throw input_error(file, "no classes: the file has a header but no rows");
  class_distribution d;
  d.name = file.filename().string();
  std::map<std::string, std::size_t> seen;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string& name = table.at(r, class_column);
    if (name.empty()) table.fail(r, class_column, "empty class name");
    if (auto [it, fresh] = seen.emplace(name, table.line(r)); !fresh)
      table.fail(r, class_column,
                 fmt::format("class '{}' appears again (first on line {})", name, it->second));
    const auto n = table.get<std::int64_t>(r, count_column);
    if (n < 0) table.fail(r, count_column, fmt::format("expected a count >= 0, got {}", n));
    d.classes.push_back(name);
    d.counts.push_back(n);
  }
  return d;
}

/// A labelled dataset: its class distribution and every example's class id.
struct labelled_examples {
  class_distribution distribution;
  std::vector<std::int64_t> labels;
};

/// Read a labels CSV with one row per example and a column of class names (other columns, such
/// as file paths, are ignored). Class ids follow `classes` when given (a name outside it is a
/// tpt::unknown_class_error naming file and line), else the sorted distinct names. Throws
/// tpt::input_error for a missing column, an empty label or no rows.
[[nodiscard]] inline labelled_examples read_labels(const std::filesystem::path& file,
                                                   const std::string& label_column = "label",
                                                   std::vector<std::string> classes = {}) {
  const io::csv_table table = io::read_csv(file, {label_column});
  if (table.empty()) throw input_error(file, "no examples: the file has a header but no rows");
  const bool fixed = !classes.empty();
  if (!fixed) {
    for (std::size_t r = 0; r < table.rows(); ++r) classes.push_back(table.at(r, label_column));
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  }
  std::map<std::string, std::int64_t, std::less<>> ids;
  for (std::size_t c = 0; c < classes.size(); ++c)
    if (!ids.emplace(classes[c], static_cast<std::int64_t>(c)).second)
      throw config_error("classes", fmt::format("class '{}' is listed twice", classes[c]));

  labelled_examples out;
  out.distribution.name = file.filename().string();
  out.distribution.counts.assign(classes.size(), 0);
  out.labels.reserve(table.rows());
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string& name = table.at(r, label_column);
    if (name.empty()) table.fail(r, label_column, "empty label");
    const auto it = ids.find(name);
    if (it == ids.end())
      throw unknown_class_error(name, fmt::format("{}:{}", file.string(), table.line(r)));
    out.labels.push_back(it->second);
    ++out.distribution.counts[static_cast<std::size_t>(it->second)];
  }
  out.distribution.classes = std::move(classes);
  return out;
}

}  // namespace tpt
