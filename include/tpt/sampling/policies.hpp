// The built-in sampling policies: identity (the baseline), random oversampling by ratio tiers
// with a cap (ROS), random undersampling to a cap without replacement (RUS), per-class target
// counts from a map or a callable (imbalanced-learn's dict and callable strategies), and class
// balancing. Each models tpt::sampler; compose them with tpt::compose, redraw them with
// tpt::every_epoch.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/sampling/detail/realise.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/sampler.hpp"

namespace tpt {

// tpt::extra_copies (how a growing class draws its copies) is defined with the machinery in
// detail/realise.hpp.

/// The baseline: every example once, no resampling (the paper's single-phase model).
class identity_sampler {
 public:
  [[nodiscard]] std::vector<std::int64_t> targets(std::span<const std::int64_t> before) const {
    return {before.begin(), before.end()};
  }

  [[nodiscard]] sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& /*gen*/) const {
    sampling_plan plan;
    plan.before = count_classes(labels, num_classes);
    plan.after = plan.before;
    plan.indices.resize(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) plan.indices[i] = static_cast<std::int64_t>(i);
    return plan;
  }
};

/// A class of n examples with n < below (and n >= the previous tier's `below`) is oversampled to
/// n x ratio examples.
struct ratio_tier {
  std::int64_t below;
  double ratio;
  friend bool operator==(const ratio_tier&, const ratio_tier&) = default;
};

/// Random oversampling (ROS) by the paper's rule: a class below the cap grows by the ratio of
/// its size tier, never beyond the cap; classes at or above the cap, or above every tier, are
/// left as they are. Every original example is kept; the extra copies are drawn at random.
/// Defaults are the paper's: x10 below 100, x8 below 500, x6 below 1,000, x4 below 5,000, cap
/// 5,000.
class random_oversample {
 public:
  /// The paper's tiers. Built from a static array rather than an initializer list in the
  /// default member initializer, which GCC 12 reports as a dangling pointer (a false
  /// positive) once the constructor is inlined into a larger translation unit.
  static std::vector<ratio_tier> paper_tiers() {
    static constexpr ratio_tier paper[] = {{100, 10.0}, {500, 8.0}, {1000, 6.0}, {5000, 4.0}};
    return {std::begin(paper), std::end(paper)};
  }

  struct options {
    std::vector<ratio_tier> tiers = paper_tiers();
    /// No class grows beyond this; nullopt lets the ratios alone decide.
    std::optional<std::int64_t> cap = 5000;
    extra_copies extras = extra_copies::spread_evenly;
  };

  random_oversample() : random_oversample(options{}) {}
  /// Throws tpt::config_error for tiers that are not strictly increasing and positive, a ratio
  /// below 1 or not finite, or a cap below 1.
  explicit random_oversample(options opts) : opts_(std::move(opts)) {
    std::int64_t previous = 0;
    for (std::size_t i = 0; i < opts_.tiers.size(); ++i) {
      const ratio_tier& t = opts_.tiers[i];
      if (t.below <= previous)
        throw config_error("tiers", fmt::format("tier {}: 'below' must be greater than {}, got {} "
                                                "(tiers go from small classes to large)",
                                                i, previous, t.below));
      if (!std::isfinite(t.ratio) || t.ratio < 1.0)
        throw config_error("tiers",
                           fmt::format("tier {} (below {}): ratio must be a number >= 1, got {} "
                                       "(to shrink classes use random_undersample)",
                                       i, t.below, t.ratio));
      previous = t.below;
    }
    if (opts_.cap && *opts_.cap < 1)
      throw config_error("cap", fmt::format("must be at least 1, got {}", *opts_.cap));
  }

  /// The size a class of n examples grows to.
  [[nodiscard]] std::int64_t target(std::int64_t n) const {
    if (opts_.cap && n >= *opts_.cap) return n;
    double ratio = 1.0;
    for (const ratio_tier& t : opts_.tiers)
      if (n < t.below) {
        ratio = t.ratio;
        break;
      }
    // Exact for integer ratios (the paper's) up to 2^53 examples.
    const double grown = std::floor(static_cast<double>(n) * ratio);
    std::int64_t t = grown >= 9.2e18 ? std::numeric_limits<std::int64_t>::max()
                                     : static_cast<std::int64_t>(grown);
    if (opts_.cap) t = std::min(t, *opts_.cap);
    return std::max(t, n);
  }

