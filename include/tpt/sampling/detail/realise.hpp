// The O(N) machinery every built-in policy ends in: per-class target counts, chained through
// any number of stages (ROS, then RUS), turned into a sampling plan in one sweep over the
// labels. Policies described by targets share its guarantees: every original kept when a class
// grows, no repeats when it shrinks, ascending indices, the same draws for the same generator.
#pragma once

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/sampling/plan.hpp"

namespace tpt {

/// How a class that grows gets its extra copies. Both keep every original example and give
/// each example of the class the same expected number of entries.
enum class extra_copies {
  /// Whole copies of the class first, then the remainder as distinct examples chosen uniformly
  /// without replacement: entries per example differ by at most one (the least variance).
  spread_evenly,
  /// Each extra copy an independent uniform draw with replacement, as imbalanced-learn's
  /// RandomOverSampler: some examples get several extra copies while others get none.
  independent,
};

namespace detail {

/// One sampling stage: the class sizes it receives become `targets`.
struct target_stage {
  std::vector<std::int64_t> targets;
  extra_copies extras = extra_copies::spread_evenly;
};
using stage_chain = std::vector<target_stage>;

/// A policy fully described by per-class targets: `targets(before)` gives every class's size
/// after sampling (checked with check_targets); `extras()`, when present, says how a growing
/// class draws its copies. Such policies, and compositions of them, plan in a single sweep.
template <class P>
concept target_policy = requires(const P& p, std::span<const std::int64_t> before) {
  { p.targets(before) } -> std::same_as<std::vector<std::int64_t>>;
};

/// A policy that can append its stages to a chain: a target policy, or a wrapper or
/// composition of such policies (they provide append_stages).
template <class P>
concept chainable = target_policy<P> ||
    requires(const P& p, std::span<const std::int64_t> before, stage_chain& chain) {
      p.append_stages(before, chain);
    };

template <chainable P>
void append_stages(const P& p, std::span<const std::int64_t> before, stage_chain& chain) {
  if constexpr (target_policy<P>) {
    target_stage stage{p.targets(before), extra_copies::spread_evenly};
    if constexpr (requires { { p.extras() } -> std::convertible_to<extra_copies>; })
      stage.extras = p.extras();
    chain.push_back(std::move(stage));
  } else {
    p.append_stages(before, chain);
  }
}

/// Check targets a rule produced: one per class, none negative, none positive for a class that
/// has no example to copy, and a total that can be counted. `option` names the setting.
inline void check_targets(std::span<const std::int64_t> before,
                          std::span<const std::int64_t> targets, const char* option) {
  if (targets.size() != before.size())
    throw config_error(option, fmt::format("expected one target per class ({}), got {}",
                                           before.size(), targets.size()));
  std::int64_t total = 0;
  for (std::size_t c = 0; c < before.size(); ++c) {
    if (targets[c] < 0)
      throw config_error(option, fmt::format("class {}: target {} is negative", c, targets[c]));
    if (targets[c] > 0 && before[c] == 0)
      throw config_error(option,
                         fmt::format("class {} has no examples, so it cannot be sampled to {}", c,
                                     targets[c]));
    if (targets[c] > max_plan_examples - total)
      throw config_error(option, fmt::format("the targets add up to more than {:.0e} examples, more than any plan "
                                             "needs (8 bytes each: terabytes)", static_cast<double>(max_plan_examples)));
    total += targets[c];
  }
}

/// Set bits in a 64-bit word, without relying on a popcount instruction the target may lack
/// (std::popcount is a library call unless the build enables one).
constexpr std::int64_t bits_set(std::uint64_t v) noexcept {
  v = v - ((v >> 1) & 0x5555555555555555ULL);
  v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
  v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return static_cast<std::int64_t>((v * 0x0101010101010101ULL) >> 56);
}

/// Set bits in [first, first + count) of a bit array.
inline std::int64_t count_bits(const std::uint64_t* words, std::uint64_t first,
                               std::uint64_t count) noexcept {
  if (count == 1) return static_cast<std::int64_t>((words[first >> 6] >> (first & 63)) & 1);
  std::int64_t total = 0;
  while (count > 0) {
    const std::uint64_t bit = first & 63;
    const std::uint64_t take = std::min<std::uint64_t>(64 - bit, count);
    std::uint64_t v = words[first >> 6] >> bit;
    if (take < 64) v &= (std::uint64_t{1} << take) - 1;
    total += bits_set(v);
    first += take;
    count -= take;
  }
  return total;
}

/// How one stage treats each class: every entry entering it leaves as `copies` entries, plus
/// one for each entry chosen in `chosen` (a subset drawn before the sweep), plus its independent
/// extra copies.
struct stage_layout {
  std::vector<std::int64_t> copies;
  std::vector<std::int64_t> bit_offset;    // class's first bit in `chosen`, -1 when none
  std::vector<std::uint8_t> complement;    // bits mark the entries *not* chosen
  std::vector<std::int64_t> extra_offset;  // class's first counter in `extra`, -1 when none
  std::vector<std::uint64_t> chosen;
  std::vector<std::uint32_t> extra;
  std::vector<std::int64_t> passed;        // entries of the class the sweep has passed
};

/// Draw the stage's random choices, class by class in class order.
///
/// A class of n entries with target t gives every entry floor(t / n) copies, plus one more to
/// (t mod n) entries chosen uniformly without replacement by Floyd's algorithm (Bentley and
/// Floyd 1987): exactly uniform over subsets, one draw per chosen entry, into a bit array of n
/// bits. When more than half are chosen, the complement is drawn instead. So a shrinking class
/// (t < n) is a uniform subset without repeats, and a growing one keeps every entry with copies
/// spread as evenly as possible. With extra_copies::independent a growing class keeps every
/// entry once and draws its t - n extra copies uniformly with replacement.
inline stage_layout lay_out_stage(std::span<const std::int64_t> in, const target_stage& stage,
                                  rng& gen) {
  const std::size_t k = in.size();
  stage_layout s;
  s.copies.assign(k, 0);
  s.bit_offset.assign(k, -1);
  s.complement.assign(k, 0);
  s.extra_offset.assign(k, -1);
  s.passed.assign(k, 0);
  std::int64_t bits = 0, extras = 0;
  for (std::size_t c = 0; c < k; ++c) {
    const std::int64_t n = in[c], t = stage.targets[c];
    if (n == 0) continue;
    if (stage.extras == extra_copies::independent && t > n) {
      s.copies[c] = 1;
      s.extra_offset[c] = extras;
      extras += n;
    } else {
      s.copies[c] = t / n;
      if (t % n != 0) {
        s.bit_offset[c] = bits;
        bits += (n + 63) / 64 * 64;
      }
    }
  }
  s.chosen.assign(static_cast<std::size_t>(bits / 64), 0);
  s.extra.assign(static_cast<std::size_t>(extras), 0);
  std::uint64_t* words = s.chosen.data();
  for (std::size_t c = 0; c < k; ++c) {
    const auto n = static_cast<std::uint64_t>(in[c]);
    const auto t = static_cast<std::uint64_t>(stage.targets[c]);
    if (s.extra_offset[c] >= 0) {
      std::uint32_t* counters = s.extra.data() + s.extra_offset[c];
      for (std::uint64_t d = 0; d < t - n; ++d) ++counters[gen.uniform_index(n)];
    } else if (s.bit_offset[c] >= 0) {
      const std::uint64_t want = t % n;
      const bool complement = want > n / 2;
      s.complement[c] = complement ? 1 : 0;
      const std::uint64_t draw = complement ? n - want : want;
      const auto base = static_cast<std::uint64_t>(s.bit_offset[c]);
      auto test = [&](std::uint64_t b) { return (words[(base + b) >> 6] >> ((base + b) & 63)) & 1; };
      auto set = [&](std::uint64_t b) { words[(base + b) >> 6] |= std::uint64_t{1} << ((base + b) & 63); };
      for (std::uint64_t j = n - draw; j < n; ++j) {
        const std::uint64_t x = gen.uniform_index(j + 1);
        if (test(x)) set(j);
        else set(x);
      }
    }
  }
  return s;
}

/// The plan that takes `labels` (checked, with class counts `before`) through every stage of
/// `chain` in turn: stage s receives the class sizes stage s-1 produced and samples its entries
/// to its targets (all targets must pass check_targets against their input). All random draws
/// happen stage by stage before a single sweep over the labels writes the indices, ascending.
[[nodiscard]] inline sampling_plan realise_stages(std::span<const std::int64_t> labels,
                                                  std::vector<std::int64_t> before,
                                                  const stage_chain& chain, rng& gen) {
  std::vector<stage_layout> layouts;
  layouts.reserve(chain.size());
  for (std::size_t s = 0; s < chain.size(); ++s)
    layouts.push_back(lay_out_stage(s == 0 ? std::span<const std::int64_t>(before)
                                           : std::span<const std::int64_t>(chain[s - 1].targets),
                                    chain[s], gen));
  const std::vector<std::int64_t>& after = chain.empty() ? before : chain.back().targets;

  // Entries are written 8 at a time whether the example has that many or not (then the cursor
  // moves by the true count): no unpredictable branch for the common counts 0 to 8. The slack
  // at the end absorbs the overhang.
  constexpr std::int64_t block = 8;
  const std::int64_t total = std::accumulate(after.begin(), after.end(), std::int64_t{0});
  sampling_plan plan;
  plan.indices.resize(static_cast<std::size_t>(total + block));
  std::int64_t* out = plan.indices.data();
  std::int64_t* const end = out + total;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto c = static_cast<std::size_t>(labels[i]);
    std::int64_t m = 1;  // entries of example i entering the next stage
    for (stage_layout& s : layouts) {
      const std::int64_t first = s.passed[c];
      s.passed[c] += m;
      std::int64_t next = s.copies[c] * m;
      if (s.bit_offset[c] >= 0) {
        const std::int64_t marked =
            m == 0 ? 0
                   : count_bits(s.chosen.data(), static_cast<std::uint64_t>(s.bit_offset[c] + first),
                                static_cast<std::uint64_t>(m));
        next += s.complement[c] ? m - marked : marked;
      } else if (s.extra_offset[c] >= 0) {
        const std::uint32_t* counters = s.extra.data() + s.extra_offset[c] + first;
        for (std::int64_t j = 0; j < m; ++j) next += counters[j];
      }
      m = next;
    }
    if (m > end - out) throw error("sampling plan: internal error, more entries than targets");
    const auto index = static_cast<std::int64_t>(i);
    for (std::int64_t j = 0; j < block; ++j) out[j] = index;
    for (std::int64_t j = block; j < m; ++j) out[j] = index;
    out += m;
  }
  if (out != end) throw error("sampling plan: internal error, fewer entries than targets");
  plan.indices.resize(static_cast<std::size_t>(total));
  plan.after = after;
  plan.before = std::move(before);
  return plan;
}

/// Plan a chainable policy: count the classes, collect its stages, sweep once.
template <chainable P>
[[nodiscard]] sampling_plan plan_by_targets(const P& policy, std::span<const std::int64_t> labels,
                                            std::int64_t num_classes, rng& gen) {
  std::vector<std::int64_t> before = count_classes(labels, num_classes);
  stage_chain chain;
  append_stages(policy, before, chain);
  return realise_stages(labels, std::move(before), chain, gen);
}

}  // namespace detail
}  // namespace tpt
