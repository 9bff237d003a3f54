// The model concern on a CUDA device: weights load from CPU files into a GPU model, logits equal
// the CPU's, frozen weights and statistics stay bit-identical, checkpoints cross devices.
// Runs where LibTorch sees a GPU; elsewhere it says so and checks nothing.
#include <map>
#include <string>

#include <ATen/Context.h>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "model_test_support.hpp"
#include "tpt/freeze/freezer.hpp"
#include "tpt/freeze/policies.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/model/weights.hpp"
#include "tpt_test_support.hpp"

using tpt::test::max_abs_diff;

namespace {

std::map<std::string, torch::Tensor> host_snapshot(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out.emplace(p.key(), p.value().detach().cpu().clone());
  for (const auto& b : m.named_buffers()) out.emplace(b.key(), b.value().cpu().clone());
  return out;
}

}  // namespace

TEST_CASE("on a CUDA device the model, weights, freezers and checkpoints behave as on the CPU", "[model][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device visible to LibTorch: CUDA checks not run");
    return;
  }
  // IEEE fp32 on the GPU, so that CPU and GPU logits are comparable to 1e-4.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  const torch::Device cuda(torch::kCUDA);
  tpt::test::scratch_dir dir("tpt-cuda");

  torch::manual_seed(41);
  auto cpu = tpt::resnet18({.num_classes = 52});
  {
    torch::NoGradGuard no_grad;
    for (const auto& b : cpu->named_buffers()) {
      if (b.key().ends_with("running_mean")) b.value().normal_(0.0, 0.2);
      if (b.key().ends_with("running_var")) b.value().uniform_(0.5, 2.0);
    }
  }
  tpt::model_metadata meta;
  for (int i = 0; i < 52; ++i) meta.class_names.push_back(fmt::format("species{}", i));
  tpt::save_checkpoint(dir / "cpu.tpt", cpu, meta);
  cpu->eval();
  const auto x = torch::randn({4, 3, 64, 64});
  torch::Tensor reference;
  {
    torch::NoGradGuard no_grad;
    reference = cpu->forward(x);
  }

  // Weights from a CPU file into a model already on the GPU; channels_last there too.
  auto gpu = tpt::resnet18({.num_classes = 52});
  gpu->to(cuda);
  CHECK(tpt::load_weights(gpu, dir / "cpu.tpt").loaded == 122);
  gpu->eval();
  {
    torch::NoGradGuard no_grad;
    CHECK(gpu->fc->weight.device().is_cuda());
    CHECK(max_abs_diff(gpu->forward(x.to(cuda)).cpu(), reference) < 1e-4);
    for (auto& p : gpu->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    const auto xl = x.to(cuda).contiguous(torch::MemoryFormat::ChannelsLast);
    CHECK(max_abs_diff(gpu->forward(xl).cpu(), reference) < 1e-4);
    CHECK(torch::equal(gpu->forward(xl), gpu->classifier()(gpu->features(xl))));
  }

  // load_checkpoint straight onto the GPU.
  auto loaded = tpt::load_checkpoint(dir / "cpu.tpt", cuda);
  {
    torch::NoGradGuard no_grad;
    CHECK(loaded.model->conv1->weight.device().is_cuda());
    CHECK(max_abs_diff(loaded.model->forward(x.to(cuda)).cpu(), reference) < 1e-4);
  }

  // Phase 2 on the GPU: frozen weights and BatchNorm buffers bit-identical, the classifier moves.
  const auto before = host_snapshot(*gpu);
  tpt::freeze_all_but_classifier freezer;
  freezer.apply(gpu);
  freezer.train(gpu);
  torch::optim::Adam optimizer(tpt::trainable_parameters(gpu), torch::optim::AdamOptions(1e-2).weight_decay(1e-4));
  for (int i = 0; i < 3; ++i) {
    optimizer.zero_grad();
    const auto y = torch::randint(52, {8}, torch::TensorOptions().dtype(torch::kLong).device(cuda));
    torch::nn::functional::cross_entropy(gpu->forward(torch::randn({8, 3, 64, 64}, cuda)), y).backward();
    optimizer.step();
  }
  for (const auto& [name, value] : host_snapshot(*gpu)) {
    INFO(name);
    CHECK(torch::equal(value, before.at(name)) == !name.starts_with("fc."));
  }

  // A checkpoint of the GPU model holds exactly its values.
  tpt::save_checkpoint(dir / "gpu.tpt", gpu, meta);
  const auto saved = tpt::read_state_dict(dir / "gpu.tpt");
  for (const auto& [name, value] : host_snapshot(*gpu)) CHECK(torch::equal(saved[name], value));
}
