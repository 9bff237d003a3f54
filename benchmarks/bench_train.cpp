// Training throughput of ResNet-18 in tpt, to compare with benchmarks/pytorch/bench_train.py
// (the same loop in PyTorch eager) on the same machine:
//   step      the training step alone on synthetic tensors (model, cross-entropy, Adam);
//   pipeline  end to end through the trainer: decoded cache -> augmenting loader -> step;
//   phase2    phase 2 through the trainer with and without the fast path (cached features);
//   optimizer forward+backward and the optimiser step, LibTorch's Adam with zero-filled gradients
//             against tpt::fused_adam with dropped ones (what the trainer uses);
//   kernels   each small-map kernel choice of resnet_options against the plain LibTorch call
//             (CPU, the demo grid's shapes).
// Prints medians over --repeats and never passes or fails on a time.
//
//   bench_train --mode step --sizes 32,64,224 [--batch 64] [--device cpu|cuda] [--amp on]
//               [--optimizer fused|torch] [--skip-taps on|off] [--small-map-bn on|off] [--max-pool on|off]
//               [--allocator on|off] [--stem ..] [--channels N]
//   bench_train --mode pipeline --size 224 --images 4096 --batch 256 --device cuda [--pin-memory on|off]
//   bench_train --mode phase2 --size 32 --images 2048 --epochs 3
//   bench_train --mode optimizer --sizes 28 --stem imagenet --channels 1 [--channels-last on] [--skip-taps off] [--allocator off]
//   bench_train --mode kernels [--repeats 7]   (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas: reference BLAS)
//   bench_train --mode check --device cuda   (CUDA against the CPU: logits agree, loss falls)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bench_args.hpp"
#include "tpt/tpt.hpp"

namespace {

struct args {
  std::string mode = "step";
  std::vector<std::int64_t> sizes{32, 64, 224};
  std::int64_t batch = 64, images = 2048, epochs = 2, classes = 10;
  int repeats = 5;
  std::string device = "cpu";
  bool amp = true, channels_last = false;
  std::size_t threads = 0, workers = 0;
  std::string stem = "auto";    // auto: small-image stem up to 64 px
  std::int64_t channels = 3;
  bool skip_taps = true;        // resnet_options::skip_padding_taps (live taps, matrix products)
  bool small_map_bn = true;     // resnet_options::small_map_batch_norm
  bool max_pool = true;         // resnet_options::channels_last_max_pool
  bool allocator = true;        // tpt::configure_cpu_allocator()
  bool fused = true;            // --optimizer fused (tpt::fused_adam) or torch (torch::optim::Adam)
  bool pin_memory = true;       // --pin-memory: pinned host batches and non-blocking copies on CUDA
};

using tpt::bench::median;

constexpr const char* usage = R"(usage:
  bench_train --mode step --sizes 32,64,224 [--batch 64] [--device cpu|cuda] [--amp on]
              [--optimizer fused|torch] [--skip-taps on|off] [--small-map-bn on|off] [--max-pool on|off]
              [--allocator on|off] [--stem ..] [--channels N]
  bench_train --mode pipeline --size 224 --images 4096 --batch 256 --device cuda [--pin-memory on|off]
  bench_train --mode phase2 --size 32 --images 2048 --epochs 3
  bench_train --mode optimizer --sizes 28 --stem imagenet --channels 1 [--channels-last on] [--skip-taps off] [--allocator off]
  bench_train --mode kernels [--repeats 7]   (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas: reference BLAS)
  bench_train --mode check --device cuda   (CUDA against the CPU: logits agree, loss falls)
)";

