// The report's tables, built from experiment records: the paper's Table 1-3 layout (model x phase
// -> accuracy, macro precision, recall, F1), ours beside the paper's, per-seed runs, per-species
// tables as the paper's Tables 4-6, and paired-bootstrap comparisons between models.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tpt/core/error.hpp"
#include "tpt/metrics/statistics.hpp"
#include "tpt/report/experiment_record.hpp"
#include "tpt/report/figures.hpp"
#include "tpt/report/paper.hpp"
#include "tpt/report/table.hpp"

namespace tpt::report {

/// Names a group of runs: a model after a phase, with a loss (empty: whichever loss the model
/// was run with, when that is unambiguous).
struct run_key {
  std::string model;
  int phase = 1;
  std::string loss{};
};

/// The runs of one model after one phase with one loss, one per seed (ascending).
struct run_group {
  std::string model;  // as the first record spells it
  int phase = 1;
  std::string loss;
  std::vector<const experiment_record*> runs;

  /// "ROS&RUS(15K) phase 2", with " (focal)" when the report mixes losses.
  [[nodiscard]] std::string label(bool with_loss = false) const {
    return fmt::format("{} phase {}{}", model, phase, with_loss ? fmt::format(" ({})", loss) : std::string());
  }
  /// "ros_rus_15k_phase2": for file names and CSV keys (paper::file_slug: one per name).
  [[nodiscard]] std::string slug(bool with_loss = false) const {
    return fmt::format("{}_phase{}{}", paper::file_slug(model), phase,
                       with_loss ? fmt::format("_{}", paper::file_slug(loss)) : std::string());
  }
  [[nodiscard]] bool matches(const run_key& key) const {
    return paper::model_key(key.model) == paper::model_key(model) && key.phase == phase &&
           (key.loss.empty() || paper::model_id(key.loss) == paper::model_id(loss));
  }
  [[nodiscard]] const experiment_record* seed(std::uint64_t s) const {
    for (const auto* r : runs)
      if (r->seed == s) return r;
    return nullptr;
  }
  /// A headline value over the seeds (mean, sample sd, n).
  [[nodiscard]] estimate scalar(const std::string& name) const {
    std::vector<double> v;
    for (const auto* r : runs) v.push_back(r->test.scalars().at(name));
    return mean_and_sd(v);
  }
  /// One class's precision, recall or F1 over the seeds.
  [[nodiscard]] estimate class_value(std::size_t c, double class_score::*field) const {
    std::vector<double> v;
    for (const auto* r : runs) v.push_back(r->test.classes[c].*field);
    return mean_and_sd(v);
  }
};

/// Every record validated, all with the same class list, no (model, phase, loss, seed) twice;
/// grouped by model (the paper's five first, in its order; then others as they come), phase and
/// loss. tpt::config_error naming the record otherwise.
inline std::vector<run_group> group_runs(std::span<const experiment_record> records) {
  if (records.empty()) throw config_error("records", "no experiment records to report on");
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    r.validate();
    if (r.class_names != records[0].class_names) {
      std::size_t at = 0;
      while (at < r.class_names.size() && at < records[0].class_names.size() &&
             r.class_names[at] == records[0].class_names[at])
        ++at;
      throw config_error(fmt::format("records[{}].class_names", i),
                         fmt::format("'{}' has {} classes, '{}' has {}; they differ first at class {}: all "
                                     "records of a report must share one class list",
                                     r.label(), r.class_names.size(), records[0].label(),
                                     records[0].class_names.size(), at));
    }
  }
  std::vector<run_group> groups;
  std::vector<std::size_t> first_seen;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const run_group& g) { return g.matches({r.model, r.phase, r.loss}); });
    if (it == groups.end()) {
      groups.push_back({r.model, r.phase, r.loss, {}});
      first_seen.push_back(i);
      it = groups.end() - 1;
    }
    if (it->seed(r.seed) != nullptr)
      throw config_error(fmt::format("records[{}]", i), fmt::format("'{}' appears twice", r.label()));
    it->runs.push_back(&r);
  }
  for (auto& g : groups)
    std::sort(g.runs.begin(), g.runs.end(), [](auto* a, auto* b) { return a->seed < b->seed; });
  std::vector<std::size_t> order(groups.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto ra = paper::model_rank(groups[a].model), rb = paper::model_rank(groups[b].model);
    const std::size_t ka = ra ? *ra : std::size(paper::model_names), kb = rb ? *rb : std::size(paper::model_names);
    if (ka != kb) return ka < kb;
    if (!ra && paper::model_key(groups[a].model) != paper::model_key(groups[b].model)) {
      // user's models: by first appearance of the model
      std::size_t fa = first_seen[a], fb = first_seen[b];
      for (std::size_t i = 0; i < groups.size(); ++i) {
        if (paper::model_key(groups[i].model) == paper::model_key(groups[a].model)) fa = std::min(fa, first_seen[i]);
        if (paper::model_key(groups[i].model) == paper::model_key(groups[b].model)) fb = std::min(fb, first_seen[i]);
      }
      return fa < fb;
    }
    if (groups[a].phase != groups[b].phase) return groups[a].phase < groups[b].phase;
    return first_seen[a] < first_seen[b];
  });
  std::vector<run_group> sorted;
  for (auto i : order) sorted.push_back(std::move(groups[i]));
  return sorted;
}

