// The two-phase trainer: a template over the Model, Sampler, Freezer, Schedule, Metric and Loss
// policies. Phase 1 trains the whole network on the sampler's rebalanced plan; phase 2 freezes
// what the Freezer says (by default everything but the classifier) and trains on the original,
// imbalanced data. A schedule with no phase-2 epochs and the identity sampler is the paper's
// single-phase baseline: the same machinery without phase 2.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/data/augment.hpp"
#include "tpt/data/loader.hpp"
#include "tpt/freeze/freezer.hpp"
#include "tpt/freeze/policies.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/metrics/classification_metrics.hpp"
#include "tpt/metrics/metric.hpp"
#include "tpt/model/classifier_model.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/sampler.hpp"
#include "tpt/train/callbacks.hpp"
#include "tpt/train/device.hpp"
#include "tpt/train/events.hpp"
#include "tpt/train/fused_adam.hpp"
#include "tpt/train/losses.hpp"
#include "tpt/train/schedule.hpp"

namespace tpt {

/// A split of a dataset: images by index and their class labels.
template <data::image_store Store>
struct labelled_images {
  Store images;
  std::vector<std::int64_t> labels;

  [[nodiscard]] std::int64_t size() const noexcept { return static_cast<std::int64_t>(labels.size()); }
};

/// Thrown when the loss stops being a finite number; names where it happened.
class training_diverged : public error {
 public:
  training_diverged(int phase, std::int64_t epoch, std::int64_t batch, double loss)
      : error(fmt::format("loss became {} in phase {}, epoch {}, batch {}: training stopped (lower the "
                          "learning rate, or check the data of that batch)",
                          loss, phase, epoch + 1, batch)),
        phase_(phase), epoch_(epoch), batch_(batch) {}
  [[nodiscard]] int phase() const noexcept { return phase_; }
  [[nodiscard]] std::int64_t epoch() const noexcept { return epoch_; }  // 0-based
  [[nodiscard]] std::int64_t batch() const noexcept { return batch_; }  // 1-based

 private:
  int phase_;
  std::int64_t epoch_, batch_;
};

/// Settings of a trainer that are not policies.
struct trainer_options {
  std::uint64_t seed = 0;                  // fixes every plan, shuffle and augmentation
  torch::Device device = torch::kCPU;
  data::augment_options augment{};         // for phases whose schedule augments; evaluation uses
                                           // the same size and normalisation without randomness
  std::size_t loader_workers = 0;          // 0: data::default_loader_workers(device)
  bool pin_memory = true;                  // with CUDA: pinned host batches, non-blocking copies
  std::int64_t eval_batch_size = 256;
  bool mixed_precision = true;             // bf16 autocast on CUDA (no effect on the CPU)
  bool channels_last = false;              // NHWC activations (pays on CUDA)
  bool phase2_fast_path = true;            // train phase 2 on cached features when allowed
  bool fused_optimizer = true;             // tpt::fused_adam (Adam in one pass per parameter on
                                           // the CPU, multi-tensor on CUDA) and gradients dropped,
                                           // not zeroed, per step; off: torch::optim::Adam with
                                           // zero_grad()
  std::string run_name;                    // for logs and checkpoints
};

/// The outcome of one phase.
struct phase_result {
  int phase = 1;
  std::int64_t epochs_run = 0;
  std::int64_t best_epoch = -1;            // 0-based; -1 when no validation ran
  double best_value = 0;                   // of the monitored metric
  std::string monitor;
  bool stopped_early = false;
  bool fast_path = false;
  double seconds = 0;
  std::int64_t examples_per_epoch = 0;
  std::vector<std::int64_t> class_counts;  // the phase's training distribution
};

struct fit_result {
  std::optional<phase_result> phase1, phase2;
  double seconds = 0;
};

/// The outcome of evaluating a split: the metric after all batches, and per-image predictions.
template <class Metric>
struct evaluation {
  Metric metric;
  std::vector<std::int64_t> predictions;  // argmax, in split order
  std::vector<std::int64_t> targets;
  double loss = 0;                        // mean cross-entropy
};

namespace detail {

using tensor_shape_list = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

/// Every parameter and buffer of a module with its shape, in registration order: what a
/// checkpoint records so that resume() can tell another architecture from this one.
inline tensor_shape_list tensor_shapes(const torch::nn::Module& module) {
  tensor_shape_list out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    out.emplace_back(item.key(), item.value().sizes().vec());
  for (const auto& item : module.named_buffers(/*recurse=*/true))
    out.emplace_back(item.key(), item.value().sizes().vec());
  return out;
}

/// Whether a dropout layer would be active in a training-mode pass: then features(x) differ
/// from epoch to epoch even with every weight and BatchNorm statistic frozen, and features
/// computed once (the phase-2 fast path) would freeze one dropout mask per image.
inline bool has_active_dropout(const torch::nn::Module& module) {
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (!m->is_training()) continue;
    if (m->as<torch::nn::Dropout>() || m->as<torch::nn::Dropout2d>() || m->as<torch::nn::Dropout3d>() ||
        m->as<torch::nn::AlphaDropout>() || m->as<torch::nn::FeatureAlphaDropout>())
      return true;
  }
  return false;
}

/// The names of the parameters that train (requires_grad), in registration order.
inline std::vector<std::string> trainable_names(const torch::nn::Module& module) {
  std::vector<std::string> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    if (item.value().requires_grad()) out.push_back(item.key());
  return out;
}

/// Readable differences between a checkpoint's tensors and a model's.
inline std::vector<std::string> shape_differences(const tensor_shape_list& checkpoint, const tensor_shape_list& model) {
  std::map<std::string, std::vector<std::int64_t>> ours(model.begin(), model.end());
  std::map<std::string, std::vector<std::int64_t>> theirs(checkpoint.begin(), checkpoint.end());
  std::vector<std::string> out;
  for (const auto& [name, shape] : checkpoint) {
    const auto it = ours.find(name);
    if (it == ours.end()) out.push_back(fmt::format("'{}' is not in this model", name));
    else if (it->second != shape)
      out.push_back(fmt::format("'{}' is [{}] in the checkpoint, [{}] here", name, fmt::join(shape, ", "),
                                fmt::join(it->second, ", ")));
  }
  for (const auto& [name, shape] : model)
    if (!theirs.contains(name)) out.push_back(fmt::format("'{}' is missing from the checkpoint", name));
  if (out.empty()) out.push_back("the same tensors in another order");
  return out;
}

/// The summed cross-entropy of an evaluation, accumulated on the model's device (in double) and
/// read once.
class loss_total {
 public:
  explicit loss_total(const torch::Device& device)
      : sum_(torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device))) {}
  void add(const torch::Tensor& logits, const torch::Tensor& targets) {
    sum_ += torch::nn::functional::cross_entropy(
                logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .to(torch::kFloat64);
  }
  [[nodiscard]] double sum() const { return sum_.item<double>(); }

 private:
  torch::Tensor sum_;
};

