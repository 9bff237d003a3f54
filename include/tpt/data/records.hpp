// The record every data source produces (tpt::data::sample, tpt::data::dataset_index) and the
// checks they share: paths that stay under the image root, labels inside the category list,
// bad records that fail the read (the default) or are skipped into a written list.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/utf8.hpp"
#include "tpt/data/detail/string_index.hpp"
#include "tpt/data/paths.hpp"  // path_problem, normal_relative_path, resolve_under_root
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"

namespace tpt::data {

// ---------------------------------------------------------------------------------------------
// Splits

/// Which of the three splits a sample belongs to.
enum class split_kind : std::uint8_t { train = 0, validation = 1, test = 2 };

inline constexpr std::size_t num_split_kinds = 3;
inline constexpr split_kind all_split_kinds[num_split_kinds] = {
    split_kind::train, split_kind::validation, split_kind::test};

/// "train", "validation", "test": the words split files and manifests use.
constexpr std::string_view name(split_kind s) noexcept {
  switch (s) {
    case split_kind::train: return "train";
    case split_kind::validation: return "validation";
    case split_kind::test: return "test";
  }
  return "?";
}

namespace detail {
inline std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}
}  // namespace detail

/// Parse a split name as people write it in manifests: train/training, validation/val/valid/dev,
/// test/testing, in any case. nullopt for anything else (callers name the file and line).
inline std::optional<split_kind> parse_split_kind(std::string_view text) {
  const std::string s = detail::lower_ascii(text);
  if (s == "train" || s == "training") return split_kind::train;
  if (s == "validation" || s == "val" || s == "valid" || s == "dev") return split_kind::validation;
  if (s == "test" || s == "testing") return split_kind::test;
  return std::nullopt;
}

inline constexpr std::string_view split_kind_expected =
    "expected train, validation (val) or test, or an empty cell";

// ---------------------------------------------------------------------------------------------
// Records

/// One labelled image.
struct sample {
  std::string path;                  ///< relative to the image root, '/'-separated, normal form
  std::int64_t label = 0;            ///< index into dataset_index::class_names
  std::optional<split_kind> split;   ///< set when the source fixes it (a manifest's split column)
  std::string seq_id;                ///< capture event; empty when the source has none
  std::string location;              ///< camera location; empty when the source has none

  friend bool operator==(const sample&, const sample&) = default;
  /// For test frameworks and logs: the same text as the fmt::formatter.
  friend std::ostream& operator<<(std::ostream& out, const sample& s) {
    out << '\'' << s.path << "' label " << s.label;
    if (s.split) out << " split " << name(*s.split);
    if (!s.seq_id.empty()) out << " seq_id " << s.seq_id;
    if (!s.location.empty()) out << " location " << s.location;
    return out;
  }
};

/// What to do with a bad record (a label outside the category list, a path that leaves the
/// image root, a duplicate): stop with an error naming it (the default, so nothing is silently
/// lost), or leave it out and list it.
enum class bad_record_policy : std::uint8_t { fail, skip };

/// A record a source left out under bad_record_policy::skip, and why.
struct skipped_record {
  std::string where;   ///< "labels.csv:17", "serengeti.json:5512 (byte 183211)"
  std::string path;    ///< the path as the source spelled it
  std::string label;   ///< the label as the source spelled it
  std::string reason;  ///< what was wrong and what was expected

  friend bool operator==(const skipped_record&, const skipped_record&) = default;
};

/// Write skipped records as CSV (where,path,label,reason), atomically.
inline void write_skipped_list(const std::filesystem::path& file,
                               const std::vector<skipped_record>& skipped) {
  io::write_atomically(file, [&](std::ostream& out) {
    out << "where,path,label,reason\n";
    for (const auto& s : skipped)
      out << io::csv_escape(s.where) << ',' << io::csv_escape(s.path) << ','
          << io::csv_escape(s.label) << ',' << io::csv_escape(s.reason) << '\n';
  });
}

/// Labelled images under one root, with the category list their labels index: what every
/// source returns and what splits, preflight and the decoded cache consume.
struct dataset_index {
  std::filesystem::path image_root;
  std::vector<std::string> class_names;
  std::vector<sample> samples;
  std::vector<skipped_record> skipped;  ///< bad records left out (bad_record_policy::skip)