std::vector<std::int64_t> parse_sizes(const std::string& s) {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    out.push_back(tpt::bench::flags::parse_number("sizes", s.substr(start, comma - start), 2, 4096));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

/// Every flag checked: an unknown one, a missing value, an on/off flag given "yes", or a number
/// out of range stops the program with a message instead of running the defaults.
std::optional<args> parse(int argc, char** argv) {
  const tpt::bench::flags f(argc, argv,
                            {"mode", "sizes", "size", "batch", "images", "epochs", "classes", "repeats", "device", "amp",
                             "channels-last", "threads", "workers", "stem", "channels", "skip-taps", "small-map-bn",
                             "max-pool", "allocator", "optimizer", "pin-memory"},
                            usage);
  if (f.help()) return std::nullopt;
  args a;
  a.mode = f.text("mode", a.mode);
  if (f.has("sizes")) a.sizes = parse_sizes(f.text("sizes", ""));
  if (f.has("size")) a.sizes = parse_sizes(f.text("size", ""));
  a.batch = f.number("batch", a.batch, 1, 1 << 16);
  a.images = f.number("images", a.images, 1);
  a.epochs = f.number("epochs", a.epochs, 1, 1000);
  a.classes = f.number("classes", a.classes, 2, 100000);
  a.repeats = static_cast<int>(f.number("repeats", a.repeats, 1, 1000));
  a.device = f.text("device", a.device);
  a.amp = f.on_off("amp", a.amp);
  a.channels_last = f.on_off("channels-last", a.channels_last);
  a.threads = static_cast<std::size_t>(f.number("threads", 0, 0, 4096));
  a.workers = static_cast<std::size_t>(f.number("workers", 0, 0, 4096));
  a.stem = f.text("stem", a.stem);
  a.channels = f.number("channels", a.channels, 1, 64);
  a.skip_taps = f.on_off("skip-taps", a.skip_taps);
  a.small_map_bn = f.on_off("small-map-bn", a.small_map_bn);
  a.max_pool = f.on_off("max-pool", a.max_pool);
  a.allocator = f.on_off("allocator", a.allocator);
  a.pin_memory = f.on_off("pin-memory", a.pin_memory);
  const auto optimizer = f.text("optimizer", "fused");
  if (optimizer != "fused" && optimizer != "torch")
    throw tpt::config_error("optimizer", fmt::format("expected fused or torch, got '{}'", optimizer));
  a.fused = optimizer == "fused";
  return a;
}

/// The model both benchmarks train: torchvision's resnet18, small-image stem below 64 px.
tpt::ResNet model_for(std::int64_t size, std::int64_t classes) {
  return tpt::resnet18({.num_classes = classes,
                        .in_channels = 3,
                        .stem = size <= 64 ? tpt::resnet_stem::small_image : tpt::resnet_stem::imagenet});
}

/// The model of --mode optimizer: --stem and --channels as given (tpt-grid's Fashion-MNIST model
/// is --stem imagenet --channels 1 at 28 px).
tpt::ResNet model_for(const args& a, std::int64_t size) {
  if (a.stem != "auto" && a.stem != "small" && a.stem != "imagenet")
    throw tpt::config_error("--stem", fmt::format("expected auto, small or imagenet, got '{}'", a.stem));
  const bool small = a.stem == "small" || (a.stem == "auto" && size <= 64);
  return tpt::resnet18({.num_classes = a.classes,
                        .in_channels = a.channels,
                        .stem = small ? tpt::resnet_stem::small_image : tpt::resnet_stem::imagenet,
                        .skip_padding_taps = a.skip_taps,
                        .small_map_batch_norm = a.small_map_bn,
                        .channels_last_max_pool = a.max_pool});
}

/// model_for(a, size) from seed 0 on `device`, its 4-d weights channels_last when asked.
tpt::ResNet seeded_model(const args& a, std::int64_t size, const torch::Device& device) {
  torch::manual_seed(0);
  auto model = model_for(a, size);
  model->to(device);
  if (a.channels_last)
    for (auto& p : model->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  return model;
}

/// Which optimizer ran, and for tpt::fused_adam which update each parameter took last step.
std::string adam_paths(const torch::optim::Adam& adam) {
  const auto* fused = dynamic_cast<const tpt::fused_adam*>(&adam);
  if (fused == nullptr) return "torch::optim::Adam";
  return fmt::format("tpt::fused_adam: {} single-pass, {} multi-tensor", fused->fused_parameters(),
                     fused->multi_tensor_parameters());
}

/// Before a step: the gradients dropped (with fused_adam, as the trainer does) or zeroed.
void start_step(torch::optim::Adam& adam, bool fused) {
  if (fused) tpt::clear_gradients(adam);
  else adam.zero_grad();
}

/// Forward+backward and the optimiser step timed apart: LibTorch's Adam after zero_grad()
/// against tpt::fused_adam after tpt::clear_gradients(), on the same model and batch, interleaved
/// repeat by repeat so both see the same machine load.
void bench_optimizer(const args& a, const torch::Device& device) {
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point from, clock::time_point to) { return std::chrono::duration<double>(to - from).count(); };
  for (const auto size : a.sizes) {
    struct contender {
      std::string name;
      tpt::ResNet model;
      std::unique_ptr<torch::optim::Adam> adam;
      bool fused;
      std::vector<double> backward, update;
    };
    std::vector<contender> runs;
    for (const bool fused : {false, true}) {
      auto model = seeded_model(a, size, device);
      model->train();
      auto adam = tpt::make_adam(model->parameters(), torch::optim::AdamOptions(1e-3), fused);
      runs.push_back({fused ? "tpt::fused_adam, gradients dropped" : "torch::optim::Adam, gradients zeroed",
                      std::move(model), std::move(adam), fused, {}, {}});
    }
    auto x = torch::randn({a.batch, a.channels, size, size}, device);
    if (a.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    const auto y = torch::randint(a.classes, {a.batch}, torch::TensorOptions(torch::kLong).device(device));
    for (int r = 0; r <= a.repeats; ++r)
      for (auto& c : runs) {
        if (device.is_cuda()) torch::cuda::synchronize();
        const auto t0 = clock::now();
        start_step(*c.adam, c.fused);
        torch::nn::functional::cross_entropy(c.model->forward(x), y).backward();
        if (device.is_cuda()) torch::cuda::synchronize();
        const auto t1 = clock::now();
        c.adam->step();
        if (device.is_cuda()) torch::cuda::synchronize();
        const auto t2 = clock::now();
        if (r == 0) continue;  // the first step allocates Adam's state
        c.backward.push_back(secs(t0, t1));
        c.update.push_back(secs(t1, t2));
      }
    double base_step = 0, base_total = 0;
    for (const auto& c : runs) {
      const double fb = median(c.backward), st = median(c.update);
      if (!c.fused) base_step = st, base_total = fb + st;
      fmt::print("tpt optimizer {}px ({}): forward+backward {:.1f} ms, Adam step {:.1f} ms ({:.0f}% of the step)", size,
                 c.name, 1e3 * fb, 1e3 * st, 100 * st / (fb + st));
      if (c.fused) fmt::print("; step {:.2f}x faster, whole step {:.2f}x", base_step / st, base_total / (fb + st));
      fmt::print(" (median of {})\n", a.repeats);
    }
    // The two optimisers took the same steps from the same weights: their weights agree.
    const auto p0 = runs[0].model->parameters(), p1 = runs[1].model->parameters();
    double worst = 0;
    for (std::size_t i = 0; i < p0.size(); ++i)
      worst = std::max(worst, (p0[i] - p1[i]).abs().max().item<double>());
    fmt::print("  after {} steps the two models' weights differ by at most {:.2e}\n", a.repeats + 1, worst);
  }
}

/// Median milliseconds of `f` over --repeats runs of 20 calls, after 3 warm-up calls.
template <class F>
double median_ms(const args& a, F&& f) {
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> ms;
  for (int r = 0; r < a.repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20);
  }
  return median(ms);
}

/// Median milliseconds of `plain` and of `ours`, measured interleaved (plain then ours in even
/// repeats, ours then plain in odd ones), so that a burst of load from another process on this
/// shared machine falls on both sides instead of on whichever ran second.
template <class F, class G>
std::pair<double, double> median_ms_interleaved(const args& a, F&& plain, G&& ours) {
  for (int i = 0; i < 3; ++i) {
    plain();
    ours();
  }
  std::vector<double> p, o;
  auto block = [](auto& f) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20;
  };
  for (int r = 0; r < a.repeats; ++r) {
    if (r % 2 == 0) {
      p.push_back(block(plain));
      o.push_back(block(ours));
    } else {
      o.push_back(block(ours));
      p.push_back(block(plain));
    }
  }
  return {median(p), median(o)};
}

