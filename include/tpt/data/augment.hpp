// Augmentation from the decoded cache, straight from uint8 HWC to normalised float32: random
// resized crop (torchvision's defaults and algorithm), horizontal flip, optional colour jitter
// (brightness, contrast, saturation), and an evaluation mode (centre crop only). Every draw comes
// from tpt::derive_seed(seed, "augment", epoch, example, occurrence), so an example's augmentation
// does not depend on the worker count, the thread that ran it or the order of the batch.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/data/image.hpp"
#include "tpt/data/resize.hpp"

namespace tpt::data {

enum class augment_mode {
  train,  ///< random resized crop, flip, optional jitter
  eval,   ///< centre crop (eval_crop_fraction) and resize only: no randomness
};

/// torchvision.transforms.RandomResizedCrop's parameters and defaults: the crop covers a
/// fraction of the area drawn uniformly from [scale_min, scale_max] and has an aspect ratio
/// drawn log-uniformly from [ratio_min, ratio_max].
struct random_resized_crop_options {
  double scale_min = 0.08;
  double scale_max = 1.0;
  double ratio_min = 3.0 / 4.0;
  double ratio_max = 4.0 / 3.0;
};

/// torchvision.transforms.ColorJitter's factors: each is drawn from [max(0, 1 - x), 1 + x];
/// 0 switches that adjustment off. Hue is not offered.
struct color_jitter_options {
  double brightness = 0;
  double contrast = 0;
  double saturation = 0;
  [[nodiscard]] constexpr bool enabled() const noexcept { return brightness > 0 || contrast > 0 || saturation > 0; }
};

struct augment_options {
  augment_mode mode = augment_mode::train;
  std::int64_t height = 224;  ///< output size
  std::int64_t width = 224;
  random_resized_crop_options crop{};
  double flip_probability = 0.5;
  color_jitter_options jitter{};  ///< off by default
  /// Per-channel mean and standard deviation on the [0, 1] scale (ImageNet's by default); one
  /// value each for grey images.
  std::vector<float> mean{0.485f, 0.456f, 0.406f};
  std::vector<float> std{0.229f, 0.224f, 0.225f};
  /// Evaluation crops this fraction of the largest centred box with the output's aspect ratio
  /// (0.875 = 224/256: torchvision's Resize(256) + CenterCrop(224) on a 256 x 256 cache).
  double eval_crop_fraction = 0.875;
  resize_filter filter = resize_filter::triangle;
};

/// Memory layout of one augmented image.
enum class tensor_layout {
  chw,  ///< planar, as NCHW batches
  hwc,  ///< interleaved, as channels_last batches
};

/// The random choices for one example; draw_augmentation makes them, tests inspect them.
struct augmentation {
  source_box box{};
  bool flip = false;
  float brightness = 1, contrast = 1, saturation = 1;
  std::array<int, 3> jitter_order{0, 1, 2};  ///< 0 brightness, 1 contrast, 2 saturation
};

/// The seed of one example's augmentation. `occurrence` counts earlier appearances of the same
/// example in the epoch's plan, so the copies an oversampler adds are augmented differently.
[[nodiscard]] constexpr std::uint64_t augment_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t example,
                                                   std::int64_t occurrence = 0) noexcept {
  return derive_seed(seed, stream_tag("augment"), epoch, example, occurrence);
}

/// Check options against the image channels; tpt::config_error naming the option otherwise.
inline void validate(const augment_options& o, std::int64_t channels) {
  if (o.height <= 0 || o.width <= 0)
    throw config_error("augment size", fmt::format("must be positive, got {} x {}", o.width, o.height));
  const auto& c = o.crop;
  if (!(c.scale_min > 0 && c.scale_min <= c.scale_max && c.scale_max <= 1))
    throw config_error("crop scale", fmt::format("need 0 < min <= max <= 1, got [{}, {}]", c.scale_min, c.scale_max));
  if (!(c.ratio_min > 0 && c.ratio_min <= c.ratio_max))
    throw config_error("crop ratio", fmt::format("need 0 < min <= max, got [{}, {}]", c.ratio_min, c.ratio_max));
  if (!(o.flip_probability >= 0 && o.flip_probability <= 1))
    throw config_error("flip_probability", fmt::format("must be in [0, 1], got {}", o.flip_probability));
  if (o.jitter.brightness < 0 || o.jitter.contrast < 0 || o.jitter.saturation < 0)
    throw config_error("jitter", "factors must be >= 0");
  if (!(o.eval_crop_fraction > 0 && o.eval_crop_fraction <= 1))
    throw config_error("eval_crop_fraction", fmt::format("must be in (0, 1], got {}", o.eval_crop_fraction));
  const auto n = static_cast<std::size_t>(channels);
  if (o.mean.size() != n || o.std.size() != n)
    throw config_error("mean/std", fmt::format("need {} value(s) each for {}-channel images, got {} and {}", n,
                                               channels, o.mean.size(), o.std.size()));
  for (float s : o.std)
    if (!(s > 0)) throw config_error("std", fmt::format("must be positive, got {}", s));
}

