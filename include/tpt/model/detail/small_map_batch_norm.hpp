// BatchNorm over feature maps of a few pixels. LibTorch's CPU BatchNorm kernel for NCHW tensors
// walks every (image, channel) row of H*W values; when a row holds 2 to 12 values (ResNet's
// layer3 is 2x2 for 28 px images through the ImageNet stem) the per-row overhead dominates and the
// forward and backward of one 64 x 256 x 2 x 2 batch take about 1 ms, where the same numbers laid
// out as a (N*H*W) x C matrix take a third of that or less (`bench_train --mode kernels`).
// Running the module itself on that matrix, viewed as a N*H*W x C x 1 x 1 map, keeps every
// semantic of torch::nn::BatchNorm2d (training and inference mode, momentum, the running
// statistics with their unbiased variance, num_batches_tracked): the statistics are over the
// same N*H*W values per channel, so results agree to float summation order.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace tpt::detail {

/// Maps with this many values per channel, or fewer (but more than one), go through the matrix.
inline constexpr std::int64_t small_map_values = 12;

/// True when bn(x) is faster over the (N*H*W) x C matrix than over the map: a contiguous NCHW
/// CPU tensor of 2 to small_map_values values per channel.
inline bool is_small_map(const torch::Tensor& x) {
  if (x.dim() != 4 || !x.device().is_cpu() || !x.is_contiguous()) return false;
  const auto values = x.size(2) * x.size(3);
  return values > 1 && values <= small_map_values;
}

/// bn(x), through the (N*H*W) x C matrix when `route` is on and x is a small map.
inline torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, bool route) {
  if (!route || !is_small_map(x)) return bn.forward(x);
  const auto n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const auto rows = x.permute({0, 2, 3, 1}).reshape({n * h * w, c, 1, 1});
  return bn.forward(rows).view({n, h, w, c}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace tpt::detail
