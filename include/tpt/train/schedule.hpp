// The Schedule policy: how long and how fast each phase trains, and when it stops early.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt {

/// Early stopping on a validation metric: stop after `patience` epochs without an improvement
/// of more than `min_delta` in `monitor`, then (optionally) restore the best epoch's weights.
/// patience 0 turns early stopping off (every epoch runs; the best weights can still be restored).
struct early_stopping {
  std::string monitor = "macro_f1";
  std::int64_t patience = 3;
  double min_delta = 0.0;
  bool restore_best = true;
};

/// Learning-rate policy within a phase.
enum class lr_policy { constant, cosine, step };

/// Settings of one phase.
struct phase_settings {
  std::int64_t epochs = 0;           // 0: the phase does not run
  std::int64_t batch_size = 64;      // paper: 64
  double learning_rate = 1e-3;       // paper: Adam, 0.001
  double weight_decay = 0.0;
  lr_policy lr = lr_policy::constant;
  std::int64_t step_size = 5;        // lr_policy::step: epochs between decays
  double gamma = 0.1;                //   and the decay factor
  double min_learning_rate = 0.0;    // lr_policy::cosine: the floor (approached, never reached)
  // Unset: phase 1 augments, phase 2 does not (and then takes the fast path), whichever
  // constructor built the schedule.
  std::optional<bool> augment{};
  early_stopping stop{};
};

/// What the trainer needs of a schedule policy. Phases are numbered 1 and 2.
template <class S>
concept schedule = std::copy_constructible<S> && requires(const S& s, int phase, std::int64_t epoch) {
  { s.epochs(phase) } -> std::convertible_to<std::int64_t>;
  { s.batch_size(phase) } -> std::convertible_to<std::int64_t>;
  { s.learning_rate(phase, epoch) } -> std::convertible_to<double>;
  { s.stopping(phase) } -> std::convertible_to<early_stopping>;
  { s.augment(phase) } -> std::convertible_to<bool>;
  { s.weight_decay(phase) } -> std::convertible_to<double>;
};

/// `static_assert(tpt::require_schedule<S>());`: one error naming tpt::schedule and what it needs.
template <class S>
consteval bool require_schedule() {
  static_assert(schedule<S>,
                "this type is not a tpt::schedule: it must be copyable and have const member "
                "functions taking the phase (1 or 2): `epochs(phase)`, `batch_size(phase)`, "
                "`learning_rate(phase, epoch)`, `stopping(phase)` (a tpt::early_stopping), "
                "`augment(phase)` and `weight_decay(phase)` (see docs/training.md)");
  return true;
}

/// The default Schedule: fixed settings per phase, with constant, cosine or step learning rate.
class fixed_schedule {
 public:
  fixed_schedule() = default;
  fixed_schedule(phase_settings phase1, phase_settings phase2) : phase1_(phase1), phase2_(phase2) {
    validate(phase1_, 1);
    validate(phase2_, 2);
  }

  [[nodiscard]] std::int64_t epochs(int phase) const { return at(phase).epochs; }
  [[nodiscard]] std::int64_t batch_size(int phase) const { return at(phase).batch_size; }
  [[nodiscard]] double weight_decay(int phase) const { return at(phase).weight_decay; }
  [[nodiscard]] bool augment(int phase) const { return at(phase).augment.value_or(phase == 1); }
  [[nodiscard]] early_stopping stopping(int phase) const { return at(phase).stop; }

  /// Learning rate for 0-based `epoch` of `phase`.
  [[nodiscard]] double learning_rate(int phase, std::int64_t epoch) const {
    const auto& p = at(phase);
    switch (p.lr) {
      case lr_policy::constant: return p.learning_rate;
      case lr_policy::step:
        return p.learning_rate * std::pow(p.gamma, static_cast<double>(epoch / std::max<std::int64_t>(p.step_size, 1)));
      case lr_policy::cosine: {
        // PyTorch's CosineAnnealingLR with T_max = epochs, stepped once per epoch: the rate falls
        // towards the floor without reaching it, so the last epoch still trains (a T_max of
        // epochs - 1 would give it the floor, 0 by default: a wasted epoch).
        if (p.epochs <= 1) return p.learning_rate;
        const double t = static_cast<double>(epoch) / static_cast<double>(p.epochs);
        return p.min_learning_rate +
               0.5 * (p.learning_rate - p.min_learning_rate) * (1 + std::cos(std::numbers::pi * t));
      }
    }
    return p.learning_rate;
  }

