// COCO Camera Traps metadata as LILA publishes it (keys info, images, annotations, categories)
// as a dataset, with the paper's filters: seasons chosen by path prefix ("S9/"), no 'empty' or
// 'human' images, no images with more than one species. Streams files of any size (the Snapshot
// Serengeti file is 5.2 GB) and reports what each filter removed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "tpt/core/error.hpp"
#include "tpt/data/detail/element_pipeline.hpp"
#include "tpt/data/detail/json_stream.hpp"
#include "tpt/data/detail/string_index.hpp"
#include "tpt/data/records.hpp"

namespace tpt::data {

struct coco_camera_traps_options {
  /// Keep only images whose file_name starts with one of these (after normalisation); empty
  /// keeps all. Snapshot Serengeti season 9 is {"S9/"}: see season_prefixes.
  std::vector<std::string> path_prefixes{};
  /// Images whose (single) category has one of these names are dropped, compared without regard
  /// to case. LILA calls images without an animal 'empty' (some datasets say 'blank').
  std::vector<std::string> drop_categories = {"empty", "blank", "human"};
  /// Classes are the categories left with at least one image, in category-id order; set this to
  /// keep every category not dropped by name, even with no image.
  bool keep_classes_without_images = false;
  /// Folder the file_names are relative to; default: the JSON file's folder.
  std::optional<std::filesystem::path> image_root{};
  bad_record_policy on_bad_record = bad_record_policy::fail;
  /// Where to write the skipped records (CSV) under bad_record_policy::skip.
  std::optional<std::filesystem::path> skipped_list{};
  /// Bytes read from disk at a time (memory use is about this plus what the filters keep).
  std::size_t read_chunk_bytes = std::size_t{16} << 20;
  /// 1: scan and parse on the calling thread. 2 or more: scan on the calling thread and parse
  /// on a second one (parsing keeps file order, so more threads would not help). The result,
  /// errors included, is the same for any value.
  std::size_t threads = 2;
};

/// Path prefixes of Snapshot Serengeti seasons: {9} -> {"S9/"}.
inline std::vector<std::string> season_prefixes(std::initializer_list<int> seasons) {
  std::vector<std::string> out;
  for (int s : seasons) out.push_back(fmt::format("S{}/", s));
  return out;
}

/// What each filter removed, in the order the filters apply; printable with fmt.
struct coco_filter_report {
  std::size_t images_in_file = 0;
  std::size_t annotations_in_file = 0;
  std::size_t categories_in_file = 0;
  std::vector<std::string> path_prefixes;
  std::size_t outside_prefixes = 0;    ///< images not under a selected path prefix
  std::size_t bad_records = 0;         ///< skipped: path leaves the root, unknown category, duplicate
  std::size_t without_annotation = 0;  ///< selected images no annotation refers to
  std::size_t multiple_species = 0;    ///< images with two or more distinct categories
  std::vector<std::pair<std::string, std::size_t>> dropped_categories;  ///< per dropped name
  std::size_t kept = 0;
  std::size_t annotations_unmatched = 0;  ///< annotations of images not selected (or absent)
  std::vector<std::string> classes_without_images;  ///< categories left out of the class list

  [[nodiscard]] std::size_t dropped(std::string_view category) const {
    for (const auto& [name, n] : dropped_categories)
      if (detail::lower_ascii(name) == detail::lower_ascii(category)) return n;
    return 0;
  }
};

/// The dataset and the filter report.
struct coco_camera_traps {
  dataset_index index;
  coco_filter_report report;
};

namespace detail {

/// The categories one image's annotations name: the first, plus (rarely) a list of the others.
struct image_categories {
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();
  static constexpr std::uint32_t no_extra = std::numeric_limits<std::uint32_t>::max();
  std::int64_t first = none;
  std::uint32_t extra = no_extra;
  std::uint32_t annotations = 0;
};


}  // namespace detail

}  // namespace tpt::data

