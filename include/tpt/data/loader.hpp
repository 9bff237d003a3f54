// The image loader: batches in exactly the order of a sampling plan (repeats allowed), augmented
// on worker threads ahead of the model, handed over as float32 N x C x H x W tensors (optionally
// channels_last) with int64 targets on the target device; on CUDA through pinned memory and
// non-blocking copies.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/data/augment.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/image.hpp"

namespace tpt::data {

/// Anything that hands out images by index: the decoded cache, tensor_image_store, or yours.
template <class S>
concept image_store = std::copy_constructible<S> && requires(const S& s, std::size_t i) {
  { s.size() } -> std::convertible_to<std::size_t>;
  { s[i] } -> std::convertible_to<image_view>;
};

/// uint8 images held in a CPU tensor (N x H x W x C, or N x H x W for grey) as an image_store:
/// for small in-memory sets and tests. Copies share the tensor.
class tensor_image_store {
 public:
  explicit tensor_image_store(torch::Tensor images) {
    if (images.scalar_type() != torch::kUInt8 || (images.dim() != 3 && images.dim() != 4) || !images.device().is_cpu())
      throw config_error("images", fmt::format("expected a CPU uint8 tensor N x H x W x C or N x H x W, got {} {}",
                                               c10::toString(images.scalar_type()), fmt::join(images.sizes(), " x ")));
    images_ = images.dim() == 3 ? images.unsqueeze(3).contiguous() : images.contiguous();
  }
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(images_.size(0)); }
  [[nodiscard]] image_view operator[](std::size_t i) const noexcept {
    const std::int64_t h = images_.size(1), w = images_.size(2), c = images_.size(3);
    return {images_.data_ptr<std::uint8_t>() + static_cast<std::int64_t>(i) * h * w * c, h, w, c};
  }

 private:
  torch::Tensor images_;
};

static_assert(image_store<decoded_cache>);
static_assert(image_store<tensor_image_store>);

/// Worker threads the loader uses when loader_options::workers is 0. Training on the CPU, the
/// model needs every core (torch's intra-op threads) and one worker already outruns it by two
/// orders of magnitude (docs/data-images.md), so: 1. On CUDA, the CPU has little else to do:
/// up to 4, keeping one core for the training loop.
[[nodiscard]] inline std::size_t default_loader_workers(const torch::Device& device) {
  const std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
  if (device.is_cuda()) return std::clamp<std::size_t>(hw - 1, 1, 4);
  return 1;
}

struct loader_options {
  std::int64_t batch_size = 64;
  bool drop_last = false;  ///< drop a last batch smaller than batch_size
  std::size_t workers = 0;   ///< 0: default_loader_workers(device)
  std::size_t prefetch = 0;  ///< batches made ahead of the consumer; 0: 2 per worker
  augment_options augment{};
  std::uint64_t seed = 0;
  std::int64_t epoch = 0;
  torch::Device device = torch::kCPU;
  bool channels_last = false;  ///< images in channels_last memory format (faster convolutions on CUDA)
  bool pin_memory = true;      ///< with a CUDA device: pinned host buffers and non-blocking copies
};

/// One batch: images (float32 N x C x H x W), targets (int64 N) and the example indices
/// (positions in the image store) they came from.
struct image_batch {
  torch::Tensor images;
  torch::Tensor targets;
  std::vector<std::int64_t> indices;
};

