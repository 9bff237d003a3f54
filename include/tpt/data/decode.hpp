// Decoding JPEG (libjpeg-turbo's TurboJPEG API, with DCT-domain downscaling) and PNG (libpng's
// simplified API) into 8-bit grey or RGB images, shown upright as their EXIF orientation says;
// every failure is an image_error that names the file and says what is wrong with it.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <png.h>
#include <turbojpeg.h>

#include "tpt/core/error.hpp"
#include "tpt/data/image.hpp"
#include "tpt/data/image_error.hpp"
#include "tpt/data/orientation.hpp"

namespace tpt::data {

enum class image_format { jpeg, png, unknown };

[[nodiscard]] constexpr std::string_view to_string(image_format f) noexcept {
  switch (f) {
    case image_format::jpeg: return "JPEG";
    case image_format::png: return "PNG";
    case image_format::unknown: return "unknown";
  }
  return "unknown";
}

/// The format from the file's signature, never from its name: a PNG saved as .jpg decodes as the
/// PNG it is (as Pillow does).
[[nodiscard]] inline image_format detect_format(std::span<const std::uint8_t> bytes) noexcept {
  static constexpr std::array<std::uint8_t, 8> png_sig{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    return image_format::jpeg;
  if (bytes.size() >= 8 && std::equal(png_sig.begin(), png_sig.end(), bytes.begin()))
    return image_format::png;
  return image_format::unknown;
}

/// The EXIF orientation of an encoded JPEG or PNG; top_left when it has none, when the tag is
/// damaged, and for other formats.
[[nodiscard]] inline exif_orientation read_exif_orientation(std::span<const std::uint8_t> bytes) noexcept {
  switch (detect_format(bytes)) {
    case image_format::jpeg: return detail::orientation_in_jpeg(bytes);
    case image_format::png: return detail::orientation_in_png(bytes);
    case image_format::unknown: break;
  }
  return exif_orientation::top_left;
}

/// What a file with an unknown signature looks like, for the error message.
[[nodiscard]] inline std::string describe_signature(std::span<const std::uint8_t> bytes) {
  auto starts = [&](std::string_view sig, std::size_t at = 0) {
    return bytes.size() >= at + sig.size() &&
           std::equal(sig.begin(), sig.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at),
                      [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; });
  };
  if (starts("GIF8")) return "a GIF image; convert it to JPEG or PNG";
  if (starts("BM")) return "a BMP image; convert it to JPEG or PNG";
  if (starts("RIFF") && starts("WEBP", 8)) return "a WebP image; convert it to JPEG or PNG";
  if (starts("II*") || starts("MM")) return "a TIFF image; convert it to JPEG or PNG";
  if (starts("ftyp", 4)) return "an HEIF/AVIF/MP4 file; convert it to JPEG or PNG";
  if (bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8)
    return "a JPEG start-of-image marker without a following marker: not a usable JPEG";
  std::string hex;
  for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 8); ++i)
    hex += fmt::format("{}{:02x}", i ? " " : "", bytes[i]);
  return fmt::format("not a JPEG or PNG file (starts with bytes {})", hex);
}

/// Header facts, read without decoding the pixels.
struct image_info {
  image_format format = image_format::unknown;
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::int64_t channels = 0;  ///< as stored: 1 grey, 2 grey+alpha, 3 colour, 4 colour+alpha/CMYK
  exif_orientation orientation = exif_orientation::top_left;  ///< top_left when the file has none

  /// The full-scale size {width, height} a decode gives: as shown upright when `shown_upright`
  /// (decode_options::apply_exif_orientation), width and height as stored otherwise.
  [[nodiscard]] constexpr std::pair<std::int64_t, std::int64_t> decoded_size(bool shown_upright) const noexcept {
    if (shown_upright && swaps_sides(orientation)) return {height, width};
    return {width, height};
  }
};

/// How to decode. Pillow's limit on pixels guards against decompression bombs by default.
struct decode_options {
  /// Channels of the result: 1 (grey, ITU-R 601 luma as Pillow's "L") or 3 (RGB).
  std::int64_t channels = 3;
  /// Smallest size the decoded image may have. A JPEG is decoded at the smallest DCT scale
  /// (1/2, 1/4 or 1/8) that keeps both sides at or above it, which skips most of the inverse
  /// DCT and colour conversion for large frames; 0 decodes at full size. PNG is always full size.
  std::int64_t min_width = 0;
  std::int64_t min_height = 0;
  /// Images whose header claims more pixels than this are refused before any allocation.
  std::int64_t max_pixels = 178'956'970;
  /// Treat every libjpeg warning (corrupt data, extraneous bytes) as an error. When false, only
  /// a premature end of data fails; other warnings are tolerated as Pillow tolerates them.
  bool strict = true;
  /// Show the image upright as its EXIF orientation tag says (as MegaDetector, viewers and
  /// Pillow's ImageOps.exif_transpose do); min_width and min_height then mean the upright sides.
  /// When false, pixels come as stored (as Pillow's plain Image.open and torchvision's read_image).
  bool apply_exif_orientation = true;
};

