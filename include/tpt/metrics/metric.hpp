// The Metric concept (what a trainer needs from an evaluation metric), the direction of every
// named value a metric reports, and the error metrics throw on bad input.
#pragma once

#include <algorithm>
#include <cctype>
#include <concepts>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"

namespace tpt {

/// Thrown by metrics for input they cannot use: logits of the wrong shape or type, targets
/// outside [0, num_classes), a report asked for before any sample was seen. The message names
/// the argument at fault and what was expected.
class metric_error : public error {
 public:
  using error::error;
};

/// Named scalar values of a metric ("accuracy", "macro_f1", ...). An ordered map so that logs and
/// reports list them in the same order every time.
using metric_scalars = std::map<std::string, double>;

/// What a trainer needs from a metric: reset() before an evaluation pass, update(logits, targets)
/// per batch (tensors on the model's device; accumulate there, no per-sample host copies), and
/// scalars() at the end: named values, any of which a Schedule can monitor for early stopping or
/// model selection (see higher_is_better).
///
/// Optional members the trainer uses when present:
///   - `clone()`: an independent copy. The trainer copies its metric for every evaluate(), so a
///     metric whose copies share state (torch::Tensor members are shared handles) needs it, or an
///     earlier evaluation's result changes with the next one (see copy_metric);
///   - `higher_is_better(name)`: the direction of its own quantities (see higher_is_better);
///   - `scalar_names()`: the names scalars() will report, so that a monitor naming none of them is
///     refused before the first epoch rather than after it.
template <class M>
concept metric = requires(M m, const M& cm, const torch::Tensor& logits, const torch::Tensor& targets) {
  m.reset();
  m.update(logits, targets);
  { cm.scalars() } -> std::convertible_to<metric_scalars>;
};

/// `static_assert(tpt::require_metric<M>());`: one error naming tpt::metric and what it needs.
template <class M>
consteval bool require_metric() {
  static_assert(metric<M>,
                "this type is not a tpt::metric: it needs member functions `reset()`, "
                "`update(const torch::Tensor& logits, const torch::Tensor& targets)` and a const "
                "`scalars()` returning tpt::metric_scalars (see docs/metrics.md)");
  return true;
}

/// A copy of `m` to accumulate on its own: m.clone() when the metric has it, a plain copy otherwise.
template <class M>
[[nodiscard]] M copy_metric(const M& m) {
  if constexpr (requires { { m.clone() } -> std::convertible_to<M>; })
    return m.clone();
  else
    return m;
}

/// The names a metric declares it reports (scalar_names()), when it declares them.
template <class M>
[[nodiscard]] std::optional<std::vector<std::string>> declared_scalar_names(const M& m) {
  if constexpr (requires { { m.scalar_names() } -> std::convertible_to<std::vector<std::string>>; })
    return std::vector<std::string>(m.scalar_names());
  else
    return std::nullopt;
}

namespace detail {
inline std::optional<bool> known_direction(std::string_view name) {
  for (std::string_view prefix : {"val_", "validation_", "train_", "test_"})
    if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix) name.remove_prefix(prefix.size());
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  static constexpr std::string_view higher[] = {
      "accuracy",          "balanced_accuracy",  "macro_precision", "macro_recall",
      "macro_f1",          "weighted_precision", "weighted_recall", "weighted_f1",
  };
  if (std::find(std::begin(higher), std::end(higher), name) != std::end(higher)) return true;
  // topK_accuracy for any K >= 1.
  if (name.size() > 12 && name.substr(0, 3) == "top" && ends_with("_accuracy")) {
    const auto digits = name.substr(3, name.size() - 3 - 9);
    if (std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return true;
  }
  if (name == "loss" || ends_with("_loss") || name == "error" || ends_with("_error")) return false;
  return std::nullopt;
}
}  // namespace detail

/// Whether a larger value of the named quantity is better, for early stopping and model
/// selection. Knows every name tpt's metrics report (all of them higher-is-better: accuracy,
/// topK_accuracy, macro_/weighted_ precision, recall and f1, balanced_accuracy) and the losses a
/// trainer logs ("loss", "*_loss", "*_error": lower is better), with or without a split prefix
/// ("val_", "validation_", "train_", "test_": "val_macro_f1" is higher-is-better). Any other name
/// throws tpt::config_error rather than guessing: monitoring in the wrong direction would silently
/// keep the worst model.
inline bool higher_is_better(std::string_view name) {
  if (const auto known = detail::known_direction(name)) return *known;
  throw config_error("monitor",
                     fmt::format("unknown quantity '{}': cannot tell whether higher is better (known: "
                                 "accuracy, topK_accuracy, macro_/weighted_ precision, recall, f1, "
                                 "balanced_accuracy; loss, *_loss, *_error; optionally prefixed val_, "
                                 "train_, test_); a custom metric can say so with a member "
                                 "higher_is_better(name)",
                                 name));
}

/// The validation scalar an early-stopping monitor names: only the validation set is watched, so
/// "val_macro_f1" and "validation_macro_f1" name "macro_f1"; a training or test quantity
/// ("train_loss", "test_macro_f1") is a tpt::config_error.
inline std::string monitored_quantity(std::string_view monitor) {
  if (monitor.starts_with("train_") || monitor.starts_with("test_"))
    throw config_error("monitor", fmt::format("'{}': early stopping and the best weights follow the validation set; "
                                              "name a validation quantity such as macro_f1 or loss",
                                              monitor));
  for (std::string_view prefix : {"val_", "validation_"})
    if (monitor.size() > prefix.size() && monitor.starts_with(prefix)) return std::string(monitor.substr(prefix.size()));
  return std::string(monitor);
}

/// The direction for a quantity reported by metric `m`. A member `higher_is_better(name)` returning
/// std::optional<bool> is asked first and answers std::nullopt for names it leaves to the rules
/// above; one returning bool cannot decline, so it is asked only for names the rules do not know
/// (the trainer's own "loss", "accuracy" and the other standard names keep their direction).
/// Without the member, the rules above.
template <class M>
bool higher_is_better(const M& m, std::string_view name) {
  if constexpr (requires { { m.higher_is_better(name) } -> std::same_as<std::optional<bool>>; }) {
    if (const std::optional<bool> own = m.higher_is_better(name)) return *own;
    return higher_is_better(name);
  } else if constexpr (requires { { m.higher_is_better(name) } -> std::convertible_to<bool>; }) {
    if (const auto known = detail::known_direction(name)) return *known;
    return m.higher_is_better(name);
  } else {
    return higher_is_better(name);
  }
}

}  // namespace tpt
