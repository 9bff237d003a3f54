// EXIF orientation: cameras that store a frame sideways say so in a tag instead of rotating the
// pixels, and viewers, MegaDetector and Pillow's ImageOps.exif_transpose show the frame upright.
// Reading the one tag is done here, with every offset bounds-checked, as torchvision's
// decode_jpeg does it: a general EXIF library would parse maker notes and thumbnails we never use.
// A missing or damaged tag means "as stored", never a failed image (Pillow and torchvision agree).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include "tpt/data/image.hpp"

namespace tpt::data {

/// The EXIF/TIFF Orientation tag (0x0112), named as TIFF names it: where the stored 0th row and
/// 0th column lie in the upright picture. top_left (1) is "as stored".
enum class exif_orientation : std::uint8_t {
  top_left = 1,      ///< as stored
  top_right = 2,     ///< mirrored left-right
  bottom_right = 3,  ///< rotated 180 degrees
  bottom_left = 4,   ///< mirrored top-bottom
  left_top = 5,      ///< transposed (mirrored about the main diagonal)
  right_top = 6,     ///< stored rotated 90 degrees anticlockwise: shown after turning 90 clockwise
  right_bottom = 7,  ///< transversed (mirrored about the other diagonal)
  left_bottom = 8,   ///< stored rotated 90 degrees clockwise: shown after turning 90 anticlockwise
};

[[nodiscard]] constexpr std::string_view to_string(exif_orientation o) noexcept {
  switch (o) {
    case exif_orientation::top_left: return "top-left (as stored)";
    case exif_orientation::top_right: return "top-right (mirrored)";
    case exif_orientation::bottom_right: return "bottom-right (rotated 180)";
    case exif_orientation::bottom_left: return "bottom-left (flipped)";
    case exif_orientation::left_top: return "left-top (transposed)";
    case exif_orientation::right_top: return "right-top (turn 90 clockwise)";
    case exif_orientation::right_bottom: return "right-bottom (transversed)";
    case exif_orientation::left_bottom: return "left-bottom (turn 90 anticlockwise)";
  }
  return "unknown";
}

/// Whether showing the image upright exchanges its width and height (orientations 5 to 8).
[[nodiscard]] constexpr bool swaps_sides(exif_orientation o) noexcept {
  return static_cast<int>(o) >= 5;
}

namespace detail {

/// The Orientation tag of a TIFF structure (an EXIF block after its "Exif\0\0" header, or a PNG
/// eXIf chunk): IFD0's entry 0x0112, a SHORT with value 1..8. top_left for anything else.
[[nodiscard]] inline exif_orientation tiff_orientation(std::span<const std::uint8_t> tiff) noexcept {
  if (tiff.size() < 8) return exif_orientation::top_left;
  bool big = false;
  if (tiff[0] == 'M' && tiff[1] == 'M') {
    big = true;
  } else if (!(tiff[0] == 'I' && tiff[1] == 'I')) {
    return exif_orientation::top_left;
  }
  const auto u16 = [&](std::size_t at) -> std::uint32_t {
    return big ? (std::uint32_t{tiff[at]} << 8) | tiff[at + 1] : (std::uint32_t{tiff[at + 1]} << 8) | tiff[at];
  };
  const auto u32 = [&](std::size_t at) -> std::uint32_t { return big ? (u16(at) << 16) | u16(at + 2) : (u16(at + 2) << 16) | u16(at); };
  if (u16(2) != 42) return exif_orientation::top_left;
  const std::size_t ifd = u32(4);
  if (ifd > tiff.size() || tiff.size() - ifd < 2) return exif_orientation::top_left;
  const std::size_t entries = u16(ifd);
  for (std::size_t e = 0; e < entries; ++e) {
    const std::size_t at = ifd + 2 + 12 * e;
    if (at > tiff.size() || tiff.size() - at < 12) break;  // a cut-off directory: no tag
    if (u16(at) != 0x0112) continue;
    // Type SHORT (3), one value, held in the first two bytes of the value field.
    if (u16(at + 2) != 3 || u32(at + 4) != 1) return exif_orientation::top_left;
    const std::uint32_t v = u16(at + 8);
    return v >= 1 && v <= 8 ? static_cast<exif_orientation>(v) : exif_orientation::top_left;
  }
  return exif_orientation::top_left;
}

/// The first APP1 "Exif" segment's orientation, scanning the markers before the first scan.
[[nodiscard]] inline exif_orientation orientation_in_jpeg(std::span<const std::uint8_t> jpeg) noexcept {
  static constexpr std::array<std::uint8_t, 6> exif_header{'E', 'x', 'i', 'f', 0, 0};
  std::size_t i = 2;  // after SOI
  while (i + 4 <= jpeg.size()) {
    if (jpeg[i] != 0xFF) return exif_orientation::top_left;  // not a marker: damaged headers
    const std::uint8_t marker = jpeg[i + 1];
    if (marker == 0xFF) {  // fill byte before a marker
      ++i;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return exif_orientation::top_left;  // SOS, EOI: no more headers
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {  // RSTn, TEM: no length
      i += 2;
      continue;
    }
    const std::size_t length = (std::size_t{jpeg[i + 2]} << 8) | jpeg[i + 3];  // includes its own 2 bytes
    if (length < 2 || jpeg.size() - (i + 2) < length) return exif_orientation::top_left;
    const auto payload = jpeg.subspan(i + 4, length - 2);
    if (marker == 0xE1 && payload.size() >= exif_header.size() &&
        std::equal(exif_header.begin(), exif_header.end(), payload.begin()))
      return tiff_orientation(payload.subspan(exif_header.size()));
    i += 2 + length;
  }
  return exif_orientation::top_left;
}

/// The eXIf chunk's orientation (PNG 1.5's extension), scanning the chunks before the pixels.
[[nodiscard]] inline exif_orientation orientation_in_png(std::span<const std::uint8_t> png) noexcept {
  std::size_t i = 8;  // after the signature
  while (i + 8 <= png.size()) {
    const std::size_t length = (std::size_t{png[i]} << 24) | (std::size_t{png[i + 1]} << 16) |
                               (std::size_t{png[i + 2]} << 8) | png[i + 3];
    const std::string_view type(reinterpret_cast<const char*>(png.data() + i + 4), 4);
    if (type == "IDAT" || type == "IEND") return exif_orientation::top_left;
    if (png.size() - (i + 8) < length) return exif_orientation::top_left;
    if (type == "eXIf") return tiff_orientation(png.subspan(i + 8, length));
    if (png.size() - (i + 8) - length < 4) return exif_orientation::top_left;  // no room for the CRC
    i += 8 + length + 4;
  }
  return exif_orientation::top_left;
}

}  // namespace detail

/// Where the point (u, v) of the upright picture (fractions of its width and height, origin at the
/// top-left corner) lies in the stored image, as fractions of the stored width and height.
[[nodiscard]] constexpr std::array<double, 2> stored_point(exif_orientation o, double u, double v) noexcept {
  switch (o) {
    case exif_orientation::top_left: return {u, v};
    case exif_orientation::top_right: return {1 - u, v};
    case exif_orientation::bottom_right: return {1 - u, 1 - v};
    case exif_orientation::bottom_left: return {u, 1 - v};
    case exif_orientation::left_top: return {v, u};
    case exif_orientation::right_top: return {v, 1 - u};
    case exif_orientation::right_bottom: return {1 - v, 1 - u};
    case exif_orientation::left_bottom: return {1 - v, u};
  }
  return {u, v};
}

/// The image as it is shown upright: `src` with orientation `o` undone (Pillow's
/// ImageOps.exif_transpose). A copy even for top_left.
[[nodiscard]] inline image upright(image_view src, exif_orientation o) {
  const bool swap = swaps_sides(o);
  const std::int64_t H = src.height, W = src.width, C = src.channels;
  image out(swap ? W : H, swap ? H : W, C);
  if (out.empty()) return out;
  const std::int64_t OH = out.height(), OW = out.width();
  // Output pixel (oy, ox) is stored pixel (start_y + oy * ry + ox * cy, start_x + oy * rx + ox * cx).
  std::int64_t start_y = 0, start_x = 0;
  std::int64_t ry = 0, rx = 0, cy = 0, cx = 0;
  switch (o) {
    case exif_orientation::top_left: ry = 1, cx = 1; break;
    case exif_orientation::top_right: start_x = W - 1, ry = 1, cx = -1; break;
    case exif_orientation::bottom_right: start_y = H - 1, start_x = W - 1, ry = -1, cx = -1; break;
    case exif_orientation::bottom_left: start_y = H - 1, ry = -1, cx = 1; break;
    case exif_orientation::left_top: rx = 1, cy = 1; break;                                  // (ox, oy)
    case exif_orientation::right_top: start_y = H - 1, rx = 1, cy = -1; break;              // (H-1-ox, oy)
    case exif_orientation::right_bottom: start_y = H - 1, start_x = W - 1, rx = -1, cy = -1; break;  // (H-1-ox, W-1-oy)
    case exif_orientation::left_bottom: start_x = W - 1, rx = -1, cy = 1; break;            // (ox, W-1-oy)
  }
  const std::int64_t row_step = (ry * W + rx) * C, col_step = (cy * W + cx) * C;
  const std::uint8_t* origin = src.pixels + (start_y * W + start_x) * C;
  for (std::int64_t oy = 0; oy < OH; ++oy) {
    const std::uint8_t* s = origin + oy * row_step;
    std::uint8_t* d = out.row(oy);
    if (col_step == C) {
      std::copy(s, s + OW * C, d);
      continue;
    }
    for (std::int64_t ox = 0; ox < OW; ++ox, s += col_step, d += C) std::copy(s, s + C, d);
  }
  return out;
}

}  // namespace tpt::data

template <>
struct fmt::formatter<tpt::data::exif_orientation> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(tpt::data::exif_orientation o, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::data::to_string(o), ctx);
  }
};
