// What phase 2 costs per step under each freezer, and what the classifier-only fast path saves;
// how fast tpt reads a ResNet-18 state_dict next to LibTorch's own torch::pickle_load.
// Prints medians and ratios measured in this run; never passes or fails on a time.
//
//   bench_model [--batch 32] [--size 64] [--repeats 7]
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bench_args.hpp"
#include "tpt/freeze/freezer.hpp"
#include "tpt/freeze/policies.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/model/weights.hpp"

namespace {

double median_ms(int repeats, const std::function<void()>& body) {
  body();  // warm-up: allocator, first-touch, lazy initialisation
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    body();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return tpt::bench::median(std::move(ms));
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t batch = 32, size = 64;
  int repeats = 7;
  try {
    const tpt::bench::flags f(argc, argv, {"batch", "size", "repeats"}, "bench_model [--batch 32] [--size 64] [--repeats 7]\n");
    if (f.help()) return 0;
    batch = f.number("batch", batch, 1, 4096);
    size = f.number("size", size, 32, 4096);
    repeats = static_cast<int>(f.number("repeats", repeats, 1, 1000));
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_model: {}\n", e.what());
    return 2;
  }
  torch::manual_seed(1);
  fmt::print("ResNet-18, 52 classes, ImageNet stem, batch {} of {}x{} px, CPU threads {}, median of {}\n", batch,
             size, size, torch::get_num_threads(), repeats);

  auto model = tpt::resnet18({.num_classes = 52});
  const auto x = torch::randn({batch, 3, size, size});
  const auto y = torch::randint(52, {batch}, torch::kLong);

  auto step_with = [&](const auto& freezer) {
    freezer.apply(model);
    freezer.train(model);
    torch::optim::Adam optimizer(tpt::trainable_parameters(model), torch::optim::AdamOptions(1e-3));
    return median_ms(repeats, [&] {
      optimizer.zero_grad();
      torch::nn::functional::cross_entropy(model->forward(x), y).backward();
      optimizer.step();
    });
  };
  const double full = step_with(tpt::freeze_nothing{});
  const double frozen = step_with(tpt::freeze_all_but_classifier{});
  const double crt = step_with(tpt::freeze_all_but_classifier{.batchnorm = tpt::batchnorm_statistics::updating});

  // The fast path classifier_only() allows: features once, then only the classifier trains.
  tpt::freeze_all_but_classifier{}.apply(model);
  torch::Tensor features;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    features = model->features(x);
  }
  torch::optim::Adam head_optimizer(tpt::trainable_parameters(model), torch::optim::AdamOptions(1e-3));
  const double cached = median_ms(repeats, [&] {
    head_optimizer.zero_grad();
    torch::nn::functional::cross_entropy(model->classifier()(features), y).backward();
    head_optimizer.step();
  });

  fmt::print("phase-2 step, freeze nothing (baseline):          {:9.2f} ms  1.00x\n", full);
  fmt::print("phase-2 step, freeze all but classifier:          {:9.2f} ms  {:.2f}x\n", frozen, full / frozen);
  fmt::print("phase-2 step, ... with BatchNorm updating (cRT):  {:9.2f} ms  {:.2f}x\n", crt, full / crt);
  fmt::print("phase-2 step, classifier on cached features:      {:9.3f} ms  {:.0f}x\n", cached, full / cached);

  // Reading weights: tpt's reader (any torch.save file) against torch::pickle_load, which
  // reads only files whose dicts are not OrderedDicts, here one LibTorch itself wrote.
  const std::string dir = std::filesystem::temp_directory_path() / fmt::format("tpt-bench-{}", ::getpid());
  std::filesystem::create_directories(dir);
  c10::Dict<std::string, torch::Tensor> plain;
  for (const auto& p : model->named_parameters()) plain.insert(p.key(), p.value().detach());
  for (const auto& b : model->named_buffers()) plain.insert(b.key(), b.value());
  const auto bytes = torch::pickle_save(plain);
  const std::string file = dir + "/resnet18.pt";
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const double ours = median_ms(repeats, [&] { (void)tpt::read_state_dict(file); });
  const double libtorch = median_ms(repeats, [&] {
    std::vector<char> data(std::filesystem::file_size(file));
    std::ifstream(file, std::ios::binary).read(data.data(), static_cast<std::streamsize>(data.size()));
    (void)torch::pickle_load(data);
  });
  const double save = median_ms(repeats, [&] {
    tpt::model_metadata meta;
    for (int i = 0; i < 52; ++i) meta.class_names.push_back(fmt::format("class{}", i));
    tpt::save_checkpoint(dir + "/model.tpt", model, meta);
  });
  std::filesystem::remove_all(dir);
  fmt::print("read {:.1f} MB state_dict, torch::pickle_load (baseline): {:7.2f} ms  1.00x\n",
             static_cast<double>(bytes.size()) / 1e6, libtorch);
  fmt::print("read {:.1f} MB state_dict, tpt::read_state_dict:         {:7.2f} ms  {:.2f}x\n",
             static_cast<double>(bytes.size()) / 1e6, ours, libtorch / ours);
  fmt::print("tpt::save_checkpoint (atomic, fsync'd):                   {:7.2f} ms\n", save);
  return 0;
}
