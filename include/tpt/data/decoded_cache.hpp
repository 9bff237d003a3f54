// The decoded cache: every image decoded and resized once into one memory-mapped file of uint8
// HWC images at a fixed working size (as FFCV does), so epochs never decode a JPEG again. The
// file records its inputs and settings; it is reused while they are unchanged and rebuilt
// (beside, then renamed over) when they change or when the file is damaged.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <zlib.h>

#include "tpt/core/error.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/file_stamp.hpp"
#include "tpt/io/mapped_file.hpp"
#include "tpt/data/detail/parallel.hpp"
#include "tpt/data/paths.hpp"
#include "tpt/data/image.hpp"
#include "tpt/data/image_error.hpp"
#include "tpt/data/resize.hpp"

namespace tpt::data {

/// What the cache holds: the working size and how frames get there. Changing any of these
/// rebuilds the cache.
struct cache_settings {
  std::int64_t height = 256;  ///< the paper resized to 256 x 256 once, up front
  std::int64_t width = 256;
  std::int64_t channels = 3;  ///< 1 (grey) or 3 (RGB)
  resize_policy policy = resize_policy::stretch;
  resize_filter filter = resize_filter::triangle;
  bool dct_scaling = true;   ///< decode JPEGs at 1/2, 1/4 or 1/8 scale when still >= the working size
  bool exif_orientation = true;  ///< frames upright as their EXIF tag says; see decode_options::apply_exif_orientation
  bool strict_jpeg = true;   ///< libjpeg warnings (corrupt data) are errors; see decode_options::strict
  std::int64_t max_pixels = decode_options{}.max_pixels;

  friend bool operator==(const cache_settings&, const cache_settings&) = default;
};

/// How the cache tells whether an input file changed.
enum class cache_fingerprint {
  size_and_mtime,  ///< size and modification time (nanoseconds): a stat per file, the default
  content,         ///< size and CRC-32 of the bytes: reads every file; for file systems whose mtimes lie
};

/// How much of an existing cache file is checked before it is reused.
enum class cache_verification {
  structure,  ///< header checksums, exact file size, trailer, checksum table: O(1) reads
  full,       ///< also every image's CRC-32 (reads the whole file)
};

struct cache_options {
  std::size_t threads = 0;  ///< decode threads; 0 = all hardware threads. Results do not depend on it.
  cache_fingerprint fingerprint = cache_fingerprint::size_and_mtime;
  cache_verification verification = cache_verification::structure;
};

/// uint8 images in memory, N x H x W x C (HWC per image), e.g. Fashion-MNIST's N x 28 x 28 x 1.
struct image_batch_view {
  const std::uint8_t* pixels = nullptr;
  std::int64_t count = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t channels = 0;

