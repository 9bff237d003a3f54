// What can be wrong with an image file, and the exceptions that say so: one bad image
// (image_error) or the full list a preflight pass or a cache build found (bad_images_error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt::data {

/// Why an image cannot be used. Each maps to a different fix for the user: a missing file needs
/// the manifest or the folder fixed, a truncated one a fresh copy, an unsupported one converting.
enum class image_problem {
  missing,      ///< no such file
  unreadable,   ///< exists but cannot be read (permissions, a folder, an I/O error)
  empty,        ///< zero bytes
  truncated,    ///< the data ends early (an interrupted copy or download)
  corrupt,      ///< the data is damaged or is not what its signature says
  unsupported,  ///< a format or variant tpt does not decode (GIF, WebP, CMYK JPEG, ...)
  too_large,    ///< the header claims more pixels than the limit (a decompression bomb)
  outside_root, ///< the path is absolute, climbs out of the image root with '..', or a link leads out
};

[[nodiscard]] constexpr std::string_view to_string(image_problem p) noexcept {
  switch (p) {
    case image_problem::missing: return "missing";
    case image_problem::unreadable: return "unreadable";
    case image_problem::empty: return "empty";
    case image_problem::truncated: return "truncated";
    case image_problem::corrupt: return "corrupt";
    case image_problem::unsupported: return "unsupported";
    case image_problem::too_large: return "too large";
    case image_problem::outside_root: return "outside the image root";
  }
  return "unknown";
}

/// One image that cannot be decoded. what() reads "cam3/IMG_0042.JPG: truncated: JPEG data end
/// early (Premature end of JPEG file)".
class image_error : public input_error {
 public:
  image_error(std::filesystem::path file, image_problem problem, std::string detail)
      : input_error(std::move(file), fmt::format("{}: {}", to_string(problem), detail)),
        problem_(problem),
        detail_(std::move(detail)) {}

  [[nodiscard]] image_problem problem() const noexcept { return problem_; }
  [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

 private:
  image_problem problem_;
  std::string detail_;
};

/// One entry of a preflight or cache-build report: which image (its position in the list the
/// caller gave, and its path as given) and what is wrong with it.
struct image_issue {
  std::size_t index = 0;
  std::string path{};
  image_problem problem = image_problem::corrupt;
  std::string detail{};

  friend bool operator==(const image_issue&, const image_issue&) = default;
  friend std::ostream& operator<<(std::ostream& out, const image_issue& i) {
    return out << i.path << ": " << to_string(i.problem) << ": " << i.detail;
  }
};

/// Several images are unusable and the user asked to fail (the default). The message lists them
/// (all of them, or the first ones and the file that holds the full list); issues() has them all.
class bad_images_error : public input_error {
 public:
  bad_images_error(std::filesystem::path where, std::size_t checked,
                   std::vector<image_issue> issues, std::filesystem::path full_list = {},
                   std::size_t max_listed = static_cast<std::size_t>(-1))
      : input_error(where, describe(checked, issues, full_list, max_listed)),
        issues_(std::move(issues)),
        full_list_(std::move(full_list)) {}

  [[nodiscard]] const std::vector<image_issue>& issues() const noexcept { return issues_; }
  /// The file holding the full list, when one was written; empty otherwise.
  [[nodiscard]] const std::filesystem::path& full_list() const noexcept { return full_list_; }

 private:
  static std::string describe(std::size_t checked, const std::vector<image_issue>& issues,
                              const std::filesystem::path& full_list, std::size_t max_listed) {
    std::string text = fmt::format("{} of {} images are unusable", issues.size(), checked);
    if (!full_list.empty()) text += fmt::format(" (full list in {})", full_list.string());
    text += ":";
    std::size_t listed = 0;
    for (const auto& issue : issues) {
      if (listed++ == max_listed) {
        text += fmt::format("\n  ... and {} more", issues.size() - max_listed);
        break;
      }
      text += fmt::format("\n  {}: {}: {}", issue.path, to_string(issue.problem), issue.detail);
    }
    return text;
  }

  std::vector<image_issue> issues_;
  std::filesystem::path full_list_;
};

}  // namespace tpt::data

template <>
struct fmt::formatter<tpt::data::image_problem> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::image_problem p, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::data::to_string(p), ctx);
  }
};

template <>
struct fmt::formatter<tpt::data::image_issue> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::image_issue& i, FormatContext& ctx) const {
    return fmt::format_to(ctx.out(), "{}: {}: {}", i.path, tpt::data::to_string(i.problem),
                          i.detail);
  }
};
