// Fixture files for the data_images suite: synthetic JPEG/PNG images and damaged variants of
// them (truncated, corrupt, mislabelled, huge header), written into a scratch folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
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

/// Mean absolute difference between two images of the same shape.
inline double mean_abs_diff(tpt::data::image_view a, tpt::data::image_view b) {
  if (a.height != b.height || a.width != b.width || a.channels != b.channels)
    throw std::runtime_error("shape mismatch");
  double sum = 0;
  for (std::size_t i = 0; i < a.size_bytes(); ++i) sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  return sum / static_cast<double>(a.size_bytes());
}

}  // namespace tpt::test