/// A copy of every parameter and buffer of a module, for early stopping's best weights.
class weight_snapshot {
 public:
  weight_snapshot() = default;
  explicit weight_snapshot(const torch::nn::Module& m) {
    torch::NoGradGuard g;
    for (const auto& p : m.named_parameters()) tensors_.emplace_back(p.key(), p.value().detach().clone());
    for (const auto& b : m.named_buffers()) tensors_.emplace_back(b.key(), b.value().detach().clone());
  }
  void restore(torch::nn::Module& m) const {
    torch::NoGradGuard g;
    auto params = m.named_parameters();
    auto buffers = m.named_buffers();
    for (const auto& [name, t] : tensors_) {
      if (auto* p = params.find(name)) p->copy_(t);
      else if (auto* b = buffers.find(name)) b->copy_(t);
      else throw error(fmt::format("weight snapshot has '{}', which the model lacks", name));
    }
  }
  [[nodiscard]] bool empty() const noexcept { return tensors_.empty(); }
  void save(torch::serialize::OutputArchive& archive) const {
    for (const auto& [name, t] : tensors_) archive.write(name, t, /*is_buffer=*/true);
  }
  void load(torch::serialize::InputArchive& archive, const torch::nn::Module& like) {
    tensors_.clear();
    for (const auto& p : like.named_parameters()) {
      torch::Tensor t;
      archive.read(p.key(), t, /*is_buffer=*/true);
      tensors_.emplace_back(p.key(), t);
    }
    for (const auto& b : like.named_buffers()) {
      torch::Tensor t;
      archive.read(b.key(), t, /*is_buffer=*/true);
      tensors_.emplace_back(b.key(), t);
    }
  }

 private:
  std::vector<std::pair<std::string, torch::Tensor>> tensors_;
};

inline std::vector<std::int64_t> class_counts(std::span<const std::int64_t> labels, std::int64_t num_classes) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(num_classes), 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto y = labels[i];
    if (y < 0 || y >= num_classes)
      throw config_error("labels", fmt::format("example {} has label {}, outside 0..{}", i, y, num_classes - 1));
    ++counts[static_cast<std::size_t>(y)];
  }
  return counts;
}

inline std::int64_t count_trainable(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

/// The trainer's policies checked in template-argument order, stopping at the first that fails
/// its concept, so a mistake gives exactly one error.
template <class Model, class Sampler, class Freezer, class Schedule, class Metric, class Loss>
consteval bool require_trainer_policies() {
  if constexpr (!classifier_model<Model>)
    return require_classifier_model<Model>();
  else if constexpr (!sampler<Sampler>)
    return require_sampler<Sampler>();
  else if constexpr (!freezer<Freezer, Model>)
    return require_freezer<Freezer, Model>();
  else if constexpr (!schedule<Schedule>)
    return require_schedule<Schedule>();
  else if constexpr (!metric<Metric>)
    return require_metric<Metric>();
  else
    return require_loss<Loss>();
}

}  // namespace detail

/// The two-phase trainer. Policies are held by value, passed in configured, and reachable through
/// accessors. `two_phase<>` is the paper's ROS model: ResNet-18, random oversampling by the
/// paper's tiers, everything but the classifier frozen in phase 2, Adam 1e-3, batch 64, 10 + 7
/// epochs, cross-entropy, and early stopping on validation macro F1.
template <class Model = ResNet, class Sampler = random_oversample, class Freezer = freeze_all_but_classifier,
          class Schedule = fixed_schedule, class Metric = classification_metrics, class Loss = cross_entropy>
class two_phase {
  // The policies are checked here rather than in the template head: a failed constraint there
  // reads "template constraint failure" with the concept only in the notes, and more errors
  // follow; this is one error that names the first concept not met and what it needs.
  static_assert(detail::require_trainer_policies<Model, Sampler, Freezer, Schedule, Metric, Loss>());

 public:
  using model_type = Model;
  using sampler_type = Sampler;
  using freezer_type = Freezer;
  using schedule_type = Schedule;
  using metric_type = Metric;
  using loss_type = Loss;

