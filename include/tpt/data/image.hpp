// Decoded images as the data concern passes them around: 8-bit pixels, rows top to bottom,
// channels interleaved (HWC), 1 (grey) or 3 (RGB) channels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt::data {

/// A read-only window on HWC uint8 pixels owned by someone else (an image, the decoded cache's
/// memory map, a tensor). Rows are packed: row y starts at pixels + y * width * channels.
struct image_view {
  const std::uint8_t* pixels = nullptr;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t channels = 0;

  [[nodiscard]] constexpr std::int64_t row_bytes() const noexcept { return width * channels; }
  [[nodiscard]] constexpr std::size_t size_bytes() const noexcept {
    return static_cast<std::size_t>(height * width * channels);
  }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_bytes() == 0; }
  [[nodiscard]] constexpr const std::uint8_t* row(std::int64_t y) const noexcept {
    return pixels + y * row_bytes();
  }
  [[nodiscard]] constexpr std::uint8_t at(std::int64_t y, std::int64_t x,
                                          std::int64_t c = 0) const noexcept {
    return pixels[(y * width + x) * channels + c];
  }
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
    return {pixels, size_bytes()};
  }
};

/// An image that owns its pixels (what decoding returns). Channels: 1 grey, 2 grey + alpha,
/// 3 RGB, 4 RGBA; the decoded cache and augmentation take 1 or 3.
class image {
 public:
  image() = default;
  /// A black image of the given shape.
  image(std::int64_t height, std::int64_t width, std::int64_t channels)
      : pixels_(checked_size(height, width, channels)),
        height_(height),
        width_(width),
        channels_(channels) {}

  [[nodiscard]] std::int64_t height() const noexcept { return height_; }
  [[nodiscard]] std::int64_t width() const noexcept { return width_; }
  [[nodiscard]] std::int64_t channels() const noexcept { return channels_; }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return pixels_.size(); }
  [[nodiscard]] bool empty() const noexcept { return pixels_.empty(); }

  [[nodiscard]] std::uint8_t* data() noexcept { return pixels_.data(); }
  [[nodiscard]] const std::uint8_t* data() const noexcept { return pixels_.data(); }
  [[nodiscard]] std::uint8_t* row(std::int64_t y) noexcept {
    return pixels_.data() + y * width_ * channels_;
  }
  [[nodiscard]] std::uint8_t& at(std::int64_t y, std::int64_t x, std::int64_t c = 0) noexcept {
    return pixels_[static_cast<std::size_t>((y * width_ + x) * channels_ + c)];
  }
  [[nodiscard]] std::uint8_t at(std::int64_t y, std::int64_t x, std::int64_t c = 0) const noexcept {
    return pixels_[static_cast<std::size_t>((y * width_ + x) * channels_ + c)];
  }

  [[nodiscard]] image_view view() const noexcept {
    return {pixels_.data(), height_, width_, channels_};
  }
  operator image_view() const noexcept { return view(); }  // NOLINT: an image is a view's source

 private:
  static std::size_t checked_size(std::int64_t h, std::int64_t w, std::int64_t c) {
    if (h < 0 || w < 0 || c < 1 || c > 4)
      throw config_error("image", fmt::format("cannot make a {} x {} x {} image", h, w, c));
    return static_cast<std::size_t>(h * w * c);
  }

  std::vector<std::uint8_t> pixels_;
  std::int64_t height_ = 0;
  std::int64_t width_ = 0;
  std::int64_t channels_ = 0;
};

/// Luma of an sRGB pixel exactly as Pillow's convert("L") computes it (ITU-R 601-2 weights in
/// 16-bit fixed point), so grey caches match what a Python pipeline would produce.
[[nodiscard]] constexpr std::uint8_t luma601(std::uint8_t r, std::uint8_t g, std::uint8_t b) noexcept {
  return static_cast<std::uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

/// Write `src` with `channels` channels (1 or 3) into dst (src.height * src.width * channels
/// bytes). Grey to RGB replicates; RGB to grey takes luma601; a 4th channel (alpha) is dropped,
/// as Pillow's convert("RGB") does.
inline void convert_channels_into(image_view src, std::int64_t channels, std::uint8_t* dst) {
  if (channels != 1 && channels != 3)
    throw config_error("channels", fmt::format("must be 1 or 3, got {}", channels));
  const std::int64_t n = src.height * src.width;
  const std::uint8_t* s = src.pixels;
  if (src.channels == channels) {
    std::copy(s, s + n * channels, dst);
  } else if (src.channels == 1) {  // channels == 3
    for (std::int64_t i = 0; i < n; ++i) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = s[i];
  } else if (src.channels == 3 || src.channels == 4) {
    const std::int64_t k = src.channels;
    if (channels == 1) {
      for (std::int64_t i = 0; i < n; ++i) dst[i] = luma601(s[k * i], s[k * i + 1], s[k * i + 2]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        dst[3 * i] = s[k * i];
        dst[3 * i + 1] = s[k * i + 1];
        dst[3 * i + 2] = s[k * i + 2];
      }
    }
  } else if (src.channels == 2) {  // grey + alpha
    for (std::int64_t i = 0; i < n; ++i) {
      if (channels == 1) {
        dst[i] = s[2 * i];
      } else {
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = s[2 * i];
      }
    }
  } else {
    throw config_error("channels", fmt::format("cannot convert {} channels", src.channels));
  }
}

/// convert_channels_into, returning a new image.
[[nodiscard]] inline image convert_channels(image_view src, std::int64_t channels) {
  if (channels != 1 && channels != 3)
    throw config_error("channels", fmt::format("must be 1 or 3, got {}", channels));
  image out(src.height, src.width, channels);
  convert_channels_into(src, channels, out.data());
  return out;
}

}  // namespace tpt::data
