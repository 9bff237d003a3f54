// Shared by the sampling suite: small labelled datasets with every edge case in them, the
// policy types the contract runs over, and a chi-square statistic.
#pragma once

#include <cstdint>
#include <numeric>
#include <span>
#include <tuple>
#include <vector>

#include "tpt/core/random.hpp"
#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/presets.hpp"
#include "tpt/sampling/sampler.hpp"

namespace tpt::test {

/// Labels with counts {400, 120, 45, 7, 1, 0} for classes 0..5 (a majority class, mid classes,
/// a single example, an absent class), shuffled so that classes interleave.
inline std::vector<std::int64_t> mixed_labels(std::uint64_t seed = 11) {
  const std::vector<std::int64_t> counts{400, 120, 45, 7, 1, 0};
  std::vector<std::int64_t> labels;
  for (std::size_t c = 0; c < counts.size(); ++c)
    labels.insert(labels.end(), static_cast<std::size_t>(counts[c]), static_cast<std::int64_t>(c));
  rng gen(seed);
  shuffle(labels, gen);
  return labels;
}
inline constexpr std::int64_t mixed_classes = 6;

/// Per-class rule: double every class (a callable target).
struct double_every_class {
  std::int64_t operator()(std::int64_t /*cls*/, std::int64_t count) const { return 2 * count; }
};

/// Whole-distribution rule: every present class to the median of the present classes' sizes.
struct to_median {
  std::vector<std::int64_t> operator()(std::span<const std::int64_t> before) const {
    std::vector<std::int64_t> present;
    for (auto n : before)
      if (n > 0) present.push_back(n);
    std::sort(present.begin(), present.end());
    const std::int64_t median = present.empty() ? 0 : present[present.size() / 2];
    std::vector<std::int64_t> out;
    for (auto n : before) out.push_back(n > 0 ? median : 0);
    return out;
  }
};

/// A sampler a user might write, with no targets to expose: keeps each example with
/// probability 1/2. In a composition it takes the general two-pass path.
struct keep_half_at_random {
  sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                     rng& gen) const {
    std::vector<std::int64_t> kept;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (gen.bernoulli(0.5)) kept.push_back(static_cast<std::int64_t>(i));
    return make_plan(labels, num_classes, std::move(kept));
  }
};

/// Every policy type the library offers (and the presets' composed type), a user-written
/// sampler, and compositions that take the general two-pass path, in configurations that make
/// each one act on mixed_labels().
using all_policies = std::tuple<
    identity_sampler, random_oversample, random_undersample, presets::ros_then_rus,
    per_class_targets<target_map>, per_class_targets<double_every_class>, per_class_targets<to_median>,
    class_balanced, every_epoch<random_undersample>,
    composed<every_epoch<random_oversample>, class_balanced>, keep_half_at_random,
    composed<keep_half_at_random, random_undersample>, composed<random_oversample, keep_half_at_random>>;

template <class P>
P policy_for_mixed_labels() {
  if constexpr (std::is_same_v<P, random_oversample>) {
    random_oversample::options o;
    o.tiers = {{5, 10.0}, {50, 3.0}, {200, 2.0}};
    o.cap = 150;
    return random_oversample(o);
  } else if constexpr (std::is_same_v<P, random_undersample>) {
    return random_undersample(50);
  } else if constexpr (std::is_same_v<P, presets::ros_then_rus>) {
    return presets::ros_rus_15k(0.01);  // tiers 1/5/10/50, ROS cap 50, RUS cap 150
  } else if constexpr (std::is_same_v<P, per_class_targets<target_map>>) {
    return per_class_targets(target_map{{0, 100}, {2, 90}, {4, 3}});
  } else if constexpr (std::is_same_v<P, class_balanced>) {
    return class_balanced::to(60);
  } else if constexpr (std::is_same_v<P, every_epoch<random_undersample>>) {
    return every_epoch(random_undersample(30));
  } else if constexpr (std::is_same_v<P, composed<keep_half_at_random, random_undersample>>) {
    return compose(keep_half_at_random{}, random_undersample(50));
  } else if constexpr (std::is_same_v<P, composed<random_oversample, keep_half_at_random>>) {
    return compose(policy_for_mixed_labels<random_oversample>(), keep_half_at_random{});
  } else if constexpr (std::is_same_v<P, composed<every_epoch<random_oversample>, class_balanced>>) {
    return compose(every_epoch(policy_for_mixed_labels<random_oversample>()), class_balanced::to_smallest());
  } else {
    return P{};
  }
}

/// Pearson's chi-square statistic of observed counts against equal expected counts.
inline double chi_square_uniform(std::span<const std::int64_t> observed) {
  const double total = static_cast<double>(std::accumulate(observed.begin(), observed.end(), std::int64_t{0}));
  const double expected = total / static_cast<double>(observed.size());
  double chi2 = 0;
  for (auto o : observed) chi2 += (static_cast<double>(o) - expected) * (static_cast<double>(o) - expected) / expected;
  return chi2;
}

/// How many times each example appears in a plan.
inline std::vector<std::int64_t> multiplicities(const sampling_plan& plan, std::size_t n) {
  std::vector<std::int64_t> m(n, 0);
  for (auto i : plan.indices) ++m.at(static_cast<std::size_t>(i));
  return m;
}

}  // namespace tpt::test
