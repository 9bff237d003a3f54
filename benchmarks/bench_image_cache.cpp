// Throughput of filling the decoded cache from 2048 x 1536 camera-trap-like JPEGs (quality 90):
// full decode vs DCT-scaled decode, the cost of turning a frame tagged sideways (EXIF orientation)
// upright, the resize, the whole cache build on 1 and 2 threads, and the preflight scan. Prints
// medians and images/s per core; never passes or fails.
//   bench_image_cache [--images=48] [--repeats=3] [--size=256] [--threads=2] [--noise=6]
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bench_image_common.hpp"
#include "fixtures.hpp"
#include "synthetic_frames.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/encode.hpp"
#include "tpt/data/preflight.hpp"
#include "tpt/data/resize.hpp"
#include "tpt/io/atomic_file.hpp"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using namespace tpt::data;
  const auto flags = tpt::bench::program_flags(argc, argv, {"images", "repeats", "size", "threads", "noise"},
                                                "bench_image_cache [--images=48] [--repeats=3] [--size=256] [--threads=2] [--noise=6]\n");
  const int n = static_cast<int>(tpt::bench::option(flags, "images", 48));
  const int repeats = static_cast<int>(tpt::bench::option(flags, "repeats", 3));
  const std::int64_t size = tpt::bench::option(flags, "size", 256);
  const double noise = static_cast<double>(tpt::bench::option(flags, "noise", 6));
  const auto max_threads = static_cast<std::size_t>(tpt::bench::option(flags, "threads", 2));
  torch::set_num_threads(1);
  tpt::bench::print_machine();

  const fs::path dir = fs::temp_directory_path() / fmt::format("tpt-bench-cache-{}", static_cast<long>(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> paths;
  std::vector<std::vector<std::uint8_t>> files;
  double bytes = 0;
  for (int i = 0; i < n; ++i) {
    auto jpeg = encode_jpeg(tpt::test::synthetic_frame(1536, 2048, 3, static_cast<std::uint64_t>(i), noise), 90);
    paths.push_back(fmt::format("S9/cam{}/IMG_{:04}.JPG", i % 4, i));
    fs::create_directories((dir / paths.back()).parent_path());
    tpt::io::write_atomically(dir / paths.back(), [&](std::ostream& out) {
      out.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
    }, std::ios::binary);
    bytes += static_cast<double>(jpeg.size());
    files.push_back(std::move(jpeg));
  }
  fmt::print("{} synthetic 2048 x 1536 JPEGs (sensor noise +-{}), quality 90, 4:2:0, mean {:.0f} KB; working size {} x {}; "
             "median of {} repeats\n\n", n, noise, bytes / n / 1024, size, size, repeats);

  auto run = [&](const std::string& what, const std::function<void()>& f, const tpt::bench::timing* base = nullptr) {
    const auto t = tpt::bench::median_timing(repeats, f);
    tpt::bench::report(what, t, n, base, "full decode");
    return t;
  };
  const auto full = run("full decode (baseline)", [&] {
    for (const auto& f : files) (void)decode_image(f, "x.jpg", {.channels = 3});
  });
  const auto scaled = run("DCT-scaled decode", [&] {
    for (const auto& f : files) (void)decode_image(f, "x.jpg", {.channels = 3, .min_width = size, .min_height = size});
  }, &full);
  // The same frames with an EXIF tag saying they were stored sideways (orientation 6): the same
  // decode, then the turn to upright.
  std::vector<std::vector<std::uint8_t>> sideways;
  for (const auto& f : files) sideways.push_back(tpt::test::jpeg_with_exif(f, tpt::test::exif_tiff(6, false)));
  tpt::bench::report("  same, tagged sideways: decode + turn upright", tpt::bench::median_timing(repeats, [&] {
    for (const auto& f : sideways) (void)decode_image(f, "x.jpg", {.channels = 3, .min_width = size, .min_height = size});
  }), n, &scaled, "DCT-scaled decode");
  run("full decode + antialiased resize", [&] {
    for (const auto& f : files) (void)resize(decode_image(f, "x.jpg", {.channels = 3}), size, size);
  }, &full);
  run("DCT-scaled decode + antialiased resize", [&] {
    for (const auto& f : files)
      (void)resize(decode_image(f, "x.jpg", {.channels = 3, .min_width = size, .min_height = size}), size, size);
  }, &full);
  const auto small = decode_image(files[0], "x.jpg", {.channels = 3, .min_width = size, .min_height = size});
  run(fmt::format("  resize alone, {} x {} -> {} x {}", small.width(), small.height(), size, size), [&] {
    for (int i = 0; i < n; ++i) (void)resize(small, size, size);
  });
  for (std::size_t threads = 1; threads <= max_threads; threads *= 2) {
    const fs::path cache_file = dir / fmt::format("cache-{}.tptc", threads);
    run(fmt::format("cache build (read, decode, resize, write), {} thr", threads), [&] {
      fs::remove(cache_file);
      const auto c = decoded_cache::open_or_build(cache_file, dir, paths, {.height = size, .width = size}, {.threads = threads});
      if (!c.rebuilt()) throw std::runtime_error("cache was not rebuilt");
    }, &full);
  }
  const fs::path cache_file = dir / "cache-1.tptc";
  run("cache reuse check (stat + header checks)", [&] {
    const auto c = decoded_cache::open_or_build(cache_file, dir, paths, {.height = size, .width = size});
    if (c.rebuilt()) throw std::runtime_error("cache was rebuilt");
  });
  run("preflight scan (1/8-scale decode), 1 thr", [&] { (void)preflight_images(dir, paths, {.threads = 1}); }, &full);
  fs::remove_all(dir);
  return 0;
}
