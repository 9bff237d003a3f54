// ResNet-18 and ResNet-34 (the BasicBlock family) with torchvision's architecture, module names
// and initialisation, so state_dicts map one to one in both directions.
#pragma once

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/model/detail/live_taps.hpp"
#include "tpt/model/detail/max_pool.hpp"
#include "tpt/model/detail/small_map_batch_norm.hpp"

namespace tpt {

/// The first layers before layer1.
enum class resnet_stem {
  /// torchvision's: 7x7 convolution with stride 2, then 3x3 max-pool with stride 2 (input / 4).
  imagenet,
  /// For 28-64 px inputs (CIFAR-style): 3x3 convolution with stride 1, no max-pool, so a 32 px
  /// image still reaches layer4 at 4x4 instead of 1x1. Parameter names stay torchvision's.
  small_image,
};

inline std::string_view to_string(resnet_stem stem) noexcept {
  return stem == resnet_stem::imagenet ? "imagenet" : "small_image";
}

/// tpt::config_error unless `name` is "imagenet" or "small_image".
inline resnet_stem parse_resnet_stem(std::string_view name) {
  if (name == "imagenet") return resnet_stem::imagenet;
  if (name == "small_image") return resnet_stem::small_image;
  throw config_error("stem", fmt::format("expected 'imagenet' or 'small_image', got '{}'", name));
}

struct resnet_options {
  std::int64_t num_classes = 1000;
  std::int64_t in_channels = 3;
  resnet_stem stem = resnet_stem::imagenet;
  /// torchvision's zero_init_residual: each block's last BatchNorm starts with weight 0, so every
  /// residual block starts as the identity.
  bool zero_init_residual = false;
  /// Convolve with only the kernel taps that can see the feature map: on maps as small as the
  /// kernel (layer4 is 1x1 for 28 px images through the ImageNet stem) the other taps multiply
  /// zero padding everywhere. Same outputs and gradients to float summation order; off runs
  /// every convolution in full, as torchvision does.
  bool skip_padding_taps = true;
  /// BatchNorm on CPU maps of 2 to 12 pixels (layer3 is 2x2 for 28 px images through the
  /// ImageNet stem) over the (N*H*W) x C matrix the map is, where LibTorch's kernel is slowest.
  /// Same outputs, gradients and running statistics to float summation order; off runs
  /// BatchNorm2d as it is.
  bool small_map_batch_norm = true;
  /// The ImageNet stem's max-pool on the CPU through LibTorch's channels-last forward kernel (5-7x
  /// faster than its NCHW one at 14x14) and NCHW backward. Same outputs and gradients exactly.
  bool channels_last_max_pool = true;
};

/// torchvision.models.resnet.BasicBlock: two 3x3 convolutions and a shortcut, which is a 1x1
/// convolution plus BatchNorm ("downsample") when the shape changes.
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr std::int64_t expansion = 1;

  /// `options` gives the CPU kernel choices (skip_padding_taps, small_map_batch_norm); the
  /// network-level fields do not concern a block.
  BasicBlockImpl(std::int64_t in_planes, std::int64_t planes, std::int64_t stride, const resnet_options& options = {})
      : conv1(register_module("conv1", conv3x3(in_planes, planes, stride))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(planes))),
        conv2(register_module("conv2", conv3x3(planes, planes, 1))),
        bn2(register_module("bn2", torch::nn::BatchNorm2d(planes))),
        skip_padding_taps_(options.skip_padding_taps),
        small_map_batch_norm_(options.small_map_batch_norm) {
    if (stride != 1 || in_planes != planes * expansion) {
      downsample = register_module(
          "downsample",
          torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(in_planes, planes * expansion, 1)
                                                      .stride(stride)
                                                      .bias(false)),
                                torch::nn::BatchNorm2d(planes * expansion)));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = norm(*bn1, detail::convolve(*conv1, x, skip_padding_taps_));
    out.relu_();
    out = norm(*bn2, detail::convolve(*conv2, out, skip_padding_taps_));
    if (downsample.is_empty()) {
      out += x;
    } else {  // Sequential(1x1 convolution, BatchNorm2d), named as torchvision names it
      const auto shortcut = detail::convolve(*downsample[0]->as<torch::nn::Conv2d>(), x, skip_padding_taps_);
      out += norm(*downsample[1]->as<torch::nn::BatchNorm2d>(), shortcut);
    }
    return out.relu_();
  }

  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Sequential downsample{nullptr};

 private:
  bool skip_padding_taps_;
  bool small_map_batch_norm_;

  torch::Tensor norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) const {
    return detail::batch_norm(bn, x, small_map_batch_norm_);
  }

  static torch::nn::Conv2d conv3x3(std::int64_t in, std::int64_t out, std::int64_t stride) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
  }
};
TORCH_MODULE(BasicBlock);