  /// The metric is made from the model's class count, Metric(std::int64_t); a Metric that cannot
  /// be made so is passed configured, to the constructor below.
  explicit two_phase(Model model, Sampler sampler = Sampler{}, Freezer freezer = Freezer{},
                     Schedule schedule = default_schedule(), Loss loss = Loss{}, trainer_options options = {})
      : two_phase(model, std::move(sampler), std::move(freezer), std::move(schedule), std::move(loss),
                  metric_for(model), std::move(options)) {}

  /// Every policy configured, the metric included. The order is the constructor above's with the
  /// metric after the loss (and before the options), not the template's.
  two_phase(Model model, Sampler sampler, Freezer freezer, Schedule schedule, Loss loss, Metric metric,
            trainer_options options)
      : model_(std::move(model)),
        sampler_(std::move(sampler)),
        freezer_(std::move(freezer)),
        schedule_(std::move(schedule)),
        loss_(std::move(loss)),
        metric_(std::move(metric)),
        options_(std::move(options)) {
    model_->to(options_.device);
    if (options_.channels_last) {  // LibTorch modules have no to(memory_format): convert 4-d weights
      torch::NoGradGuard no_grad;
      for (auto& p : model_->parameters())
        if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
    }
    if (options_.eval_batch_size <= 0)
      throw config_error("eval_batch_size", fmt::format("must be positive, got {}", options_.eval_batch_size));
  }

 private:
  // The monitor's direction is known (tpt::higher_is_better throws otherwise) and, when the metric
  // declares its names, the metric reports it.
  void check_monitor(int phase, const std::string& monitor) const {
    const std::string monitored = monitored_quantity(monitor);
    (void)higher_is_better(metric_, monitored);
    const auto names = declared_scalar_names(metric_);
    if (names && monitored != "loss" && std::ranges::find(*names, monitored) == names->end())
      throw config_error(fmt::format("phase {} monitor", phase),
                         fmt::format("the metric reports no '{}' (it reports: {}; and the trainer's loss)", monitor,
                                     fmt::join(*names, ", ")));
  }

  // One error naming what is missing (rather than "no matching function" for every constructor).
  static Metric metric_for(const Model& model) {
    static_assert(std::constructible_from<Metric, std::int64_t>,
                  "this type is not a tpt::metric made from the class count: the constructor without a metric "
                  "builds Metric(num_classes); give the metric that constructor, or pass it configured: "
                  "two_phase(model, sampler, freezer, schedule, loss, metric, options)");
    if constexpr (std::constructible_from<Metric, std::int64_t>) return Metric(num_classes_of(model));
    else std::terminate();  // not reached: the static_assert stops the build
  }

 public:
  // Accessors (mlpack style): every policy can be inspected and reconfigured between runs.
  Model& model() noexcept { return model_; }
  Sampler& sampler() noexcept { return sampler_; }
  Freezer& freezer() noexcept { return freezer_; }
  Schedule& schedule() noexcept { return schedule_; }
  Loss& loss() noexcept { return loss_; }
  Metric& metric() noexcept { return metric_; }
  trainer_options& options() noexcept { return options_; }
  [[nodiscard]] std::int64_t num_classes() const { return num_classes_of(model_); }

  /// Train phase 1, then phase 2 (when the schedule gives it epochs). Callbacks are plain objects
  /// with any of the hooks in callbacks.hpp. After resume(path), continues where it stopped.
  template <data::image_store Store, class... Callbacks>
  fit_result fit(const labelled_images<Store>& train, const labelled_images<Store>& validation,
                 Callbacks&&... callbacks) {
    static_assert((require_callback<Callbacks, two_phase>() && ...));
    const auto start = clock::now();
    check_split(train, "train");
    check_split(validation, "validation");
    try {  // before any training, and named as the caller set it
      data::validate(options_.augment, train.images[0].channels);
    } catch (const config_error& e) {
      throw config_error(fmt::format("trainer_options.augment {}", e.option()),
                         fmt::format("{} (the training images' size and normalisation; the defaults are ImageNet's: "
                                     "224 x 224, three-channel mean and std)",
                                     e.reason()));
    }
    // Both phases' monitors before any training: a misnamed one would otherwise stop the run
    // after phase 1's first epoch, or after all of phase 1.
    for (int phase : {1, 2})
      if (schedule_.epochs(phase) > 0 && !validation.labels.empty()) check_monitor(phase, schedule_.stopping(phase).monitor);
    fit_start_ = start;
    if (!resume_) {  // a fresh run: nothing carried over from an earlier fit() or resume()
      resumed_result_ = {};
      resumed_seconds_ = 0;
    }
    fit_result result = resumed_result_;
    [[maybe_unused]] fit_begin_event begin{options_.run_name, resume_ ? resume_->phase : 1, resume_ ? resume_->next_epoch : 0};
    (detail::call_on_fit_begin(callbacks, begin, *this), ...);

    const int first_phase = resume_ ? resume_->phase : 1;
    if (first_phase <= 1 && schedule_.epochs(1) > 0)
      result.phase1 = run_phase(1, train, validation, callbacks...);
    resumed_result_.phase1 = result.phase1;
    if (schedule_.epochs(2) > 0) result.phase2 = run_phase(2, train, validation, callbacks...);
    resume_.reset();
    result.seconds = seconds_since(start) + resumed_seconds_;
    [[maybe_unused]] fit_end_event end{result.seconds};
    (detail::call_on_fit_end(callbacks, end, *this), ...);
    return result;
  }