/// The filters one after another with what each removed, then what remains.
template <>
struct fmt::formatter<tpt::data::coco_filter_report> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::coco_filter_report& r, FormatContext& ctx) const {
    auto out = fmt::format_to(ctx.out(), "images in file             {:>10}\n", r.images_in_file);
    if (!r.path_prefixes.empty())
      out = fmt::format_to(out, "  not under {:<15} {:>10}\n", fmt::format("{}", fmt::join(r.path_prefixes, " ")),
                           r.outside_prefixes);
    if (r.bad_records) out = fmt::format_to(out, "  bad records (skipped)    {:>10}\n", r.bad_records);
    out = fmt::format_to(out, "  without annotation       {:>10}\n", r.without_annotation);
    out = fmt::format_to(out, "  multiple species         {:>10}\n", r.multiple_species);
    for (const auto& [name, n] : r.dropped_categories)
      out = fmt::format_to(out, "  category {:<15} {:>10}\n", fmt::format("'{}'", name), n);
    out = fmt::format_to(out, "kept                       {:>10}\n", r.kept);
    out = fmt::format_to(out, "annotations in file        {:>10} ({} refer to no selected image)\n",
                         r.annotations_in_file, r.annotations_unmatched);
    out = fmt::format_to(out, "categories in file         {:>10}", r.categories_in_file);
    if (!r.classes_without_images.empty())
      out = fmt::format_to(out, "\ncategories with no image left: {}", fmt::join(r.classes_without_images, ", "));
    return out;
  }
};

namespace tpt::data {

namespace detail {

class coco_reader {
 public:
  coco_reader(const std::filesystem::path& file, const coco_camera_traps_options& options)
      : file_(file), options_(options), stream_(file, options.read_chunk_bytes) {
    report_.path_prefixes = options.path_prefixes;
    for (const auto& name : options.drop_categories) drop_.push_back(lower_ascii(name));
  }

  coco_camera_traps read() {
    element_pipeline pipeline([this](const element_batch& batch) { handle(batch); }, options_.threads > 1);
    try {
      scan(pipeline);
      pipeline.finish();
    } catch (...) {
      // An error of the scanner lies after every element already queued: report the handler's
      // error instead if one of those elements has one, so the first error in the file wins.
      pipeline.drain_and_rethrow_earlier();
      throw;
    }
    for (const auto* member : {"images", "annotations", "categories"}) {
      const bool seen = std::string_view(member) == "images"        ? seen_images_
                        : std::string_view(member) == "annotations" ? seen_annotations_
                                                                    : seen_categories_;
      if (!seen)
        throw input_error(file_, fmt::format("no '{}' array (a COCO Camera Traps file has the "
                                             "members images, annotations and categories)",
                                             member));
    }
    return join();
  }

 private:
  enum tag : std::uint32_t { images_tag, annotations_tag, categories_tag, other_array_tag, other_value_tag, images_end_tag };

  /// The scanning side: walks the top-level object and queues the elements.
  void scan(element_pipeline& pipeline) {
    stream_.begin_document();
    while (auto key = stream_.next_key()) {
      if (*key == "images" || *key == "annotations" || *key == "categories") {
        bool& seen = *key == "images" ? seen_images_ : *key == "annotations" ? seen_annotations_
                                                                             : seen_categories_;
        if (seen) fail_at(stream_.offset(), fmt::format("the member '{}' appears twice", *key));
        seen = true;
        if (stream_.peek() != '[')
          fail_at(stream_.offset(), fmt::format("'{}': expected an array", *key));
        const tag t = *key == "images" ? images_tag : *key == "annotations" ? annotations_tag : categories_tag;
        stream_.begin_array();
        std::size_t n = 0;
        while (auto e = stream_.next_element()) pipeline.add(t, *key, *e, n++);
        if (t == images_tag) pipeline.mark(images_end_tag);
      } else if (stream_.peek() == '[') {
        // Other members (licenses, ...) are not needed, but must still be valid JSON.
        stream_.begin_array();
        std::size_t n = 0;
        while (auto e = stream_.next_element()) pipeline.add(other_array_tag, *key, *e, n++);
      } else {
        pipeline.add(other_value_tag, *key, stream_.capture_value(), 0);
      }
    }
    stream_.end_document();
  }

  /// The parsing side: one batch of elements, in file order.
  void handle(const element_batch& batch) {
    for (const auto& e : batch.elements) {
      const json_slice slice = batch.slice(e);
      switch (batch.tag) {
        case images_tag: read_image(slice, e.index); break;
        case annotations_tag: read_annotation(slice, e.index); break;
        case categories_tag: read_category(slice, e.index); break;
        case other_array_tag: validate(slice, fmt::format("{}[{}]", batch.name, e.index)); break;
        default: validate(slice, batch.name); break;
      }
    }
    if (batch.tag == images_end_tag) images_done_ = true;
  }