  [[nodiscard]] image_view operator[](std::int64_t i) const noexcept {
    return {pixels + i * height * width * channels, height, width, channels};
  }
  [[nodiscard]] std::size_t size_bytes() const noexcept {
    return static_cast<std::size_t>(count * height * width * channels);
  }
};

namespace detail {

inline constexpr std::array<char, 8> cache_magic{'T', 'P', 'T', 'D', 'C', 'A', 'C', 'H'};
inline constexpr std::array<char, 8> cache_trailer_magic{'T', 'P', 'T', 'D', 'C', 'E', 'N', 'D'};
// Version 2: the checksum table starts on an 8-byte boundary (version 1 put it right after the
// images, where uint32 reads were misaligned whenever the images' total size was not a multiple
// of 4). Older files are rebuilt, with the version named as the reason.
inline constexpr std::uint32_t cache_format_version = 2;
inline constexpr std::uint64_t cache_table_alignment = 8;
inline constexpr std::uint64_t cache_page = 4096;

/// The fixed-size block at offset 0. Native little-endian, as every platform LibTorch runs on.
struct cache_file_header {
  std::array<char, 8> magic;
  std::uint32_t version;
  std::uint32_t header_crc;  ///< CRC-32 of this block with header_crc zeroed
  std::uint64_t json_offset;
  std::uint64_t json_size;
  std::uint32_t json_crc;
  std::uint32_t reserved;
  std::uint64_t count, height, width, channels;
  std::uint64_t data_offset;      ///< page-aligned start of image 0
  std::uint64_t checksum_offset;  ///< count x uint32 CRC-32, one per image; 8-byte aligned after the images
  std::uint64_t trailer_offset;
  std::array<std::uint8_t, 32> padding;
};
static_assert(sizeof(cache_file_header) == 128);

struct cache_file_trailer {
  std::array<char, 8> magic;
  std::uint32_t checksum_table_crc;
  std::uint32_t reserved;
};
static_assert(sizeof(cache_file_trailer) == 16);

inline std::uint32_t crc32_of(const void* data, std::size_t size) {
  // zlib's crc32 takes uInt lengths; feed it in chunks.
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (size > 0) {
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    size -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

inline std::uint32_t header_crc(cache_file_header h) {
  h.header_crc = 0;
  return crc32_of(&h, sizeof h);
}

/// A cache file after its structure checked out.
struct cache_mapping {
  std::shared_ptr<io::mapped_file> file;
  cache_file_header header{};
  nlohmann::json description;
  [[nodiscard]] const std::uint8_t* images() const noexcept { return file->data() + header.data_offset; }
  [[nodiscard]] const std::uint32_t* checksums() const noexcept {
    return reinterpret_cast<const std::uint32_t*>(file->data() + header.checksum_offset);
  }
};

inline std::uint64_t image_bytes_of(std::uint64_t h, std::uint64_t w, std::uint64_t c) { return h * w * c; }

/// Where the checksum table starts: after the images, rounded up to cache_table_alignment.
inline std::uint64_t table_offset(std::uint64_t data_offset, std::uint64_t count, std::uint64_t image_bytes) {
  const std::uint64_t end = data_offset + count * image_bytes;
  return (end + cache_table_alignment - 1) / cache_table_alignment * cache_table_alignment;
}

/// Open and check a cache file's structure; nullopt and a reason when it is not usable.
inline std::optional<cache_mapping> map_cache(const std::filesystem::path& file, cache_verification verify,
                                              std::size_t threads, std::string& reason) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    reason = "no cache file yet";
    return std::nullopt;
  }
  cache_mapping m;
  try {
    m.file = std::make_shared<io::mapped_file>(file);
  } catch (const input_error& e) {
    reason = e.reason();
    return std::nullopt;
  }
  const std::size_t size = m.file->size();
  if (size < sizeof(cache_file_header)) {
    reason = fmt::format("the file has {} bytes, too short for a header (truncated)", size);
    return std::nullopt;
  }
  std::memcpy(&m.header, m.file->data(), sizeof m.header);
  const cache_file_header& h = m.header;
  if (h.magic != cache_magic) {
    reason = "not a tpt decoded cache (wrong signature)";
    return std::nullopt;
  }
  if (h.version != cache_format_version) {
    reason = fmt::format("cache format version {}, this tpt writes version {}", h.version, cache_format_version);
    return std::nullopt;
  }
  if (header_crc(h) != h.header_crc) {
    reason = "the header is damaged (checksum mismatch)";
    return std::nullopt;
  }
  const std::uint64_t image_bytes = image_bytes_of(h.height, h.width, h.channels);
  const std::uint64_t expected_size = h.trailer_offset + sizeof(cache_file_trailer);
  if (h.json_offset + h.json_size > h.data_offset || detail::table_offset(h.data_offset, h.count, image_bytes) != h.checksum_offset ||
      h.checksum_offset + 4 * h.count != h.trailer_offset) {
    reason = "the header's layout is inconsistent";
    return std::nullopt;
  }
  if (size != expected_size) {
    reason = fmt::format("the file has {} bytes, its header says {} ({})", size, expected_size,
                         size < expected_size ? "truncated" : "trailing data");
    return std::nullopt;
  }
  if (crc32_of(m.file->data() + h.json_offset, h.json_size) != h.json_crc) {
    reason = "the description block is damaged (checksum mismatch)";
    return std::nullopt;
  }
  cache_file_trailer t{};
  std::memcpy(&t, m.file->data() + h.trailer_offset, sizeof t);
  if (t.magic != cache_trailer_magic) {
    reason = "the trailer is missing (the file was not completely written)";
    return std::nullopt;
  }
  if (crc32_of(m.file->data() + h.checksum_offset, 4 * h.count) != t.checksum_table_crc) {
    reason = "the checksum table is damaged (checksum mismatch)";
    return std::nullopt;
  }
  try {
    m.description = nlohmann::json::parse(m.file->data() + h.json_offset, m.file->data() + h.json_offset + h.json_size);
  } catch (const nlohmann::json::exception& e) {
    reason = fmt::format("the description block is not valid JSON ({})", e.what());
    return std::nullopt;
  }
  if (verify == cache_verification::full) {
    std::atomic<std::int64_t> bad{-1};
    parallel_for(h.count, threads, [&](std::size_t i) {
      if (bad.load(std::memory_order_relaxed) >= 0) return;
      if (crc32_of(m.images() + i * image_bytes, image_bytes) != m.checksums()[i]) {
        std::int64_t expected = -1;
        bad.compare_exchange_strong(expected, static_cast<std::int64_t>(i));
      }
    });
    if (bad >= 0) {
      reason = fmt::format("image {} is damaged (checksum mismatch)", bad.load());
      return std::nullopt;
    }
  }
  return m;
}

/// The temporary files of builds of `target` that died (killed, out of memory, a power cut: no
/// destructor ran) and left their full, reserved size behind: removed, so that crashes do not
/// fill the disk one cache at a time. A live build holds an exclusive flock on its file, so
/// only unlocked ones go, whichever machine (on a shared folder) or process made them.
/// Returns how many were removed.
inline std::size_t remove_stale_cache_temporaries(const std::filesystem::path& target) {
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
  const std::string prefix = fmt::format(".{}.tmp-", target.filename().string());
  std::error_code ec;
  std::size_t removed = 0;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const int fd = ::open(it->path().c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      std::error_code gone;
      if (std::filesystem::remove(it->path(), gone)) ++removed;
    }
    ::close(fd);
  }
  return removed;
}

/// A temporary file beside the target, filled through a writable map, renamed over the target
/// only when complete and on disk; removed if anything fails before that. Locked (flock) while
/// it lives, so that remove_stale_cache_temporaries leaves it alone.
class cache_writer {
 public:
  cache_writer(const std::filesystem::path& target, std::uint64_t size) : target_(target), size_(size) {
    const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    if (ec) throw input_error(folder, fmt::format("cannot create folder: {}", ec.message()));
    (void)remove_stale_cache_temporaries(target);
    for (int attempt = 0;; ++attempt) {
      // A name no other build uses, created exclusively: opening another build's live file
      // with O_TRUNC would empty it under that build's map (SIGBUS there).
      tmp_ = folder / fmt::format(".{}.tmp-{}", target.filename().string(), io::unique_temporary_suffix());
      fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd_ < 0 && errno == EEXIST && attempt < 3) {
        tmp_.clear();
        continue;
      }
      if (fd_ < 0) {
        const int e = errno;
        const auto name = tmp_;
        tmp_.clear();  // not ours: never removed by cleanup()
        throw input_error(name, fmt::format("cannot create: {}", std::generic_category().message(e)));
      }
      // Another build's cleanup may take the file between open and flock (it then holds the
      // lock, or has unlinked the file): then a fresh one is made. A file system without flock
      // (ENOLCK, EOPNOTSUPP) builds unlocked, and its cleanup, unable to lock, removes nothing.
      const bool locked = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
      const bool taken = !locked && errno == EWOULDBLOCK;
      struct stat st {};
      if (!taken && ::fstat(fd_, &st) == 0 && st.st_nlink > 0) break;
      ::close(fd_);
      fd_ = -1;
      if (attempt == 3) throw input_error(tmp_, "cannot create and lock a temporary file for the cache");
    }
    // Reserve the blocks now: writing through a map into a sparse file on a full disk would kill
    // the process with SIGBUS instead of failing here with a message.
    if (const int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size)); rc != 0) {
      cleanup();
      throw input_error(target, fmt::format("cannot reserve {:.1f} MB for the cache: {}", static_cast<double>(size) / 1e6,
                                            std::generic_category().message(rc)));
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      cleanup();
      throw input_error(tmp_, fmt::format("cannot map: {}", std::generic_category().message(e)));
    }
    data_ = static_cast<std::uint8_t*>(p);
  }
  cache_writer(const cache_writer&) = delete;
  cache_writer& operator=(const cache_writer&) = delete;
  ~cache_writer() { cleanup(); }

  [[nodiscard]] std::uint8_t* data() noexcept { return data_; }

  void commit() {
    if (::munmap(data_, size_) != 0) throw input_error(tmp_, "cannot unmap");
    data_ = nullptr;
    if (::fsync(fd_) != 0) throw input_error(target_, "fsync failed");
    // Renamed while the descriptor, and so the flock, is still held: closing first would let
    // another build's remove_stale_cache_temporaries take the finished file for a dead build's.
    std::error_code ec;
    std::filesystem::rename(tmp_, target_, ec);
    if (ec) throw input_error(target_, fmt::format("cannot replace: {}", ec.message()));
    tmp_.clear();
    ::close(fd_);
    fd_ = -1;
  }

 private:
  void cleanup() noexcept {
    if (data_) ::munmap(data_, size_);
    data_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!tmp_.empty()) {
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
      tmp_.clear();
    }
  }

  std::filesystem::path target_, tmp_;
  std::uint64_t size_;
  int fd_ = -1;
  std::uint8_t* data_ = nullptr;
};

