// Reads a COCO Camera Traps file (e.g. the 5.2 GB one generate_coco_camera_traps writes) with
// tpt::data::read_coco_camera_traps and prints wall time, throughput, CPU time (user + system)
// and peak memory (getrusage ru_maxrss) for: a plain sequential read of the file (the baseline:
// what the disk and page cache allow), the paper's season-9 selection (on one thread, then with
// the default second parsing thread), and all seasons; after each read it times assign_splits
// on the result (not in the read time; in the CPU time and peak memory). Each measurement runs
// in a child process, so each peak-memory figure is its own. Never passes or fails on a time.
//
//   bench_coco_camera_traps FILE.json [--prefix S9/] [--repeat N] [--chunk-mib M]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bench_args.hpp"
#include "tpt/data/coco_camera_traps.hpp"
#include "tpt/data/split.hpp"

namespace {

struct measurement {
  double seconds = 0;
  double cpu_seconds = 0;  // user + system, all threads, the whole child (read and split)
  long peak_kib = 0;
  std::size_t kept = 0;
  std::size_t classes = 0;
  double split_seconds = 0;  // assign_splits grouped by seq_id, after the read
  std::size_t split_test = 0;
};

double read_only(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) {
    std::perror("open");
    std::exit(1);
  }
  std::vector<char> buf(std::size_t{16} << 20);
  std::uint64_t checksum = 0;
  while (true) {
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got <= 0) break;
    checksum += static_cast<unsigned char>(buf[static_cast<std::size_t>(got) - 1]);
  }
  ::close(fd);
  return static_cast<double>(checksum);
}

/// Run `work` in a child; it writes its results through a pipe.
template <class Work>
measurement in_child(Work work) {
  int fds[2];
  if (::pipe(fds) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    measurement m;
    try {
      const auto t0 = std::chrono::steady_clock::now();
      work(m);
      m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - m.split_seconds;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      ::_exit(1);
    }
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    m.peak_kib = ru.ru_maxrss;
    m.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    if (::write(fds[1], &m, sizeof m) != static_cast<ssize_t>(sizeof m)) ::_exit(1);
    ::_exit(0);
  }
  ::close(fds[1]);
  measurement m;
  const bool ok = ::read(fds[0], &m, sizeof m) == static_cast<ssize_t>(sizeof m);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "measurement failed\n");
    std::exit(1);
  }
  return m;
}

using tpt::bench::median;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.json [--prefix S9/] [--repeat N] [--chunk-mib M]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path file = argv[1];
  std::string prefix = "S9/";
  int repeat = 1;
  std::size_t chunk_mib = 16;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--prefix" && i + 1 < argc) prefix = argv[++i];
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else if (a == "--chunk-mib" && i + 1 < argc) chunk_mib = std::strtoull(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  const double gb = static_cast<double>(std::filesystem::file_size(file)) / 1e9;
  fmt::print("file {} ({:.2f} GB), chunk {} MiB, {} run(s) each\n", file.string(), gb, chunk_mib, repeat);

  struct config {
    std::string name;
    bool parse;
    std::vector<std::string> prefixes;
    std::size_t threads;
  };
  const std::vector<config> configs = {
      {"sequential read only (baseline)", false, {}, 1},
      {fmt::format("read_coco_camera_traps, prefix {}, 1 thread", prefix), true, {prefix}, 1},
      {fmt::format("read_coco_camera_traps, prefix {}", prefix), true, {prefix}, 2},
      {"read_coco_camera_traps, all seasons", true, {}, 2}};
  for (const auto& c : configs) {
    std::vector<double> seconds, cpu;
    long peak = 0;
    measurement last;
    for (int r = 0; r < repeat; ++r) {
      last = in_child([&](measurement& m) {
        if (!c.parse) {
          (void)read_only(file);
          return;
        }
        tpt::data::coco_camera_traps_options o;
        o.path_prefixes = c.prefixes;
        o.read_chunk_bytes = chunk_mib << 20;
        o.threads = c.threads;
        auto result = tpt::data::read_coco_camera_traps(file, o);
        m.kept = result.index.size();
        m.classes = result.index.class_names.size();
        const auto t0 = std::chrono::steady_clock::now();
        const auto splits = tpt::data::assign_splits(result.index);
        m.split_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        m.split_test = splits.count(tpt::data::split_kind::test);
        if (r == 0 && !c.prefixes.empty() && c.threads > 1) {
          fmt::print("{}\n", result.report);
          std::fflush(stdout);
        }
      });
      seconds.push_back(last.seconds);
      cpu.push_back(last.cpu_seconds);
      peak = std::max(peak, last.peak_kib);
    }
    const double t = median(seconds);
    fmt::print("{:<54} median {:7.2f} s  {:6.2f} GB/s  cpu {:6.2f} s  peak RSS {:7.0f} MiB", c.name, t,
               gb / t, median(cpu), static_cast<double>(peak) / 1024.0);
    if (c.parse)
      fmt::print("  kept {} images in {} classes; then assign_splits (seq_id groups) {:.2f} s, {} test images",
                 last.kept, last.classes, last.split_seconds, last.split_test);
    fmt::print("\n");
    std::fflush(stdout);
  }
  return 0;
}