/// The crop box, flip and jitter factors for one example of a height x width source.
[[nodiscard]] inline augmentation draw_augmentation(std::int64_t height, std::int64_t width, const augment_options& o,
                                                    std::uint64_t draw_seed) {
  augmentation a;
  const auto H = static_cast<double>(height);
  const auto W = static_cast<double>(width);
  if (o.mode == augment_mode::eval) {
    const source_box full = policy_box(width, height, o.width, o.height, resize_policy::center_crop);
    const double bw = full.width() * o.eval_crop_fraction, bh = full.height() * o.eval_crop_fraction;
    a.box = {(W - bw) / 2, (H - bh) / 2, (W + bw) / 2, (H + bh) / 2};
    return a;
  }
  rng gen(draw_seed);
  // torchvision's RandomResizedCrop.get_params: ten tries, then a centre crop clamped to the ratios.
  bool found = false;
  const double area = H * W;
  const double log_r0 = std::log(o.crop.ratio_min), log_r1 = std::log(o.crop.ratio_max);
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target_area = area * gen.uniform(o.crop.scale_min, o.crop.scale_max);
    const double aspect = std::exp(gen.uniform(log_r0, log_r1));
    const auto w = static_cast<std::int64_t>(std::lround(std::sqrt(target_area * aspect)));
    const auto h = static_cast<std::int64_t>(std::lround(std::sqrt(target_area / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const auto y = static_cast<double>(gen.uniform_index(static_cast<std::uint64_t>(height - h + 1)));
      const auto x = static_cast<double>(gen.uniform_index(static_cast<std::uint64_t>(width - w + 1)));
      a.box = {x, y, x + static_cast<double>(w), y + static_cast<double>(h)};
      found = true;
    }
  }
  if (!found) {
    const double in_ratio = W / H;
    double w = W, h = H;
    if (in_ratio < o.crop.ratio_min) {
      h = static_cast<double>(std::lround(w / o.crop.ratio_min));
    } else if (in_ratio > o.crop.ratio_max) {
      w = static_cast<double>(std::lround(h * o.crop.ratio_max));
    }
    const double y = std::floor((H - h) / 2), x = std::floor((W - w) / 2);
    a.box = {x, y, x + w, y + h};
  }
  a.flip = gen.uniform01() < o.flip_probability;
  if (o.jitter.enabled()) {
    auto factor = [&](double x) {
      return x > 0 ? static_cast<float>(gen.uniform(std::max(0.0, 1 - x), 1 + x)) : 1.0f;
    };
    a.brightness = factor(o.jitter.brightness);
    a.contrast = factor(o.jitter.contrast);
    a.saturation = factor(o.jitter.saturation);
    shuffle(a.jitter_order, gen);
  }
  return a;
}

namespace detail {

/// Resampling taps with one tap count k for every output position: zero-weight taps trimmed,
/// then shorter rows padded (first index moved back, zero weights), so the inner loops run a
/// compile-time count. An identity resize (evaluation at the cache size) becomes k = 1.
struct uniform_taps {
  int k = 1;
  std::vector<int> first;
  std::vector<float> w;  // out_size x k
};

inline void make_uniform_taps(const axis_weights& a, int lo, int hi, uniform_taps& t) {
  const std::size_t n = a.first.size();
  t.first.resize(n);
  int k = 1;
  for (std::size_t x = 0; x < n; ++x) {
    const double* w = &a.weights[x * static_cast<std::size_t>(a.ksize)];
    int b = 0, e = a.count[x];
    while (b < e && w[b] == 0.0) ++b;
    while (e > b && w[e - 1] == 0.0) --e;
    k = std::max(k, e - b);
  }
  t.k = k;
  t.w.assign(n * static_cast<std::size_t>(k), 0.0f);
  for (std::size_t x = 0; x < n; ++x) {
    const double* w = &a.weights[x * static_cast<std::size_t>(a.ksize)];
    int b = 0, e = a.count[x];
    while (b < e && w[b] == 0.0) ++b;
    while (e > b && w[e - 1] == 0.0) --e;
    const int begin = a.first[x] + b;
    const int start = std::max(lo, std::min(begin, hi - k));
    t.first[x] = start;
    for (int j = b; j < e; ++j) t.w[x * static_cast<std::size_t>(k) + static_cast<std::size_t>(a.first[x] + j - start)] = static_cast<float>(w[j]);
  }
}

/// Mirror the output positions (a horizontal flip of the result).
inline void mirror(uniform_taps& t) {
  std::reverse(t.first.begin(), t.first.end());
  const std::size_t n = t.first.size(), k = static_cast<std::size_t>(t.k);
  for (std::size_t x = 0; x < n / 2; ++x)
    std::swap_ranges(t.w.begin() + static_cast<std::ptrdiff_t>(x * k), t.w.begin() + static_cast<std::ptrdiff_t>((x + 1) * k),
                     t.w.begin() + static_cast<std::ptrdiff_t>((n - 1 - x) * k));
}

/// Per-thread buffers, so augmenting an image allocates nothing after the first one.
struct augment_scratch {
  axis_weights wx, wy;
  uniform_taps tx, ty;
  std::vector<float> row, tmp, acc, picture, scale_row, bias_row;
};

inline augment_scratch& thread_augment_scratch() {
  thread_local augment_scratch s;
  return s;
}

template <int C, int K>
void horizontal_taps(const float* f, const uniform_taps& t, int col0, std::int64_t out_w, float* out) {
  const int k = K > 0 ? K : t.k;
  for (std::int64_t x = 0; x < out_w; ++x) {
    const float* w = &t.w[static_cast<std::size_t>(x * k)];
    const float* p = f + (t.first[static_cast<std::size_t>(x)] - col0) * C;
    float acc[C] = {};
    for (int j = 0; j < k; ++j)
      for (int c = 0; c < C; ++c) acc[c] += w[j] * p[j * C + c];
    for (int c = 0; c < C; ++c) out[x * C + c] = acc[c];
  }
}

template <int C>
void augment_rows(image_view src, const uniform_taps& tx, int row0, int rows, std::int64_t out_w, augment_scratch& s) {
  // Only the columns the crop touches are converted to float, once per row.
  const auto [lo, hi] = std::minmax_element(tx.first.begin(), tx.first.end());
  const int col0 = *lo, col1 = *hi + tx.k;
  s.row.resize(static_cast<std::size_t>((col1 - col0) * C));
  s.tmp.resize(static_cast<std::size_t>(rows * out_w * C));
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* in = src.row(row0 + r) + col0 * C;
    float* f = s.row.data();
    for (int i = 0; i < (col1 - col0) * C; ++i) f[i] = static_cast<float>(in[i]);
    float* t = s.tmp.data() + static_cast<std::ptrdiff_t>(r) * out_w * C;
    switch (tx.k) {
      case 1: horizontal_taps<C, 1>(f, tx, col0, out_w, t); break;
      case 2: horizontal_taps<C, 2>(f, tx, col0, out_w, t); break;
      case 3: horizontal_taps<C, 3>(f, tx, col0, out_w, t); break;
      case 4: horizontal_taps<C, 4>(f, tx, col0, out_w, t); break;
      default: horizontal_taps<C, 0>(f, tx, col0, out_w, t); break;
    }
  }
}

/// The vertical pass for output row y into s.acc (out_w x C floats, 0..255 scale).
inline void vertical_row(const uniform_taps& ty, int row0, std::int64_t y, std::int64_t row_len, augment_scratch& s) {
  const int first = ty.first[static_cast<std::size_t>(y)] - row0;
  const float* k = &ty.w[static_cast<std::size_t>(y * ty.k)];
  float* acc = s.acc.data();
  const float* t0 = s.tmp.data() + static_cast<std::ptrdiff_t>(first) * row_len;
  for (std::int64_t i = 0; i < row_len; ++i) acc[i] = k[0] * t0[i];
  for (int j = 1; j < ty.k; ++j) {
    const float* t = t0 + static_cast<std::ptrdiff_t>(j) * row_len;
    const float w = k[j];
    for (std::int64_t i = 0; i < row_len; ++i) acc[i] += w * t[i];
  }
}

/// Normalise one row of values and store it: interleaved rows use per-position scale and bias
/// (s.scale_row, s.bias_row) so the loop is one contiguous multiply-add.
template <int C>
void store_row(const float* v, std::int64_t y, std::int64_t out_h, std::int64_t out_w, const float* scale,
               const float* bias, float lo, float hi, float* out, tensor_layout layout, const augment_scratch& s) {
  if (layout == tensor_layout::hwc) {
    float* o = out + y * out_w * C;
    const float* sc = s.scale_row.data();
    const float* bi = s.bias_row.data();
    for (std::int64_t i = 0; i < out_w * C; ++i) o[i] = std::clamp(v[i], lo, hi) * sc[i] + bi[i];
  } else {
    for (int c = 0; c < C; ++c) {
      float* o = out + (c * out_h + y) * out_w;
      const float sc = scale[c], bi = bias[c];
      for (std::int64_t x = 0; x < out_w; ++x) o[x] = std::clamp(v[x * C + c], lo, hi) * sc + bi;
    }
  }
}

inline void clamp01(float* v, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] < 0.0f ? 0.0f : (v[i] > 1.0f ? 1.0f : v[i]);
}

