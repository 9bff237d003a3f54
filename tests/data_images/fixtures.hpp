// Fixture files for the data_images suite: synthetic JPEG/PNG images and damaged variants of
// them (truncated, corrupt, mislabelled, huge header), written into a scratch folder.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

#include "synthetic_frames.hpp"
#include "tpt/data/encode.hpp"
#include "tpt/data/image.hpp"

namespace tpt::test {

inline void write_bytes(const std::filesystem::path& file, std::span<const std::uint8_t> bytes) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write fixture " + file.string());
}

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<std::uint8_t> jpeg_fixture(std::int64_t h, std::int64_t w, std::int64_t c,
                                              std::uint64_t seed, int quality = 90) {
  return tpt::data::encode_jpeg(synthetic_frame(h, w, c, seed), quality);
}

inline std::vector<std::uint8_t> png_fixture(std::int64_t h, std::int64_t w, std::int64_t c,
                                             std::uint64_t seed) {
  return tpt::data::encode_png(synthetic_frame(h, w, c, seed));
}

/// Offset of the first SOF0/SOF1/SOF2 segment's height field in a JPEG.
inline std::size_t jpeg_sof_size_offset(std::span<const std::uint8_t> jpeg) {
  std::size_t i = 2;
  while (i + 4 < jpeg.size()) {
    if (jpeg[i] != 0xFF) throw std::runtime_error("not at a marker");
    const std::uint8_t m = jpeg[i + 1];
    const std::size_t len = (std::size_t{jpeg[i + 2]} << 8) | jpeg[i + 3];
    if (m == 0xC0 || m == 0xC1 || m == 0xC2) return i + 5;
    i += 2 + len;
  }
  throw std::runtime_error("no SOF marker");
}

/// The JPEG with the size in its frame header replaced (the data still describes the old size).
inline std::vector<std::uint8_t> jpeg_with_claimed_size(std::vector<std::uint8_t> jpeg, int height, int width) {
  const std::size_t at = jpeg_sof_size_offset(jpeg);
  jpeg[at] = static_cast<std::uint8_t>(height >> 8);
  jpeg[at + 1] = static_cast<std::uint8_t>(height & 0xFF);
  jpeg[at + 2] = static_cast<std::uint8_t>(width >> 8);
  jpeg[at + 3] = static_cast<std::uint8_t>(width & 0xFF);
  return jpeg;
}

/// The PNG with the size in IHDR replaced and the chunk's CRC fixed, so only the size is wrong.
inline std::vector<std::uint8_t> png_with_claimed_size(std::vector<std::uint8_t> png, std::uint32_t height,
                                                       std::uint32_t width) {
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int b = 0; b < 4; ++b) png[at + static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(v >> (24 - 8 * b));
  };
  put32(16, width);
  put32(20, height);
  const auto crc = static_cast<std::uint32_t>(crc32(0, png.data() + 12, 17));  // "IHDR" + 13 bytes
  put32(29, crc);
  return png;
}

/// Random bytes written over the middle of the entropy-coded data, avoiding the last bytes
/// (so the file still ends with EOI and is damaged rather than truncated).
inline std::vector<std::uint8_t> corrupted(std::vector<std::uint8_t> bytes, std::uint64_t seed) {
  tpt::rng gen(seed);
  const std::size_t from = bytes.size() / 2, to = bytes.size() / 2 + bytes.size() / 8;
  for (std::size_t i = from; i < to; ++i) bytes[i] = static_cast<std::uint8_t>(gen());
  return bytes;
}

inline std::vector<std::uint8_t> truncated(std::vector<std::uint8_t> bytes, double keep) {
  bytes.resize(static_cast<std::size_t>(static_cast<double>(bytes.size()) * keep));
  return bytes;
}

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  tpt::rng gen(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(gen());
  return v;
}

