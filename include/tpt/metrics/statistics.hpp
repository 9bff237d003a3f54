// Statistics over runs: mean and standard deviation across seeds, and the paired bootstrap that
// says whether one model's gain over another on the same test images is real (the firmer result
// the paper asked for in its future work).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/metrics/classification_report.hpp"  // detail::class_scores_of, score_sums
#include "tpt/metrics/metric.hpp"

namespace tpt {

/// A value over several runs: mean, sample standard deviation (n - 1 in the denominator, NaN for a
/// single run) and the number of runs.
struct estimate {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double sd = std::numeric_limits<double>::quiet_NaN();
  std::size_t n = 0;
  friend bool operator==(const estimate&, const estimate&) = default;
};

/// "0.4200 ± 0.0200 (n=3)" with `precision` digits (without " (n=3)" when show_n is false); one
/// run prints only its value, no runs "".
inline std::string format_estimate(const estimate& e, int precision = 4, bool show_n = true) {
  if (!std::isfinite(e.mean)) return "";
  if (e.n < 2 || !std::isfinite(e.sd)) return fmt::format("{:.{}f}", e.mean, precision);
  return fmt::format("{:.{}f} ± {:.{}f}{}", e.mean, precision, e.sd, precision,
                     show_n ? fmt::format(" (n={})", e.n) : std::string());
}

/// Mean and sample standard deviation (numpy's std(ddof=1)); tpt::metric_error for no values.
inline estimate mean_and_sd(std::span<const double> values) {
  if (values.empty()) throw metric_error("mean_and_sd: no values");
  estimate e;
  e.n = values.size();
  double sum = 0;
  for (double v : values) sum += v;
  e.mean = sum / double(e.n);
  if (e.n > 1) {
    double ss = 0;
    for (double v : values) ss += (v - e.mean) * (v - e.mean);
    e.sd = std::sqrt(ss / double(e.n - 1));
  }
  return e;
}

/// The q-quantile of sorted values with linear interpolation between order statistics (numpy's
/// default method), q in [0, 1].
inline double quantile_of_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) throw metric_error("quantile: no values");
  if (!(q >= 0 && q <= 1)) throw metric_error(fmt::format("quantile: q must lie in [0, 1], got {}", q));
  const double h = (double(sorted.size()) - 1) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - double(lo)) * (sorted[hi] - sorted[lo]);
}

/// Which headline value a bootstrap resamples: any of those a classification report derives from
/// its confusion matrix (top-k accuracy needs logits, which a record does not keep).
inline constexpr std::string_view bootstrap_statistics[] = {
    "accuracy",        "balanced_accuracy",  "macro_precision", "macro_recall",
    "macro_f1",        "weighted_precision", "weighted_recall", "weighted_f1"};

struct paired_bootstrap_options {
  std::string statistic = "macro_f1";
  std::size_t resamples = 10000;
  double confidence = 0.95;
  std::uint64_t seed = 0;
};

/// The predictions of two models on the same test images (one entry per image, same order).
struct paired_predictions {
  std::span<const std::int64_t> reference;
  std::span<const std::int64_t> candidate;
  std::span<const std::int64_t> targets;
};

/// candidate - reference, with a percentile bootstrap interval from resampling test images with
/// replacement, the same resample for both models (paired).
struct paired_bootstrap_result {
  std::string statistic;
  double reference = 0;   // on the full test set(s)
  double candidate = 0;
  double difference = 0;  // candidate - reference
  double lower = 0;       // confidence interval of the difference
  double upper = 0;
  double standard_error = 0;  // standard deviation of the bootstrap differences
  /// Approximate two-sided p-value: twice the smaller share of resamples on either side of 0,
  /// counted as (k + 1) / (B + 1), so never below 2 / (B + 1).
  double p_value = 1;
  double confidence = 0.95;
  std::size_t resamples = 0;
  std::size_t test_sets = 0;  // seeds pooled (the statistic is averaged over them)
  std::size_t samples = 0;    // test images, over all test sets
  std::uint64_t seed = 0;

  /// The interval excludes 0: the difference is unlikely to be resampling noise.
  [[nodiscard]] bool significant() const noexcept { return lower > 0 || upper < 0; }
  /// "gain", "loss" or "no clear difference", for reports.
  [[nodiscard]] std::string_view verdict() const noexcept {
    return lower > 0 ? "gain" : upper < 0 ? "loss" : "no clear difference";
  }
};

