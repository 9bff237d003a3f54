// One run at a time on an output: an exclusive advisory lock (flock) on a lock file, held for the
// lock object's lifetime and dropped by the kernel however the process ends.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt::io {

/// An exclusive lock on `file` (created if missing), taken at construction or refused at once:
/// a second taker, in another process or this one, gets an input_error naming `what` (the output
/// the lock protects), the holder's process id (which the file holds) and `hint`. With
/// `remove_on_release` the file is deleted on release, so no lock file stays beside a user's
/// output; a taker that opened the file just before its deletion notices that the path no longer
/// names the file it locked, and takes the new one.
class exclusive_file_lock {
 public:
  exclusive_file_lock(std::filesystem::path file, const std::filesystem::path& what, std::string_view hint,
                      bool remove_on_release = false)
      : file_(std::move(file)), remove_(remove_on_release) {
    for (int attempt = 0;; ++attempt) {
      fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd_ < 0) throw input_error(file_, fmt::format("cannot open the lock file: {}", std::strerror(errno)));
      if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char buf[32] = {};
        const auto n = ::pread(fd_, buf, sizeof buf - 1, 0);
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK) {
          const std::string holder(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
          throw input_error(what, fmt::format("is in use by another run{}; {}",
                                              holder.empty() ? std::string() : fmt::format(" (process {})", holder), hint));
        }
        throw input_error(file_, fmt::format("cannot lock: {}", std::strerror(err)));
      }
      struct stat held {}, named {};
      if (::fstat(fd_, &held) == 0 && ::stat(file_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
          held.st_dev == named.st_dev)
        break;
      // The file locked was deleted by the holder releasing it: lock the one the path names now.
      ::close(fd_);
      fd_ = -1;
      if (attempt == 100) throw input_error(file_, "cannot lock: the lock file keeps being replaced");
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      // The lock holds without the id: only the message of a second run would lack it.
    }
  }
  exclusive_file_lock(const exclusive_file_lock&) = delete;
  exclusive_file_lock& operator=(const exclusive_file_lock&) = delete;
  ~exclusive_file_lock() {
    if (remove_) ::unlink(file_.c_str());  // while still held: no taker can lock the old file after
    ::close(fd_);
  }

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  std::filesystem::path file_;
  bool remove_ = false;
  int fd_ = -1;
};

}  // namespace tpt::io
