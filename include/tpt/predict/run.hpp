// Prediction runs over many images, as camera-trap workflows need them: every image of a folder
// or a manifest, or every animal detection of a MegaDetector results file, classified in batches;
// MegaDetector-format JSON and a CSV written at the end; partial results checkpointed every N
// images so that a stopped run resumes where it was and ends with the same files.
#pragma once

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/core/utf8.hpp"
#include "tpt/data/paths.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"
#include "tpt/io/file_lock.hpp"
#include "tpt/predict/detail/run_journal.hpp"
#include "tpt/predict/megadetector.hpp"
#include "tpt/predict/prediction.hpp"
#include "tpt/predict/preprocess.hpp"
#include "tpt/version.hpp"

namespace tpt::predict {

// ---------------------------------------------------------------------------------------------
// Inputs

/// Whether a file name has an image extension tpt decodes (.jpg, .jpeg, .png, any case).
[[nodiscard]] inline bool has_image_extension(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

/// The images found under a folder.
struct image_listing {
  std::vector<std::string> files{};  ///< relative to the folder, '/'-separated, sorted
  std::size_t ignored = 0;           ///< other files (videos, sidecars, ...), not classified
  /// Folders that could not be read (permissions) and links to folders (not followed), relative
  /// to the folder: what the images listed may lack, for the caller to say.
  std::vector<std::string> unreadable_folders{};
  std::vector<std::string> linked_folders{};
};

/// Every .jpg/.jpeg/.png name under `folder`, recursively (links to files are followed, links to
/// folders are not, so a link cannot make the walk loop; they are listed in linked_folders, and
/// folders the walk cannot read in unreadable_folders). A name with an image extension that is
/// not a readable regular file (a dangling link, a FIFO) is listed too, so that it becomes that
/// image's recorded failure rather than an image silently left out. Hidden files and folders (a
/// leading '.', such as the `._IMG_0001.JPG` sidecars macOS leaves on copied camera cards) are
/// passed over, as the training folder source does. tpt::input_error when `folder` is not one,
/// and when file names are not UTF-8 (Latin-1 names from an old card) or hold control
/// characters: the results could not name those images; the error lists them to be renamed.
[[nodiscard]] inline image_listing list_images(const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw input_error(folder, fs::exists(folder, ec) ? "is not a folder; expected a folder of images" : "no such folder");
  if (::access(folder.c_str(), R_OK | X_OK) != 0)
    throw input_error(folder, fmt::format("cannot list the folder: {}", std::strerror(errno)));
  image_listing out;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw input_error(folder, fmt::format("cannot list: {}", ec.message()));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw input_error(folder, fmt::format("cannot list: {}", ec.message()));
    std::error_code type_ec;
    const std::string name = it->path().filename().string();
    if (!name.empty() && name.front() == '.') {
      if (it->is_directory(type_ec)) it.disable_recursion_pending();
      continue;
    }
    const auto relative = [&] { return it->path().lexically_relative(folder).generic_string(); };
    if (it->is_symlink(type_ec) && it->is_directory(type_ec)) {
      out.linked_folders.push_back(relative());
      continue;
    }
    if (it->is_directory(type_ec)) {
      if (::access(it->path().c_str(), R_OK | X_OK) != 0) {
        out.unreadable_folders.push_back(relative());
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!it->is_regular_file(type_ec)) {
      if (has_image_extension(it->path())) out.files.push_back(relative());  // fails as that image
      continue;
    }
    if (has_image_extension(it->path())) {
      out.files.push_back(it->path().lexically_relative(folder).generic_string());
    } else {
      ++out.ignored;
    }
  }
  if (ec) throw input_error(folder, fmt::format("cannot list: {}", ec.message()));
  // Names the results cannot hold (not UTF-8: JSON cannot), all listed at once rather than
  // failing on the first when the run reaches it.
  std::vector<std::string> unusable;
  for (const auto& f : out.files)
    if (auto why = data::path_problem(f)) unusable.push_back(*why);
  if (!unusable.empty())
    throw input_error(folder, fmt::format("{} image file name{} cannot be used: {}{}", unusable.size(),
                                          unusable.size() == 1 ? "" : "s",
                                          fmt::join(unusable.begin(), unusable.begin() + std::min<std::ptrdiff_t>(10, std::ssize(unusable)), "; "),
                                          unusable.size() > 10 ? "; ..." : ""));
  std::sort(out.files.begin(), out.files.end());
  return out;
}

/// The image paths of a manifest CSV (column `path`, relative to an image root; other columns are
/// ignored), in normal form ('./a.jpg', 'x//a.jpg' and 'x\\a.jpg' as 'a.jpg', 'x/a.jpg' and
/// 'x/a.jpg': the one spelling review tools match against the files). tpt::input_error with file
/// and line for an empty, absolute, root-leaving or repeated path, or a missing column.
[[nodiscard]] inline std::vector<std::string> read_image_manifest(const std::filesystem::path& manifest) {
  const io::csv_table table = io::read_csv(manifest, {"path"});
  std::vector<std::string> paths;
  paths.reserve(table.rows());
  std::unordered_map<std::string, std::size_t> first_line;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string p = data::forward_slashes(table.at(r, "path"));
    if (p.empty()) table.fail(r, "path", "is empty; expected an image path relative to the image root");
    if (auto why = data::path_problem(p)) table.fail(r, "path", fmt::format("'{}': {}", utf8::shown(p), *why));
    std::string normal = data::normal_relative_path(p);
    if (auto [it, fresh] = first_line.emplace(normal, table.line(r)); !fresh)
      table.fail(r, "path", fmt::format("'{}' is listed twice (first on line {})", p, it->second));
    paths.push_back(std::move(normal));
  }
  return paths;
}

/// Where an image named in a MegaDetector file is: absolute paths as they are, relative ones under
/// `image_root`; backslashes (files written on Windows) read as folder separators.
[[nodiscard]] inline std::filesystem::path resolve_md_path(const std::filesystem::path& image_root, std::string file) {
  const std::filesystem::path p(data::forward_slashes(std::move(file)));
  return p.is_absolute() ? p : image_root / p;
}

// ---------------------------------------------------------------------------------------------
// Options and results

/// Where a run is, reported after every image.
struct run_progress {
  std::size_t done = 0;     ///< images finished, including those resumed from the checkpoint
  std::size_t total = 0;    ///< images the run classifies
  std::size_t resumed = 0;  ///< taken from the checkpoint
  std::size_t failed = 0;   ///< could not be read
  double seconds = 0;       ///< since the run started
};

struct run_options {
  /// The MegaDetector-format results (written atomically at the end).
  std::filesystem::path output{};
  /// The CSV table; empty: none.
  std::filesystem::path csv{};
  /// Partial results; empty: the output's name + ".checkpoint.jsonl".
  std::filesystem::path checkpoint_file{};
  /// Images between checkpoints; 0: no checkpoints (a stopped run then starts over).
  std::int64_t checkpoint_every = 1000;
  /// Discard an existing checkpoint instead of resuming it.
  bool restart = false;
  /// info.classifier in the output.
  std::string classifier_name = "tpt classifier";
  /// What identifies the weights (file, size, time) to a later run that resumes this one.
  std::string model_fingerprint{};
  std::function<void(const run_progress&)> progress{};
  /// Checked after every batch; true stops the run (the checkpoint keeps what was saved).
  std::function<bool()> stop_requested{};
};

/// Which detections of a MegaDetector file get classified.
struct detection_selection {
  /// Detections with conf at or above this (MegaDetector keeps >=). 0.1 classifies somewhat more
  /// than review tools show by default (0.2), so lowering their threshold still shows species.
  double min_confidence = 0.1;
  /// Names in detection_categories.
  std::vector<std::string> categories{"animal"};
  /// Replace classifications already in the file (another classifier's); refused otherwise.
  bool replace_classifications = false;
};

/// What a run did.
struct run_summary {
  bool from_detections = false;       ///< a MegaDetector file was the input
  std::size_t images = 0;             ///< images in the input
  std::size_t classified_images = 0;  ///< images with predictions
  std::size_t failed = 0;             ///< images that could not be read (recorded in the output)
  std::size_t resumed = 0;            ///< images whose results came from the checkpoint
  std::size_t changed_since_checkpoint = 0;  ///< in the checkpoint, but the file changed since: classified again
  std::size_t processed = 0;          ///< images read in this run (not resumed)
  std::size_t inputs = 0;             ///< whole images or crops that went through the model
  std::size_t detections = 0;         ///< detections in the file
  std::size_t detections_selected = 0;   ///< of them, of the chosen categories at or above the threshold
  std::size_t detections_outside = 0;    ///< selected but with no pixels inside the frame
  std::size_t skipped_failed = 0;        ///< images the detector had marked as failed (left as they were)
  bool stopped = false;               ///< stopped before the end; no output written
  double seconds = 0;
  std::filesystem::path output{};
  std::filesystem::path csv{};
  std::filesystem::path checkpoint{};  ///< the checkpoint file (kept only when stopped)
};

namespace detail {

inline std::filesystem::path checkpoint_path(const run_options& o) {
  return o.checkpoint_file.empty() ? std::filesystem::path(o.output.string() + ".checkpoint.jsonl") : o.checkpoint_file;
}

/// `input`: the file the run reads (a manifest or MegaDetector file; empty for a folder). The
/// output may be the MegaDetector file itself (an in-place run: it is read whole, then replaced
/// atomically); no other two files may be one, since the checkpoint is deleted at the end and the
/// CSV would overwrite what it names.
inline void check_run_options(const run_options& o, const std::filesystem::path& input = {},
                              bool output_may_be_input = false) {
  if (o.output.empty()) throw config_error("output", "an output file is needed");
  if (o.checkpoint_every < 0)
    throw config_error("checkpoint every", fmt::format("must be >= 0 (0: no checkpoints), got {}", o.checkpoint_every));
  if (o.classifier_name.empty()) throw config_error("classifier name", "must not be empty");
  std::error_code ec;
  if (std::filesystem::is_directory(o.output, ec))
    throw config_error("output", fmt::format("'{}' is a folder; expected a file name", o.output.string()));
  const auto refuse_same = [](std::string_view option, const std::filesystem::path& a, std::string_view role,
                              const std::filesystem::path& b) {
    if (io::same_file(a, b))
      throw config_error(std::string(option), fmt::format("'{}' is also the {} ('{}'); name another file", a.string(), role,
                                             b.string()));
  };
  if (!output_may_be_input) refuse_same("output", o.output, "input file", input);
  refuse_same("csv", o.csv, "results file", o.output);
  refuse_same("csv", o.csv, "input file", input);
  if (o.checkpoint_every > 0) {
    const auto checkpoint = checkpoint_path(o);
    refuse_same("checkpoint file", checkpoint, "results file", o.output);
    refuse_same("checkpoint file", checkpoint, "CSV file", o.csv);
    refuse_same("checkpoint file", checkpoint, "input file", input);
  }
}

/// The settings a checkpoint is valid for: the same settings give the same results.
inline nlohmann::json run_settings(std::string_view mode, const std::string& input, const batch_classifier& c,
                                   const run_options& o) {
  const auto& p = c.preprocess();
  return {{"mode", mode},
          {"input", input},
          {"model", o.model_fingerprint},
          {"classes", c.metadata().class_names},
          {"top_k", c.options().top_k},
          {"batch_size", c.options().batch_size},
          {"checkpoint_every", o.checkpoint_every},
          {"preprocessing", preprocessing_json(p.working, p.crop_fraction)},
          {"input_size", {p.input_height, p.input_width}},
          {"mean", p.mean},
          {"std", p.std},
          {"crop", {{"padding", c.options().crop.padding}, {"square", c.options().crop.square}}}};
}

struct run_result {
  std::vector<std::optional<image_outcome>> outcomes;
  bool stopped = false;
};

/// Classify `jobs` (keyed by `keys`) in blocks of checkpoint_every images, resuming from and
/// appending to the checkpoint. Blocks are fixed by position, and each block's last batch is run
/// at the block's end, so a resumed run forms exactly the batches an uninterrupted one forms.
inline run_result run_jobs(batch_classifier& c, std::span<const image_job> jobs, std::span<const std::string> keys,
                           const nlohmann::json& settings, const run_options& o, run_summary& summary) {
  const auto start = std::chrono::steady_clock::now();
  run_result result;
  result.outcomes.resize(jobs.size());
  std::optional<run_journal> journal;
  if (o.checkpoint_every > 0) {
    journal.emplace(checkpoint_path(o), settings, o.restart);
    summary.checkpoint = journal->file();
  }
  run_progress progress;
  progress.total = jobs.size();
  std::size_t changed = 0;
  if (journal) {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      auto it = journal->done().find(keys[i]);
      if (it == journal->done().end()) continue;
      // An entry is taken only for the very boxes it classified (a MegaDetector file rerun into
      // the same name between a stop and a resume moves them), only while the file is the one
      // classified (same size and modification time: a frame replaced under its name is read
      // again), and only when the image could be read: a failure (a share not mounted, a file
      // still being copied) is tried again.
      auto& entry = it->second;
      if (entry.boxes != jobs[i].boxes || !entry.outcome.ok() ||
          entry.outcome.predictions.size() != jobs[i].boxes.size())
        continue;
      if (entry.stamp && entry.stamp != stamp_of(jobs[i].file)) {
        ++changed;
        continue;
      }
      result.outcomes[i] = std::move(entry.outcome);
      ++progress.resumed;
    }
    journal->done().clear();
  }
  progress.done = progress.resumed;
  summary.resumed = progress.resumed;
  summary.changed_since_checkpoint = changed;
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  if (o.progress) o.progress(progress);

