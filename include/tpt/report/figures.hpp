// The report's figures as SVG (through tpt/report/svg.hpp): the confusion matrix as a heat map
// and the relative F1 change per species between two runs, species sorted by training frequency
// (the paper's Figure 1). Both stay readable with the 52 species of Snapshot Serengeti.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/report/experiment_record.hpp"
#include "tpt/report/svg.hpp"

namespace tpt::report {

/// Class ids by training frequency, most frequent first; ties by test count, then by name. The
/// order of the paper's per-species tables and figures. tpt::config_error on mismatched lengths.
inline std::vector<std::size_t> frequency_order(const std::vector<std::string>& class_names,
                                                const std::vector<std::int64_t>& train_counts,
                                                const std::vector<std::int64_t>& test_counts) {
  if (train_counts.size() != class_names.size() || test_counts.size() != class_names.size())
    throw config_error("frequency_order", fmt::format("{} class names, {} train counts and {} test counts",
                                                      class_names.size(), train_counts.size(), test_counts.size()));
  std::vector<std::size_t> order(class_names.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (train_counts[a] != train_counts[b]) return train_counts[a] > train_counts[b];
    if (test_counts[a] != test_counts[b]) return test_counts[a] > test_counts[b];
    return class_names[a] < class_names[b];
  });
  return order;
}

namespace detail {
inline void check_order(const std::vector<std::size_t>& order, std::size_t k, std::string_view what) {
  if (order.empty()) return;
  std::vector<bool> seen(k, false);
  if (order.size() != k) throw config_error(std::string(what), fmt::format("order lists {} classes of {}", order.size(), k));
  for (auto i : order) {
    if (i >= k || seen[i]) throw config_error(std::string(what), "order must list every class id exactly once");
    seen[i] = true;
  }
}
inline std::vector<std::size_t> order_or_ids(std::vector<std::size_t> order, std::size_t k) {
  if (order.empty()) {
    order.resize(k);
    std::iota(order.begin(), order.end(), std::size_t{0});
  }
  return order;
}
}  // namespace detail

struct confusion_figure {
  std::string title;
  std::vector<std::string> class_names;
  std::vector<std::int64_t> confusion;  // num_classes^2, rows = true class
  std::vector<std::size_t> order;       // display order of classes; empty: class-id order
  /// Divide each row by its support: cell (i, j) is the share of class i predicted as j. Without
  /// it the majority classes of an imbalanced set saturate the colour scale.
  bool row_normalised = true;
  /// The test count each row label shows; empty: the row sums of `confusion`. A matrix summed
  /// over several runs of one test set passes that set's counts (the sums would be N times them).
  std::vector<std::int64_t> row_counts{};
  /// Runs summed into `confusion`; with more than one and no row_counts, the axis says the
  /// counts are summed.
  std::size_t runs = 1;
};

/// The confusion matrix as an SVG heat map; row labels carry each class's test count.
inline std::string render(const confusion_figure& f) {
  const std::size_t k = f.class_names.size();
  if (k == 0) throw config_error("confusion_figure", "no classes");
  if (f.confusion.size() != k * k)
    throw config_error("confusion_figure", fmt::format("{} confusion entries for {} classes", f.confusion.size(), k));
  detail::check_order(f.order, k, "confusion_figure");
  const auto order = detail::order_or_ids(f.order, k);
  svg::heatmap map;
  map.title = f.title;
  if (!f.row_counts.empty() && f.row_counts.size() != k)
    throw config_error("confusion_figure", fmt::format("{} row counts for {} classes", f.row_counts.size(), k));
  const std::string images = f.row_counts.empty() && f.runs > 1
                                 ? fmt::format("test images, summed over {} runs", f.runs)
                                 : std::string("test images");
  map.row_label = fmt::format("true class ({}){}", images, f.row_normalised ? "  — rows sum to 1" : "");
  map.column_label = "predicted class";
  for (auto i : order) {
    std::int64_t support = 0;
    for (std::size_t j = 0; j < k; ++j) support += f.confusion[i * k + j];
    map.rows.push_back(fmt::format("{} ({})", f.class_names[i], f.row_counts.empty() ? support : f.row_counts[i]));
    map.columns.push_back(f.class_names[i]);
  }
  for (auto i : order) {
    std::int64_t support = 0;
    for (std::size_t j = 0; j < k; ++j) support += f.confusion[i * k + j];
    std::vector<double> row;
    for (auto j : order) {
      const auto v = static_cast<double>(f.confusion[i * k + j]);
      row.push_back(f.row_normalised ? (support > 0 ? v / static_cast<double>(support) : 0.0) : v);
    }
    map.values.push_back(std::move(row));
  }
  if (f.row_normalised) {
    map.max_value = 1.0;
    map.value_format = "{:.2f}";
  }
  return svg::render(map);
}

