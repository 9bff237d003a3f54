// Device names as users type them ("cpu", "cuda", "cuda:N", "auto") to a torch::Device: one parser
// for the trainer, the example programs and tpt-predict.
#pragma once

#include <charconv>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"

namespace tpt {

/// "cpu", "cuda", "cuda:N" or "auto" (CUDA when LibTorch sees a device, else the CPU) to a
/// torch::Device. Asking for CUDA where there is none is a tpt::config_error naming the option,
/// not a silent fall-back to the CPU; so are a malformed device number and one past the last GPU.
[[nodiscard]] inline torch::Device resolve_device(std::string_view name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name.starts_with("cuda:")) {
    int index = -1;
    if (name.size() > 4) {
      const std::string_view digits = name.substr(5);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || index < 0)
        throw config_error("device", fmt::format("expected cuda:N with a device number N, got '{}'", name));
    }
    if (!torch::cuda::is_available())
      throw config_error("device", fmt::format("'{}' asked for, but LibTorch sees no CUDA device (no GPU, no driver, "
                                               "or a LibTorch built without CUDA); use cpu or auto", name));
    if (index >= static_cast<int>(torch::cuda::device_count()))
      throw config_error("device", fmt::format("'{}' asked for, but there are {} CUDA device(s)", name,
                                               torch::cuda::device_count()));
    return index < 0 ? torch::Device(torch::kCUDA) : torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw config_error("device", fmt::format("unknown device '{}' (expected cpu, cuda, cuda:N or auto)", name));
}

}  // namespace tpt