  /// The size of every class after oversampling, given the class sizes.
  [[nodiscard]] std::vector<std::int64_t> targets(std::span<const std::int64_t> before) const {
    std::vector<std::int64_t> t(before.size());
    for (std::size_t c = 0; c < before.size(); ++c) t[c] = target(before[c]);
    detail::check_targets(before, t, "random_oversample");
    return t;
  }

  [[nodiscard]] sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& gen) const {
    return detail::plan_by_targets(*this, labels, num_classes, gen);
  }

  [[nodiscard]] const options& settings() const noexcept { return opts_; }
  [[nodiscard]] extra_copies extras() const noexcept { return opts_.extras; }

 private:
  options opts_;
};

/// Random undersampling (RUS): every class above the cap keeps `cap` of its examples, chosen
/// uniformly without replacement (the authors' code drew with replacement, losing unique
/// images to duplicates; tpt does not); smaller classes are left as they are. The default cap is
/// the paper's 15,000.
class random_undersample {
 public:
  random_undersample() = default;
  /// Throws tpt::config_error for a cap below 1.
  explicit random_undersample(std::int64_t cap) : cap_(cap) {
    if (cap_ < 1) throw config_error("cap", fmt::format("must be at least 1, got {}", cap_));
  }

  [[nodiscard]] std::int64_t target(std::int64_t n) const noexcept { return std::min(n, cap_); }

  /// The size of every class after undersampling, given the class sizes.
  [[nodiscard]] std::vector<std::int64_t> targets(std::span<const std::int64_t> before) const {
    std::vector<std::int64_t> t(before.size());
    for (std::size_t c = 0; c < before.size(); ++c) t[c] = target(before[c]);
    return t;
  }

  [[nodiscard]] sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& gen) const {
    return detail::plan_by_targets(*this, labels, num_classes, gen);
  }

  [[nodiscard]] std::int64_t cap() const noexcept { return cap_; }

 private:
  std::int64_t cap_ = 15000;
};

/// Per-class target counts, by imbalanced-learn's dict strategy.
using target_map = std::map<std::int64_t, std::int64_t>;

namespace detail {

template <class Rule>
concept class_target_map = requires(const Rule& r) {
  typename Rule::key_type;
  typename Rule::mapped_type;
  requires std::integral<typename Rule::key_type>;
  requires std::integral<typename Rule::mapped_type>;
  { r.begin()->first } -> std::convertible_to<std::int64_t>;
  { r.begin()->second } -> std::convertible_to<std::int64_t>;
};

template <class Rule>
concept per_class_rule = std::invocable<const Rule&, std::int64_t, std::int64_t> &&
    std::convertible_to<std::invoke_result_t<const Rule&, std::int64_t, std::int64_t>,
                        std::int64_t>;

template <class Rule>
concept whole_distribution_rule = std::invocable<const Rule&, std::span<const std::int64_t>> &&
    requires(const Rule& r, std::span<const std::int64_t> before) {
      { std::size(r(before)) } -> std::convertible_to<std::size_t>;
      { *std::begin(r(before)) } -> std::convertible_to<std::int64_t>;
    };

}  // namespace detail

/// Sample each class to a target count: oversampled (every original kept) where the target is
/// above the class size, undersampled (without replacement) where it is below. The rule is
///   - a map {class id: target} (imbalanced-learn's dict strategy); classes it omits keep
///     their size;
///   - a callable `target(class_id, count) -> count`, asked once per class; or
///   - a callable `targets(std::span<const std::int64_t> counts) -> range of counts`, one per
///     class, for rules that need the whole distribution (e.g. "every class to the median").
/// A class with no examples must get target 0; any target below 0 is a tpt::config_error.
template <class Rule = target_map>
class per_class_targets {
  static_assert(detail::class_target_map<Rule> || detail::per_class_rule<Rule> ||
                    detail::whole_distribution_rule<Rule>,
                "tpt::per_class_targets needs a map {class id: target}, a callable "
                "(std::int64_t class_id, std::int64_t count) -> std::int64_t, or a callable "
                "(std::span<const std::int64_t> counts) -> a range of one target per class");

 public:
  per_class_targets() = default;
  explicit per_class_targets(Rule rule, extra_copies extras = extra_copies::spread_evenly)
      : rule_(std::move(rule)), extras_(extras) {}

