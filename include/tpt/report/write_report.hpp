// tpt::write_report: the whole report for a set of evaluated runs, as Markdown, CSV and JSON
// tables and SVG figures in one folder, plus the comparison table as text for the screen.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/core/utf8.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/metrics/statistics.hpp"
#include "tpt/report/experiment_record.hpp"
#include "tpt/report/figures.hpp"
#include "tpt/report/paper.hpp"
#include "tpt/report/table.hpp"
#include "tpt/report/tables.hpp"
#include "tpt/version.hpp"

namespace tpt {

/// Whether the report sets the paper's figures beside ours.
enum class paper_columns {
  automatic,  // when the class names are the paper's 52 Serengeti S9 species
  always,
  never
};

struct report_options {
  std::string title = "tpt experiment report";
  /// The model the others are compared with when `comparisons` is empty.
  std::string reference_model = "baseline";
  /// Which runs to compare (paired bootstrap and F1-change figure); empty: every model and phase
  /// against the reference model, and phase 2 against phase 1 of each model.
  std::vector<report::comparison> comparisons{};
  /// The statistic, number of resamples, confidence level and seed of the paired bootstrap.
  paired_bootstrap_options bootstrap{};
  paper_columns paper = paper_columns::automatic;
  bool per_species_tables = true;
  bool figures = true;
  bool row_normalised_confusion = true;  // heat maps show shares of each true class
  bool relative_f1_change = true;        // the paper's Figure 1; false: absolute change
};

/// Everything a report holds, in memory: what write_report writes, for callers that want to
/// print or post-process it instead.
struct report_document {
  std::vector<report::table> tables;  // in report order: headline, paper, comparisons, runs, species...
  std::vector<std::pair<std::string, std::string>> figures;  // relative path -> SVG text
  std::vector<report::comparison_result> comparisons;
  std::vector<std::string> notes;  // comparisons that could not be made, and why
  std::string markdown;            // report.md
  std::string csv;                 // report.csv: the headline table
  nlohmann::json json;             // report.json: every table, comparison, figure path and record
  std::string summary;             // plain text for the screen: headline, paper, comparisons