inline nlohmann::json settings_json(const cache_settings& s) {
  return {{"height", s.height},
          {"width", s.width},
          {"channels", s.channels},
          {"policy", std::string(to_string(s.policy))},
          {"filter", std::string(to_string(s.filter))},
          {"dct_scaling", s.dct_scaling},
          {"exif_orientation", s.exif_orientation},
          {"strict_jpeg", s.strict_jpeg},
          {"max_pixels", s.max_pixels}};
}

inline void check_settings(const cache_settings& s) {
  if (s.height <= 0 || s.width <= 0)
    throw config_error("cache size", fmt::format("must be positive, got {} x {}", s.width, s.height));
  if (s.channels != 1 && s.channels != 3)
    throw config_error("cache channels", fmt::format("must be 1 or 3, got {}", s.channels));
  if (s.max_pixels <= 0) throw config_error("max_pixels", fmt::format("must be positive, got {}", s.max_pixels));
}

/// Why a stored description differs from the expected one, in words.
inline std::string describe_change(const nlohmann::json& stored, const nlohmann::json& expected) {
  if (stored.value("settings", nlohmann::json()) != expected["settings"]) {
    const auto& a = stored["settings"];
    const auto& b = expected["settings"];
    if (!a.is_object()) return "settings changed";
    for (const auto& [key, value] : b.items())
      if (!a.contains(key) || a[key] != value)
        return fmt::format("setting '{}' changed from {} to {}", key, a.contains(key) ? a[key].dump() : "(none)", value.dump());
    return "settings changed";
  }
  const auto& a = stored.value("source", nlohmann::json());
  const auto& b = expected["source"];
  if (a.value("kind", "") != b.value("kind", "")) return "the source changed (files / in-memory images)";
  if (b["kind"] == "files") {
    if (a.value("fingerprint", "") != b.value("fingerprint", "")) return "the fingerprint mode changed";
    const auto& fa = a["files"];
    const auto& fb = b["files"];
    if (fa.size() != fb.size()) return fmt::format("the image list changed ({} files, now {})", fa.size(), fb.size());
    for (std::size_t i = 0; i < fb.size(); ++i) {
      if (fa[i][0] != fb[i][0]) return fmt::format("the image list changed at position {} ({} became {})", i, fa[i][0].dump(), fb[i][0].dump());
      if (fa[i] != fb[i]) return fmt::format("{} changed (size or {})", fb[i][0].get<std::string>(),
                                              b["fingerprint"] == "content" ? "content" : "modification time");
    }
  }
  return "the in-memory images changed";
}

}  // namespace detail