/// The denominator (1, 2, 4 or 8) of the smallest power-of-two DCT scale at which a width x
/// height JPEG still covers min_width x min_height. Only powers of two: they have libjpeg-turbo's
/// fast (SIMD) reduced inverse DCTs, and the antialiased resize afterwards does the rest.
[[nodiscard]] constexpr int jpeg_scale_denominator(std::int64_t width, std::int64_t height,
                                                   std::int64_t min_width,
                                                   std::int64_t min_height) noexcept {
  int best = 1;
  for (int d : {2, 4, 8}) {
    const std::int64_t w = (width + d - 1) / d;  // TJSCALED rounds up
    const std::int64_t h = (height + d - 1) / d;
    if (w >= min_width && h >= min_height) best = d;
  }
  return best;
}

namespace detail {

/// One TurboJPEG decompressor per thread: handles are not thread-safe, and creating one per image
/// costs more than decoding a thumbnail. After a failed call a handle can keep state from the bad
/// file (libjpeg-turbo 2.1 then misreads the next good one), so a failure replaces it.
struct jpeg_decompressor_slot {
  tjhandle handle = tjInitDecompress();
  jpeg_decompressor_slot() = default;
  jpeg_decompressor_slot(const jpeg_decompressor_slot&) = delete;
  jpeg_decompressor_slot& operator=(const jpeg_decompressor_slot&) = delete;
  ~jpeg_decompressor_slot() {
    if (handle) tjDestroy(handle);
  }
  void renew() {
    if (handle) tjDestroy(handle);
    handle = tjInitDecompress();
  }
};

inline jpeg_decompressor_slot& thread_jpeg_slot() {
  thread_local jpeg_decompressor_slot slot;
  return slot;
}

inline tjhandle thread_jpeg_decompressor() {
  tjhandle h = thread_jpeg_slot().handle;
  if (!h) {
    thread_jpeg_slot().renew();
    h = thread_jpeg_slot().handle;
  }
  if (!h) throw error("TurboJPEG: cannot create a decompressor (out of memory?)");
  return h;
}

/// The error message of the thread's decompressor, which is then replaced by a fresh one.
inline std::string take_jpeg_error() {
  std::string message = tjGetErrorStr2(thread_jpeg_slot().handle);
  thread_jpeg_slot().renew();
  return message;
}

inline bool ends_with_eoi(std::span<const std::uint8_t> bytes) noexcept {
  // Allow a little trailing padding after EOI, which some writers add.
  const std::size_t n = bytes.size();
  for (std::size_t back = 2; back <= std::min<std::size_t>(n, 64); ++back)
    if (bytes[n - back] == 0xFF && bytes[n - back + 1] == 0xD9) return true;
  return false;
}

[[noreturn]] inline void throw_jpeg_error(const std::filesystem::path& name,
                                          std::span<const std::uint8_t> bytes,
                                          std::string_view message) {
  const auto contains = [&](std::string_view s) { return message.find(s) != std::string_view::npos; };
  if (contains("Unsupported JPEG process") || contains("Unsupported color conversion") ||
      contains("Unsupported color space"))
    throw image_error(name, image_problem::unsupported, fmt::format("JPEG variant not supported ({})", message));
  if (contains("Premature end") || !ends_with_eoi(bytes))
    throw image_error(name, image_problem::truncated,
                      fmt::format("JPEG data ends before the image is complete ({})", message));
  throw image_error(name, image_problem::corrupt, fmt::format("damaged JPEG data ({})", message));
}

inline void check_pixels(const std::filesystem::path& name, std::int64_t width, std::int64_t height,
                         std::int64_t max_pixels, std::string_view format) {
  if (width <= 0 || height <= 0)
    throw image_error(name, image_problem::corrupt,
                      fmt::format("{} header gives an empty size {} x {}", format, width, height));
  if (width > max_pixels / height)
    throw image_error(name, image_problem::too_large,
                      fmt::format("{} header claims {} x {} = {} pixels, more than the limit of {} "
                                  "(decode_options::max_pixels)",
                                  format, width, height, width * height, max_pixels));
}

inline image_info jpeg_info(std::span<const std::uint8_t> bytes, const std::filesystem::path& name) {
  tjhandle tj = thread_jpeg_decompressor();
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, bytes.data(), static_cast<unsigned long>(bytes.size()), &w, &h,
                          &subsamp, &colorspace) != 0)
    throw_jpeg_error(name, bytes, take_jpeg_error());
  const std::int64_t channels = colorspace == TJCS_GRAY                             ? 1
                                : (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) ? 4
                                                                                      : 3;
  return {image_format::jpeg, w, h, channels, orientation_in_jpeg(bytes)};
}