  /// The table with this name ("headline", "paper", "comparisons", "runs", "species_f1",
  /// "species_<model>_phase<n>"); tpt::config_error if the report has none.
  [[nodiscard]] const report::table& table(std::string_view name) const {
    for (const auto& t : tables)
      if (t.name == name) return t;
    std::vector<std::string> names;
    for (const auto& t : tables) names.push_back(t.name);
    throw config_error("table", fmt::format("the report has no table '{}' (it has: {})", name, fmt::join(names, ", ")));
  }
};

/// Build the report in memory. Validates every record (tpt::config_error naming the record and
/// field, tpt::unknown_class_error for an id outside the class list) before computing anything.
inline report_document build_report(std::span<const experiment_record> records, const report_options& options = {}) {
  using namespace report;
  const auto groups = group_runs(records);
  const bool losses = several_losses(groups);
  const auto& classes = records[0].class_names;
  const bool s9 = paper::is_serengeti_s9(classes);
  const bool with_paper = options.paper == paper_columns::always || (options.paper == paper_columns::automatic && s9);

  report_document doc;
  const std::vector<comparison> wanted =
      options.comparisons.empty() ? default_comparisons(groups, options.reference_model) : options.comparisons;
  doc.comparisons = compare(groups, wanted, options.bootstrap, doc.notes);

  doc.tables.push_back(headline_table(groups));
  if (with_paper) {
    doc.tables.push_back(paper_table(groups));
    if (!s9) doc.tables.back().note += " Note: these runs are not on the paper's 52 Serengeti S9 species.";
  }
  if (!wanted.empty()) doc.tables.push_back(comparison_table(doc.comparisons, options.bootstrap));
  const bool seeds = std::any_of(groups.begin(), groups.end(), [](const run_group& g) { return g.runs.size() > 1; });
  if (seeds) doc.tables.push_back(runs_table(groups));
  if (options.per_species_tables) {
    if (groups.size() > 1) doc.tables.push_back(species_f1_table(groups));
    for (const auto& g : groups) doc.tables.push_back(species_table(g, losses));
  }

  // Figures: a confusion matrix per model and phase (summed over seeds), and the F1 change per
  // species for each comparison (per-species F1 averaged over the seeds both ran with).
  std::vector<std::string> figure_captions;
  if (options.figures) {
    const auto& first = *groups.front().runs.front();
    const auto order = frequency_order(first.class_names, first.train_counts, first.test_counts);
    for (const auto& g : groups) {
      const std::size_t k = classes.size();
      std::vector<std::int64_t> confusion(k * k, 0);
      for (const auto* r : g.runs)
        for (std::size_t i = 0; i < k * k; ++i) confusion[i] += r->test.confusion[i];
      // Row labels show each class's test count: that of the one test set when every seed was
      // tested on the same images (a grid's are), the summed counts otherwise (said on the axis).
      const bool one_test_set = std::all_of(g.runs.begin(), g.runs.end(), [&](const auto* r) {
        return r->test_counts == g.runs.front()->test_counts && r->test_counts.size() == k;
      });
      confusion_figure f{
          .title = fmt::format("Confusion matrix: {}{}", g.label(losses),
                               g.runs.size() > 1 ? fmt::format(" (summed over {} seeds)", g.runs.size()) : std::string()),
          .class_names = classes, .confusion = std::move(confusion), .order = order,
          .row_normalised = options.row_normalised_confusion,
          .row_counts = one_test_set ? g.runs.front()->test_counts : std::vector<std::int64_t>{},
          .runs = g.runs.size()};
      doc.figures.emplace_back(fmt::format("figures/confusion_{}.svg", g.slug(losses)), render(f));
      figure_captions.push_back(f.title);
    }
    for (const auto& c : wanted) {
      const auto& ref = find_group(groups, c.reference);
      const auto& cand = find_group(groups, c.candidate);
      std::vector<const experiment_record*> a, b;
      for (const auto* r : ref.runs)
        if (const auto* s = cand.seed(r->seed)) {
          a.push_back(r);
          b.push_back(s);
        }
      if (a.empty()) {  // no shared seed: all runs of each
        a = ref.runs;
        b = cand.runs;
      }
      f1_change_figure f;
      f.title = fmt::format("F1 change per species: {} vs {}", cand.label(losses), ref.label(losses));
      f.class_names = classes;
      f.order = order;
      f.relative = options.relative_f1_change;
      for (std::size_t i = 0; i < classes.size(); ++i) {
        double fa = 0, fb = 0;
        for (const auto* r : a) fa += r->test.classes[i].f1 / double(a.size());
        for (const auto* r : b) fb += r->test.classes[i].f1 / double(b.size());
        f.reference_f1.push_back(fa);
        f.candidate_f1.push_back(fb);
      }
      doc.figures.emplace_back(fmt::format("figures/f1_change_{}_vs_{}.svg", cand.slug(losses), ref.slug(losses)),
                               render(f));
      figure_captions.push_back(f.title);
    }
  }

  // report.md
  std::set<std::uint64_t> all_seeds;
  std::set<std::int64_t> test_sizes;
  for (const auto& r : records) {
    all_seeds.insert(r.seed);
    test_sizes.insert(r.test.samples);
  }
  std::vector<std::string> group_labels;
  for (const auto& g : groups) group_labels.push_back(report::markdown_text(g.label(losses)));
  std::string md = fmt::format("# {}\n\n", report::markdown_text(options.title));
  md += fmt::format("{} runs of {} model/phase combinations ({}); {} classes; {} test images; seeds {}. "
                    "Generated by tpt {}.\n\n",
                    records.size(), groups.size(), fmt::join(group_labels, ", "), classes.size(),
                    fmt::join(test_sizes, " / "), fmt::join(all_seeds, ", "), version_string);
  md += "Predictions are the argmax of the logits. Precision, recall and F1 are computed per class; "
        "macro averages weight every class equally, and a class that is never predicted or never "
        "occurs counts as 0 (scikit-learn's `zero_division=0`, labels = all classes), as in the "
        "paper. Balanced accuracy is the mean recall over the classes present in the test set "
        "(scikit-learn's `balanced_accuracy_score`).\n\n";
  auto section = [&](const report::table& t) { md += to_markdown(t, 2); };
  std::size_t next = 0;
  for (; next < doc.tables.size() && doc.tables[next].name.rfind("species", 0) != 0; ++next) {
    section(doc.tables[next]);
    if (doc.tables[next].name == "comparisons" && !doc.notes.empty()) {
      for (const auto& n : doc.notes) md += fmt::format("- {}\n", report::markdown_text(n));
      md += "\n";
    }
  }
  if (!doc.figures.empty()) {
    md += "## Figures\n\n";
    for (std::size_t i = 0; i < doc.figures.size(); ++i)
    {
      const auto caption = report::markdown_text(figure_captions[i]);
      md += fmt::format("### {}\n\n![{}]({})\n\n", caption, caption, doc.figures[i].first);
    }
  }
  if (next < doc.tables.size()) {
    md += "## Per-species results (layout of the paper's Tables 4-6)\n\n";
    for (; next < doc.tables.size(); ++next) md += to_markdown(doc.tables[next], 3);
  }
  doc.markdown = std::move(md);
  doc.csv = to_csv(doc.tables.front());

  // report.json
  nlohmann::json groups_json = nlohmann::json::array();
  for (const auto& g : groups) {
    nlohmann::json scalars = nlohmann::json::object();
    for (const auto& [name, value] : g.runs.front()->test.scalars()) {
      bool everywhere = true;
      for (const auto* r : g.runs) everywhere &= r->test.scalars().count(name) == 1;
      if (!everywhere) continue;
      const auto e = g.scalar(name);
      scalars[name] = {{"mean", e.mean}, {"sd", g.runs.size() > 1 ? nlohmann::json(e.sd) : nlohmann::json(nullptr)},
                       {"n", e.n}};
    }
    std::vector<std::uint64_t> seeds_of;
    for (const auto* r : g.runs) seeds_of.push_back(r->seed);
    groups_json.push_back({{"model", g.model}, {"phase", g.phase}, {"loss", g.loss}, {"label", g.label(losses)},
                           {"seeds", seeds_of}, {"scalars", scalars}});
  }
  nlohmann::json comparisons_json = nlohmann::json::array();
  for (const auto& c : doc.comparisons) {
    const auto& b = c.bootstrap;
    comparisons_json.push_back({{"reference", c.reference}, {"candidate", c.candidate},
                                {"seed", c.seed ? nlohmann::json(*c.seed) : nlohmann::json(nullptr)},
                                {"seeds", c.seeds}, {"statistic", b.statistic},
                                {"reference_value", b.reference}, {"candidate_value", b.candidate},
                                {"difference", b.difference}, {"ci_low", b.lower}, {"ci_high", b.upper},
                                {"confidence", b.confidence}, {"standard_error", b.standard_error},
                                {"p_value", b.p_value}, {"resamples", b.resamples},
                                {"bootstrap_seed", b.seed}, {"test_images", b.samples},
                                {"verdict", std::string(b.verdict())}});
  }
  nlohmann::json tables_json = nlohmann::json::object();
  for (const auto& t : doc.tables) tables_json[t.name] = to_json(t);
  nlohmann::json figures_json = nlohmann::json::array();
  for (const auto& [path, svg] : doc.figures) figures_json.push_back(path);
  nlohmann::json paper_json = {{"serengeti_s9", s9}, {"shown", with_paper}};
  if (with_paper) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& p : paper::results())
      rows.push_back({{"model", p.model}, {"phase", p.phase}, {"accuracy", p.accuracy},
                      {"macro_precision", p.macro_precision}, {"macro_recall", p.macro_recall},
                      {"macro_f1", p.macro_f1}});
    paper_json["results"] = rows;
  }
  nlohmann::json records_json = nlohmann::json::array();
  for (const auto& r : records) records_json.push_back(r);
  doc.json = {{"title", options.title},
              {"generated_by", fmt::format("tpt {}", version_string)},
              {"class_names", classes},
              {"groups", groups_json},
              {"comparisons", comparisons_json},
              {"notes", doc.notes},
              {"paper", paper_json},
              {"tables", tables_json},
              {"figures", figures_json},
              {"records", records_json}};

  // The screen: the paper's layout, ours beside the paper's, and whether each gain is real.
  doc.summary = to_text(doc.tables.front());
  for (const auto& t : doc.tables)
    if (t.name == "paper" || t.name == "comparisons") doc.summary += fmt::format("\n{}", to_text(t));
  for (const auto& n : doc.notes) doc.summary += fmt::format("note: {}\n", n);
  return doc;
}

