// Joining an image root and a path from a manifest, refusing paths that would leave the root.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "tpt/core/error.hpp"

namespace tpt::data::detail {

/// root / relative, after checking that `relative` is relative and does not climb out of the
/// root ("../x.jpg", "a/../../x.jpg"): a manifest must not make tpt read arbitrary files.
inline std::filesystem::path path_under_root(const std::filesystem::path& root, std::string_view relative) {
  const std::filesystem::path rel(relative);
  if (relative.empty()) throw input_error(root, "an image path is empty");
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    throw input_error(std::string(relative),
                      "absolute image path; expected a path relative to the image root " + root.string());
  const std::filesystem::path normal = rel.lexically_normal();
  if (!normal.empty() && *normal.begin() == "..")
    throw input_error(std::string(relative), "image path leaves the image root " + root.string() +
                                                 " (through '..')");
  return root / rel;
}

}  // namespace tpt::data::detail
