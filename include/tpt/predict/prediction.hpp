// Batched classification of image files and detection crops with a trained model: images are
// read, decoded and prepared on worker threads while the model runs on earlier batches (CPU or
// CUDA); each image's top-k classes come back in input order, and an image that cannot be read
// becomes a recorded failure instead of stopping the run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/core/device.hpp"
#include "tpt/core/error.hpp"
#include "tpt/data/image.hpp"
#include "tpt/data/image_error.hpp"
#include "tpt/data/loader.hpp"
#include "tpt/data/paths.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/model/classifier_model.hpp"
#include "tpt/predict/crop.hpp"
#include "tpt/predict/detail/ordered_pipeline.hpp"
#include "tpt/predict/preprocess.hpp"
#include "tpt/predict/scores.hpp"

namespace tpt::predict {

/// The device parser every tpt program shares (tpt/core/device.hpp).
using tpt::resolve_device;

/// Softmax of a batch of logits and each row's top k, with one copy to the host.
[[nodiscard]] inline std::vector<std::vector<class_score>> top_k(const torch::Tensor& logits, std::int64_t k) {
  if (logits.dim() != 2) throw config_error("logits", fmt::format("expected N x classes, got {} dimensions", logits.dim()));
  const torch::Tensor probs = torch::softmax(logits.to(torch::kFloat32), 1).to(torch::kCPU).contiguous();
  const std::int64_t classes = probs.size(1);
  const float* p = probs.data_ptr<float>();
  std::vector<std::vector<class_score>> out;
  out.reserve(static_cast<std::size_t>(probs.size(0)));
  for (std::int64_t r = 0; r < probs.size(0); ++r)
    out.push_back(top_k_of(std::span<const float>(p + r * classes, static_cast<std::size_t>(classes)), k));
  return out;
}

/// One image to classify: the whole frame (the default) or the given detection boxes.
struct image_job {
  std::filesystem::path file{};
  std::vector<normalized_box> boxes{whole_frame};
  /// When set, `file` lies under this image root and must not leave it through a symbolic link
  /// (an outside_root failure otherwise), the rule training's sources follow.
  std::shared_ptr<const data::root_guard> root{};
};

/// Why an image has no predictions.
struct image_failure {
  data::image_problem problem = data::image_problem::corrupt;
  std::string detail{};
  friend bool operator==(const image_failure&, const image_failure&) = default;
};

/// What classifying one image gave: a failure, or one top-k list per box (an empty list for a
/// box with no pixels inside the frame).
struct image_outcome {
  std::optional<image_failure> failure{};
  std::vector<std::vector<class_score>> predictions{};
  [[nodiscard]] bool ok() const noexcept { return !failure.has_value(); }
  friend bool operator==(const image_outcome&, const image_outcome&) = default;
};

struct classifier_options {
  torch::Device device = torch::kCPU;
  /// Inputs (whole images or crops) per forward pass.
  std::int64_t batch_size = 64;
  /// Classes reported per input (at most the model's class count).
  std::int64_t top_k = 5;
  /// Threads reading and preparing images; 0: 1 when the model runs on the CPU (it needs the
  /// cores), up to 4 on CUDA (decoding is then the bottleneck).
  std::size_t workers = 0;
  crop_options crop{};
  /// The preprocessing; when absent, what the checkpoint records (preprocessing_for).
  std::optional<predict::preprocessing> preprocess{};
};

/// A trained model ready to classify images in batches on its device.
class batch_classifier {
 public:
  using forward_function = std::function<torch::Tensor(const torch::Tensor&)>;
  /// Called with each job's position and outcome, in job order; return false to stop the run.
  using outcome_callback = std::function<bool(std::size_t, image_outcome&&)>;

  /// From a loaded checkpoint (tpt::load_checkpoint); the model is moved to options.device.
  explicit batch_classifier(checkpoint loaded, const classifier_options& options = {})
      : batch_classifier(std::move(loaded.model), std::move(loaded.metadata), options) {}

  /// From any model with the classifier hook and the metadata it was saved with.
  template <classifier_model M>
  batch_classifier(M model, model_metadata metadata, const classifier_options& options = {})
      : batch_classifier(
            [&] {
              model->to(options.device);
              model->eval();
              return forward_function([model](const torch::Tensor& x) mutable { return model->forward(x); });
            }(),
            std::move(metadata), options) {}

