// Convolution without the kernel taps that only ever see zero padding. When a feature map is
// small against its kernel (ResNet's layer4 is 1x1 for a 28 px image through the ImageNet stem),
// most taps of a 3x3 kernel multiply padding at every output position: a 3x3 convolution of a
// 1x1 map is a matrix product with the centre tap, yet the convolution kernels compute all nine
// (and their gradients, which are exactly zero). Convolving with the live sub-kernel gives the
// same output, the same input gradient and the same weight gradient (zero on the dead taps,
// through the slice's backward) to float summation order, for a fraction of the work.
#pragma once

#include <algorithm>
#include <cstdint>

#include <torch/torch.h>

namespace tpt::detail {

/// The live taps of a kernel along one dimension and the symmetric padding that makes the
/// sub-kernel produce the original output positions. `full` when every tap is live or the
/// sub-kernel cannot be expressed with symmetric padding.
struct tap_range {
  std::int64_t first = 0, count = 0, padding = 0;
  bool full = true;
};

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/// Along one dimension of size `n`: which of the `k` taps (stride `s`, zero padding `p`, no
/// dilation) read at least one input element at some output position.
inline tap_range live_taps(std::int64_t n, std::int64_t k, std::int64_t s, std::int64_t p) noexcept {
  tap_range full{0, k, p, true};
  if (n < 1 || k < 1 || s < 1 || p < 0 || n + 2 * p < k) return full;
  const std::int64_t outputs = (n + 2 * p - k) / s + 1;
  // Tap i reads input index t*s - p + i at output t; it is live when some t in [0, outputs)
  // lands in [0, n).
  auto live = [&](std::int64_t i) {
    const std::int64_t lo = std::max<std::int64_t>(0, -floor_div(i - p, s));  // ceil((p - i) / s)
    const std::int64_t hi = std::min(outputs - 1, floor_div(n - 1 + p - i, s));
    return lo <= hi;
  };
  std::int64_t first = 0, last = k - 1;
  while (first < k && !live(first)) ++first;
  while (last > first && !live(last)) --last;
  if (first == k || (first == 0 && last == k - 1)) return full;
  const std::int64_t count = last - first + 1;
  const std::int64_t padding = p - first;  // output t now starts reading at t*s - padding
  if (padding < 0 || n + 2 * padding < count || (n + 2 * padding - count) / s + 1 != outputs) return full;
  return {first, count, padding, false};
}

/// conv(x), skipping the kernel taps that only see padding. Falls back to conv(x) for what it
/// does not reason about (dilation, non-zero padding modes, 'same'/'valid' padding, not 4-d).
inline torch::Tensor conv2d_live_taps(torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  const auto& o = conv.options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (x.dim() != 4 || padding == nullptr || c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()) == nullptr ||
      (*o.dilation())[0] != 1 || (*o.dilation())[1] != 1)
    return conv.forward(x);
  const auto& k = *o.kernel_size();
  const auto& s = *o.stride();
  const auto& p = **padding;
  const auto rows = live_taps(x.size(2), k[0], s[0], p[0]);
  const auto cols = live_taps(x.size(3), k[1], s[1], p[1]);
  if (rows.full && cols.full) return conv.forward(x);
  // A full dimension's range is every tap with the original padding.
  const auto weight = conv.weight.slice(2, rows.first, rows.first + rows.count).slice(3, cols.first, cols.first + cols.count);
  return torch::conv2d(x, weight, conv.bias, {s[0], s[1]}, {rows.padding, cols.padding}, {1, 1}, o.groups());
}

/// conv(x), through conv2d_live_taps when `skip_padding_taps` is on.
inline torch::Tensor convolve(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, bool skip_padding_taps) {
  return skip_padding_taps ? conv2d_live_taps(conv, x) : conv.forward(x);
}

}  // namespace tpt::detail
