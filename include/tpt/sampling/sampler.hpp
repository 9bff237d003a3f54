// The Sampler concept, drawing a plan once or every epoch (every_epoch, plan_epoch), and the
// composition of two samplers (oversample, then undersample).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/sampling/detail/realise.hpp"
#include "tpt/sampling/plan.hpp"

namespace tpt {

/// A phase-1 sampling policy. `s.plan(labels, num_classes, gen)` returns the sampling_plan of
/// one epoch: `labels[i]` is example i's class id in [0, num_classes); every random choice is
/// drawn from `gen` (so a plan is a function of the labels and the generator's state). Built-in
/// policies take O(N) time and memory and throw tpt::label_error for a label outside
/// [0, num_classes).
///
/// A policy that wants a fresh plan every epoch says so with a member
/// `static constexpr bool redraws_every_epoch = true;`, or is wrapped in tpt::every_epoch.
template <class S>
concept sampler = requires(const S& s, std::span<const std::int64_t> labels,
                           std::int64_t num_classes, rng& gen) {
  { s.plan(labels, num_classes, gen) } -> std::same_as<sampling_plan>;
};

/// `static_assert(tpt::require_sampler<S>());` in a template that takes a policy: a wrong type
/// then stops compilation with one error that names tpt::sampler and says what is missing (GCC
/// adds the failed requirement as notes) instead of a cascade from inside the template. Every
/// tpt entry point that takes a policy does this.
template <class S>
consteval bool require_sampler() {
  static_assert(sampler<S>,
                "this type is not a tpt::sampler: it needs a const member function "
                "`tpt::sampling_plan plan(std::span<const std::int64_t> labels, "
                "std::int64_t num_classes, tpt::rng& gen) const` (see docs/sampling.md)");
  return true;  // the assertion above is the one error; callers' own asserts stay quiet
}

/// Whether plan_epoch draws S's plan afresh every epoch (true) or once for the whole run (false,
/// the paper's choice). Read from `S::redraws_every_epoch` when S declares it; specialise this
/// trait for a third-party type you cannot edit.
template <class S>
struct redraws_every_epoch : std::false_type {};

template <class S>
  requires requires {
    { S::redraws_every_epoch } -> std::convertible_to<bool>;
  }
struct redraws_every_epoch<S> : std::bool_constant<static_cast<bool>(S::redraws_every_epoch)> {};

template <class S>
inline constexpr bool redraws_every_epoch_v = redraws_every_epoch<std::remove_cvref_t<S>>::value;

/// Any policy, drawn afresh every epoch: an undersampler then shows different majority examples
/// each epoch (over the run it sees most of them), an oversampler different extra copies.
/// `tpt::every_epoch(tpt::presets::rus())`.
template <class S>
class every_epoch {
  static_assert(require_sampler<S>());

 public:
  static constexpr bool redraws_every_epoch = true;

  every_epoch() = default;
  explicit every_epoch(S policy) : policy_(std::move(policy)) {}

  [[nodiscard]] sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& gen) const {
    return policy_.plan(labels, num_classes, gen);
  }

  [[nodiscard]] const S& policy() const noexcept { return policy_; }

  /// Internal: lets compositions of target-based policies plan in one sweep.
  void append_stages(std::span<const std::int64_t> before, detail::stage_chain& chain) const
    requires detail::chainable<S>
  {
    detail::append_stages(policy_, before, chain);
  }

 private:
  S policy_{};
};

template <class S>
every_epoch(S) -> every_epoch<S>;

/// First, then second: `second` samples the plan `first` produced, as the paper's ROS&RUS
/// (oversample every class below 5,000, then undersample every class above the RUS cap). Indices
/// of the result refer to the original examples; `before` is the original counts and `after` the
/// counts after both stages. Both stages draw from the same generator, first's draws first.
/// Redraws every epoch when either stage does.
template <class First, class Second>
class composed {
  static_assert(require_sampler<First>() && require_sampler<Second>());

 public:
  static constexpr bool redraws_every_epoch =
      redraws_every_epoch_v<First> || redraws_every_epoch_v<Second>;

  composed() = default;
  composed(First first, Second second) : first_(std::move(first)), second_(std::move(second)) {}

