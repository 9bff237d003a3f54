// Benchmarks of the metrics and report concern; medians of repeated runs and ratios against a
// baseline measured in the same run. Never passes or fails on a time.
//
//   bench_metrics [--quick]
//
// 1. classification_metrics::update on 52 classes (the paper's test set, 19,377 images) against
//    the naive evaluation loop (logits copied to the host, argmax and counting sample by sample),
//    on the CPU and, when LibTorch sees one, a CUDA GPU.
// 2. The paired bootstrap (19,377 test images, 52 classes) against resampling the vectors and
//    building a classification_report per resample, and on one thread against all threads.
// 3. write_report for the paper's nine model/phase runs.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "bench_args.hpp"
#include "tpt/core/random.hpp"
#include "tpt/metrics/classification_metrics.hpp"
#include "tpt/metrics/classification_report.hpp"
#include "tpt/metrics/statistics.hpp"
#include "tpt/report/paper.hpp"
#include "tpt/report/write_report.hpp"

namespace {

double median_seconds(int repeats, const std::function<void()>& run, const std::function<void()>& sync = [] {}) {
  std::vector<double> t;
  run();  // warm-up
  sync();
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    sync();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return tpt::bench::median(std::move(t));
}

struct test_set {
  std::vector<std::int64_t> targets, reference, candidate;
  torch::Tensor logits, target_tensor;
};

test_set paper_sized(std::uint64_t seed) {
  test_set s;
  const auto species = tpt::paper::serengeti_s9_species();
  for (std::size_t c = 0; c < species.size(); ++c)
    s.targets.insert(s.targets.end(), static_cast<std::size_t>(species[c].test), static_cast<std::int64_t>(c));
  tpt::rng gen(seed);
  tpt::shuffle(s.targets, gen);
  const auto k = static_cast<std::int64_t>(species.size());
  const auto n = static_cast<std::int64_t>(s.targets.size());
  s.logits = torch::randn({n, k}, torch::TensorOptions().dtype(torch::kFloat));
  for (auto t : s.targets) {
    s.reference.push_back(gen.uniform01() < 0.80 ? t : static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k))));
    s.candidate.push_back(gen.uniform01() < 0.82 ? t : static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k))));
  }
  s.target_tensor = torch::tensor(s.targets, torch::kLong);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int repeats = quick ? 3 : 7;
  torch::NoGradGuard no_grad;
  const auto data = paper_sized(1);
  const std::int64_t n = data.logits.size(0), k = data.logits.size(1);
  fmt::print("bench_metrics: {} test images, {} classes, {} intra-op threads, median of {} runs\n", n, k,
             at::get_num_threads(), repeats);

  // 1. Accumulating the confusion matrix.
  std::vector<torch::Device> devices{torch::kCPU};
  if (torch::cuda::is_available()) devices.emplace_back(torch::kCUDA, 0);
  for (const auto& device : devices) {
    const auto logits = data.logits.to(device), targets = data.target_tensor.to(device);
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    for (std::int64_t batch : {64, 256, 1024}) {
      auto run_metric = [&](tpt::classification_metrics_options o) {
        return median_seconds(repeats, [&] {
          tpt::classification_metrics m(k, o);
          for (std::int64_t at = 0; at < n; at += batch) {
            const auto size = std::min(batch, n - at);
            m.update(logits.narrow(0, at, size), targets.narrow(0, at, size));
          }
          (void)m.report();
        }, sync);
      };
      const double tpt_s = run_metric({.top_k = {5}});
      const double argmax_only_s = run_metric({.top_k = {}});
      const double ops_s = device.is_cpu() ? run_metric({.top_k = {5}, .method = tpt::accumulation::tensor_ops}) : tpt_s;
      // The naive loop: every batch copied to the host, argmax and counting per sample.
      const double naive_s = median_seconds(repeats, [&] {
        std::vector<std::int64_t> confusion(static_cast<std::size_t>(k * k), 0);
        for (std::int64_t at = 0; at < n; at += batch) {
          const auto size = std::min(batch, n - at);
          const auto l = logits.narrow(0, at, size).to(torch::kCPU).contiguous();
          const auto t = targets.narrow(0, at, size).to(torch::kCPU).contiguous();
          const float* lp = l.data_ptr<float>();
          const std::int64_t* tp = t.data_ptr<std::int64_t>();
          for (std::int64_t i = 0; i < size; ++i) {
            const float* row = lp + i * k;
            const auto p = std::max_element(row, row + k) - row;
            ++confusion[static_cast<std::size_t>(tp[i] * k + p)];
          }
        }
        (void)tpt::classification_report::from_confusion(confusion, k);
      }, sync);
      auto per = [&](double sec) { return sec / double(n) * 1e9; };
      fmt::print("metrics {:>6} batch {:>4}: ns/image: tpt top-5 {:7.1f}, tpt argmax only {:7.1f}{}, naive host loop (argmax only) {:7.1f}; naive/tpt-argmax-only {:.2f}\n",
                 device.str(), batch, per(tpt_s), per(argmax_only_s),
                 device.is_cpu() ? fmt::format(", tensor_ops top-5 {:7.1f} (tensor_ops/host_loop {:.1f}x)", per(ops_s), ops_s / tpt_s) : std::string(),
                 per(naive_s), naive_s / argmax_only_s);
    }
  }

  // 2. The paired bootstrap.
  const std::size_t B = quick ? 200 : 2000;
  tpt::paired_bootstrap_options o{.resamples = B, .seed = 1};
  const double all_threads = median_seconds(repeats, [&] { (void)tpt::paired_bootstrap(data.reference, data.candidate, data.targets, k, o); });
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const double one_thread = median_seconds(repeats, [&] { (void)tpt::paired_bootstrap(data.reference, data.candidate, data.targets, k, o); });
  // Baseline: resample the vectors and build two full reports per resample (one thread).
  const std::size_t B_naive = quick ? 20 : 100;
  const double naive = median_seconds(repeats, [&] {
    std::vector<std::int64_t> t(data.targets.size()), r(t.size()), c(t.size());
    for (std::size_t b = 0; b < B_naive; ++b) {
      tpt::rng gen = tpt::detail::bootstrap_generator(1, b);
      for (std::size_t i = 0; i < t.size(); ++i) {
        const auto j = gen.uniform_index(t.size());
        t[i] = data.targets[j];
        r[i] = data.reference[j];
        c[i] = data.candidate[j];
      }
      (void)(tpt::classification_report::from_predictions(c, t, k).macro_f1 -
             tpt::classification_report::from_predictions(r, t, k).macro_f1);
    }
  });
  at::set_num_threads(threads);
  const double per_resample_1 = one_thread / double(B), per_resample_naive = naive / double(B_naive);
  fmt::print("bootstrap {} resamples: {:.3f} s on {} threads, {:.3f} s on 1 thread ({:.1f} ns per image drawn); "
             "per resample {:.3f} ms vs {:.3f} ms resampling vectors into reports (ratio {:.2f})\n",
             B, all_threads, threads, one_thread, per_resample_1 / double(n) * 1e9, per_resample_1 * 1e3,
             per_resample_naive * 1e3, per_resample_naive / per_resample_1);

  // 3. The whole report: nine runs, 12 comparisons, 21 figures.
  std::vector<tpt::experiment_record> records;
  const auto species = tpt::paper::serengeti_s9_species();
  std::vector<std::string> names;
  std::vector<std::int64_t> train;
  for (const auto& s : species) {
    names.emplace_back(s.species);
    train.push_back(s.train);
  }
  const char* models[] = {"baseline", "ROS", "ROS", "RUS", "RUS", "ROS&RUS(15K)", "ROS&RUS(15K)", "ROS&RUS(5K)", "ROS&RUS(5K)"};
  for (std::size_t m = 0; m < std::size(models); ++m) {
    const auto& preds = m % 2 ? data.candidate : data.reference;
    records.push_back(tpt::make_experiment_record(models[m], m == 0 ? 1 : 2 - int(m % 2), 0, names, train,
                                                  tpt::classification_report::from_predictions(preds, data.targets, k),
                                                  preds, data.targets));
  }
  const auto folder = std::filesystem::temp_directory_path() / "tpt-bench-report";
  tpt::report_options options;
  options.bootstrap.resamples = quick ? 200 : 2000;
  const double report_s = median_seconds(quick ? 1 : 3, [&] { (void)tpt::write_report(folder, records, options); });
  std::filesystem::remove_all(folder);
  fmt::print("write_report: 9 runs, 12 comparisons x {} resamples, 21 figures: {:.2f} s\n", options.bootstrap.resamples, report_s);
  return 0;
}
