// tpt/metrics/statistics.hpp: mean and sd over seeds, quantiles, and the paired bootstrap
// (reproducible for a seed, independent of the thread count, consistent with the report).
#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/Parallel.h>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "tpt/core/random.hpp"
#include "tpt/metrics/classification_report.hpp"
#include "tpt/metrics/statistics.hpp"

using Catch::Matchers::Contains;

namespace {

struct two_models {
  std::vector<std::int64_t> targets, reference, candidate;
};

// A reference model right with probability p_ref, a candidate right with p_cand, on n images of k
// long-tailed classes.
two_models make_models(std::size_t n, std::int64_t k, double p_ref, double p_cand, std::uint64_t seed) {
  tpt::rng gen(seed);
  two_models m;
  auto any = [&] { return static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k))); };
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t t = 0;
    while (t + 1 < k && gen.uniform01() < 0.6) ++t;
    m.targets.push_back(t);
    m.reference.push_back(gen.uniform01() < p_ref ? t : any());
    m.candidate.push_back(gen.uniform01() < p_cand ? t : any());
  }
  return m;
}

}  // namespace

TEST_CASE("mean and sample standard deviation over seeds", "[statistics]") {
  const std::vector<double> v{0.40, 0.42, 0.44};
  const auto e = tpt::mean_and_sd(v);
  CHECK(e.n == 3);
  CHECK(e.mean == Approx(0.42));
  CHECK(e.sd == Approx(0.02));  // ddof = 1
  CHECK(fmt::format("{}", e) == "0.4200 ± 0.0200 (n=3)");
  const std::vector<double> one{0.5};
  CHECK(std::isnan(tpt::mean_and_sd(one).sd));
  CHECK(fmt::format("{:.2f}", tpt::mean_and_sd(one)) == "0.50");
  CHECK_THROWS_AS(tpt::mean_and_sd(std::vector<double>{}), tpt::metric_error);
}

TEST_CASE("quantiles interpolate linearly as numpy does", "[statistics]") {
  const std::vector<double> v{1, 2, 3, 4, 10};
  CHECK(tpt::quantile_of_sorted(v, 0.0) == 1);
  CHECK(tpt::quantile_of_sorted(v, 1.0) == 10);
  CHECK(tpt::quantile_of_sorted(v, 0.5) == 3);
  CHECK(tpt::quantile_of_sorted(v, 0.9) == Approx(7.6));   // numpy.quantile([1,2,3,4,10], .9)
  CHECK(tpt::quantile_of_sorted(v, 0.025) == Approx(1.1));
  CHECK_THROWS_AS(tpt::quantile_of_sorted(v, 1.5), tpt::metric_error);
}

TEST_CASE("the paired bootstrap interval is reproducible for a seed and any thread count", "[statistics][bootstrap]") {
  const auto m = make_models(3000, 10, 0.6, 0.62, 11);
  tpt::paired_bootstrap_options o{.resamples = 500, .seed = 42};
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto a = tpt::paired_bootstrap(m.reference, m.candidate, m.targets, 10, o);
  at::set_num_threads(std::max(2, threads));
  const auto b = tpt::paired_bootstrap(m.reference, m.candidate, m.targets, 10, o);
  at::set_num_threads(threads);
  CHECK(a.lower == b.lower);
  CHECK(a.upper == b.upper);
  CHECK(a.standard_error == b.standard_error);
  CHECK(a.p_value == b.p_value);
  o.seed = 43;
  const auto c = tpt::paired_bootstrap(m.reference, m.candidate, m.targets, 10, o);
  CHECK(c.lower != a.lower);
  CHECK(c.difference == a.difference);  // the observed difference does not depend on the seed
  CHECK(a.lower < a.difference);
  CHECK(a.difference < a.upper);
  CHECK(a.samples == 3000);
  CHECK(a.resamples == 500);
}

TEST_CASE("the observed values equal the classification report's", "[statistics][bootstrap]") {
  const auto m = make_models(800, 6, 0.5, 0.7, 12);
  const auto ref = tpt::classification_report::from_predictions(m.reference, m.targets, 6);
  const auto cand = tpt::classification_report::from_predictions(m.candidate, m.targets, 6);
  for (const auto* stat : {"macro_f1", "accuracy", "macro_precision", "macro_recall", "balanced_accuracy",
                           "weighted_f1", "weighted_precision", "weighted_recall"}) {
    INFO(stat);
    const auto r = tpt::paired_bootstrap(m.reference, m.candidate, m.targets, 6,
                                         {.statistic = stat, .resamples = 50, .seed = 1});
    CHECK(r.reference == Approx(ref.scalars().at(stat)).margin(1e-12));
    CHECK(r.candidate == Approx(cand.scalars().at(stat)).margin(1e-12));
  }
}

