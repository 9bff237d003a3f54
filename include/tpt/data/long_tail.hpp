// Long-tailed datasets made from a balanced pool by the CIFAR-LT protocol (Cui et al. 2019, Cao
// et al. 2019): class i keeps n_max * ratio^(-i/(C-1)) images. Train, validation and test are
// all drawn with that same imbalance, as in the paper, disjoint and seeded. Long-tailed
// Fashion-MNIST is the default dataset of the main job.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/data/array_dataset.hpp"
#include "tpt/data/fashion_mnist.hpp"
#include "tpt/data/records.hpp"

namespace tpt::data {

/// Images per class of an exponential profile: floor(n_max * (1/ratio)^(i/(C-1))) for class i,
/// computed as the CIFAR-LT reference code does (so counts agree with it to the image).
inline std::vector<std::int64_t> exponential_profile(std::int64_t n_max, std::int64_t num_classes,
                                                     double imbalance_ratio) {
  if (num_classes < 1) throw config_error("num_classes", fmt::format("must be at least 1, got {}", num_classes));
  if (n_max < 1) throw config_error("n_max", fmt::format("must be at least 1, got {}", n_max));
  if (!(imbalance_ratio >= 1.0) || !std::isfinite(imbalance_ratio))
    throw config_error("imbalance_ratio", fmt::format("must be a finite number >= 1, got {}", imbalance_ratio));
  std::vector<std::int64_t> out(static_cast<std::size_t>(num_classes));
  const double factor = 1.0 / imbalance_ratio;
  for (std::int64_t i = 0; i < num_classes; ++i) {
    const double exponent = num_classes == 1 ? 0.0 : static_cast<double>(i) / (static_cast<double>(num_classes) - 1.0);
    out[static_cast<std::size_t>(i)] =
        static_cast<std::int64_t>(static_cast<double>(n_max) * std::pow(factor, exponent));
  }
  return out;
}

struct long_tail_options {
  /// Largest over smallest class size (CIFAR-LT's imbalance factor); 100 by default.
  double imbalance_ratio = 100.0;
  /// Images of the head class over all three splits; 0: the most the pool allows.
  std::int64_t n_max = 0;
  /// Each class's budget is split by these fractions (largest remainder rounding).
  double train = 0.8;
  double validation = 0.1;
  double test = 0.1;
  std::uint64_t seed = 0;
  /// Classes from head to tail (a permutation of 0..C-1); empty: class 0 is the head.
  std::vector<std::int64_t> head_to_tail{};
};

/// One class of a long-tailed set: what the pool had and what each split got.
struct class_budget {
  std::string name;
  std::int64_t pool = 0;
  std::int64_t budget = 0;
  std::array<std::int64_t, num_split_kinds> split{};  ///< train, validation, test
};

/// The class profile of a long-tailed set; printable with fmt.
struct long_tail_profile {
  double imbalance_ratio = 0;
  std::int64_t n_max = 0;
  std::vector<class_budget> classes;  ///< in class-index order

  [[nodiscard]] std::int64_t total(split_kind s) const noexcept {
    std::int64_t n = 0;
    for (const auto& c : classes) n += c.split[static_cast<std::size_t>(s)];
    return n;
  }
  /// Largest over smallest class size in one split (the imbalance each split really has).
  [[nodiscard]] double measured_ratio(split_kind s) const noexcept {
    std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = 0;
    for (const auto& c : classes) {
      lo = std::min(lo, c.split[static_cast<std::size_t>(s)]);
      hi = std::max(hi, c.split[static_cast<std::size_t>(s)]);
    }
    return lo > 0 ? static_cast<double>(hi) / static_cast<double>(lo) : std::numeric_limits<double>::infinity();
  }
};

/// The three splits of a long-tailed set, disjoint, each with the same class profile.
struct long_tailed_splits {
  array_dataset train;
  array_dataset validation;
  array_dataset test;
  long_tail_profile profile;
  /// Position in the pool of every image of each split (ascending), to trace images back.
  std::array<std::vector<std::int64_t>, num_split_kinds> pool_indices;

