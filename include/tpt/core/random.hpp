// Seeded randomness that gives the same numbers on every platform, compiler and thread count.
//
// Why not <random>: the standard fixes engines bit for bit but not distributions, so
// std::uniform_int_distribution or std::shuffle may give another plan under another standard
// library. tpt draws everything (sampling plans, splits, shuffles, augmentation) through the
// functions here. Streams are derived from (seed, purpose, epoch, index, ...) rather than drawn in
// sequence, so work handed to threads in any order still sees the same numbers.
#pragma once

#include <array>
#include <bit>
#include <concepts>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>

namespace tpt {

namespace detail {
__extension__ typedef unsigned __int128 uint128;  // GCC/Clang built-in; __extension__ keeps -Wpedantic quiet
}  // namespace detail

/// One step of splitmix64 (Steele, Lea, Flood 2014): advances state, returns a mixed value.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// A 64-bit tag for a named stream ("split", "plan", "augment"): FNV-1a of the name.
constexpr std::uint64_t stream_tag(std::string_view name) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

/// Derive an independent seed from a base seed and any number of integer tags, e.g.
/// derive_seed(seed, stream_tag("augment"), epoch, example_index). Order of tags matters.
template <std::integral... Tags>
constexpr std::uint64_t derive_seed(std::uint64_t seed, Tags... tags) noexcept {
  std::uint64_t state = seed;
  std::uint64_t out = splitmix64(state);
  ((state ^= static_cast<std::uint64_t>(tags) + 0x632BE59BD9B4E019ULL * (out | 1),
    out = splitmix64(state)),
   ...);
  return out;
}

/// xoshiro256** 1.0 (Blackman and Vigna): small, fast, and well tested; state seeded through
/// splitmix64 as its authors recommend. Models std::uniform_random_bit_generator.
class rng {
 public:
  using result_type = std::uint64_t;
  using state_type = std::array<std::uint64_t, 4>;

  constexpr explicit rng(std::uint64_t seed = 0) noexcept { reseed(seed); }

  constexpr void reseed(std::uint64_t seed) noexcept {
    std::uint64_t sm = seed;
    for (auto& word : s_) word = splitmix64(sm);
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  constexpr result_type operator()() noexcept {
    const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }

  /// Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject). n must be > 0.
  constexpr std::uint64_t uniform_index(std::uint64_t n) noexcept {
    auto m = static_cast<detail::uint128>((*this)()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<detail::uint128>((*this)()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// Uniform double in [0, 1) with 53 random bits.
  constexpr double uniform01() noexcept {
    return static_cast<double>((*this)() >> 11) * 0x1.0p-53;
  }

  /// Uniform double in [lo, hi).
  constexpr double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform01(); }

  /// True with probability p.
  constexpr bool bernoulli(double p) noexcept { return uniform01() < p; }

  /// The full state, for checkpoints; set_state restores it exactly.
  [[nodiscard]] constexpr const state_type& state() const noexcept { return s_; }
  constexpr void set_state(const state_type& s) noexcept { s_ = s; }

  friend constexpr bool operator==(const rng&, const rng&) = default;

 private:
  state_type s_{};
};

/// Fisher-Yates shuffle through rng::uniform_index: the same permutation everywhere.
template <std::random_access_iterator It>
constexpr void shuffle(It first, It last, rng& gen) noexcept {
  const auto n = static_cast<std::uint64_t>(last - first);
  for (std::uint64_t i = n; i > 1; --i) {
    const auto j = gen.uniform_index(i);
    using std::swap;
    swap(first[static_cast<std::ptrdiff_t>(i - 1)], first[static_cast<std::ptrdiff_t>(j)]);
  }
}

template <class Range>
  requires std::random_access_iterator<decltype(std::begin(std::declval<Range&>()))>
constexpr void shuffle(Range& range, rng& gen) noexcept {
  shuffle(std::begin(range), std::end(range), gen);
}

}  // namespace tpt