  struct selected_image {
    std::string_view path;  // all three in the arena
    std::string_view seq_id;
    std::string_view location;
    std::uint64_t offset = 0;
    image_categories categories;
    bool bad = false;
  };
  struct category {
    std::int64_t id;
    std::string name;
    std::uint64_t offset;
  };
  struct problem {
    bad_records::kind kind;
    std::uint64_t offset;
    std::string path;
    std::string label;
    std::string reason;
  };

  [[noreturn]] void fail_at(std::uint64_t offset, const std::string& what) const {
    stream_.fail(offset, what);
  }

  static std::string_view type_name(simdjson::dom::element_type t) {
    using simdjson::dom::element_type;
    switch (t) {
      case element_type::ARRAY: return "an array";
      case element_type::OBJECT: return "an object";
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE: return "a number";
      case element_type::STRING: return "a string";
      case element_type::BOOL: return "a boolean";
      case element_type::NULL_VALUE: return "null";
    }
    return "a value";
  }

  void validate(const json_slice& v, const std::string& what) {
    simdjson::dom::element root;
    if (auto err = parser_.parse(v.data, v.size, false).get(root))
      fail_at(v.offset, fmt::format("'{}': invalid JSON: {}", what, simdjson::error_message(err)));
  }

  simdjson::dom::object parse_object(const json_slice& e, std::string_view section, std::size_t n) {
    simdjson::dom::element root;
    if (auto err = parser_.parse(e.data, e.size, false).get(root))
      fail_at(e.offset, fmt::format("{}[{}]: invalid JSON: {}", section, n, simdjson::error_message(err)));
    simdjson::dom::object obj;
    if (root.get_object().get(obj))
      fail_at(e.offset, fmt::format("{}[{}]: expected an object, got {}", section, n, type_name(root.type())));
    return obj;
  }

  [[noreturn]] void wrong_type(const json_slice& e, std::string_view section, std::size_t n,
                               std::string_view field, std::string_view expected,
                               simdjson::dom::element value) const {
    fail_at(e.offset, fmt::format("{}[{}]: field '{}': expected {}, got {}", section, n, field,
                                  expected, type_name(value.type())));
  }

  /// An id that may be a string or an integer (both occur in COCO Camera Traps files), as text:
  /// a view into the parsed element, or into `scratch` for numbers.
  std::string_view id_text(const json_slice& e, std::string_view section, std::size_t n,
                           std::string_view field, simdjson::dom::element value, std::string& scratch) const {
    std::string_view s;
    if (!value.get_string().get(s)) return s;
    std::int64_t i = 0;
    if (!value.get_int64().get(i)) {
      scratch = fmt::format("{}", i);
      return scratch;
    }
    std::uint64_t u = 0;
    if (!value.get_uint64().get(u)) {
      scratch = fmt::format("{}", u);
      return scratch;
    }
    wrong_type(e, section, n, field, "a string or an integer", value);
  }

  std::int64_t integer(const json_slice& e, std::string_view section, std::size_t n,
                       std::string_view field, simdjson::dom::element value) const {
    std::int64_t i = 0;
    if (value.get_int64().get(i)) wrong_type(e, section, n, field, "an integer", value);
    return i;
  }

  [[nodiscard]] bool selected(std::string_view path) const {
    if (options_.path_prefixes.empty()) return true;
    return std::any_of(options_.path_prefixes.begin(), options_.path_prefixes.end(),
                       [&](const std::string& p) { return path.starts_with(p); });
  }

