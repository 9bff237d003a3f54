// Convolution without the kernel taps that only ever see zero padding. When a feature map is
// small against its kernel (ResNet's layer4 is 1x1 for a 28 px image through the ImageNet stem),
// most taps of a 3x3 kernel multiply padding at every output position: a 3x3 convolution of a
// 1x1 map is a matrix product with the centre tap, yet the convolution kernels compute all nine
// (and their gradients, which are exactly zero). Convolving with the live sub-kernel gives the
// same output, the same input gradient and the same weight gradient (zero on the dead taps)
// to float summation order, for a fraction of the work.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

#include <torch/torch.h>

#include "tpt/model/detail/blas.hpp"

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

/// weight[:, :, rows, cols] as a contiguous tensor, whose backward writes the full-size weight
/// gradient in one pass: the live taps' gradient, zeros on the others. Slicing would do the same
/// in two passes per sliced dimension (zero-fill the whole gradient, then copy the live part
/// into it through strides), which on layer4's kernels cost more than the convolutions saved.
class live_kernel : public torch::autograd::Function<live_kernel> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight, tap_range rows,
                               tap_range cols) {
    ctx->saved_data["sizes"] = weight.sizes().vec();
    ctx->saved_data["strides"] = weight.strides().vec();
    ctx->saved_data["taps"] = std::vector<std::int64_t>{rows.first, rows.count, cols.first, cols.count};
    return sub_kernel(weight, rows.first, rows.count, cols.first, cols.count).contiguous();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const auto strides = ctx->saved_data["strides"].toIntVector();
    const auto taps = ctx->saved_data["taps"].toIntVector();
    const auto& grad = grads[0];
    auto full = torch::empty_strided(sizes, strides, grad.options());
    if (full.device().is_cpu() && full.is_contiguous() &&
        (grad.scalar_type() == torch::kFloat32 || grad.scalar_type() == torch::kFloat64)) {
      AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "live_kernel_backward", [&] {
        scatter_taps<scalar_t>(grad.contiguous(), full, taps);
      });
    } else {
      full.zero_();
      sub_kernel(full, taps[0], taps[1], taps[2], taps[3]).copy_(grad);
    }
    return {full, torch::Tensor(), torch::Tensor()};
  }

 private:
  static torch::Tensor sub_kernel(const torch::Tensor& w, std::int64_t r0, std::int64_t rn, std::int64_t c0,
                                  std::int64_t cn) {
    return w.slice(2, r0, r0 + rn).slice(3, c0, c0 + cn);
  }

  /// full[o, i] = zeros with grad[o, i] at the live taps: each chunk of kernels zeroed at once, then
  /// the live taps written.
  template <class T>
  static void scatter_taps(const torch::Tensor& grad, torch::Tensor& full, const std::vector<std::int64_t>& taps) {
    const std::int64_t kh = full.size(2), kw = full.size(3), kernel = kh * kw;
    const std::int64_t r0 = taps[0], rn = taps[1], c0 = taps[2], cn = taps[3], live = rn * cn;
    const T* src = grad.data_ptr<T>();
    T* dst = full.data_ptr<T>();
    at::parallel_for(0, full.size(0) * full.size(1), std::int64_t{1} << 12, [&](std::int64_t first, std::int64_t last) {
      std::memset(dst + first * kernel, 0, static_cast<std::size_t>((last - first) * kernel) * sizeof(T));
      for (std::int64_t r = 0; r < rn; ++r)
        for (std::int64_t c = 0; c < cn; ++c) {
          const std::int64_t to = (r0 + r) * kw + c0 + c, from = r * cn + c;
          for (std::int64_t k = first; k < last; ++k) dst[k * kernel + to] = src[k * live + from];
        }
    });
  }
};

/// How many positions a convolution produces along one dimension.
inline std::int64_t outputs_along(std::int64_t n, std::int64_t k, std::int64_t s, std::int64_t p) noexcept {
  return (n + 2 * p - k) / s + 1;
}

/// conv(x), skipping the kernel taps that only see padding. When the convolution has a single
/// output position (layer4 at 1x1) and a fast BLAS is loaded, it is one matrix product of the
/// input window the live taps read with the live sub-kernel: about two thirds of the time of the
/// sub-kernel convolution (`bench_train --mode kernels`). Falls back to conv(x) for what it does
/// not reason about (dilation, non-zero padding modes, 'same'/'valid' padding, not 4-d).
inline torch::Tensor conv2d_live_taps(torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  const auto& o = conv.options;
  // Unqualified: argument-dependent lookup finds c10::get_if for LibTorch 1.13's c10::variant
  // options and std::get_if for 2.x's std::variant.
  const auto* padding = get_if<torch::ExpandingArray<2>>(&o.padding());
  if (x.dim() != 4 || padding == nullptr || get_if<torch::enumtype::kZeros>(&o.padding_mode()) == nullptr ||
      (*o.dilation())[0] != 1 || (*o.dilation())[1] != 1)
    return conv.forward(x);
  const auto& k = *o.kernel_size();
  const auto& s = *o.stride();
  const auto& p = **padding;
  const auto rows = live_taps(x.size(2), k[0], s[0], p[0]);
  const auto cols = live_taps(x.size(3), k[1], s[1], p[1]);
  // One output position: the live taps read the window [-padding, -padding + count) of the input.
  const std::int64_t top = -rows.padding, left = -cols.padding;
  if (outputs_along(x.size(2), k[0], s[0], p[0]) == 1 && outputs_along(x.size(3), k[1], s[1], p[1]) == 1 &&
      top >= 0 && top + rows.count <= x.size(2) && left >= 0 && left + cols.count <= x.size(3) && o.groups() == 1 &&
      x.device().is_cpu() && fast_blas()) {
    const auto weight = rows.full && cols.full ? conv.weight : live_kernel::apply(conv.weight, rows, cols);
    const auto window = x.slice(2, top, top + rows.count).slice(3, left, left + cols.count).reshape({x.size(0), -1});
    const auto matrix = weight.reshape({weight.size(0), -1}).t();
    const auto out = conv.bias.defined() ? torch::addmm(conv.bias, window, matrix) : torch::mm(window, matrix);
    return out.view({x.size(0), weight.size(0), 1, 1});
  }
  if (rows.full && cols.full) return conv.forward(x);
  // A full dimension's range is every tap with the original padding.
  const auto weight = live_kernel::apply(conv.weight, rows, cols);
  return torch::conv2d(x, weight, conv.bias, {s[0], s[1]}, {rows.padding, cols.padding}, {1, 1}, o.groups());
}

/// conv(x), through conv2d_live_taps when `skip_padding_taps` is on.
inline torch::Tensor convolve(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, bool skip_padding_taps) {
  return skip_padding_taps ? conv2d_live_taps(conv, x) : conv.forward(x);
}

}  // namespace tpt::detail
