// A classifier's answer for one image or crop: its k most probable classes with their
// probabilities, highest first, ties broken by class index so that results never depend on how
// a sort or a device ordered equal values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt::predict {

/// One class and the probability the model gives it (softmax of the logits).
struct class_score {
  std::int64_t class_index = 0;
  float confidence = 0;

  friend bool operator==(const class_score&, const class_score&) = default;
};

/// The `k` highest of one row of probabilities (fewer when there are fewer classes), highest
/// first; equal probabilities are ordered by class index.
[[nodiscard]] inline std::vector<class_score> top_k_of(std::span<const float> probabilities, std::int64_t k) {
  if (k < 1) throw config_error("top_k", fmt::format("must be at least 1, got {}", k));
  const auto n = static_cast<std::int64_t>(probabilities.size());
  std::vector<std::int64_t> order(probabilities.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  const auto keep = std::min(k, n);
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](std::int64_t a, std::int64_t b) {
    const float pa = probabilities[static_cast<std::size_t>(a)], pb = probabilities[static_cast<std::size_t>(b)];
    return pa != pb ? pa > pb : a < b;
  });
  std::vector<class_score> out;
  out.reserve(static_cast<std::size_t>(keep));
  for (std::int64_t i = 0; i < keep; ++i) {
    const auto c = order[static_cast<std::size_t>(i)];
    out.push_back({c, probabilities[static_cast<std::size_t>(c)]});
  }
  return out;
}

/// `value` rounded to `digits` decimals, the way MegaDetector rounds what it writes (so files stay
/// small and differences in the last bits of a float never show).
[[nodiscard]] inline double round_to_digits(double value, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

}  // namespace tpt::predict

template <>
struct fmt::formatter<tpt::predict::class_score> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::predict::class_score& s, Context& ctx) const {
    return fmt::format_to(ctx.out(), "class {} ({:.4f})", s.class_index, s.confidence);
  }
};