/// What write_report wrote.
struct written_report {
  std::filesystem::path folder;
  std::vector<std::filesystem::path> files;  // every file written, report.md last
  std::string summary;                       // the tables to print on screen
  report_document document;
};

/// Write the report into `folder` (created if missing): report.md, report.csv (the headline
/// table), report.json (everything, records included: load_records reads it back), tables/*.csv
/// (one per table) and figures/*.svg. Everything is computed and validated before the first file
/// is touched, so bad input leaves the folder as it was; each file is replaced atomically, and
/// report.md, report.json and report.csv are written last so they never point at a missing
/// figure. Other files in the folder are left alone.
inline written_report write_report(const std::filesystem::path& folder, std::span<const experiment_record> records,
                                   const report_options& options = {}) {
  if (folder.empty()) throw config_error("folder", "the report needs a folder to write to");
  if (!utf8::valid(options.title))  // report.json could not hold it
    throw config_error("title", fmt::format("'{}' is not UTF-8", utf8::shown(options.title)));
  written_report out;
  out.folder = folder;
  out.document = build_report(records, options);
  const auto& doc = out.document;
  std::vector<std::pair<std::filesystem::path, std::string>> files;
  for (const auto& [path, svg] : doc.figures) files.emplace_back(folder / path, svg);
  for (const auto& t : doc.tables) files.emplace_back(folder / "tables" / (t.name + ".csv"), report::to_csv(t));
  files.emplace_back(folder / "report.json", doc.json.dump(1) + "\n");
  files.emplace_back(folder / "report.csv", doc.csv);
  files.emplace_back(folder / "report.md", doc.markdown);
  for (const auto& [path, text] : files) {
    io::write_text_atomically(path, text);
    out.files.push_back(path);
  }
  out.summary = doc.summary;
  return out;
}

}  // namespace tpt