  /// Evaluate on a split: the Metric after every batch, plus per-image argmax predictions.
  /// `transform` maps logits before both (e.g. posthoc_logit_adjustment).
  template <data::image_store Store, class Transform = std::identity>
  evaluation<Metric> evaluate(const labelled_images<Store>& split, Transform transform = {}) {
    check_split(split, "evaluation");
    evaluation<Metric> out{copy_metric(metric_), {}, {}, 0.0};
    out.metric.reset();
    out.predictions.reserve(split.labels.size());
    out.targets = split.labels;
    model_->eval();
    torch::NoGradGuard no_grad;
    // Loss and predictions stay on the model's device until the end: reading them per batch
    // would make the CPU wait for the GPU at every batch.
    detail::loss_total loss(options_.device);
    std::vector<torch::Tensor> predicted;
    auto loader = make_loader(split, identity_order(split.size()), false, options_.eval_batch_size, 0, 0);
    while (auto batch = loader.next()) {
      torch::Tensor logits;
      {
        autocast_guard autocast(options_.device, options_.mixed_precision);
        logits = model_->forward(batch->images);
      }
      logits = torch::Tensor(transform(logits.to(torch::kFloat32)));
      out.metric.update(logits, batch->targets);
      loss.add(logits, batch->targets);
      predicted.push_back(logits.argmax(1));
    }
    if (!predicted.empty()) {
      const auto pred = torch::cat(predicted).to(torch::kCPU).contiguous();
      out.predictions.assign(pred.data_ptr<std::int64_t>(), pred.data_ptr<std::int64_t>() + pred.numel());
    }
    out.loss = split.size() ? loss.sum() / static_cast<double>(split.size()) : 0.0;
    return out;
  }

  /// Write everything needed to continue this run: model, best weights so far, optimizer state,
  /// phase, epoch, early-stopping state and the seed from which every plan, shuffle and
  /// augmentation is derived. Atomic: a crash mid-write leaves the previous checkpoint intact.
  void save_checkpoint(const std::filesystem::path& file) const {
    if (!state_.optimizer) throw error("save_checkpoint: no phase is running (call it from a callback or after fit)");
    torch::serialize::OutputArchive archive;
    nlohmann::json state = {
        {"format", "tpt-checkpoint"},
        {"version", 2},
        {"run_name", options_.run_name},
        {"seed", options_.seed},
        {"num_classes", num_classes()},
        {"phase", state_.phase},
        {"epoch", state_.epoch},
        {"phase_done", state_.phase_done},
        {"best_epoch", state_.best_epoch},
        {"best_value", state_.best_value},
        {"stale_epochs", state_.stale_epochs},
        {"has_best", !state_.best.empty()},  // no snapshot is kept when restore_best is off
        {"seconds", resumed_seconds_ + seconds_since(fit_start_)},
        {"phase_seconds", state_.seconds + seconds_since(state_.started)},
        {"phase1", resumed_result_.phase1 ? to_json(*resumed_result_.phase1) : nlohmann::json()},
        // Version 2: what resume() checks before loading anything, since LibTorch's archive
        // loader takes a tensor of another shape without a word and skips names it lacks.
        {"epochs", {schedule_.epochs(1), schedule_.epochs(2)}},
        {"tensors", detail::tensor_shapes(*model_)},
        {"trainable", detail::trainable_names(*model_)},
    };
    archive.write("tpt.state", c10::IValue(state.dump()));
    torch::serialize::OutputArchive model_archive;
    model_->save(model_archive);
    archive.write("model", model_archive);
    torch::serialize::OutputArchive best_archive;
    state_.best.save(best_archive);
    archive.write("best", best_archive);
    torch::serialize::OutputArchive optimizer_archive;
    state_.optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
    io::write_atomically(
        file,
        [&](std::ostream& out) {
          // Through a callback that always reports success: with save_to(std::ostream&) a full
          // disk makes LibTorch's writer throw, and its destructor throw again, which calls
          // std::terminate and kills the run. The stream remembers the failure instead, and
          // write_atomically reports it and keeps the previous checkpoint.
          try {
            archive.save_to([&](const void* data, std::size_t n) -> std::size_t {
              if (out) out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
              return n;
            });
          } catch (const c10::Error& e) {
            throw input_error(file, fmt::format("writing the checkpoint failed: {}", first_line(e.what())));
          }
        },
        std::ios::binary);
  }