  const std::size_t block = o.checkpoint_every > 0 ? static_cast<std::size_t>(o.checkpoint_every)
                                                   : std::max<std::size_t>(jobs.size(), 1);
  std::vector<image_job> partial;  // the jobs of a block that a resumed run has yet to do
  std::vector<std::size_t> where;
  for (std::size_t first = 0; first < jobs.size() && !result.stopped; first += block) {
    const std::size_t last = std::min(first + block, jobs.size());
    where.clear();
    for (std::size_t i = first; i < last; ++i)
      if (!result.outcomes[i]) where.push_back(i);
    if (where.empty()) continue;
    // A block with nothing resumed (every block of a fresh run) is classified where it lies: a
    // copy of a whole MegaDetector file's jobs (--checkpoint-every 0) would cost as much memory
    // as the jobs themselves.
    std::span<const image_job> todo = jobs.subspan(first, last - first);
    if (where.size() < todo.size()) {
      partial.clear();
      for (std::size_t i : where) partial.push_back(jobs[i]);
      todo = partial;
    }
    const std::size_t delivered = c.classify(
        todo,
        [&](std::size_t k, image_outcome&& outcome) {
          if (!outcome.ok()) ++progress.failed;
          result.outcomes[where[k]] = std::move(outcome);
          ++progress.done;
          progress.seconds = elapsed();
          if (o.progress) o.progress(progress);
          return true;
        },
        o.stop_requested);
    if (delivered < todo.size()) {
      // Stopped inside the block: its results stay unsaved, so a resumed run redoes the block
      // with the same batches.
      result.stopped = true;
      break;
    }
    if (journal) {
      std::vector<run_journal::finished> entries;
      entries.reserve(where.size());
      for (std::size_t i : where) entries.push_back({keys[i], &*result.outcomes[i], jobs[i].boxes, stamp_of(jobs[i].file)});
      journal->append(entries);
    }
    if (o.stop_requested && o.stop_requested() && first + block < jobs.size()) result.stopped = true;
  }
  summary.seconds = elapsed();
  summary.processed = progress.done - progress.resumed;
  return result;
}

inline std::string confidence_text(float confidence) {
  return fmt::format("{}", round_to_digits(confidence, md_confidence_digits));
}

/// CSV columns class_1, confidence_1, ..., class_k, confidence_k.
inline std::string top_k_header(std::int64_t k) {
  std::string h;
  for (std::int64_t i = 1; i <= k; ++i) h += fmt::format(",class_{0},confidence_{0}", i);
  return h;
}

inline std::string top_k_cells(const std::vector<class_score>& scores, std::int64_t k,
                               const std::vector<std::string>& names) {
  std::string out;
  for (std::int64_t i = 0; i < k; ++i) {
    if (i < static_cast<std::int64_t>(scores.size())) {
      const auto& s = scores[static_cast<std::size_t>(i)];
      out += fmt::format(",{},{}", io::csv_escape(names.at(static_cast<std::size_t>(s.class_index))),
                         confidence_text(s.confidence));
    } else {
      out += ",,";
    }
  }
  return out;
}

inline ordered_json classifier_info(const batch_classifier& c, const run_options& o, bool whole_image) {
  const auto& p = c.preprocess();
  return ordered_json{{"framework", fmt::format("tpt {}", version_string)},
                      {"architecture", c.metadata().architecture},
                      {"classes", c.metadata().num_classes()},
                      {"top_k", c.reported_classes()},
                      {"whole_image", whole_image},
                      {"preprocessing", fmt::format("{}", p)},
                      {"model", o.model_fingerprint}};
}

/// The results are written: the checkpoint has served its purpose.
inline void finish_checkpoint(run_summary& s) {
  if (s.checkpoint.empty()) return;
  std::error_code ec;
  std::filesystem::remove(s.checkpoint, ec);
  s.checkpoint.clear();
}

/// The folder `file` is written into, as write_atomically will write it (through a symbolic
/// link, to the file it names); nullopt for a stream such as /dev/null or /dev/stdout, even one
/// redirected to a file, which has no folder of its own.
inline std::optional<std::filesystem::path> folder_written(const std::filesystem::path& file) {
  const auto d = io::destination_of(file);
  if (d.stream) return std::nullopt;
  return d.file.has_parent_path() ? d.file.parent_path() : std::filesystem::path(".");
}

/// The folders of the outputs, the CSV and the checkpoint made and proved writable before any
/// image is read: an unwritable --csv used to be found after every image was classified.
inline void prepare_output_folder(const run_options& o) {
  for (const std::filesystem::path& file : {o.output, o.csv, o.checkpoint_every > 0 ? checkpoint_path(o) : std::filesystem::path()})
    if (!file.empty())
      if (const auto folder = folder_written(file)) io::check_writable_folder(*folder);
}

/// The output held by one run at a time: two runs writing one results file (two terminals, a
/// scheduler's retry, or one name and a link to it) would append to one checkpoint and replace
/// each other's results. An exclusive lock on the hidden file .<name>.tpt-lock beside the file
/// written, deleted at the end; none for a stream such as /dev/stdout.
inline std::optional<io::exclusive_file_lock> lock_output(const run_options& o) {
  const auto written = io::destination_of(o.output);
  if (written.stream) return std::nullopt;
  auto lock_file = written.file;
  lock_file.replace_filename("." + written.file.filename().string() + ".tpt-lock");
  return std::optional<io::exclusive_file_lock>(std::in_place, lock_file, o.output,
                                                "wait for it to finish, or give another output file",
                                                /*remove_on_release=*/true);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Runs

/// Classify every image of `files` (relative to `image_root`) as a whole frame and write
/// o.output: a MegaDetector-format file with one entry per image in the order given. An image that
/// was read has one whole-frame detection ("category" "1", "conf" 1.0, "bbox" [0, 0, 1, 1]) that
/// carries the top-k "classifications", which is where Timelapse and AddaxAI look for them; an
/// image that could not be read has MegaDetector's "failure" ("Failure image access"),
/// "detections": null and tpt's "failure_detail" (what is wrong with the file). o.csv gets one
/// row per image: file, class_1, confidence_1, ..., class_k, confidence_k, failure.
inline run_summary classify_images(batch_classifier& c, const std::filesystem::path& image_root,
                                   std::span<const std::string> files, const run_options& o) {
  detail::check_run_options(o);
  detail::prepare_output_folder(o);
  const auto lock = detail::lock_output(o);
  run_summary summary;
  summary.images = files.size();
  summary.output = o.output;
  summary.csv = o.csv;
  std::vector<image_job> jobs;
  jobs.reserve(files.size());
  const auto guard = std::make_shared<const data::root_guard>(image_root);
  for (const auto& f : files) jobs.push_back({data::path_under_root(image_root, f), {whole_frame}, guard});
  const auto settings =
      detail::run_settings("images", std::filesystem::absolute(image_root).lexically_normal().string(), c, o);
  auto result = detail::run_jobs(c, jobs, files, settings, o, summary);
  if (result.stopped) {
    summary.stopped = true;
    return summary;
  }
  // The output is built from here on: memory the jobs and outcomes held goes to it as they are
  // consumed (a large run's peak is the document plus the outcomes not yet written into it).
  jobs = {};

  const auto& names = c.metadata().class_names;
  const std::int64_t k = c.reported_classes();
  ordered_json doc{{"info",
                    {{"format_version", std::string(md_format_version)},
                     {"classifier", o.classifier_name},
                     {"classification_completion_time", md_timestamp()},
                     {"classifier_metadata", detail::classifier_info(c, o, true)}}},
                   {"detection_categories", md_detection_categories()},
                   {"classification_categories", classification_categories_json(names)},
                   {"images", ordered_json::array()}};
  auto& images = doc["images"];
  const bool want_csv = !o.csv.empty();
  std::string csv = want_csv ? "file" + detail::top_k_header(k) + ",failure\n" : std::string();
  for (std::size_t i = 0; i < files.size(); ++i) {
    const image_outcome out = std::move(*result.outcomes[i]);
    result.outcomes[i].reset();
    ordered_json entry{{"file", files[i]}};
    if (want_csv) csv += io::csv_escape(files[i]);
    if (out.ok() && !out.predictions.empty() && !out.predictions.front().empty()) {
      ++summary.classified_images;
      ++summary.inputs;
      entry["detections"] = ordered_json::array({ordered_json{{"category", "1"},
                                                              {"conf", 1.0},
                                                              {"bbox", {0.0, 0.0, 1.0, 1.0}},
                                                              {"classifications", classifications_json(out.predictions.front())}}});
      if (want_csv) csv += detail::top_k_cells(out.predictions.front(), k, names) + ",\n";
    } else {
      ++summary.failed;
      const image_failure failure = out.failure.value_or(image_failure{data::image_problem::corrupt, "no pixels"});
      entry["failure"] = std::string(md_failure_image_access);
      entry["failure_detail"] = fmt::format("{}", failure);
      entry["detections"] = nullptr;
      if (want_csv) csv += detail::top_k_cells({}, k, names) + "," + io::csv_escape(fmt::format("{}", failure)) + "\n";
    }
    images.push_back(std::move(entry));
  }
  megadetector_results(std::move(doc), o.output).write(o.output);
  if (want_csv) io::write_text_atomically(o.csv, csv);
  detail::finish_checkpoint(summary);
  return summary;
}

/// Classify the selected detections of a MegaDetector results file (`input`, image paths relative
/// to `image_root`) and write the file to o.output with "classifications" added to each of them
/// and "classification_categories" plus info.classifier, info.classification_completion_time and
/// info.classifier_metadata added; every other field is kept as it was. Images the detector marked
/// as failed, or without selected detections, are not read. An image that cannot be read keeps
/// its detections (without classifications) and gets "classification_failure" ("Failure image
/// access") and "classification_failure_detail": the detector's results stay usable.
/// o.csv gets one row per selected detection (and one per unreadable image).
inline run_summary classify_detections(batch_classifier& c, megadetector_results input,
                                       const std::filesystem::path& image_root, const detection_selection& selection,
                                       const run_options& o) {
  detail::check_run_options(o, input.file(), /*output_may_be_input=*/true);
  if (!(selection.min_confidence >= 0 && selection.min_confidence <= 1))
    throw config_error("min detection confidence", fmt::format("must be in [0, 1], got {}", selection.min_confidence));
  if (selection.categories.empty()) throw config_error("detection categories", "name at least one (e.g. animal)");
  std::unordered_set<std::string> category_ids;
  for (const auto& name : selection.categories) {
    auto id = input.detection_category_id(name);
    if (!id)
      throw input_error(input.file(), fmt::format("has no detection category '{}' (its detection_categories: {})", name,
                                                  fmt::join(input.detection_category_names(), ", ")));
    category_ids.insert(*id);
  }
  if (input.has_classifications() && !selection.replace_classifications) {
    const auto& info = input.document()["info"];
    throw input_error(input.file(),
                      fmt::format("already holds classifications ({} classification categories{}); ask to replace them "
                                  "(--replace-classifications) or give a file without them",
                                  input.document()["classification_categories"].size(),
                                  info.contains("classifier") && info["classifier"].is_string()
                                      ? fmt::format(", classifier '{}'", info["classifier"].get<std::string>())
                                      : std::string()));
  }
  detail::prepare_output_folder(o);
  const auto lock = detail::lock_output(o);

  run_summary summary;
  summary.from_detections = true;
  summary.output = o.output;
  summary.csv = o.csv;
  auto& images = input.images();
  summary.images = images.size();

  struct job_source {
    std::size_t image;
    std::vector<std::size_t> detections;
  };
  std::vector<image_job> jobs;
  const auto guard = std::make_shared<const data::root_guard>(image_root);
  std::vector<std::string> keys;
  std::vector<job_source> sources;
  // Views of the document's own strings, which stay in place until the loop is over.
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    auto& im = images[i];
    const std::string& file = im["file"].get_ref<const std::string&>();
    if (auto [it, fresh] = seen.emplace(file, i); !fresh)
      throw input_error(input.file(), fmt::format("images[{}] and images[{}] both name '{}'; expected one entry per image",
                                                  it->second, i, file));
    if (im.contains("failure") && !im["failure"].is_null()) {
      ++summary.skipped_failed;
      continue;
    }
    if (!im.contains("detections") || im["detections"].is_null()) continue;
    job_source src{i, {}};
    // A path relative to the image root must stay in it; an absolute one names its own file.
    const bool relative = !file.empty() && file.front() != '/' && file.front() != '\\';
    image_job job{resolve_md_path(image_root, file), {}, relative ? guard : nullptr};
    const auto& dets = im["detections"];
    summary.detections += dets.size();
    for (std::size_t d = 0; d < dets.size(); ++d) {
      const auto& det = dets[d];
      if (!category_ids.contains(det["category"].get_ref<const std::string&>())) continue;
      if (det["conf"].get<double>() < selection.min_confidence) continue;
      src.detections.push_back(d);
      job.boxes.push_back(megadetector_results::box_of(det));
    }
    if (src.detections.empty()) continue;
    summary.detections_selected += src.detections.size();
    jobs.push_back(std::move(job));
    keys.push_back(file);
    sources.push_back(std::move(src));
  }
  seen = {};  // its views would dangle once the document is edited; its memory is better spent on the run

  nlohmann::json settings = detail::run_settings(
      "detections", std::filesystem::absolute(input.file()).lexically_normal().string(), c, o);
  settings["image_root"] = std::filesystem::absolute(image_root).lexically_normal().string();
  settings["selection"] = {{"min_confidence", selection.min_confidence}, {"categories", selection.categories}};
  auto result = detail::run_jobs(c, jobs, keys, settings, o, summary);
  if (result.stopped) {
    summary.stopped = true;
    return summary;
  }
  // The document grows from here on: memory the jobs and outcomes held goes to it as they are
  // consumed (a large file's peak is the document plus the outcomes not yet written into it).
  const std::size_t job_count = jobs.size();
  jobs = {};
  keys = {};

  // Rebuild the top level so that classification_categories follows detection_categories, as in
  // MegaDetector's own files; everything else keeps its place.
  ordered_json& doc = input.document();
  if (selection.replace_classifications) {
    // Erasing from an ordered_json object moves its other members: look "images" up afterwards.
    doc.erase("classification_categories");
    doc.erase("classification_category_descriptions");
    for (auto& im : doc["images"]) {
      // An earlier classifier's verdict on the image goes too: a failure it recorded (a wrong image
      // root, say) would otherwise sit beside this run's classifications.
      if (!im.is_object()) continue;
      im.erase("classification_failure");
      im.erase("classification_failure_detail");
      if (im.contains("detections") && im["detections"].is_array())
        for (auto& det : im["detections"]) det.erase("classifications");
    }
  }
  ordered_json top = ordered_json::object();
  for (auto& [key, value] : doc.items()) {
    top[key] = std::move(value);
    if (key == "detection_categories")
      top["classification_categories"] = classification_categories_json(c.metadata().class_names);
  }
  doc = std::move(top);
  auto& info = doc["info"];
  info["classifier"] = o.classifier_name;
  info["classification_completion_time"] = md_timestamp();
  info["classifier_metadata"] = detail::classifier_info(c, o, false);
  info["classifier_metadata"]["min_detection_conf"] = selection.min_confidence;
  info["classifier_metadata"]["detection_categories"] = selection.categories;
  info["classifier_metadata"]["crop_padding"] = c.options().crop.padding;
  info["classifier_metadata"]["square_crops"] = c.options().crop.square;

  const auto& names = c.metadata().class_names;
  const std::int64_t k = c.reported_classes();
  const auto& categories = doc["detection_categories"];
  const bool want_csv = !o.csv.empty();
  std::string csv = want_csv ? "file,detection,category,detection_conf,x,y,width,height" + detail::top_k_header(k) +
                                   ",failure\n"
                             : std::string();
  auto& out_images = doc["images"];
  for (std::size_t j = 0; j < job_count; ++j) {
    const image_outcome out = std::move(*result.outcomes[j]);
    result.outcomes[j].reset();
    auto& im = out_images[sources[j].image];
    // A copy: adding keys to `im` below may move its strings (ordered_json objects are vectors).
    const std::string file = im["file"].get<std::string>();
    if (!out.ok()) {
      ++summary.failed;
      im["classification_failure"] = std::string(md_failure_image_access);
      im["classification_failure_detail"] = fmt::format("{}", *out.failure);
      if (want_csv)
        csv += fmt::format("{},,,,,,,{},{}\n", io::csv_escape(file), detail::top_k_cells({}, k, names),
                           io::csv_escape(fmt::format("{}", *out.failure)));
      continue;
    }
    bool any = false;
    for (std::size_t b = 0; b < sources[j].detections.size(); ++b) {
      const std::size_t d = sources[j].detections[b];
      auto& det = im["detections"][d];
      const auto& scores = out.predictions[b];
      const normalized_box box = megadetector_results::box_of(det);
      if (want_csv)
        csv += fmt::format("{},{},{},{},{},{},{},{}", io::csv_escape(file), d,
                           io::csv_escape(categories[det["category"].get_ref<const std::string&>()].get<std::string>()),
                           det["conf"].dump(), box.x, box.y, box.width, box.height);
      if (scores.empty()) {
        ++summary.detections_outside;
        if (want_csv) csv += detail::top_k_cells({}, k, names) + ",no pixels inside the image\n";
        continue;
      }
      any = true;
      ++summary.inputs;
      det["classifications"] = classifications_json(scores);
      if (want_csv) csv += detail::top_k_cells(scores, k, names) + ",\n";
    }
    if (any) ++summary.classified_images;
  }
  input.check();
  input.write(o.output);
  if (want_csv) io::write_text_atomically(o.csv, csv);
  detail::finish_checkpoint(summary);
  return summary;
}

}  // namespace tpt::predict