TEST_CASE("each bootstrap replicate equals the report of the resampled test set", "[statistics][bootstrap]") {
  // Recompute resample b by hand with the documented generator and scikit-learn-checked report.
  const auto m = make_models(300, 5, 0.5, 0.6, 13);
  const std::uint64_t seed = 9;
  std::vector<double> differences;
  for (std::size_t b = 0; b < 40; ++b) {
    tpt::rng gen = tpt::detail::bootstrap_generator(seed, b);
    std::vector<std::int64_t> t, r, c;
    for (std::size_t i = 0; i < m.targets.size(); ++i) {
      const auto j = gen.uniform_index(m.targets.size());
      t.push_back(m.targets[j]);
      r.push_back(m.reference[j]);
      c.push_back(m.candidate[j]);
    }
    differences.push_back(tpt::classification_report::from_predictions(c, t, 5).macro_f1 -
                          tpt::classification_report::from_predictions(r, t, 5).macro_f1);
  }
  std::sort(differences.begin(), differences.end());
  const auto result = tpt::paired_bootstrap(m.reference, m.candidate, m.targets, 5, {.resamples = 40, .seed = seed});
  CHECK(result.lower == Approx(tpt::quantile_of_sorted(differences, 0.025)).margin(1e-12));
  CHECK(result.upper == Approx(tpt::quantile_of_sorted(differences, 0.975)).margin(1e-12));
}

TEST_CASE("a clear gain, a clear loss and no difference are told apart", "[statistics][bootstrap]") {
  const auto big = make_models(5000, 8, 0.4, 0.8, 14);
  const auto gain = tpt::paired_bootstrap(big.reference, big.candidate, big.targets, 8, {.resamples = 300});
  CHECK(gain.significant());
  CHECK(gain.verdict() == "gain");
  CHECK(gain.lower > 0);
  CHECK(gain.p_value < 0.01);
  // No resample crossed 0: the p-value is the smallest 300 resamples can show, 2 / 301, not 0.
  CHECK(gain.p_value == Approx(2.0 / 301));
  const auto loss = tpt::paired_bootstrap(big.candidate, big.reference, big.targets, 8, {.resamples = 300});
  CHECK(loss.verdict() == "loss");
  CHECK(loss.difference == Approx(-gain.difference));
  const auto same = tpt::paired_bootstrap(big.reference, big.reference, big.targets, 8, {.resamples = 300});
  CHECK(same.difference == 0);
  CHECK(same.lower == 0);
  CHECK(same.upper == 0);
  CHECK(same.p_value == 1);
  CHECK(same.verdict() == "no clear difference");
  const auto close = make_models(400, 8, 0.6, 0.6, 15);
  const auto noise = tpt::paired_bootstrap(close.reference, close.candidate, close.targets, 8, {.resamples = 300});
  CHECK(noise.lower < 0);
  CHECK(noise.upper > 0);
  CHECK_THAT(fmt::format("{}", gain), Contains("95% CI") && Contains("300 paired resamples of 5000 test images") && Contains(": gain"));
}

TEST_CASE("several seeds pool into one interval for the mean difference", "[statistics][bootstrap]") {
  const auto s1 = make_models(1000, 6, 0.5, 0.55, 16);
  const auto s2 = make_models(1200, 6, 0.5, 0.55, 17);
  const std::vector<tpt::paired_predictions> sets{{s1.reference, s1.candidate, s1.targets},
                                                  {s2.reference, s2.candidate, s2.targets}};
  const auto each = tpt::paired_bootstrap_each(sets, 6, {.resamples = 200, .seed = 3});
  const auto& pooled = each.pooled;
  CHECK(tpt::paired_bootstrap(sets, 6, {.resamples = 200, .seed = 3}).lower == pooled.lower);
  const auto& one = each.per_set[0];
  const auto& two = each.per_set[1];
  // Set 0 is resampled exactly as a bootstrap of that set alone.
  const auto alone = tpt::paired_bootstrap(s1.reference, s1.candidate, s1.targets, 6, {.resamples = 200, .seed = 3});
  CHECK(one.lower == alone.lower);
  CHECK(one.upper == alone.upper);
  CHECK(two.samples == 1200);
  CHECK(two.test_sets == 1);
  CHECK(pooled.difference == Approx((one.difference + two.difference) / 2));
  CHECK(pooled.test_sets == 2);
  CHECK(pooled.samples == 2200);
  // Averaging two test sets narrows the interval.
  CHECK(pooled.upper - pooled.lower < std::max(one.upper - one.lower, two.upper - two.lower));
}

TEST_CASE("the bootstrap refuses mismatched, empty and unknown input", "[statistics][bootstrap][errors]") {
  const std::vector<std::int64_t> t{0, 1, 2}, p{0, 1}, q{0, 1, 2}, bad{0, 1, 9}, none;
  CHECK_THROWS_WITH(tpt::paired_bootstrap(p, q, t, 3), Contains("2 reference and 3 candidate predictions for 3 targets"));
  CHECK_THROWS_WITH(tpt::paired_bootstrap(none, none, none, 3), Contains("empty"));
  CHECK_THROWS_AS(tpt::paired_bootstrap(q, bad, t, 3), tpt::unknown_class_error);
  CHECK_THROWS_WITH(tpt::paired_bootstrap(q, bad, t, 3), Contains("candidate[2]"));
  CHECK_THROWS_WITH(tpt::paired_bootstrap(q, q, t, 3, {.statistic = "top5_accuracy"}), Contains("cannot be bootstrapped"));
  CHECK_THROWS_WITH(tpt::paired_bootstrap(q, q, t, 3, {.resamples = 1}), Contains("at least 2"));
  CHECK_THROWS_WITH(tpt::paired_bootstrap(q, q, t, 3, {.confidence = 1.0}), Contains("(0, 1)"));
}