/// True when the groups use more than one loss (labels then name the loss).
inline bool several_losses(const std::vector<run_group>& groups) {
  std::set<std::string> losses;
  for (const auto& g : groups) losses.insert(g.loss);
  return losses.size() > 1;
}

namespace detail {
inline bool several_seeds(const std::vector<run_group>& groups) {
  return std::any_of(groups.begin(), groups.end(), [](const run_group& g) { return g.runs.size() > 1; });
}
/// Top-k values every run reports (a record built from labels alone has none).
inline std::vector<std::int64_t> common_top_k(const std::vector<run_group>& groups) {
  std::vector<std::int64_t> ks;
  bool first = true;
  for (const auto& g : groups)
    for (const auto* r : g.runs) {
      std::vector<std::int64_t> mine;
      for (const auto& [k, v] : r->test.top_k_accuracy) mine.push_back(k);
      if (first) ks = mine;
      else {
        std::vector<std::int64_t> both;
        std::set_intersection(ks.begin(), ks.end(), mine.begin(), mine.end(), std::back_inserter(both));
        ks = both;
      }
      first = false;
    }
  return ks;
}
inline cell value(const run_group& g, const std::string& name, bool estimates) {
  const estimate e = g.scalar(name);
  return estimates ? cell(e) : cell(e.mean);
}
}  // namespace detail

/// The paper's Tables 1-3 layout: one row per model and phase; accuracy and macro precision,
/// recall and F1, then balanced accuracy, weighted F1 and the top-k accuracies every run has.
/// With several seeds a cell holds mean ± sample standard deviation.
inline table headline_table(const std::vector<run_group>& groups) {
  const bool estimates = detail::several_seeds(groups), losses = several_losses(groups);
  const auto kind = estimates ? column_kind::estimate : column_kind::real;
  table t;
  t.name = "headline";
  t.title = "Accuracy and macro-averaged scores (layout of the paper's Tables 1-3)";
  t.columns = {{"model", "model"}, {"phase", "phase", column_kind::integer}};
  if (losses) t.columns.push_back({"loss", "loss"});
  t.columns.push_back({"seeds", "seeds", column_kind::integer});
  const std::vector<std::pair<std::string, std::string>> metrics = {
      {"accuracy", "accuracy"},          {"macro_precision", "macro precision"},
      {"macro_recall", "macro recall"},  {"macro_f1", "macro F1"},
      {"balanced_accuracy", "balanced accuracy"}, {"weighted_f1", "weighted F1"}};
  for (const auto& [key, title] : metrics) t.columns.push_back({key, title, kind});
  const auto ks = detail::common_top_k(groups);
  for (auto k : ks) t.columns.push_back({fmt::format("top{}_accuracy", k), fmt::format("top-{} accuracy", k), kind});
  t.note = estimates ? "Cells with several seeds show mean ± sample standard deviation over the seeds."
                     : "One seed per model and phase.";
  for (const auto& g : groups) {
    std::vector<cell> row{g.model, std::int64_t{g.phase}};
    if (losses) row.emplace_back(g.loss);
    row.emplace_back(static_cast<std::int64_t>(g.runs.size()));
    for (const auto& [key, title] : metrics) row.push_back(detail::value(g, key, estimates));
    for (auto k : ks) row.push_back(detail::value(g, fmt::format("top{}_accuracy", k), estimates));
    t.add_row(std::move(row));
  }
  return t;
}