  [[nodiscard]] const phase_settings& phase1() const noexcept { return phase1_; }
  [[nodiscard]] const phase_settings& phase2() const noexcept { return phase2_; }
  phase_settings& phase1() noexcept { return phase1_; }
  phase_settings& phase2() noexcept { return phase2_; }

 private:
  [[nodiscard]] const phase_settings& at(int phase) const {
    if (phase == 1) return phase1_;
    if (phase == 2) return phase2_;
    throw config_error("phase", fmt::format("must be 1 or 2, got {}", phase));
  }
  static void validate(const phase_settings& p, int phase) {
    const auto name = [phase](std::string_view what) { return fmt::format("phase{}.{}", phase, what); };
    if (p.epochs < 0) throw config_error(name("epochs"), fmt::format("must be >= 0, got {}", p.epochs));
    if (p.batch_size <= 0) throw config_error(name("batch_size"), fmt::format("must be positive, got {}", p.batch_size));
    if (!(p.learning_rate > 0)) throw config_error(name("learning_rate"), fmt::format("must be positive, got {}", p.learning_rate));
    if (p.weight_decay < 0) throw config_error(name("weight_decay"), fmt::format("must be >= 0, got {}", p.weight_decay));
    if (p.stop.patience < 0) throw config_error(name("patience"), fmt::format("must be >= 0, got {}", p.stop.patience));
    if (!(p.stop.min_delta >= 0) || !std::isfinite(p.stop.min_delta))
      throw config_error(name("min_delta"), fmt::format("must be a finite number >= 0, got {}", p.stop.min_delta));
    if (p.lr == lr_policy::step && (p.step_size <= 0 || !(p.gamma > 0)))
      throw config_error(name("lr"), "step decay needs step_size > 0 and gamma > 0");
  }

  phase_settings phase1_{};
  phase_settings phase2_{};
};

/// The paper's five models and their epochs (METHOD.md). The authors picked epochs by hand after
/// the fact; tpt runs these as maxima with early stopping on the validation set.
enum class paper_model { baseline, ros, rus, ros_rus_15k, ros_rus_5k };

[[nodiscard]] inline std::string_view to_string(paper_model m) {
  switch (m) {
    case paper_model::baseline: return "baseline";
    case paper_model::ros: return "ROS";
    case paper_model::rus: return "RUS";
    case paper_model::ros_rus_15k: return "ROS&RUS(15K)";
    case paper_model::ros_rus_5k: return "ROS&RUS(5K)";
  }
  return "?";
}

/// The paper's schedule for one model: Adam 1e-3, batch 64, its phase-1/phase-2 epochs.
[[nodiscard]] inline fixed_schedule paper_schedule(paper_model m) {
  phase_settings p1, p2;
  p2.augment = false;
  switch (m) {
    case paper_model::baseline: p1.epochs = 10; p2.epochs = 0; break;
    case paper_model::ros: p1.epochs = 10; p2.epochs = 7; break;
    case paper_model::rus: p1.epochs = 14; p2.epochs = 14; break;
    case paper_model::ros_rus_15k: p1.epochs = 14; p2.epochs = 8; break;
    case paper_model::ros_rus_5k: p1.epochs = 17; p2.epochs = 14; break;
  }
  return fixed_schedule(p1, p2);
}

}  // namespace tpt

template <>
struct fmt::formatter<tpt::paper_model> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(tpt::paper_model m, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::to_string(m), ctx);
  }
};
