// tpt/model/resnet.hpp: torchvision's architecture, names, parameter counts and initialisation.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "model_test_support.hpp"
#include "tpt/model/classifier_model.hpp"
#include "tpt/model/resnet.hpp"

static_assert(tpt::classifier_model<tpt::ResNet>);
static_assert(tpt::classifier_model<tpt::test::TinyNet>);
static_assert(!tpt::classifier_model<torch::nn::Linear>);         // no features(), no classifier()
static_assert(!tpt::classifier_model<tpt::ResNetImpl>);           // a module, not a ModuleHolder

namespace {

std::int64_t numel_of(const torch::nn::Module& m, const std::string& prefix) {
  std::int64_t n = 0;
  for (const auto& p : m.named_parameters())
    if (p.key().rfind(prefix, 0) == 0) n += p.value().numel();
  return n;
}

}  // namespace

TEST_CASE("ResNet-18 with 52 classes has the paper's parameter counts", "[model][resnet]") {
  auto model = tpt::resnet18({.num_classes = 52});
  const auto counts = tpt::count_parameters(model);
  CHECK(counts.total == 11'203'188);
  CHECK(counts.trainable == counts.total);
  CHECK(numel_of(*model, "fc.") == 26'676);
  CHECK(fmt::format("{}", counts) == "11,203,188 parameters, 11,203,188 trainable");
  CHECK(model->depth() == 18);
  CHECK(model->architecture() == "resnet18");
}

TEST_CASE("parameter counts equal torchvision's for every layout", "[model][resnet]") {
  CHECK(tpt::count_parameters(tpt::resnet18()).total == 11'689'512);
  CHECK(tpt::count_parameters(tpt::resnet34()).total == 21'797'672);
  CHECK(tpt::resnet34()->architecture() == "resnet34");
  // The small stem swaps a 7x7x3x64 kernel for a 3x3x3x64 one; one input channel divides conv1 by 3.
  CHECK(tpt::count_parameters(tpt::resnet18({.stem = tpt::resnet_stem::small_image})).total ==
        11'689'512 - 64 * 3 * 49 + 64 * 3 * 9);
  CHECK(tpt::count_parameters(tpt::resnet18({.in_channels = 1})).total == 11'689'512 - 64 * 2 * 49);
}

TEST_CASE("names equal torchvision's state_dict keys", "[model][resnet]") {
  auto model = tpt::resnet18({.num_classes = 52});
  std::vector<std::string> params, buffers;
  for (const auto& p : model->named_parameters()) params.push_back(p.key());
  for (const auto& b : model->named_buffers()) buffers.push_back(b.key());
  // torchvision.models.resnet18().state_dict() has 122 entries: 62 parameters, 60 buffers.
  CHECK(params.size() == 62);
  CHECK(buffers.size() == 60);
  CHECK(params.front() == "conv1.weight");
  CHECK(params[1] == "bn1.weight");
  CHECK(params[3] == "layer1.0.conv1.weight");
  CHECK(params.back() == "fc.bias");
  const std::vector<std::string> expected = {"layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
                                             "layer4.1.bn2.bias", "fc.weight"};
  for (const auto& name : expected) CHECK(std::find(params.begin(), params.end(), name) != params.end());
  CHECK(std::find(buffers.begin(), buffers.end(), "layer3.0.downsample.1.running_var") != buffers.end());
  CHECK(std::find(buffers.begin(), buffers.end(), "bn1.num_batches_tracked") != buffers.end());
  // Stage 1 keeps its shape, so it has no shortcut convolution.
  CHECK(std::find(params.begin(), params.end(), "layer1.0.downsample.0.weight") == params.end());
  CHECK(tpt::classifier_name(model) == "fc");
}

TEST_CASE("initialisation follows torchvision", "[model][resnet]") {
  torch::manual_seed(3);
  auto model = tpt::resnet18({.num_classes = 52});
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (out_channels * k * k)).
  const auto check_std = [](const torch::Tensor& w) {
    const double fan_out = static_cast<double>(w.size(0) * w.size(2) * w.size(3));
    const double expected = std::sqrt(2.0 / fan_out);
    CHECK(w.std().item<double>() == Approx(expected).epsilon(0.05));
    CHECK(std::abs(w.mean().item<double>()) < 0.1 * expected);
  };
  check_std(model->conv1->weight);
  check_std(model->layer3->named_parameters()["0.conv1.weight"]);
  check_std(model->layer4->named_parameters()["1.conv2.weight"]);
  for (const auto& m : model->modules(false))
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      CHECK(torch::equal(bn->weight, torch::ones_like(bn->weight)));
      CHECK(torch::equal(bn->bias, torch::zeros_like(bn->bias)));
    }
  // nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
  const double bound = 1.0 / std::sqrt(512.0);
  CHECK(model->fc->weight.abs().max().item<double>() <= bound);
  CHECK(model->fc->weight.abs().max().item<double>() > 0.95 * bound);
  CHECK(model->fc->bias.abs().max().item<double>() <= bound);

  auto zero = tpt::resnet18({.zero_init_residual = true});
  CHECK(torch::equal(zero->layer2->named_parameters()["1.bn2.weight"], torch::zeros({128})));
  CHECK(torch::equal(zero->layer2->named_parameters()["1.bn1.weight"], torch::ones({128})));
}

