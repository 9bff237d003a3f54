// Where training runs: device selection, thread count, bf16 autocast and cuDNN settings, written
// once for LibTorch 1.13 (Debian, CPU) and 2.x (CUDA builds), whose autocast APIs differ.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#include "tpt/core/device.hpp"  // resolve_device
#include "tpt/core/error.hpp"

namespace tpt {

/// Set torch's intra-op thread count. 0 means one per hardware thread: Debian's LibTorch starts
/// with a single thread, which leaves most of a machine idle.
inline std::size_t configure_threads(std::size_t threads = 0) {
  const std::size_t n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
  torch::set_num_threads(static_cast<int>(n));
  return n;
}

/// What configure_cpu_allocator() set.
struct allocator_settings {
  bool applied = false;               // false where the C library is not glibc
  std::size_t mmap_threshold = 0;     // bytes: larger blocks come straight from the kernel
  std::size_t trim_threshold = 0;     // bytes of free heap kept before returning any to the kernel
};

/// Keep freed tensor memory in the process instead of handing it back to the kernel. A CPU
/// training step frees and reallocates the same multi-megabyte tensors (activations, gradients,
/// optimiser temporaries) every time; with glibc's defaults many of them are mmap-ed afresh and
/// every page faults in again on first touch. Raising glibc's mmap threshold to its 32 MiB
/// maximum and keeping up to 1 GiB of free heap lets those blocks be reused: what PyTorch's CPU
/// performance guide gets by preloading tcmalloc or jemalloc, without either. ResNet-18 steps
/// run about 1.2x faster here (docs/benchmarks.md). Process-wide, so a program calls it once at
/// start; where the C library is not glibc it does nothing and says so (applied = false).
inline allocator_settings configure_cpu_allocator() {
#if defined(__GLIBC__)
  constexpr int mmap_threshold = 32 << 20;  // glibc's maximum on 64-bit (HEAP_MAX_SIZE / 2)
  constexpr int trim_threshold = 1 << 30;
  const bool ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
  return {ok, static_cast<std::size_t>(mmap_threshold), static_cast<std::size_t>(trim_threshold)};
#else
  return {};
#endif
}

/// Settings that pay on CUDA for fixed-size inputs: cuDNN picks the fastest convolution
/// algorithms once (benchmark mode) and TF32 for float32 matrix products.
inline void configure_cuda_for_speed() {
  at::globalContext().setBenchmarkCuDNN(true);
  at::globalContext().setAllowTF32CuBLAS(true);
  at::globalContext().setAllowTF32CuDNN(true);
}

/// bf16 autocast for the forward pass on CUDA (weights, gradients and optimizer stay float32);
/// a no-op on the CPU or when disabled. RAII: the previous state comes back on destruction.
class autocast_guard {
 public:
  autocast_guard(const torch::Device& device, bool enabled) : active_(enabled && device.is_cuda()) {
    if (!active_) return;
#if TORCH_VERSION_MAJOR >= 2
    previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
    previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    previous_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
    at::autocast::increment_nesting();
  }
  ~autocast_guard() {
    if (!active_) return;
    // Cached casts of weights live until the outermost autocast region ends.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR >= 2
    at::autocast::set_autocast_enabled(at::kCUDA, previous_);
    at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
#else
    at::autocast::set_enabled(previous_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
#endif
  }
  autocast_guard(const autocast_guard&) = delete;
  autocast_guard& operator=(const autocast_guard&) = delete;

  [[nodiscard]] bool active() const noexcept { return active_; }

 private:
  bool active_;
  bool previous_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

}  // namespace tpt