  void read_image(const json_slice& e, std::size_t n) {
    auto obj = parse_object(e, "images", n);
    std::string_view id, file_name, seq_id, location;
    bool has_id = false, has_file = false;
    for (auto field : obj) {
      const std::string_view key = field.key;
      if (key == "id") {
        id = id_text(e, "images", n, key, field.value, id_scratch_);
        has_id = true;
      } else if (key == "file_name") {
        if (field.value.get_string().get(file_name)) wrong_type(e, "images", n, key, "a string", field.value);
        has_file = true;
      } else if (key == "seq_id") {
        if (!field.value.is_null()) seq_id = id_text(e, "images", n, key, field.value, seq_scratch_);
      } else if (key == "location") {
        if (!field.value.is_null()) location = id_text(e, "images", n, key, field.value, location_scratch_);
      }
    }
    if (!has_id) fail_at(e.offset, fmt::format("images[{}]: missing field 'id'", n));
    if (!has_file) fail_at(e.offset, fmt::format("images[{}]: missing field 'file_name'", n));
    ++report_.images_in_file;

    selected_image image;
    image.offset = e.offset;
    std::string normal;
    if (auto why = path_problem(file_name)) {
      // The season filter comes first: a malformed name in a season nobody asked for is not
      // this read's problem (matched on the name as written; it has no normal form).
      if (!selected(file_name)) {
        ++report_.outside_prefixes;
        return;
      }
      // Kept (flagged) so that its annotations still find it.
      problems_.push_back({bad_records::kind::bad_path, e.offset, std::string(file_name), {}, *why});
      image.path = arena_.store(file_name);
      image.bad = true;
    } else {
      normal = normal_relative_path(file_name);
      if (!selected(normal)) {
        ++report_.outside_prefixes;
        return;
      }
      image.path = arena_.store(normal);
    }
    image.seq_id = arena_.store(seq_id);
    image.location = arena_.store(location);
    bool added = false;
    const auto at = image_ids_.insert(id, added, &arena_);
    if (!added)
      fail_at(e.offset, fmt::format("images[{}]: image id '{}' already used by the image at byte {}",
                                    n, id, images_[at].offset));
    images_.push_back(image);
  }

  void add_category(image_categories& c, std::int64_t category) {
    ++c.annotations;
    if (c.first == image_categories::none) {
      c.first = category;
    } else if (category != c.first) {
      if (c.extra == image_categories::no_extra) {
        c.extra = static_cast<std::uint32_t>(extra_categories_.size());
        extra_categories_.push_back({category});
      } else if (auto& more = extra_categories_[c.extra];
                 std::find(more.begin(), more.end(), category) == more.end()) {
        more.push_back(category);
      }
    }
  }

  void read_annotation(const json_slice& e, std::size_t n) {
    auto obj = parse_object(e, "annotations", n);
    std::string_view image_id;
    std::int64_t category = 0;
    bool has_image = false, has_category = false;
    for (auto field : obj) {
      const std::string_view key = field.key;
      if (key == "image_id") {
        image_id = id_text(e, "annotations", n, key, field.value, id_scratch_);
        has_image = true;
      } else if (key == "category_id") {
        category = integer(e, "annotations", n, key, field.value);
        has_category = true;
      }
    }
    if (!has_image) fail_at(e.offset, fmt::format("annotations[{}]: missing field 'image_id'", n));
    if (!has_category) fail_at(e.offset, fmt::format("annotations[{}]: missing field 'category_id'", n));
    ++report_.annotations_in_file;
    note_category_use(category, e.offset);
    if (images_done_) {
      // LILA lists annotations in image order: try the image of the previous annotation and the
      // one after it before hashing.
      std::uint32_t at = string_index::npos;
      if (last_match_ < images_.size() && image_ids_.key(last_match_) == image_id) at = last_match_;
      else if (last_match_ + 1 < images_.size() && image_ids_.key(last_match_ + 1) == image_id) at = last_match_ + 1;
      else at = image_ids_.find(image_id);
      if (at != string_index::npos) {
        add_category(images_[at].categories, category);
        last_match_ = at;
      } else {
        ++report_.annotations_unmatched;
      }
    } else {
      bool added = false;
      const auto at = early_ids_.insert(image_id, added, &arena_);
      if (added) early_categories_.emplace_back();
      add_category(early_categories_[at], category);
    }
  }

  static constexpr std::int64_t small_category_ids = 4096;
  static constexpr std::uint64_t unused = std::numeric_limits<std::uint64_t>::max();

  void note_category_use(std::int64_t category, std::uint64_t offset) {
    if (category >= 0 && category < small_category_ids) {
      const auto c = static_cast<std::size_t>(category);
      if (c >= first_use_small_.size()) first_use_small_.resize(c + 1, unused);
      if (first_use_small_[c] == unused) first_use_small_[c] = offset;
    } else {
      first_use_large_.try_emplace(category, offset);
    }
  }
  [[nodiscard]] std::uint64_t first_use_of(std::int64_t category) const {
    if (category >= 0 && category < small_category_ids) return first_use_small_.at(static_cast<std::size_t>(category));
    return first_use_large_.at(category);
  }

