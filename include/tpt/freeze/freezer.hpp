// The Freezer concept (what phase 2 trains, and how frozen BatchNorm behaves) and the helpers
// policies share: trainable parameters for the optimizer, layers with running statistics.
#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "tpt/model/classifier_model.hpp"

namespace tpt {

/// A freezing policy for model M (a tpt::classifier_model):
///   - `f.apply(model)` marks every parameter trainable or frozen (requires_grad),
///   - `f.train(model)` puts the model in training mode, except that normalisation layers the
///     policy froze stay in inference mode (their running statistics do not move, as in the
///     paper's Keras code) unless the policy keeps them updating (Kang et al.'s cRT),
///   - `f.classifier_only()` is true when only the classifier trains and no running statistic
///     changes: then the backbone is a fixed function and the trainer may compute features once.
template <class F, class M>
concept freezer = classifier_model<M> && requires(F& f, M& model) {
  f.apply(model);
  f.train(model);
  { f.classifier_only() } -> std::convertible_to<bool>;
};

/// `static_assert(tpt::require_freezer<F, M>());`: one error naming tpt::freezer and what it
/// needs (M is checked first, so a bad model is reported as such, not as a bad freezer).
template <class F, class M>
consteval bool require_freezer() {
  if constexpr (!classifier_model<M>) {
    return require_classifier_model<M>();
  } else {
    static_assert(freezer<F, M>,
                  "this type is not a tpt::freezer for the model: it needs member functions "
                  "`apply(model)` (set requires_grad), `train(model)` (training mode, frozen "
                  "BatchNorm as the policy says) and `bool classifier_only()` (see docs/model.md)");
    return true;
  }
}

/// What happens to running statistics of BatchNorm layers whose parameters are frozen.
enum class batchnorm_statistics {
  /// Inference mode: normalise with the running statistics and never update them (the paper).
  frozen,
  /// Training mode: normalise with batch statistics and update the running ones (cRT).
  updating,
};

inline std::string_view to_string(batchnorm_statistics s) noexcept {
  return s == batchnorm_statistics::frozen ? "frozen" : "updating";
}

/// The parameters that train (requires_grad), in registration order: what the phase-2 optimizer
/// must hold, so that nothing else (weight decay, momentum) can ever touch a frozen weight.
inline std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  for (const auto& p : module.parameters(/*recurse=*/true))
    if (p.requires_grad()) out.push_back(p);
  return out;
}

template <class M>
  requires std::derived_from<M, torch::nn::ModuleHolder<typename M::ContainedType>>
std::vector<torch::Tensor> trainable_parameters(const M& model) {
  return trainable_parameters(*model);
}

/// Whether a module keeps running statistics, by PyTorch's convention of a buffer named
/// running_mean: BatchNorm1d/2d/3d, InstanceNorm with track_running_stats, and a user's own
/// layers that follow the convention.
inline bool has_running_statistics(const torch::nn::Module& module) {
  return module.named_buffers(/*recurse=*/false).contains("running_mean");
}

namespace detail {

/// Whether the module called `name` is `scope` or lies inside it ("layer4.1.bn1" in "layer4").
inline bool within(std::string_view name, std::string_view scope) {
  return name == scope || (name.size() > scope.size() && name.starts_with(scope) && name[scope.size()] == '.');
}

/// Set requires_grad on each module's own parameters: false where `frozen(module name)`.
template <class Frozen>
void set_trainable(torch::nn::Module& root, Frozen frozen) {
  for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const bool f = frozen(item.key());
    for (auto& p : item.value()->parameters(/*recurse=*/false)) p.set_requires_grad(!f);
  }
}

/// Training mode, with the frozen modules that keep running statistics in inference mode.
template <class Frozen>
void train_with_frozen_statistics(torch::nn::Module& root, Frozen frozen, batchnorm_statistics statistics) {
  root.train(true);
  if (statistics == batchnorm_statistics::updating) return;
  for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/true))
    if (has_running_statistics(*item.value()) && frozen(item.key())) item.value()->eval();
}

}  // namespace detail

}  // namespace tpt
