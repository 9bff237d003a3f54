// Throughput of augmented batches from the decoded cache at 224 px: tpt's C++ augmentation (one
// pass from uint8 HWC to normalised float) against the same steps as LibTorch ops, then the
// loader itself with 1 and 2 workers. Prints medians and images/s per core; never passes or fails.
//   bench_image_loader [--images=1024] [--repeats=5] [--batch=64]
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bench_image_common.hpp"
#include "synthetic_frames.hpp"
#include "tpt/core/random.hpp"
#include "tpt/data/augment.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/loader.hpp"

namespace F = torch::nn::functional;

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using namespace tpt::data;
  const auto flags = tpt::bench::program_flags(argc, argv, {"images", "repeats", "batch"},
                                                "bench_image_loader [--images=1024] [--repeats=5] [--batch=64]\n");
  const std::int64_t n = tpt::bench::option(flags, "images", 1024);
  const int repeats = static_cast<int>(tpt::bench::option(flags, "repeats", 5));
  const std::int64_t batch = tpt::bench::option(flags, "batch", 64);
  torch::set_num_threads(1);  // per-core numbers: LibTorch ops on one thread too
  tpt::bench::print_machine();

  // A 256 x 256 RGB cache, as the paper's preprocessing produces.
  auto pixels = torch::empty({n, 256, 256, 3}, torch::kUInt8);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto img = tpt::test::synthetic_frame(256, 256, 3, static_cast<std::uint64_t>(i));
    std::memcpy(pixels[i].data_ptr<std::uint8_t>(), img.data(), img.size_bytes());
  }
  const fs::path dir = fs::temp_directory_path() / fmt::format("tpt-bench-loader-{}", static_cast<long>(::getpid()));
  const auto cache = decoded_cache::open_or_build(dir / "cache.tptc", pixels, {.height = 256, .width = 256, .channels = 3});
  fmt::print("cache: {} images of 256 x 256 x 3; output 224 x 224; {} repeats\n\n", n, repeats);

  const augment_options train;
  std::vector<float> out(static_cast<std::size_t>(3 * 224 * 224));

  // Baseline: the same crop / antialiased bilinear resize / flip / normalise as LibTorch ops.
  const auto mean = torch::tensor(train.mean).view({1, 3, 1, 1});
  const auto stdev = torch::tensor(train.std).view({1, 3, 1, 1});
  auto dest = torch::empty({3, 224, 224});
  const auto torch_ops = tpt::bench::median_timing(repeats, [&] {
    for (std::int64_t i = 0; i < n; ++i) {
      const auto a = draw_augmentation(256, 256, train, augment_seed(1, 0, i));
      const auto src = cache.tensor()[i];
      auto crop = src.slice(0, static_cast<std::int64_t>(a.box.y0), static_cast<std::int64_t>(a.box.y1))
                      .slice(1, static_cast<std::int64_t>(a.box.x0), static_cast<std::int64_t>(a.box.x1))
                      .permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
      auto r = F::interpolate(crop, F::InterpolateFuncOptions().size(std::vector<std::int64_t>{224, 224})
                                         .mode(torch::kBilinear).align_corners(false).antialias(true));
      if (a.flip) r = r.flip({3});
      dest.copy_(((r / 255 - mean) / stdev)[0]);
    }
  });
  const double images = static_cast<double>(n);
  tpt::bench::report("torch ops: crop, interpolate(aa), flip, normalise", torch_ops, images);

  auto per_image = [&](const augment_options& o, tensor_layout layout) {
    return tpt::bench::median_timing(repeats, [&] {
      for (std::int64_t i = 0; i < n; ++i)
        augment_into(cache[static_cast<std::size_t>(i)], o, augment_seed(1, 0, i), out.data(), layout);
    });
  };
  tpt::bench::report("tpt augment_into, train (crop+flip), CHW", per_image(train, tensor_layout::chw), images, &torch_ops, "torch ops");
  tpt::bench::report("tpt augment_into, train (crop+flip), HWC", per_image(train, tensor_layout::hwc), images, &torch_ops, "torch ops");
  augment_options jitter = train;
  jitter.jitter = {.brightness = 0.4, .contrast = 0.4, .saturation = 0.4};
  tpt::bench::report("tpt augment_into, train + colour jitter, CHW", per_image(jitter, tensor_layout::chw), images, &torch_ops, "torch ops");
  augment_options eval = train;
  eval.mode = augment_mode::eval;
  tpt::bench::report("tpt augment_into, eval (centre crop), CHW", per_image(eval, tensor_layout::chw), images, &torch_ops, "torch ops");

  // The loader end to end: a shuffled plan of two epochs' worth, batches of 64.
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n), 0);
  std::vector<std::int64_t> plan(static_cast<std::size_t>(2 * n));
  for (std::size_t p = 0; p < plan.size(); ++p) plan[p] = static_cast<std::int64_t>(p % static_cast<std::size_t>(n));
  tpt::rng gen(5);
  tpt::shuffle(plan, gen);
  fmt::print("\n");
  for (std::size_t workers : {1, 2}) {
    for (bool channels_last : {false, true}) {
      loader_options o;
      o.batch_size = batch;
      o.workers = workers;
      o.channels_last = channels_last;
      std::int64_t served = 0;
      const auto t = tpt::bench::median_timing(repeats, [&] {
        image_loader loader(cache, labels, plan, o);
        served = 0;
        while (auto b = loader.next()) served += b->images.size(0);
      });
      tpt::bench::report(fmt::format("loader, batch {}, {} worker(s){}", batch, workers, channels_last ? ", channels_last" : ""), t,
                         static_cast<double>(served));
    }
  }

  // With CUDA (LibTorch 2.x builds): the same batches through pinned memory and non-blocking
  // copies must equal the CPU ones; then throughput into the GPU by worker count.
  if (torch::cuda::is_available()) {
    const torch::Device cuda(torch::kCUDA);
    loader_options o;
    o.batch_size = batch;
    o.workers = 2;
    o.device = cuda;
    o.channels_last = true;
    image_loader gpu(cache, labels, plan, o);
    o.device = torch::kCPU;
    image_loader cpu(cache, labels, plan, o);
    bool equal = true, on_device = true, nhwc = true;
    std::size_t batches = 0;
    while (auto g = gpu.next()) {
      auto c = cpu.next();
      on_device = on_device && g->images.is_cuda() && g->targets.is_cuda();
      nhwc = nhwc && g->images.is_contiguous(torch::MemoryFormat::ChannelsLast);
      equal = equal && c && torch::equal(g->images.cpu(), c->images) && torch::equal(g->targets.cpu(), c->targets);
      ++batches;
    }
    fmt::print("\nCUDA check ({}): {} batches on the GPU: {}, channels_last: {}, equal to the CPU loader's: {}\n",
               torch::cuda::device_count() ? "available" : "?", batches, on_device ? "yes" : "NO", nhwc ? "yes" : "NO",
               equal ? "yes" : "NO");
    for (bool pin : {false, true}) {
      for (std::size_t workers : {1, 2, 4, 8}) {
        loader_options g;
        g.batch_size = batch;
        g.workers = workers;
        g.device = cuda;
        g.channels_last = true;
        g.pin_memory = pin;
        std::int64_t served = 0;
        const auto t = tpt::bench::median_timing(repeats, [&] {
          image_loader loader(cache, labels, plan, g);
          served = 0;
          torch::Tensor sum = torch::zeros({}, torch::TensorOptions().device(cuda));
          while (auto b = loader.next()) {
            sum += b->images.sum();  // touch the data on the GPU, as a model would
            served += b->images.size(0);
          }
          torch::cuda::synchronize();
        });
        tpt::bench::report(fmt::format("loader to CUDA, {} worker(s), {}", workers, pin ? "pinned, non-blocking" : "pageable"),
                           t, static_cast<double>(served));
      }
    }
  }
  fs::remove_all(dir);
  return 0;
}