/// Each small-map kernel choice of resnet_options against the plain LibTorch call, forward and
/// backward, on the shapes of the demo grid's model at batch 64 (28 px through the ImageNet stem),
/// in one process; and the matrix product the single-output convolutions become, on whatever
/// BLAS LibTorch loaded (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas selects Debian's
/// reference BLAS for comparison).
void bench_kernels(const args& a) {
  torch::manual_seed(0);
  auto line = [](const std::string& what, std::pair<double, double> ms) {
    const auto [plain, tpt] = ms;
    fmt::print("  {:<66} plain {:7.3f} ms, tpt {:7.3f} ms, {:.2f}x\n", what, plain, tpt, plain / tpt);
  };
  {  // BatchNorm over layer3's 2x2 maps
    torch::nn::BatchNorm2d bn(256);
    const auto x = torch::randn({64, 256, 2, 2}).set_requires_grad(true);
    const auto g = torch::randn({64, 256, 2, 2});
    line("BatchNorm, 64 x 256 x 2 x 2, forward + backward",
         median_ms_interleaved(a, [&] { bn->forward(x).backward(g); },
                               [&] { tpt::detail::batch_norm(*bn, x, true).backward(g); }));
  }
  {  // the stem's max-pool
    const auto x = torch::randn({64, 64, 14, 14}).relu().set_requires_grad(true);
    const auto g = torch::randn({64, 64, 7, 7});
    line("max-pool 3x3/2, 64 x 64 x 14 x 14, forward + backward",
         median_ms_interleaved(a, [&] { torch::max_pool2d(x, 3, 2, 1).backward(g); },
                               [&] { tpt::detail::max_pool2d(x, 3, 2, 1, true).backward(g); }));
    torch::NoGradGuard no_grad;
    line("max-pool 3x3/2, 64 x 64 x 14 x 14, forward (inference)",
         median_ms_interleaved(a, [&] { torch::max_pool2d(x, 3, 2, 1); },
                               [&] { tpt::detail::max_pool2d(x, 3, 2, 1, true); }));
  }
  // layer4's convolutions: a 3x3 kernel over 1x1 maps, and the strided one from 2x2 to 1x1.
  for (const auto& [in, hw, stride] : std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>>{{512, 1, 1},
                                                                                                   {256, 2, 2}}) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, 512, 3).stride(stride).padding(1).bias(false));
    const auto x = torch::randn({64, in, hw, hw}).set_requires_grad(true);
    const auto g = torch::randn({64, 512, 1, 1});
    line(fmt::format("3x3 convolution {} -> 512 at {}x{}, stride {}, forward + backward", in, hw, hw, stride),
         median_ms_interleaved(a, [&] { conv->forward(x).backward(g); },
                               [&] { tpt::detail::conv2d_live_taps(*conv, x).backward(g); }));
  }
  {  // the product itself, 64 x 1024 by 1024 x 512
    const auto x = torch::randn({64, 1024}), w = torch::randn({1024, 512});
    fmt::print("  matrix product 64 x 1024 by 1024 x 512: {:.3f} ms on the {} BLAS\n",
               median_ms(a, [&] { (void)torch::mm(x, w); }), tpt::detail::fast_blas() ? "optimised" : "reference");
  }
}

