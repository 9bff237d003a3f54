// The preflight pass: before training starts, decode every image once and list each one that is
// missing, unreadable, empty, truncated, corrupt, unsupported or outside the image root; then
// fail with the full list (the default) or skip them and write the skipped list out.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/detail/parallel.hpp"
#include "tpt/data/paths.hpp"
#include "tpt/data/image_error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"

namespace tpt::data {

/// What to do with images that cannot be used.
enum class on_bad_image {
  fail,  ///< throw bad_images_error listing every bad image (the default: nothing is dropped silently)
  skip,  ///< leave them out, report them, and go on with the rest
};

struct preflight_options {
  on_bad_image action = on_bad_image::fail;
  /// A CSV (path,problem,detail) of every bad image, written atomically when there are any:
  /// with skip, the skipped list; with fail, the full list the message points to. Empty: with
  /// fail the message carries the full list itself; with skip the list is only returned.
  std::filesystem::path report_file{};
  std::size_t threads = 0;  ///< 0 = all hardware threads
  bool strict_jpeg = true;  ///< see decode_options::strict
  std::int64_t max_pixels = decode_options{}.max_pixels;
};

struct preflight_report {
  std::size_t checked = 0;
  std::vector<std::size_t> usable;  ///< positions in the given list of the images that decode, in order
  std::vector<image_issue> bad;     ///< the others, in list order
};

/// Write the CSV that preflight_options::report_file describes.
inline void write_image_issues(const std::filesystem::path& file, std::span<const image_issue> issues) {
  std::string text = "path,problem,detail\n";
  for (const auto& i : issues)
    text += fmt::format("{},{},{}\n", io::csv_escape(i.path), io::csv_escape(to_string(i.problem)), io::csv_escape(i.detail));
  io::write_text_atomically(file, text);
}

/// Check root / relative_paths[i] for every i. Each file is decoded in full, at the smallest DCT
/// scale for JPEGs: the whole entropy-coded stream is still read, so truncated and damaged files
/// are caught, for a fraction of a full decode's time. Nothing here crashes or hangs on a bad file
/// (zero bytes, random bytes, a wrong extension, a header claiming 60000 x 60000 pixels).
inline preflight_report preflight_images(const std::filesystem::path& root, std::span<const std::string> relative_paths,
                                         const preflight_options& options = {}) {
  decode_options decode;
  decode.channels = 3;
  decode.min_width = 1;  // smallest DCT scale: cheapest full scan
  decode.min_height = 1;
  decode.strict = options.strict_jpeg;
  decode.max_pixels = options.max_pixels;
  std::vector<std::optional<image_issue>> found(relative_paths.size());
  const root_guard guard(root);
  detail::parallel_for(relative_paths.size(), options.threads, [&](std::size_t i) {
    const std::string& rel = relative_paths[i];
    std::filesystem::path file;
    try {
      file = path_under_root(root, rel);
    } catch (const input_error& e) {
      found[i] = image_issue{i, rel, image_problem::outside_root, e.reason()};
      return;
    }
    if (auto why = guard.problem(file)) {
      found[i] = image_issue{i, rel, image_problem::outside_root, *why};
      return;
    }
    try {
      (void)decode_image_file(file, decode);
    } catch (const image_error& e) {  // out of memory included: decode_image reports it as too_large
      found[i] = image_issue{i, rel, e.problem(), e.detail()};
    }
  });
  preflight_report report;
  report.checked = relative_paths.size();
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (found[i]) {
      report.bad.push_back(std::move(*found[i]));
    } else {
      report.usable.push_back(i);
    }
  }
  if (report.bad.empty()) return report;
  if (!options.report_file.empty()) write_image_issues(options.report_file, report.bad);
  if (options.action == on_bad_image::fail) {
    const std::size_t listed = options.report_file.empty() ? report.bad.size() : 50;
    throw bad_images_error(root, report.checked, std::move(report.bad), options.report_file, listed);
  }
  return report;
}

}  // namespace tpt::data
