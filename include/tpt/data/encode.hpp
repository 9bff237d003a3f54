// Encoding 8-bit grey or RGB images as JPEG (TurboJPEG) or PNG (libpng): for previews of what
// the model sees, and for the synthetic fixtures that tests and benchmarks decode.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <png.h>
#include <turbojpeg.h>

#include "tpt/core/error.hpp"
#include "tpt/data/image.hpp"

namespace tpt::data {

/// Chroma subsampling of an encoded JPEG; cameras write 4:2:0 or 4:2:2.
enum class jpeg_subsampling { s444, s422, s420 };

/// A JPEG of `img` (1 or 3 channels) at `quality` 1..100.
[[nodiscard]] inline std::vector<std::uint8_t> encode_jpeg(
    image_view img, int quality = 90, jpeg_subsampling subsampling = jpeg_subsampling::s420) {
  if (img.channels != 1 && img.channels != 3)
    throw config_error("channels", fmt::format("JPEG needs 1 or 3 channels, got {}", img.channels));
  if (quality < 1 || quality > 100)
    throw config_error("quality", fmt::format("must be in 1..100, got {}", quality));
  if (img.empty()) throw config_error("image", "cannot encode an empty image");
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitCompress(), tjDestroy);
  if (!tj) throw error("TurboJPEG: cannot create a compressor");
  const int samp = img.channels == 1                               ? TJSAMP_GRAY
                   : subsampling == jpeg_subsampling::s444 ? TJSAMP_444
                   : subsampling == jpeg_subsampling::s422 ? TJSAMP_422
                                                           : TJSAMP_420;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj.get(), img.pixels, static_cast<int>(img.width), 0, static_cast<int>(img.height),
                  img.channels == 1 ? TJPF_GRAY : TJPF_RGB, &buffer, &size, samp, quality,
                  TJFLAG_ACCURATEDCT) != 0) {
    std::string message = tjGetErrorStr2(tj.get());
    tjFree(buffer);
    throw error(fmt::format("TurboJPEG: cannot encode: {}", message));
  }
  std::vector<std::uint8_t> out(buffer, buffer + size);
  tjFree(buffer);
  return out;
}

/// A PNG of `img` (1 or 3 channels, 8 bits).
[[nodiscard]] inline std::vector<std::uint8_t> encode_png(image_view img) {
  if (img.channels != 1 && img.channels != 3)
    throw config_error("channels", fmt::format("PNG needs 1 or 3 channels here, got {}", img.channels));
  if (img.empty()) throw config_error("image", "cannot encode an empty image");
  png_image p{};
  p.version = PNG_IMAGE_VERSION;
  p.width = static_cast<png_uint_32>(img.width);
  p.height = static_cast<png_uint_32>(img.height);
  p.format = img.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&p, nullptr, &size, 0, img.pixels, 0, nullptr))
    throw error(fmt::format("libpng: cannot encode: {}", p.message));
  std::vector<std::uint8_t> out(size);
  if (!png_image_write_to_memory(&p, out.data(), &size, 0, img.pixels, 0, nullptr))
    throw error(fmt::format("libpng: cannot encode: {}", p.message));
  out.resize(size);
  return out;
}

}  // namespace tpt::data
