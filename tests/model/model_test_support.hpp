// Helpers shared by the model suite: the torchvision reference script and a user-defined model.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

namespace tpt::test {

/// Run tests/model/torchvision_reference.py with Debian's python3 (torch + torchvision); the
/// test fails, never skips, when that interpreter cannot run it.
inline void run_reference(const std::string& arguments) {
  const std::string command = fmt::format("'{}' '{}/tests/model/torchvision_reference.py' {}", TPT_REFERENCE_PYTHON,
                                          TPT_SOURCE_DIR, arguments);
  INFO("command: " << command);
  REQUIRE(std::system(command.c_str()) == 0);
}

/// Largest absolute difference, as a double (for readable failure messages).
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// A model a user might write: its own layer names ("stem", "norm", "head"), a BatchNorm, and the
/// classifier hook. Nothing in tpt knows these names.
class TinyNetImpl : public torch::nn::Module {
 public:
  explicit TinyNetImpl(std::int64_t classes = 3)
      : stem(register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)))),
        norm(register_module("norm", torch::nn::BatchNorm2d(8))),
        mixer(register_module("mixer", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).padding(1)))),
        mixer_norm(register_module("mixer_norm", torch::nn::BatchNorm2d(16))),
        head(register_module("head", torch::nn::Linear(16, classes))) {}

  torch::Tensor features(const torch::Tensor& x) {
    auto y = torch::relu(norm(stem(x)));
    y = torch::relu(mixer_norm(mixer(y)));
    return torch::flatten(torch::adaptive_avg_pool2d(y, {1, 1}), 1);
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(features(x)); }
  // Deliberately non-const and by value: the hook is all tpt asks for.
  torch::nn::Linear classifier() { return head; }

  torch::nn::Conv2d stem;
  torch::nn::BatchNorm2d norm;
  torch::nn::Conv2d mixer;
  torch::nn::BatchNorm2d mixer_norm;
  torch::nn::Linear head;
};
TORCH_MODULE(TinyNet);

}  // namespace tpt::test