  /// Load a checkpoint written by save_checkpoint; the next fit() continues after its epoch and
  /// ends with the same weights as an uninterrupted run (on the CPU, same thread count).
  void resume(const std::filesystem::path& file) {
    if (!std::filesystem::exists(file)) throw input_error(file, "no such checkpoint");
    torch::serialize::InputArchive archive;
    nlohmann::json state;
    try {
      archive.load_from(file.string(), options_.device);
      c10::IValue text;
      archive.read("tpt.state", text);
      state = nlohmann::json::parse(text.toStringRef());
    } catch (const std::exception& e) {
      throw input_error(file, fmt::format("not a tpt checkpoint or corrupt: {}", first_line(e.what())));
    }
    if (state.value("format", "") != "tpt-checkpoint" || state.value("version", 0) < 1 || state.value("version", 0) > 2)
      throw input_error(file, fmt::format("not a tpt checkpoint of format version 1 or 2 (has format '{}', version {})",
                                          state.value("format", ""), state.value("version", 0)));
    if (state.at("seed").get<std::uint64_t>() != options_.seed)
      throw input_error(file, fmt::format("written with seed {}, but this trainer has seed {}: resuming would not "
                                          "reproduce the run", state.at("seed").get<std::uint64_t>(), options_.seed));
    if (state.at("num_classes").get<std::int64_t>() != num_classes())
      throw input_error(file, fmt::format("has {} classes, the model has {}", state.at("num_classes").get<std::int64_t>(),
                                          num_classes()));
    check_resumable(file, state);
    try {
      torch::serialize::InputArchive model_archive;
      archive.read("model", model_archive);
      model_->load(model_archive);
      resume_state r;
      r.phase = state.at("phase").get<int>();
      const auto epoch = state.at("epoch").get<std::int64_t>();
      r.phase_done = state.at("phase_done").get<bool>();
      r.next_epoch = epoch + 1;  // when phase_done, the phase's end-of-phase work still runs
      r.best_epoch = state.at("best_epoch").get<std::int64_t>();
      r.best_value = number_or_nan(state.at("best_value"));
      r.stale_epochs = state.at("stale_epochs").get<std::int64_t>();
      r.phase_seconds = state.value("phase_seconds", 0.0);
      torch::serialize::InputArchive best_archive;
      archive.read("best", best_archive);
      if (state.value("has_best", false)) r.best.load(best_archive, *model_);
      r.optimizer = std::make_shared<torch::serialize::InputArchive>();
      archive.read("optimizer", *r.optimizer);
      r.file = file;
      if (state.contains("trainable")) r.trainable = state.at("trainable").get<std::vector<std::string>>();
      resumed_seconds_ = state.value("seconds", 0.0);
      if (state.contains("phase1") && !state["phase1"].is_null()) resumed_result_.phase1 = from_json(state["phase1"]);
      resume_ = std::move(r);
    } catch (const c10::Error& e) {
      throw input_error(file, fmt::format("does not match this model: {}", first_line(e.what())));
    } catch (const nlohmann::json::exception& e) {
      throw input_error(file, fmt::format("damaged training state: {}", e.what()));
    }
  }

 private:
  using clock = std::chrono::steady_clock;

  struct run_state {
    int phase = 0;
    std::int64_t epoch = -1;
    bool phase_done = false;
    std::int64_t best_epoch = -1;
    double best_value = 0;
    std::int64_t stale_epochs = 0;
    detail::weight_snapshot best;
    std::unique_ptr<torch::optim::Adam> optimizer;
    clock::time_point started{};
    double seconds = 0;  // of this phase before a resume
  };

  struct resume_state {
    int phase = 1;
    std::int64_t next_epoch = 0;
    bool phase_done = false;
    std::int64_t best_epoch = -1;
    double best_value = 0;
    std::int64_t stale_epochs = 0;
    double phase_seconds = 0;
    detail::weight_snapshot best;
    std::shared_ptr<torch::serialize::InputArchive> optimizer;
    std::filesystem::path file;           // the checkpoint, for messages
    std::vector<std::string> trainable;   // what trained in its phase (version 2; empty before)
  };

  /// Refuse a checkpoint this trainer cannot continue exactly: another architecture, stem or
  /// tensor shape (LibTorch would load it silently), or another epoch count per phase (the
  /// checkpoint's epoch and early-stopping state mean something else then). Version 1
  /// checkpoints carry neither and are only checked by seed and class count.
  void check_resumable(const std::filesystem::path& file, const nlohmann::json& state) const {
    if (state.contains("tensors")) {
      const auto theirs = state.at("tensors").get<std::vector<std::pair<std::string, std::vector<std::int64_t>>>>();
      const auto ours = detail::tensor_shapes(*model_);
      if (theirs != ours) {
        const auto differences = detail::shape_differences(theirs, ours);
        throw input_error(file, fmt::format("was written by another model ({} difference(s): {}{}): resume it with the "
                                            "architecture, stem and class count it was trained with",
                                            differences.size(),
                                            fmt::join(differences.begin(), differences.begin() + std::min<std::ptrdiff_t>(6, std::ssize(differences)), "; "),
                                            differences.size() > 6 ? "; ..." : ""));
      }
    }
    if (state.contains("epochs")) {
      const auto e = state.at("epochs").get<std::vector<std::int64_t>>();
      if (e.size() != 2 || e[0] != schedule_.epochs(1) || e[1] != schedule_.epochs(2))
        throw input_error(file, fmt::format("was written for {} + {} epochs, but this trainer's schedule has {} + {}: "
                                            "resuming would not reproduce the run",
                                            e.empty() ? 0 : e[0], e.size() < 2 ? 0 : e[1], schedule_.epochs(1),
                                            schedule_.epochs(2)));
    }
  }

  static Schedule default_schedule() {
    if constexpr (std::same_as<Schedule, fixed_schedule>) return paper_schedule(paper_model::ros);
    else return Schedule{};
  }

  static std::int64_t num_classes_of(const Model& m) { return classifier_of(m)->options.out_features(); }

  static double seconds_since(clock::time_point t) {
    return t == clock::time_point{} ? 0.0 : std::chrono::duration<double>(clock::now() - t).count();
  }

  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

  /// JSON has no NaN (a monitored metric can be one): nlohmann writes it as null, read back here.
  static double number_or_nan(const nlohmann::json& v) {
    return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
  }

