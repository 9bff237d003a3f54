// tpt::classification_metrics, the default Metric: accumulates a confusion matrix, top-k hits and
// a count of non-finite logits where the logits are (on an accelerator with tensor operations and
// no host synchronisation; on the CPU by reading the logits in place), and turns them into a
// tpt::classification_report with one small device-to-host copy at the end.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/metrics/classification_report.hpp"
#include "tpt/metrics/metric.hpp"

namespace tpt {

/// How classification_metrics accumulates a batch.
enum class accumulation {
  automatic,   // host_loop for CPU tensors, tensor_ops on any other device
  tensor_ops,  // argmax, comparisons and an accumulating index_put as tensor operations on the logits' device
  host_loop    // a plain loop over the rows of CPU logits (about 40x faster than tensor_ops on a CPU)
};

struct classification_metrics_options {
  /// Top-k accuracies to report (top5_accuracy, ...); a k at or above the class count counts
  /// every sample as a hit, as scikit-learn's top_k_accuracy_score does.
  std::vector<std::int64_t> top_k{5};
  /// Names for the report, one per class; empty names classes "0", "1", ...
  std::vector<std::string> class_names{};
  /// Also keep each sample's predicted and true class (on the device, copied to the host only by
  /// predictions() / targets()): what a paired bootstrap between two models needs.
  bool keep_predictions = false;
  accumulation method = accumulation::automatic;
};

/// The default Metric.
///
/// The prediction is the argmax of the logits (never "probability > 0.5, else class 0", the
/// defect of the paper's code); equal scores go to the lowest class id, and so does top-k: a
/// sample is a top-k hit when fewer than k classes score above its true class, counting classes
/// with an equal score only when their id is lower. (scikit-learn's top_k_accuracy_score breaks
/// exact ties the other way; they are rare with real logits.)
///
/// On an accelerator, update() issues tensor operations only and never waits for the device;
/// checks that need the data's values (targets outside [0, num_classes)) are deferred to
/// report() / scalars(), which throw tpt::metric_error then. Logits with NaN or infinity are
/// counted (classification_report::nonfinite_samples) rather than refused: a diverged model
/// should show up in the report, not end the run.
///
/// Copies of a metric are independent.
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
    device_.reset();
    host_ = {};
    tensors_ = {};
    kept_.clear();
  }

  /// Add a batch: logits [N, num_classes] (floating point), targets [N] (integer class ids), on
  /// the same device. Throws tpt::metric_error for wrong shapes, types or devices.
  void update(const torch::Tensor& logits, const torch::Tensor& targets) {
    check_batch(logits, targets);
    if (logits.size(0) == 0) return;
    if (!device_) {
      device_ = logits.device();
    } else if (*device_ != logits.device()) {
      throw metric_error(fmt::format(
          "classification_metrics: logits on {} but earlier batches were on {}; call reset() "
          "before evaluating on another device",
          logits.device().str(), device_->str()));
    }
    torch::NoGradGuard no_grad;
    const bool cpu = logits.device().is_cpu();
    if (options_.method == accumulation::host_loop && !cpu)
      throw metric_error(fmt::format("classification_metrics: accumulation::host_loop needs CPU tensors, got {}",
                                     logits.device().str()));
    if (cpu && options_.method != accumulation::tensor_ops)
      update_host(logits, targets);
    else
      update_tensors(logits, targets);
  }

  /// The full report. Throws tpt::metric_error when nothing was accumulated or some target lay
  /// outside [0, num_classes).
  [[nodiscard]] classification_report report() const {
    const host_state s = gathered();
    const std::int64_t k = num_classes_;
    if (s.out_of_range > 0)
      throw metric_error(fmt::format(
          "classification_metrics: {} target(s) outside [0, {}) (values from {} to {}); targets "
          "must be class ids of this {}-class problem",
          s.out_of_range, k, s.bad_low, s.bad_high, k));
    if (!device_)
      throw metric_error(
          "classification_metrics: no samples: report() needs at least one update() with a "
          "non-empty batch since the last reset()");
    std::map<std::int64_t, std::int64_t> top_k_correct;
    for (std::size_t i = 0; i < options_.top_k.size(); ++i) top_k_correct[options_.top_k[i]] = s.top_k_hits[i];
    return classification_report::from_confusion(s.confusion, k, options_.class_names, top_k_correct, s.nonfinite);
  }

  /// report().scalars(): accuracy, topK_accuracy, balanced_accuracy, macro_/weighted_ precision,
  /// recall, f1. All are higher-is-better (tpt::higher_is_better).
  [[nodiscard]] metric_scalars scalars() const { return report().scalars(); }

  /// The names scalars() reports, known before any sample is seen (so a trainer can check its
  /// early-stopping monitor before training).
  [[nodiscard]] std::vector<std::string> scalar_names() const {
    std::vector<std::string> names{"accuracy",        "balanced_accuracy",  "macro_precision",
                                   "macro_recall",    "macro_f1",           "weighted_precision",
                                   "weighted_recall", "weighted_f1"};
    for (std::int64_t k : options_.top_k) names.push_back(fmt::format("top{}_accuracy", k));
    return names;
  }

  /// The confusion matrix so far, [num_classes, num_classes] int64 (rows: true class) on the
  /// device of the batches, or an undefined tensor before the first update.
  [[nodiscard]] torch::Tensor confusion_matrix() const {
    if (!device_) return {};
    if (tensors_.counts.defined())
      return tensors_.counts.narrow(0, 0, num_classes_ * num_classes_).view({num_classes_, num_classes_});
    return torch::tensor(host_.confusion, torch::kLong).view({num_classes_, num_classes_}).to(*device_);
  }

  /// Each sample's predicted class (argmax) in update order; needs keep_predictions.
  [[nodiscard]] std::vector<std::int64_t> predictions() const { return gather_kept(0, "predictions"); }
  /// Each sample's target in update order; needs keep_predictions.
  [[nodiscard]] std::vector<std::int64_t> targets() const { return gather_kept(1, "targets"); }

  [[nodiscard]] std::int64_t num_classes() const noexcept { return num_classes_; }
  [[nodiscard]] const classification_metrics_options& options() const noexcept { return options_; }

 private:
  struct host_state {
    std::vector<std::int64_t> confusion;   // K*K
    std::vector<std::int64_t> top_k_hits;  // per k
    std::int64_t nonfinite = 0, out_of_range = 0;
    std::int64_t bad_low = std::numeric_limits<std::int64_t>::max();
    std::int64_t bad_high = std::numeric_limits<std::int64_t>::min();
  };
  // On an accelerator: replaced, never modified in place, so copies of the metric stay independent.
  struct tensor_state {
    torch::Tensor counts;      // [K*K + 1]: the confusion matrix, then targets outside [0, K)
    torch::Tensor top_k_hits;  // [len(top_k)]
    torch::Tensor nonfinite;   // []
    torch::Tensor bad_low, bad_high;  // [] smallest / largest out-of-range target
  };
  // Kept predictions and targets: host vectors or device tensors, in update order.
  struct kept_batch {
    torch::Tensor predicted, truth;
    std::vector<std::int64_t> host_predicted, host_truth;
  };

  void ensure_host_state() {
    if (host_.confusion.empty()) {
      host_.confusion.assign(static_cast<std::size_t>(num_classes_ * num_classes_), 0);
      host_.top_k_hits.assign(options_.top_k.size(), 0);
    }
  }

  template <class T>
  void host_rows(const torch::Tensor& scores, const std::int64_t* truth, std::int64_t n, kept_batch* kept) {
    const std::int64_t k = num_classes_;
    const T* data = scores.data_ptr<T>();
    for (std::int64_t i = 0; i < n; ++i) {
      const T* row = data + i * k;
      // x - x is 0 for a finite x and NaN otherwise: a branch-free pass the compiler vectorises
      // finds non-finite rows.
      unsigned nonfinite = 0;
      for (std::int64_t j = 0; j < k; ++j) nonfinite |= (row[j] - row[j]) != 0;
      std::int64_t best = 0;
      if (nonfinite == 0) {
        for (std::int64_t j = 1; j < k; ++j)
          if (row[j] > row[best]) best = j;  // the first maximum, as torch's argmax
      } else {
        ++host_.nonfinite;
        for (std::int64_t j = 0; j < k; ++j)  // torch's argmax ranks NaN above everything
          if (std::isnan(static_cast<double>(row[j]))) {
            best = j;
            break;
          } else if (row[j] > row[best]) {
            best = j;
          }
      }
      const std::int64_t t = truth[i];
      if (kept) kept->host_predicted.push_back(best);
      if (t < 0 || t >= k) {
        ++host_.out_of_range;
        host_.bad_low = std::min(host_.bad_low, t);
        host_.bad_high = std::max(host_.bad_high, t);
        continue;
      }
      ++host_.confusion[static_cast<std::size_t>(t * k + best)];
      if (!options_.top_k.empty()) {
        // Rank of the true class: classes scoring above it, plus equal scores with a lower id.
        const T s = row[t];
        std::int64_t rank = 0;
        for (std::int64_t j = 0; j < t; ++j) rank += row[j] >= s;
        for (std::int64_t j = t + 1; j < k; ++j) rank += row[j] > s;
        for (std::size_t q = 0; q < options_.top_k.size(); ++q) host_.top_k_hits[q] += rank < options_.top_k[q];
      }
    }
  }

  void update_host(const torch::Tensor& logits, const torch::Tensor& targets) {
    ensure_host_state();
    const auto type = logits.scalar_type();
    const torch::Tensor scores =
        (type == torch::kDouble || type == torch::kFloat ? logits : logits.to(torch::kFloat)).contiguous();
    const torch::Tensor truth = targets.to(torch::kLong).contiguous();
    kept_batch* kept = nullptr;
    if (options_.keep_predictions) {
      kept_.emplace_back();
      kept = &kept_.back();
      kept->host_truth.assign(truth.data_ptr<std::int64_t>(), truth.data_ptr<std::int64_t>() + truth.numel());
    }
    if (scores.scalar_type() == torch::kDouble)
      host_rows<double>(scores, truth.data_ptr<std::int64_t>(), truth.numel(), kept);
    else
      host_rows<float>(scores, truth.data_ptr<std::int64_t>(), truth.numel(), kept);
  }

  void update_tensors(const torch::Tensor& logits, const torch::Tensor& targets) {
    const std::int64_t k = num_classes_;
    auto& s = tensors_;
    if (!s.counts.defined()) {
      const auto opts = torch::TensorOptions().dtype(torch::kLong).device(logits.device());
      s.counts = torch::zeros({k * k + 1}, opts);
      s.top_k_hits = torch::zeros({static_cast<std::int64_t>(options_.top_k.size())}, opts);
      s.nonfinite = torch::zeros({}, opts);
      s.bad_low = torch::full({}, std::numeric_limits<std::int64_t>::max(), opts);
      s.bad_high = torch::full({}, std::numeric_limits<std::int64_t>::min(), opts);
    }
    // CPU kernels (tensor_ops forced on a CPU) do not all take half precision.
    const torch::Tensor scores =
        (logits.device().is_cpu() && (logits.scalar_type() == torch::kHalf || logits.scalar_type() == torch::kBFloat16))
            ? logits.to(torch::kFloat)
            : logits;
    const torch::Tensor truth = targets.to(torch::kLong);
    const torch::Tensor predicted = scores.argmax(1);
    const torch::Tensor valid = truth.ge(0).logical_and(truth.lt(k));
    // One accumulating index_put fills the confusion matrix; targets outside [0, k) land in the
    // extra last cell instead of corrupting a real one. Not bincount: on CUDA it copies the
    // input's minimum and maximum to the host, a synchronisation per batch. index_put with
    // accumulate is also the variant that stays allowed under deterministic algorithms.
    const torch::Tensor cell = (truth * k + predicted).masked_fill(valid.logical_not(), k * k);
    s.counts = s.counts.index_put({cell}, torch::ones_like(cell), /*accumulate=*/true);
    s.bad_low = torch::minimum(s.bad_low, truth.masked_fill(valid, std::numeric_limits<std::int64_t>::max()).min());
    s.bad_high = torch::maximum(s.bad_high, truth.masked_fill(valid, std::numeric_limits<std::int64_t>::min()).max());
    // A row is non-finite when its largest magnitude is (NaN propagates through amax).
    s.nonfinite = s.nonfinite + scores.abs().amax(1).isfinite().logical_not().sum();
    if (!options_.top_k.empty()) {
      // Rank of the true class: classes scoring above it, plus equal scores with a lower id.
      const torch::Tensor safe = truth.clamp(0, k - 1).unsqueeze(1);
      const torch::Tensor own = scores.gather(1, safe);
      const torch::Tensor ids = torch::arange(k, truth.options()).unsqueeze(0);
      const torch::Tensor rank =
          scores.gt(own).sum(1) + scores.eq(own).logical_and(ids.lt(safe)).sum(1);
      std::vector<torch::Tensor> per_k;
      per_k.reserve(options_.top_k.size());
      for (std::int64_t kk : options_.top_k) per_k.push_back(rank.lt(kk).logical_and(valid).sum());
      s.top_k_hits = s.top_k_hits + torch::stack(per_k);
    }
    if (options_.keep_predictions) kept_.push_back({predicted, truth, {}, {}});
  }

  // The accumulated state on the host: one copy of (K^2 + a few) integers for device state.
  [[nodiscard]] host_state gathered() const {
    if (!tensors_.counts.defined()) return host_;
    const auto& s = tensors_;
    const torch::Tensor host =
        torch::cat({s.counts, s.top_k_hits, s.nonfinite.view({1}), s.bad_low.view({1}), s.bad_high.view({1})})
            .to(torch::kCPU)
            .contiguous();
    const std::int64_t* v = host.data_ptr<std::int64_t>();
    const auto cells = static_cast<std::size_t>(num_classes_ * num_classes_);
    const std::size_t extra = cells + 1 + options_.top_k.size();
    host_state out;
    out.confusion.assign(v, v + cells);
    out.out_of_range = v[cells];
    out.top_k_hits.assign(v + cells + 1, v + extra);
    out.nonfinite = v[extra];
    out.bad_low = v[extra + 1];
    out.bad_high = v[extra + 2];
    return out;
  }

  void check_batch(const torch::Tensor& logits, const torch::Tensor& targets) const {
    if (!logits.defined() || !targets.defined())
      throw metric_error("classification_metrics::update: logits and targets must be defined tensors");
    if (logits.dim() != 2 || logits.size(1) != num_classes_)
      throw metric_error(fmt::format(
          "classification_metrics::update: logits must have shape [batch, {}] (one score per "
          "class), got [{}]",
          num_classes_, fmt::join(logits.sizes(), ", ")));
    if (!logits.is_floating_point())
      throw metric_error(fmt::format(
          "classification_metrics::update: logits must be floating point, got {}",
          std::string(c10::toString(logits.scalar_type()))));
    if (targets.dim() != 1 || targets.size(0) != logits.size(0))
      throw metric_error(fmt::format(
          "classification_metrics::update: targets must have shape [{}] (one class id per row of "
          "logits), got [{}]",
          logits.size(0), fmt::join(targets.sizes(), ", ")));
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

  std::vector<std::int64_t> gather_kept(int which, const char* what) const {
    if (!options_.keep_predictions)
      throw config_error("keep_predictions",
                         fmt::format("{}() needs classification_metrics_options::keep_predictions = true", what));
    std::vector<std::int64_t> out;
    std::vector<torch::Tensor> device_parts;
    for (const auto& b : kept_) {
      const auto& t = which == 0 ? b.predicted : b.truth;
      if (t.defined()) {
        device_parts.push_back(t);
      } else {
        const auto& v = which == 0 ? b.host_predicted : b.host_truth;
        out.insert(out.end(), v.begin(), v.end());
      }
    }
    if (!device_parts.empty()) {  // one copy for all batches
      const torch::Tensor all = torch::cat(device_parts).to(torch::kCPU).contiguous();
      out.assign(all.data_ptr<std::int64_t>(), all.data_ptr<std::int64_t>() + all.numel());
    }
    return out;
  }

  std::int64_t num_classes_;
  classification_metrics_options options_;
  std::optional<torch::Device> device_;
  host_state host_;
  tensor_state tensors_;
  std::vector<kept_batch> kept_;
};

static_assert(metric<classification_metrics>);

}  // namespace tpt
