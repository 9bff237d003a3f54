// Adam in one pass over each parameter: the update of torch::optim::Adam (PyTorch's Adam with L2
// weight decay) computed element by element, reading gradient, parameter and both moments once
// and writing parameter and moments once. LibTorch's Adam runs about a dozen whole-tensor
// operations per parameter instead; on a CPU, where they stream every tensor through memory
// again each time, the single pass does the same work in a fraction of the time (measured in
// docs/benchmarks.md: `bench_train --mode optimizer`).
//
// fused_adam IS a torch::optim::Adam: same options, same per-parameter state (step, exp_avg,
// exp_avg_sq), same save()/load(), so checkpoints move freely between the two. Parameters it
// cannot stream (not on the CPU, not float32, a layout the moments do not share) take LibTorch's
// update as multi-tensor (_foreach_) operations, batched over parameters as PyTorch's foreach Adam
// does, which on CUDA is a few kernels per step instead of eight per parameter; amsgrad takes
// LibTorch's per-tensor update. The result never depends on which path ran beyond float rounding
// (fused multiply-adds round once where the operations round twice). Like LibTorch's in-place
// operations, the single pass bumps the version counter of every tensor it writes, so a graph
// that saved a parameter before step() refuses to backward through the stale value afterwards
// instead of computing a wrong gradient.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TPT_FUSED_ADAM_AVX2 1
#endif

#include <ATen/Parallel.h>
#include <torch/torch.h>

namespace tpt {

namespace detail {

/// The per-step constants of one parameter's update, as float (the precision LibTorch's CPU
/// kernels compute float32 tensors in).
struct adam_step_constants {
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;
  float weight_decay;  // 0: none
};

/// The update of elements [0, n): the expressions of torch::optim::Adam::step, in its order.
inline void adam_update_portable(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                                 std::int64_t n, const adam_step_constants& c) {
  for (std::int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (c.weight_decay != 0.0F) g = g + c.weight_decay * param[i];               // grad.add(p, wd)
    const float m = exp_avg[i] * c.beta1 + c.one_minus_beta1 * g;               // mul_(b1).add_(g, 1-b1)
    const float v = exp_avg_sq[i] * c.beta2 + c.one_minus_beta2 * g * g;        // mul_(b2).addcmul_(g, g, 1-b2)
    const float denom = std::sqrt(v) / c.bias_correction2_sqrt + c.eps;         // sqrt / sqrt(bc2) + eps
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = param[i] + c.neg_step_size * (m / denom);                        // addcdiv_(m, denom, -step)
  }
}

#ifdef TPT_FUSED_ADAM_AVX2
/// The same update eight floats at a time (AVX2 + FMA); the tail goes through the portable loop.
__attribute__((target("avx2,fma"))) inline void adam_update_avx2(float* param, const float* grad, float* exp_avg,
                                                                 float* exp_avg_sq, std::int64_t n,
                                                                 const adam_step_constants& c) {
  const __m256 beta1 = _mm256_set1_ps(c.beta1), one_minus_beta1 = _mm256_set1_ps(c.one_minus_beta1);
  const __m256 beta2 = _mm256_set1_ps(c.beta2), one_minus_beta2 = _mm256_set1_ps(c.one_minus_beta2);
  const __m256 bc2 = _mm256_set1_ps(c.bias_correction2_sqrt), eps = _mm256_set1_ps(c.eps);
  const __m256 neg_step = _mm256_set1_ps(c.neg_step_size), decay = _mm256_set1_ps(c.weight_decay);
  const bool decays = c.weight_decay != 0.0F;
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 p = _mm256_loadu_ps(param + i);
    __m256 g = _mm256_loadu_ps(grad + i);
    if (decays) g = _mm256_fmadd_ps(decay, p, g);
    const __m256 m = _mm256_fmadd_ps(one_minus_beta1, g, _mm256_mul_ps(_mm256_loadu_ps(exp_avg + i), beta1));
    const __m256 v = _mm256_fmadd_ps(_mm256_mul_ps(one_minus_beta2, g), g, _mm256_mul_ps(_mm256_loadu_ps(exp_avg_sq + i), beta2));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2), eps);
    _mm256_storeu_ps(exp_avg + i, m);
    _mm256_storeu_ps(exp_avg_sq + i, v);
    _mm256_storeu_ps(param + i, _mm256_fmadd_ps(neg_step, _mm256_div_ps(m, denom), p));
  }
  adam_update_portable(param + i, grad + i, exp_avg + i, exp_avg_sq + i, n - i, c);
}

inline bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#endif

/// The update of elements [0, n), vectorised where the CPU allows.
inline void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                        const adam_step_constants& c) {
#ifdef TPT_FUSED_ADAM_AVX2
  if (cpu_has_avx2_fma()) {
    adam_update_avx2(param, grad, exp_avg, exp_avg_sq, n, c);
    return;
  }
#endif
  adam_update_portable(param, grad, exp_avg, exp_avg_sq, n, c);
}

}  // namespace detail