  /// The target of every class, given the class counts. Throws tpt::config_error for a map key
  /// that is not a class id, a negative target, a positive target for an empty class, or a
  /// whole-distribution rule that returns the wrong number of targets.
  [[nodiscard]] std::vector<std::int64_t> targets(std::span<const std::int64_t> before) const {
    std::vector<std::int64_t> targets(before.begin(), before.end());
    const auto k = static_cast<std::int64_t>(before.size());
    if constexpr (detail::class_target_map<Rule>) {
      for (const auto& [cls, target] : rule_) {
        const auto c = static_cast<std::int64_t>(cls);
        if (c < 0 || c >= k)
          throw config_error("targets", fmt::format("class {} is not a class id: expected 0 <= "
                                                    "class < {}",
                                                    c, k));
        targets[static_cast<std::size_t>(c)] = static_cast<std::int64_t>(target);
      }
    } else if constexpr (detail::per_class_rule<Rule>) {
      for (std::int64_t c = 0; c < k; ++c)
        targets[static_cast<std::size_t>(c)] =
            static_cast<std::int64_t>(rule_(c, before[static_cast<std::size_t>(c)]));
    } else {
      const auto& produced = rule_(before);
      targets.assign(std::begin(produced), std::end(produced));
    }
    detail::check_targets(before, targets, "targets");
    return targets;
  }

  [[nodiscard]] sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& gen) const {
    return detail::plan_by_targets(*this, labels, num_classes, gen);
  }

  [[nodiscard]] const Rule& rule() const noexcept { return rule_; }
  [[nodiscard]] extra_copies extras() const noexcept { return extras_; }

 private:
  Rule rule_{};
  extra_copies extras_ = extra_copies::spread_evenly;
};

template <class Rule>
per_class_targets(Rule) -> per_class_targets<Rule>;
template <class Rule>
per_class_targets(Rule, extra_copies) -> per_class_targets<Rule>;

/// Every class that has examples sampled to one count: a fixed number, the largest class's size
/// (pure oversampling, imbalanced-learn's "auto" for RandomOverSampler) or the smallest present
/// class's size (pure undersampling). Classes without examples stay empty. The default balances
/// to the largest class.
class class_balanced {
 public:
  enum class reference { largest, smallest, fixed };

  class_balanced() = default;

  [[nodiscard]] static class_balanced to(std::int64_t count,
                                         extra_copies extras = extra_copies::spread_evenly) {
    if (count < 1) throw config_error("balance to", fmt::format("must be at least 1, got {}", count));
    return class_balanced(reference::fixed, count, extras);
  }
  [[nodiscard]] static class_balanced to_largest(extra_copies extras = extra_copies::spread_evenly) {
    return class_balanced(reference::largest, 0, extras);
  }
  [[nodiscard]] static class_balanced to_smallest() {
    return class_balanced(reference::smallest, 0, extra_copies::spread_evenly);
  }

  /// The common count for these class sizes (0 when no class has examples).
  [[nodiscard]] std::int64_t target(std::span<const std::int64_t> before) const noexcept {
    if (ref_ == reference::fixed) return count_;
    std::int64_t largest = 0, smallest = 0;
    for (const std::int64_t n : before) {
      if (n == 0) continue;
      largest = std::max(largest, n);
      smallest = smallest == 0 ? n : std::min(smallest, n);
    }
    return ref_ == reference::largest ? largest : smallest;
  }

  /// The size of every class after balancing: the common count, 0 for empty classes.
  [[nodiscard]] std::vector<std::int64_t> targets(std::span<const std::int64_t> before) const {
    const std::int64_t common = target(before);
    std::vector<std::int64_t> t(before.size());
    for (std::size_t c = 0; c < before.size(); ++c) t[c] = before[c] == 0 ? 0 : common;
    detail::check_targets(before, t, "class_balanced");
    return t;
  }

  [[nodiscard]] sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                   rng& gen) const {
    return detail::plan_by_targets(*this, labels, num_classes, gen);
  }

  [[nodiscard]] reference balance_to() const noexcept { return ref_; }
  /// The fixed count (meaningful when balance_to() == reference::fixed).
  [[nodiscard]] std::int64_t count() const noexcept { return count_; }
  [[nodiscard]] extra_copies extras() const noexcept { return extras_; }

 private:
  class_balanced(reference ref, std::int64_t count, extra_copies extras)
      : ref_(ref), count_(count), extras_(extras) {}

  reference ref_ = reference::largest;
  std::int64_t count_ = 0;
  extra_copies extras_ = extra_copies::spread_evenly;
};

}  // namespace tpt

/// "x10 below 100".
template <>
struct fmt::formatter<tpt::ratio_tier> {
  constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') throw format_error("ratio_tier takes no format spec");
    return it;
  }
  template <class FormatContext>
  auto format(const tpt::ratio_tier& t, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "x{:g} below {}", t.ratio, t.below);
  }
};

