// What a sampling plan does to each class, for people: per-class counts before and after,
// distinct examples kept, duplicates and drops, as a text table, CSV, and a log-scale bar
// chart of counts before and after (the paper's Figures 4-6).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"
#include "tpt/report/svg.hpp"
#include "tpt/sampling/plan.hpp"

namespace tpt {

/// One class's line of a plan report.
struct class_counts {
  std::string name;
  std::int64_t before = 0;  // examples in the original data
  std::int64_t after = 0;   // entries in the epoch, repeats included
  std::int64_t unique = 0;  // distinct original examples among them

  [[nodiscard]] std::int64_t duplicates() const noexcept { return after - unique; }
  [[nodiscard]] std::int64_t dropped() const noexcept { return before - unique; }
  friend bool operator==(const class_counts&, const class_counts&) = default;
};

/// A plan described class by class, with a title for the table and the figure.
struct plan_report {
  std::string title;
  std::vector<class_counts> classes;

  /// The whole dataset as one line named "total".
  [[nodiscard]] class_counts total() const {
    class_counts t{"total"};
    for (const class_counts& c : classes) {
      t.before += c.before;
      t.after += c.after;
      t.unique += c.unique;
    }
    return t;
  }

  /// Largest original class first (ties by name), the order of the paper's figures.
  void sort_by_size() {
    std::stable_sort(classes.begin(), classes.end(), [](const class_counts& a, const class_counts& b) {
      return a.before != b.before ? a.before > b.before : a.name < b.name;
    });
  }
};

/// Describe `plan`, drawn from `labels`, naming class c `class_names[c]` (or "class c" when no
/// names are given). Rows follow class ids. O(N). Throws tpt::config_error when the names do not
/// match the plan's class count, tpt::error for a plan inconsistent with the labels.
[[nodiscard]] inline plan_report describe_plan(const sampling_plan& plan,
                                          std::span<const std::int64_t> labels,
                                          std::span<const std::string> class_names = {},
                                          std::string title = {}) {
  const auto k = plan.before.size();
  if (!class_names.empty() && class_names.size() != k)
    throw config_error("class names", fmt::format("{} names for a plan of {} classes",
                                                  class_names.size(), k));
  check_plan(plan, labels, plan.num_classes());
  plan_report report;
  report.title = std::move(title);
  report.classes.resize(k);
  for (std::size_t c = 0; c < k; ++c) {
    class_counts& row = report.classes[c];
    row.name = class_names.empty() ? fmt::format("class {}", c) : class_names[c];
    if (row.name.empty()) throw config_error("class names", fmt::format("class {} has an empty name", c));
    row.before = plan.before[c];
    row.after = plan.after[c];
  }
  std::vector<bool> seen(labels.size(), false);
  for (const std::int64_t i : plan.indices) {
    const auto at = static_cast<std::size_t>(i);
    if (!seen[at]) {
      seen[at] = true;
      ++report.classes[static_cast<std::size_t>(labels[at])].unique;
    }
  }
  return report;
}

namespace detail {

inline std::string change_factor(const class_counts& c) {
  if (c.before == 0) return c.after == 0 ? "-" : "new";
  return fmt::format("x{:.2f}", static_cast<double>(c.after) / static_cast<double>(c.before));
}

}  // namespace detail

/// The report as an aligned text table, a line per class and a total line.
[[nodiscard]] inline std::string plan_table(const plan_report& report) {
  std::size_t name_w = 5;
  for (const class_counts& c : report.classes) name_w = std::max(name_w, c.name.size());
  std::string out;
  auto line = [&](const std::string& name, const auto& before, const auto& after,
                  const std::string& change, const auto& unique, const auto& duplicates,
                  const auto& dropped) {
    fmt::format_to(std::back_inserter(out), "{:<{}}  {:>9}  {:>9}  {:>7}  {:>9}  {:>10}  {:>9}\n",
                   name, name_w, before, after, change, unique, duplicates, dropped);
  };
  if (!report.title.empty()) fmt::format_to(std::back_inserter(out), "{}\n", report.title);
  line("class", "before", "after", "change", "unique", "duplicates", "dropped");
  for (const class_counts& c : report.classes)
    line(c.name, c.before, c.after, detail::change_factor(c), c.unique, c.duplicates(), c.dropped());
  const class_counts t = report.total();
  out += std::string(name_w + 2 + 9 + 2 + 9 + 2 + 7 + 2 + 9 + 2 + 10 + 2 + 9, '-') + '\n';
  line(t.name, t.before, t.after, detail::change_factor(t), t.unique, t.duplicates(), t.dropped());
  return out;
}

/// The report as CSV: class,before,after,unique,duplicates,dropped, one row per class, then the
/// totals in a last row whose class cell is empty (class names never are: a species called
/// "total" would not be told from a row named so).
[[nodiscard]] inline std::string plan_csv(const plan_report& report) {
  std::string out = "class,before,after,unique,duplicates,dropped\n";
  auto row = [&](std::string_view name, const class_counts& c) {
    fmt::format_to(std::back_inserter(out), "{},{},{},{},{},{}\n", name.empty() ? std::string() : io::csv_escape(name),
                   c.before, c.after, c.unique, c.duplicates(), c.dropped());
  };
  for (const class_counts& c : report.classes) row(c.name, c);
  row("", report.total());
  return out;
}

/// The per-class counts before and after as a log-scale grouped bar chart, classes in report
/// order (sort_by_size first for the paper's look), totals in the legend. Many classes (more
/// than 12) stand side by side with their names turned, as in the paper's figures; fewer lie
/// one per row, which leaves the title room. Render with svg::render.
[[nodiscard]] inline svg::bar_chart plan_chart(const plan_report& report) {
  svg::bar_chart chart;
  chart.title = report.title.empty() ? "Per-class counts before and after sampling" : report.title;
  chart.value_label = "examples per class (log scale)";
  chart.value_scale = svg::scale::log10;
  chart.layout = report.classes.size() > 12 ? svg::orientation::vertical : svg::orientation::horizontal;
  const class_counts total = report.total();
  svg::series before{fmt::format("before sampling ({} in all)", total.before), {}, {}};
  svg::series after{fmt::format("after sampling ({} in all)", total.after), {}, {}};
  for (const class_counts& c : report.classes) {
    chart.categories.push_back(c.name);
    before.values.push_back(static_cast<double>(c.before));
    after.values.push_back(static_cast<double>(c.after));
  }
  chart.data = {std::move(before), std::move(after)};
  return chart;
}

/// Write the CSV and the SVG figure atomically (an existing file is replaced only once the new
/// one is complete). Either path may be empty to skip it.
inline void write_plan_report(const plan_report& report, const std::filesystem::path& csv_file,
                         const std::filesystem::path& svg_file) {
  if (!csv_file.empty()) io::write_text_atomically(csv_file, plan_csv(report));
  if (!svg_file.empty()) io::write_text_atomically(svg_file, svg::render(plan_chart(report)));
}

}  // namespace tpt

/// "wildebeest: 48377 -> 15000 (15000 unique, 0 duplicates, 33377 dropped)".
template <>
struct fmt::formatter<tpt::class_counts> {
  constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') throw format_error("class_counts takes no format spec");
    return it;
  }
  template <class FormatContext>
  auto format(const tpt::class_counts& c, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}: {} -> {} ({} unique, {} duplicates, {} dropped)", c.name,
                          c.before, c.after, c.unique, c.duplicates(), c.dropped());
  }
};

/// The text table of tpt::plan_table.
template <>
struct fmt::formatter<tpt::plan_report> {
  constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') throw format_error("plan_report takes no format spec");
    return it;
  }
  template <class FormatContext>
  auto format(const tpt::plan_report& r, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}", tpt::plan_table(r));
  }
};