/// torch::optim::Adam whose CPU float32 update runs in one pass over each parameter. Use it
/// wherever a torch::optim::Adam goes (the trainer does unless trainer_options::fused_optimizer
/// is off), with clear_gradients() below in place of zero_grad(); fused_parameters() says how
/// many parameters took the single pass in the last step().
class fused_adam : public torch::optim::Adam {
 public:
  /// Elements per parallel chunk: large enough that a chunk streams for microseconds.
  static constexpr std::int64_t grain_size = std::int64_t{1} << 15;

  using torch::optim::Adam::Adam;

  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure != nullptr) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    fused_ = 0;
    multi_tensor_ = 0;
    for (auto& group : param_groups_) {
      auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
      std::map<multi_tensor_key, multi_tensor_batch> batches;
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        TORCH_CHECK(!p.grad().is_sparse(), "Adam does not support sparse gradients");
        auto& state = state_of(p, options);
        state.step(state.step() + 1);
        if (streamable(p, state, options)) {
          update_fused(p, state, options);
          ++fused_;
        } else if (batchable(p, state, options)) {
          batches[{p.device().str(), p.scalar_type(), state.step()}].add(p, state);
        } else {
          update_per_tensor(p, state, options);
        }
      }
      for (auto& [key, batch] : batches) {
        update_multi_tensor(batch, std::get<2>(key), options);
        multi_tensor_ += static_cast<std::int64_t>(batch.params.size());
      }
    }
    return loss;
  }

  /// How many parameters the last step() updated in the single pass.
  [[nodiscard]] std::int64_t fused_parameters() const noexcept { return fused_; }
  /// How many took the multi-tensor update (the rest took LibTorch's per-tensor operations).
  [[nodiscard]] std::int64_t multi_tensor_parameters() const noexcept { return multi_tensor_; }

 private:
  /// The key LibTorch's Adam files a parameter's state under: the address of its TensorImpl,
  /// printed as a string up to LibTorch 1.13 (c10::guts::to_string), the pointer itself in 2.x.
  using state_key = typename std::remove_cvref_t<decltype(state_)>::key_type;
  template <class Key = state_key>
  static Key key_of(const torch::Tensor& p) {
    if constexpr (std::is_same_v<Key, std::string>) {
      std::ostringstream key;
      key << p.unsafeGetTensorImpl();
      return key.str();
    } else {
      return static_cast<Key>(p.unsafeGetTensorImpl());
    }
  }

  /// The parameter's state, created as LibTorch's Adam creates it (zeros, the parameter's layout).
  torch::optim::AdamParamState& state_of(const torch::Tensor& p, const torch::optim::AdamOptions& options) {
    const auto key = key_of(p);
    auto it = state_.find(key);
    if (it == state_.end()) {
      auto state = std::make_unique<torch::optim::AdamParamState>();
      state->step(0);
      state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      if (options.amsgrad()) state->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      it = state_.emplace(key, std::move(state)).first;
    }
    return static_cast<torch::optim::AdamParamState&>(*it->second);
  }

  /// True when parameter, gradient and both moments are dense float32 CPU tensors laid out
  /// alike, so element i of each is the same weight.
  static bool streamable(const torch::Tensor& p, const torch::optim::AdamParamState& state,
                         const torch::optim::AdamOptions& options) {
    if (options.amsgrad()) return false;
    const auto& g = p.grad();
    const auto& m = state.exp_avg();
    const auto& v = state.exp_avg_sq();
    for (const auto* t : {&p, &g, &m, &v}) {
      if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != torch::kFloat32 || t->is_sparse() ||
          !t->is_non_overlapping_and_dense() || t->strides() != p.strides() || t->sizes() != p.sizes())
        return false;
    }
    return true;
  }

  static detail::adam_step_constants constants(const torch::optim::AdamParamState& state,
                                               const torch::optim::AdamOptions& options) {
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    const auto step = static_cast<double>(state.step());
    const double bias_correction1 = 1 - std::pow(beta1, step), bias_correction2 = 1 - std::pow(beta2, step);
    return {static_cast<float>(beta1),
            static_cast<float>(1 - beta1),
            static_cast<float>(beta2),
            static_cast<float>(1 - beta2),
            static_cast<float>(std::sqrt(bias_correction2)),
            static_cast<float>(options.eps()),
            static_cast<float>(-(options.lr() / bias_correction1)),
            static_cast<float>(options.weight_decay())};
  }

  static void update_fused(torch::Tensor& p, torch::optim::AdamParamState& state,
                           const torch::optim::AdamOptions& options) {
    const auto c = constants(state, options);
    float* param = p.data_ptr<float>();
    const float* grad = p.grad().data_ptr<float>();
    float* exp_avg = state.exp_avg().data_ptr<float>();
    float* exp_avg_sq = state.exp_avg_sq().data_ptr<float>();
    // Chunks start and end on whole vectors, so which elements take the vector loop and which
    // the scalar tail (they round differently) never depends on the thread count.
    const std::int64_t n = p.numel(), lanes = 8, vectors = (n + lanes - 1) / lanes;
    at::parallel_for(0, vectors, grain_size / lanes, [&](std::int64_t first, std::int64_t last) {
      const std::int64_t begin = first * lanes, end = std::min(last * lanes, n);
      detail::adam_update(param + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin, end - begin, c);
    });
    // What p.addcdiv_() and the moments' mul_() would have recorded: written in place.
    for (auto* t : {&p, &state.exp_avg(), &state.exp_avg_sq()}) t->unsafeGetTensorImpl()->bump_version();
  }

  /// Parameters updated together: same device, dtype and step count (so the same bias
  /// corrections), in one param group (so the same options).
  using multi_tensor_key = std::tuple<std::string, torch::ScalarType, std::int64_t>;
  struct multi_tensor_batch {
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    void add(const torch::Tensor& p, torch::optim::AdamParamState& state) {
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(state.exp_avg());
      exp_avg_sqs.push_back(state.exp_avg_sq());
    }
  };

  /// What the multi-tensor update takes: not amsgrad, and the gradient and both moments on the
  /// parameter's device in its dtype.
  static bool batchable(const torch::Tensor& p, const torch::optim::AdamParamState& state,
                        const torch::optim::AdamOptions& options) {
    if (options.amsgrad()) return false;
    for (const auto* t : {&p.grad(), &state.exp_avg(), &state.exp_avg_sq()})
      if (!t->defined() || t->is_sparse() || t->device() != p.device() || t->scalar_type() != p.scalar_type())
        return false;
    return true;
  }

  /// update_per_tensor's operations, each applied to a whole batch of parameters at once through
  /// ATen's _foreach_ operators. On CUDA each is one kernel over many tensors rather than one per
  /// tensor (PyTorch's foreach Adam, its default there): a ResNet-18 step launches about eight
  /// optimizer kernels (plus one per chunk of tensors) instead of eight for each of its 62
  /// parameters. Elsewhere ATen runs the same per-tensor operations
  /// as update_per_tensor, with the same results bit for bit.
  static void update_multi_tensor(multi_tensor_batch& b, std::int64_t step_count,
                                  const torch::optim::AdamOptions& options) {
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    const auto step = static_cast<double>(step_count);
    const double bias_correction1 = 1 - std::pow(beta1, step), bias_correction2 = 1 - std::pow(beta2, step);
    auto grads = options.weight_decay() != 0
                     ? at::_foreach_add(b.grads, b.params, at::Scalar(options.weight_decay()))
                     : b.grads;
    at::_foreach_mul_(b.exp_avgs, at::Scalar(beta1));
    at::_foreach_add_(b.exp_avgs, grads, at::Scalar(1 - beta1));
    at::_foreach_mul_(b.exp_avg_sqs, at::Scalar(beta2));
    at::_foreach_addcmul_(b.exp_avg_sqs, grads, grads, at::Scalar(1 - beta2));
    auto denoms = at::_foreach_sqrt(b.exp_avg_sqs);
    at::_foreach_div_(denoms, at::Scalar(std::sqrt(bias_correction2)));
    at::_foreach_add_(denoms, at::Scalar(options.eps()));
    at::_foreach_addcdiv_(b.params, b.exp_avgs, denoms, at::Scalar(-(options.lr() / bias_correction1)));
  }

  /// LibTorch's torch::optim::Adam::step for one parameter, for what the single pass cannot take.
  static void update_per_tensor(torch::Tensor& p, torch::optim::AdamParamState& state,
                                const torch::optim::AdamOptions& options) {
    auto grad = p.grad();
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    const auto step = static_cast<double>(state.step());
    const double bias_correction1 = 1 - std::pow(beta1, step), bias_correction2 = 1 - std::pow(beta2, step);
    if (options.weight_decay() != 0) grad = grad.add(p, options.weight_decay());
    state.exp_avg().mul_(beta1).add_(grad, 1 - beta1);
    state.exp_avg_sq().mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    torch::Tensor denom;
    if (options.amsgrad()) {
      torch::max_out(state.max_exp_avg_sq(), state.max_exp_avg_sq(), state.exp_avg_sq());
      denom = (state.max_exp_avg_sq().sqrt() / std::sqrt(bias_correction2)).add_(options.eps());
    } else {
      denom = (state.exp_avg_sq().sqrt() / std::sqrt(bias_correction2)).add_(options.eps());
    }
    p.addcdiv_(state.exp_avg(), denom, -(options.lr() / bias_correction1));
  }

  std::int64_t fused_ = 0;
  std::int64_t multi_tensor_ = 0;
};

/// Drops every gradient the optimiser's parameters hold instead of filling it with zeros
/// (PyTorch's zero_grad(set_to_none=True)): the next backward() writes fresh gradients rather
/// than adding to zeroed ones, which saves two passes over every parameter per step.
inline void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

/// An Adam over `params`: tpt::fused_adam, or LibTorch's torch::optim::Adam when `fused` is off.
[[nodiscard]] inline std::unique_ptr<torch::optim::Adam> make_adam(std::vector<torch::Tensor> params,
                                                                   const torch::optim::AdamOptions& options,
                                                                   bool fused = true) {
  if (fused) return std::make_unique<fused_adam>(std::move(params), options);
  return std::make_unique<torch::optim::Adam>(std::move(params), options);
}

}  // namespace tpt
