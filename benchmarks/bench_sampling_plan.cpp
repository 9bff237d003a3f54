// How long a sampling plan takes for 10 million labels (52 classes in Snapshot Serengeti's
// proportions, shuffled so that classes interleave), for every paper preset and the other
// policies. Prints the median of several runs, in wall-clock time and in this thread's CPU
// time (on a machine shared with other jobs the wall clock also counts time spent waiting for
// a core), and the ratio to one counting pass over the labels (the least any plan must do),
// measured in the same run. Never fails on a time.
//
// Usage: bench_sampling_plan [LABELS (default 10000000)] [RUNS (default 7)]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_args.hpp"
#include "tpt/core/random.hpp"
#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/presets.hpp"
#include "tpt/sampling/sampler.hpp"

namespace {

struct timing {
  double wall_ms;
  double cpu_ms;
};

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

using tpt::bench::median;

timing measure(int runs, const std::function<std::int64_t()>& work, std::int64_t& result) {
  std::vector<double> wall, cpu;
  for (int r = 0; r < runs; ++r) {
    const double cpu_start = thread_cpu_ms();
    const auto start = std::chrono::steady_clock::now();
    result = work();
    const auto stop = std::chrono::steady_clock::now();
    cpu.push_back(thread_cpu_ms() - cpu_start);
    wall.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  return {median(wall), median(cpu)};
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t n = 10'000'000;
  int runs = 7;
  try {  // bench_sampling_plan [LABELS [RUNS]]
    if (argc > 3) throw std::invalid_argument("usage: bench_sampling_plan [LABELS [RUNS]]");
    if (argc > 1) n = tpt::bench::flags::parse_number("LABELS", argv[1], 10'000, 2'000'000'000);  // 52 classes in proportion
    if (argc > 2) runs = static_cast<int>(tpt::bench::flags::parse_number("RUNS", argv[2], 1, 1000));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sampling_plan: %s\n", e.what());
    return 2;
  }

  // Serengeti's 52 class proportions scaled to n labels.
  const auto s9 = tpt::serengeti_s9();
  std::vector<std::int64_t> counts;
  std::int64_t assigned = 0;
  for (const auto c : s9.counts) {
    counts.push_back(std::max<std::int64_t>(1, c * n / s9.total()));
    assigned += counts.back();
  }
  counts.front() += n - assigned;
  std::vector<std::int64_t> labels = tpt::labels_from_counts(counts);
  tpt::rng shuffler(7);
  tpt::shuffle(labels, shuffler);
  const std::int64_t k = s9.num_classes();
  const double scale = tpt::presets::scale_for(counts);

  fmt::print("sampling plans for {} labels, {} classes (Snapshot Serengeti proportions, largest "
             "{}), presets at scale {:.2f}; median of {} runs; ns/label and x count from CPU "
             "time\n\n",
             labels.size(), k, counts.front(), scale, runs);
  fmt::print("{:<44} {:>9} {:>9} {:>12} {:>9} {:>8}\n", "policy", "wall ms", "CPU ms",
             "plan size", "ns/label", "x count");

  std::int64_t size = 0;
  const timing baseline = measure(runs, [&] { return tpt::count_classes(labels, k).front(); }, size);
  auto row = [&](const std::string& name, timing t, std::int64_t plan_size) {
    fmt::print("{:<44} {:>9.1f} {:>9.1f} {:>12} {:>9.2f} {:>8.1f}\n", name, t.wall_ms, t.cpu_ms,
               plan_size, t.cpu_ms * 1e6 / static_cast<double>(labels.size()),
               t.cpu_ms / baseline.cpu_ms);
  };
  row("count_classes (one pass: the baseline)", baseline, 0);

  auto bench = [&](const std::string& name, const auto& policy) {
    std::int64_t total = 0;
    const timing t = measure(runs, [&] {
      tpt::rng gen(1);
      return policy.plan(labels, k, gen).total();
    }, total);
    row(name, t, total);
  };
  auto bench_epoch = [&](const std::string& name, const auto& policy) {
    std::int64_t total = 0;
    std::int64_t epoch = 0;
    const timing t = measure(runs, [&] {
      return tpt::plan_epoch(policy, labels, k, 1, epoch++).total();
    }, total);
    row(name, t, total);
  };

  bench("baseline (identity)", tpt::presets::baseline());
  bench("ros", tpt::presets::ros(scale));
  bench("rus", tpt::presets::rus(scale));
  bench("ros-rus-15k", tpt::presets::ros_rus_15k(scale));
  bench("ros-rus-5k", tpt::presets::ros_rus_5k(scale));
  {
    tpt::random_oversample::options o = tpt::presets::ros(scale).settings();
    o.extras = tpt::extra_copies::independent;
    bench("ros, independent extras", tpt::random_oversample(o));
  }
  bench("class_balanced::to(200000)", tpt::class_balanced::to(200000));
  bench_epoch("plan_epoch(ros-rus-15k) incl. plan check", tpt::presets::ros_rus_15k(scale));
  bench_epoch("plan_epoch(every_epoch(rus)) incl. check", tpt::every_epoch(tpt::presets::rus(scale)));
  {
    // The general two-pass composition (the path a custom first stage takes), for comparison
    // with the single sweep the built-in ROS&RUS uses.
    struct opaque_ros {
      tpt::random_oversample inner;
      tpt::sampling_plan plan(std::span<const std::int64_t> l, std::int64_t c, tpt::rng& g) const {
        return inner.plan(l, c, g);
      }
    };
    bench("ros-rus-15k, two-pass composition", tpt::compose(opaque_ros{tpt::presets::ros(scale)},
                                                            tpt::presets::rus(scale)));
  }
  return 0;
}
