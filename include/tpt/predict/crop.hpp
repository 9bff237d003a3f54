// Where a detection box lies in a decoded frame: MegaDetector's normalised boxes, optional square
// crops and padding, kept inside the frame, rounded outward to whole pixels, and the copy of that
// rectangle (the crop a classifier sees).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/data/image.hpp"
#include "tpt/data/orientation.hpp"
#include "tpt/data/resize.hpp"

namespace tpt::predict {

/// A box as MegaDetector writes it: [x_min, y_min, width, height], each a fraction of the image's
/// width or height, origin at the top-left corner.
struct normalized_box {
  double x = 0;
  double y = 0;
  double width = 0;
  double height = 0;

  friend bool operator==(const normalized_box&, const normalized_box&) = default;
};

/// The whole frame as a box.
inline constexpr normalized_box whole_frame{0, 0, 1, 1};

/// Where `box` (fractions of the upright picture, as MegaDetector gives it) lies in the image as
/// stored with EXIF orientation `o`: the same pixels, for a model that takes frames as stored.
[[nodiscard]] inline normalized_box stored_box(const normalized_box& box, data::exif_orientation o) {
  const auto [ax, ay] = data::stored_point(o, box.x, box.y);
  const auto [bx, by] = data::stored_point(o, box.x + box.width, box.y + box.height);
  return {std::min(ax, bx), std::min(ay, by), std::abs(bx - ax), std::abs(by - ay)};
}

/// How a detection box becomes a crop.
struct crop_options {
  /// Each side moves out by this fraction of the box's width (left, right) or height (top,
  /// bottom): 0.1 adds 10% context on every side. Relative, so that a distant and a close animal
  /// get the same context and DCT-scaled decoding does not change it.
  double padding = 0;
  /// Grow the shorter side to the longer one (in pixels, about the centre) before padding, as
  /// MegaDetector's crop_detections --square-crops; the square is moved to stay inside the frame
  /// when it fits, and cut at the border otherwise.
  bool square = false;
};

inline void validate(const crop_options& o) {
  if (!(o.padding >= 0 && std::isfinite(o.padding)))
    throw config_error("crop padding", fmt::format("must be a finite fraction >= 0, got {}", o.padding));
}

/// The region of a width x height frame that a detection's crop covers, in pixels (fractional
/// edges): squared and padded as `options` say, then cut at the frame's border. Empty (zero width
/// or height) when the box lies outside the frame or has no area.
[[nodiscard]] inline data::source_box detection_region(const normalized_box& box, std::int64_t width,
                                                       std::int64_t height, const crop_options& options = {}) {
  const auto W = static_cast<double>(width), H = static_cast<double>(height);
  double x0 = box.x * W, y0 = box.y * H, w = box.width * W, h = box.height * H;
  if (options.square) {
    const double side = std::max(w, h);
    const double cx = x0 + w / 2, cy = y0 + h / 2;
    x0 = cx - side / 2;
    y0 = cy - side / 2;
    w = h = side;
    if (w <= W) x0 = std::clamp(x0, 0.0, W - w);
    if (h <= H) y0 = std::clamp(y0, 0.0, H - h);
  }
  const double px = options.padding * w, py = options.padding * h;
  const double left = std::clamp(x0 - px, 0.0, W), right = std::clamp(x0 + w + px, 0.0, W);
  const double top = std::clamp(y0 - py, 0.0, H), bottom = std::clamp(y0 + h + py, 0.0, H);
  return {left, top, std::max(left, right), std::max(top, bottom)};
}

/// A rectangle of whole pixels: x0 <= x < x1, y0 <= y < y1.
struct pixel_rect {
  std::int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  [[nodiscard]] constexpr std::int64_t width() const noexcept { return x1 - x0; }
  [[nodiscard]] constexpr std::int64_t height() const noexcept { return y1 - y0; }
  [[nodiscard]] constexpr bool empty() const noexcept { return width() <= 0 || height() <= 0; }
  friend constexpr bool operator==(const pixel_rect&, const pixel_rect&) = default;
};

/// The whole pixels that cover `region` after scaling it by (scale_x, scale_y) (from the frame's
/// size in its header to the size it was decoded at), rounded outward and kept inside
/// width x height. A region with no area gives an empty rectangle.
[[nodiscard]] inline pixel_rect covering_pixels(const data::source_box& region, double scale_x, double scale_y,
                                                std::int64_t width, std::int64_t height) {
  if (!(region.width() > 0 && region.height() > 0)) return {};
  // A hair of tolerance so that an edge computed as 767.9999999 from a normalised box lands on 768.
  constexpr double eps = 1e-6;
  const auto lo = [](double v, std::int64_t limit) {
    return std::clamp(static_cast<std::int64_t>(std::floor(v + eps)), std::int64_t{0}, limit);
  };
  const auto hi = [](double v, std::int64_t limit) {
    return std::clamp(static_cast<std::int64_t>(std::ceil(v - eps)), std::int64_t{0}, limit);
  };
  pixel_rect r{lo(region.x0 * scale_x, width), lo(region.y0 * scale_y, height), hi(region.x1 * scale_x, width),
               hi(region.y1 * scale_y, height)};
  if (r.empty()) return {};
  return r;
}

/// A copy of the pixels of `rect` (which must lie inside `src`).
[[nodiscard]] inline data::image crop(data::image_view src, const pixel_rect& rect) {
  if (rect.empty() || rect.x0 < 0 || rect.y0 < 0 || rect.x1 > src.width || rect.y1 > src.height)
    throw config_error("crop", fmt::format("[{}, {}) x [{}, {}) is empty or not inside the {} x {} image", rect.x0,
                                           rect.x1, rect.y0, rect.y1, src.width, src.height));
  data::image out(rect.height(), rect.width(), src.channels);
  const std::int64_t row_bytes = rect.width() * src.channels;
  for (std::int64_t y = 0; y < rect.height(); ++y) {
    const std::uint8_t* from = src.row(rect.y0 + y) + rect.x0 * src.channels;
    std::copy(from, from + row_bytes, out.row(y));
  }
  return out;
}

}  // namespace tpt::predict

template <>
struct fmt::formatter<tpt::predict::normalized_box> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::predict::normalized_box& b, Context& ctx) const {
    return fmt::format_to(ctx.out(), "[{}, {}, {}, {}]", b.x, b.y, b.width, b.height);
  }
};

template <>
struct fmt::formatter<tpt::predict::pixel_rect> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::predict::pixel_rect& r, Context& ctx) const {
    return fmt::format_to(ctx.out(), "x [{}, {}) y [{}, {})", r.x0, r.x1, r.y0, r.y1);
  }
};
