// Antialiased resizing of 8-bit images, the convolution resampler Pillow uses (Image.resize with
// BOX, BILINEAR or LANCZOS): when shrinking, the filter widens with the scale factor so every
// source pixel contributes (area averaging for box, a triangle for bilinear), and results match
// Pillow's to the last bit. Also the policies that map a source frame onto the working size.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/data/image.hpp"

namespace tpt::data {

/// The resampling filter. All three are antialiased when shrinking (support scaled by the
/// shrink factor), as in Pillow; when enlarging, triangle is plain bilinear interpolation.
enum class resize_filter {
  box,       ///< area averaging (Pillow BOX, OpenCV INTER_AREA for integer factors)
  triangle,  ///< Pillow BILINEAR: the default, torchvision's antialiased bilinear
  lanczos3,  ///< Pillow LANCZOS: sharper, slower, can ring
};

[[nodiscard]] constexpr std::string_view to_string(resize_filter f) noexcept {
  switch (f) {
    case resize_filter::box: return "box";
    case resize_filter::triangle: return "triangle";
    case resize_filter::lanczos3: return "lanczos3";
  }
  return "unknown";
}

/// How a source frame of any shape becomes the fixed working size.
enum class resize_policy {
  stretch,      ///< resize to exactly height x width, ignoring the aspect ratio (the paper's 256 x 256)
  center_crop,  ///< scale so the frame covers height x width, keep the centre (torchvision Resize + CenterCrop)
};

[[nodiscard]] constexpr std::string_view to_string(resize_policy p) noexcept {
  switch (p) {
    case resize_policy::stretch: return "stretch";
    case resize_policy::center_crop: return "center_crop";
  }
  return "unknown";
}

/// A region of the source in pixel coordinates (edges, not centres): x0 <= x < x1, y0 <= y < y1.
/// Fractional edges are allowed, as in Pillow's resize(box=...).
struct source_box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  [[nodiscard]] constexpr double width() const noexcept { return x1 - x0; }
  [[nodiscard]] constexpr double height() const noexcept { return y1 - y0; }
  friend constexpr bool operator==(const source_box&, const source_box&) = default;
};

/// The part of `region` (of some source) that `policy` maps onto an out_width x out_height image:
/// all of it for stretch, the largest centred box with the output's aspect ratio for center_crop.
/// For a detection's crop as for a whole frame.
[[nodiscard]] constexpr source_box policy_box(const source_box& region, std::int64_t out_width,
                                              std::int64_t out_height, resize_policy policy) noexcept {
  if (policy == resize_policy::stretch) return region;
  const double w = region.width(), h = region.height();
  const double ow = static_cast<double>(out_width), oh = static_cast<double>(out_height);
  // Compared by cross-multiplication, and a side that is kept is kept exactly: w / aspect for a
  // 336 x 240 frame and a 224 x 160 output gave 240.00000000000003, a box 1.4e-14 outside the
  // frame that the resize refused (and a whole cache build with it).
  double bw = w, bh = h;
  if (w * oh > h * ow) {
    bw = std::min(w, h * ow / oh);
  } else if (w * oh < h * ow) {
    bh = std::min(h, w * oh / ow);
  }
  return {std::max(region.x0, region.x0 + (w - bw) / 2), std::max(region.y0, region.y0 + (h - bh) / 2),
          std::min(region.x1, region.x0 + (w + bw) / 2), std::min(region.y1, region.y0 + (h + bh) / 2)};
}

/// The part of a width x height source that `policy` maps onto an out_width x out_height image.
[[nodiscard]] constexpr source_box policy_box(std::int64_t width, std::int64_t height,
                                              std::int64_t out_width, std::int64_t out_height,
                                              resize_policy policy) noexcept {
  return policy_box(source_box{0, 0, static_cast<double>(width), static_cast<double>(height)}, out_width, out_height,
                    policy);
}

/// The smallest size a width x height frame may be decoded at (DCT-scaled JPEG decoding) so that
/// each of `regions` (in the frame's pixels; empty ones ignored) still covers out_width x
/// out_height after the policy: never upsampled by the resize. At most the frame's own size. The
/// decoded cache asks it for the whole frame, tpt-predict for each detection's crop.
[[nodiscard]] inline std::pair<std::int64_t, std::int64_t> minimum_decode_size(std::span<const source_box> regions,
                                                                             std::int64_t width, std::int64_t height,
                                                                             std::int64_t out_width,
                                                                             std::int64_t out_height,
                                                                             resize_policy policy) {
  std::int64_t min_w = 0, min_h = 0;
  for (const auto& r : regions) {
    if (!(r.width() > 0 && r.height() > 0)) continue;
    const source_box kept = policy_box(r, out_width, out_height, policy);
    min_w = std::max(min_w, static_cast<std::int64_t>(std::ceil(static_cast<double>(out_width) *
                                                                static_cast<double>(width) / kept.width() - 1e-9)));
    min_h = std::max(min_h, static_cast<std::int64_t>(std::ceil(static_cast<double>(out_height) *
                                                                static_cast<double>(height) / kept.height() - 1e-9)));
  }
  return {std::min(min_w, width), std::min(min_h, height)};
}