/// Every run on its own line (for several seeds).
inline table runs_table(const std::vector<run_group>& groups) {
  const bool losses = several_losses(groups);
  table t;
  t.name = "runs";
  t.title = "Every run";
  t.note = "One row per model, phase and seed.";
  t.columns = {{"model", "model"}, {"phase", "phase", column_kind::integer}};
  if (losses) t.columns.push_back({"loss", "loss"});
  t.columns.push_back({"seed", "seed", column_kind::integer});
  t.columns.push_back({"test_images", "test images", column_kind::integer});
  const std::vector<std::pair<std::string, std::string>> metrics = {
      {"accuracy", "accuracy"}, {"macro_precision", "macro precision"}, {"macro_recall", "macro recall"},
      {"macro_f1", "macro F1"}, {"balanced_accuracy", "balanced accuracy"}, {"weighted_f1", "weighted F1"}};
  for (const auto& [key, title] : metrics) t.columns.push_back({key, title, column_kind::real});
  for (const auto& g : groups)
    for (const auto* r : g.runs) {
      std::vector<cell> row{g.model, std::int64_t{g.phase}};
      if (losses) row.emplace_back(g.loss);
      row.emplace_back(static_cast<std::int64_t>(r->seed));
      row.emplace_back(r->test.samples);
      const auto s = r->test.scalars();
      for (const auto& [key, title] : metrics) row.emplace_back(s.at(key));
      t.add_row(std::move(row));
    }
  return t;
}

/// Ours beside the paper's Tables 1-3 (for runs on the paper's Serengeti S9 species). A model or
/// phase the paper did not run gets empty paper cells.
inline table paper_table(const std::vector<run_group>& groups) {
  const bool estimates = detail::several_seeds(groups), losses = several_losses(groups);
  const auto kind = estimates ? column_kind::estimate : column_kind::real;
  table t;
  t.name = "paper";
  t.title = "Ours beside the paper (Malik et al. 2021, Tables 1-3)";
  t.note = "The paper's values come from one training run each, with its code's defects (see "
           "docs/metrics.md); its macro scores used \"probability > 0.5, else class 0\" where tpt "
           "uses the argmax.";
  t.columns = {{"model", "model"}, {"phase", "phase", column_kind::integer}};
  if (losses) t.columns.push_back({"loss", "loss"});
  const std::vector<std::pair<std::string, std::string>> metrics = {
      {"accuracy", "accuracy"}, {"macro_precision", "macro precision"}, {"macro_recall", "macro recall"},
      {"macro_f1", "macro F1"}};
  for (const auto& [key, title] : metrics) {
    t.columns.push_back({key, fmt::format("{} (ours)", title), kind});
    t.columns.push_back({fmt::format("paper_{}", key), fmt::format("{} (paper)", title), column_kind::real});
  }
  t.columns.push_back({"macro_f1_minus_paper", "macro F1 − paper", column_kind::real});
  for (const auto& g : groups) {
    std::vector<cell> row{g.model, std::int64_t{g.phase}};
    if (losses) row.emplace_back(g.loss);
    const auto p = paper::find_result(g.model, g.phase);
    for (const auto& [key, title] : metrics) {
      row.push_back(detail::value(g, key, estimates));
      if (!p) {
        row.emplace_back(std::monostate{});
        continue;
      }
      row.emplace_back(key == "accuracy"          ? p->accuracy
                       : key == "macro_precision" ? p->macro_precision
                       : key == "macro_recall"    ? p->macro_recall
                                                  : p->macro_f1);
    }
    if (p) row.emplace_back(g.scalar("macro_f1").mean - p->macro_f1);
    else row.emplace_back(std::monostate{});
    t.add_row(std::move(row));
  }
  return t;
}