  [[nodiscard]] sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& gen) const {
    if constexpr (detail::chainable<First> && detail::chainable<Second>) {
      // Both stages are per-class targets: the same two-stage draw, in a single sweep without
      // materialising the first stage's epoch.
      return detail::plan_by_targets(*this, labels, num_classes, gen);
    } else {
      return plan_in_two_passes(labels, num_classes, gen);
    }
  }

  /// Internal: lets compositions of target-based policies plan in one sweep.
  void append_stages(std::span<const std::int64_t> before, detail::stage_chain& chain) const
    requires(detail::chainable<First> && detail::chainable<Second>)
  {
    detail::append_stages(first_, before, chain);
    const std::vector<std::int64_t> middle = chain.back().targets;
    detail::append_stages(second_, middle, chain);
  }

  [[nodiscard]] const First& first() const noexcept { return first_; }
  [[nodiscard]] const Second& second() const noexcept { return second_; }

 private:
  /// Any two samplers: plan the first, then let the second sample that plan's entries.
  sampling_plan plan_in_two_passes(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& gen) const {
    sampling_plan stage1 = first_.plan(labels, num_classes, gen);
    // The second stage sees the first stage's epoch as its dataset: entry j has the label of
    // the example stage1.indices[j], and its chosen entries map back through stage1.indices.
    std::vector<std::int64_t> stage1_labels(stage1.indices.size());
    const auto n = static_cast<std::uint64_t>(labels.size());
    for (std::size_t j = 0; j < stage1.indices.size(); ++j) {
      const std::int64_t i = stage1.indices[j];
      if (static_cast<std::uint64_t>(i) >= n)
        throw error(fmt::format(
            "composed sampler: the first stage chose index {} (position {}), outside [0, {})", i,
            j, n));
      stage1_labels[j] = labels[static_cast<std::size_t>(i)];
    }
    sampling_plan stage2 = second_.plan(stage1_labels, num_classes, gen);
    const auto entries = static_cast<std::uint64_t>(stage1.indices.size());
    for (std::size_t j = 0; j < stage2.indices.size(); ++j) {
      std::int64_t& i = stage2.indices[j];
      if (static_cast<std::uint64_t>(i) >= entries)
        throw error(fmt::format("composed sampler: the second stage chose entry {} (position {}), "
                                "outside the first stage's {} entries",
                                i, j, entries));
      i = stage1.indices[static_cast<std::size_t>(i)];
    }
    stage2.before = std::move(stage1.before);
    return stage2;
  }

  First first_{};
  Second second_{};
};

/// compose(ros, rus): ros first, then rus. compose(a, b, c) is compose(a, compose(b, c)).
template <class First, class Second>
[[nodiscard]] composed<First, Second> compose(First first, Second second) {
  return composed<First, Second>(std::move(first), std::move(second));
}

template <class First, class Second, class Third, class... Rest>
[[nodiscard]] auto compose(First first, Second second, Third third, Rest... rest) {
  return compose(std::move(first),
                 compose(std::move(second), std::move(third), std::move(rest)...));
}

/// The seed of the generator plan_epoch gives a policy: derived from (seed) alone when the plan
/// is drawn once, from (seed, epoch) when it is redrawn every epoch. Stream "plan" keeps it
/// independent of the shuffle, split and augmentation streams derived from the same seed.
template <class S>
[[nodiscard]] constexpr std::uint64_t plan_seed(std::uint64_t seed, std::int64_t epoch) noexcept {
  if constexpr (redraws_every_epoch_v<S>) {
    return derive_seed(seed, stream_tag("plan"), epoch);
  } else {
    (void)epoch;
    return derive_seed(seed, stream_tag("plan"));
  }
}

/// The plan of phase-1 epoch `epoch` (counted from 0) for a run seeded with `seed`: what
/// trainers call. Policies drawn once give the same plan for every epoch (a trainer may cache
/// it when !redraws_every_epoch_v<S>). The plan is checked against the labels (O(N)), so a
/// custom sampler's inconsistent plan stops here with a tpt::error, not later in the loader.
template <class S>
[[nodiscard]] sampling_plan plan_epoch(const S& s, std::span<const std::int64_t> labels,
                                       std::int64_t num_classes, std::uint64_t seed,
                                       std::int64_t epoch) {
  static_assert(require_sampler<S>());
  if constexpr (sampler<S>) {
    if (epoch < 0)
      throw config_error("epoch", fmt::format("epochs count from 0, got {}", epoch));
    rng gen(plan_seed<S>(seed, epoch));
    sampling_plan plan = s.plan(labels, num_classes, gen);
    check_plan(plan, labels, num_classes);
    return plan;
  } else {
    return {};
  }
}

}  // namespace tpt
