// A read-only memory map of a whole file: the decoded cache's images, and MegaDetector files
// parsed in place (their bytes stay in the page cache, which the kernel can reclaim, instead of
// a heap copy beside the parsed document).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt::io {

/// A read-only memory map of a whole file, unmapped when the last user lets go.
class mapped_file {
 public:
  mapped_file(const std::filesystem::path& file) : path_(file) {  // NOLINT
    // O_NONBLOCK: a FIFO is refused below instead of waiting for a writer.
    fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) {
      const int e = errno;
      if (e == ENOENT) throw input_error(file, "no such file");
      throw input_error(file, fmt::format("cannot open: {}", std::generic_category().message(e)));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw input_error(file, S_ISDIR(st.st_mode) ? "is a folder, not a file" : "not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd_);
        throw input_error(file, fmt::format("cannot map: {}", std::generic_category().message(e)));
      }
      data_ = static_cast<const std::uint8_t*>(p);
    }
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() {
    if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] const std::uint8_t* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tpt::io
