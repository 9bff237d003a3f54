// Writing files so that a crash, a full disk or an exception never leaves a half-written file in
// place of a good one: write beside the target, flush, then rename over it.
#pragma once

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt::io {

/// A suffix for a temporary file name that no other writer picks: the process id alone is not
/// enough (containers sharing a folder each run as pid 1; machines share network folders), so
/// it adds 64 random bits drawn once per process and a per-process counter.
inline std::string unique_temporary_suffix() {
  static const std::uint64_t process_bits = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ std::uint64_t{device()} ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }();
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("{}-{:016x}-{}", static_cast<long>(::getpid()), process_bits, counter++);
}

namespace detail {
/// The name write_atomically gives the temporary files of `target`, up to the writer's suffix.
inline std::string temporary_prefix(const std::filesystem::path& target) {
  return fmt::format(".{}.tmp-", target.filename().string());
}
}  // namespace detail

/// Remove what write_atomically left beside `target` when its process died mid-write (kill -9, a
/// power loss): temporary files of `target` whose writer is not running on this machine and that
/// have not changed for `quiet`. A write in progress keeps touching its file, so the age also
/// spares a writer on another machine sharing the folder, whose process id means nothing here.
/// Returns how many files were removed; a file that cannot be examined or removed is left (this
/// is tidying: nothing depends on it).
inline std::size_t remove_abandoned_temporaries(const std::filesystem::path& target,
                                                std::chrono::seconds quiet = std::chrono::seconds(60)) {
  namespace fs = std::filesystem;
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = detail::temporary_prefix(target);
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    long pid = 0;
    const char* first = name.data() + prefix.size();
    const auto [rest, parse] = std::from_chars(first, name.data() + name.size(), pid);
    if (parse != std::errc{} || rest == first || *rest != '-' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // running (or not ours to ask)
    std::error_code file_ec;
    const auto changed = fs::last_write_time(it->path(), file_ec);
    if (file_ec || fs::file_time_type::clock::now() - changed < quiet) continue;
    if (fs::remove(it->path(), file_ec) && !file_ec) ++removed;
  }
  return removed;
}

