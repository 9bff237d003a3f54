// Losses for either training phase: cross-entropy (the paper) and the algorithm-level methods the
// paper names as future work (class weights, focal, balanced softmax, logit adjustment).
//
// A loss is a small policy type: `l(logits, targets)` gives the mean loss of a batch. Losses that
// depend on the class distribution provide `l.set_class_counts(counts)`; the trainer calls it at
// the start of every phase with that phase's training distribution (the rebalanced plan in
// phase 1, the original data in phase 2), so a prior-aware loss always sees the prior it trains
// under.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"

namespace tpt {

/// What the trainer needs of a loss policy.
template <class L>
concept loss = std::copy_constructible<L> &&
               requires(L& l, const torch::Tensor& logits, const torch::Tensor& targets) {
                 { l(logits, targets) } -> std::convertible_to<torch::Tensor>;
                 { l.name() } -> std::convertible_to<std::string>;
               };

/// `static_assert(tpt::require_loss<L>());`: one error naming tpt::loss and what it needs.
template <class L>
consteval bool require_loss() {
  static_assert(loss<L>,
                "this type is not a tpt::loss: it must be copyable, callable as "
                "`l(logits, targets)` returning the batch's mean loss as a torch::Tensor, and have "
                "`name()` returning a std::string (see docs/training.md)");
  return true;
}

/// Losses that adapt to the training distribution of the phase.
template <class L>
concept prior_aware_loss = loss<L> && requires(L& l, std::span<const std::int64_t> counts) {
  l.set_class_counts(counts);
};

namespace detail {

/// Class prior n_c / N as a float tensor; empty classes get a tiny prior instead of zero so
/// log-prior terms stay finite.
inline torch::Tensor class_prior(std::span<const std::int64_t> counts) {
  if (counts.empty()) throw config_error("class counts", "empty: the loss needs one count per class");
  std::vector<double> p(counts.size());
  double total = 0;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] < 0)
      throw config_error("class counts", fmt::format("class {} has a negative count {}", c, counts[c]));
    total += static_cast<double>(counts[c]);
  }
  if (total <= 0) throw config_error("class counts", "all classes are empty");
  for (std::size_t c = 0; c < counts.size(); ++c)
    p[c] = std::max(static_cast<double>(counts[c]) / total, 1e-12);
  return torch::tensor(p, torch::kFloat32);
}

inline void check_batch(const torch::Tensor& logits, const torch::Tensor& targets,
                        std::int64_t expected_classes, const char* who) {
  if (logits.dim() != 2 || targets.dim() != 1 || logits.size(0) != targets.size(0))
    throw config_error(who, fmt::format("expected logits N x C and targets N, got {} and {}",
                                        logits.sizes(), targets.sizes()));
  if (expected_classes > 0 && logits.size(1) != expected_classes)
    throw config_error(who, fmt::format("logits have {} classes but the class counts have {}",
                                        logits.size(1), expected_classes));
}

inline torch::Tensor require_prior(const torch::Tensor& prior, const char* who) {
  if (!prior.defined())
    throw config_error(who, "class counts not set: call set_class_counts() (the trainer does this each phase)");
  return prior;
}

/// A per-class tensor kept on the host (class weights, a log prior) with a copy on the device
/// and dtype of the logits it meets, made once: a host-to-device copy in every batch would make
/// the CPU wait for the GPU at every step.
class per_class_tensor {
 public:
  per_class_tensor& operator=(torch::Tensor host) {
    host_ = std::move(host);
    device_ = torch::Tensor();
    return *this;
  }
  [[nodiscard]] std::int64_t size() const { return host_.defined() ? host_.size(0) : -1; }
  [[nodiscard]] const torch::Tensor& host() const noexcept { return host_; }
  /// The tensor on `logits`' device and dtype; throws config_error naming `who` when unset.
  [[nodiscard]] const torch::Tensor& like(const torch::Tensor& logits, const char* who) const {
    (void)require_prior(host_, who);
    if (!device_.defined() || device_.device() != logits.device() || device_.scalar_type() != logits.scalar_type())
      device_ = host_.to(logits.device(), logits.scalar_type());
    return device_;
  }

 private:
  torch::Tensor host_;
  mutable torch::Tensor device_;
};

}  // namespace detail

/// Softmax cross-entropy, the paper's loss.
struct cross_entropy {
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets) const {
    return torch::nn::functional::cross_entropy(logits, targets);
  }
  [[nodiscard]] std::string name() const { return "cross_entropy"; }
};

