// tpt-predict: classify camera-trap images with a model trained by tpt and write results that
// Timelapse, AddaxAI and MegaDetector's tools read (MegaDetector batch output format) plus a CSV:
// every image of a folder or manifest, or every animal detection of a MegaDetector file.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/predict/megadetector.hpp"
#include "tpt/predict/prediction.hpp"
#include "tpt/predict/preprocess.hpp"
#include "tpt/predict/run.hpp"
#include "tpt/version.hpp"

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace tp = tpt::predict;

namespace {

constexpr const char* usage = R"(tpt-predict: classify camera-trap images with a model trained by tpt.

Writes MegaDetector-format results (the JSON that Timelapse, AddaxAI and MegaDetector's own
tools read) and a CSV table. Three ways to name the images:

  tpt-predict --model s9.tpt --images /data/cams --output results.json
      every .jpg/.jpeg/.png under the folder (and its subfolders), each classified whole
  tpt-predict --model s9.tpt --manifest list.csv --output results.json
      the images in the CSV's 'path' column (relative to --image-root)
  tpt-predict --model s9.tpt --megadetector md.json --output md_classified.json
      every animal detection of a MegaDetector results file, cropped and classified; the
      file is written to --output with 'classifications' added to those detections

Images that cannot be read are recorded in the results ('failure') and do not stop the run.
Progress is saved every --checkpoint-every images: after a stop (Ctrl-C, a crash, a full
disk), run the same command again and it continues where it was.
)";

std::atomic<bool> stop_flag{false};

