// Timing helpers shared by the image benchmarks: medians of repeated runs, and the machine's
// load at the start (the benchmarks share their cores with whatever else runs).
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_args.hpp"

namespace tpt::bench {

/// CPU time of the whole process (all threads), in seconds.
inline double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Medians over repeated runs: wall time, and CPU time of the process. On a shared machine the
/// CPU time is the robust measure of work per core: wall time also counts time spent waiting for
/// a core that another process holds.
struct timing {
  double wall = 0;
  double cpu = 0;
};

inline timing median_timing(int repeats, const std::function<void()>& f) {
  std::vector<double> wall, cpu;
  for (int r = 0; r < repeats; ++r) {
    const double c0 = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    f();
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    cpu.push_back(process_cpu_seconds() - c0);
  }
  return {median(wall), median(cpu)};
}

/// One result line: images per wall second, and images per CPU second (= per core busy).
inline void report(const std::string& what, timing t, double images, const timing* baseline = nullptr,
                   const char* baseline_name = "baseline") {
  fmt::print("{:<50} {:9.0f} images/s wall {:9.0f} images/s per core (CPU {:7.1f} us/image)", what, images / t.wall,
             images / t.cpu, 1e6 * t.cpu / images);
  if (baseline) fmt::print("  x{:.2f} vs {}", baseline->cpu / t.cpu, baseline_name);
  fmt::print("\n");
}

inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

inline void print_machine() {
  fmt::print("machine: {} hardware threads, load average {}\n", std::thread::hardware_concurrency(), load_average());
}

/// The program's flags (`--name=value` or `--name value`, each one of `known`), checked once at
/// the start: --help prints `usage` and exits 0; an unknown flag, a missing value or a value that
/// is not a whole number >= 1 prints why and exits 2.
inline flags program_flags(int argc, char** argv, std::initializer_list<std::string_view> known, const std::string& usage) {
  try {
    flags parsed(argc, argv, known, usage);
    if (parsed.help()) std::exit(0);
    return parsed;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", argv[0], e.what());
    std::exit(2);
  }
}

/// Whole-number flag --name from the checked flags (at least 1), or `fallback`.
inline long option(const flags& f, const std::string& name, long fallback) {
  try {
    return static_cast<long>(f.number(name, fallback, 1));
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    std::exit(2);
  }
}

}  // namespace tpt::bench
