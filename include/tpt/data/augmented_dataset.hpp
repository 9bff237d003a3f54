// A torch::data adapter: images from a store (the decoded cache) with their labels, augmented,
// as a map-style torch::data dataset, for code built around torch::data::make_data_loader.
// tpt's own image_loader is faster (batched buffers, plan order with repeats, pinned memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/data/augment.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/loader.hpp"

namespace tpt::data {

/// get(i) is {augment(store[i]) as float C x H x W, labels[i] as an int64 scalar}. The draws come
/// from augment_seed(seed, epoch, i): torch::data samplers do not say how often an index repeats
/// within an epoch, so every copy of an example gets the same augmentation within one epoch;
/// call set_epoch before each epoch for fresh draws.
template <image_store Store = decoded_cache>
class augmented_dataset : public torch::data::datasets::Dataset<augmented_dataset<Store>> {
 public:
  augmented_dataset(Store store, std::span<const std::int64_t> labels, augment_options options, std::uint64_t seed = 0)
      : store_(std::move(store)), labels_(labels.begin(), labels.end()), options_(std::move(options)), seed_(seed) {
    if (labels_.size() != store_.size())
      throw config_error("labels", fmt::format("{} labels for {} images", labels_.size(), store_.size()));
    if (store_.size() > 0) validate(options_, store_[0].channels);
  }

  void set_epoch(std::int64_t epoch) noexcept { epoch_ = epoch; }
  [[nodiscard]] std::int64_t epoch() const noexcept { return epoch_; }

  torch::data::Example<> get(std::size_t index) override {
    if (index >= store_.size())
      throw std::out_of_range(fmt::format("augmented_dataset: index {} of {}", index, store_.size()));
    const auto i = static_cast<std::int64_t>(index);
    return {augment(store_[index], options_, augment_seed(seed_, epoch_, i)),
            torch::tensor(labels_[index], torch::kInt64)};
  }

  // The base's return type: c10::optional in LibTorch 1.13, std::optional in 2.x.
  [[nodiscard]] auto size() const
      -> decltype(std::declval<const torch::data::datasets::Dataset<augmented_dataset>&>().size()) override {
    return store_.size();
  }

 private:
  Store store_;
  std::vector<std::int64_t> labels_;
  augment_options options_;
  std::uint64_t seed_ = 0;
  std::int64_t epoch_ = 0;
};

}  // namespace tpt::data