namespace detail {

/// Per-class counts of two models on one (resampled) test set: the support is shared.
struct paired_counts {
  std::vector<std::int64_t> support, predicted_ref, predicted_cand, tp_ref, tp_cand;
  explicit paired_counts(std::size_t k)
      : support(k, 0), predicted_ref(k, 0), predicted_cand(k, 0), tp_ref(k, 0), tp_cand(k, 0) {}
  void clear() {
    for (auto* v : {&support, &predicted_ref, &predicted_cand, &tp_ref, &tp_cand}) std::fill(v->begin(), v->end(), 0);
  }
};

/// A test set as the bootstrap reads it. The statistics depend on an image only through its
/// (truth, reference, candidate) triple, so images are reduced to the id of their triple: a
/// resample then costs one histogram increment per image drawn, and the class counts follow from
/// the histogram in O(distinct triples).
struct paired_set {
  struct triple {
    std::int32_t truth, reference, candidate;
    friend auto operator<=>(const triple&, const triple&) = default;
  };
  std::vector<triple> triples;          // the distinct triples
  std::vector<std::uint32_t> triple_of;  // per image, in the caller's order

  /// Class counts from how often each triple was drawn.
  void count(const std::vector<std::int64_t>& hist, paired_counts& c) const {
    c.clear();
    for (std::size_t u = 0; u < triples.size(); ++u) {
      const auto w = hist[u];
      const auto& x = triples[u];
      c.support[static_cast<std::size_t>(x.truth)] += w;
      c.predicted_ref[static_cast<std::size_t>(x.reference)] += w;
      c.predicted_cand[static_cast<std::size_t>(x.candidate)] += w;
      c.tp_ref[static_cast<std::size_t>(x.truth)] += x.reference == x.truth ? w : 0;
      c.tp_cand[static_cast<std::size_t>(x.truth)] += x.candidate == x.truth ? w : 0;
    }
  }
};

enum class statistic_id { accuracy, balanced_accuracy, macro_precision, macro_recall, macro_f1, weighted_precision, weighted_f1 };

inline statistic_id parse_statistic(std::string_view name) {
  if (name == "accuracy" || name == "weighted_recall") return statistic_id::accuracy;
  if (name == "balanced_accuracy") return statistic_id::balanced_accuracy;
  if (name == "macro_precision") return statistic_id::macro_precision;
  if (name == "macro_recall") return statistic_id::macro_recall;
  if (name == "macro_f1") return statistic_id::macro_f1;
  if (name == "weighted_precision") return statistic_id::weighted_precision;
  if (name == "weighted_f1") return statistic_id::weighted_f1;
  throw config_error("statistic", fmt::format("'{}' cannot be bootstrapped from predictions (choose one of: {})",
                                              name, fmt::join(bootstrap_statistics, ", ")));
}

/// One headline value from per-class counts, through the same arithmetic as
/// classification_report::from_confusion (the tests check the two agree on resampled data).
inline double statistic_from_counts(statistic_id statistic, const std::vector<std::int64_t>& tp,
                                    const std::vector<std::int64_t>& support,
                                    const std::vector<std::int64_t>& predicted) {
  const std::size_t k = tp.size();
  double n = 0, correct = 0;
  detail::score_sums sums;
  for (std::size_t i = 0; i < k; ++i) {
    n += static_cast<double>(support[i]);
    correct += static_cast<double>(tp[i]);
    sums.add(detail::class_scores_of(tp[i], predicted[i], support[i]), support[i]);
  }
  switch (statistic) {
    case statistic_id::accuracy: return correct / n;
    case statistic_id::balanced_accuracy: return sums.present_recall / double(sums.present);
    case statistic_id::macro_precision: return sums.precision / double(k);
    case statistic_id::macro_recall: return sums.recall / double(k);
    case statistic_id::macro_f1: return sums.f1 / double(k);
    case statistic_id::weighted_precision: return sums.weighted_precision / n;
    case statistic_id::weighted_f1: return sums.weighted_f1 / n;
  }
  return 0;
}

/// The generator that draws resample `b` of test set `set`: derived from (seed, b, set) alone,
/// so intervals do not depend on how resamples are spread over threads.
inline rng bootstrap_generator(std::uint64_t seed, std::size_t b, std::size_t set = 0) {
  return rng(derive_seed(seed, stream_tag("bootstrap"), static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(set)));
}

/// Summarise resampled differences (unsorted) into a result's interval, standard error and p.
inline void summarise(std::vector<double> differences, double confidence, paired_bootstrap_result& r) {
  const double B = double(differences.size());
  double mean = 0;
  std::size_t at_most_zero = 0, at_least_zero = 0;
  for (double d : differences) {
    mean += d / B;
    at_most_zero += d <= 0;
    at_least_zero += d >= 0;
  }
  double ss = 0;
  for (double d : differences) ss += (d - mean) * (d - mean);
  r.standard_error = std::sqrt(ss / (B - 1));
  // With the usual +1 (Davison & Hinkley 1997, eq. 4.11): B resamples cannot show a p below
  // 2 / (B + 1), and reporting 0 when none crossed 0 claimed a certainty they do not hold.
  r.p_value = std::min(1.0, 2.0 * (double(std::min(at_most_zero, at_least_zero)) + 1) / (B + 1));
  std::sort(differences.begin(), differences.end());
  const double alpha = 1 - confidence;
  r.lower = quantile_of_sorted(differences, alpha / 2);
  r.upper = quantile_of_sorted(differences, 1 - alpha / 2);
}

}  // namespace detail