template <image_store Store = decoded_cache>
class image_loader {
 public:
  /// `labels[i]` is the class of store[i]; `order` lists example indices in the order to serve
  /// them (a shuffled sampling plan; repeats allowed). One loader serves one epoch.
  image_loader(Store store, std::span<const std::int64_t> labels, std::vector<std::int64_t> order,
               loader_options options = {})
      : store_(std::move(store)), labels_(labels.begin(), labels.end()), order_(std::move(order)), o_(std::move(options)) {
    const std::size_t n = store_.size();
    if (labels_.size() != n)
      throw config_error("labels", fmt::format("{} labels for {} images", labels_.size(), n));
    if (o_.batch_size <= 0) throw config_error("batch_size", fmt::format("must be positive, got {}", o_.batch_size));
    occurrence_.resize(order_.size());
    std::vector<std::int32_t> seen(n, 0);
    for (std::size_t p = 0; p < order_.size(); ++p) {
      const std::int64_t i = order_[p];
      if (i < 0 || static_cast<std::size_t>(i) >= n)
        throw config_error("order", fmt::format("position {}: example index {} is outside 0..{}", p, i,
                                                static_cast<std::int64_t>(n) - 1));
      occurrence_[p] = seen[static_cast<std::size_t>(i)]++;
    }
    channels_ = n ? store_[0].channels : 1;
    validate(o_.augment, channels_);
    if (o_.device.is_cuda() && !torch::cuda::is_available())
      throw config_error("device", fmt::format("{} requested, but CUDA is not available", o_.device.str()));
    pin_ = o_.pin_memory && o_.device.is_cuda();
    const auto bs = static_cast<std::size_t>(o_.batch_size);
    total_ = o_.drop_last ? order_.size() / bs : (order_.size() + bs - 1) / bs;
    const std::size_t workers = std::max<std::size_t>(1, o_.workers ? o_.workers : default_loader_workers(o_.device));
    window_ = o_.prefetch ? o_.prefetch : 2 * workers;
    slots_.resize(window_);
    threads_.reserve(workers);
    try {
      for (std::size_t w = 0; w < std::min(workers, std::max<std::size_t>(total_, 1)); ++w)
        threads_.emplace_back([this] { work(); });
    } catch (...) {
      shutdown();
      throw;
    }
  }

  image_loader(const image_loader&) = delete;
  image_loader& operator=(const image_loader&) = delete;
  /// Stops the workers (each finishes at most the image it is on) and joins them: destroying a
  /// loader mid-epoch neither hangs nor leaks threads.
  ~image_loader() { shutdown(); }

  /// Number of batches this epoch.
  [[nodiscard]] std::size_t size() const noexcept { return total_; }