  static nlohmann::json to_json(const phase_result& r) {
    return {{"phase", r.phase},           {"epochs_run", r.epochs_run},     {"best_epoch", r.best_epoch},
            {"best_value", r.best_value}, {"monitor", r.monitor},           {"stopped_early", r.stopped_early},
            {"fast_path", r.fast_path},   {"seconds", r.seconds},           {"examples_per_epoch", r.examples_per_epoch},
            {"class_counts", r.class_counts}};
  }
  static phase_result from_json(const nlohmann::json& j) {
    phase_result r;
    r.phase = j.at("phase");
    r.epochs_run = j.at("epochs_run");
    r.best_epoch = j.at("best_epoch");
    r.best_value = number_or_nan(j.at("best_value"));
    r.monitor = j.at("monitor");
    r.stopped_early = j.at("stopped_early");
    r.fast_path = j.at("fast_path");
    r.seconds = j.at("seconds");
    r.examples_per_epoch = j.at("examples_per_epoch");
    r.class_counts = j.at("class_counts").get<std::vector<std::int64_t>>();
    return r;
  }

  template <data::image_store Store>
  void check_split(const labelled_images<Store>& split, const char* name) const {
    if (split.images.size() != split.labels.size())
      throw config_error(name, fmt::format("{} images but {} labels", split.images.size(), split.labels.size()));
    if (std::string_view(name) == "train" && split.labels.empty())
      throw config_error(name, "the training split is empty");
    (void)detail::class_counts(split.labels, num_classes());
  }

