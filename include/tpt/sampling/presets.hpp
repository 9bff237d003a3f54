// The paper's phase-1 sampling schemes, ready to use: baseline, ROS, RUS (15K), ROS&RUS(15K)
// and ROS&RUS(5K), with their size thresholds and caps scaled for a dataset whose largest class
// is smaller (or larger) than Snapshot Serengeti's.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tpt/core/error.hpp"
#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/sampler.hpp"
#include "tpt/sampling/serengeti.hpp"

namespace tpt::presets {

/// The type of both ROS&RUS presets: oversample, then undersample.
using ros_then_rus = composed<random_oversample, random_undersample>;

/// The largest class the paper's thresholds were chosen for (wildebeest, 48,377 images).
inline constexpr std::int64_t paper_largest_class = serengeti::season9_largest_train;

/// The scale that maps the paper's thresholds and caps onto a dataset whose largest class holds
/// `largest` examples: largest / 48,377. Long-tailed Fashion-MNIST (largest class 5,600) gives
/// 0.1158: ROS cap 579, RUS caps 1,736 (15K) and 579 (5K).
[[nodiscard]] inline double scale_for_largest_class(std::int64_t largest) {
  if (largest < 1)
    throw config_error("scale", fmt::format("the largest class must hold at least 1 example, "
                                            "got {}",
                                            largest));
  return static_cast<double>(largest) / static_cast<double>(paper_largest_class);
}

/// scale_for_largest_class of the largest of these class counts.
[[nodiscard]] inline double scale_for(std::span<const std::int64_t> class_counts) {
  std::int64_t largest = 0;
  for (const std::int64_t n : class_counts) largest = std::max(largest, n);
  return scale_for_largest_class(largest);
}

/// A paper count (threshold or cap) at this scale: rounded to the nearest integer, at least 1.
[[nodiscard]] inline std::int64_t scaled(std::int64_t paper_count, double scale) {
  if (!std::isfinite(scale) || scale <= 0)
    throw config_error("scale", fmt::format("must be a number > 0, got {}", scale));
  // llround of a value past 2^63 is unspecified (LLONG_MIN in practice, then 1 here: a cap of one
  // image); no dataset comes near 10^15 images.
  const double count = static_cast<double>(paper_count) * scale;
  if (count > 1e15)
    throw config_error("scale", fmt::format("{} makes a paper count of {} into {:.3g} images, more than any dataset "
                                            "holds (at most 10^15)", scale, paper_count, count));
  return std::max<std::int64_t>(1, std::llround(count));
}

/// The baseline: no resampling.
[[nodiscard]] inline identity_sampler baseline() { return {}; }

/// ROS: x10 below 100, x8 below 500, x6 below 1,000, x4 below 5,000, capped at 5,000 (the
/// thresholds and the cap times `scale`; the ratios stay). Where rounding makes two thresholds
/// equal, the tier between them is empty and dropped.
[[nodiscard]] inline random_oversample ros(double scale = 1.0) {
  random_oversample::options paper;
  random_oversample::options opts;
  opts.tiers.clear();
  for (const ratio_tier& t : paper.tiers) {
    const std::int64_t below = scaled(t.below, scale);
    if (opts.tiers.empty() || below > opts.tiers.back().below) opts.tiers.push_back({below, t.ratio});
  }
  opts.cap = scaled(*paper.cap, scale);
  return random_oversample(std::move(opts));
}

/// RUS: every class above 15,000 (times `scale`) cut to 15,000, without replacement.
[[nodiscard]] inline random_undersample rus(double scale = 1.0) {
  return random_undersample(scaled(15000, scale));
}

/// ROS&RUS(15K): ROS, then RUS at 15,000 (both times `scale`).
[[nodiscard]] inline ros_then_rus ros_rus_15k(double scale = 1.0) {
  return ros_then_rus(ros(scale), rus(scale));
}

/// ROS&RUS(5K): ROS, then RUS at 5,000 (both times `scale`): every class ends at most at the
/// ROS cap.
[[nodiscard]] inline ros_then_rus ros_rus_5k(double scale = 1.0) {
  return ros_then_rus(ros(scale), random_undersample(scaled(5000, scale)));
}

/// The presets' names on command lines and in reports, in the paper's order.
inline constexpr std::array<std::string_view, 5> names{"baseline", "ros", "rus", "ros-rus-15k",
                                                       "ros-rus-5k"};

/// Call f with the preset called `name` (one of `names`; '_' may stand for '-') at `scale`, and
/// return what f returns: a command line picks a preset at run time, f is usually a generic
/// lambda. Throws tpt::config_error listing the names for an unknown one.
template <class F>
decltype(auto) visit(std::string_view name, double scale, F&& f) {
  std::string key(name);
  std::replace(key.begin(), key.end(), '_', '-');
  if (key == "baseline") return std::forward<F>(f)(baseline());
  if (key == "ros") return std::forward<F>(f)(ros(scale));
  if (key == "rus") return std::forward<F>(f)(rus(scale));
  if (key == "ros-rus-15k") return std::forward<F>(f)(ros_rus_15k(scale));
  if (key == "ros-rus-5k") return std::forward<F>(f)(ros_rus_5k(scale));
  throw config_error("preset", fmt::format("unknown preset '{}' (known: {})", name,
                                           fmt::join(names, ", ")));
}

}  // namespace tpt::presets
