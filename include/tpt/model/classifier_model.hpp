// The classifier_model concept (a module with features(x) and a classifier() hook) and parameter
// counting: the seam through which freezers, weight loading and the trainer see any model.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"

namespace tpt {

namespace detail {
/// 11203188 -> "11,203,188": parameter counts are read by people.
inline std::string group_digits(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}
}  // namespace detail

/// A model tpt can train in two phases. `M` is a torch::nn::ModuleHolder (what TORCH_MODULE
/// makes) whose module provides
///   - `forward(x)`: the logits,
///   - `features(x)`: the pooled, flattened backbone output that enters the classifier,
///   - `classifier()`: the final torch::nn::Linear, registered as a submodule,
/// with forward(x) == classifier()(features(x)). The hook is how freezers find the layer phase 2
/// trains and how the trainer's phase-2 fast path computes features once; tpt never guesses the
/// classifier from parameter names.
template <class M>
concept classifier_model =
    requires { typename M::ContainedType; } &&  // first: a module (MyNetImpl) fails here, not in a hard error
    std::derived_from<M, torch::nn::ModuleHolder<typename M::ContainedType>> &&
    std::derived_from<typename M::ContainedType, torch::nn::Module> &&
    requires(M& model, const torch::Tensor& x) {
      { model->forward(x) } -> std::convertible_to<torch::Tensor>;
      { model->features(x) } -> std::convertible_to<torch::Tensor>;
      { model->classifier() } -> std::convertible_to<torch::nn::Linear>;
    };

/// `static_assert(tpt::require_classifier_model<M>());`: one error naming tpt::classifier_model
/// and what it needs, instead of a template-constraint cascade (see tpt::require_sampler).
template <class M>
consteval bool require_classifier_model() {
  if constexpr (std::derived_from<M, torch::nn::Module>) {
    static_assert(!std::derived_from<M, torch::nn::Module>,
                  "this type is not a tpt::classifier_model: it is a module (a MyNetImpl); name its holder, the "
                  "type TORCH_MODULE(MyNet) makes (tpt::ResNet, not tpt::ResNetImpl)");
  } else {
    static_assert(classifier_model<M>,
                  "this type is not a tpt::classifier_model: it needs to be a torch::nn::ModuleHolder "
                  "(TORCH_MODULE) whose module has `forward(x)` and `features(x)` returning torch::Tensor "
                  "and `classifier()` returning its registered torch::nn::Linear (see docs/model.md)");
  }
  return true;
}

/// The model's classifier through its hook, also from a const model.
template <classifier_model M>
torch::nn::Linear classifier_of(const M& model) {
  M holder = model;  // shares the module; lets a user's model offer only a non-const classifier()
  return holder->classifier();
}

/// The qualified name under which the model registered its classifier ("fc" for ResNet), found
/// by identity through the hook. tpt::config_error when the classifier is not a registered
/// submodule (a forgotten register_module), since then no freezer or loader could reach it.
template <classifier_model M>
std::string classifier_name(const M& model) {
  const torch::nn::Linear head = classifier_of(model);
  if (head.is_empty()) throw config_error("classifier", "the model's classifier() is empty (nullptr)");
  for (const auto& item : model->named_modules(/*name_prefix=*/"", /*include_self=*/false))
    if (item.value().get() == head.get()) return item.key();
  throw config_error("classifier",
                     "the Linear returned by classifier() is not a registered submodule of the "
                     "model; register it with register_module");
}

/// How many scalar parameters a model has, and how many of them train (requires_grad).
struct parameter_counts {
  std::int64_t total = 0;
  std::int64_t trainable = 0;

  [[nodiscard]] std::int64_t frozen() const noexcept { return total - trainable; }
  friend bool operator==(const parameter_counts&, const parameter_counts&) = default;
};

inline parameter_counts count_parameters(const torch::nn::Module& module) {
  parameter_counts c;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    c.total += p.numel();
    if (p.requires_grad()) c.trainable += p.numel();
  }
  return c;
}

template <class M>
  requires std::derived_from<M, torch::nn::ModuleHolder<typename M::ContainedType>>
parameter_counts count_parameters(const M& model) {
  return count_parameters(*model);
}

}  // namespace tpt

template <>
struct fmt::formatter<tpt::parameter_counts> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::parameter_counts& c, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{} parameters, {} trainable", tpt::detail::group_digits(c.total),
                          tpt::detail::group_digits(c.trainable));
  }
};