  [[nodiscard]] const array_dataset& operator[](split_kind s) const noexcept {
    return s == split_kind::train ? train : s == split_kind::validation ? validation : test;
  }
};

namespace detail {

/// Split `n` by fractions, rounding by largest remainder (ties to the earlier split).
inline std::array<std::int64_t, num_split_kinds> apportion(std::int64_t n,
                                                           const std::array<double, num_split_kinds>& f) {
  std::array<std::int64_t, num_split_kinds> out{};
  std::array<double, num_split_kinds> rest{};
  std::int64_t given = 0;
  for (std::size_t s = 0; s < num_split_kinds; ++s) {
    const double exact = f[s] * static_cast<double>(n);
    out[s] = static_cast<std::int64_t>(std::floor(exact + 1e-9));
    rest[s] = exact - static_cast<double>(out[s]);
    given += out[s];
  }
  while (given < n) {
    std::size_t best = 0;
    for (std::size_t s = 1; s < num_split_kinds; ++s)
      if (rest[s] > rest[best] + 1e-12) best = s;
    ++out[best];
    rest[best] = -1.0;
    ++given;
  }
  return out;
}

}  // namespace detail

/// Draw a long-tailed set from a pool. Class head_to_tail[r] receives the budget of rank r in
/// exponential_profile(n_max, C, ratio); its images are a seeded random choice among the pool's
/// images of that class, cut into train/validation/test by the fractions. Errors
/// (tpt::config_error) when the pool cannot supply a budget or a split would be empty for some
/// class.
inline long_tailed_splits make_long_tailed(const array_dataset& pool, const long_tail_options& options = {}) {
  pool.validate("the long-tail pool");  // labels index per-class lists below: one out of range must be an error, not a write past them
  const std::array<double, num_split_kinds> fractions{options.train, options.validation, options.test};
  const double sum = fractions[0] + fractions[1] + fractions[2];
  for (std::size_t s = 0; s < num_split_kinds; ++s)
    if (!(fractions[s] >= 0.0))
      throw config_error(std::string(name(all_split_kinds[s])), fmt::format("fraction must be >= 0, got {}", fractions[s]));
  if (std::abs(sum - 1.0) > 1e-9)
    throw config_error("train/validation/test", fmt::format("fractions must add up to 1, got {}", sum));
  const auto num_classes = pool.num_classes();
  if (pool.empty() || num_classes == 0) throw config_error("pool", "the pool has no images");

  std::vector<std::int64_t> order = options.head_to_tail;
  if (order.empty()) {
    order.resize(static_cast<std::size_t>(num_classes));
    std::iota(order.begin(), order.end(), 0);
  } else {
    std::vector<std::int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    bool permutation = sorted.size() == static_cast<std::size_t>(num_classes);
    for (std::size_t i = 0; permutation && i < sorted.size(); ++i) permutation = sorted[i] == static_cast<std::int64_t>(i);
    if (!permutation)
      throw config_error("head_to_tail", fmt::format("must be a permutation of 0..{}", num_classes - 1));
  }

  std::vector<std::vector<std::int64_t>> members(static_cast<std::size_t>(num_classes));
  for (std::size_t i = 0; i < pool.size(); ++i)
    members[static_cast<std::size_t>(pool.labels[i])].push_back(static_cast<std::int64_t>(i));
  const auto fits = [&](std::int64_t n) {
    const auto b = exponential_profile(n, num_classes, options.imbalance_ratio);
    for (std::size_t r = 0; r < order.size(); ++r)
      if (b[r] > static_cast<std::int64_t>(members[static_cast<std::size_t>(order[r])].size())) return false;
    return true;
  };
  std::int64_t n_max = options.n_max;
  if (n_max == 0) {
    // The largest head size whose profile every class's pool can supply (budgets grow with
    // n_max, so bisect between 1 and the head class's pool).
    std::int64_t lo = 0, hi = static_cast<std::int64_t>(members[static_cast<std::size_t>(order[0])].size());
    if (hi < 1 || !fits(1)) throw config_error("pool", "a class of the pool has no images");
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo + 1) / 2;
      if (fits(mid)) lo = mid;
      else hi = mid - 1;
    }
    n_max = lo;
  }
  const auto budget = exponential_profile(n_max, num_classes, options.imbalance_ratio);

  long_tailed_splits out;
  out.profile.imbalance_ratio = options.imbalance_ratio;
  out.profile.n_max = n_max;
  out.profile.classes.resize(static_cast<std::size_t>(num_classes));
  for (std::size_t r = 0; r < order.size(); ++r) {
    const auto c = static_cast<std::size_t>(order[r]);
    auto& cb = out.profile.classes[c];
    cb.name = pool.class_names[c];
    cb.pool = static_cast<std::int64_t>(members[c].size());
    cb.budget = budget[r];
    if (cb.budget > cb.pool)
      throw config_error("n_max", fmt::format("class '{}' needs {} images at n_max {} but the pool has {}",
                                              cb.name, cb.budget, n_max, cb.pool));
    cb.split = detail::apportion(cb.budget, fractions);
    for (std::size_t s = 0; s < num_split_kinds; ++s)
      if (fractions[s] > 0.0 && cb.split[s] == 0)
        throw config_error("n_max", fmt::format("class '{}' gets no {} images (budget {}): raise n_max "
                                                "or lower the imbalance ratio",
                                                cb.name, all_split_kinds[s], cb.budget));
    rng gen(derive_seed(options.seed, stream_tag("long-tail"), static_cast<std::uint64_t>(c)));
    auto chosen = members[c];
    tpt::shuffle(chosen, gen);
    std::size_t at = 0;
    for (std::size_t s = 0; s < num_split_kinds; ++s)
      for (std::int64_t k = 0; k < cb.split[s]; ++k) out.pool_indices[s].push_back(chosen[at++]);
  }
  for (std::size_t s = 0; s < num_split_kinds; ++s) {
    std::sort(out.pool_indices[s].begin(), out.pool_indices[s].end());
    (s == 0 ? out.train : s == 1 ? out.validation : out.test) = pool.subset(out.pool_indices[s]);
  }
  return out;
}