/// Per-species scores of one model after one phase, as the paper's Tables 4-6: species,
/// precision, recall, F1, train count, test count, most frequent species first.
inline table species_table(const run_group& g, bool with_loss = false) {
  const auto& first = *g.runs.front();
  const bool estimates = g.runs.size() > 1;
  const auto kind = estimates ? column_kind::estimate : column_kind::real;
  table t;
  t.name = fmt::format("species_{}", g.slug(with_loss));
  t.title = fmt::format("Per species: {}", g.label(with_loss));
  t.columns = {{"species", "species"},          {"precision", "precision", kind}, {"recall", "recall", kind},
               {"f1", "F1", kind},              {"train", "train", column_kind::integer},
               {"test", "test", column_kind::integer}};
  bool counts_differ = false;
  for (const auto* r : g.runs)
    counts_differ |= r->train_counts != first.train_counts || r->test_counts != first.test_counts;
  t.note = fmt::format("Species by training frequency{}{}.", estimates ? "; mean ± sd over seeds" : "",
                       counts_differ ? "; the splits of the seeds differ, counts are those of the first seed" : "");
  for (auto c : frequency_order(first.class_names, first.train_counts, first.test_counts)) {
    auto v = [&](double class_score::*f) { return estimates ? cell(g.class_value(c, f)) : cell(first.test.classes[c].*f); };
    t.add_row({first.class_names[c], v(&class_score::precision), v(&class_score::recall), v(&class_score::f1),
               first.train_counts[c], first.test_counts[c]});
  }
  return t;
}

/// F1 per species for every model and phase side by side, most frequent species first.
inline table species_f1_table(const std::vector<run_group>& groups) {
  const bool estimates = detail::several_seeds(groups), losses = several_losses(groups);
  const auto& first = *groups.front().runs.front();
  table t;
  t.name = "species_f1";
  t.title = "F1 per species and model";
  t.note = "Species by training frequency (of the first run); one column per model and phase.";
  t.columns = {{"species", "species"}, {"train", "train", column_kind::integer}, {"test", "test", column_kind::integer}};
  for (const auto& g : groups)
    t.columns.push_back({fmt::format("f1_{}", g.slug(losses)), g.label(losses), estimates ? column_kind::estimate : column_kind::real});
  for (auto c : frequency_order(first.class_names, first.train_counts, first.test_counts)) {
    std::vector<cell> row{first.class_names[c], first.train_counts[c], first.test_counts[c]};
    for (const auto& g : groups)
      row.push_back(estimates ? cell(g.class_value(c, &class_score::f1)) : cell(g.runs.front()->test.classes[c].f1));
    t.add_row(std::move(row));
  }
  return t;
}

/// A requested comparison: is `candidate` better than `reference`?
struct comparison {
  run_key reference;
  run_key candidate;
};

/// The paired bootstrap of one comparison on one seed's test set, or pooled over the seeds the two
/// groups share (seed empty).
struct comparison_result {
  std::string reference;  // group labels
  std::string candidate;
  std::optional<std::uint64_t> seed;
  std::vector<std::uint64_t> seeds;  // the seeds it covers
  paired_bootstrap_result bootstrap;
};

/// Comparisons made when the options list none: every model and phase against the reference
/// model (the baseline; its lowest phase, same loss where there is one), and phase 2 against
/// phase 1 of every two-phase model, the reference model included (a run of one paper model
/// alone, ROS say, is its own reference and still shows what phase 2 gained).
inline std::vector<comparison> default_comparisons(const std::vector<run_group>& groups,
                                                   const std::string& reference_model) {
  std::vector<comparison> out;
  const std::string ref_id = paper::model_key(reference_model);
  std::vector<const run_group*> refs;
  for (const auto& g : groups)
    if (paper::model_key(g.model) == ref_id) refs.push_back(&g);
  for (const auto& g : groups) {
    if (refs.empty() || paper::model_key(g.model) == ref_id) continue;
    const run_group* best = nullptr;
    for (const auto* r : refs)
      if (!best || (r->loss == g.loss && best->loss != g.loss) ||
          ((r->loss == g.loss) == (best->loss == g.loss) && r->phase < best->phase))
        best = r;
    out.push_back({{best->model, best->phase, best->loss}, {g.model, g.phase, g.loss}});
  }
  for (const auto& g : groups) {
    if (g.phase != 2) continue;
    for (const auto& h : groups)
      if (h.phase == 1 && h.loss == g.loss && paper::model_key(h.model) == paper::model_key(g.model))
        out.push_back({{h.model, 1, h.loss}, {g.model, 2, g.loss}});
  }
  return out;
}