  /// From a forward function (already on options.device, in eval mode) and the model's metadata.
  batch_classifier(forward_function forward, model_metadata metadata, const classifier_options& options = {})
      : forward_(std::move(forward)), metadata_(std::move(metadata)), options_(options) {
    validate(metadata_);
    if (options_.batch_size < 1)
      throw config_error("batch size", fmt::format("must be at least 1, got {}", options_.batch_size));
    if (options_.top_k < 1) throw config_error("top k", fmt::format("must be at least 1, got {}", options_.top_k));
    validate(options_.crop);
    preprocess_ = options_.preprocess ? *options_.preprocess : preprocessing_for(metadata_);
    validate(preprocess_);
    if (preprocess_.channels() != metadata_.in_channels)
      throw config_error("channels", fmt::format("preprocessing makes {} channels, the model takes {}",
                                                 preprocess_.channels(), metadata_.in_channels));
    workers_ = options_.workers ? options_.workers : data::default_loader_workers(options_.device);
  }

  [[nodiscard]] const model_metadata& metadata() const noexcept { return metadata_; }
  [[nodiscard]] const predict::preprocessing& preprocess() const noexcept { return preprocess_; }
  [[nodiscard]] const classifier_options& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t workers() const noexcept { return workers_; }
  /// Classes reported per input: top_k, or the class count when that is smaller.
  [[nodiscard]] std::int64_t reported_classes() const noexcept {
    return std::min(options_.top_k, metadata_.num_classes());
  }

  /// Classify `jobs` in order. Inputs (whole images or crops) are batched in job order; the last
  /// batch is run at the end of the call, so the batches, and therefore every bit of the results,
  /// depend only on `jobs` and the batch size. `on_outcome` receives each job as soon as all its
  /// inputs ran. `stop_requested` is checked after each batch; when it returns true (or
  /// on_outcome returns false) no further batch runs. Returns the number of jobs delivered.
  std::size_t classify(std::span<const image_job> jobs, const outcome_callback& on_outcome,
                       const std::function<bool()>& stop_requested = {}) {
    const std::int64_t floats = input_floats();
    const std::size_t window = static_cast<std::size_t>(2 * options_.batch_size) + 2 * workers_;
    detail::ordered_pipeline<prepared> pipeline(jobs.size(), workers_, window, [&](std::size_t i) {
      thread_local preprocess_scratch scratch;
      prepared item;
      try {
        if (jobs[i].root)
          if (auto why = jobs[i].root->problem(jobs[i].file))
            throw data::image_error(jobs[i].file, data::image_problem::outside_root, *why);
        item.image = prepare_image(jobs[i].file, jobs[i].boxes, preprocess_, options_.crop, &scratch);
      } catch (const data::image_error& e) {
        item.failure = image_failure{e.problem(), e.detail()};
      }
      return item;
    });

    struct pending_job {
      std::size_t index;
      image_outcome outcome;
      std::int64_t waiting;
    };
    std::deque<pending_job> pending;
    std::vector<std::pair<std::size_t, std::size_t>> rows;  // (job index, box) of each batch row
    torch::Tensor buffer = batch_buffer();
    float* base = buffer.data_ptr<float>();
    std::size_t delivered = 0;
    bool stop = false;

    auto deliver = [&] {
      while (!stop && !pending.empty() && pending.front().waiting == 0) {
        if (!on_outcome(pending.front().index, std::move(pending.front().outcome))) stop = true;
        pending.pop_front();
        ++delivered;
      }
    };
    auto run_batch = [&] {
      if (rows.empty()) return;
      const auto n = static_cast<std::int64_t>(rows.size());
      auto scores = predict_batch(buffer.narrow(0, 0, n));
      for (std::size_t r = 0; r < rows.size(); ++r) {
        const auto [job, box] = rows[r];
        auto& p = pending[job - pending.front().index];
        p.outcome.predictions[box] = std::move(scores[r]);
        --p.waiting;
      }
      rows.clear();
      deliver();
      if (stop_requested && stop_requested()) stop = true;
    };

    for (std::size_t i = 0; i < jobs.size() && !stop; ++i) {
      prepared item = pipeline.next();
      pending_job p{i, {}, 0};
      if (item.failure) {
        p.outcome.failure = std::move(item.failure);
        pending.push_back(std::move(p));
        deliver();
        continue;
      }
      const auto& img = item.image;
      p.outcome.predictions.resize(img.crops.size());
      // Every input of the image is counted before any is queued: a batch that fills up halfway
      // through the image's crops runs, and the image must not look finished then.
      p.waiting = img.input_count();
      pending.push_back(std::move(p));
      const float* src = img.inputs.data();
      for (std::size_t b = 0; b < img.crops.size() && !stop; ++b) {
        if (img.crops[b].empty()) continue;
        std::memcpy(base + static_cast<std::int64_t>(rows.size()) * floats, src,
                    static_cast<std::size_t>(floats) * sizeof(float));
        src += floats;
        rows.emplace_back(i, b);
        if (static_cast<std::int64_t>(rows.size()) == options_.batch_size) run_batch();
      }
      deliver();
    }
    if (!stop) run_batch();
    return delivered;
  }