inline image decode_jpeg(std::span<const std::uint8_t> bytes, const std::filesystem::path& name,
                         const decode_options& opt) {
  const image_info info = jpeg_info(bytes, name);
  check_pixels(name, info.width, info.height, opt.max_pixels, "JPEG");
  if (info.channels == 4)
    throw image_error(name, image_problem::unsupported,
                      "CMYK/YCCK JPEG (a print-oriented colour space); convert it to RGB");
  const bool turn = opt.apply_exif_orientation && info.orientation != exif_orientation::top_left;
  // The minimum is for the upright picture; the DCT scale applies to the stored one.
  const bool swap = turn && swaps_sides(info.orientation);
  const std::int64_t min_w = swap ? opt.min_height : opt.min_width;
  const std::int64_t min_h = swap ? opt.min_width : opt.min_height;
  const int d = (min_w > 0 || min_h > 0) ? jpeg_scale_denominator(info.width, info.height, min_w, min_h) : 1;
  const std::int64_t w = (info.width + d - 1) / d;
  const std::int64_t h = (info.height + d - 1) / d;
  // Decode straight into the requested channel count: libjpeg's own YCbCr->RGB or Y-only output
  // is faster than converting afterwards, and its Y equals ITU-R 601 luma.
  image out(h, w, opt.channels);
  const int pixel_format = opt.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  int flags = opt.strict ? TJFLAG_STOPONWARNING : 0;
#ifdef TJFLAG_LIMITSCANS
  flags |= TJFLAG_LIMITSCANS;  // a progressive JPEG with thousands of scans would take minutes
#endif
  tjhandle tj = thread_jpeg_decompressor();
  if (tjDecompress2(tj, bytes.data(), static_cast<unsigned long>(bytes.size()), out.data(),
                    static_cast<int>(w), 0, static_cast<int>(h), pixel_format, flags) != 0) {
    const bool only_warning = tjGetErrorCode(tj) == TJERR_WARNING;
    const std::string message = take_jpeg_error();
    if (opt.strict || !only_warning || message.find("Premature end") != std::string::npos)
      throw_jpeg_error(name, bytes, message);
  }
  return turn ? upright(out, info.orientation) : out;
}

/// A PNG read with libpng's low-level API, which gives the samples as stored. (The simplified
/// API converts by the file's gAMA or sRGB chunk and takes 16-bit data as linear light, so 16-bit
/// files with alpha or a gAMA chunk, and 8-bit ones with a non-sRGB gAMA, came out brighter or
/// darker than Pillow reads them; Pillow ignores gAMA and keeps the high byte.) Palettes and
/// grey below 8 bits expand to 8 bits, tRNS to an alpha channel, 16-bit samples keep their high
/// byte, interlaced files are put together; nothing else changes a sample.
///
/// libpng reports errors by longjmp. The two functions that call into it (begin, rows) hold no
/// object with a destructor, and every C++ allocation happens outside them.
struct png_reader {
  std::span<const std::uint8_t> bytes;
  std::size_t pos = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;
  char message[256] = {};
  std::uint32_t width = 0, height = 0;
  int channels = 0;          // after the transforms: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA
  std::size_t row_bytes = 0;

