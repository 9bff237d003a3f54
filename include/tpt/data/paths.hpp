// Paths from a manifest, a COCO file or a user, taken relative to an image root: which of them
// may name an image (no absolute paths, no '..' above the root, no links leading out of it), the
// one spelling of each, and the file each names. One set of rules for every data source, the
// decoded cache, preflight and tpt-predict.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/utf8.hpp"

namespace tpt::data {

namespace detail {

/// Walks the '/'-separated components of `raw` that move through the tree: `up()` for each '..',
/// `down(name)` for each other non-empty component other than '.'. Stops early when a callback
/// returns false.
template <class Up, class Down>
bool walk_components(std::string_view raw, Up&& up, Down&& down) {
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t end = raw.find('/', start);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view part = raw.substr(start, end - start);
    if (part == "..") {
      if (!up()) return false;
    } else if (!part.empty() && part != ".") {
      if (!down(part)) return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace detail

/// `raw` with backslashes as '/': a manifest or MegaDetector file written on Windows names
/// 'cam1\\img.jpg'. (A file whose name holds a backslash can therefore not be listed in one; the
/// folder source finds it.)
inline std::string forward_slashes(std::string raw) {
  std::replace(raw.begin(), raw.end(), '\\', '/');
  return raw;
}

/// Why `raw` cannot name an image under the image root, or nullopt when it can. Rejected: empty
/// paths, absolute paths, paths whose '..' components climb out of the root, the root itself,
/// folder paths (trailing '/'), NUL bytes, bytes that are not UTF-8 (a Latin-1 name: caches,
/// checkpoints and results are JSON, which cannot hold it), and control characters (a line break
/// in a name makes a split file or results CSV that no CSV reader can read back line by line).
/// Purely lexical: symbolic links are checked by root_guard (or resolve_under_root) when a file
/// is opened.
inline std::optional<std::string> path_problem(std::string_view raw) {
  if (raw.empty()) return "empty path";
  if (raw.find('\0') != std::string_view::npos) return "path contains a NUL byte";
  if (!utf8::valid(raw)) return fmt::format("path '{}' is not UTF-8 (rename the file)", utf8::shown(raw));
  if (std::any_of(raw.begin(), raw.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; })) {
    std::string shown;
    for (char c : raw)
      shown += static_cast<unsigned char>(c) < 0x20 || c == 0x7F ? fmt::format("\\x{:02X}", static_cast<unsigned char>(c))
                                                                 : std::string(1, c);
    return fmt::format("path '{}' contains a control character (a line break, a tab; rename the file)", shown);
  }
  if (raw.front() == '/')
    return fmt::format("absolute path '{}' (expected a path relative to the image root)", raw);
  if (raw.back() == '/') return fmt::format("'{}' names a folder, expected an image file", raw);
  std::ptrdiff_t depth = 0;
  const auto up = [&] { return --depth >= 0; };
  const auto down = [&](std::string_view) {
    ++depth;
    return true;
  };
  if (!detail::walk_components(raw, up, down))
    return fmt::format("path '{}' escapes the image root ('..' above the root)", raw);
  if (depth == 0) return fmt::format("path '{}' names the image root itself, not an image", raw);
  return std::nullopt;
}

/// `raw` in normal form: '/'-separated, without empty, '.' or '..' components, so that one image
/// has one spelling (duplicates are found by string comparison). Requires !path_problem(raw).
/// Already-normal paths (nearly all of them) are returned without rebuilding.
inline std::string normal_relative_path(std::string_view raw) {
  const bool normal = raw.find("//") == std::string_view::npos &&
                      raw.find("/./") == std::string_view::npos &&
                      raw.find("/../") == std::string_view::npos && !raw.starts_with("./") &&
                      !raw.starts_with("../") && !raw.ends_with("/.") && !raw.ends_with("/..") &&
                      raw != "." && raw != "..";
  if (normal) return std::string(raw);
  std::vector<std::string_view> parts;
  detail::walk_components(
      raw,
      [&] {
        if (!parts.empty()) parts.pop_back();
        return true;
      },
      [&](std::string_view part) {
        parts.push_back(part);
        return true;
      });
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

/// An image root resolved once (symbolic links followed), for checking where many files lead:
/// what the decoded cache, preflight and tpt-predict do before they open a file, since a path
/// that is lexically safe can still leave the root through a link.
class root_guard {
 public:
  /// tpt::input_error when the root cannot be resolved.
  explicit root_guard(const std::filesystem::path& root) {
    std::error_code ec;
    real_root_ = std::filesystem::weakly_canonical(root, ec);
    if (ec) throw input_error(root, fmt::format("cannot resolve the image root: {}", ec.message()));
  }

  /// Where `file` (a path under the root) really leads, when a symbolic link on the way takes it
  /// outside the root; nullopt when it stays inside. A file that does not exist resolves as far
  /// as it exists: opening it then reports it missing.
  [[nodiscard]] std::optional<std::filesystem::path> outside(const std::filesystem::path& file) const {
    std::error_code ec;
    const auto real = std::filesystem::weakly_canonical(file, ec);
    if (ec) return std::nullopt;  // cannot be resolved (permissions, a loop): opening it will say why
    auto p = real.begin();
    for (auto r = real_root_.begin(); r != real_root_.end(); ++r, ++p)
      if (p == real.end() || *p != *r) return real;
    return std::nullopt;
  }

  /// Why `file` must not be read, in words, or nullopt.
  [[nodiscard]] std::optional<std::string> problem(const std::filesystem::path& file) const {
    if (auto real = outside(file)) return fmt::format("a symbolic link leads outside the image root to '{}'", real->string());
    return std::nullopt;
  }

 private:
  std::filesystem::path real_root_;
};

/// The file `relative` names under `root`, after following symbolic links; tpt::input_error when
/// the path is unsafe or a link leads outside the root. For checking many files, root_guard
/// resolves the root once.
inline std::filesystem::path resolve_under_root(const std::filesystem::path& root,
                                                std::string_view relative) {
  if (auto why = path_problem(relative)) throw input_error(root, *why);
  const root_guard guard(root);
  const auto file = root / std::string(relative);
  if (auto why = guard.problem(file)) throw input_error(file, *why);
  std::error_code ec;
  const auto real = std::filesystem::weakly_canonical(file, ec);
  if (ec) throw input_error(file, fmt::format("cannot resolve: {}", ec.message()));
  return real;
}

/// root / relative, after path_problem(relative) found nothing wrong; otherwise tpt::input_error
/// naming `relative` (the root for an empty one) and the reason. Lexical, for code that builds
/// paths before any file is opened; root_guard checks the links when the file is about to be read.
[[nodiscard]] inline std::filesystem::path path_under_root(const std::filesystem::path& root,
                                                           std::string_view relative) {
  if (auto why = path_problem(relative))  // an empty path has no name to show: the root stands in
    throw input_error(relative.empty() ? root : std::filesystem::path(relative), *why);
  return root / std::string(relative);
}

}  // namespace tpt::data