/// The main job's default dataset in one call: Fashion-MNIST (from the binary cache when valid),
/// made long-tailed with imbalance ratio 100 and split 80/10/10 per class.
inline long_tailed_splits load_long_tailed_fashion_mnist(const long_tail_options& options = {},
                                                         const fashion_mnist_options& source = {}) {
  return make_long_tailed(load_fashion_mnist(source).data, options);
}

}  // namespace tpt::data

/// A table: class, pool, budget, train, validation, test, with totals and measured ratios.
template <>
struct fmt::formatter<tpt::data::long_tail_profile> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::long_tail_profile& p, FormatContext& ctx) const {
    using tpt::data::split_kind;
    std::size_t width = 5;
    for (const auto& c : p.classes) width = std::max(width, c.name.size());
    auto out = fmt::format_to(ctx.out(), "long-tailed profile: imbalance ratio {}, n_max {}\n",
                              p.imbalance_ratio, p.n_max);
    out = fmt::format_to(out, "{:<{}} {:>6} {:>6} {:>6} {:>10} {:>6}\n", "class", width, "pool",
                         "budget", "train", "validation", "test");
    std::int64_t pool = 0, budget = 0;
    for (const auto& c : p.classes) {
      out = fmt::format_to(out, "{:<{}} {:>6} {:>6} {:>6} {:>10} {:>6}\n", c.name, width, c.pool,
                           c.budget, c.split[0], c.split[1], c.split[2]);
      pool += c.pool;
      budget += c.budget;
    }
    out = fmt::format_to(out, "{:<{}} {:>6} {:>6} {:>6} {:>10} {:>6}\n", "total", width, pool, budget,
                         p.total(split_kind::train), p.total(split_kind::validation),
                         p.total(split_kind::test));
    return fmt::format_to(out, "measured ratio: train {:.1f}, validation {:.1f}, test {:.1f}",
                          p.measured_ratio(split_kind::train), p.measured_ratio(split_kind::validation),
                          p.measured_ratio(split_kind::test));
  }
};