namespace detail {
/// What a path names when it is neither a regular file nor a folder, for messages.
inline std::string special_file_kind(std::filesystem::file_type type) {
  switch (type) {
    case std::filesystem::file_type::character: return "a character device";
    case std::filesystem::file_type::block: return "a block device";
    case std::filesystem::file_type::fifo: return "a FIFO";
    case std::filesystem::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

}  // namespace detail

/// Where write_atomically puts what it writes for `target`. Code that prepares an output before
/// writing it (probing its folder, locking it) asks the same question, so both agree on what
/// the output is.
struct write_destination {
  std::filesystem::path file;  ///< the target, or the file a symbolic link at the target leads to
  bool stream = false;         ///< a character device or FIFO (/dev/null, /dev/stdout, a pipe): written directly
};

/// A symbolic link at `target` is written through, so the link stays and what it names is updated
/// (renaming over the link would leave that file stale). A character device or FIFO is written
/// into as a stream (renaming over it would replace /dev/null, say, with a regular file), and so
/// is a link under /dev or /proc (/dev/stdout redirected to a file); a block device or socket is
/// refused.
inline write_destination destination_of(const std::filesystem::path& target) {
  namespace fs = std::filesystem;
  std::error_code ec;
  write_destination d{target, false};
  // Following links the way open() does: /dev/stdout leads through /proc's own links to a
  // terminal, a pipe or a file, and only the kernel can follow the pipe's.
  const auto status = fs::status(target, ec);
  if (!ec && (status.type() == fs::file_type::character || status.type() == fs::file_type::fifo)) {
    d.stream = true;
    return d;
  }
  if (!ec && fs::exists(status) && !fs::is_regular_file(status) && !fs::is_directory(status))
    throw input_error(target, fmt::format("is {}, not a file to write results into; name a regular file",
                                          detail::special_file_kind(status.type())));
  const bool link = fs::is_symlink(fs::symlink_status(target, ec));
  // /dev/stdout, /dev/fd/3, /proc/self/fd/1 are links to a descriptor the caller opened
  // (`> file`): written into, as a shell redirection would be, not replaced behind its back.
  const std::string spelled = fs::absolute(target, ec).lexically_normal().string();
  if (link && fs::exists(status) && (spelled.starts_with("/dev/") || spelled.starts_with("/proc/"))) {
    d.stream = true;
    return d;
  }
  if (link) {
    d.file = fs::weakly_canonical(fs::absolute(target, ec), ec);
    if (ec) throw input_error(target, fmt::format("cannot follow the symbolic link: {}", ec.message()));
  }
  return d;
}

namespace detail {
/// Write into a character device or FIFO: nothing to replace, so nothing to make atomic.
inline void write_stream(const std::filesystem::path& requested, const std::filesystem::path& file,
                         const std::function<void(std::ostream&)>& write, std::ios::openmode mode) {
  errno = 0;
  std::ofstream out(file, mode | std::ios::out);
  if (!out) throw input_error(requested, fmt::format("cannot open for writing: {}", errno ? std::strerror(errno) : "refused"));
  write(out);
  out.flush();
  if (!out) throw input_error(requested, fmt::format("write failed: {}", errno ? std::strerror(errno) : "stream error"));
}
}  // namespace detail

/// Write a file atomically: `write` fills a stream for a temporary file in the same folder; on
/// success the data is flushed to disk and renamed over `target`. If `write` throws or the disk
/// fills, the temporary file is removed and `target` is left exactly as it was. A symbolic link
/// at `target` is written through; a character device or FIFO there (/dev/null, /dev/stdout) is
/// written into directly, a block device or socket refused.
inline void write_atomically(const std::filesystem::path& requested,
                             const std::function<void(std::ostream&)>& write,
                             std::ios::openmode mode = std::ios::out) {
  namespace fs = std::filesystem;
  const auto destination = destination_of(requested);
  if (destination.stream) return detail::write_stream(requested, destination.file, write, mode);
  const fs::path& target = destination.file;
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw input_error(folder, fmt::format("cannot create folder: {}", ec.message()));

  const fs::path tmp = folder / (detail::temporary_prefix(target) + unique_temporary_suffix());
  try {
    {
      errno = 0;
      std::ofstream out(tmp, mode | std::ios::out | std::ios::trunc);
      if (!out)
        throw input_error(requested, fmt::format("cannot write a file in {}: {}", folder.string(),
                                                 errno ? std::strerror(errno) : "cannot create a file there"));
      write(out);
      out.flush();
      if (!out) throw input_error(target, "write failed (disk full?)");
    }
    // fsync so that the rename never exposes a file whose data is not on disk yet.
    const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw input_error(tmp, "cannot reopen to flush it to disk");
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw input_error(target, "fsync failed");
    fs::rename(tmp, target, ec);
    if (ec) throw input_error(target, fmt::format("cannot replace: {}", ec.message()));
    // And the folder, so that the rename itself survives a power loss (best effort: some file
    // systems refuse to fsync a folder, and the data is safe either way).
    if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
      (void)::fsync(dir);
      ::close(dir);
    }
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

/// Make `dir` (and its parents) and prove a file can be created there, so that a folder that
/// cannot take results is refused before any work rather than after it.
inline void check_writable_folder(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw input_error(dir, fmt::format("cannot create folder: {}", ec.message()));
  if (!std::filesystem::is_directory(dir, ec)) throw input_error(dir, "is not a folder");
  const auto probe = dir / fmt::format(".write-test-{}", unique_temporary_suffix());
  {
    errno = 0;
    std::ofstream out(probe);
    out << "x";
    if (!out.flush()) {
      const int e = errno;
      std::filesystem::remove(probe, ec);
      throw input_error(dir, fmt::format("cannot write files into this folder{}", e ? fmt::format(": {}", std::strerror(e)) : ""));
    }
  }
  std::filesystem::remove(probe, ec);
}

/// Convenience: write a whole string atomically.
inline void write_text_atomically(const std::filesystem::path& target, std::string_view text) {
  write_atomically(target, [&](std::ostream& out) { out << text; });
}

/// Whether two paths name one file: the same file under two spellings ('./o.json', 'a/../o.json',
/// a symbolic link, a hard link) or, for files not yet there, the same place. Used to refuse an
/// output that would be written over an input, or a checkpoint that would be deleted with it.
inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code ec;
  if (std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec)) {
    const bool same = std::filesystem::equivalent(a, b, ec);
    if (!ec) return same;
  }
  std::error_code ec_a, ec_b;
  const auto ra = std::filesystem::weakly_canonical(std::filesystem::absolute(a), ec_a);
  const auto rb = std::filesystem::weakly_canonical(std::filesystem::absolute(b), ec_b);
  return !ec_a && !ec_b && ra == rb;
}

/// Read a whole file into a string; tpt::input_error if it is missing or unreadable.
inline std::string read_text(const std::filesystem::path& file) {
  std::error_code ec;
  // A folder would give a cryptic stream error. (Devices and FIFOs are read: /dev/stdin, <(...).)
  if (std::filesystem::is_directory(file, ec)) throw input_error(file, "is a folder, expected a file");
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw input_error(file, std::filesystem::exists(file, ec) ? "cannot open for reading"
                                                             : "no such file");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw input_error(file, "read failed");
  return text;
}

}  // namespace tpt::io