  void read_category(const json_slice& e, std::size_t n) {
    auto obj = parse_object(e, "categories", n);
    std::optional<std::int64_t> id;
    std::string_view name;
    bool has_name = false;
    for (auto field : obj) {
      const std::string_view key = field.key;
      if (key == "id") {
        id = integer(e, "categories", n, key, field.value);
      } else if (key == "name") {
        if (field.value.get_string().get(name)) wrong_type(e, "categories", n, key, "a string", field.value);
        has_name = true;
      }
    }
    if (!id) fail_at(e.offset, fmt::format("categories[{}]: missing field 'id'", n));
    if (!has_name) fail_at(e.offset, fmt::format("categories[{}]: missing field 'name'", n));
    if (name.empty()) fail_at(e.offset, fmt::format("categories[{}]: empty name", n));
    for (const auto& c : categories_) {
      if (c.id == *id)
        fail_at(e.offset, fmt::format("categories[{}]: category id {} already used by '{}' at byte {}",
                                      n, *id, c.name, c.offset));
      if (c.name == name)
        fail_at(e.offset, fmt::format("categories[{}]: category name '{}' already used by id {} at byte {}",
                                      n, name, c.id, c.offset));
    }
    categories_.push_back({*id, std::string(name), e.offset});
    ++report_.categories_in_file;
  }

  coco_camera_traps join() {
    std::sort(categories_.begin(), categories_.end(),
              [](const category& a, const category& b) { return a.id < b.id; });
    std::unordered_map<std::int64_t, std::size_t> category_at;
    std::vector<bool> dropped(categories_.size(), false);
    std::vector<std::size_t> dropped_slot(categories_.size(), 0);
    for (std::size_t c = 0; c < categories_.size(); ++c) {
      category_at.emplace(categories_[c].id, c);
      const std::string lower = lower_ascii(categories_[c].name);
      for (const auto& d : drop_)
        if (d == lower) {
          dropped[c] = true;
          dropped_slot[c] = report_.dropped_categories.size();
          report_.dropped_categories.emplace_back(categories_[c].name, 0);
        }
    }

    if (early_ids_.size() > 0) {
      std::size_t matched = 0;
      for (std::uint32_t i = 0; i < images_.size(); ++i)
        if (const auto at = early_ids_.find(image_ids_.key(i)); at != string_index::npos) {
          images_[i].categories = early_categories_[at];
          matched += early_categories_[at].annotations;
        }
      report_.annotations_unmatched = report_.annotations_in_file - matched;
    }

    // Filters in order; survivors carry their category's position until classes are known.
    std::vector<std::pair<std::uint32_t, std::size_t>> kept;  // image, category position
    std::vector<std::int64_t> per_category(categories_.size(), 0);
    string_index kept_paths;
    std::vector<std::int64_t> distinct;
    for (std::uint32_t i = 0; i < images_.size(); ++i) {
      const auto& image = images_[i];
      if (image.bad) continue;
      const auto& cats = image.categories;
      if (cats.annotations == 0) {
        ++report_.without_annotation;
        continue;
      }
      distinct.assign(1, cats.first);
      if (cats.extra != image_categories::no_extra)
        distinct.insert(distinct.end(), extra_categories_[cats.extra].begin(),
                        extra_categories_[cats.extra].end());
      const auto unknown = std::find_if(distinct.begin(), distinct.end(), [&](std::int64_t id) {
        return !category_at.contains(id);
      });
      if (unknown != distinct.end()) {
        problems_.push_back({bad_records::kind::unknown_label, image.offset, std::string(image.path),
                             fmt::format("{}", *unknown),
                             fmt::format("an annotation gives category_id {}, which is not among "
                                         "the file's categories (first used at byte {})",
                                         *unknown, first_use_of(*unknown))});
        continue;
      }
      if (distinct.size() > 1) {
        ++report_.multiple_species;
        continue;
      }
      const std::size_t c = category_at.at(cats.first);
      if (dropped[c]) {
        ++report_.dropped_categories[dropped_slot[c]].second;
        continue;
      }
      bool added = false;
      const auto at = kept_paths.insert(image.path, added);
      if (!added) {
        problems_.push_back({bad_records::kind::duplicate, image.offset, std::string(image.path),
                             categories_[c].name,
                             fmt::format("file_name '{}' is already used by the image at byte {}",
                                         image.path, images_[kept[at].first].offset)});
        continue;
      }
      kept.emplace_back(i, c);
      ++per_category[c];
    }

    coco_camera_traps out;
    out.index.image_root = options_.image_root ? *options_.image_root
                                               : (file_.has_parent_path() ? file_.parent_path()
                                                                          : std::filesystem::path("."));
    std::vector<std::int64_t> class_of(categories_.size(), -1);
    for (std::size_t c = 0; c < categories_.size(); ++c) {
      if (dropped[c]) continue;
      if (per_category[c] == 0) report_.classes_without_images.push_back(categories_[c].name);
      if (per_category[c] == 0 && !options_.keep_classes_without_images) continue;
      class_of[c] = static_cast<std::int64_t>(out.index.class_names.size());
      out.index.class_names.push_back(categories_[c].name);
    }

    // Bad records, in file order, with line numbers counted once for all of them.
    std::stable_sort(problems_.begin(), problems_.end(),
                     [](const problem& a, const problem& b) { return a.offset < b.offset; });
    report_.bad_records = problems_.size();
    if (!problems_.empty()) {
      std::vector<std::uint64_t> offsets;
      for (const auto& p : problems_) offsets.push_back(p.offset);
      const auto lines = lines_at(file_, offsets);
      bad_records bad;
      for (std::size_t k = 0; k < problems_.size(); ++k) {
        auto& p = problems_[k];
        bad.add(p.kind, file_, lines[k], fmt::format("byte {}", p.offset), std::move(p.path),
                std::move(p.label), std::move(p.reason));
      }
      std::vector<std::string> known;
      for (const auto& c : categories_) known.push_back(c.name);
      bad.finish(options_.on_bad_record, known, out.index, options_.skipped_list);
    } else if (options_.skipped_list) {
      write_skipped_list(*options_.skipped_list, {});
    }

    out.index.samples.reserve(kept.size());
    for (const auto& [i, c] : kept) {
      auto& image = images_[i];
      out.index.samples.push_back({std::string(image.path), class_of[c], std::nullopt,
                                   std::string(image.seq_id), std::string(image.location)});
    }
    report_.kept = out.index.samples.size();
    if (out.index.samples.empty())
      throw input_error(file_, fmt::format("no images left after filtering:\n{}", report_));
    out.index.validate(file_);
    out.report = std::move(report_);
    return out;
  }