/// A decoded cache file, mapped read-only. Cheap to copy (copies share the map), safe to read
/// from any number of threads. image i is (*this)[i]: height() x width() x channels() bytes.
class decoded_cache {
 public:
  /// Reuse `cache_file` if it holds exactly these images (root / relative_paths[i]) at these
  /// settings, otherwise decode them all (on options.threads threads) into a new file written
  /// beside it and renamed over it. Images that cannot be decoded are all reported at once in a
  /// bad_images_error, and no cache is written; run preflight_images first to skip them instead.
  static decoded_cache open_or_build(const std::filesystem::path& cache_file, const std::filesystem::path& image_root,
                                     std::span<const std::string> relative_paths, const cache_settings& settings,
                                     const cache_options& options = {}) {
    detail::check_settings(settings);
    std::vector<std::filesystem::path> files;
    files.reserve(relative_paths.size());
    for (const auto& rel : relative_paths) files.push_back(path_under_root(image_root, rel));
    nlohmann::json source = {{"kind", "files"}, {"fingerprint", options.fingerprint == cache_fingerprint::content ? "content" : "size_and_mtime"}};
    std::vector<nlohmann::json> entries(files.size());
    detail::parallel_for(files.size(), options.fingerprint == cache_fingerprint::content ? options.threads : 1,
                         [&](std::size_t i) { entries[i] = file_fingerprint(relative_paths[i], files[i], options.fingerprint); });
    source["files"] = std::move(entries);
    const nlohmann::json expected = {{"settings", detail::settings_json(settings)}, {"source", std::move(source)}};

    std::string reason;
    if (auto cache = reuse(cache_file, expected, options, reason)) return *cache;

    decode_options decode;
    decode.channels = settings.channels;
    decode.strict = settings.strict_jpeg;
    decode.max_pixels = settings.max_pixels;
    decode.apply_exif_orientation = settings.exif_orientation;
    const root_guard guard(image_root);
    auto fill = [&](std::size_t i, std::uint8_t* slot) {
      if (auto why = guard.problem(files[i])) throw image_error(files[i], image_problem::outside_root, *why);
      const std::vector<std::uint8_t> bytes = read_image_bytes(files[i]);
      decode_options opt = decode;
      if (settings.dct_scaling && detect_format(bytes) == image_format::jpeg) {
        const auto [width, height] = read_image_info(bytes, files[i]).decoded_size(settings.exif_orientation);
        // Decode only as large as the part of the frame the policy keeps needs.
        const source_box frame{0, 0, static_cast<double>(width), static_cast<double>(height)};
        std::tie(opt.min_width, opt.min_height) =
            minimum_decode_size(std::span(&frame, 1), width, height, settings.width, settings.height, settings.policy);
      }
      const image decoded = decode_image(bytes, files[i], opt);
      resize_into(decoded, policy_box(decoded.width(), decoded.height(), settings.width, settings.height, settings.policy),
                  slot, settings.height, settings.width, settings.filter);
    };
    return build(cache_file, expected, files.size(), settings, options, std::move(reason), fill,
                 [&](std::size_t i) { return relative_paths[i]; }, image_root);
  }

