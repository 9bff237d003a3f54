// Helpers shared by tpt's tests: scratch folders that clean up after themselves.
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <string>
#include <system_error>

#include <unistd.h>

#include <fmt/format.h>

namespace tpt::test {

/// How many times needle occurs in s (overlapping matches counted).
inline std::size_t count(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

/// A fresh folder under the system temp dir, removed with everything in it on destruction.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& tag = "tpt") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("{}-{}-{}", tag, static_cast<long>(::getpid()), counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace tpt::test