  const std::filesystem::path& file_;
  const coco_camera_traps_options& options_;
  json_stream stream_;
  simdjson::dom::parser parser_;
  std::vector<std::string> drop_;
  string_arena arena_;
  std::vector<selected_image> images_;
  string_index image_ids_;  // position i: images_[i]
  std::uint32_t last_match_ = 0;
  string_index early_ids_;  // annotations read before the images
  std::vector<image_categories> early_categories_;
  std::vector<std::vector<std::int64_t>> extra_categories_;
  // Where each category id was first used, for messages about unknown ids. Small ids (all real
  // files) in a vector, the annotation loop's hottest lookup; others in a map.
  std::vector<std::uint64_t> first_use_small_;
  std::unordered_map<std::int64_t, std::uint64_t> first_use_large_;
  std::vector<category> categories_;
  std::vector<problem> problems_;
  coco_filter_report report_;
  bool images_done_ = false;
  bool seen_images_ = false, seen_annotations_ = false, seen_categories_ = false;
  std::string id_scratch_, seq_scratch_, location_scratch_;
};

}  // namespace detail

/// Read COCO Camera Traps metadata (LILA's format) with the paper's filters, in this order:
/// images outside options.path_prefixes; bad records (a file_name that leaves the image root, a
/// category_id not among the categories, a file_name used twice: options.on_bad_record decides);
/// images no annotation refers to; images with more than one distinct category; images whose
/// category is in options.drop_categories. The report says how many each removed. Classes are
/// the remaining categories in id order. The members may come in any order; the file is
/// streamed, so its size is not limited by memory or by simdjson's 4 GB, and scanning overlaps
/// parsing on a second thread (options.threads). Malformed JSON, wrong types and missing fields
/// are tpt::input_error with line, byte offset and what was expected; when a file has several
/// errors, the first in file order is reported, whatever the threads and chunk size.
inline coco_camera_traps read_coco_camera_traps(const std::filesystem::path& file,
                                                const coco_camera_traps_options& options = {}) {
  if (options.threads == 0) throw config_error("threads", "must be at least 1");
  if (options.read_chunk_bytes == 0) throw config_error("read_chunk_bytes", "must be at least 1");
  return detail::coco_reader(file, options).read();
}

}  // namespace tpt::data