  [[nodiscard]] std::size_t size() const noexcept { return samples.size(); }
  [[nodiscard]] bool empty() const noexcept { return samples.empty(); }
  [[nodiscard]] std::int64_t num_classes() const noexcept {
    return static_cast<std::int64_t>(class_names.size());
  }
  /// The file of sample i (no symbolic-link check: see resolve_under_root).
  [[nodiscard]] std::filesystem::path file(std::size_t i) const {
    return image_root / samples.at(i).path;
  }
  /// Labels as the samplers take them (std::span<const std::int64_t>).
  [[nodiscard]] std::vector<std::int64_t> labels() const {
    std::vector<std::int64_t> out;
    out.reserve(samples.size());
    for (const auto& s : samples) out.push_back(s.label);
    return out;
  }
  [[nodiscard]] std::vector<std::int64_t> class_counts() const {
    std::vector<std::int64_t> counts(class_names.size(), 0);
    for (const auto& s : samples)
      if (s.label >= 0 && s.label < num_classes()) ++counts[static_cast<std::size_t>(s.label)];
    return counts;
  }
  [[nodiscard]] std::optional<std::int64_t> class_index(std::string_view name) const {
    for (std::size_t i = 0; i < class_names.size(); ++i)
      if (class_names[i] == name) return static_cast<std::int64_t>(i);
    return std::nullopt;
  }
  [[nodiscard]] bool has_seq_ids() const noexcept {
    return std::any_of(samples.begin(), samples.end(),
                       [](const sample& s) { return !s.seq_id.empty(); });
  }
  [[nodiscard]] bool has_locations() const noexcept {
    return std::any_of(samples.begin(), samples.end(),
                       [](const sample& s) { return !s.location.empty(); });
  }