// How reports name the policies: "random oversampling (x10 below 100, ...; cap 5000)".
namespace tpt::detail {
struct plain_formatter {
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') throw fmt::format_error("sampling policies take no format spec");
    return it;
  }
};
inline const char* extras_name(tpt::extra_copies e) {
  return e == tpt::extra_copies::independent ? "extras drawn independently"
                                             : "extras spread evenly";
}
}  // namespace tpt::detail

template <>
struct fmt::formatter<tpt::identity_sampler> : tpt::detail::plain_formatter {
  template <class FormatContext>
  auto format(const tpt::identity_sampler&, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "identity (no resampling)");
  }
};

template <>
struct fmt::formatter<tpt::random_oversample> : tpt::detail::plain_formatter {
  template <class FormatContext>
  auto format(const tpt::random_oversample& p, FormatContext& ctx) const -> decltype(ctx.out()) {
    const auto& o = p.settings();
    auto out = fmt::format_to(ctx.out(), "random oversampling ({}; ", fmt::join(o.tiers, ", "));
    if (o.cap) out = fmt::format_to(out, "cap {}; ", *o.cap);
    else out = fmt::format_to(out, "no cap; ");
    return fmt::format_to(out, "{})", tpt::detail::extras_name(o.extras));
  }
};

template <>
struct fmt::formatter<tpt::random_undersample> : tpt::detail::plain_formatter {
  template <class FormatContext>
  auto format(const tpt::random_undersample& p, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "random undersampling to {} without replacement", p.cap());
  }
};

template <>
struct fmt::formatter<tpt::class_balanced> : tpt::detail::plain_formatter {
  template <class FormatContext>
  auto format(const tpt::class_balanced& p, FormatContext& ctx) const -> decltype(ctx.out()) {
    using ref = tpt::class_balanced::reference;
    switch (p.balance_to()) {
      case ref::largest:
        return fmt::format_to(ctx.out(), "class balancing to the largest class ({})",
                              tpt::detail::extras_name(p.extras()));
      case ref::smallest:
        return fmt::format_to(ctx.out(), "class balancing to the smallest class");
      case ref::fixed:
        break;
    }
    return fmt::format_to(ctx.out(), "class balancing to {} per class ({})", p.count(),
                          tpt::detail::extras_name(p.extras()));
  }
};

template <class Rule>
struct fmt::formatter<tpt::per_class_targets<Rule>> : tpt::detail::plain_formatter {
  template <class FormatContext>
  auto format(const tpt::per_class_targets<Rule>& p, FormatContext& ctx) const
      -> decltype(ctx.out()) {
    if constexpr (tpt::detail::class_target_map<Rule>) {
      auto out = fmt::format_to(ctx.out(), "per-class targets {{");
      bool first = true;
      for (const auto& [cls, target] : p.rule()) {
        out = fmt::format_to(out, "{}class {}: {}", first ? "" : ", ", cls, target);
        first = false;
      }
      return fmt::format_to(out, "}} ({})", tpt::detail::extras_name(p.extras()));
    } else {
      return fmt::format_to(ctx.out(), "per-class targets from a rule ({})",
                            tpt::detail::extras_name(p.extras()));
    }
  }
};

template <class First, class Second>
struct fmt::formatter<tpt::composed<First, Second>> : tpt::detail::plain_formatter {
  template <class FormatContext>
  auto format(const tpt::composed<First, Second>& p, FormatContext& ctx) const
      -> decltype(ctx.out()) {
    auto out = ctx.out();
    if constexpr (fmt::is_formattable<First>::value) out = fmt::format_to(out, "{}", p.first());
    else out = fmt::format_to(out, "a custom sampler");
    out = fmt::format_to(out, ", then ");
    if constexpr (fmt::is_formattable<Second>::value) return fmt::format_to(out, "{}", p.second());
    else return fmt::format_to(out, "a custom sampler");
  }
};

template <class S>
struct fmt::formatter<tpt::every_epoch<S>> : tpt::detail::plain_formatter {
  template <class FormatContext>
  auto format(const tpt::every_epoch<S>& p, FormatContext& ctx) const -> decltype(ctx.out()) {
    if constexpr (fmt::is_formattable<S>::value)
      return fmt::format_to(ctx.out(), "{}, redrawn every epoch", p.policy());
    else
      return fmt::format_to(ctx.out(), "a custom sampler, redrawn every epoch");
  }
};