/// Cross-entropy with per-class weights from the phase's distribution: w_c = (N / (C n_c))^power
/// (power 1: scikit-learn's "balanced" weights; 0.5: the square-root variant). Classes absent
/// from the phase get weight 0. The batch loss is the weighted mean, as torch's weighted CE.
struct class_weighted_cross_entropy {
  double power = 1.0;

  explicit class_weighted_cross_entropy(double power_ = 1.0) : power(power_) {}

  void set_class_counts(std::span<const std::int64_t> counts) {
    const auto n = static_cast<double>(counts.size());
    double total = 0;
    for (auto c : counts) total += static_cast<double>(c);
    if (total <= 0) throw config_error("class counts", "all classes are empty");
    std::vector<float> w(counts.size());
    for (std::size_t c = 0; c < counts.size(); ++c)
      w[c] = counts[c] > 0 ? static_cast<float>(std::pow(total / (n * static_cast<double>(counts[c])), power)) : 0.0f;
    weights_ = torch::tensor(w);
  }
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets) const {
    detail::check_batch(logits, targets, weights_.size(), "class_weighted_cross_entropy");
    return torch::nn::functional::cross_entropy(
        logits, targets,
        torch::nn::functional::CrossEntropyFuncOptions().weight(weights_.like(logits, "class_weighted_cross_entropy")));
  }
  [[nodiscard]] std::string name() const { return power == 1.0 ? "weighted_ce" : fmt::format("weighted_ce(p={:g})", power); }
  [[nodiscard]] const torch::Tensor& weights() const noexcept { return weights_.host(); }

 private:
  detail::per_class_tensor weights_;
};

/// Focal loss (Lin et al. 2017): mean of -(1 - p_t)^gamma log p_t. gamma = 0 is cross-entropy.
struct focal_loss {
  double gamma = 2.0;

  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets) const {
    detail::check_batch(logits, targets, -1, "focal_loss");
    const auto log_p = torch::log_softmax(logits, 1).gather(1, targets.unsqueeze(1)).squeeze(1);
    // 1 - p_t as -expm1(log p_t): exact where p_t is near 1. The floor keeps the gradient of
    // (1 - p_t)^gamma finite for 0 < gamma < 1 when an example is so confidently right that
    // 1 - p_t is 0 in float (gamma (1 - p_t)^(gamma - 1) would be inf, and inf * 0 NaN).
    const auto q = (-torch::expm1(log_p)).clamp_min(1e-30);
    return (-q.pow(gamma) * log_p).mean();
  }
  [[nodiscard]] std::string name() const { return fmt::format("focal(gamma={:g})", gamma); }
};

/// Logit-adjusted cross-entropy (Menon et al. 2021): CE(logits + tau log prior, y). Training
/// against the prior makes the raw logits estimate balanced posteriors.
struct logit_adjusted_cross_entropy {
  double tau = 1.0;

  explicit logit_adjusted_cross_entropy(double tau_ = 1.0) : tau(tau_) {}

  void set_class_counts(std::span<const std::int64_t> counts) { log_prior_ = detail::class_prior(counts).log(); }
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets) const {
    detail::check_batch(logits, targets, log_prior_.size(), "logit_adjusted_cross_entropy");
    return torch::nn::functional::cross_entropy(logits + tau * log_prior_.like(logits, "logit_adjusted_cross_entropy"),
                                                targets);
  }
  [[nodiscard]] std::string name() const { return fmt::format("logit_adjusted(tau={:g})", tau); }

 private:
  detail::per_class_tensor log_prior_;
};

/// Balanced softmax (Ren et al. 2020): softmax over logits + log prior, i.e. logit adjustment
/// with tau = 1; its own name so reports say which method ran.
struct balanced_softmax : logit_adjusted_cross_entropy {
  balanced_softmax() : logit_adjusted_cross_entropy(1.0) {}
  [[nodiscard]] std::string name() const { return "balanced_softmax"; }
};

// ---------------------------------------------------------------------------------------------
// Post-hoc corrections, applied after training at evaluation time.

/// Post-hoc logit adjustment (Menon et al. 2021): predict argmax(logits - tau log prior), with
/// the prior of the data the classifier was last trained on. A class without training examples
/// gets no boost (its log prior is taken as 0, the most frequent a class can be): with the floor
/// of a tiny prior it would get the largest boost of all (+27.6 tau) and win every image, though
/// the classifier never saw it (a rare species whose few events all fell into validation or test).
struct posthoc_logit_adjustment {
  double tau = 1.0;

  explicit posthoc_logit_adjustment(double tau_ = 1.0) : tau(tau_) {
    if (!std::isfinite(tau) || tau < 0)
      throw config_error("posthoc_logit_adjustment", fmt::format("tau must be a finite number >= 0, got {}", tau));
  }