/// torchvision's ColorJitter arithmetic (brightness, contrast, saturation in the drawn order,
/// clamping to [0, 1] after each) on a planar picture: C planes of `pixels` values. Planar, every
/// step is a contiguous loop the compiler vectorises.
template <int C>
void jitter(float* planes, float* grey, std::int64_t pixels, const augmentation& a) {
  const std::int64_t n = pixels * C;
  auto make_grey = [&] {
    if constexpr (C == 3) {
      const float* r = planes;
      const float* g = planes + pixels;
      const float* b = planes + 2 * pixels;
      for (std::int64_t i = 0; i < pixels; ++i) grey[i] = 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
    } else {
      std::copy(planes, planes + pixels, grey);
    }
  };
  for (int op : a.jitter_order) {
    if (op == 0 && a.brightness != 1) {
      const float f = a.brightness;
      for (std::int64_t i = 0; i < n; ++i) planes[i] *= f;
      clamp01(planes, n);
    } else if (op == 1 && a.contrast != 1) {
      make_grey();
      double sum = 0;
      for (std::int64_t i = 0; i < pixels; ++i) sum += grey[i];
      const float f = a.contrast;
      const float offset = (1 - f) * static_cast<float>(sum / static_cast<double>(pixels));
      for (std::int64_t i = 0; i < n; ++i) planes[i] = f * planes[i] + offset;
      clamp01(planes, n);
    } else if (op == 2 && a.saturation != 1 && C == 3) {
      make_grey();
      const float f = a.saturation;
      for (int c = 0; c < C; ++c) {
        float* p = planes + c * pixels;
        for (std::int64_t i = 0; i < pixels; ++i) p[i] = f * p[i] + (1 - f) * grey[i];
      }
      clamp01(planes, n);
    }
  }
}

