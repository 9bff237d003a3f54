// tpt::classification_metrics, the default Metric: accumulates a confusion matrix, top-k hits and
// a count of non-finite logits on the model's device, batch by batch, and turns them into a
// tpt::classification_report with a single small device-to-host copy at the end.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/metrics/classification_report.hpp"
#include "tpt/metrics/metric.hpp"

namespace tpt {

struct classification_metrics_options {
  /// Top-k accuracies to report (top5_accuracy, ...); a k above the class count counts every
  /// sample as a hit, as scikit-learn's top_k_accuracy_score does.
  std::vector<std::int64_t> top_k{5};
  /// Names for the report, one per class; empty names classes "0", "1", ...
  std::vector<std::string> class_names{};
  /// Also keep each sample's predicted and true class (on the device, copied to the host only by
  /// predictions() / targets()): what a paired bootstrap between two models needs.
  bool keep_predictions = false;
};

/// The default Metric. Predictions are the argmax of the logits (never "probability > 0.5, else
/// class 0", the defect of the paper's code). Every update() runs on the logits' device with no
/// host synchronisation; validation that needs the data's values (targets outside
/// [0, num_classes)) is deferred to report() / scalars(), which throw tpt::metric_error then.
///
/// State is replaced, never modified in place, so copies of a metric are independent.
class classification_metrics {
 public:
  explicit classification_metrics(std::int64_t num_classes, std::int64_t top_k = 5)
      : classification_metrics(num_classes, classification_metrics_options{.top_k = {top_k}}) {}

  classification_metrics(std::int64_t num_classes, classification_metrics_options options)
      : num_classes_(num_classes), options_(std::move(options)) {
    if (num_classes_ < 1)
      throw config_error("num_classes", fmt::format("must be at least 1, got {}", num_classes_));
    options_.class_names = [&] {
      try {
        return checked_class_names(std::move(options_.class_names), num_classes_);
      } catch (const metric_error& e) {
        throw config_error("class_names", e.what());
      }
    }();
    std::sort(options_.top_k.begin(), options_.top_k.end());
    for (std::size_t i = 0; i < options_.top_k.size(); ++i) {
      if (options_.top_k[i] < 1)
        throw config_error("top_k", fmt::format("k must be at least 1, got {}", options_.top_k[i]));
      if (i > 0 && options_.top_k[i] == options_.top_k[i - 1])
        throw config_error("top_k", fmt::format("k = {} is listed twice", options_.top_k[i]));
    }
  }

  /// Forget everything seen; the next update() may come from any device.
  void reset() {
    counts_ = top_k_hits_ = nonfinite_ = bad_low_ = bad_high_ = torch::Tensor();
    kept_predictions_.clear();
    kept_targets_.clear();
  }

  /// Add a batch: logits [N, num_classes] (floating point), targets [N] (integer class ids), on
  /// the same device. Throws tpt::metric_error for wrong shapes, types or devices.
  void update(const torch::Tensor& logits, const torch::Tensor& targets) {
    check_batch(logits, targets);
    const std::int64_t k = num_classes_;
    if (logits.size(0) == 0) return;
    torch::NoGradGuard no_grad;
    if (!counts_.defined()) {
      const auto opts = torch::TensorOptions().dtype(torch::kLong).device(logits.device());
      counts_ = torch::zeros({k * k + 1}, opts);
      top_k_hits_ = torch::zeros({static_cast<std::int64_t>(options_.top_k.size())}, opts);
      nonfinite_ = torch::zeros({}, opts);
      bad_low_ = torch::full({}, std::numeric_limits<std::int64_t>::max(), opts);
      bad_high_ = torch::full({}, std::numeric_limits<std::int64_t>::min(), opts);
    } else if (counts_.device() != logits.device()) {
      throw metric_error(fmt::format(
          "classification_metrics: logits on {} but earlier batches were on {}; call reset() "
          "before evaluating on another device",
          logits.device().str(), counts_.device().str()));
    }
    // CPU kernels for argmax/topk do not all take half precision.
    const torch::Tensor scores =
        (logits.device().is_cpu() && (logits.scalar_type() == torch::kHalf ||
                                      logits.scalar_type() == torch::kBFloat16))
            ? logits.to(torch::kFloat)
            : logits;
    const torch::Tensor truth = targets.to(torch::kLong);
    const torch::Tensor predicted = scores.argmax(1);
    const torch::Tensor valid = truth.ge(0).logical_and(truth.lt(k));
    // One bincount fills the confusion matrix; targets outside [0, k) land in the extra last bin
    // instead of corrupting a real cell.
    const torch::Tensor cell = (truth * k + predicted).masked_fill(valid.logical_not(), k * k);
    counts_ = counts_ + torch::bincount(cell, {}, k * k + 1);
    bad_low_ = torch::minimum(bad_low_, truth.masked_fill(valid, std::numeric_limits<std::int64_t>::max()).min());
    bad_high_ = torch::maximum(bad_high_, truth.masked_fill(valid, std::numeric_limits<std::int64_t>::min()).max());
    nonfinite_ = nonfinite_ + scores.isfinite().all(1).logical_not().sum();
    if (!options_.top_k.empty()) {
      const std::int64_t widest = std::min(options_.top_k.back(), k);
      const torch::Tensor hits =
          std::get<1>(scores.topk(widest, 1, /*largest=*/true, /*sorted=*/true)).eq(truth.unsqueeze(1));
      std::vector<torch::Tensor> per_k;
      per_k.reserve(options_.top_k.size());
      for (std::int64_t kk : options_.top_k)
        per_k.push_back(hits.narrow(1, 0, std::min(kk, k)).any(1).logical_and(valid).sum());
      top_k_hits_ = top_k_hits_ + torch::stack(per_k);
    }
    if (options_.keep_predictions) {
      kept_predictions_.push_back(predicted);
      kept_targets_.push_back(truth);
    }
  }