  /// The same from uint8 images in memory (N x H x W x C, C 1 or 3), e.g. Fashion-MNIST: the
  /// cache is keyed by their shape and a CRC-32 of their bytes.
  static decoded_cache open_or_build(const std::filesystem::path& cache_file, image_batch_view images,
                                     const cache_settings& settings, const cache_options& options = {}) {
    detail::check_settings(settings);
    if (images.count < 0 || images.height <= 0 || images.width <= 0 || (images.channels != 1 && images.channels != 3) ||
        (images.count > 0 && images.pixels == nullptr))
      throw config_error("images", fmt::format("expected N x H x W x C uint8 images with C 1 or 3, got {} x {} x {} x {}",
                                               images.count, images.height, images.width, images.channels));
    const nlohmann::json expected = {
        {"settings", detail::settings_json(settings)},
        {"source", {{"kind", "memory"}, {"count", images.count}, {"height", images.height}, {"width", images.width},
                    {"channels", images.channels}, {"crc32", detail::crc32_of(images.pixels, images.size_bytes())}}}};
    std::string reason;
    if (auto cache = reuse(cache_file, expected, options, reason)) return *cache;
    auto fill = [&](std::size_t i, std::uint8_t* slot) {
      const image_view src = images[static_cast<std::int64_t>(i)];
      if (src.channels == settings.channels) {
        resize_into(src, policy_box(src.width, src.height, settings.width, settings.height, settings.policy), slot,
                    settings.height, settings.width, settings.filter);
      } else {
        const image converted = convert_channels(src, settings.channels);
        resize_into(converted, policy_box(src.width, src.height, settings.width, settings.height, settings.policy),
                    slot, settings.height, settings.width, settings.filter);
      }
    };
    return build(cache_file, expected, static_cast<std::size_t>(images.count), settings, options, std::move(reason),
                 fill, [](std::size_t i) { return fmt::format("image {}", i); }, cache_file);
  }