void bench_step(const args& a, const torch::Device& device) {
  for (const auto size : a.sizes) {
    auto model = seeded_model(a, size, device);
    auto adam = tpt::make_adam(model->parameters(), torch::optim::AdamOptions(1e-3), a.fused);
    auto x = torch::randn({a.batch, a.channels, size, size}, device);
    if (a.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    const auto y = torch::randint(a.classes, {a.batch}, torch::TensorOptions(torch::kLong).device(device));
    model->train();
    auto step = [&] {
      start_step(*adam, a.fused);
      torch::Tensor logits;
      {
        tpt::autocast_guard autocast(device, a.amp);
        logits = model->forward(x);
      }
      auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y);
      loss.backward();
      adam->step();
      return loss;
    };
    step();  // warm-up: allocator, oneDNN/cuDNN algorithm choice
    const std::int64_t steps = device.is_cpu() ? 2 * 64 * 64 / (size * size) + 1 : 20;
    if (device.is_cuda()) {
      for (int i = 0; i < 5; ++i) step();
      torch::cuda::synchronize();
    }
    std::vector<double> rates;
    for (int r = 0; r < a.repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      torch::Tensor last;
      for (std::int64_t s = 0; s < steps; ++s) last = step();
      (void)last.item<double>();  // waits for the device
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rates.push_back(static_cast<double>(steps * a.batch) / secs);
    }
    fmt::print("tpt {}px: median {:.1f} img/s ({} steps x {}; {} stem, {} channel(s), {}, padding taps {}, "
               "small-map BatchNorm {}, channels-last max-pool {}, allocator {}, BLAS {})\n",
               size, median(rates), steps, a.repeats, to_string(model->options().stem), a.channels,
               adam_paths(*adam), a.skip_taps ? "skipped" : "computed",
               a.small_map_bn ? "on" : "off", a.max_pool ? "on" : "off", a.allocator ? "tuned" : "default",
               tpt::detail::fast_blas() ? "optimised" : "reference");
  }
}

