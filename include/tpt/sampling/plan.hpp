// The sampling plan: the example indices of one phase-1 epoch with per-class counts before and
// after sampling, the label checks every sampler relies on, and make_plan for custom samplers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt {

namespace detail {
/// The most examples one plan (or one list of labels) may hold: 10^12 indices are 8 TB, and no
/// dataset comes near. A rule asking for more (a ratio of 1e300, a balance to 10^14) or counts
/// adding up to more are refused before any allocation.
inline constexpr std::int64_t max_plan_examples = 1'000'000'000'000;
}  // namespace detail

/// A label that is not a class id: the value, where it sits, and the range it had to lie in.
/// what(): "labels[1203] = 57 is not a class id: expected 0 <= label < 52".
class label_error : public error {
 public:
  label_error(std::int64_t value, std::size_t position, std::int64_t num_classes)
      : error(fmt::format("labels[{}] = {} is not a class id: expected 0 <= label < {}", position,
                          value, num_classes)),
        value_(value),
        position_(position),
        num_classes_(num_classes) {}

  [[nodiscard]] std::int64_t value() const noexcept { return value_; }
  [[nodiscard]] std::size_t position() const noexcept { return position_; }
  [[nodiscard]] std::int64_t num_classes() const noexcept { return num_classes_; }

 private:
  std::int64_t value_;
  std::size_t position_;
  std::int64_t num_classes_;
};

/// One phase-1 epoch's dataset as a multiset of example indices.
///
/// `indices` lists example indices into the original dataset (each in [0, total_before())); an
/// index appears as many times as its example is used in the epoch (0 when undersampled away,
/// more than once when oversampled). The order carries no meaning: the loader shuffles it every
/// epoch. The built-in policies list indices in ascending order, so plans diff and compress well.
/// `before[c]` and `after[c]` count class c's examples in the original labels and in the plan.
struct sampling_plan {
  std::vector<std::int64_t> indices;
  std::vector<std::int64_t> before;
  std::vector<std::int64_t> after;

  [[nodiscard]] std::int64_t num_classes() const noexcept {
    return static_cast<std::int64_t>(before.size());
  }
  /// Examples in the original dataset (N).
  [[nodiscard]] std::int64_t total_before() const noexcept {
    return std::accumulate(before.begin(), before.end(), std::int64_t{0});
  }
  /// Examples in the epoch, repeats included (the phase-1 dataset size the paper reports).
  [[nodiscard]] std::int64_t total() const noexcept {
    return static_cast<std::int64_t>(indices.size());
  }
  [[nodiscard]] bool empty() const noexcept { return indices.empty(); }

  /// Distinct original examples the epoch uses. O(N) time and N bits of memory.
  [[nodiscard]] std::int64_t unique() const {
    std::vector<bool> seen(static_cast<std::size_t>(total_before()), false);
    std::int64_t distinct = 0;
    for (const std::int64_t i : indices) {
      if (i < 0 || static_cast<std::size_t>(i) >= seen.size())
        throw error(fmt::format("sampling plan: index {} is outside the dataset [0, {})", i,
                                seen.size()));
      if (!seen[static_cast<std::size_t>(i)]) {
        seen[static_cast<std::size_t>(i)] = true;
        ++distinct;
      }
    }
    return distinct;
  }
  /// Entries that repeat an example already in the epoch (the oversampling copies).
  [[nodiscard]] std::int64_t duplicates() const { return total() - unique(); }
  /// Original examples the epoch never shows (the undersampling losses).
  [[nodiscard]] std::int64_t dropped() const { return total_before() - unique(); }

  friend bool operator==(const sampling_plan&, const sampling_plan&) = default;
};