TEST_CASE("forward is the classifier applied to features for both stems", "[model][resnet]") {
  torch::manual_seed(4);
  for (auto stem : {tpt::resnet_stem::imagenet, tpt::resnet_stem::small_image}) {
    INFO("stem " << tpt::to_string(stem));
    auto model = tpt::resnet18({.num_classes = 7, .in_channels = 2, .stem = stem});
    model->eval();
    const auto x = torch::randn({3, 2, 32, 32});
    torch::NoGradGuard no_grad;
    const auto features = model->features(x);
    CHECK(features.sizes() == torch::IntArrayRef({3, 512}));
    const auto logits = model->forward(x);
    CHECK(logits.sizes() == torch::IntArrayRef({3, 7}));
    CHECK(torch::equal(logits, model->classifier()(features)));
  }
}

TEST_CASE("channels_last inputs and weights give the same logits", "[model][resnet]") {
  torch::manual_seed(5);
  auto model = tpt::resnet18({.num_classes = 10, .stem = tpt::resnet_stem::small_image});
  model->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 32, 32});
  const auto reference = model->forward(x);
  for (auto& p : model->parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  const auto out = model->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK(tpt::test::max_abs_diff(out, reference) < 1e-4);
}

TEST_CASE("impossible ResNet options are refused by name", "[model][resnet][errors]") {
  CHECK_THROWS_WITH(tpt::resnet18({.num_classes = 0}), Catch::Contains("num_classes"));
  CHECK_THROWS_WITH(tpt::resnet18({.in_channels = 0}), Catch::Contains("in_channels"));
  CHECK_THROWS_WITH(tpt::make_resnet("resnet50"), Catch::Contains("resnet50") && Catch::Contains("resnet18"));
  CHECK_THROWS_AS(tpt::parse_resnet_stem("tiny"), tpt::config_error);
  CHECK(tpt::parse_resnet_stem("small_image") == tpt::resnet_stem::small_image);
  CHECK(fmt::format("{}", tpt::resnet_stem::imagenet) == "imagenet");
  std::ostringstream printed;
  printed << *tpt::resnet34({.num_classes = 52});
  CHECK_THAT(printed.str(), Catch::StartsWith("tpt::ResNet(resnet34, num_classes=52, in_channels=3, stem=imagenet)"));
}

TEST_CASE("live_taps finds the kernel taps that can see the input", "[model][resnet][live-taps]") {
  using tpt::detail::live_taps;
  // A 3x3 kernel over a 1x1 map (layer4 at 28 px): only the centre tap.
  auto centre = live_taps(1, 3, 1, 1);
  CHECK_FALSE(centre.full);
  CHECK(centre.first == 1);
  CHECK(centre.count == 1);
  CHECK(centre.padding == 0);
  // Stride 2 from 2x2 to 1x1 (layer4's first convolution): taps 1 and 2.
  auto strided = live_taps(2, 3, 2, 1);
  CHECK_FALSE(strided.full);
  CHECK(strided.first == 1);
  CHECK(strided.count == 2);
  CHECK(strided.padding == 0);
  // Every tap sees a 2x2 map at stride 1, and any map without padding.
  CHECK(live_taps(2, 3, 1, 1).full);
  CHECK(live_taps(7, 3, 1, 1).full);
  CHECK(live_taps(1, 1, 1, 0).full);
  CHECK(live_taps(28, 7, 2, 3).full);
  // A 7x7 kernel with padding 3 over a 1x1 map: the centre only.
  auto wide = live_taps(1, 7, 1, 3);
  CHECK(wide.first == 3);
  CHECK(wide.count == 1);
}

