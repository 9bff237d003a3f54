// An image folder tree as a dataset: one sub-folder per class (as torchvision's ImageFolder reads
// it), images found recursively inside each, in a stable order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tpt/core/error.hpp"
#include "tpt/data/records.hpp"

namespace tpt::data {

struct image_folder_options {
  /// File name endings that count as images (compared without regard to case).
  std::vector<std::string> extensions = {".jpg", ".jpeg", ".png"};
  /// The category list. Empty: the class sub-folders, sorted by name. Given: class i is the
  /// sub-folder named class_names[i]; a sub-folder not in the list is a bad record.
  std::vector<std::string> class_names{};
  /// A class with no images is an error unless this is set (its count is then 0).
  bool allow_empty_classes = false;
  bad_record_policy on_bad_record = bad_record_policy::fail;
  /// Where to write the skipped records (CSV) under bad_record_policy::skip.
  std::optional<std::filesystem::path> skipped_list{};
};

namespace detail {

inline bool has_image_extension(const std::filesystem::path& p, const std::vector<std::string>& exts) {
  const std::string ext = lower_ascii(p.extension().string());
  return std::any_of(exts.begin(), exts.end(),
                     [&](const std::string& e) { return lower_ascii(e) == ext; });
}

inline bool is_inside(const std::filesystem::path& real, const std::filesystem::path& real_root) {
  auto p = real.begin();
  for (auto r = real_root.begin(); r != real_root.end(); ++r, ++p)
    if (p == real.end() || *p != *r) return false;
  return true;
}

/// Walks one class folder. Links are followed, but a link that leads outside the root is a bad
/// record, and a folder reached twice (a link cycle) is visited once, so the walk always ends.
struct folder_walk {
  const std::filesystem::path& root;
  std::filesystem::path real_root;
  const image_folder_options& options;
  bad_records& problems;
  std::set<std::filesystem::path> visited;

  void walk(const std::filesystem::path& folder, const std::string& relative,
            std::vector<std::pair<std::string, std::string>>& files) {
    std::error_code ec;
    const auto real = std::filesystem::canonical(folder, ec);
    if (ec) throw input_error(folder, fmt::format("cannot resolve folder: {}", ec.message()));
    if (!is_inside(real, real_root)) {
      problems.add(bad_records::kind::bad_path, folder, std::nullopt, {}, relative, {},
                   fmt::format("a symbolic link leads outside the image root to '{}'", real.string()));
      return;
    }
    if (!visited.insert(real).second) return;
    std::vector<std::filesystem::directory_entry> entries;
    std::filesystem::directory_iterator it(folder, ec);
    if (ec) throw input_error(folder, fmt::format("cannot list folder: {}", ec.message()));
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (ec) throw input_error(folder, fmt::format("cannot list folder: {}", ec.message()));
      entries.push_back(*it);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      return a.path().filename().string() < b.path().filename().string();
    });
    for (const auto& e : entries) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name.front() == '.') continue;  // hidden files and folders
      const std::string rel = relative + "/" + name;
      if (e.is_directory(ec)) {
        walk(e.path(), rel, files);
      } else if (e.is_regular_file(ec) && has_image_extension(e.path(), options.extensions)) {
        if (e.is_symlink(ec)) {
          const auto target = std::filesystem::canonical(e.path(), ec);
          if (ec || !is_inside(target, real_root)) {
            problems.add(bad_records::kind::bad_path, e.path(), std::nullopt, {}, rel, {},
                         fmt::format("a symbolic link leads outside the image root to '{}'",
                                     ec ? std::string("?") : target.string()));
            continue;
          }
        }
        files.emplace_back(rel, name);
      }
    }
  }
};

}  // namespace detail

/// Read an image folder tree: `root/<class>/.../<image>`. Classes are the sub-folders in name
/// order (or options.class_names); images are the files with an image extension anywhere under a
/// class folder, sorted by path; hidden files and folders (".name") and files directly in the
/// root are ignored. Errors: tpt::input_error for a missing root, a root without class folders
/// or a class without images; bad records (unlisted class folders, links out of the root)
/// follow options.on_bad_record.
inline dataset_index read_image_folder(const std::filesystem::path& root,
                                       const image_folder_options& options = {}) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(root, ec)) throw input_error(root, "no such folder (expected an image folder tree)");
  if (!fs::is_directory(root, ec))
    throw input_error(root, "not a folder (expected an image folder tree: one sub-folder per class)");

  std::vector<std::string> folders;
  for (fs::directory_iterator it(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name.front() != '.' && it->is_directory(ec)) folders.push_back(name);
  }
  if (ec) throw input_error(root, fmt::format("cannot list folder: {}", ec.message()));
  std::sort(folders.begin(), folders.end());

  dataset_index index;
  index.image_root = root;
  detail::bad_records problems;
  if (options.class_names.empty()) {
    if (folders.empty())
      throw input_error(root, "no class sub-folders (expected one sub-folder per class, each "
                              "holding that class's images)");
    index.class_names = folders;
  } else {
    index.class_names = options.class_names;
  }

  detail::folder_walk walker{root, fs::canonical(root, ec), options, problems, {}};
  if (ec) throw input_error(root, fmt::format("cannot resolve folder: {}", ec.message()));
  std::vector<std::int64_t> counts(index.class_names.size(), 0);
  for (const auto& folder : folders) {
    std::vector<std::pair<std::string, std::string>> files;
    walker.walk(root / folder, folder, files);
    const auto label = index.class_index(folder);
    if (!label) {
      if (files.empty()) continue;  // an empty folder outside the list harms nothing
      for (const auto& [rel, name] : files)
        problems.add(detail::bad_records::kind::unknown_label, root / rel, std::nullopt, {}, rel,
                     folder, "the folder is not in the class list");
      continue;
    }
    std::sort(files.begin(), files.end());
    for (auto& [rel, name] : files) {
      index.samples.push_back({std::move(rel), *label, std::nullopt, {}, {}});
      ++counts[static_cast<std::size_t>(*label)];
    }
  }
  problems.finish(options.on_bad_record, index.class_names, index, options.skipped_list);
  if (!options.allow_empty_classes) {
    for (std::size_t c = 0; c < counts.size(); ++c)
      if (counts[c] == 0)
        throw input_error(root / index.class_names[c],
                          fmt::format("class '{}' has no images (expected files ending in {}; "
                                      "image_folder_options::allow_empty_classes permits this)",
                                      index.class_names[c], fmt::join(options.extensions, ", ")));
  }
  index.validate(root);
  return index;
}

}  // namespace tpt::data