  /// The next batch in plan order, or nullopt after the last. An exception a worker hit while
  /// making this batch is rethrown here (and again on later calls).
  std::optional<image_batch> next() {
    if (failure_) std::rethrow_exception(failure_);
    if (returned_ == total_) return std::nullopt;
    slot s;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return slots_[returned_ % window_].has_value(); });
      s = std::move(*slots_[returned_ % window_]);
      slots_[returned_ % window_].reset();
      ++returned_;
    }
    room_.notify_all();
    if (s.error) {
      failure_ = s.error;
      shutdown();
      std::rethrow_exception(failure_);
    }
    if (!o_.device.is_cpu()) {
      s.batch.images = s.batch.images.to(o_.device, /*non_blocking=*/pin_);
      s.batch.targets = s.batch.targets.to(o_.device, /*non_blocking=*/pin_);
    }
    return std::move(s.batch);
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = image_batch;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(image_loader* l) : loader_(l) { ++*this; }
    image_batch& operator*() { return *current_; }
    image_batch* operator->() { return &*current_; }
    iterator& operator++() {
      current_ = loader_->next();
      if (!current_) loader_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.loader_ == b.loader_; }

   private:
    image_loader* loader_ = nullptr;
    std::optional<image_batch> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  struct slot {
    image_batch batch;
    std::exception_ptr error;
  };

  void work() {
    for (;;) {
      std::size_t b = 0;
      {
        std::unique_lock lock(mutex_);
        room_.wait(lock, [&] { return stop_ || failed_ || claimed_ >= total_ || claimed_ < returned_ + window_; });
        if (stop_ || failed_ || claimed_ >= total_) return;
        b = claimed_++;
      }
      slot s;
      try {
        s.batch = make_batch(b);
      } catch (...) {
        s.error = std::current_exception();
      }
      {
        std::lock_guard lock(mutex_);
        if (stop_) return;
        if (s.error) failed_ = true;  // batches before b are claimed already and will arrive
        slots_[b % window_] = std::move(s);
      }
      ready_.notify_all();
    }
  }

  image_batch make_batch(std::size_t b) {
    const auto bs = static_cast<std::size_t>(o_.batch_size);
    const std::size_t begin = b * bs;
    const std::size_t end = std::min(begin + bs, order_.size());
    const auto n = static_cast<std::int64_t>(end - begin);
    const std::int64_t h = o_.augment.height, w = o_.augment.width;
    auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    if (pin_) opts = opts.pinned_memory(true);
    image_batch out;
    out.images = batch_buffer(n, h, w, opts);
    out.targets = torch::empty({n}, opts.dtype(torch::kInt64));
    out.indices.assign(order_.begin() + static_cast<std::ptrdiff_t>(begin), order_.begin() + static_cast<std::ptrdiff_t>(end));
    float* images = out.images.data_ptr<float>();
    std::int64_t* targets = out.targets.data_ptr<std::int64_t>();
    const std::int64_t stride = channels_ * h * w;
    const tensor_layout layout = o_.channels_last ? tensor_layout::hwc : tensor_layout::chw;
    for (std::int64_t k = 0; k < n; ++k) {
      if (stop_.load(std::memory_order_relaxed)) throw stopped{};
      const std::size_t p = begin + static_cast<std::size_t>(k);
      const std::int64_t i = order_[p];
      const image_view img = store_[static_cast<std::size_t>(i)];
      if (img.channels != channels_)
        throw config_error("images", fmt::format("example {} has {} channels, the first has {}", i, img.channels, channels_));
      augment_into(img, o_.augment, augment_seed(o_.seed, o_.epoch, i, occurrence_[p]), images + k * stride, layout);
      targets[k] = labels_[static_cast<std::size_t>(i)];
    }
    return out;
  }

  struct stopped {};

  /// A batch-sized image tensor, recycled from earlier batches once nobody holds them (no
  /// tensor or view shares the storage). Fresh 38 MB batches would cost more in page faults and
  /// zeroing than augmenting them. Not on CUDA: there the pinned buffer may still be read by a
  /// non-blocking copy after the caller drops it; LibTorch's caching host allocator handles that.
  torch::Tensor batch_buffer(std::int64_t n, std::int64_t h, std::int64_t w, const torch::TensorOptions& opts) {
    const auto format = o_.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    if (pin_ || n != o_.batch_size) return torch::empty({n, channels_, h, w}, opts.memory_format(format));
    {
      std::lock_guard lock(pool_mutex_);
      for (auto& t : pool_)
        if (t.storage().use_count() == 1 && t.use_count() == 1) return t;  // our reference is the only one
    }
    torch::Tensor t = torch::empty({n, channels_, h, w}, opts.memory_format(format));
    std::lock_guard lock(pool_mutex_);
    if (pool_.size() < window_ + 4) pool_.push_back(t);
    return t;
  }

  void shutdown() noexcept {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    room_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  Store store_;
  std::vector<std::int64_t> labels_;
  std::vector<std::int64_t> order_;
  std::vector<std::int32_t> occurrence_;
  loader_options o_;
  std::int64_t channels_ = 1;
  bool pin_ = false;
  std::size_t total_ = 0;
  std::size_t window_ = 1;

  std::mutex mutex_;
  std::condition_variable room_;   // workers wait for a free slot in the window
  std::condition_variable ready_;  // the consumer waits for the next batch
  std::vector<std::optional<slot>> slots_;
  std::size_t claimed_ = 0;
  std::size_t returned_ = 0;
  std::atomic<bool> stop_{false};
  bool failed_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> threads_;
  std::mutex pool_mutex_;
  std::vector<torch::Tensor> pool_;
};

/// Deduce image_loader<Store> from the store argument.
template <image_store Store>
image_loader(Store, std::span<const std::int64_t>, std::vector<std::int64_t>, loader_options) -> image_loader<Store>;
template <image_store Store>
image_loader(Store, std::span<const std::int64_t>, std::vector<std::int64_t>) -> image_loader<Store>;

}  // namespace tpt::data