template <int C>
void augment_impl(image_view src, const augment_options& o, const augmentation& a, float* out, tensor_layout layout) {
  augment_scratch& s = thread_augment_scratch();
  // Crop, then resize the crop (torchvision's resized_crop): taps stay inside the box.
  fill_axis_weights(src.width, a.box.x0, a.box.x1, o.width, o.filter, s.wx, true);
  fill_axis_weights(src.height, a.box.y0, a.box.y1, o.height, o.filter, s.wy, true);
  const int x_lo = static_cast<int>(std::floor(a.box.x0)), x_hi = static_cast<int>(std::min<double>(std::ceil(a.box.x1), static_cast<double>(src.width)));
  const int y_lo = static_cast<int>(std::floor(a.box.y0)), y_hi = static_cast<int>(std::min<double>(std::ceil(a.box.y1), static_cast<double>(src.height)));
  make_uniform_taps(s.wx, x_lo, x_hi, s.tx);
  make_uniform_taps(s.wy, y_lo, y_hi, s.ty);
  if (a.flip) mirror(s.tx);
  const int row0 = *std::min_element(s.ty.first.begin(), s.ty.first.end());
  const int row1 = *std::max_element(s.ty.first.begin(), s.ty.first.end()) + s.ty.k;
  augment_rows<C>(src, s.tx, row0, row1 - row0, o.width, s);
  const std::int64_t row_len = o.width * C;
  s.acc.resize(static_cast<std::size_t>(row_len));

  const bool jittered = o.jitter.enabled() && o.mode == augment_mode::train;
  // Normalisation folded into one multiply-add: (v / range - mean) / std.
  const float range = jittered ? 1.0f : 255.0f;
  std::array<float, C> scale{}, bias{};
  for (int c = 0; c < C; ++c) {
    scale[c] = 1.0f / (range * o.std[static_cast<std::size_t>(c)]);
    bias[c] = -o.mean[static_cast<std::size_t>(c)] / o.std[static_cast<std::size_t>(c)];
  }
  if (layout == tensor_layout::hwc) {
    s.scale_row.resize(static_cast<std::size_t>(row_len));
    s.bias_row.resize(static_cast<std::size_t>(row_len));
    for (std::int64_t i = 0; i < row_len; ++i) {
      s.scale_row[static_cast<std::size_t>(i)] = scale[static_cast<std::size_t>(i % C)];
      s.bias_row[static_cast<std::size_t>(i)] = bias[static_cast<std::size_t>(i % C)];
    }
  }
  if (!jittered) {
    for (std::int64_t y = 0; y < o.height; ++y) {
      vertical_row(s.ty, row0, y, row_len, s);
      store_row<C>(s.acc.data(), y, o.height, o.width, scale.data(), bias.data(), 0.0f, 255.0f, out, layout, s);
    }
    return;
  }
  // Jitter needs the whole picture (contrast uses its mean): build it planar at [0, 1] first.
  const std::int64_t pixels = o.height * o.width;
  s.picture.resize(static_cast<std::size_t>(pixels * (C + 1)));
  float* planes = s.picture.data();
  for (std::int64_t y = 0; y < o.height; ++y) {
    vertical_row(s.ty, row0, y, row_len, s);
    const float* v = s.acc.data();
    for (int c = 0; c < C; ++c) {
      float* p = planes + c * pixels + y * o.width;
      for (std::int64_t x = 0; x < o.width; ++x) p[x] = v[x * C + c] * (1.0f / 255.0f);
    }
  }
  clamp01(planes, pixels * C);
  jitter<C>(planes, planes + C * pixels, pixels, a);
  if (layout == tensor_layout::chw) {
    for (int c = 0; c < C; ++c) {
      const float* p = planes + c * pixels;
      float* q = out + c * pixels;
      const float sc = scale[c], bi = bias[c];
      for (std::int64_t i = 0; i < pixels; ++i) q[i] = p[i] * sc + bi;
    }
  } else {
    for (std::int64_t i = 0; i < pixels; ++i)
      for (int c = 0; c < C; ++c) out[i * C + c] = planes[c * pixels + i] * scale[c] + bias[c];
  }
}

}  // namespace detail

