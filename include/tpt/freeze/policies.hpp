// The freezing policies: nothing (phase 1, the baseline), everything but the classifier (the
// paper's phase 2), and everything before a named block (e.g. keep layer4 trainable).
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/freeze/freezer.hpp"
#include "tpt/model/classifier_model.hpp"

namespace tpt {

/// Every parameter trains and every BatchNorm layer is in training mode: phase 1 and the
/// single-phase baseline.
struct freeze_nothing {
  template <classifier_model M>
  void apply(M& model) const {
    detail::set_trainable(*model, [](const std::string&) { return false; });
  }

  template <classifier_model M>
  void train(M& model) const {
    model->train(true);
  }

  [[nodiscard]] bool classifier_only() const noexcept { return false; }
};

/// The paper's phase 2: only the classifier (found through the model's classifier() hook)
/// trains: 512 x 52 + 52 = 26,676 parameters of ResNet-18 with 52 classes. By default every
/// BatchNorm layer stays in inference mode during training, so its running statistics are those
/// phase 1 left (the paper's Keras code); `batchnorm = updating` lets them follow the phase-2
/// data while their weights stay frozen (Kang et al.'s classifier re-training, cRT).
struct freeze_all_but_classifier {
  batchnorm_statistics batchnorm = batchnorm_statistics::frozen;

  template <classifier_model M>
  void apply(M& model) const {
    detail::set_trainable(*model, frozen(model));
  }

  template <classifier_model M>
  void train(M& model) const {
    detail::train_with_frozen_statistics(*model, frozen(model), batchnorm);
  }

  /// True unless BatchNorm statistics update: then features(x) would change during phase 2.
  [[nodiscard]] bool classifier_only() const noexcept { return batchnorm == batchnorm_statistics::frozen; }

 private:
  template <classifier_model M>
  static auto frozen(const M& model) {
    return [head = classifier_name(model)](const std::string& name) { return !detail::within(name, head); };
  }
};

/// Fine-tuning the top of the network: every module registered before `first_trainable` is
/// frozen; that module, everything registered after it and the classifier train. For ResNet,
/// {.first_trainable = "layer4"} freezes conv1, bn1 and layer1-3 and trains layer4 and fc; a
/// qualified name such as "layer4.1" starts inside a stage. Registration order is the order of
/// named_modules(), which for tpt::ResNet and torchvision is the order data flows.
struct freeze_up_to {
  std::string first_trainable{};
  batchnorm_statistics batchnorm = batchnorm_statistics::frozen;

  template <classifier_model M>
  void apply(M& model) const {
    detail::set_trainable(*model, frozen(model));
  }

  template <classifier_model M>
  void train(M& model) const {
    detail::train_with_frozen_statistics(*model, frozen(model), batchnorm);
  }

  /// Always false: blocks before the classifier train (use freeze_all_but_classifier for the
  /// classifier alone).
  [[nodiscard]] bool classifier_only() const noexcept { return false; }

 private:
  template <classifier_model M>
  auto frozen(const M& model) const {
    if (first_trainable.empty()) throw config_error("first_trainable", "name the first module that trains");
    const std::string head = classifier_name(model);
    std::unordered_set<std::string> frozen_names;
    bool reached = false;
    std::vector<std::string> top_level;
    for (const auto& item : model->named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
      const std::string& name = item.key();
      if (!name.empty() && name.find('.') == std::string::npos) top_level.push_back(name);
      if (name == first_trainable) reached = true;
      if (!reached && !detail::within(name, head)) frozen_names.insert(name);
    }
    if (!reached)
      throw config_error("first_trainable", fmt::format("the model has no module '{}'; its top-level modules "
                                                        "are {}", first_trainable, fmt::join(top_level, ", ")));
    return [names = std::move(frozen_names)](const std::string& name) { return names.contains(name); };
  }
};

}  // namespace tpt

template <>
struct fmt::formatter<tpt::freeze_nothing> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::freeze_nothing&, Context& ctx) const {
    return fmt::format_to(ctx.out(), "freeze nothing");
  }
};

template <>
struct fmt::formatter<tpt::freeze_all_but_classifier> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::freeze_all_but_classifier& f, Context& ctx) const {
    return fmt::format_to(ctx.out(), "freeze all but the classifier (BatchNorm statistics {})",
                          tpt::to_string(f.batchnorm));
  }
};

template <>
struct fmt::formatter<tpt::freeze_up_to> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::freeze_up_to& f, Context& ctx) const {
    return fmt::format_to(ctx.out(), "freeze up to {} (BatchNorm statistics {})", f.first_trainable,
                          tpt::to_string(f.batchnorm));
  }
};