extern "C" void on_signal(int) {
  stop_flag.store(true);
  constexpr char message[] = "\ntpt-predict: stopping after the current batch (press Ctrl-C again to quit at once)\n";
  // write(2), unlike iostreams, may be called in a signal handler.
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
  // A second Ctrl-C ends the program at once.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

/// "256x256" or "256" (square).
std::pair<std::int64_t, std::int64_t> parse_size(const std::string& text) {
  const auto x = text.find('x');
  try {
    std::size_t used = 0;
    if (x == std::string::npos) {
      const long v = std::stol(text, &used);
      if (used == text.size() && v > 0) return {v, v};
    } else {
      const long w = std::stol(text.substr(0, x), &used);
      if (used == x) {
        std::size_t used_h = 0;
        const long h = std::stol(text.substr(x + 1), &used_h);
        if (used_h == text.size() - x - 1 && w > 0 && h > 0) return {w, h};
      }
    }
  } catch (const std::exception&) {
  }
  throw tpt::config_error("--resize", fmt::format("expected WIDTHxHEIGHT such as 256x256 (or one number for a "
                                                  "square), got '{}'", text));
}

/// What identifies the weights to a later run that resumes this one: path, size, modification
/// time to the nanosecond (a retrained model has the same size).
std::string model_fingerprint(const fs::path& model) {
  std::error_code ec;
  const auto size = fs::file_size(model, ec);
  const auto modified = std::chrono::file_clock::to_sys(fs::last_write_time(model, ec));
  const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(modified);
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(modified - seconds).count();
  return fmt::format("{} ({} bytes, modified {}.{:09})", fs::weakly_canonical(model, ec).string(), size,
                     tp::md_timestamp(std::chrono::time_point_cast<std::chrono::system_clock::duration>(seconds)),
                     nanoseconds);
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

/// A progress bar on a terminal, a line every 10% in a log.
class progress_display {
 public:
  explicit progress_display(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

  void operator()(const tp::run_progress& p) {
    if (quiet_) return;
    if (p.done == p.resumed && p.resumed > 0 && !announced_resume_) {
      announced_resume_ = true;
      std::cerr << fmt::format("resuming: {} of {} images already done\n", p.resumed, p.total);
    }
    const auto now = std::chrono::steady_clock::now();
    const bool last = p.done == p.total;
    const double fraction = p.total ? static_cast<double>(p.done) / static_cast<double>(p.total) : 1.0;
    if (tty_) {
      if (!last && now - last_draw_ < std::chrono::milliseconds(200)) return;
      last_draw_ = now;
      constexpr int width = 30;
      const int filled = static_cast<int>(fraction * width);
      std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
                << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << line(p, fraction) << "   "
                << (last ? "\n" : "") << std::flush;
    } else {
      if (p.done == 0) return;
      const int decile = static_cast<int>(fraction * 10);
      if (decile <= last_decile_ && !last) return;
      if (last && last_decile_ == 10) return;
      last_decile_ = decile;
      std::cerr << line(p, fraction) << "\n";
    }
  }

  /// End the bar's line before other output.
  void finish() const {
    if (!quiet_ && tty_) std::cerr << "\n";
  }

 private:
  static std::string line(const tp::run_progress& p, double fraction) {
    const std::size_t fresh = p.done - p.resumed;
    const double rate = p.seconds > 0 ? static_cast<double>(fresh) / p.seconds : 0.0;
    std::string text = fmt::format("{}/{} images ({:.1f}%)", p.done, p.total, 100 * fraction);
    if (p.failed) text += fmt::format(", {} failed", p.failed);
    if (rate > 0) {
      text += fmt::format(", {:.1f} images/s", rate);
      if (p.done < p.total) text += fmt::format(", {} left", clock_text(static_cast<double>(p.total - p.done) / rate));
    }
    return text;
  }

  bool quiet_;
  bool tty_;
  bool announced_resume_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point last_draw_{};
};

int run(int argc, char** argv) {
  std::string model, images, manifest, megadetector, image_root, output, csv, device_name = "auto", classifier_name,
                                                                           checkpoint_file, resize;
  std::int64_t top_k = 5, batch_size = 64, workers = 0, threads = 0, checkpoint_every = 1000;
  double min_conf = 0.1, padding = 0, crop_fraction = 0;
  std::vector<std::string> categories;

  po::options_description input("Input (one of --images, --manifest, --megadetector)");
  input.add_options()
      ("images", po::value(&images)->value_name("FOLDER"), "classify every .jpg/.jpeg/.png under FOLDER, recursively")
      ("manifest", po::value(&manifest)->value_name("CSV"), "classify the images in the CSV's 'path' column")
      ("megadetector", po::value(&megadetector)->value_name("JSON"),
       "classify the detections of a MegaDetector results file")
      ("image-root", po::value(&image_root)->value_name("FOLDER"),
       "folder that --manifest or --megadetector paths are relative to (default: the folder the file is in)");
  po::options_description out("Output");
  out.add_options()
      ("output,o", po::value(&output)->value_name("JSON"), "MegaDetector-format results (required unless --in-place)")
      ("csv", po::value(&csv)->value_name("CSV"),
       "table with one row per image (per detection with --megadetector); default: OUTPUT with .csv")
      ("no-csv", "write no CSV")
      ("in-place", "with --megadetector: replace the input file itself (atomically: a crash leaves it intact)")
      ("classifier-name", po::value(&classifier_name)->value_name("NAME"),
       "info.classifier in the results (default: the model's file name)");
  po::options_description cls("Model and device");
  cls.add_options()
      ("model,m", po::value(&model)->value_name("FILE"), "checkpoint written by tpt's training (tpt::save_checkpoint)")
      ("top-k,k", po::value(&top_k)->default_value(5)->value_name("K"), "classes reported per image or detection")
      ("device", po::value(&device_name)->default_value("auto")->value_name("DEV"),
       "cpu, cuda, cuda:N, or auto (cuda when there is a GPU)")
      ("batch-size", po::value(&batch_size)->default_value(64)->value_name("N"), "images or crops per forward pass")
      ("workers", po::value(&workers)->default_value(0)->value_name("N"),
       "threads reading and decoding images (0: 1 on cpu, up to 4 on cuda)")
      ("threads", po::value(&threads)->default_value(0)->value_name("N"),
       "CPU threads for the model (0: LibTorch's default, one per core)")
      ("resize", po::value(&resize)->value_name("WxH"),
       "working size images are resized to before the centre crop (default: what the model recorded)")
      ("crop-fraction", po::value(&crop_fraction)->value_name("F"),
       "fraction of the working image the centre crop keeps (default: what the model recorded)");
  po::options_description crops("Detections (with --megadetector)");
  crops.add_options()
      ("min-detection-conf", po::value(&min_conf)->default_value(0.1)->value_name("C"),
       "classify detections with confidence >= C")
      ("detection-category", po::value(&categories)->value_name("NAME")->composing(),
       "detection category to classify (repeatable; default: animal)")
      ("crop-padding", po::value(&padding)->default_value(0.0)->value_name("F"),
       "grow each box by F times its width/height on every side (0.1: 10% more context)")
      ("square-crops", "make crops square (about the box's centre) before padding")
      ("replace-classifications", "replace classifications already in the file (refused otherwise)");
  po::options_description resume("Checkpoints");
  resume.add_options()
      ("checkpoint-every", po::value(&checkpoint_every)->default_value(1000)->value_name("N"),
       "save progress every N images (0: never)")
      ("checkpoint-file", po::value(&checkpoint_file)->value_name("FILE"),
       "where progress is saved (default: OUTPUT.checkpoint.jsonl)")
      ("restart", "ignore saved progress and start over");
  po::options_description other("Other");
  other.add_options()
      ("quiet,q", "no progress bar")
      ("version", "print the version")
      ("help,h", "this help");
  po::options_description all;
  all.add(input).add(out).add(cls).add(crops).add(resume).add(other);

  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, all), vm);
  po::notify(vm);
  if (vm.count("help") || argc == 1) {
    std::cout << usage << "\n" << all << "\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "tpt-predict " << tpt::version_string << "\n";
    return 0;
  }

  // Option checks, each naming the option as the user typed it.
  const int sources = static_cast<int>(!images.empty()) + static_cast<int>(!manifest.empty()) +
                      static_cast<int>(!megadetector.empty());
  if (sources != 1)
    throw tpt::config_error("--images/--manifest/--megadetector",
                            sources == 0 ? "say which images to classify with one of them"
                                         : "give only one of them");
  if (model.empty()) throw tpt::config_error("--model", "the checkpoint of a trained model is required");
  const bool in_place = vm.count("in-place") > 0;
  if (in_place && megadetector.empty())
    throw tpt::config_error("--in-place", "only a --megadetector file can be updated in place");
  if (in_place && !output.empty())
    throw tpt::config_error("--in-place", "writes over the input file; leave out --output");
  if (!in_place && output.empty()) throw tpt::config_error("--output", "say where the results go");
  if (!image_root.empty() && !images.empty())
    throw tpt::config_error("--image-root", "is for --manifest and --megadetector; --images is the root itself");
  if (top_k < 1) throw tpt::config_error("--top-k", fmt::format("must be at least 1, got {}", top_k));
  if (batch_size < 1) throw tpt::config_error("--batch-size", fmt::format("must be at least 1, got {}", batch_size));
  if (workers < 0) throw tpt::config_error("--workers", fmt::format("must be >= 0, got {}", workers));
  if (threads < 0) throw tpt::config_error("--threads", fmt::format("must be >= 0, got {}", threads));
  if (checkpoint_every < 0)
    throw tpt::config_error("--checkpoint-every", fmt::format("must be >= 0 (0: no checkpoints), got {}", checkpoint_every));
  if (!(min_conf >= 0 && min_conf <= 1))
    throw tpt::config_error("--min-detection-conf", fmt::format("must be in [0, 1], got {}", min_conf));
  if (!(padding >= 0 && padding < 100))
    throw tpt::config_error("--crop-padding", fmt::format("must be a fraction >= 0 such as 0.1, got {}", padding));
  if (vm.count("crop-fraction") && !(crop_fraction > 0 && crop_fraction <= 1))
    throw tpt::config_error("--crop-fraction", fmt::format("must be in (0, 1], got {}", crop_fraction));
  if (megadetector.empty()) {
    for (const char* o : {"detection-category", "square-crops", "replace-classifications"})
      if (vm.count(o)) throw tpt::config_error(fmt::format("--{}", o), "applies to --megadetector runs only");
    if (!vm["min-detection-conf"].defaulted() || !vm["crop-padding"].defaulted())
      throw tpt::config_error(vm["min-detection-conf"].defaulted() ? "--crop-padding" : "--min-detection-conf",
                              "applies to --megadetector runs only");
  }
  const torch::Device device = [&] {
    try {
      return tp::resolve_device(device_name);
    } catch (const tpt::config_error& e) {
      throw tpt::config_error("--device", e.reason());
    }
  }();
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));

  // Paths.
  const fs::path input_file = !manifest.empty() ? fs::path(manifest) : fs::path(megadetector);
  const fs::path output_path = in_place ? fs::path(megadetector) : fs::path(output);
  // One file under two spellings ('./o.json', a link) is still one file.
  using tpt::io::same_file;
  if (!in_place && !input_file.empty() && same_file(output_path, input_file))
    throw tpt::config_error("--output", fmt::format("is the input file {}{}", input_file.string(),
                                                    megadetector.empty() ? "; name another results file"
                                                                         : "; pass --in-place instead to replace it (atomically)"));
  fs::path csv_path;
  if (!vm.count("no-csv")) {
    csv_path = csv.empty() ? fs::path(output_path).replace_extension(".csv") : fs::path(csv);
    if (same_file(csv_path, output_path))
      throw tpt::config_error("--csv", fmt::format("would overwrite the results file {}; name another CSV file",
                                                   output_path.string()));
    if (!input_file.empty() && same_file(csv_path, input_file))
      throw tpt::config_error("--csv", fmt::format("would overwrite the input file {}; name another CSV file{}",
                                                   input_file.string(), csv.empty() ? " (--csv) or --no-csv" : ""));
  }
  {
    // Every file this run writes or deletes (the checkpoint goes at the end) against the model
    // and the input; the library's own check (the same rules) with the options' names.
    const tp::run_options files{.output = output_path, .csv = csv_path, .checkpoint_file = checkpoint_file,
                                .checkpoint_every = checkpoint_every};
    const auto checkpoint = checkpoint_every > 0 ? tp::detail::checkpoint_path(files) : fs::path();
    for (const auto& [option, file] : {std::pair{"--output", output_path}, std::pair{"--csv", csv_path},
                                       std::pair{"--checkpoint-file", checkpoint}})
      if (same_file(file, model))
        throw tpt::config_error(option, fmt::format("'{}' is the model file; name another file", file.string()));
    try {
      tp::detail::check_run_options(files, input_file, in_place);
    } catch (const tpt::config_error& e) {
      std::string option = "--" + e.option();
      std::replace(option.begin(), option.end(), ' ', '-');
      throw tpt::config_error(option, e.reason());
    }
  }
  const fs::path root = !images.empty()      ? fs::path(images)
                        : !image_root.empty() ? fs::path(image_root)
                                              : (input_file.has_parent_path() ? input_file.parent_path() : fs::path("."));

  // The model.
  auto loaded = tpt::load_checkpoint(model, device);
  tp::classifier_options copts{.device = device,
                               .batch_size = batch_size,
                               .top_k = top_k,
                               .workers = static_cast<std::size_t>(workers),
                               .crop = {.padding = padding, .square = vm.count("square-crops") > 0}};
  const auto origin = tp::origin_of(loaded.metadata);
  auto prep = tp::preprocessing_for(loaded.metadata, model);
  if (!resize.empty()) {
    const auto [w, h] = parse_size(resize);
    prep.working.width = w;
    prep.working.height = h;
  }
  if (vm.count("crop-fraction")) prep.crop_fraction = crop_fraction;
  copts.preprocess = prep;
  std::cerr << fmt::format("model: {} ({})\n", model, loaded.metadata);
  tp::batch_classifier classifier(std::move(loaded), copts);
  std::cerr << fmt::format("preprocessing: {} [{}{}]\n", classifier.preprocess(), origin,
                           resize.empty() && !vm.count("crop-fraction") ? "" : ", changed by options");
  std::cerr << fmt::format("device: {}, batch {}, top {}, {} decoding thread{}\n", device.str(), batch_size,
                           classifier.reported_classes(), classifier.workers(), classifier.workers() == 1 ? "" : "s");

  progress_display display(vm.count("quiet") > 0);
  tp::run_options ro{.output = output_path,
                     .csv = csv_path,
                     .checkpoint_file = checkpoint_file,
                     .checkpoint_every = checkpoint_every,
                     .restart = vm.count("restart") > 0,
                     .classifier_name = classifier_name.empty() ? fs::path(model).filename().string() : classifier_name,
                     .model_fingerprint = model_fingerprint(model),
                     .progress = [&](const tp::run_progress& p) { display(p); },
                     .stop_requested = [] { return stop_flag.load(); }};
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  tp::run_summary summary;
  if (megadetector.empty()) {
    std::vector<std::string> files;
    if (!images.empty()) {
      auto listing = tp::list_images(images);
      // What the listing could not enter: said, not silently left out of the results.
      const auto say = [](const std::vector<std::string>& folders, std::string_view what, std::string_view advice) {
        if (folders.empty()) return;
        std::cerr << fmt::format("warning: {} {} ({}{}){}\n", folders.size(), what,
                                 fmt::join(folders.begin(), folders.begin() + std::min<std::ptrdiff_t>(5, std::ssize(folders)), ", "),
                                 folders.size() > 5 ? ", ..." : "", advice);
      };
      say(listing.unreadable_folders, "folder(s) could not be read, their images are not classified", "");
      say(listing.linked_folders, "link(s) to folders not followed", ": list their images in a --manifest to classify them");
      if (listing.files.empty())
        throw tpt::input_error(images, fmt::format("holds no .jpg, .jpeg or .png images ({} other files)", listing.ignored));
      std::cerr << fmt::format("input: {} images under {}{}\n", listing.files.size(), images,
                               listing.ignored == 0   ? std::string()
                               : listing.ignored == 1 ? std::string(" (1 other file ignored)")
                                                      : fmt::format(" ({} other files ignored)", listing.ignored));
      files = std::move(listing.files);
    } else {
      files = tp::read_image_manifest(manifest);
      if (files.empty()) throw tpt::input_error(manifest, "lists no images");
      std::cerr << fmt::format("input: {} images listed in {}, under {}\n", files.size(), manifest, root.string());
    }
    summary = tp::classify_images(classifier, root, files, ro);
  } else {
    auto md = tp::megadetector_results::read(megadetector);
    std::cerr << fmt::format("input: {} images in {} (format {}), under {}\n", md.image_count(), megadetector,
                             md.format_version(), root.string());
    tp::detection_selection sel{.min_confidence = min_conf,
                                .replace_classifications = vm.count("replace-classifications") > 0};
    if (!categories.empty()) sel.categories = categories;
    summary = tp::classify_detections(classifier, std::move(md), root, sel, ro);
  }

  if (summary.stopped) {
    display.finish();
    if (summary.checkpoint.empty()) {
      std::cout << "tpt-predict: stopped; no checkpoints were kept (--checkpoint-every 0), so nothing is saved\n";
    } else {
      std::cout << fmt::format("tpt-predict: stopped; progress is saved in {}: run the same command again to "
                               "continue\n", summary.checkpoint.string());
    }
    return 130;
  }
  std::cout << fmt::format("tpt-predict: {}\n", summary);
  std::cout << fmt::format("wrote {}{}\n", output_path.string(), csv_path.empty() ? "" : " and " + csv_path.string());
  if (summary.failed > 0 && summary.classified_images == 0)
    std::cerr << fmt::format("warning: no image could be read: is the image root ({}) right?\n", root.string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const po::error& e) {
    std::cerr << "tpt-predict: " << e.what() << "\nRun 'tpt-predict --help' for the options.\n";
    return 2;
  } catch (const tpt::config_error& e) {
    std::cerr << "tpt-predict: " << e.what() << "\nRun 'tpt-predict --help' for the options.\n";
    return 2;
  } catch (const tpt::error& e) {
    std::cerr << "\ntpt-predict: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "\ntpt-predict: LibTorch error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "\ntpt-predict: " << e.what() << "\n";
    return 1;
  }
}
