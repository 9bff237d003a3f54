// The paper's five models as functions (one per source file, each instantiating the trainer with
// its own sampler), and the loop that runs a set of them over seeds and losses into one report.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "../common/experiment.hpp"

namespace tpt::examples {

std::vector<experiment_record> run_baseline(const prepared_data&, const experiment_options&, std::uint64_t seed,
                                            const std::string& loss);
std::vector<experiment_record> run_ros(const prepared_data&, const experiment_options&, std::uint64_t seed,
                                       const std::string& loss);
std::vector<experiment_record> run_rus(const prepared_data&, const experiment_options&, std::uint64_t seed,
                                       const std::string& loss);
std::vector<experiment_record> run_ros_rus_15k(const prepared_data&, const experiment_options&, std::uint64_t seed,
                                               const std::string& loss);
std::vector<experiment_record> run_ros_rus_5k(const prepared_data&, const experiment_options&, std::uint64_t seed,
                                              const std::string& loss);

struct paper_model_entry {
  std::string_view name;  // the command-line name (presets::names)
  paper_model model;
  paper_model_runner run;
};

inline constexpr std::array<paper_model_entry, 5> paper_models{{
    {"baseline", paper_model::baseline, &run_baseline},
    {"ros", paper_model::ros, &run_ros},
    {"rus", paper_model::rus, &run_rus},
    {"ros-rus-15k", paper_model::ros_rus_15k, &run_ros_rus_15k},
    {"ros-rus-5k", paper_model::ros_rus_5k, &run_ros_rus_5k},
}};

/// The entries --models names ("all", or names with '-' or '_'), in the paper's order.
inline std::vector<paper_model_entry> select_models(const std::vector<std::string>& names) {
  std::vector<bool> chosen(paper_models.size(), false);
  for (auto name : names) {
    std::replace(name.begin(), name.end(), '_', '-');
    if (name == "all") {
      chosen.assign(paper_models.size(), true);
      continue;
    }
    bool found = false;
    for (std::size_t i = 0; i < paper_models.size(); ++i)
      if (paper_models[i].name == name) chosen[i] = found = true;
    if (!found)
      throw config_error("models", fmt::format("unknown model '{}' (expected all, baseline, ros, rus, ros-rus-15k or "
                                               "ros-rus-5k)", name));
  }
  std::vector<paper_model_entry> out;
  for (std::size_t i = 0; i < paper_models.size(); ++i)
    if (chosen[i]) out.push_back(paper_models[i]);
  return out;
}

/// Prepare the data, run every model x seed x loss, write the report; print the comparison.
inline int run_experiments(const std::string& program, const experiment_options& o,
                           const std::vector<paper_model_entry>& models) {
  const auto start = std::chrono::steady_clock::now();
  // A model that would train no epoch at all would report a randomly initialised network as a
  // result (and, as the baseline, the reference of every comparison).
  for (const auto& m : models) {
    const auto s = schedule_for(m.model, o);
    if (s.epochs(1) + s.epochs(2) == 0)
      throw config_error(o.epochs1 ? "epochs1" : "epochs2",
                         fmt::format("{} would train no epoch (phase 1: 0{}); give it at least one", to_string(m.model),
                                     m.model == paper_model::baseline ? ", and the baseline has no phase 2" : ", phase 2: 0"));
  }
  // The report folder is written last: a folder that cannot take it is found now, not after
  // hours of training.
  const auto report_dir = std::filesystem::path(o.out) / "report";
  io::check_writable_folder(report_dir);
  const output_folder_lock lock(o.out);  // one run per output folder, held to the end
  // A resumed run must continue what it started, and every run's folder must take its files
  // (a file standing where <out>/runs or a run's folder belongs): both checked for every run
  // before any data is read.
  for (const auto seed : o.seeds)
    for (const auto& loss : o.losses)
      for (const auto& m : models) {
        check_resumable(o, m.model, loss, seed);
        io::check_writable_folder(run_directory(o, m.model, loss_choice::parse(loss).name(), seed));
      }
  const auto threads = configure_threads(static_cast<std::size_t>(o.threads));
  (void)configure_cpu_allocator();  // tensors freed each step are reused, not page-faulted in again
  const auto device = resolve_device(o.device);
  if (device.is_cuda()) configure_cuda_for_speed();
  fmt::print("{}: {} thread(s), device {}\n", program, threads, device.str());
  const auto data = prepare_data(o);
  fmt::print("data: {}\n", data.description);
  fmt::print("sampling thresholds scaled by {:.4f} (largest training class {} vs Serengeti's 48,377)\n", data.preset_scale,
             *std::max_element(data.train_counts.begin(), data.train_counts.end()));

  std::vector<experiment_record> records;
  for (const auto seed : o.seeds)
    for (const auto& loss : o.losses)
      for (const auto& m : models) {
        auto r = m.run(data, o, seed, loss);
        records.insert(records.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
      }

  report_options ro;
  ro.title = fmt::format("{}: {}", program, data.description);
  const bool has_baseline = std::any_of(records.begin(), records.end(), [](const auto& r) { return r.model == "baseline"; });
  if (!has_baseline) ro.reference_model = records.front().model;
  const auto written = [&] {
    try {
      return write_report(report_dir, records, ro);
    } catch (const tpt::error& e) {
      throw tpt::error(fmt::format("{}\n(every run is saved under {}: fix this and run the same command with --resume "
                                   "to write the report without training again)",
                                   e.what(), (std::filesystem::path(o.out) / "runs").string()));
    }
  }();
  fmt::print("\n{}\n", written.summary);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{}: {} runs, report in {} ({} files), {:.0f} s\n", program, records.size(),
             (std::filesystem::path(o.out) / "report" / "report.md").string(), written.files.size(), seconds);
  return 0;
}

}  // namespace tpt::examples