TEST_CASE("convolving with the live taps equals the full convolution, gradients included", "[model][resnet][live-taps]") {
  torch::manual_seed(9);
  int pruned = 0, products = 0;
  for (std::int64_t k : {1, 2, 3, 5, 7})
    for (std::int64_t s : {1, 2, 3})
      for (std::int64_t p = 0; p <= k / 2 + 1; ++p)
        for (std::int64_t h : {1, 2, 3, 5})
          for (std::int64_t w : {1, 2, 4}) {
            if (h + 2 * p < k || w + 2 * p < k) continue;
            CAPTURE(k, s, p, h, w);
            torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, k).stride(s).padding(p).bias(true));
            const auto x = torch::randn({2, 3, h, w}).set_requires_grad(true);
            const auto reference = conv(x);
            const auto seed = torch::randn_like(reference);
            const auto ref_grads = torch::autograd::grad({reference}, {x, conv->weight, conv->bias}, {seed});
            const auto out = tpt::detail::conv2d_live_taps(*conv, x);
            REQUIRE(out.sizes() == reference.sizes());
            CHECK(tpt::test::max_abs_diff(out, reference) < 1e-5);
            const auto grads = torch::autograd::grad({out}, {x, conv->weight, conv->bias}, {seed});
            for (std::size_t i = 0; i < grads.size(); ++i) CHECK(tpt::test::max_abs_diff(grads[i], ref_grads[i]) < 1e-5);
            const auto rows = tpt::detail::live_taps(h, k, s, p), cols = tpt::detail::live_taps(w, k, s, p);
            using tpt::detail::outputs_along;
            if (outputs_along(h, k, s, p) == 1 && outputs_along(w, k, s, p) == 1 && rows.padding == 0 &&
                cols.padding == 0)
              ++products;  // one output, every live tap inside the map: a matrix product
            if (!rows.full || !cols.full) {
              ++pruned;
              // Outside the live window the weight gradient is exactly zero.
              auto dead = torch::ones_like(grads[1], torch::kBool);
              dead.slice(2, rows.first, rows.first + rows.count).slice(3, cols.first, cols.first + cols.count).fill_(false);
              CHECK(grads[1].masked_select(dead).abs().sum().item<double>() == 0.0);
              CHECK(ref_grads[1].masked_select(dead).abs().sum().item<double>() == 0.0);
            }
          }
  CHECK(pruned > 20);    // the sweep did exercise the sub-kernel path
  CHECK(products > 10);  // and the matrix-product path (taken when fast_blas())
}

TEST_CASE("fast_blas says whether LibTorch's BLAS is an optimised one", "[model][resnet][live-taps]") {
  // The file the BLAS entry point comes from, links resolved: Debian installs OpenBLAS and BLIS
  // under folders named after them (the reference BLAS lives in .../blas/).
  Dl_info info{};
  void* gemm = dlsym(RTLD_DEFAULT, "sgemm_");
  REQUIRE(gemm != nullptr);
  REQUIRE(dladdr(gemm, &info) != 0);
  const auto file = std::filesystem::canonical(info.dli_fname).string();
  CAPTURE(file);
  const bool optimised = at::hasMKL() || file.find("openblas") != std::string::npos || file.find("blis") != std::string::npos;
  CHECK(tpt::detail::fast_blas() == optimised);
}

