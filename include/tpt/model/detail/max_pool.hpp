// Max-pooling of NCHW maps on the CPU through LibTorch's channels-last kernel. In LibTorch 1.13
// the NCHW forward kernel is the slow one (ResNet's stem pool of a 64 x 64 x 14 x 14 batch: about
// 2.6 ms, against 0.4-0.5 ms channels-last with both layout copies; `bench_train --mode
// kernels`), while for the backward it is the
// other way round. So: forward channels-last, backward NCHW from the same argmax indices (they
// index the H*W plane in either layout). Outputs and gradients are those of torch::max_pool2d
// exactly: both kernels scan a window in the same order and keep the first maximum.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace tpt::detail {

class channels_last_max_pool : public torch::autograd::Function<channels_last_max_pool> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, std::int64_t kernel,
                               std::int64_t stride, std::int64_t padding) {
    auto [out, indices] = torch::max_pool2d_with_indices(x.contiguous(torch::MemoryFormat::ChannelsLast), {kernel, kernel},
                                                         {stride, stride}, {padding, padding});
    indices = indices.contiguous();
    ctx->save_for_backward({x, indices});
    ctx->saved_data["geometry"] = std::vector<std::int64_t>{kernel, stride, padding};
    ctx->mark_non_differentiable({indices});
    return out.contiguous();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto g = ctx->saved_data["geometry"].toIntVector();
    auto dx = torch::max_pool2d_with_indices_backward(grads[0].contiguous(), saved[0], {g[0], g[0]}, {g[1], g[1]},
                                                      {g[2], g[2]}, {1, 1}, false, saved[1]);
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

/// torch::max_pool2d(x, kernel, stride, padding), through the channels-last forward when `route`
/// is on and x is a contiguous NCHW float tensor on the CPU.
inline torch::Tensor max_pool2d(const torch::Tensor& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                                bool route) {
  if (!route || x.dim() != 4 || !x.device().is_cpu() || !x.is_contiguous() || !x.is_floating_point())
    return torch::max_pool2d(x, kernel, stride, padding);
  if (!torch::GradMode::is_enabled() || !x.requires_grad())  // no backward: no indices to keep
    return torch::max_pool2d(x.contiguous(torch::MemoryFormat::ChannelsLast), kernel, stride, padding).contiguous();
  return channels_last_max_pool::apply(x, kernel, stride, padding);
}

}  // namespace tpt::detail