namespace detail {

struct filter_fn {
  double support;
  double (*weight)(double);
};

inline double box_weight(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
inline double triangle_weight(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
inline double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= std::numbers::pi;
  return std::sin(x) / x;
}
inline double lanczos3_weight(double x) { return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }

constexpr filter_fn filter_of(resize_filter f) noexcept {
  switch (f) {
    case resize_filter::box: return {0.5, &box_weight};
    case resize_filter::triangle: return {1.0, &triangle_weight};
    case resize_filter::lanczos3: return {3.0, &lanczos3_weight};
  }
  return {1.0, &triangle_weight};
}

/// For each output position along one axis: the first source index, the tap count, and ksize
/// normalised weights (Pillow's precompute_coeffs, which fixes the rounding of the bounds).
struct axis_weights {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<double> weights;  // out_size x ksize
};

/// Fill `a` for resampling [in0, in1) of an axis of in_size pixels onto out_size pixels; reuses
/// a's storage, so per-image callers (augmentation) do not allocate. Taps may reach outside the
/// box into the rest of the image (Pillow's resize(box=...)); with clip_to_box they stop at the
/// box's pixels, which is cropping first and resizing the crop (torchvision's resized_crop).
inline void fill_axis_weights(std::int64_t in_size, double in0, double in1, std::int64_t out_size,
                              resize_filter filter, axis_weights& a, bool clip_to_box = false) {
  const int lo = clip_to_box ? static_cast<int>(std::floor(in0)) : 0;
  const int hi = clip_to_box ? static_cast<int>(std::min<double>(std::ceil(in1), static_cast<double>(in_size)))
                             : static_cast<int>(in_size);
  const filter_fn f = filter_of(filter);
  const double scale = (in1 - in0) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = f.support * filterscale;
  a.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  a.first.resize(static_cast<std::size_t>(out_size));
  a.count.resize(static_cast<std::size_t>(out_size));
  a.weights.assign(static_cast<std::size_t>(out_size * a.ksize), 0.0);
  const double ss = 1.0 / filterscale;
  for (std::int64_t xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (static_cast<double>(xx) + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation toward zero, as Pillow
    if (xmin < lo) xmin = lo;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > hi) xmax = hi;
    xmax -= xmin;
    double* k = &a.weights[static_cast<std::size_t>(xx * a.ksize)];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = f.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    if (ww != 0.0)
      for (int x = 0; x < xmax; ++x) k[x] /= ww;
    a.first[static_cast<std::size_t>(xx)] = xmin;
    a.count[static_cast<std::size_t>(xx)] = std::max(xmax, 0);
  }
}

inline axis_weights make_axis_weights(std::int64_t in_size, double in0, double in1,
                                      std::int64_t out_size, resize_filter filter) {
  axis_weights a;
  fill_axis_weights(in_size, in0, in1, out_size, filter, a);
  return a;
}

// Pillow's 8-bit fixed point: 22 fractional bits leave room for 8-bit values times the sum of
// possibly negative (Lanczos) weights in an int32.
inline constexpr int precision_bits = 32 - 8 - 2;

inline std::vector<std::int32_t> fixed_point(const std::vector<double>& w) {
  std::vector<std::int32_t> out(w.size());
  for (std::size_t i = 0; i < w.size(); ++i)
    out[i] = static_cast<std::int32_t>(w[i] < 0 ? -0.5 + w[i] * (1 << precision_bits)
                                                : 0.5 + w[i] * (1 << precision_bits));
  return out;
}

inline std::uint8_t clip8(std::int32_t v) noexcept {
  if (v >= (1 << precision_bits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<std::uint8_t>(v >> precision_bits);
}

template <int C>
void resample_rows(const std::uint8_t* src, std::int64_t src_row_bytes, std::int64_t rows,
                   const axis_weights& a, const std::vector<std::int32_t>& k, std::uint8_t* dst,
                   std::int64_t out_w) {
  for (std::int64_t y = 0; y < rows; ++y) {
    const std::uint8_t* s = src + y * src_row_bytes;
    std::uint8_t* d = dst + y * out_w * C;
    for (std::int64_t x = 0; x < out_w; ++x) {
      const int x0 = a.first[static_cast<std::size_t>(x)];
      const int n = a.count[static_cast<std::size_t>(x)];
      const std::int32_t* kk = &k[static_cast<std::size_t>(x * a.ksize)];
      std::int32_t acc[C];
      for (int c = 0; c < C; ++c) acc[c] = 1 << (precision_bits - 1);
      for (int t = 0; t < n; ++t)
        for (int c = 0; c < C; ++c) acc[c] += s[(x0 + t) * C + c] * kk[t];
      for (int c = 0; c < C; ++c) d[x * C + c] = clip8(acc[c]);
    }
  }
}

inline void resample_columns(const std::uint8_t* src, std::int64_t row_bytes, const axis_weights& a,
                             const std::vector<std::int32_t>& k, std::uint8_t* dst,
                             std::int64_t out_h) {
  std::vector<std::int32_t> acc(static_cast<std::size_t>(row_bytes));
  for (std::int64_t y = 0; y < out_h; ++y) {
    const int y0 = a.first[static_cast<std::size_t>(y)];
    const int n = a.count[static_cast<std::size_t>(y)];
    const std::int32_t* kk = &k[static_cast<std::size_t>(y * a.ksize)];
    std::fill(acc.begin(), acc.end(), 1 << (precision_bits - 1));
    for (int t = 0; t < n; ++t) {
      const std::uint8_t* s = src + (y0 + t) * row_bytes;
      const std::int32_t w = kk[t];
      for (std::int64_t i = 0; i < row_bytes; ++i) acc[static_cast<std::size_t>(i)] += s[i] * w;
    }
    std::uint8_t* d = dst + y * row_bytes;
    for (std::int64_t i = 0; i < row_bytes; ++i) d[i] = clip8(acc[static_cast<std::size_t>(i)]);
  }
}

}  // namespace detail

/// Resample the `box` region of `src` into dst (out_height x out_width x src.channels bytes).
/// Horizontal pass first over the rows the vertical pass needs, then the vertical pass, each
/// skipped when its axis is unchanged: Pillow's ImagingResample, bit for bit.
inline void resize_into(image_view src, source_box box, std::uint8_t* dst, std::int64_t out_height,
                        std::int64_t out_width, resize_filter filter = resize_filter::triangle) {
  if (out_height <= 0 || out_width <= 0)
    throw config_error("size", fmt::format("output size must be positive, got {} x {}", out_width, out_height));
  if (src.empty()) throw config_error("image", "cannot resize an empty image");
  if (!(box.x0 >= 0 && box.y0 >= 0 && box.x1 <= static_cast<double>(src.width) &&
        box.y1 <= static_cast<double>(src.height) && box.x1 > box.x0 && box.y1 > box.y0))
    throw config_error("box", fmt::format("({}, {}, {}, {}) is not inside the {} x {} image", box.x0,
                                          box.y0, box.x1, box.y1, src.width, src.height));
  const std::int64_t c = src.channels;
  const bool need_h = out_width != src.width || box.x0 != 0 || box.x1 != static_cast<double>(out_width);
  const bool need_v = out_height != src.height || box.y0 != 0 || box.y1 != static_cast<double>(out_height);
  const detail::axis_weights av = detail::make_axis_weights(src.height, box.y0, box.y1, out_height, filter);
  const detail::axis_weights ah = detail::make_axis_weights(src.width, box.x0, box.x1, out_width, filter);
  const std::vector<std::int32_t> kv = detail::fixed_point(av.weights);
  const std::vector<std::int32_t> kh = detail::fixed_point(ah.weights);

  const auto horizontal = [&](const std::uint8_t* s, std::int64_t rows, std::uint8_t* d) {
    switch (c) {
      case 1: detail::resample_rows<1>(s, src.row_bytes(), rows, ah, kh, d, out_width); break;
      case 2: detail::resample_rows<2>(s, src.row_bytes(), rows, ah, kh, d, out_width); break;
      case 3: detail::resample_rows<3>(s, src.row_bytes(), rows, ah, kh, d, out_width); break;
      default: detail::resample_rows<4>(s, src.row_bytes(), rows, ah, kh, d, out_width); break;
    }
  };
  if (need_h && need_v) {
    const int first = av.first.front();
    const int last = av.first.back() + av.count.back();
    std::vector<std::uint8_t> tmp(static_cast<std::size_t>((last - first) * out_width * c));
    horizontal(src.row(first), last - first, tmp.data());
    detail::axis_weights shifted = av;
    for (int& f : shifted.first) f -= first;
    detail::resample_columns(tmp.data(), out_width * c, shifted, kv, dst, out_height);
  } else if (need_h) {
    horizontal(src.pixels, out_height, dst);
  } else if (need_v) {
    detail::resample_columns(src.pixels, src.row_bytes(), av, kv, dst, out_height);
  } else {
    std::copy(src.pixels, src.pixels + src.size_bytes(), dst);
  }
}

/// Resize the whole of `src` to out_height x out_width.
[[nodiscard]] inline image resize(image_view src, std::int64_t out_height, std::int64_t out_width,
                                  resize_filter filter = resize_filter::triangle) {
  image out(out_height, out_width, src.channels);
  resize_into(src, {0, 0, static_cast<double>(src.width), static_cast<double>(src.height)},
              out.data(), out_height, out_width, filter);
  return out;
}

/// Resize `src` to out_height x out_width under a policy (stretch or centre crop).
[[nodiscard]] inline image resize(image_view src, std::int64_t out_height, std::int64_t out_width,
                                  resize_policy policy, resize_filter filter = resize_filter::triangle) {
  image out(out_height, out_width, src.channels);
  resize_into(src, policy_box(src.width, src.height, out_width, out_height, policy), out.data(),
              out_height, out_width, filter);
  return out;
}

}  // namespace tpt::data

template <>
struct fmt::formatter<tpt::data::resize_filter> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::resize_filter f, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::data::to_string(f), ctx);
  }
};

template <>
struct fmt::formatter<tpt::data::resize_policy> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::resize_policy p, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::data::to_string(p), ctx);
  }
};