  void fit(std::span<const std::int64_t> counts) {
    auto log_prior = detail::class_prior(counts).log();
    for (std::size_t c = 0; c < counts.size(); ++c)
      if (counts[c] == 0) log_prior[static_cast<std::int64_t>(c)] = 0.0;
    log_prior_ = log_prior;
  }
  [[nodiscard]] torch::Tensor operator()(const torch::Tensor& logits) const {
    const auto& lp = log_prior_.like(logits, "posthoc_logit_adjustment");
    if (logits.size(-1) != lp.size(0))
      throw config_error("posthoc_logit_adjustment",
                         fmt::format("logits have {} classes, prior has {}", logits.size(-1), lp.size(0)));
    return logits - tau * lp;
  }
  [[nodiscard]] std::string name() const { return fmt::format("posthoc_la(tau={:g})", tau); }

 private:
  detail::per_class_tensor log_prior_;
};

/// tau-normalised classifier (Kang et al. 2020): each class's weight row is divided by its norm
/// to the power tau, which evens out the larger norms that frequent classes acquire. The bias is
/// zeroed by default, as in the authors' reference (logits = features . W~^T, no bias): a trained
/// bias also favours the frequent classes, and keeping it would undo part of the balancing. Set
/// zero_bias = false to keep it (as some later implementations do).
struct tau_normalization {
  double tau = 1.0;
  bool zero_bias = true;

  void apply(torch::nn::Linear& classifier) const {
    torch::NoGradGuard no_grad;
    auto& w = classifier->weight;
    const auto norms = w.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
    w.div_(norms.pow(tau));
    if (zero_bias && classifier->bias.defined()) classifier->bias.zero_();
  }
  [[nodiscard]] std::string name() const { return fmt::format("tau_norm(tau={:g})", tau); }
};

}  // namespace tpt

namespace tpt {

/// One of tpt's losses chosen at run time (command lines, config files, the experiment grid), as
/// a single type so a driver instantiates its trainer once rather than once per loss.
class loss_choice {
 public:
  using variant = std::variant<cross_entropy, class_weighted_cross_entropy, focal_loss, balanced_softmax,
                               logit_adjusted_cross_entropy>;

  loss_choice() = default;
  template <class L>
    requires std::constructible_from<variant, L>
  loss_choice(L l) : loss_(std::move(l)) {}  // NOLINT: implicit by design

  /// Parse "ce", "weighted_ce[:power]", "focal[:gamma]", "balanced_softmax", "logit_adjusted[:tau]".
  static loss_choice parse(std::string_view spec) {
    const auto colon = spec.find(':');
    const std::string_view name = spec.substr(0, colon);
    std::optional<double> arg;
    if (colon != std::string_view::npos) {
      const std::string text(spec.substr(colon + 1));
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
        throw config_error("loss", fmt::format("'{}': the parameter after ':' must be a number", spec));
      arg = v;
    }
    auto no_arg = [&](loss_choice l) {
      if (arg) throw config_error("loss", fmt::format("'{}' takes no parameter", name));
      return l;
    };
    if (name == "ce" || name == "cross_entropy") return no_arg(cross_entropy{});
    if (arg && *arg < 0)
      throw config_error("loss", fmt::format("'{}': {} must be >= 0 (a negative one turns the loss's correction "
                                             "around)", spec, name == "focal" ? "gamma" : name == "weighted_ce" ? "power" : "tau"));
    if (name == "weighted_ce") return class_weighted_cross_entropy(arg.value_or(1.0));
    if (name == "focal") {
      return focal_loss{arg.value_or(2.0)};
    }
    if (name == "balanced_softmax") return no_arg(balanced_softmax{});
    if (name == "logit_adjusted" || name == "la") return logit_adjusted_cross_entropy(arg.value_or(1.0));
    throw config_error("loss", fmt::format("unknown loss '{}' (expected ce, weighted_ce[:power], focal[:gamma], "
                                           "balanced_softmax or logit_adjusted[:tau])", spec));
  }

  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets) const {
    return std::visit([&](const auto& l) { return torch::Tensor(l(logits, targets)); }, loss_);
  }
  void set_class_counts(std::span<const std::int64_t> counts) {
    std::visit([&](auto& l) {
      if constexpr (prior_aware_loss<std::decay_t<decltype(l)>>) l.set_class_counts(counts);
    }, loss_);
  }
  [[nodiscard]] std::string name() const {
    return std::visit([](const auto& l) { return std::string(l.name()); }, loss_);
  }
  [[nodiscard]] const variant& get() const noexcept { return loss_; }

 private:
  variant loss_{cross_entropy{}};
};

}  // namespace tpt