/// Synthetic uint8 images in a decoded cache file: noise plus a class-coloured square.
tpt::labelled_images<tpt::data::decoded_cache> synthetic_cache(std::int64_t n, std::int64_t stored, std::int64_t classes,
                                                              const std::filesystem::path& file) {
  torch::manual_seed(3);
  auto images = torch::randint(0, 256, {n, stored, stored, 3}, torch::kUInt8);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    labels[static_cast<std::size_t>(i)] = i % classes;
    const auto c = i % classes;
    images[i].slice(0, stored / 4, stored / 2).slice(1, stored / 4, stored / 2).select(2, c % 3).fill_(255);
  }
  tpt::data::cache_settings s;
  s.height = s.width = stored;
  s.channels = 3;
  return {tpt::data::decoded_cache::open_or_build(file, images, s), std::move(labels)};
}

tpt::trainer_options trainer_options_for(const args& a, const torch::Device& device, std::int64_t size) {
  tpt::trainer_options o;
  o.seed = 1;
  o.device = device;
  o.mixed_precision = a.amp;
  o.channels_last = a.channels_last;
  o.loader_workers = a.workers;
  o.pin_memory = a.pin_memory;
  o.fused_optimizer = a.fused;
  o.augment.height = o.augment.width = size;
  o.eval_batch_size = std::max<std::int64_t>(a.batch, 256);
  return o;
}

struct rate_of_epochs {
  std::vector<double>* rates;
  void on_epoch_end(const tpt::epoch_end_event& e) { rates->push_back(e.images_per_second); }
};