TEST_CASE("the live-tap weight gradient keeps the weight's layout and dtype", "[model][resnet][live-taps]") {
  torch::manual_seed(4);
  const tpt::detail::tap_range centre{1, 1, 0, false};
  for (const bool channels_last : {false, true})
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
      CAPTURE(channels_last, dtype);
      auto w = torch::randn({5, 3, 3, 3}, dtype);
      if (channels_last) w = w.contiguous(torch::MemoryFormat::ChannelsLast);
      w.set_requires_grad(true);
      const auto sub = tpt::detail::live_kernel::apply(w, centre, centre);
      CHECK(sub.is_contiguous());
      CHECK(torch::equal(sub, w.slice(2, 1, 2).slice(3, 1, 2)));
      const auto seed = torch::randn_like(sub);
      const auto g = torch::autograd::grad({sub}, {w}, {seed})[0];
      const auto expected = torch::autograd::grad({w.slice(2, 1, 2).slice(3, 1, 2)}, {w}, {seed})[0];
      CHECK(g.scalar_type() == dtype);
      CHECK(g.strides() == w.strides());
      CHECK(torch::equal(g, expected));  // a copy: the same bits, zeros on the eight dead taps
    }
}

TEST_CASE("BatchNorm over the pixel matrix of a small map equals BatchNorm2d", "[model][resnet][batch-norm]") {
  using tpt::detail::is_small_map;
  CHECK_FALSE(is_small_map(torch::zeros({2, 3, 1, 1})));  // LibTorch's kernel is fast there
  CHECK(is_small_map(torch::zeros({2, 3, 2, 2})));
  CHECK(is_small_map(torch::zeros({2, 3, 3, 4})));
  CHECK_FALSE(is_small_map(torch::zeros({2, 3, 4, 4})));
  CHECK_FALSE(is_small_map(torch::zeros({2, 3, 2, 2}).contiguous(torch::MemoryFormat::ChannelsLast)));
  CHECK_FALSE(is_small_map(torch::zeros({2, 3, 4})));

  torch::manual_seed(6);
  for (const bool cumulative : {false, true})
    for (const auto& [h, w] : std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 2}, {2, 2}, {2, 3}, {3, 4}, {4, 4}}) {
      CAPTURE(cumulative, h, w);
      auto options = torch::nn::BatchNorm2dOptions(6);
      if (cumulative) options.momentum(c10::nullopt);  // running averages over every batch so far
      torch::nn::BatchNorm2d routed(options), plain(options);
      {
        torch::NoGradGuard no_grad;
        for (auto* bn : {&routed, &plain}) {
          (*bn)->weight.copy_(torch::linspace(0.5, 1.5, 6));
          (*bn)->bias.copy_(torch::linspace(-0.2, 0.3, 6));
        }
      }
      for (int step = 0; step < 3; ++step) {  // training mode: statistics of the batch, running ones updated
        const auto x = (torch::randn({5, 6, h, w}) * 3 + 1).set_requires_grad(true);
        const auto a = tpt::detail::batch_norm(*routed, x, true);
        const auto b = plain->forward(x);
        REQUIRE(a.sizes() == b.sizes());
        CHECK(a.is_contiguous());
        CHECK(tpt::test::max_abs_diff(a, b) < 1e-5);
        const auto seed = torch::randn_like(a);
        const auto ga = torch::autograd::grad({a}, {x, routed->weight, routed->bias}, {seed});
        const auto gb = torch::autograd::grad({b}, {x, plain->weight, plain->bias}, {seed});
        for (std::size_t i = 0; i < ga.size(); ++i) CHECK(tpt::test::max_abs_diff(ga[i], gb[i]) < 1e-4);
      }
      CHECK(tpt::test::max_abs_diff(routed->running_mean, plain->running_mean) < 1e-5);
      CHECK(tpt::test::max_abs_diff(routed->running_var, plain->running_var) < 1e-5);  // unbiased, as BatchNorm2d
      CHECK(routed->num_batches_tracked.item<std::int64_t>() == 3);
      routed->eval();
      plain->eval();
      const auto x = torch::randn({5, 6, h, w});
      CHECK(tpt::test::max_abs_diff(tpt::detail::batch_norm(*routed, x, true), plain->forward(x)) < 1e-5);
      CHECK(routed->num_batches_tracked.item<std::int64_t>() == 3);
    }
}