/// Count the examples of each class, checking every label is a class id. O(N).
/// Throws tpt::config_error when num_classes < 1 and tpt::label_error for the first label
/// outside [0, num_classes).
[[nodiscard]] inline std::vector<std::int64_t> count_classes(std::span<const std::int64_t> labels,
                                                             std::int64_t num_classes) {
  if (num_classes < 1)
    throw config_error("num_classes", fmt::format("must be at least 1, got {}", num_classes));
  std::vector<std::int64_t> counts(static_cast<std::size_t>(num_classes), 0);
  const auto k = static_cast<std::uint64_t>(num_classes);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    // One unsigned comparison rejects negatives and values >= num_classes alike.
    if (static_cast<std::uint64_t>(labels[i]) >= k) throw label_error(labels[i], i, num_classes);
    ++counts[static_cast<std::size_t>(labels[i])];
  }
  return counts;
}

namespace detail {

/// Per-class counts of the chosen indices; labels must already be checked.
[[nodiscard]] inline std::vector<std::int64_t> count_chosen(std::span<const std::int64_t> labels,
                                                            std::int64_t num_classes,
                                                            std::span<const std::int64_t> indices) {
  std::vector<std::int64_t> after(static_cast<std::size_t>(num_classes), 0);
  const auto n = static_cast<std::uint64_t>(labels.size());
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const std::int64_t i = indices[j];
    if (static_cast<std::uint64_t>(i) >= n)
      throw error(fmt::format("sampling plan: indices[{}] = {} is outside the dataset [0, {})", j,
                              i, n));
    ++after[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])];
  }
  return after;
}

}  // namespace detail

/// Build a plan from chosen indices: the helper a custom sampler calls after picking its
/// indices. Fills `before` from the labels and `after` from the labels of the chosen indices.
/// Throws tpt::label_error for a bad label and tpt::error for an index outside the dataset.
[[nodiscard]] inline sampling_plan make_plan(std::span<const std::int64_t> labels,
                                             std::int64_t num_classes,
                                             std::vector<std::int64_t> indices) {
  sampling_plan plan;
  plan.before = count_classes(labels, num_classes);
  plan.after = detail::count_chosen(labels, num_classes, indices);
  plan.indices = std::move(indices);
  return plan;
}

/// Check that a plan is consistent with the labels it was drawn from: one count per class,
/// before matches the labels, every index lies in the dataset, and after matches the labels of
/// the indices. O(N). Throws tpt::error saying which part is wrong (a custom sampler's bug,
/// usually), tpt::label_error for a bad label.
inline void check_plan(const sampling_plan& plan, std::span<const std::int64_t> labels,
                       std::int64_t num_classes) {
  const std::vector<std::int64_t> before = count_classes(labels, num_classes);
  const auto k = before.size();
  if (plan.before.size() != k || plan.after.size() != k)
    throw error(fmt::format(
        "sampling plan: before and after must hold one count per class ({}), got {} and {}", k,
        plan.before.size(), plan.after.size()));
  const std::vector<std::int64_t> after = detail::count_chosen(labels, num_classes, plan.indices);
  for (std::size_t c = 0; c < k; ++c) {
    if (plan.before[c] != before[c])
      throw error(fmt::format(
          "sampling plan: before[{}] = {} but the labels hold {} examples of class {}", c,
          plan.before[c], before[c], c));
    if (plan.after[c] != after[c])
      throw error(fmt::format(
          "sampling plan: after[{}] = {} but the indices hold {} examples of class {}", c,
          plan.after[c], after[c], c));
  }
}

}  // namespace tpt

/// "155254 -> 231437 examples in 52 classes (76183 duplicates, 0 dropped)".
template <>
struct fmt::formatter<tpt::sampling_plan> {
  constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') throw format_error("sampling_plan takes no format spec");
    return it;
  }
  template <class FormatContext>
  auto format(const tpt::sampling_plan& plan, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::int64_t unique = plan.unique();
    return fmt::format_to(ctx.out(), "{} -> {} examples in {} classes ({} duplicates, {} dropped)",
                          plan.total_before(), plan.total(), plan.num_classes(),
                          plan.total() - unique, plan.total_before() - unique);
  }
};
