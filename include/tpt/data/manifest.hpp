// A CSV manifest as a dataset: `path,label[,split][,seq_id][,location]`, one image per row, and
// the writer for the same format (which is also how split files are stored).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/data/records.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"

namespace tpt::data {

struct manifest_options {
  /// The category list. Empty: the distinct labels of the manifest, sorted (numerically when
  /// every label is a non-negative integer, by name otherwise). Given: a label not in the list
  /// is a bad record.
  std::vector<std::string> class_names{};
  /// The folder the paths are relative to; default: the manifest's own folder.
  std::optional<std::filesystem::path> image_root{};
  bad_record_policy on_bad_record = bad_record_policy::fail;
  /// Where to write the skipped records (CSV) under bad_record_policy::skip.
  std::optional<std::filesystem::path> skipped_list{};
};

namespace detail {

inline bool all_non_negative_integers(const std::vector<std::string>& labels) {
  return std::all_of(labels.begin(), labels.end(), [](const std::string& s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
  });
}

/// Class names sorted the way people expect: "2" before "10" when all labels are numbers.
inline void sort_class_names(std::vector<std::string>& names) {
  if (all_non_negative_integers(names)) {
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
  } else {
    std::sort(names.begin(), names.end());
  }
}

}  // namespace detail

/// Read a CSV manifest with a header line naming at least `path` and `label`; `split`, `seq_id`
/// and `location` are read when present (other columns are ignored, '#' lines before the header
/// are comments, blank lines are skipped; backslashes in paths read as '/').
/// A split cell fixes that image's split (assign_splits respects it). Malformed CSV, an empty
/// label or an unknown split name throw tpt::input_error with file, line and column; bad records
/// (a label outside options.class_names, a path that leaves the image root, a path listed twice)
/// follow options.on_bad_record.
inline dataset_index read_manifest(const std::filesystem::path& file,
                                   const manifest_options& options = {}) {
  const io::csv_table table = io::read_csv(file, {"path", "label"}, {"split", "seq_id", "location"});
  const bool has_split = table.has("split");
  const bool has_seq = table.has("seq_id");
  const bool has_location = table.has("location");

  dataset_index index;
  index.image_root = options.image_root ? *options.image_root
                                        : (file.has_parent_path() ? file.parent_path()
                                                                  : std::filesystem::path("."));
  if (table.empty()) throw input_error(file, "the manifest has a header but no images");

  std::unordered_map<std::string, std::int64_t> class_of;
  if (!options.class_names.empty()) {
    index.class_names = options.class_names;
  } else {
    std::vector<std::string> names;
    std::unordered_map<std::string, bool> seen;
    for (std::size_t r = 0; r < table.rows(); ++r) {
      const std::string& label = table.at(r, "label");
      if (!label.empty() && seen.emplace(label, true).second) names.push_back(label);
    }
    detail::sort_class_names(names);
    index.class_names = std::move(names);
  }
  for (std::size_t i = 0; i < index.class_names.size(); ++i)
    class_of.emplace(index.class_names[i], static_cast<std::int64_t>(i));

  detail::bad_records problems;
  std::unordered_map<std::string, std::size_t> line_of_path;
  index.samples.reserve(table.rows());
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string raw_path = forward_slashes(table.at(r, "path"));
    const std::string& label = table.at(r, "label");
    if (raw_path.empty()) table.fail(r, "path", "empty, expected an image path relative to the image root");
    if (label.empty()) table.fail(r, "label", "empty, expected a class name");
    std::optional<split_kind> split;
    if (has_split && !table.at(r, "split").empty()) {
      split = parse_split_kind(table.at(r, "split"));
      if (!split)
        table.fail(r, "split", fmt::format("'{}': {}", table.at(r, "split"), split_kind_expected));
    }
    if (auto why = path_problem(raw_path)) {
      problems.add(detail::bad_records::kind::bad_path, file, table.line(r), "column 'path'",
                   raw_path, label, *why);
      continue;
    }
    const auto cls = class_of.find(label);
    if (cls == class_of.end()) {
      problems.add(detail::bad_records::kind::unknown_label, file, table.line(r), "column 'label'",
                   raw_path, label, "label outside the class list");
      continue;
    }
    std::string path = normal_relative_path(raw_path);
    if (auto [it, fresh] = line_of_path.emplace(path, table.line(r)); !fresh) {
      problems.add(detail::bad_records::kind::duplicate, file, table.line(r), "column 'path'",
                   raw_path, label,
                   fmt::format("image '{}' is already listed on line {}", path, it->second));
      continue;
    }
    index.samples.push_back({std::move(path), cls->second, split,
                             has_seq ? table.at(r, "seq_id") : std::string(),
                             has_location ? table.at(r, "location") : std::string()});
  }
  problems.finish(options.on_bad_record, index.class_names, index, options.skipped_list);
  index.validate(file);
  return index;
}

/// Write a dataset as a manifest (path,label,split,seq_id,location; label by class name) that
/// read_manifest reads back to the same samples. `splits`, when given, overrides each sample's
/// split (one entry per sample). `comment` lines are written first, each prefixed by "# ".
inline void write_manifest(const std::filesystem::path& file, const dataset_index& index,
                           std::optional<std::span<const split_kind>> splits = std::nullopt,
                           const std::vector<std::string>& comment = {}) {
  if (splits && splits->size() != index.size())
    throw config_error("splits", fmt::format("one split per sample expected ({}), got {}",
                                             index.size(), splits->size()));
  io::write_atomically(file, [&](std::ostream& out) {
    for (const auto& line : comment) out << "# " << line << '\n';
    out << "path,label,split,seq_id,location\n";
    for (std::size_t i = 0; i < index.size(); ++i) {
      const auto& s = index.samples[i];
      const std::optional<split_kind> split = splits ? std::optional((*splits)[i]) : s.split;
      // A first cell starting with '#' would read back as a comment line: quote it.
      const std::string path = io::csv_escape(s.path);
      out << (path.starts_with('#') ? "\"" + path + "\"" : path) << ','
          << io::csv_escape(index.class_names.at(static_cast<std::size_t>(s.label))) << ','
          << (split ? name(*split) : std::string_view()) << ',' << io::csv_escape(s.seq_id) << ','
          << io::csv_escape(s.location) << '\n';
    }
  });
}

}  // namespace tpt::data