  /// The full report: one device-to-host copy of (num_classes^2 + a few) integers.
  /// Throws tpt::metric_error when nothing was accumulated or some target lay outside
  /// [0, num_classes).
  [[nodiscard]] classification_report report() const {
    if (!counts_.defined())
      throw metric_error(
          "classification_metrics: no samples: report() needs at least one update() with a "
          "non-empty batch since the last reset()");
    const std::int64_t k = num_classes_;
    const torch::Tensor host =
        torch::cat({counts_, top_k_hits_, nonfinite_.view({1}), bad_low_.view({1}), bad_high_.view({1})})
            .to(torch::kCPU)
            .contiguous();
    const std::int64_t* v = host.data_ptr<std::int64_t>();
    const auto cells = static_cast<std::size_t>(k * k);
    const std::int64_t out_of_range = v[cells];
    const std::size_t extra = cells + 1 + options_.top_k.size();
    if (out_of_range > 0)
      throw metric_error(fmt::format(
          "classification_metrics: {} target(s) outside [0, {}) (values from {} to {}); targets "
          "must be class ids of this {}-class problem",
          out_of_range, k, v[extra + 1], v[extra + 2], k));
    std::map<std::int64_t, std::int64_t> top_k_correct;
    for (std::size_t i = 0; i < options_.top_k.size(); ++i)
      top_k_correct[options_.top_k[i]] = v[cells + 1 + i];
    return classification_report::from_confusion(std::vector<std::int64_t>(v, v + cells), k,
                                                 options_.class_names, top_k_correct, v[extra]);
  }

  /// report().scalars(): accuracy, topK_accuracy, balanced_accuracy, macro_/weighted_ precision,
  /// recall, f1. All are higher-is-better (tpt::higher_is_better).
  [[nodiscard]] metric_scalars scalars() const { return report().scalars(); }

  /// The confusion matrix so far, [num_classes, num_classes] int64 on the device (rows: true
  /// class), or an undefined tensor before the first update.
  [[nodiscard]] torch::Tensor confusion_matrix() const {
    if (!counts_.defined()) return {};
    return counts_.narrow(0, 0, num_classes_ * num_classes_).view({num_classes_, num_classes_});
  }

  /// Each sample's predicted class (argmax) in update order; needs keep_predictions.
  [[nodiscard]] std::vector<std::int64_t> predictions() const { return gather(kept_predictions_, "predictions"); }
  /// Each sample's target in update order; needs keep_predictions.
  [[nodiscard]] std::vector<std::int64_t> targets() const { return gather(kept_targets_, "targets"); }

  [[nodiscard]] std::int64_t num_classes() const noexcept { return num_classes_; }
  [[nodiscard]] const classification_metrics_options& options() const noexcept { return options_; }

 private:
  void check_batch(const torch::Tensor& logits, const torch::Tensor& targets) const {
    if (!logits.defined() || !targets.defined())
      throw metric_error("classification_metrics::update: logits and targets must be defined tensors");
    if (logits.dim() != 2 || logits.size(1) != num_classes_)
      throw metric_error(fmt::format(
          "classification_metrics::update: logits must have shape [batch, {}] (one score per "
          "class), got {}",
          num_classes_, logits.sizes()));
    if (!logits.is_floating_point())
      throw metric_error(fmt::format(
          "classification_metrics::update: logits must be floating point, got {}",
          std::string(c10::toString(logits.scalar_type()))));
    if (targets.dim() != 1 || targets.size(0) != logits.size(0))
      throw metric_error(fmt::format(
          "classification_metrics::update: targets must have shape [{}] (one class id per row of "
          "logits), got {}",
          logits.size(0), targets.sizes()));
    if (targets.is_floating_point() || targets.is_complex() || targets.scalar_type() == torch::kBool)
      throw metric_error(fmt::format(
          "classification_metrics::update: targets must be integer class ids, got {}",
          std::string(c10::toString(targets.scalar_type()))));
    if (targets.device() != logits.device())
      throw metric_error(fmt::format(
          "classification_metrics::update: logits on {} but targets on {}; both must be on the "
          "model's device",
          logits.device().str(), targets.device().str()));
  }

  std::vector<std::int64_t> gather(const std::vector<torch::Tensor>& parts, const char* what) const {
    if (!options_.keep_predictions)
      throw config_error("keep_predictions",
                         fmt::format("{}() needs classification_metrics_options::keep_predictions = true", what));
    if (parts.empty()) return {};
    const torch::Tensor all = torch::cat(parts).to(torch::kCPU).contiguous();
    const std::int64_t* p = all.data_ptr<std::int64_t>();
    return std::vector<std::int64_t>(p, p + all.numel());
  }

  std::int64_t num_classes_;
  classification_metrics_options options_;
  torch::Tensor counts_;      // [K*K + 1]: the confusion matrix, then targets outside [0, K)
  torch::Tensor top_k_hits_;  // [len(top_k)]
  torch::Tensor nonfinite_;   // []
  torch::Tensor bad_low_, bad_high_;  // [] smallest / largest out-of-range target seen
  std::vector<torch::Tensor> kept_predictions_, kept_targets_;
};

static_assert(metric<classification_metrics>);

}  // namespace tpt