  /// The invariants every consumer relies on; tpt::input_error naming the first sample at fault
  /// (`origin` names the source in the message). Sources call it before returning.
  void validate(const std::filesystem::path& origin = {}) const {
    const std::filesystem::path who = origin.empty() ? image_root : origin;
    if (class_names.empty()) throw input_error(who, "the dataset has no classes");
    if (samples.empty())
      throw input_error(who, skipped.empty()
                                 ? std::string("the dataset has no images")
                                 : fmt::format("the dataset has no images ({} bad records skipped)",
                                               skipped.size()));
    std::unordered_map<std::string_view, std::size_t> names;
    for (std::size_t i = 0; i < class_names.size(); ++i) {
      if (class_names[i].empty()) throw input_error(who, fmt::format("class {} has an empty name", i));
      // Class names and paths go into JSON (caches, checkpoints, reports), which holds UTF-8 only.
      if (!utf8::valid(class_names[i]))
        throw input_error(who, fmt::format("class {} name '{}' is not UTF-8 (rename it)", i, utf8::shown(class_names[i])));
      if (auto [it, fresh] = names.emplace(class_names[i], i); !fresh)
        throw input_error(who, fmt::format("class name '{}' appears twice (classes {} and {})",
                                           class_names[i], it->second, i));
    }
    detail::string_index seen;  // positions in it are sample positions until a duplicate throws
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const auto& s = samples[i];
      if (s.label < 0 || s.label >= num_classes())
        throw input_error(who, fmt::format("sample {} ('{}'): label {} outside 0..{}", i, s.path,
                                           s.label, num_classes() - 1));
      if (auto why = path_problem(s.path)) throw input_error(who, fmt::format("sample {}: {}", i, *why));
      if (normal_relative_path(s.path) != s.path)
        throw input_error(who, fmt::format("sample {}: path '{}' is not in normal form", i, s.path));
      bool added = false;
      if (const auto first = seen.insert(s.path, added); !added)
        throw input_error(who, fmt::format("path '{}' appears twice (samples {} and {})", s.path,
                                           first, i));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Bad records: collected while reading, then failed on or skipped

/// An unknown label, with the classes that were expected. Caught as tpt::unknown_class_error.
class unknown_label_error : public unknown_class_error {
 public:
  unknown_label_error(std::string label, std::string where, std::string message)
      : unknown_class_error(std::move(label), std::move(where)), message_(std::move(message)) {}
  [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

namespace detail {

/// "a, b, c, ... (52 classes)": enough of a class list to show what was expected.
inline std::string describe_classes(const std::vector<std::string>& names, std::size_t show = 12) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < show; ++i) {
    if (i) out += ", ";
    out += '\'' + names[i] + '\'';
  }
  if (names.size() > show) out += fmt::format(", ... ({} classes)", names.size());
  return out;
}

/// Collects the bad records of one read. Under fail, finish() throws for the first one, saying
/// how many more there were (all are listed before any training starts); under skip, they go
/// into dataset_index::skipped and, when asked, a CSV file.
class bad_records {
 public:
  enum class kind : std::uint8_t { unknown_label, bad_path, duplicate, other };
  struct entry {
    kind what;
    std::filesystem::path file;
    std::optional<std::size_t> line;
    std::string context;  // e.g. "byte 1234, images[12]"; may be empty
    skipped_record record;
  };

  void add(kind what, std::filesystem::path file, std::optional<std::size_t> line,
           std::string context, std::string path, std::string label, std::string reason) {
    std::string where = file.string();
    if (line) where += fmt::format(":{}", *line);
    if (!context.empty()) where += fmt::format(" ({})", context);
    entries_.push_back({what, std::move(file), line, std::move(context),
                        {std::move(where), std::move(path), std::move(label), std::move(reason)}});
  }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] std::vector<entry>& entries() noexcept { return entries_; }

  /// Apply the policy. `classes` shows what was expected in an unknown-label error.
  void finish(bad_record_policy policy, const std::vector<std::string>& classes,
              dataset_index& index, const std::optional<std::filesystem::path>& skipped_list) {
    if (entries_.empty()) {
      if (skipped_list) write_skipped_list(*skipped_list, index.skipped);
      return;
    }
    if (policy == bad_record_policy::fail) {
      const auto& e = entries_.front();
      const std::string more =
          entries_.size() == 1
              ? std::string()
              : fmt::format(" (and {} more bad record{}; bad_record_policy::skip leaves them "
                            "out and lists them)",
                            entries_.size() - 1, entries_.size() == 2 ? "" : "s");
      if (e.what == kind::unknown_label) {
        throw unknown_label_error(
            e.record.label, e.record.where,
            fmt::format("{}: unknown class '{}'{} (expected one of {}){}", e.record.where,
                        e.record.label,
                        e.record.path.empty() ? std::string() : fmt::format(" for '{}'", e.record.path),
                        describe_classes(classes), more));
      }
      throw input_error(e.file, e.line,
                        e.context.empty() ? e.record.reason + more
                                          : fmt::format("{}: {}{}", e.context, e.record.reason, more));
    }
    for (auto& e : entries_) index.skipped.push_back(std::move(e.record));
    entries_.clear();
    if (skipped_list) write_skipped_list(*skipped_list, index.skipped);
  }

 private:
  std::vector<entry> entries_;
};

}  // namespace detail

}  // namespace tpt::data

template <>
struct fmt::formatter<tpt::data::split_kind> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::split_kind s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::data::name(s), ctx);
  }
};

template <>
struct fmt::formatter<tpt::data::skipped_record> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::skipped_record& r, FormatContext& ctx) const {
    return fmt::format_to(ctx.out(), "{}: '{}' ({}): {}", r.where, r.path, r.label, r.reason);
  }
};

template <>
struct fmt::formatter<tpt::data::sample> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::sample& s, FormatContext& ctx) const {
    auto out = fmt::format_to(ctx.out(), "'{}' label {}", s.path, s.label);
    if (s.split) out = fmt::format_to(out, " split {}", tpt::data::name(*s.split));
    if (!s.seq_id.empty()) out = fmt::format_to(out, " seq_id {}", s.seq_id);
    if (!s.location.empty()) out = fmt::format_to(out, " location {}", s.location);
    return out;
  }
};

/// "1234 images in 5 classes under /data/serengeti (3 bad records skipped)".
template <>
struct fmt::formatter<tpt::data::dataset_index> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::dataset_index& d, FormatContext& ctx) const {
    auto out = fmt::format_to(ctx.out(), "{} images in {} classes under {}", d.size(),
                              d.class_names.size(), d.image_root.string());
    if (!d.skipped.empty()) out = fmt::format_to(out, " ({} bad records skipped)", d.skipped.size());
    return out;
  }
};