/// Augment one image (1 or 3 channels) into out: height x width x channels floats in `layout`,
/// normalised ((x / 255 - mean) / std). The draws come from draw_seed (see augment_seed).
inline void augment_into(image_view src, const augment_options& options, std::uint64_t draw_seed, float* out,
                         tensor_layout layout = tensor_layout::chw) {
  if (src.empty()) throw config_error("image", "cannot augment an empty image");
  const augmentation a = draw_augmentation(src.height, src.width, options, draw_seed);
  switch (src.channels) {
    case 1: detail::augment_impl<1>(src, options, a, out, layout); break;
    case 3: detail::augment_impl<3>(src, options, a, out, layout); break;
    default: throw config_error("channels", fmt::format("augmentation takes 1 or 3 channels, got {}", src.channels));
  }
}

/// augment_into, returning a C x H x W float tensor (validates the options first).
[[nodiscard]] inline torch::Tensor augment(image_view src, const augment_options& options, std::uint64_t draw_seed) {
  validate(options, src.channels);
  torch::Tensor out = torch::empty({src.channels, options.height, options.width}, torch::kFloat32);
  augment_into(src, options, draw_seed, out.data_ptr<float>(), tensor_layout::chw);
  return out;
}

}  // namespace tpt::data

template <>
struct fmt::formatter<tpt::data::augment_mode> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::augment_mode m, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(m == tpt::data::augment_mode::train ? "train" : "eval", ctx);
  }
};