/// The paired bootstrap of each test set on its own and of their mean, from one pass.
struct paired_bootstrap_results {
  std::vector<paired_bootstrap_result> per_set;  // one per test set (seed)
  paired_bootstrap_result pooled;                // the mean over test sets (equals per_set[0] for one set)
};

/// Paired bootstrap of candidate - reference over one or several test sets (several seeds). Each
/// resample draws, for every test set, as many images as it holds, with replacement (resample b
/// of set s from detail::bootstrap_generator(seed, b, s)), and scores both models on the same
/// draw. Each set's interval comes from its own differences; the pooled interval from their mean
/// over sets. Percentile intervals; reproducible for a seed and identical for any thread count.
/// Throws tpt::config_error for bad options, tpt::metric_error for mismatched or empty inputs and
/// tpt::unknown_class_error for ids outside [0, num_classes).
inline paired_bootstrap_results paired_bootstrap_each(std::span<const paired_predictions> test_sets,
                                                      std::int64_t num_classes,
                                                      const paired_bootstrap_options& options = {}) {
  const auto statistic = detail::parse_statistic(options.statistic);
  if (options.resamples < 2)
    throw config_error("resamples", fmt::format("need at least 2 resamples, got {}", options.resamples));
  if (!(options.confidence > 0 && options.confidence < 1))
    throw config_error("confidence", fmt::format("must lie in (0, 1), got {}", options.confidence));
  if (num_classes < 1 || num_classes > std::numeric_limits<std::int32_t>::max())
    throw config_error("num_classes", fmt::format("must lie in [1, 2^31), got {}", num_classes));
  if (test_sets.empty()) throw metric_error("paired_bootstrap: no test sets");
  std::vector<detail::paired_set> sets(test_sets.size());
  for (std::size_t s = 0; s < test_sets.size(); ++s) {
    const auto& t = test_sets[s];
    if (t.targets.empty()) throw metric_error(fmt::format("paired_bootstrap: test set {} is empty", s));
    if (t.reference.size() != t.targets.size() || t.candidate.size() != t.targets.size())
      throw metric_error(fmt::format(
          "paired_bootstrap: test set {}: {} reference and {} candidate predictions for {} targets; "
          "both models must be evaluated on the same images",
          s, t.reference.size(), t.candidate.size(), t.targets.size()));
    if (t.targets.size() > std::numeric_limits<std::uint32_t>::max())
      throw metric_error(fmt::format("paired_bootstrap: test set {} holds more than 2^32 images", s));
    std::map<detail::paired_set::triple, std::uint32_t> ids;
    auto& set = sets[s];
    set.triple_of.reserve(t.targets.size());
    for (std::size_t i = 0; i < t.targets.size(); ++i) {
      for (auto [v, what] : {std::pair{t.targets[i], "targets"}, std::pair{t.reference[i], "reference"},
                             std::pair{t.candidate[i], "candidate"}})
        if (v < 0 || v >= num_classes)
          throw unknown_class_error(std::to_string(v), fmt::format("paired_bootstrap: test set {} {}[{}] "
                                                                   "(classes are 0..{})",
                                                                   s, what, i, num_classes - 1));
      const detail::paired_set::triple x{static_cast<std::int32_t>(t.targets[i]),
                                         static_cast<std::int32_t>(t.reference[i]),
                                         static_cast<std::int32_t>(t.candidate[i])};
      const auto [it, fresh] = ids.emplace(x, static_cast<std::uint32_t>(set.triples.size()));
      if (fresh) set.triples.push_back(x);
      set.triple_of.push_back(it->second);
    }
  }

  const auto k = static_cast<std::size_t>(num_classes);
  const std::size_t S = sets.size(), B = options.resamples;
  paired_bootstrap_results out;
  out.per_set.resize(S);
  auto difference = [&](const detail::paired_counts& c, double& ref, double& cand) {
    ref = detail::statistic_from_counts(statistic, c.tp_ref, c.support, c.predicted_ref);
    cand = detail::statistic_from_counts(statistic, c.tp_cand, c.support, c.predicted_cand);
    return cand - ref;
  };
  {
    detail::paired_counts c(k);
    for (std::size_t s = 0; s < S; ++s) {
      std::vector<std::int64_t> hist(sets[s].triples.size(), 0);
      for (auto u : sets[s].triple_of) ++hist[u];
      sets[s].count(hist, c);
      auto& r = out.per_set[s];
      r.difference = difference(c, r.reference, r.candidate);
    }
  }

  // differences[b * S + s]: resample b of set s.
  std::vector<double> differences(B * S);
  at::parallel_for(0, static_cast<std::int64_t>(B), 8, [&](std::int64_t begin, std::int64_t end) {
    detail::paired_counts c(k);
    std::vector<std::int64_t> hist;
    for (auto b = static_cast<std::size_t>(begin); b < static_cast<std::size_t>(end); ++b)
      for (std::size_t s = 0; s < S; ++s) {
        rng gen = detail::bootstrap_generator(options.seed, b, s);
        const auto& set = sets[s];
        hist.assign(set.triples.size(), 0);
        const std::uint64_t n = set.triple_of.size();
        const std::uint32_t* triple_of = set.triple_of.data();
        for (std::uint64_t i = 0; i < n; ++i) ++hist[triple_of[gen.uniform_index(n)]];
        set.count(hist, c);
        double ref = 0, cand = 0;
        differences[b * S + s] = difference(c, ref, cand);
      }
  });

  auto stamp = [&](paired_bootstrap_result& r, std::size_t sets_covered, std::size_t samples) {
    r.statistic = options.statistic;
    r.confidence = options.confidence;
    r.resamples = B;
    r.test_sets = sets_covered;
    r.samples = samples;
    r.seed = options.seed;
  };
  std::vector<double> column(B), mean(B, 0.0);
  std::size_t all_samples = 0;
  for (std::size_t s = 0; s < S; ++s) {
    for (std::size_t b = 0; b < B; ++b) {
      column[b] = differences[b * S + s];
      mean[b] += column[b] / double(S);
    }
    auto& r = out.per_set[s];
    stamp(r, 1, sets[s].triple_of.size());
    detail::summarise(column, options.confidence, r);
    out.pooled.reference += r.reference / double(S);
    out.pooled.candidate += r.candidate / double(S);
    all_samples += sets[s].triple_of.size();
  }
  out.pooled.difference = out.pooled.candidate - out.pooled.reference;
  stamp(out.pooled, S, all_samples);
  if (S == 1) out.pooled = out.per_set[0];
  else detail::summarise(mean, options.confidence, out.pooled);
  return out;
}