void bench_pipeline(const args& a, const torch::Device& device) {
  const auto size = a.sizes.front();
  const auto stored = size * 8 / 7;
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("tpt-bench-train-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const auto train = synthetic_cache(a.images, stored, a.classes, dir / "train.cache");
  const auto val = synthetic_cache(std::max<std::int64_t>(a.batch, 64), stored, a.classes, dir / "val.cache");
  tpt::phase_settings p1, p2;
  p1.epochs = a.epochs + 1;  // the first epoch warms up (cuDNN algorithm search, allocator)
  p1.batch_size = a.batch;
  p1.stop.patience = 0;
  tpt::two_phase<tpt::ResNet, tpt::identity_sampler> trainer(model_for(a, size), {}, {},
                                                             tpt::fixed_schedule(p1, p2), {},
                                                             trainer_options_for(a, device, size));
  std::vector<double> rates;
  trainer.fit(train, val, rate_of_epochs{&rates});
  rates.erase(rates.begin());
  fmt::print("tpt pipeline {}px batch {} ({} images, workers {}, amp {}, channels_last {}, pinned {}): median {:.0f} "
             "img/s over {} epochs (training steps, loader included; validation excluded)\n",
             size, a.batch, a.images, a.workers ? a.workers : tpt::data::default_loader_workers(device),
             a.amp && device.is_cuda(), a.channels_last, a.pin_memory && device.is_cuda(), median(rates), rates.size());
  std::filesystem::remove_all(dir);
}

void bench_phase2(const args& a, const torch::Device& device) {
  const auto size = a.sizes.front();
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("tpt-bench-phase2-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const auto train = synthetic_cache(a.images, size, a.classes, dir / "train.cache");
  const auto val = synthetic_cache(std::max<std::int64_t>(a.images / 8, 64), size, a.classes, dir / "val.cache");
  std::map<bool, std::vector<double>> seconds;
  for (int r = 0; r < a.repeats; ++r)
    for (bool fast : {false, true}) {
      tpt::phase_settings p1, p2;
      p1.epochs = 0;  // phase 2 alone, on a backbone as phase 1 left it (here: initial weights)
      p2.epochs = a.epochs;
      p2.batch_size = a.batch;
      p2.augment = false;
      p2.stop.patience = 0;
      auto o = trainer_options_for(a, device, size);
      o.phase2_fast_path = fast;
      o.augment.eval_crop_fraction = 1.0;
      tpt::two_phase<tpt::ResNet, tpt::identity_sampler> trainer(model_for(a, size), {}, {},
                                                                 tpt::fixed_schedule(p1, p2), {}, o);
      const auto result = trainer.fit(train, val);
      seconds[fast].push_back(result.phase2->seconds);
    }
  const double plain = median(seconds[false]), fast = median(seconds[true]);
  fmt::print("phase 2, {} epochs of {} images at {}px: plain {:.2f} s, fast path {:.2f} s, ratio {:.1f}x (median of {})\n",
             a.epochs, a.images, size, plain, fast, plain / fast, a.repeats);
  std::filesystem::remove_all(dir);
}

/// On a GPU: the same weights give CUDA (bf16 autocast, channels_last) logits that agree with the
/// CPU's float32 ones to bf16 tolerance, and training on CUDA makes the loss fall. Prints one
/// PASS or FAIL line per check; the exit status says whether all passed.
int check_cuda(const args& a, const torch::Device& device) {
  if (!device.is_cuda()) throw tpt::config_error("device", "--mode check compares CUDA with the CPU: use --device cuda");
  const std::int64_t size = 224;
  torch::manual_seed(5);
  auto cpu_model = model_for(size, a.classes);
  auto gpu_model = model_for(size, a.classes);
  {
    torch::NoGradGuard g;
    auto src = cpu_model->named_parameters(), dst = gpu_model->named_parameters();
    for (auto& p : src) dst[p.key()].copy_(p.value());
    auto bsrc = cpu_model->named_buffers(), bdst = gpu_model->named_buffers();
    for (auto& b : bsrc) bdst[b.key()].copy_(b.value());
  }
  gpu_model->to(device);
  for (auto& p : gpu_model->parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  cpu_model->eval();
  gpu_model->eval();
  const auto x = torch::randn({8, 3, size, size});
  torch::Tensor cpu_logits, gpu_logits;
  {
    torch::NoGradGuard g;
    cpu_logits = cpu_model->forward(x);
    tpt::autocast_guard autocast(device, true);
    gpu_logits = gpu_model->forward(x.to(device).contiguous(torch::MemoryFormat::ChannelsLast)).to(torch::kFloat32).cpu();
  }
  const double rel = (gpu_logits - cpu_logits).norm().item<double>() / cpu_logits.norm().item<double>();
  const bool logits_ok = rel < 2e-2 && std::isfinite(rel);
  fmt::print("{} logits: CUDA bf16 autocast vs CPU float32, relative error {:.2e} (bf16 tolerance 2e-2)\n",
             logits_ok ? "PASS" : "FAIL", rel);

  // fused_adam's multi-tensor update on CUDA takes the steps of LibTorch's per-tensor Adam.
  bool adam_ok = false;
  {
    torch::manual_seed(9);
    std::vector<torch::Tensor> theirs, ours;
    for (const auto& shape : std::vector<std::vector<std::int64_t>>{{64, 3, 7, 7}, {64}, {10, 512}, {3}, {1}}) {
      const auto p = torch::randn(shape, device);
      theirs.push_back(p.clone().set_requires_grad(true));
      ours.push_back(p.clone().set_requires_grad(true));
    }
    const auto options = torch::optim::AdamOptions(1e-3).weight_decay(0.01);
    torch::optim::Adam reference(theirs, options);
    tpt::fused_adam fused(ours, options);
    for (int step = 0; step < 10; ++step) {
      for (std::size_t i = 0; i < ours.size(); ++i) {
        const auto g = torch::randn(ours[i].sizes(), device);
        theirs[i].mutable_grad() = g.clone();
        ours[i].mutable_grad() = g.clone();
      }
      reference.step();
      fused.step();
    }
    double worst = 0;
    for (std::size_t i = 0; i < ours.size(); ++i)
      worst = std::max(worst, (theirs[i].detach() - ours[i].detach()).abs().max().item<double>());
    const auto batched = fused.multi_tensor_parameters();
    adam_ok = worst < 1e-6 && batched == static_cast<std::int64_t>(ours.size());
    fmt::print("{} tpt::fused_adam on CUDA: {} of {} parameters multi-tensor, 10 steps from LibTorch's Adam by at "
               "most {:.1e}\n",
               adam_ok ? "PASS" : "FAIL", batched, ours.size(), worst);
  }

  // Loss falls: 40 steps of the trainer's optimizer on a fixed batch whose class is visible in
  // the image.
  gpu_model->train();
  tpt::fused_adam adam(gpu_model->parameters(), torch::optim::AdamOptions(1e-3));
  auto y = torch::arange(32, torch::kLong).remainder(a.classes);
  auto xs = torch::randn({32, 3, size, size}) * 0.1;
  for (std::int64_t i = 0; i < 32; ++i) xs[i].slice(1, 0, 20 * (y[i].item<std::int64_t>() + 1)).add_(1.0);
  xs = xs.to(device).contiguous(torch::MemoryFormat::ChannelsLast);
  y = y.to(device);
  std::vector<double> losses;
  for (int step = 0; step < 40; ++step) {
    tpt::clear_gradients(adam);
    torch::Tensor logits;
    {
      tpt::autocast_guard autocast(device, true);
      logits = gpu_model->forward(xs);
    }
    auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y);
    loss.backward();
    adam.step();
    losses.push_back(loss.item<double>());
  }
  const bool falls = losses.back() < 0.5 * losses.front() && std::isfinite(losses.back());
  fmt::print("{} training on CUDA: loss {:.3f} -> {:.3f} over 40 steps\n", falls ? "PASS" : "FAIL", losses.front(),
             losses.back());
  return logits_ok && adam_ok && falls ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto parsed = parse(argc, argv);
    if (!parsed) return 0;
    const auto& a = *parsed;
    const auto threads = tpt::configure_threads(a.threads);
    if (a.allocator) (void)tpt::configure_cpu_allocator();
    const auto device = tpt::resolve_device(a.device);
    if (device.is_cuda()) tpt::configure_cuda_for_speed();
    fmt::print("bench_train: mode {}, device {}, {} torch threads, LibTorch {}\n", a.mode, device.str(), threads,
               TORCH_VERSION);
    if (a.mode == "step") bench_step(a, device);
    else if (a.mode == "pipeline") bench_pipeline(a, device);
    else if (a.mode == "phase2") bench_phase2(a, device);
    else if (a.mode == "optimizer") bench_optimizer(a, device);
    else if (a.mode == "kernels") bench_kernels(a);
    else if (a.mode == "check") return check_cuda(a, device);
    else throw tpt::config_error("mode", fmt::format("expected step, pipeline, phase2, optimizer, kernels or check, got '{}'",
                                                     a.mode));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_train: {}\n", e.what());
    return 1;
  }
}
