// MegaDetector's batch output format (https://lila.science/megadetector-output-format), the JSON
// that Timelapse, AddaxAI and MegaDetector's own tools read: reading and checking a file with
// errors that say where and what was expected, writing it back with every field kept in its order,
// and the pieces a classifier adds (classification_categories, classifications, info fields).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/mapped_file.hpp"
#include "tpt/predict/crop.hpp"
#include "tpt/predict/scores.hpp"

namespace tpt::predict {

/// JSON whose objects keep their keys in the order they were read or added: a file written back
/// looks like the file read, field for field.
using ordered_json = nlohmann::ordered_json;

/// The format version tpt writes for files it creates: 1.4 has every field tpt writes
/// (failure with null detections, classifications, classifier info) and is read by Timelapse,
/// AddaxAI and MegaDetector's validator (which needs 1.3 or later).
inline constexpr std::string_view md_format_version = "1.4";
/// MegaDetector's failure string for an image that could not be opened or decoded.
inline constexpr std::string_view md_failure_image_access = "Failure image access";
/// Decimals of the confidences tpt writes (MegaDetector writes 3 for detections).
inline constexpr int md_confidence_digits = 4;

/// MegaDetector's detection categories.
[[nodiscard]] inline ordered_json md_detection_categories() {
  return ordered_json{{"1", "animal"}, {"2", "person"}, {"3", "vehicle"}};
}

/// classification_categories for a model's classes: {"0": class_names[0], "1": ...}.
[[nodiscard]] inline ordered_json classification_categories_json(std::span<const std::string> class_names) {
  ordered_json out = ordered_json::object();
  for (std::size_t i = 0; i < class_names.size(); ++i) out[std::to_string(i)] = class_names[i];
  return out;
}

/// A detection's classifications: [["3", 0.901], ["1", 0.071], ...], highest first, as MegaDetector
/// writes them (class id as a string, confidence rounded to `digits` decimals).
[[nodiscard]] inline ordered_json classifications_json(std::span<const class_score> scores,
                                                       int digits = md_confidence_digits) {
  ordered_json out = ordered_json::array();
  for (const auto& s : scores)
    out.push_back(ordered_json::array({std::to_string(s.class_index), round_to_digits(s.confidence, digits)}));
  return out;
}

/// Local time as MegaDetector writes its completion times ("2024-05-26 19:11:27").
[[nodiscard]] inline std::string md_timestamp(std::chrono::system_clock::time_point when = std::chrono::system_clock::now()) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm local{};
  localtime_r(&t, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

namespace detail {

/// "images[12] ('cam1/IMG_0042.JPG')", the position of an image in a results file for messages.
inline std::string md_image_position(const ordered_json& images, std::size_t i) {
  const auto& im = images[i];
  if (im.is_object() && im.contains("file") && im["file"].is_string())
    return fmt::format("images[{}] ('{}')", i, im["file"].get_ref<const std::string&>());
  return fmt::format("images[{}]", i);
}

/// A JSON value for a message, cut short when long.
inline std::string md_shown(const ordered_json& v) {
  std::string s = v.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

/// The message of an nlohmann parse error without its "[json.exception...] parse error at line
/// L, column C: " prefix (tpt puts the position in front itself).
inline std::string md_parse_reason(std::string_view what) {
  if (auto bracket = what.find("] "); what.starts_with("[json.exception") && bracket != std::string_view::npos)
    what.remove_prefix(bracket + 2);
  if (what.starts_with("parse error")) {
    if (auto colon = what.find(": "); colon != std::string_view::npos) what.remove_prefix(colon + 2);
  }
  return std::string(what);
}

inline bool md_category_id(std::string_view key) {
  if (key.empty() || key.size() > 18) return false;
  for (char c : key)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace detail

/// A MegaDetector results file held in memory, checked on reading: info with a format_version,
/// detection_categories, images with a file and, unless they record a failure, detections whose
/// category, conf and bbox are usable. Every field, known or not, is kept (in its order) and
/// written back by write().
class megadetector_results {
 public:
  megadetector_results() = default;

  /// Check `document` (from `name`, used in messages); tpt::input_error naming the position
  /// (images[12] ('cam1/x.jpg'), detections[3], bbox) and what was expected.
  megadetector_results(ordered_json document, std::filesystem::path name)
      : doc_(std::move(document)), file_(std::move(name)) {
    check();
  }

  /// Parse and check JSON text. Syntax errors give line and column.
  [[nodiscard]] static megadetector_results parse(std::string_view text, const std::filesystem::path& name) {
    std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos)
      throw input_error(name, "the file is empty; expected a MegaDetector results JSON object");
    ordered_json doc;
    try {
      doc = ordered_json::parse(text);
    } catch (const ordered_json::parse_error& e) {
      // e.byte is the 1-based offset of the character where parsing failed.
      const std::size_t at = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
      const std::string_view before = text.substr(0, at);
      const std::size_t line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
      const std::size_t last_newline = before.rfind('\n');
      const std::size_t column = last_newline == std::string_view::npos ? at + 1 : at - last_newline;
      throw input_error(name, line,
                        fmt::format("column {}: not valid JSON: {}", column, detail::md_parse_reason(e.what())));
    }
    return megadetector_results(std::move(doc), name);
  }

  /// Read and check a results file. The file is parsed where it lies (a read-only map): its
  /// bytes stay in the kernel's page cache instead of a heap copy beside the document, which
  /// itself takes about 3.5 times the file.
  [[nodiscard]] static megadetector_results read(const std::filesystem::path& file) {
    const io::mapped_file mapped(file);
    return parse(mapped.text(), file);
  }

  [[nodiscard]] const ordered_json& document() const noexcept { return doc_; }
  /// The document, for adding fields; keep it valid (check() tests it again).
  [[nodiscard]] ordered_json& document() noexcept { return doc_; }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

  [[nodiscard]] const ordered_json& images() const { return doc_.at("images"); }
  [[nodiscard]] ordered_json& images() { return doc_.at("images"); }
  [[nodiscard]] std::size_t image_count() const { return images().size(); }

  /// info.format_version as written (a string such as "1.4"; old files may hold a number).
  [[nodiscard]] std::string format_version() const {
    const auto& v = doc_.at("info").at("format_version");
    return v.is_string() ? v.get<std::string>() : v.dump();
  }

  /// The id of the detection category called `name` ("animal" is "1" in MegaDetector's files).
  [[nodiscard]] std::optional<std::string> detection_category_id(std::string_view name) const {
    for (const auto& [id, n] : doc_.at("detection_categories").items())
      if (n.get_ref<const std::string&>() == name) return id;
    return std::nullopt;
  }

  /// The names of the detection categories, for messages ("animal, person, vehicle").
  [[nodiscard]] std::vector<std::string> detection_category_names() const {
    std::vector<std::string> names;
    for (const auto& [id, n] : doc_.at("detection_categories").items()) names.push_back(n.get<std::string>());
    return names;
  }

  /// True when a classifier already ran on this file (classification_categories is present).
  [[nodiscard]] bool has_classifications() const { return doc_.contains("classification_categories"); }

  /// The box of a detection that check() accepted.
  [[nodiscard]] static normalized_box box_of(const ordered_json& detection) {
    const auto& b = detection.at("bbox");
    return {b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()};
  }

  /// Check the document again (after editing it).
  void check() const {
    auto fail = [&](const std::string& where, const std::string& what) -> input_error {
      return input_error(file_, where.empty() ? what : fmt::format("at {}: {}", where, what));
    };
    if (!doc_.is_object())
      throw fail("", fmt::format("expected a MegaDetector results object ({{\"info\": ..., \"detection_categories\": "
                                 "..., \"images\": [...]}}), got {}", doc_.type_name()));
    for (const char* key : {"info", "detection_categories", "images"})
      if (!doc_.contains(key))
        throw fail("", fmt::format("no '{}' field; a MegaDetector results file has info, detection_categories and "
                                   "images", key));
    const auto& info = doc_["info"];
    if (!info.is_object()) throw fail("info", fmt::format("expected an object, got {}", detail::md_shown(info)));
    if (!info.contains("format_version"))
      throw fail("info", "no 'format_version' (a string such as \"1.4\")");
    if (const auto& v = info["format_version"]; !v.is_string() && !v.is_number())
      throw fail("info.format_version", fmt::format("expected a version string such as \"1.4\", got {}", detail::md_shown(v)));

    const auto& categories = doc_["detection_categories"];
    if (!categories.is_object())
      throw fail("detection_categories", fmt::format("expected an object such as {{\"1\": \"animal\"}}, got {}",
                                                     detail::md_shown(categories)));
    for (const auto& [id, name] : categories.items()) {
      if (!detail::md_category_id(id))
        throw fail("detection_categories", fmt::format("category id '{}' is not a non-negative integer in a string", id));
      if (!name.is_string() || name.get_ref<const std::string&>().empty())
        throw fail(fmt::format("detection_categories.\"{}\"", id),
                   fmt::format("expected a non-empty name, got {}", detail::md_shown(name)));
    }
    if (doc_.contains("classification_categories")) {
      const auto& cc = doc_["classification_categories"];
      if (!cc.is_object())
        throw fail("classification_categories", fmt::format("expected an object, got {}", detail::md_shown(cc)));
      for (const auto& [id, name] : cc.items())
        if (!detail::md_category_id(id) || !name.is_string())
          throw fail("classification_categories",
                     fmt::format("expected \"<integer id>\": \"<name>\" entries, got \"{}\": {}", id, detail::md_shown(name)));
    }

    const auto& images = doc_["images"];
    if (!images.is_array()) throw fail("images", fmt::format("expected an array, got {}", images.type_name()));
    for (std::size_t i = 0; i < images.size(); ++i) {
      const auto& im = images[i];
      const std::string where = detail::md_image_position(images, i);
      if (!im.is_object()) throw fail(where, fmt::format("expected an object, got {}", detail::md_shown(im)));
      if (!im.contains("file") || !im["file"].is_string() || im["file"].get_ref<const std::string&>().empty())
        throw fail(where, "expected a 'file' field holding the image's path");
      const bool failed = im.contains("failure") && !im["failure"].is_null();
      if (failed && !im["failure"].is_string())
        throw fail(where + ".failure", fmt::format("expected null or a string, got {}", detail::md_shown(im["failure"])));
      if (!im.contains("detections") || im["detections"].is_null()) {
        if (!failed)
          throw fail(where, "no 'detections' array (an image without detections has \"detections\": [], a failed "
                            "one a 'failure' string)");
        continue;
      }
      const auto& dets = im["detections"];
      if (!dets.is_array()) throw fail(where + ".detections", fmt::format("expected an array, got {}", detail::md_shown(dets)));
      for (std::size_t d = 0; d < dets.size(); ++d) {
        const auto& det = dets[d];
        const std::string at = fmt::format("{}.detections[{}]", where, d);
        if (!det.is_object()) throw fail(at, fmt::format("expected an object, got {}", detail::md_shown(det)));
        if (!det.contains("category") || !det["category"].is_string())
          throw fail(at, "expected a 'category' string (a key of detection_categories)");
        if (!categories.contains(det["category"].get_ref<const std::string&>()))
          throw fail(at + ".category", fmt::format("'{}' is not in detection_categories",
                                                   det["category"].get_ref<const std::string&>()));
        if (!det.contains("conf") || !det["conf"].is_number() || !std::isfinite(det["conf"].get<double>()))
          throw fail(at, fmt::format("expected a 'conf' number, got {}",
                                     det.contains("conf") ? detail::md_shown(det["conf"]) : std::string("none")));
        if (!det.contains("bbox")) throw fail(at, "expected a 'bbox' [x_min, y_min, width, height]");
        const auto& b = det["bbox"];
        bool ok = b.is_array() && b.size() == 4;
        for (std::size_t k = 0; ok && k < 4; ++k) ok = b[k].is_number() && std::isfinite(b[k].get<double>());
        if (ok) ok = b[2].get<double>() >= 0 && b[3].get<double>() >= 0;
        if (!ok)
          throw fail(at + ".bbox", fmt::format("expected [x_min, y_min, width, height]: 4 numbers, fractions of the "
                                               "image size, width and height >= 0; got {}", detail::md_shown(b)));
      }
    }
  }

  /// Write the document (MegaDetector's layout: one-space indent), atomically: a crash or a full
  /// disk never leaves a half-written file in place of `target`.
  void write(const std::filesystem::path& target) const {
    io::write_atomically(target, [&](std::ostream& out) {
      // Serialised straight into the stream: dump() would first build the whole text (one more
      // copy of the file's size in memory).
      nlohmann::detail::serializer<ordered_json> serializer(nlohmann::detail::output_adapter<char>(out), ' ',
                                                            ordered_json::error_handler_t::replace);
      serializer.dump(doc_, /*pretty_print=*/true, /*ensure_ascii=*/false, /*indent_step=*/1);
      out << '\n';
    });
  }

 private:
  ordered_json doc_ = ordered_json{{"info", {{"format_version", std::string(md_format_version)}}},
                                   {"detection_categories", md_detection_categories()},
                                   {"images", ordered_json::array()}};
  std::filesystem::path file_{};
};

}  // namespace tpt::predict