/// The group a key names; tpt::config_error when none or several match.
inline const run_group& find_group(const std::vector<run_group>& groups, const run_key& key) {
  const run_group* found = nullptr;
  std::vector<std::string> have;
  for (const auto& g : groups) {
    have.push_back(g.label(true));
    if (!g.matches(key)) continue;
    if (found)
      throw config_error("comparisons", fmt::format("'{} phase {}' is ambiguous: it was run with losses '{}' and "
                                                    "'{}'; name the loss",
                                                    key.model, key.phase, found->loss, g.loss));
    found = &g;
  }
  if (!found)
    throw config_error("comparisons", fmt::format("no runs of '{} phase {}{}' (the records hold: {})", key.model,
                                                  key.phase, key.loss.empty() ? std::string() : fmt::format(" ({})", key.loss),
                                                  fmt::join(have, "; ")));
  return *found;
}

/// Run the paired bootstraps: per shared seed, and pooled when the groups share several seeds.
/// A seed whose runs lack per-image predictions or were tested on different images is skipped
/// with a note (in `notes`) instead of an interval.
inline std::vector<comparison_result> compare(const std::vector<run_group>& groups,
                                              const std::vector<comparison>& comparisons,
                                              const paired_bootstrap_options& options,
                                              std::vector<std::string>& notes) {
  const bool losses = several_losses(groups);
  std::vector<comparison_result> out;
  for (const auto& c : comparisons) {
    const auto& ref = find_group(groups, c.reference);
    const auto& cand = find_group(groups, c.candidate);
    const std::string what = fmt::format("{} vs {}", cand.label(losses), ref.label(losses));
    if (&ref == &cand) throw config_error("comparisons", fmt::format("'{}' is compared with itself", ref.label(true)));
    std::vector<paired_predictions> sets;
    std::vector<std::uint64_t> seeds;
    const auto k = ref.runs.front()->num_classes();
    for (const auto* a : ref.runs) {
      const auto* b = cand.seed(a->seed);
      if (!b) continue;
      if (a->predictions.empty() || b->predictions.empty()) {
        notes.push_back(fmt::format("{}, seed {}: no per-image predictions recorded, so no confidence interval.", what, a->seed));
        continue;
      }
      if (a->targets != b->targets) {
        notes.push_back(fmt::format("{}, seed {}: the two runs were tested on different images (or in another "
                                    "order), so they cannot be paired.", what, a->seed));
        continue;
      }
      sets.push_back({a->predictions, b->predictions, a->targets});
      seeds.push_back(a->seed);
    }
    if (sets.empty()) {
      notes.push_back(fmt::format("{}: no seed with paired predictions on the same test images.", what));
      continue;
    }
    auto results = paired_bootstrap_each(sets, k, options);
    for (std::size_t i = 0; i < sets.size(); ++i)
      out.push_back({ref.label(losses), cand.label(losses), seeds[i], {seeds[i]}, std::move(results.per_set[i])});
    if (sets.size() > 1)
      out.push_back({ref.label(losses), cand.label(losses), std::nullopt, seeds, std::move(results.pooled)});
  }
  return out;
}

/// The comparisons as a table: difference, confidence interval, p-value and verdict.
inline table comparison_table(const std::vector<comparison_result>& results, const paired_bootstrap_options& options) {
  table t;
  t.name = "comparisons";
  t.title = fmt::format("Is the gain real? Paired bootstrap of {}", options.statistic);
  t.note = fmt::format(
      "candidate − reference on the same test images, {} resamples of the test images (seed {}), the "
      "same resample for both models; {:g}% percentile interval. A gain is real when the interval "
      "lies above 0. Rows 'all' average the difference over the seeds both models ran with, "
      "resampling each seed's test set.",
      options.resamples, options.seed, options.confidence * 100);
  t.columns = {{"reference", "reference"},
               {"candidate", "candidate"},
               {"seeds", "seed"},
               {"reference_value", "reference", column_kind::real},
               {"candidate_value", "candidate", column_kind::real},
               {"difference", "difference", column_kind::real},
               {"ci_low", fmt::format("{:g}% CI low", options.confidence * 100), column_kind::real},
               {"ci_high", fmt::format("{:g}% CI high", options.confidence * 100), column_kind::real},
               {"p_value", "p", column_kind::real},
               {"verdict", "verdict"}};
  for (const auto& r : results)
    t.add_row({r.reference, r.candidate,
               r.seed ? fmt::format("{}", *r.seed) : fmt::format("all ({})", fmt::join(r.seeds, ", ")),
               r.bootstrap.reference, r.bootstrap.candidate, r.bootstrap.difference, r.bootstrap.lower,
               r.bootstrap.upper, r.bootstrap.p_value, std::string(r.bootstrap.verdict())});
  return t;
}

}  // namespace tpt::report
