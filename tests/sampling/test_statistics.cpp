// The statistical shape of the random draws. Undersampling: every subset of the target size
// equally likely, no repeats. Oversampling: every original present, extra copies spread
// uniformly over the class. Seeds are fixed, so each test is deterministic; the thresholds are
// chi-square quantiles at p = 0.001 (scipy.stats.chi2.ppf(0.999, dof)), so a correct sampler
// passes these seeds by a wide margin and a biased one fails.
#include <algorithm>
#include <map>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "sampling_test_support.hpp"
#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/policies.hpp"

using tpt::test::chi_square_uniform;
using tpt::test::multiplicities;

namespace {

/// Class 0 has 6 examples spread among 24 of class 1, so the sweep meets them interleaved.
std::vector<std::int64_t> six_among_others() {
  std::vector<std::int64_t> labels(30, 1);
  for (std::size_t i : {2u, 3u, 11u, 17u, 25u, 29u}) labels[i] = 0;
  return labels;
}

std::vector<std::int64_t> positions_of(const std::vector<std::int64_t>& labels, std::int64_t c) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == c) out.push_back(static_cast<std::int64_t>(i));
  return out;
}

}  // namespace

TEST_CASE("undersampling chooses every subset of the class equally often, without repeats",
          "[sampling][rus][statistics]") {
  const auto labels = six_among_others();
  // Keep 2 of class 0's 6 examples (15 possible pairs), or 4 of them (15 possible sets of four,
  // drawn as the complement of a pair). Class 1 is cut to 2 as well.
  const std::int64_t keep = GENERATE(2, 4);
  const tpt::per_class_targets policy(tpt::target_map{{0, keep}, {1, 2}});
  std::map<std::vector<std::int64_t>, std::int64_t> subsets;
  tpt::rng gen(20240611);
  for (int t = 0; t < 30000; ++t) {
    const auto p = policy.plan(labels, 2, gen);
    std::vector<std::int64_t> chosen;
    for (auto i : p.indices)
      if (labels[static_cast<std::size_t>(i)] == 0) chosen.push_back(i);
    REQUIRE(chosen.size() == static_cast<std::size_t>(keep));
    REQUIRE(std::set<std::int64_t>(chosen.begin(), chosen.end()).size() == chosen.size());
    ++subsets[chosen];
  }
  INFO("keep " << keep);
  REQUIRE(subsets.size() == 15);  // every subset occurs
  std::vector<std::int64_t> observed;
  for (const auto& [subset, n] : subsets) observed.push_back(n);
  CHECK(chi_square_uniform(observed) < 36.12);  // dof 14
}

TEST_CASE("undersampling a large class includes every example with the same probability",
          "[sampling][rus][statistics]") {
  // 1,000 examples cut to 100 (and another class interleaved); 2,000 plans.
  std::vector<std::int64_t> labels;
  for (int i = 0; i < 1500; ++i) labels.push_back(i % 3 == 2 ? 1 : 0);
  const auto class0 = positions_of(labels, 0);
  REQUIRE(class0.size() == 1000);
  const tpt::random_undersample rus(100);
  std::vector<std::int64_t> included(labels.size(), 0);
  tpt::rng gen(77);
  for (int t = 0; t < 2000; ++t) {
    const auto p = rus.plan(labels, 2, gen);
    REQUIRE(p.duplicates() == 0);
    for (auto i : p.indices) ++included[static_cast<std::size_t>(i)];
  }
  std::vector<std::int64_t> per_example;
  for (auto i : class0) per_example.push_back(included[static_cast<std::size_t>(i)]);
  // Inclusions of one example ~ Binomial(2000, 0.1); against uniform, the chi-square over 1,000
  // cells scaled by 1/(1-p) to account for the sampling-without-replacement variance.
  CHECK(chi_square_uniform(per_example) / 0.9 < 1142.85);  // dof 999
  CHECK(std::accumulate(per_example.begin(), per_example.end(), std::int64_t{0}) == 2000 * 100);
}

TEST_CASE("oversampling keeps every original and spreads the remainder uniformly",
          "[sampling][ros][statistics]") {
  // 7 examples to 30 entries: each example 4 times, 2 of them chosen for a 5th (21 pairs); or
  // to 33: 5 of them chosen (21 sets of five, drawn as the complement of a pair).
  const std::vector<std::int64_t> labels(7, 0);
  const std::int64_t target = GENERATE(30, 33);
  const std::int64_t fifths = target - 28;
  const tpt::per_class_targets policy(tpt::target_map{{0, target}});
  std::map<std::vector<std::int64_t>, std::int64_t> chosen;
  tpt::rng gen(4);
  for (int t = 0; t < 21000; ++t) {
    const auto m = multiplicities(policy.plan(labels, 1, gen), labels.size());
    std::vector<std::int64_t> extra;
    for (std::size_t i = 0; i < m.size(); ++i) {
      REQUIRE((m[i] == 4 || m[i] == 5));
      if (m[i] == 5) extra.push_back(static_cast<std::int64_t>(i));
    }
    REQUIRE(static_cast<std::int64_t>(extra.size()) == fifths);
    ++chosen[extra];
  }
  INFO("target " << target);
  REQUIRE(chosen.size() == 21);
  std::vector<std::int64_t> observed;
  for (const auto& [set, n] : chosen) observed.push_back(n);
  CHECK(chi_square_uniform(observed) < 45.31);  // dof 20
}

