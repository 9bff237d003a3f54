// Small image datasets held decoded in memory (Fashion-MNIST and the long-tailed sets made from
// it): uint8 images, N x H x W x C (HWC per image, as the decoded cache stores them), with labels
// and class names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"

namespace tpt::data {

struct array_dataset {
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t channels = 0;
  std::vector<std::uint8_t> pixels;   ///< size() * image_bytes(), image after image, HWC
  std::vector<std::int64_t> labels;   ///< one per image, indices into class_names
  std::vector<std::string> class_names;

  [[nodiscard]] std::size_t size() const noexcept { return labels.size(); }
  [[nodiscard]] bool empty() const noexcept { return labels.empty(); }
  [[nodiscard]] std::int64_t num_classes() const noexcept {
    return static_cast<std::int64_t>(class_names.size());
  }
  [[nodiscard]] std::size_t image_bytes() const noexcept {
    return static_cast<std::size_t>(height * width * channels);
  }
  /// The pixels of image i (H x W x C, row-major).
  [[nodiscard]] std::span<const std::uint8_t> image(std::size_t i) const {
    return std::span<const std::uint8_t>(pixels).subspan(i * image_bytes(), image_bytes());
  }
  /// The N x H x W x C shape, for wrapping the pixels in a tensor without copying.
  [[nodiscard]] std::vector<std::int64_t> shape() const {
    return {static_cast<std::int64_t>(size()), height, width, channels};
  }
  [[nodiscard]] std::vector<std::int64_t> class_counts() const {
    std::vector<std::int64_t> counts(class_names.size(), 0);
    for (auto l : labels)
      if (l >= 0 && l < num_classes()) ++counts[static_cast<std::size_t>(l)];
    return counts;
  }

  /// The images at `indices`, in that order (repeats allowed), with the same classes.
  [[nodiscard]] array_dataset subset(std::span<const std::int64_t> indices) const {
    array_dataset out{height, width, channels, {}, {}, class_names};
    out.pixels.reserve(indices.size() * image_bytes());
    out.labels.reserve(indices.size());
    for (auto i : indices) {
      if (i < 0 || static_cast<std::size_t>(i) >= size())
        throw config_error("indices", fmt::format("index {} outside 0..{}", i, size() - 1));
      const auto img = image(static_cast<std::size_t>(i));
      out.pixels.insert(out.pixels.end(), img.begin(), img.end());
      out.labels.push_back(labels[static_cast<std::size_t>(i)]);
    }
    return out;
  }

  /// Shapes agree and labels index the classes; tpt::input_error naming `origin` otherwise.
  void validate(const std::filesystem::path& origin) const {
    if (height <= 0 || width <= 0 || channels <= 0)
      throw input_error(origin, fmt::format("image shape {}x{}x{} is not positive", height, width, channels));
    if (pixels.size() != size() * image_bytes())
      throw input_error(origin, fmt::format("{} pixel bytes for {} images of {} bytes", pixels.size(),
                                            size(), image_bytes()));
    if (class_names.empty()) throw input_error(origin, "the dataset has no classes");
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] < 0 || labels[i] >= num_classes())
        throw input_error(origin, fmt::format("image {}: label {} outside 0..{}", i, labels[i],
                                              num_classes() - 1));
  }
};

}  // namespace tpt::data

/// "14,000 images of 28x28x1 in 10 classes".
template <>
struct fmt::formatter<tpt::data::array_dataset> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const tpt::data::array_dataset& d, FormatContext& ctx) const {
    return fmt::format_to(ctx.out(), "{} images of {}x{}x{} in {} classes", d.size(), d.height,
                          d.width, d.channels, d.class_names.size());
  }
};
