// classification_metrics on every device this machine has (the CPU, and CUDA when LibTorch sees a
// GPU): the same batches give the same report as the host computation, whatever the device.
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/random.hpp"
#include "tpt/metrics/classification_metrics.hpp"

using Catch::Matchers::Contains;

namespace {
// Every device with every accumulation method it runs: the CPU loop and tensor operations on the
// CPU, tensor operations on a GPU.
std::vector<std::pair<torch::Device, tpt::accumulation>> devices() {
  std::vector<std::pair<torch::Device, tpt::accumulation>> d{{torch::kCPU, tpt::accumulation::host_loop},
                                                             {torch::kCPU, tpt::accumulation::tensor_ops}};
  if (torch::cuda::is_available()) d.emplace_back(torch::Device(torch::kCUDA, 0), tpt::accumulation::automatic);
  return d;
}
}  // namespace

TEST_CASE("every device gives the host's report, batch by batch", "[metrics][device]") {
  const std::int64_t n = 5000, k = 52;
  tpt::rng gen(21);
  std::vector<std::int64_t> targets, predictions;
  auto logits = torch::empty({n, k}, torch::kFloat);
  auto acc = logits.accessor<float, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t t = 0;
    while (t + 1 < k && gen.uniform01() < 0.8) ++t;
    const auto p = gen.uniform01() < 0.5 ? t : static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k)));
    for (std::int64_t c = 0; c < k; ++c) acc[i][c] = static_cast<float>(gen.uniform(-4, 4));
    acc[i][p] = 8.0f + static_cast<float>(gen.uniform01());
    targets.push_back(t);
    predictions.push_back(p);
  }
  const auto host = tpt::classification_report::from_predictions(predictions, targets, k);
  const auto target_tensor = torch::tensor(targets, torch::kLong);
  for (const auto& [device, method] : devices()) {
    INFO(device.str() << " method " << int(method));
    tpt::classification_metrics m(k, tpt::classification_metrics_options{.top_k = {1, 5}, .keep_predictions = true, .method = method});
    const auto l = logits.to(device), t = target_tensor.to(device);
    for (std::int64_t at = 0; at < n; at += 64) {
      const auto size = std::min<std::int64_t>(64, n - at);
      m.update(l.narrow(0, at, size), t.narrow(0, at, size).to(torch::kInt));
    }
    CHECK(m.confusion_matrix().device() == device);
    const auto r = m.report();
    CHECK(r.confusion == host.confusion);
    CHECK(r.macro_f1 == host.macro_f1);
    CHECK(r.top_k_accuracy.at(1) == host.accuracy);
    CHECK(m.predictions() == predictions);
    tpt::classification_metrics half(k, tpt::classification_metrics_options{.method = method});
    half.update(l.to(torch::kHalf), t);
    CHECK(half.report().confusion == host.confusion);
    tpt::classification_metrics bad(k, tpt::classification_metrics_options{.method = method});
    bad.update(l.narrow(0, 0, 3), torch::tensor({0, 52, -7}, torch::kLong).to(device));
    CHECK_THROWS_WITH(bad.report(), Contains("2 target(s) outside [0, 52) (values from -7 to 52)"));
    if (device.is_cuda()) {
      CHECK_THROWS_WITH(m.update(logits.narrow(0, 0, 2), target_tensor.narrow(0, 0, 2)), Contains("earlier batches were on cuda"));
      CHECK_THROWS_WITH(m.update(l.narrow(0, 0, 2), target_tensor.narrow(0, 0, 2)), Contains("but targets on cpu"));
      tpt::classification_metrics host_only(k, tpt::classification_metrics_options{.method = tpt::accumulation::host_loop});
      CHECK_THROWS_WITH(host_only.update(l, t), Contains("host_loop needs CPU tensors"));
    }
  }
}

TEST_CASE("equal scores go to the lowest class id, for argmax and top-k alike", "[metrics][device]") {
  // Four classes, every score equal: the prediction is class 0 and the top-2 are classes 0 and 1.
  const auto logits = torch::zeros({4, 4});
  const auto targets = torch::tensor({0, 1, 2, 3}, torch::kLong);
  for (const auto& [device, method] : devices()) {
    INFO(device.str() << " method " << int(method));
    tpt::classification_metrics m(4, tpt::classification_metrics_options{.top_k = {1, 2, 3}, .method = method});
    m.update(logits.to(device), targets.to(device));
    const auto r = m.report();
    CHECK(r.classes[0].predicted == 4);
    CHECK(r.accuracy == 0.25);
    CHECK(r.top_k_accuracy.at(1) == 0.25);
    CHECK(r.top_k_accuracy.at(2) == 0.5);
    CHECK(r.top_k_accuracy.at(3) == 0.75);
  }
}

TEST_CASE("NaN wins the argmax and marks the row non-finite on every path", "[metrics][device]") {
  auto logits = torch::tensor({{1.0f, 2.0f, 3.0f}, {1.0f, NAN, 0.0f}, {INFINITY, 0.0f, 1.0f}});
  const auto targets = torch::tensor({2, 0, 0}, torch::kLong);
  for (const auto& [device, method] : devices()) {
    INFO(device.str() << " method " << int(method));
    tpt::classification_metrics m(3, tpt::classification_metrics_options{.keep_predictions = true, .method = method});
    m.update(logits.to(device), targets.to(device));
    CHECK(m.report().nonfinite_samples == 2);
    CHECK(m.predictions() == std::vector<std::int64_t>{2, 1, 0});
  }
}