TEST_CASE("the channels-last max-pool equals torch::max_pool2d exactly, ties included", "[model][resnet][max-pool]") {
  torch::manual_seed(8);
  for (const auto& [h, w] : std::vector<std::pair<std::int64_t, std::int64_t>>{{14, 14}, {13, 9}, {2, 3}}) {
    CAPTURE(h, w);
    // After ReLU, as in ResNet's stem: half the values are 0, so many windows tie.
    const auto x = torch::randn({3, 5, h, w}).relu().set_requires_grad(true);
    const auto a = tpt::detail::max_pool2d(x, 3, 2, 1, true);
    const auto b = torch::max_pool2d(x, 3, 2, 1);
    CHECK(a.is_contiguous());
    CHECK(torch::equal(a, b));
    const auto seed = torch::randn_like(a);
    CHECK(torch::equal(torch::autograd::grad({a}, {x}, {seed})[0], torch::autograd::grad({b}, {x}, {seed})[0]));
    torch::NoGradGuard no_grad;  // inference: no indices kept
    CHECK(torch::equal(tpt::detail::max_pool2d(x, 3, 2, 1, true), b));
  }
  // What it does not route (channels-last input) takes torch::max_pool2d itself.
  const auto cl = torch::randn({2, 4, 6, 6}).contiguous(torch::MemoryFormat::ChannelsLast);
  CHECK(torch::equal(tpt::detail::max_pool2d(cl, 3, 2, 1, true), torch::max_pool2d(cl, 3, 2, 1)));
}

TEST_CASE("ResNet-18's CPU kernel choices leave logits, gradients and statistics unchanged", "[model][resnet][live-taps]") {
  // 28 px through the ImageNet stem, as tpt-grid trains it: the stem's max-pool at 14x14, layer3
  // at 2x2 (small-map BatchNorm), layer4 at 1x1 (live taps). Every choice on against every one off.
  const tpt::resnet_options on{.num_classes = 10, .in_channels = 1, .stem = tpt::resnet_stem::imagenet};
  auto off_options = on;
  off_options.skip_padding_taps = off_options.small_map_batch_norm = off_options.channels_last_max_pool = false;
  auto with = tpt::resnet18(on);
  auto without = tpt::resnet18(off_options);
  {
    torch::NoGradGuard no_grad;
    auto src = with->named_parameters();
    for (auto& p : without->named_parameters()) p.value().copy_(src[p.key()]);
  }
  with->train();
  without->train();
  torch::manual_seed(2);
  const auto x = torch::randn({8, 1, 28, 28});
  const auto y = torch::randint(10, {8}, torch::kLong);
  const auto a = with->forward(x), b = without->forward(x);
  CHECK(tpt::test::max_abs_diff(a, b) < 1e-4);
  torch::nn::functional::cross_entropy(a, y).backward();
  torch::nn::functional::cross_entropy(b, y).backward();
  auto other = without->named_parameters();
  for (const auto& p : with->named_parameters()) {
    CAPTURE(p.key());
    const auto& g = p.value().grad();
    const auto& h = other[p.key()].grad();
    CHECK(tpt::test::max_abs_diff(g, h) <= 1e-4 * std::max(1.0, h.abs().max().item<double>()));
  }
  auto other_buffers = without->named_buffers();
  for (const auto& b : with->named_buffers()) {
    CAPTURE(b.key());
    CHECK(tpt::test::max_abs_diff(b.value().to(torch::kFloat64), other_buffers[b.key()].to(torch::kFloat64)) < 1e-5);
  }
  // layer4's 3x3 kernels over a 1x1 map: the eight outer taps get no gradient on either path.
  const auto& g = with->named_parameters()["layer4.1.conv1.weight"].grad();
  CHECK(g.index({torch::indexing::Slice(), torch::indexing::Slice(), 0, 0}).abs().max().item<double>() == 0.0);
  CHECK(g.index({torch::indexing::Slice(), torch::indexing::Slice(), 1, 1}).abs().max().item<double>() > 0.0);
  // Inference mode, with the running statistics just updated.
  with->eval();
  without->eval();
  torch::NoGradGuard no_grad;
  CHECK(tpt::test::max_abs_diff(with->forward(x), without->forward(x)) < 1e-4);
}