  explicit png_reader(std::span<const std::uint8_t> b) : bytes(b) {}
  png_reader(const png_reader&) = delete;
  png_reader& operator=(const png_reader&) = delete;
  ~png_reader() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }

  static void read_data(png_structp p, png_bytep out, png_size_t n) {
    auto* r = static_cast<png_reader*>(png_get_io_ptr(p));
    if (n > r->bytes.size() - r->pos) png_error(p, "unexpected end of data");
    std::memcpy(out, r->bytes.data() + r->pos, n);
    r->pos += n;
  }
  static void on_error(png_structp p, png_const_charp text) {
    auto* r = static_cast<png_reader*>(png_get_error_ptr(p));
    std::snprintf(r->message, sizeof r->message, "%s", text ? text : "unknown error");
    png_longjmp(p, 1);
  }
  static void on_warning(png_structp, png_const_charp) {}

  /// Signature, chunks up to the image data, transforms, the output's shape. False on an error
  /// (in `message`).
  bool begin() {
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, this, &png_reader::on_error, &png_reader::on_warning);
    if (!png) return std::snprintf(message, sizeof message, "libpng could not start"), false;
    info = png_create_info_struct(png);
    if (!info) return std::snprintf(message, sizeof message, "libpng could not start"), false;
    if (setjmp(png_jmpbuf(png))) return false;
    png_set_read_fn(png, this, &png_reader::read_data);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);  // check_pixels decides what is too large
    png_read_info(png, info);
    png_set_expand(png);      // palette -> RGB, grey of 1, 2 or 4 bits -> 8, tRNS -> alpha
    png_set_strip_16(png);    // 16-bit samples: the high byte
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    channels = png_get_channels(png, info);
    row_bytes = png_get_rowbytes(png, info);
    return true;
  }

  /// The pixels into `rows` (height pointers to row_bytes each). False on an error.
  bool rows(png_bytepp row_pointers) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_image(png, row_pointers);
    return true;
  }

  [[noreturn]] void fail(const std::filesystem::path& name, std::string_view stage) const {
    const std::string_view m = message;
    const auto contains = [&](std::string_view s) { return m.find(s) != std::string_view::npos; };
    if (contains("end of data") || contains("Not enough image data") || contains("Read Error") ||
        contains("truncated") || contains("unexpected end"))
      throw image_error(name, image_problem::truncated,
                        fmt::format("PNG data ends before the image is complete ({}: {})", stage, m));
    throw image_error(name, image_problem::corrupt, fmt::format("damaged PNG data ({}: {})", stage, m));
  }
};

/// The size IHDR claims, read directly: libpng refuses sizes over its own limits as "invalid",
/// which would hide that the file is a decompression bomb rather than damaged.
inline void check_png_claimed_size(std::span<const std::uint8_t> bytes, const std::filesystem::path& name,
                                   std::int64_t max_pixels) {
  if (bytes.size() < 24 || !std::equal(bytes.begin() + 12, bytes.begin() + 16, "IHDR")) return;
  auto be32 = [&](std::size_t at) {
    return (std::int64_t{bytes[at]} << 24) | (std::int64_t{bytes[at + 1]} << 16) | (std::int64_t{bytes[at + 2]} << 8) |
           std::int64_t{bytes[at + 3]};
  };
  const std::int64_t w = be32(16), h = be32(20);
  if (w > 0 && h > 0) check_pixels(name, w, h, max_pixels, "PNG");
}

inline image_info png_info(std::span<const std::uint8_t> bytes, const std::filesystem::path& name) {
  png_reader r(bytes);
  if (!r.begin()) r.fail(name, "header");
  // Channels as stored, alpha included (a palette with tRNS has one).
  return {image_format::png, static_cast<std::int64_t>(r.width), static_cast<std::int64_t>(r.height), r.channels,
          orientation_in_png(bytes)};
}

inline image decode_png_as_stored(std::span<const std::uint8_t> bytes, const std::filesystem::path& name,
                                  const decode_options& opt) {
  check_png_claimed_size(bytes, name, opt.max_pixels);
  png_reader r(bytes);
  if (!r.begin()) r.fail(name, "header");
  const auto w = static_cast<std::int64_t>(r.width);
  const auto h = static_cast<std::int64_t>(r.height);
  check_pixels(name, w, h, opt.max_pixels, "PNG");
  const std::int64_t stored = r.channels;
  if (stored < 1 || stored > 4 || r.row_bytes != static_cast<std::size_t>(w * stored))
    throw image_error(name, image_problem::unsupported,
                      fmt::format("PNG layout of {} channels and {} bytes per row of {} pixels", stored, r.row_bytes, w));
  image raw(h, w, stored);
  std::vector<png_bytep> rows(static_cast<std::size_t>(h));
  for (std::int64_t y = 0; y < h; ++y) rows[static_cast<std::size_t>(y)] = raw.data() + y * w * stored;
  if (!r.rows(rows.data())) r.fail(name, "pixels");
  // Alpha is dropped, not composited, as Pillow's convert("RGB") does.
  return stored == opt.channels ? raw : convert_channels(raw, opt.channels);
}

inline image decode_png(std::span<const std::uint8_t> bytes, const std::filesystem::path& name,
                        const decode_options& opt) {
  image out = decode_png_as_stored(bytes, name, opt);
  const exif_orientation o = opt.apply_exif_orientation ? orientation_in_png(bytes) : exif_orientation::top_left;
  return o == exif_orientation::top_left ? out : upright(out, o);
}

}  // namespace detail