  static std::vector<std::int64_t> identity_order(std::int64_t n) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    return order;
  }

  template <data::image_store Store>
  data::image_loader<Store> make_loader(const labelled_images<Store>& split, std::vector<std::int64_t> order, bool augment,
                                        std::int64_t batch_size, int phase, std::int64_t epoch) const {
    data::loader_options o;
    o.batch_size = batch_size;
    o.workers = options_.loader_workers;
    o.augment = options_.augment;
    o.augment.mode = augment ? data::augment_mode::train : data::augment_mode::eval;
    o.seed = derive_seed(options_.seed, stream_tag("phase"), phase);
    o.epoch = epoch;
    o.device = options_.device;
    o.pin_memory = options_.pin_memory;
    o.channels_last = options_.channels_last;
    return data::image_loader<Store>(split.images, split.labels, std::move(order), std::move(o));
  }

  /// Order of one epoch's training examples: the phase's plan, shuffled by (seed, phase, epoch).
  std::vector<std::int64_t> shuffled(std::vector<std::int64_t> order, int phase, std::int64_t epoch) const {
    rng gen(derive_seed(options_.seed, stream_tag("shuffle"), phase, epoch));
    tpt::shuffle(order, gen);
    return order;
  }

  /// The examples of one epoch before shuffling: phase 2 the whole split; phase 1 the sampler's
  /// plan, drawn again only for a sampler that redraws every epoch (`first` is epoch 0's).
  std::vector<std::int64_t> epoch_plan(int phase, std::int64_t epoch, std::span<const std::int64_t> labels,
                                       const sampling_plan& first) const {
    if (phase == 2) return identity_order(static_cast<std::int64_t>(labels.size()));
    if (epoch == 0 || !redraws_every_epoch_v<Sampler>) return first.indices;
    return plan_epoch(sampler_, labels, num_classes(), options_.seed, epoch).indices;
  }

  void set_learning_rate(double lr) {
    for (auto& group : state_.optimizer->param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }

  /// The validation scalars, plus the mean cross-entropy as "loss".
  template <data::image_store Store>
  metric_scalars validate(const labelled_images<Store>& validation, const torch::Tensor& features) {
    if (validation.labels.empty()) return {};
    metric_.reset();
    model_->eval();
    torch::NoGradGuard no_grad;
    detail::loss_total loss(options_.device);  // read once, at the end (as in evaluate)
    auto account = [&](torch::Tensor logits, const torch::Tensor& targets) {
      logits = logits.to(torch::kFloat32);
      metric_.update(logits, targets);
      loss.add(logits, targets);
    };
    if (features.defined()) {  // fast path: the backbone's output is cached
      const auto targets = torch::tensor(validation.labels, torch::kInt64).to(options_.device);
      for (std::int64_t i = 0; i < features.size(0); i += options_.eval_batch_size) {
        const auto end = std::min(features.size(0), i + options_.eval_batch_size);
        torch::Tensor logits;
        {  // under autocast as on the plain path, so both monitor the same numbers
          autocast_guard autocast(options_.device, options_.mixed_precision);
          logits = model_->classifier()->forward(features.slice(0, i, end));
        }
        account(logits, targets.slice(0, i, end));
      }
    } else {
      auto loader = make_loader(validation, identity_order(validation.size()), false, options_.eval_batch_size, 0, 0);
      while (auto batch = loader.next()) {
        torch::Tensor logits;
        {
          autocast_guard autocast(options_.device, options_.mixed_precision);
          logits = model_->forward(batch->images);
        }
        account(logits, batch->targets);
      }
    }
    auto scalars = metric_scalars(metric_.scalars());
    scalars["loss"] = loss.sum() / static_cast<double>(validation.labels.size());
    return scalars;
  }

  /// The backbone's features of a whole split, in split order (phase-2 fast path). Computed in
  /// the freezer's training mode, which for a classifier-only freezer is inference mode for
  /// every BatchNorm: exactly what the plain path's forward pass computes.
  template <data::image_store Store>
  torch::Tensor features_of(const labelled_images<Store>& split, bool training_mode) {
    if (training_mode) freezer_.train(model_);
    else model_->eval();
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    auto loader = make_loader(split, identity_order(split.size()), false, options_.eval_batch_size, 0, 0);
    while (auto batch = loader.next()) {
      autocast_guard autocast(options_.device, options_.mixed_precision);
      parts.push_back(model_->features(batch->images).to(torch::kFloat32));
    }
    return parts.empty() ? torch::Tensor() : torch::cat(parts);
  }

  template <data::image_store Store, class... Callbacks>
  phase_result run_phase(int phase, const labelled_images<Store>& train, const labelled_images<Store>& validation,
                         Callbacks&... callbacks) {
    const auto epochs = schedule_.epochs(phase);
    const auto batch_size = schedule_.batch_size(phase);
    const early_stopping stop = schedule_.stopping(phase);
    const bool augment = schedule_.augment(phase);

    // What trains in this phase.
    if (phase == 1) freeze_nothing{}.apply(model_);
    else freezer_.apply(model_);
    std::vector<torch::Tensor> trainable;
    for (const auto& p : model_->parameters())
      if (p.requires_grad()) trainable.push_back(p);
    if (trainable.empty()) throw config_error("freezer", fmt::format("leaves nothing to train in phase {}", phase));

    state_ = run_state{};
    state_.phase = phase;
    state_.optimizer = make_adam(
        trainable, torch::optim::AdamOptions(schedule_.learning_rate(phase, 0)).weight_decay(schedule_.weight_decay(phase)),
        options_.fused_optimizer);
    std::int64_t first_epoch = 0;
    bool resumed_done = false;
    if (resume_ && resume_->phase == phase) {
      const auto now_trainable = detail::trainable_names(*model_);
      if (!resume_->trainable.empty() && resume_->trainable != now_trainable)
        throw input_error(resume_->file,
                          fmt::format("trained {} parameter tensor(s) in phase {}, this trainer's freezer trains {}: "
                                      "resume with the freezer the run was started with",
                                      resume_->trainable.size(), phase, now_trainable.size()));
      try {
        state_.optimizer->load(*resume_->optimizer);
      } catch (const c10::Error& e) {
        throw input_error(resume_->file, fmt::format("its optimizer state does not fit this trainer's phase-{} "
                                                     "parameters (another freezer?): {}", phase, first_line(e.what())));
      }
      state_.best = resume_->best;
      state_.best_epoch = resume_->best_epoch;
      state_.best_value = resume_->best_value;
      state_.stale_epochs = resume_->stale_epochs;
      state_.seconds = resume_->phase_seconds;
      first_epoch = resume_->next_epoch;
      state_.epoch = first_epoch - 1;
      resumed_done = resume_->phase_done;
      resume_.reset();
    }
    state_.started = clock::now();

    // The phase's training distribution, for prior-aware losses and the record.
    const auto first_plan = phase == 1 ? plan_epoch(sampler_, train.labels, num_classes(), options_.seed, 0)
                                       : sampling_plan{};
    phase_result result;
    result.phase = phase;
    result.monitor = stop.monitor;
    result.class_counts = phase == 1 ? first_plan.after : detail::class_counts(train.labels, num_classes());
    result.examples_per_epoch = phase == 1 ? static_cast<std::int64_t>(first_plan.indices.size()) : train.size();
    if constexpr (prior_aware_loss<Loss>) loss_.set_class_counts(result.class_counts);

    // Features are a fixed function of the image only when nothing but the classifier trains,
    // no running statistic moves, no augmentation changes the input, and no dropout layer is
    // active in the freezer's training mode (a user's model may have one in features()). Phase 1
    // never takes it, and its modes are left alone.
    const bool fast = phase == 2 && options_.phase2_fast_path && freezer_.classifier_only() && !augment && [&] {
      freezer_.train(model_);
      return !detail::has_active_dropout(*model_);
    }();
    result.fast_path = fast;
    const std::string monitored = monitored_quantity(stop.monitor);
    const bool higher = higher_is_better(metric_, monitored);  // the metric's own name, without val_
    if (validation.labels.empty() && stop.patience > 0 && epochs > 0)
      throw config_error(fmt::format("phase{}.patience", phase),
                         fmt::format("early stopping (patience {}) watches the validation set, which is empty; give "
                                     "validation images or set patience 0 to train every epoch", stop.patience));

    [[maybe_unused]] phase_begin_event begin{phase, epochs, first_epoch, result.examples_per_epoch, batch_size,
                            detail::count_trainable(*model_), fast};
    (detail::call_on_phase_begin(callbacks, begin, *this), ...);

    torch::Tensor train_features, val_features, train_targets;
    if (fast && !resumed_done && first_epoch < epochs) {
      train_features = features_of(train, /*training_mode=*/true);
      val_features = validation.labels.empty() ? torch::Tensor() : features_of(validation, false);
      train_targets = torch::tensor(train.labels, torch::kInt64).to(options_.device);
    }

    bool stopped = false;
    std::int64_t epoch = first_epoch;
    for (; !resumed_done && epoch < epochs && !stopped; ++epoch) {
      const auto epoch_start = clock::now();
      set_learning_rate(schedule_.learning_rate(phase, epoch));
      const auto order = shuffled(epoch_plan(phase, epoch, train.labels, first_plan), phase, epoch);
      const auto steps = static_cast<std::int64_t>((order.size() + static_cast<std::size_t>(batch_size) - 1) /
                                                   static_cast<std::size_t>(batch_size));
      double loss_sum = 0;
      std::int64_t images = 0, step = 0;
      // The loss is read one step late on CUDA, so reading it never drains the GPU's queue.
      // A flag beside a plain struct rather than std::optional: GCC 12 warns (maybe-uninitialized)
      // about a Tensor inside an optional in some instantiations.
      struct pending_loss {
        torch::Tensor value;
        std::int64_t step = 0, size = 0, images = 0;
      };
      pending_loss pending;
      bool has_pending = false;
      auto settle = [&] {
        if (!has_pending) return;
        const double value = pending.value.template item<double>();
        if (!std::isfinite(value)) throw training_diverged(phase, epoch, pending.step, value);
        loss_sum += value * static_cast<double>(pending.size);
        [[maybe_unused]] batch_end_event e{phase, epoch, epochs, pending.step, steps, value,
                          loss_sum / static_cast<double>(pending.images), pending.images, seconds_since(epoch_start)};
        (detail::call_on_batch_end(callbacks, e, *this), ...);
        pending = {};
        has_pending = false;
      };
      auto train_step = [&](const auto& forward, const torch::Tensor& targets) {
        if (options_.fused_optimizer) clear_gradients(*state_.optimizer);
        else state_.optimizer->zero_grad();
        torch::Tensor logits;
        {
          autocast_guard autocast(options_.device, options_.mixed_precision);
          logits = forward();
        }
        torch::Tensor loss = loss_(logits.to(torch::kFloat32), targets);
        loss.backward();
        state_.optimizer->step();
        images += targets.size(0);
        pending_loss now{loss.detach(), ++step, targets.size(0), images};
        if (options_.device.is_cpu()) {
          pending = std::move(now);
          has_pending = true;
          settle();
        } else {
          settle();
          pending = std::move(now);
          has_pending = true;
        }
      };

      if (fast) {
        model_->classifier()->train();
        const auto index = torch::tensor(order, torch::kInt64).to(options_.device);
        for (std::int64_t i = 0; i < index.size(0); i += batch_size) {
          const auto idx = index.slice(0, i, std::min(index.size(0), i + batch_size));
          const auto x = train_features.index_select(0, idx);
          train_step([&] { return model_->classifier()->forward(x); }, train_targets.index_select(0, idx));
        }
      } else {
        if (phase == 1) model_->train();
        else freezer_.train(model_);
        auto loader = make_loader(train, order, augment, batch_size, phase, epoch);
        while (auto batch = loader.next()) train_step([&] { return model_->forward(batch->images); }, batch->targets);
      }
      settle();

      const double train_secs = seconds_since(epoch_start);

      // Validation, early stopping, best weights.
      const auto scalars = validate(validation, val_features);
      bool improved = false;
      if (auto it = scalars.find(monitored); it != scalars.end()) {
        const double v = it->second;
        // A NaN (a metric undefined on this epoch) never improves: taken as the first best, it
        // would stay best for good, since nothing compares greater than NaN.
        improved = !std::isnan(v) &&
                   (state_.best_epoch < 0 ||
                    (higher ? v > state_.best_value + stop.min_delta : v < state_.best_value - stop.min_delta));
        if (improved) {
          state_.best_value = v;
          state_.best_epoch = epoch;
          state_.stale_epochs = 0;
          if (stop.restore_best) state_.best = detail::weight_snapshot(*model_);
        } else {
          ++state_.stale_epochs;
        }
      } else if (!validation.labels.empty()) {
        throw config_error("monitor", fmt::format("the metric reports no '{}' (it reports: {})", stop.monitor,
                                                  fmt::join(scalars | std::views::keys, ", ")));
      }
      stopped = stop.patience > 0 && state_.stale_epochs >= stop.patience;
      state_.epoch = epoch;
      state_.phase_done = stopped || epoch + 1 == epochs;

      const double secs = seconds_since(epoch_start);
      [[maybe_unused]] epoch_end_event e{phase,
                                         epoch,
                                         epochs,
                                         images ? loss_sum / static_cast<double>(images) : 0.0,
                                         schedule_.learning_rate(phase, epoch),
                                         images,
                                         secs,
                                         train_secs,
                                         train_secs > 0 ? static_cast<double>(images) / train_secs : 0.0,
                                         scalars,
                                         monitored,
                                         improved,
                                         stopped};
      (detail::call_on_epoch_end(callbacks, e, *this), ...);
    }
    if (resumed_done) stopped = state_.stale_epochs >= stop.patience && stop.patience > 0;

    result.epochs_run = state_.epoch + 1;
    result.stopped_early = stopped;
    result.best_epoch = state_.best_epoch;
    result.best_value = state_.best_value;
    bool restored = false;
    if (stop.restore_best && !state_.best.empty() && state_.best_epoch != state_.epoch) {
      state_.best.restore(*model_);
      restored = true;
    }
    result.seconds = state_.seconds + seconds_since(state_.started);
    [[maybe_unused]] phase_end_event end{phase,    result.epochs_run, result.best_epoch, result.best_value,
                                         stopped,  restored,          result.seconds,    stop.monitor};
    (detail::call_on_phase_end(callbacks, end, *this), ...);
    return result;
  }

  Model model_;
  Sampler sampler_;
  Freezer freezer_;
  Schedule schedule_;
  Loss loss_;
  Metric metric_;
  trainer_options options_;

  run_state state_;
  std::optional<resume_state> resume_;
  fit_result resumed_result_;
  double resumed_seconds_ = 0;
  clock::time_point fit_start_{};
};

}  // namespace tpt