  /// The same from a uint8 tensor N x H x W x C (or N x H x W for grey) on the CPU.
  static decoded_cache open_or_build(const std::filesystem::path& cache_file, const torch::Tensor& images,
                                     const cache_settings& settings, const cache_options& options = {}) {
    if (images.scalar_type() != torch::kUInt8 || (images.dim() != 3 && images.dim() != 4) || !images.device().is_cpu())
      throw config_error("images", fmt::format("expected a CPU uint8 tensor N x H x W x C or N x H x W, got {} {} on {}",
                                               c10::toString(images.scalar_type()), fmt::join(images.sizes(), " x "), images.device().str()));
    const torch::Tensor t = images.contiguous();
    return open_or_build(cache_file,
                         image_batch_view{t.data_ptr<std::uint8_t>(), t.size(0), t.size(1), t.size(2),
                                          t.dim() == 4 ? t.size(3) : 1},
                         settings, options);
  }

  /// Open an existing cache without knowing its inputs (e.g. for inference); tpt::input_error
  /// when the file is not a usable cache.
  static decoded_cache open(const std::filesystem::path& cache_file,
                            cache_verification verification = cache_verification::structure) {
    std::string reason;
    auto m = detail::map_cache(cache_file, verification, 0, reason);
    if (!m) throw input_error(cache_file, fmt::format("not a usable decoded cache: {}", reason));
    return decoded_cache(std::make_shared<const detail::cache_mapping>(std::move(*m)), false, {});
  }

  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(m_->header.count); }
  [[nodiscard]] std::int64_t height() const noexcept { return static_cast<std::int64_t>(m_->header.height); }
  [[nodiscard]] std::int64_t width() const noexcept { return static_cast<std::int64_t>(m_->header.width); }
  [[nodiscard]] std::int64_t channels() const noexcept { return static_cast<std::int64_t>(m_->header.channels); }
  [[nodiscard]] std::size_t image_bytes() const noexcept {
    return static_cast<std::size_t>(detail::image_bytes_of(m_->header.height, m_->header.width, m_->header.channels));
  }

  /// Image i, unchecked.
  [[nodiscard]] image_view operator[](std::size_t i) const noexcept {
    return {m_->images() + i * image_bytes(), height(), width(), channels()};
  }
  /// Image i; std::out_of_range past the end.
  [[nodiscard]] image_view at(std::size_t i) const {
    if (i >= size()) throw std::out_of_range(fmt::format("decoded cache {}: image {} of {}", path().string(), i, size()));
    return (*this)[i];
  }

  /// All images as one read-only uint8 tensor N x H x W x C without copying; it keeps the map
  /// alive. Writing to it is an error (the map is read-only).
  [[nodiscard]] torch::Tensor tensor() const {
    auto keep = m_;
    return torch::from_blob(const_cast<std::uint8_t*>(m_->images()),
                            {static_cast<std::int64_t>(size()), height(), width(), channels()},
                            [keep](void*) {}, torch::TensorOptions().dtype(torch::kUInt8));
  }

  /// True when this call decoded the images, false when it reused the file.
  [[nodiscard]] bool rebuilt() const noexcept { return rebuilt_; }
  /// Why it was rebuilt ("no cache file yet", "cam1/a.jpg changed (size or modification time)",
  /// "the file has 1000 bytes, its header says 4096 (truncated)", ...); empty when reused.
  [[nodiscard]] const std::string& rebuild_reason() const noexcept { return reason_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_->file->path(); }
  /// The recorded settings and source (JSON), as written in the file.
  [[nodiscard]] const nlohmann::json& description() const noexcept { return m_->description; }
  /// CRC-32 of image i as recorded at build time.
  [[nodiscard]] std::uint32_t checksum(std::size_t i) const noexcept { return m_->checksums()[i]; }

 private:
  decoded_cache(std::shared_ptr<const detail::cache_mapping> m, bool rebuilt, std::string reason)
      : m_(std::move(m)), rebuilt_(rebuilt), reason_(std::move(reason)) {}

  static nlohmann::json file_fingerprint(const std::string& rel, const std::filesystem::path& file, cache_fingerprint mode) {
    const auto stamp = io::stamp_of(file);
    if (!stamp) return nlohmann::json::array({rel, -1, 0});
    if (mode == cache_fingerprint::content) {
      try {
        const auto bytes = read_image_bytes(file);
        return nlohmann::json::array({rel, stamp->size, detail::crc32_of(bytes.data(), bytes.size())});
      } catch (const image_error&) {
        return nlohmann::json::array({rel, stamp->size, -1});
      }
    }
    return nlohmann::json::array({rel, stamp->size, stamp->mtime_ns});
  }

  static std::optional<decoded_cache> reuse(const std::filesystem::path& cache_file, const nlohmann::json& expected,
                                            const cache_options& options, std::string& reason) {
    auto m = detail::map_cache(cache_file, options.verification, options.threads, reason);
    if (!m) return std::nullopt;
    nlohmann::json stored = m->description;
    stored.erase("count");
    stored.erase("format_version");
    if (stored != expected) {
      reason = detail::describe_change(m->description, expected);
      return std::nullopt;
    }
    return decoded_cache(std::make_shared<const detail::cache_mapping>(std::move(*m)), false, {});
  }

  template <class Fill, class Name>
  static decoded_cache build(const std::filesystem::path& cache_file, nlohmann::json description, std::size_t count,
                             const cache_settings& settings, const cache_options& options, std::string reason,
                             Fill& fill, Name name, const std::filesystem::path& where) {
    description["count"] = count;
    description["format_version"] = detail::cache_format_version;
    const std::string json = description.dump();
    const std::uint64_t image_bytes = detail::image_bytes_of(static_cast<std::uint64_t>(settings.height),
                                                             static_cast<std::uint64_t>(settings.width),
                                                             static_cast<std::uint64_t>(settings.channels));
    detail::cache_file_header h{};
    h.magic = detail::cache_magic;
    h.version = detail::cache_format_version;
    h.json_offset = sizeof(detail::cache_file_header);
    h.json_size = json.size();
    h.json_crc = detail::crc32_of(json.data(), json.size());
    h.count = count;
    h.height = static_cast<std::uint64_t>(settings.height);
    h.width = static_cast<std::uint64_t>(settings.width);
    h.channels = static_cast<std::uint64_t>(settings.channels);
    h.data_offset = (h.json_offset + h.json_size + detail::cache_page - 1) / detail::cache_page * detail::cache_page;
    h.checksum_offset = detail::table_offset(h.data_offset, count, image_bytes);
    h.trailer_offset = h.checksum_offset + 4 * count;
    h.header_crc = detail::header_crc(h);

    {
      detail::cache_writer out(cache_file, h.trailer_offset + sizeof(detail::cache_file_trailer));
      std::uint8_t* base = out.data();
      auto* checksums = reinterpret_cast<std::uint32_t*>(base + h.checksum_offset);
      std::vector<image_issue> issues;
      std::mutex issues_mutex;
      detail::parallel_for(count, options.threads, [&](std::size_t i) {
        std::uint8_t* slot = base + h.data_offset + i * image_bytes;
        try {
          fill(i, slot);
        } catch (const image_error& e) {
          std::lock_guard lock(issues_mutex);
          issues.push_back({i, std::string(name(i)), e.problem(), e.detail()});
          return;
        }
        checksums[i] = detail::crc32_of(slot, image_bytes);
      });
      if (!issues.empty()) {
        std::sort(issues.begin(), issues.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
        throw bad_images_error(where, count, std::move(issues), {}, 50);
      }
      std::memcpy(base + h.json_offset, json.data(), json.size());
      detail::cache_file_trailer t{};
      t.magic = detail::cache_trailer_magic;
      t.checksum_table_crc = detail::crc32_of(checksums, 4 * count);
      std::memcpy(base + h.trailer_offset, &t, sizeof t);
      std::memcpy(base, &h, sizeof h);  // last: a file without a valid header is never trusted
      out.commit();
    }
    std::string ignored;
    auto m = detail::map_cache(cache_file, cache_verification::structure, 1, ignored);
    if (!m) throw input_error(cache_file, fmt::format("the cache just written does not read back: {}", ignored));
    // Another process building the same cache file (a sweep over settings sharing one cache
    // folder) may have renamed its own over ours in between: never hand back its images as ours.
    if (m->description != description)
      throw input_error(cache_file, fmt::format("replaced by another process while this one built it ({}); give each "
                                                "run its own cache file or build it once first",
                                                detail::describe_change(m->description, description)));
    return decoded_cache(std::make_shared<const detail::cache_mapping>(std::move(*m)), true, std::move(reason));
  }

  std::shared_ptr<const detail::cache_mapping> m_;
  bool rebuilt_ = false;
  std::string reason_;
};

}  // namespace tpt::data