/// A TIFF structure as EXIF holds it: IFD0 with a Make tag and then Orientation = `value` (SHORT),
/// little-endian ("II") or big-endian ("MM").
inline std::vector<std::uint8_t> exif_tiff(std::uint16_t value, bool big_endian) {
  std::vector<std::uint8_t> t;
  auto u16 = [&](std::uint32_t v) {
    if (big_endian) {
      t.push_back(static_cast<std::uint8_t>(v >> 8));
      t.push_back(static_cast<std::uint8_t>(v));
    } else {
      t.push_back(static_cast<std::uint8_t>(v));
      t.push_back(static_cast<std::uint8_t>(v >> 8));
    }
  };
  auto u32 = [&](std::uint32_t v) {
    if (big_endian) {
      u16(v >> 16);
      u16(v & 0xFFFF);
    } else {
      u16(v & 0xFFFF);
      u16(v >> 16);
    }
  };
  t.push_back(big_endian ? 'M' : 'I');
  t.push_back(big_endian ? 'M' : 'I');
  u16(42);
  u32(8);  // IFD0 right after the header
  u16(2);  // two entries
  // Make = "tpt" (ASCII, 4 bytes, held inline), then Orientation (SHORT, 1 value, padded).
  u16(0x010F);
  u16(2);
  u32(4);
  t.insert(t.end(), {'t', 'p', 't', 0});
  u16(0x0112);
  u16(3);
  u32(1);
  u16(value);
  u16(0);
  u32(0);  // no IFD1
  return t;
}

/// `bytes` with `insert` put in at offset `at` (GCC 12 warns falsely on vector::insert here).
inline std::vector<std::uint8_t> spliced(const std::vector<std::uint8_t>& bytes, std::size_t at,
                                         const std::vector<std::uint8_t>& insert) {
  std::vector<std::uint8_t> out(bytes.size() + insert.size());
  std::memcpy(out.data(), bytes.data(), at);
  if (!insert.empty()) std::memcpy(out.data() + at, insert.data(), insert.size());
  std::memcpy(out.data() + at + insert.size(), bytes.data() + at, bytes.size() - at);
  return out;
}

/// `jpeg` with an APP1 XMP segment and then an APP1 Exif segment holding `tiff` right after SOI,
/// as cameras and editors write them.
inline std::vector<std::uint8_t> jpeg_with_exif(const std::vector<std::uint8_t>& jpeg, const std::vector<std::uint8_t>& tiff) {
  std::vector<std::uint8_t> segments;
  auto segment = [&](std::string_view header, const std::vector<std::uint8_t>& body) {
    const std::size_t length = 2 + header.size() + body.size();
    for (std::uint8_t b : {std::uint8_t{0xFF}, std::uint8_t{0xE1}, static_cast<std::uint8_t>(length >> 8),
                           static_cast<std::uint8_t>(length)})
      segments.push_back(b);
    for (char c : header) segments.push_back(static_cast<std::uint8_t>(c));
    for (std::uint8_t b : body) segments.push_back(b);
  };
  using namespace std::string_view_literals;
  segment("http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"sv, {});
  segment("Exif\0\0"sv, tiff);
  return spliced(jpeg, 2, segments);
}

/// `png` with an eXIf chunk holding `tiff` right after IHDR (CRC included).
inline std::vector<std::uint8_t> png_with_exif(const std::vector<std::uint8_t>& png, const std::vector<std::uint8_t>& tiff) {
  constexpr std::size_t after_ihdr = 8 + 8 + 13 + 4;
  std::vector<std::uint8_t> chunk;
  auto be32 = [&](std::uint32_t v) {
    for (int shift : {24, 16, 8, 0}) chunk.push_back(static_cast<std::uint8_t>(v >> shift));
  };
  be32(static_cast<std::uint32_t>(tiff.size()));
  for (char c : std::string_view("eXIf")) chunk.push_back(static_cast<std::uint8_t>(c));
  for (std::uint8_t b : tiff) chunk.push_back(b);
  be32(static_cast<std::uint32_t>(crc32(0, chunk.data() + 4, static_cast<uInt>(chunk.size() - 4))));
  return spliced(png, after_ihdr, chunk);
}

/// Mean absolute difference between two images of the same shape.
inline double mean_abs_diff(tpt::data::image_view a, tpt::data::image_view b) {
  if (a.height != b.height || a.width != b.width || a.channels != b.channels)
    throw std::runtime_error("shape mismatch");
  double sum = 0;
  for (std::size_t i = 0; i < a.size_bytes(); ++i) sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  return sum / static_cast<double>(a.size_bytes());
}

}  // namespace tpt::test