/// torchvision.models.ResNet with BasicBlocks: conv1, bn1, layer1..layer4, fc. Satisfies
/// tpt::classifier_model: features(x) is the 512-wide pooled output, classifier() is fc.
class ResNetImpl : public torch::nn::Module {
 public:
  /// `blocks`: BasicBlocks per stage, {2, 2, 2, 2} for ResNet-18, {3, 4, 6, 3} for ResNet-34.
  ResNetImpl(std::array<std::int64_t, 4> blocks, const resnet_options& options)
      : blocks_(blocks), options_(options) {
    if (options.num_classes < 1)
      throw config_error("num_classes", fmt::format("must be at least 1, got {}", options.num_classes));
    if (options.in_channels < 1)
      throw config_error("in_channels", fmt::format("must be at least 1, got {}", options.in_channels));
    for (auto b : blocks)
      if (b < 1) throw config_error("blocks", fmt::format("every stage needs a block, got {}", b));

    const bool small = options.stem == resnet_stem::small_image;
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_channels, 64,
                                                                                small ? 3 : 7)
                                                           .stride(small ? 1 : 2)
                                                           .padding(small ? 1 : 3)
                                                           .bias(false)));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(64));
    layer1 = register_module("layer1", make_stage(64, blocks[0], 1));
    layer2 = register_module("layer2", make_stage(128, blocks[1], 2));
    layer3 = register_module("layer3", make_stage(256, blocks[2], 2));
    layer4 = register_module("layer4", make_stage(512, blocks[3], 2));
    fc = register_module("fc", torch::nn::Linear(512 * BasicBlockImpl::expansion, options.num_classes));
    initialise();
  }

  /// The pooled, flattened output of layer4: [N, 512].
  torch::Tensor features(torch::Tensor x) {
    x = detail::batch_norm(*bn1, detail::convolve(*conv1, x, options_.skip_padding_taps), options_.small_map_batch_norm);
    x.relu_();
    if (options_.stem == resnet_stem::imagenet) x = detail::max_pool2d(x, 3, 2, 1, options_.channels_last_max_pool);
    x = layer1->forward(x);
    x = layer2->forward(x);
    x = layer3->forward(x);
    x = layer4->forward(x);
    return torch::flatten(torch::adaptive_avg_pool2d(x, {1, 1}), 1);
  }

  torch::Tensor forward(const torch::Tensor& x) { return fc(features(x)); }

  torch::nn::Linear& classifier() noexcept { return fc; }
  const torch::nn::Linear& classifier() const noexcept { return fc; }

  [[nodiscard]] const resnet_options& options() const noexcept { return options_; }
  [[nodiscard]] const std::array<std::int64_t, 4>& blocks() const noexcept { return blocks_; }
  /// 18 or 34 for the standard layouts: 2 layers per block plus conv1 and fc.
  [[nodiscard]] std::int64_t depth() const noexcept {
    return 2 * (blocks_[0] + blocks_[1] + blocks_[2] + blocks_[3]) + 2;
  }
  /// "resnet18", "resnet34": the name torchvision and tpt's checkpoints use.
  [[nodiscard]] std::string architecture() const { return fmt::format("resnet{}", depth()); }

  void pretty_print(std::ostream& stream) const override {
    stream << fmt::format("tpt::ResNet({}, num_classes={}, in_channels={}, stem={})", architecture(),
                          options_.num_classes, options_.in_channels, to_string(options_.stem));
  }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  torch::nn::Sequential make_stage(std::int64_t planes, std::int64_t count, std::int64_t stride) {
    torch::nn::Sequential stage;
    stage->push_back(BasicBlock(in_planes_, planes, stride, options_));
    in_planes_ = planes * BasicBlockImpl::expansion;
    for (std::int64_t i = 1; i < count; ++i)
      stage->push_back(BasicBlock(in_planes_, planes, 1, options_));
    return stage;
  }

  // torchvision's ResNet.__init__: kaiming normal (fan_out, relu) for convolutions, BatchNorm
  // weight 1 and bias 0; Linear keeps its default (LibTorch's equals PyTorch's).
  void initialise() {
    for (const auto& m : modules(/*include_self=*/false)) {
      if (auto* conv = m->as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
        torch::nn::init::ones_(bn->weight);
        torch::nn::init::zeros_(bn->bias);
      }
    }
    if (options_.zero_init_residual)
      for (const auto& m : modules(/*include_self=*/false))
        if (auto* block = m->as<BasicBlock>()) torch::nn::init::zeros_(block->bn2->weight);
  }

  std::array<std::int64_t, 4> blocks_;
  resnet_options options_;
  std::int64_t in_planes_ = 64;
};
TORCH_MODULE(ResNet);

/// ResNet-18: 11,689,512 parameters with 1000 classes, 11,203,188 with 52.
inline ResNet resnet18(const resnet_options& options = {}) {
  return ResNet(std::array<std::int64_t, 4>{2, 2, 2, 2}, options);
}

/// ResNet-34: 21,797,672 parameters with 1000 classes.
inline ResNet resnet34(const resnet_options& options = {}) {
  return ResNet(std::array<std::int64_t, 4>{3, 4, 6, 3}, options);
}

/// Whether make_resnet builds `architecture` (a checkpoint naming one is rebuilt as a ResNet).
[[nodiscard]] inline bool is_resnet_architecture(std::string_view architecture) noexcept {
  return architecture == "resnet18" || architecture == "resnet34";
}

/// Build by torchvision name ("resnet18", "resnet34"); tpt::config_error for anything else.
inline ResNet make_resnet(std::string_view architecture, const resnet_options& options = {}) {
  if (architecture == "resnet18") return resnet18(options);
  if (architecture == "resnet34") return resnet34(options);
  throw config_error("architecture",
                     fmt::format("expected 'resnet18' or 'resnet34', got '{}'", architecture));
}

}  // namespace tpt

template <>
struct fmt::formatter<tpt::resnet_stem> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(tpt::resnet_stem stem, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::to_string(stem), ctx);
  }
};