template <>
struct fmt::formatter<tpt::predict::run_summary> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::predict::run_summary& s, Context& ctx) const {
    auto out = ctx.out();
    auto count = [](std::size_t n, std::string_view one, std::string_view many) {
      return fmt::format("{} {}", n, n == 1 ? one : many);
    };
    const double rate = s.seconds > 0 ? static_cast<double>(s.processed) / s.seconds : 0.0;
    if (s.from_detections) {
      out = fmt::format_to(out, "{}, {} ({} selected): {} classified in {}", count(s.images, "image", "images"),
                           count(s.detections, "detection", "detections"), s.detections_selected,
                           count(s.inputs, "crop", "crops"), count(s.classified_images, "image", "images"));
    } else {
      out = fmt::format_to(out, "{}: {} classified", count(s.images, "image", "images"), s.classified_images);
    }
    out = fmt::format_to(out, ", {} failed", s.failed);
    if (s.detections_outside)
      out = fmt::format_to(out, ", {} outside the image", count(s.detections_outside, "box", "boxes"));
    if (s.skipped_failed)
      out = fmt::format_to(out, ", {} left as {}", count(s.skipped_failed, "detector failure", "detector failures"),
                           s.skipped_failed == 1 ? "it was" : "they were");
    if (s.resumed) out = fmt::format_to(out, ", {} resumed from the checkpoint", s.resumed);
    if (s.changed_since_checkpoint)
      out = fmt::format_to(out, ", {} changed since the checkpoint and classified again", s.changed_since_checkpoint);
    return fmt::format_to(out, "; {:.1f} s ({:.1f} images/s)", s.seconds, rate);
  }
};
