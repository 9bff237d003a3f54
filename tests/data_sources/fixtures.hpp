// Fixtures for the data_sources suite: small files the tests write into scratch folders.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "tpt_test_support.hpp"

namespace tpt::test {

/// Write `text` to `file`, creating folders; returns the path.
inline std::filesystem::path write_file(const std::filesystem::path& file, std::string_view text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << text;
  return file;
}

/// A small COCO Camera Traps document in LILA's shape. `images`, `annotations`, `categories` are
/// the array bodies (without brackets); `order` lists the members in file order ("iac": images,
/// annotations, categories; "i" etc. may be left out to test missing members).
inline std::string coco_json(std::string_view images, std::string_view annotations,
                             std::string_view categories, std::string_view order = "iac") {
  std::string out = "{\n \"info\": {\"version\": \"2.1\", \"description\": \"test\"}";
  for (char m : order) {
    if (m == 'i') out += fmt::format(",\n \"images\": [{}]", images);
    if (m == 'a') out += fmt::format(",\n \"annotations\": [{}]", annotations);
    if (m == 'c') out += fmt::format(",\n \"categories\": [{}]", categories);
  }
  out += "\n}\n";
  return out;
}

inline std::string coco_image(std::string_view id, std::string_view file_name, std::string_view seq_id,
                              std::string_view location) {
  return fmt::format(
      R"({{"id": "{}", "file_name": "{}", "seq_id": "{}", "location": "{}", "frame_num": 1, "datetime": "2011-05-01 10:00:00", "width": 2048, "height": 1536}})",
      id, file_name, seq_id, location);
}

inline std::string coco_annotation(std::string_view id, std::string_view image_id, long category) {
  return fmt::format(R"({{"id": "{}", "image_id": "{}", "category_id": {}, "sequence_level_annotation": true}})",
                     id, image_id, category);
}

}  // namespace tpt::test