/// The largest image file read (4 GiB): no camera frame comes near, and a bigger "image" would be
/// read whole into memory first.
inline constexpr std::uint64_t max_image_file_bytes = std::uint64_t{4} << 30;

/// Read a whole file. Missing, unreadable (permissions, a folder, a FIFO, an I/O error), empty
/// and oversized files are image_errors naming the file.
[[nodiscard]] inline std::vector<std::uint8_t> read_image_bytes(const std::filesystem::path& file) {
  // O_NONBLOCK: opening a FIFO named like an image must not wait for a writer (preflight hung);
  // it changes nothing for the regular files read below.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR)
      throw image_error(file, image_problem::missing, "no such file");
    throw image_error(file, image_problem::unreadable,
                      fmt::format("cannot open: {}", std::generic_category().message(e)));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_on_exit{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    throw image_error(file, image_problem::unreadable,
                      fmt::format("cannot stat: {}", std::generic_category().message(errno)));
  if (S_ISDIR(st.st_mode)) throw image_error(file, image_problem::unreadable, "is a folder, not a file");
  if (!S_ISREG(st.st_mode)) throw image_error(file, image_problem::unreadable, "is not a regular file");
  if (st.st_size == 0) throw image_error(file, image_problem::empty, "the file has 0 bytes");
  if (static_cast<std::uint64_t>(st.st_size) > max_image_file_bytes)
    throw image_error(file, image_problem::too_large,
                      fmt::format("the file has {} bytes, more than the {} an image file may have",
                                  static_cast<std::uint64_t>(st.st_size), max_image_file_bytes));
  std::vector<std::uint8_t> bytes;
  try {
    bytes.resize(static_cast<std::size_t>(st.st_size));
  } catch (const std::bad_alloc&) {  // that image's problem, not a bare bad_alloc ending the run
    throw image_error(file, image_problem::too_large,
                      fmt::format("the file's {} bytes do not fit in memory", static_cast<std::uint64_t>(st.st_size)));
  }
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw image_error(file, image_problem::unreadable,
                        fmt::format("read failed: {}", std::generic_category().message(errno)));
    }
    if (n == 0) break;  // the file shrank while we read it
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  if (bytes.empty()) throw image_error(file, image_problem::empty, "the file has 0 bytes");
  return bytes;
}

/// Header facts of an encoded image; `name` is used in error messages only.
[[nodiscard]] inline image_info read_image_info(std::span<const std::uint8_t> bytes,
                                                const std::filesystem::path& name) {
  if (bytes.empty()) throw image_error(name, image_problem::empty, "the file has 0 bytes");
  switch (detect_format(bytes)) {
    case image_format::jpeg: return detail::jpeg_info(bytes, name);
    case image_format::png: return detail::png_info(bytes, name);
    case image_format::unknown: break;
  }
  throw image_error(name, image_problem::unsupported, describe_signature(bytes));
}

/// Decode an encoded JPEG or PNG held in memory; `name` is used in error messages only.
[[nodiscard]] inline image decode_image(std::span<const std::uint8_t> bytes,
                                        const std::filesystem::path& name,
                                        const decode_options& options = {}) {
  if (options.channels != 1 && options.channels != 3)
    throw config_error("channels", fmt::format("must be 1 (grey) or 3 (RGB), got {}", options.channels));
  if (options.max_pixels <= 0)
    throw config_error("max_pixels", fmt::format("must be positive, got {}", options.max_pixels));
  if (bytes.empty()) throw image_error(name, image_problem::empty, "the file has 0 bytes");
  // Running out of memory on one image is that image's problem (named, recorded or skipped by
  // the caller's policy like any other), not a bare std::bad_alloc that stops a whole run.
  try {
    switch (detect_format(bytes)) {
      case image_format::jpeg: return detail::decode_jpeg(bytes, name, options);
      case image_format::png: return detail::decode_png(bytes, name, options);
      case image_format::unknown: break;
    }
  } catch (const std::bad_alloc&) {
    throw image_error(name, image_problem::too_large, "out of memory while decoding");
  }
  throw image_error(name, image_problem::unsupported, describe_signature(bytes));
}

/// Read and decode an image file.
[[nodiscard]] inline image decode_image_file(const std::filesystem::path& file,
                                             const decode_options& options = {}) {
  const std::vector<std::uint8_t> bytes = read_image_bytes(file);
  return decode_image(bytes, file, options);
}

}  // namespace tpt::data

template <>
struct fmt::formatter<tpt::data::image_format> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::image_format f, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::data::to_string(f), ctx);
  }
};
