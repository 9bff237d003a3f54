// Which version of a file is on disk: its size and modification time to the nanosecond, the
// cheap test (one stat) that the decoded cache and tpt-predict's checkpoints use to notice a
// file replaced under the same name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include <sys/stat.h>

namespace tpt::io {

struct file_stamp {
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;  ///< modification time, nanoseconds since the epoch
  friend bool operator==(const file_stamp&, const file_stamp&) = default;
};

/// The stamp of `file` now; nullopt when it cannot be stat'ed (missing, a broken link).
inline std::optional<file_stamp> stamp_of(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  return file_stamp{static_cast<std::int64_t>(st.st_size),
                    static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace tpt::io