/// Paired bootstrap pooled over test sets (the mean difference over seeds).
inline paired_bootstrap_result paired_bootstrap(std::span<const paired_predictions> test_sets,
                                                std::int64_t num_classes,
                                                const paired_bootstrap_options& options = {}) {
  return paired_bootstrap_each(test_sets, num_classes, options).pooled;
}

/// Paired bootstrap on one test set.
inline paired_bootstrap_result paired_bootstrap(std::span<const std::int64_t> reference_predictions,
                                                std::span<const std::int64_t> candidate_predictions,
                                                std::span<const std::int64_t> targets,
                                                std::int64_t num_classes,
                                                const paired_bootstrap_options& options = {}) {
  const paired_predictions one{reference_predictions, candidate_predictions, targets};
  return paired_bootstrap_each(std::span<const paired_predictions>(&one, 1), num_classes, options).pooled;
}

}  // namespace tpt

/// "0.4147 ± 0.0031 (n=3)"; a single run prints only its value. Precision: "{:.2f}" and so on.
template <>
struct fmt::formatter<tpt::estimate> {
  int precision = 4;
  constexpr auto parse(format_parse_context& ctx) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it == '.') {
      ++it;
      precision = 0;
      while (it != ctx.end() && *it >= '0' && *it <= '9') precision = precision * 10 + (*it++ - '0');
      if (it != ctx.end() && *it == 'f') ++it;
    }
    if (it != ctx.end() && *it != '}') throw format_error("estimate: use {} or {:.Nf}");
    return it;
  }
  template <class Context>
  auto format(const tpt::estimate& e, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", tpt::format_estimate(e, precision));
  }
};

/// "macro_f1: 0.3944 -> 0.4147, difference +0.0203 (95% CI +0.0101 to +0.0302; 10000 paired
/// resamples of 19377 test images): gain".
template <>
struct fmt::formatter<tpt::paired_bootstrap_result> {
  constexpr auto parse(format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const tpt::paired_bootstrap_result& r, Context& ctx) const {
    return fmt::format_to(ctx.out(),
                          "{}: {:.4f} -> {:.4f}, difference {:+.4f} ({:g}% CI {:+.4f} to {:+.4f}; "
                          "{} paired resamples of {} test images{}): {}",
                          r.statistic, r.reference, r.candidate, r.difference, r.confidence * 100,
                          r.lower, r.upper, r.resamples, r.samples,
                          r.test_sets > 1 ? fmt::format(" in {} test sets", r.test_sets) : "",
                          r.verdict());
  }
};