/// The relative change of F1 per species from a reference run to a candidate run.
struct f1_change_figure {
  std::string title;
  std::vector<std::string> class_names;
  std::vector<double> reference_f1, candidate_f1;
  std::vector<std::size_t> order;  // display order, most frequent first; empty: class-id order
  /// Relative change in percent, 100 (candidate - reference) / reference (the paper's Figure 1);
  /// false: the absolute change in F1 points.
  bool relative = true;
};

/// Change per class as plotted: relative (%) or absolute. A relative change from an F1 of 0 is
/// undefined (NaN: no bar; the label says "from 0"); 0 to 0 is no change.
inline double f1_change(double reference, double candidate, bool relative) {
  if (!relative) return candidate - reference;
  if (reference > 0) return 100.0 * (candidate - reference) / reference;
  return candidate > 0 ? std::numeric_limits<double>::quiet_NaN() : 0.0;
}

/// The per-species F1 change as a horizontal bar chart (one labelled row per species; gains
/// green, losses red).
inline std::string render(const f1_change_figure& f) {
  const std::size_t k = f.class_names.size();
  if (k == 0) throw config_error("f1_change_figure", "no classes");
  if (f.reference_f1.size() != k || f.candidate_f1.size() != k)
    throw config_error("f1_change_figure", fmt::format("{} reference and {} candidate F1 values for {} classes",
                                                       f.reference_f1.size(), f.candidate_f1.size(), k));
  detail::check_order(f.order, k, "f1_change_figure");
  svg::bar_chart chart;
  chart.title = f.title;
  chart.value_label = f.relative ? "relative F1 change (%)" : "F1 change (candidate - reference)";
  chart.layout = svg::orientation::horizontal;
  chart.colour_by_sign = true;
  svg::series s{f.relative ? "relative F1 change" : "F1 change", {}, {}};
  for (auto i : detail::order_or_ids(f.order, k)) {
    const double change = f1_change(f.reference_f1[i], f.candidate_f1[i], f.relative);
    chart.categories.push_back(std::isnan(change) ? fmt::format("{} (from 0 to {:.2f})", f.class_names[i], f.candidate_f1[i])
                                                  : f.class_names[i]);
    s.values.push_back(change);
  }
  chart.data.push_back(std::move(s));
  return svg::render(chart);
}

/// Heat map of one run's test confusion matrix, classes by training frequency.
inline std::string confusion_svg(const experiment_record& r, bool row_normalised = true) {
  r.validate();
  return render(confusion_figure{
      .title = fmt::format("Confusion matrix: {}", r.label()),
      .class_names = r.class_names,
      .confusion = r.test.confusion,
      .order = frequency_order(r.class_names, r.train_counts, r.test_counts),
      .row_normalised = row_normalised});
}

/// Relative F1 change per species from `reference` to `candidate`, species by training frequency
/// of the reference run (the paper's Figure 1). tpt::config_error when the class lists differ.
inline std::string f1_change_svg(const experiment_record& reference, const experiment_record& candidate,
                                 bool relative = true) {
  reference.validate();
  candidate.validate();
  if (reference.class_names != candidate.class_names)
    throw config_error("f1_change_svg", fmt::format("'{}' and '{}' have different class lists",
                                                    reference.label(), candidate.label()));
  f1_change_figure f;
  f.title = fmt::format("F1 change per species: {} vs {}", candidate.label(), reference.label());
  f.class_names = reference.class_names;
  for (std::size_t c = 0; c < f.class_names.size(); ++c) {
    f.reference_f1.push_back(reference.test.classes[c].f1);
    f.candidate_f1.push_back(candidate.test.classes[c].f1);
  }
  f.order = frequency_order(reference.class_names, reference.train_counts, reference.test_counts);
  f.relative = relative;
  return render(f);
}

}  // namespace tpt::report