TEST_CASE("independent extras are uniform draws with replacement, as imbalanced-learn's",
          "[sampling][ros][statistics]") {
  // 5 examples to 25: every original once plus 20 independent uniform draws.
  const std::vector<std::int64_t> labels(5, 0);
  const tpt::per_class_targets to_25(tpt::target_map{{0, 25}}, tpt::extra_copies::independent);
  std::vector<std::int64_t> extras(5, 0);
  double sum = 0, sum_sq = 0;
  const int trials = 20000;
  tpt::rng gen(8);
  for (int t = 0; t < trials; ++t) {
    const auto m = multiplicities(to_25.plan(labels, 1, gen), labels.size());
    for (std::size_t i = 0; i < m.size(); ++i) {
      REQUIRE(m[i] >= 1);
      extras[i] += m[i] - 1;
    }
    const double x = static_cast<double>(m[0] - 1);
    sum += x;
    sum_sq += x * x;
  }
  CHECK(chi_square_uniform(extras) < 18.47);  // dof 4
  // One example's extra copies ~ Binomial(20, 1/5): variance 3.2 (spread_evenly gives 0.16).
  const double mean = sum / trials;
  const double variance = sum_sq / trials - mean * mean;
  CHECK(mean == Approx(4.0).epsilon(0.02));
  CHECK(variance == Approx(3.2).epsilon(0.05));
}

TEST_CASE("different seeds choose different subsets", "[sampling][statistics]") {
  const auto labels = tpt::labels_from_counts(std::vector<std::int64_t>{1000, 10});
  const tpt::random_undersample rus(100);
  std::set<std::vector<std::int64_t>> plans;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    tpt::rng gen(seed);
    plans.insert(rus.plan(labels, 2, gen).indices);
  }
  CHECK(plans.size() == 20);
}

namespace {
/// Hides a policy's targets, so a composition with it takes the general two-pass path.
template <class P>
struct opaque {
  P inner;
  tpt::sampling_plan plan(std::span<const std::int64_t> l, std::int64_t k, tpt::rng& g) const {
    return inner.plan(l, k, g);
  }
};
}  // namespace

TEST_CASE("a composition of built-ins draws as the general two-pass composition does",
          "[sampling][compose][statistics]") {
  // 45 examples grown x4 to 180 entries, then cut to 150: one example keeps
  // Hypergeometric(180 entries, 4 its own, 150 drawn) entries: mean 10/3, variance
  // 4 (150/180)(30/180)(176/179) = 0.54624.
  const auto labels = tpt::labels_from_counts(std::vector<std::int64_t>{45, 300});
  tpt::random_oversample::options o;
  o.tiers = {{100, 4.0}};
  o.cap = std::nullopt;
  const tpt::random_oversample ros(o);
  const tpt::random_undersample rus(150);
  const auto single_sweep = tpt::compose(ros, rus);
  const auto two_pass = tpt::compose(opaque<tpt::random_oversample>{ros}, rus);
  auto moments = [&](const auto& policy) {
    tpt::rng gen(31);
    double sum = 0, sum_sq = 0;
    const int trials = 20000;
    for (int t = 0; t < trials; ++t) {
      const auto p = policy.plan(labels, 2, gen);
      REQUIRE(p.after == std::vector<std::int64_t>{150, 150});
      const auto m = multiplicities(p, labels.size());
      for (std::size_t i = 0; i < 45; ++i) REQUIRE(m[i] <= 4);
      const auto x = static_cast<double>(m[7]);
      sum += x;
      sum_sq += x * x;
    }
    const double mean = sum / trials;
    return std::pair{mean, sum_sq / trials - mean * mean};
  };
  const auto [mean1, var1] = moments(single_sweep);
  const auto [mean2, var2] = moments(two_pass);
  CHECK(mean1 == Approx(10.0 / 3).epsilon(0.01));
  CHECK(mean2 == Approx(10.0 / 3).epsilon(0.01));
  CHECK(var1 == Approx(0.54624).epsilon(0.05));
  CHECK(var2 == Approx(0.54624).epsilon(0.05));
}