  /// Classify decoded images held in memory (1 or 3 channels, any size), each as a whole frame.
  [[nodiscard]] std::vector<std::vector<class_score>> classify(std::span<const data::image_view> images) {
    const std::int64_t floats = input_floats();
    std::vector<std::vector<class_score>> out;
    out.reserve(images.size());
    torch::Tensor buffer = batch_buffer();
    preprocess_scratch scratch;
    std::int64_t filled = 0;
    auto flush = [&] {
      if (filled == 0) return;
      for (auto& s : predict_batch(buffer.narrow(0, 0, filled))) out.push_back(std::move(s));
      filled = 0;
    };
    for (const auto& image : images) {
      const data::image matched = image.channels == preprocess_.channels()
                                      ? data::image{}
                                      : data::convert_channels(image, preprocess_.channels());
      preprocess_into(matched.empty() ? image : matched.view(), preprocess_, buffer.data_ptr<float>() + filled * floats,
                      scratch);
      if (++filled == options_.batch_size) flush();
    }
    flush();
    return out;
  }

 private:
  struct prepared {
    prepared_image image{};
    std::optional<image_failure> failure{};
  };

  [[nodiscard]] std::int64_t input_floats() const noexcept {
    return preprocess_.channels() * preprocess_.input_height * preprocess_.input_width;
  }

  /// Host memory for one batch; pinned with a CUDA model, so the copy to the device is a DMA.
  [[nodiscard]] torch::Tensor batch_buffer() const {
    auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    if (options_.device.is_cuda()) opts = opts.pinned_memory(true);
    return torch::empty({options_.batch_size, preprocess_.channels(), preprocess_.input_height, preprocess_.input_width},
                        opts);
  }

  /// The batch through the model: top-k per row. Copying the probabilities back waits for the
  /// device, so the host buffer is free again when this returns.
  std::vector<std::vector<class_score>> predict_batch(const torch::Tensor& host_batch) {
    c10::InferenceMode guard;
    const torch::Tensor x = host_batch.to(options_.device, /*non_blocking=*/options_.device.is_cuda());
    const torch::Tensor logits = forward_(x);
    if (logits.dim() != 2 || logits.size(0) != host_batch.size(0) || logits.size(1) != metadata_.num_classes())
      throw config_error("model", fmt::format("returned logits of shape {} for a batch of {}; expected {} x {} (one "
                                              "per class name in the metadata)",
                                              fmt::join(logits.sizes().begin(), logits.sizes().end(), " x "),
                                              host_batch.size(0), host_batch.size(0),
                                              metadata_.num_classes()));
    return top_k(logits, options_.top_k);
  }

  forward_function forward_;
  model_metadata metadata_;
  classifier_options options_;
  predict::preprocessing preprocess_;
  std::size_t workers_ = 1;
};

}  // namespace tpt::predict

template <>
struct fmt::formatter<tpt::predict::image_failure> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::predict::image_failure& f, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}: {}", tpt::data::to_string(f.problem), f.detail);
  }
};
