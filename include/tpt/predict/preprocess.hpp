// How an image file becomes a trained model's input, exactly as the model saw its validation
// images in training: decode (with DCT scaling), resize to the training cache's working size
// under its policy, evaluation crop and normalisation. For a detection, the same steps run on the
// crop. The settings travel in the checkpoint's metadata (extra.preprocessing).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/data/augment.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/image.hpp"
#include "tpt/data/image_error.hpp"
#include "tpt/data/resize.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/predict/crop.hpp"

namespace tpt::predict {

/// Everything that turns a decoded frame into the model's input tensor.
struct preprocessing {
  /// Decoding and the resize to the working size: the training cache's settings.
  data::cache_settings working{};
  /// The evaluation crop: this fraction of the largest centred box with the input's aspect ratio
  /// of the working image (0.875 = Resize(256) + CenterCrop(224)), as data::augment_mode::eval.
  double crop_fraction = 0.875;
  std::int64_t input_height = 224;
  std::int64_t input_width = 224;
  std::vector<float> mean{0.485f, 0.456f, 0.406f};
  std::vector<float> std{0.229f, 0.224f, 0.225f};

  [[nodiscard]] std::int64_t channels() const noexcept { return working.channels; }

  /// The evaluation augmentation these settings describe.
  [[nodiscard]] data::augment_options eval_options() const {
    data::augment_options o;
    o.mode = data::augment_mode::eval;
    o.height = input_height;
    o.width = input_width;
    o.eval_crop_fraction = crop_fraction;
    o.mean = mean;
    o.std = std;
    o.filter = working.filter;
    return o;
  }
};

/// Where a classifier's preprocessing came from, for the run's report.
enum class preprocessing_origin {
  checkpoint,  ///< recorded in the checkpoint's metadata by the trainer
  defaults,    ///< not recorded: working size = input / 0.875, stretch, triangle filter
};

[[nodiscard]] constexpr std::string_view to_string(preprocessing_origin o) noexcept {
  return o == preprocessing_origin::checkpoint ? "recorded in the checkpoint" : "defaults (none recorded in the checkpoint)";
}

inline void validate(const preprocessing& p) {
  if (p.working.height <= 0 || p.working.width <= 0)
    throw config_error("resize", fmt::format("the working size must be positive, got {}x{}", p.working.width,
                                             p.working.height));
  if (p.working.channels != 1 && p.working.channels != 3)
    throw config_error("channels", fmt::format("must be 1 or 3, got {}", p.working.channels));
  if (p.working.max_pixels <= 0)
    throw config_error("max_pixels", fmt::format("must be positive, got {}", p.working.max_pixels));
  data::validate(p.eval_options(), p.working.channels);
}

namespace detail {

inline data::resize_policy parse_policy(std::string_view s, const std::filesystem::path& source) {
  if (s == "stretch") return data::resize_policy::stretch;
  if (s == "center_crop") return data::resize_policy::center_crop;
  throw input_error(source, fmt::format("preprocessing policy '{}': expected 'stretch' or 'center_crop'", s));
}

inline data::resize_filter parse_filter(std::string_view s, const std::filesystem::path& source) {
  if (s == "box") return data::resize_filter::box;
  if (s == "triangle") return data::resize_filter::triangle;
  if (s == "lanczos3") return data::resize_filter::lanczos3;
  throw input_error(source, fmt::format("preprocessing filter '{}': expected 'box', 'triangle' or 'lanczos3'", s));
}

}  // namespace detail

/// The preprocessing a trainer records: the working (cache) settings and the evaluation crop.
/// Input size, channels and normalisation are the checkpoint metadata's own fields.
[[nodiscard]] inline nlohmann::json preprocessing_json(const data::cache_settings& working, double crop_fraction) {
  return {{"working", data::detail::settings_json(working)}, {"crop_fraction", crop_fraction}};
}

/// Record in `metadata.extra["preprocessing"]` how the model's training images were prepared
/// (the decoded cache's settings and the evaluation crop), so that prediction prepares images the
/// same way. Trainers call this before save_checkpoint.
inline void record_preprocessing(model_metadata& metadata, const data::cache_settings& working,
                                 double crop_fraction = 0.875) {
  metadata.extra["preprocessing"] = preprocessing_json(working, crop_fraction);
}

/// Whether a checkpoint's metadata records its preprocessing.
[[nodiscard]] inline bool has_recorded_preprocessing(const model_metadata& m) {
  return m.extra.is_object() && m.extra.contains("preprocessing");
}

/// The preprocessing for a model: input size, channels, mean and std from its metadata; the
/// working size, policy, filter, DCT scaling and crop fraction from extra.preprocessing when the
/// trainer recorded it, else input / 0.875 (256 for 224), stretch, triangle and 0.875.
/// tpt::input_error naming `source` when the recorded settings are malformed.
[[nodiscard]] inline preprocessing preprocessing_for(const model_metadata& m,
                                                     const std::filesystem::path& source = "checkpoint metadata") {
  preprocessing p;
  p.input_height = m.input_height;
  p.input_width = m.input_width;
  p.working.channels = m.in_channels;
  p.mean.assign(m.normalization_mean.begin(), m.normalization_mean.end());
  p.std.assign(m.normalization_std.begin(), m.normalization_std.end());
  p.working.height = std::lround(static_cast<double>(m.input_height) / p.crop_fraction);
  p.working.width = std::lround(static_cast<double>(m.input_width) / p.crop_fraction);
  if (has_recorded_preprocessing(m)) {
    const auto& j = m.extra.at("preprocessing");
    auto bad = [&](const std::string& what) {
      return input_error(source, fmt::format("extra.preprocessing: {} (got {})", what, j.dump()));
    };
    if (!j.is_object() || !j.contains("working") || !j.at("working").is_object())
      throw bad("expected {\"working\": {...cache settings...}, \"crop_fraction\": ...}");
    const auto& w = j.at("working");
    auto integer = [&](const char* key, std::int64_t& out) {
      if (!w.contains(key)) return;
      if (!w.at(key).is_number_integer()) throw bad(fmt::format("working.{} must be an integer", key));
      out = w.at(key).get<std::int64_t>();
    };
    integer("height", p.working.height);
    integer("width", p.working.width);
    std::int64_t channels = p.working.channels;
    integer("channels", channels);
    if (channels != m.in_channels)
      throw bad(fmt::format("working.channels is {} but the model takes {} channels", channels, m.in_channels));
    integer("max_pixels", p.working.max_pixels);
    if (w.contains("policy")) {
      if (!w.at("policy").is_string()) throw bad("working.policy must be a string");
      p.working.policy = detail::parse_policy(w.at("policy").get<std::string>(), source);
    }
    if (w.contains("filter")) {
      if (!w.at("filter").is_string()) throw bad("working.filter must be a string");
      p.working.filter = detail::parse_filter(w.at("filter").get<std::string>(), source);
    }
    if (w.contains("dct_scaling")) {
      if (!w.at("dct_scaling").is_boolean()) throw bad("working.dct_scaling must be true or false");
      p.working.dct_scaling = w.at("dct_scaling").get<bool>();
    }
    // Checkpoints from before tpt applied EXIF orientation do not record it: their images were
    // used as stored.
    p.working.exif_orientation = false;
    if (w.contains("exif_orientation")) {
      if (!w.at("exif_orientation").is_boolean()) throw bad("working.exif_orientation must be true or false");
      p.working.exif_orientation = w.at("exif_orientation").get<bool>();
    }
    if (j.contains("crop_fraction")) {
      if (!j.at("crop_fraction").is_number()) throw bad("crop_fraction must be a number");
      p.crop_fraction = j.at("crop_fraction").get<double>();
    }
  }
  // Prediction tolerates what Pillow tolerates: a JPEG with a libjpeg warning still gets a
  // prediction (training's strict cache would have dropped it; good files decode identically).
  p.working.strict_jpeg = false;
  try {
    validate(p);
  } catch (const config_error& e) {
    throw input_error(source, fmt::format("preprocessing: {}", e.what()));
  }
  return p;
}

[[nodiscard]] inline preprocessing_origin origin_of(const model_metadata& m) {
  return has_recorded_preprocessing(m) ? preprocessing_origin::checkpoint : preprocessing_origin::defaults;
}

/// Per-thread buffers, so that preparing one input allocates nothing after the first.
struct preprocess_scratch {
  std::vector<std::uint8_t> working;
};

/// The model input for all of `src` (a decoded frame or crop): resize to the working size under
/// the policy, then the evaluation crop and normalisation, into `out` (C x H x W floats).
inline void preprocess_into(data::image_view src, const preprocessing& p, float* out, preprocess_scratch& scratch) {
  if (src.channels != p.channels())
    throw config_error("channels", fmt::format("the image has {} channels, the model takes {}", src.channels, p.channels()));
  const auto& w = p.working;
  scratch.working.resize(static_cast<std::size_t>(w.height * w.width * w.channels));
  data::resize_into(src, data::policy_box(src.width, src.height, w.width, w.height, w.policy), scratch.working.data(),
                    w.height, w.width, w.filter);
  const data::image_view working{scratch.working.data(), w.height, w.width, w.channels};
  data::augment_into(working, p.eval_options(), 0, out, data::tensor_layout::chw);
}

/// What preparing one image file gives: the decoded frame's facts and one input per region
/// (none for a region with no pixels in the frame).
struct prepared_image {
  data::image_info info{};       ///< as the file's header says
  std::int64_t decoded_width = 0;
  std::int64_t decoded_height = 0;
  std::vector<pixel_rect> crops{};   ///< per region, in decoded pixels (empty: nothing to classify)
  std::vector<float> inputs{};       ///< the non-empty regions' inputs, C x H x W each, in order
  [[nodiscard]] std::int64_t input_count() const noexcept {
    return static_cast<std::int64_t>(std::count_if(crops.begin(), crops.end(), [](const pixel_rect& r) { return !r.empty(); }));
  }
};

/// Read and decode `file` once and prepare the input for each box (whole_frame for the whole
/// image): the box's region (crop options applied) in the frame's pixels, rounded outward to whole
/// decoded pixels, copied out and preprocessed. JPEGs are decoded at the smallest DCT scale that
/// keeps every region at or above the working size. tpt::data::image_error when the file cannot
/// be read or decoded.
[[nodiscard]] inline prepared_image prepare_image(const std::filesystem::path& file, std::span<const normalized_box> boxes,
                                                  const preprocessing& p, const crop_options& crop_opts = {},
                                                  preprocess_scratch* scratch = nullptr) {
  preprocess_scratch local;
  preprocess_scratch& s = scratch ? *scratch : local;
  const std::vector<std::uint8_t> bytes = data::read_image_bytes(file);
  prepared_image out;
  out.info = data::read_image_info(bytes, file);
  // Boxes are fractions of the upright picture (MegaDetector detects on it). When the model takes
  // frames as stored, each box moves to where it lies in the stored image instead.
  const bool upright = p.working.exif_orientation;
  const auto [width, height] = out.info.decoded_size(upright);
  std::vector<data::source_box> regions;
  regions.reserve(boxes.size());
  for (const auto& b : boxes)
    regions.push_back(detection_region(upright ? b : stored_box(b, out.info.orientation), width, height, crop_opts));

  data::decode_options opt;
  opt.channels = p.working.channels;
  opt.strict = p.working.strict_jpeg;
  opt.max_pixels = p.working.max_pixels;
  opt.apply_exif_orientation = upright;
  if (p.working.dct_scaling && out.info.format == data::image_format::jpeg) {
    const auto [min_w, min_h] =
        data::minimum_decode_size(regions, width, height, p.working.width, p.working.height, p.working.policy);
    opt.min_width = min_w;
    opt.min_height = min_h;
  }
  const data::image decoded = data::decode_image(bytes, file, opt);
  out.decoded_width = decoded.width();
  out.decoded_height = decoded.height();
  const double sx = static_cast<double>(decoded.width()) / static_cast<double>(width);
  const double sy = static_cast<double>(decoded.height()) / static_cast<double>(height);

  const std::size_t input_floats = static_cast<std::size_t>(p.channels() * p.input_height * p.input_width);
  for (const auto& region : regions) {
    out.crops.push_back(covering_pixels(region, sx, sy, decoded.width(), decoded.height()));
  }
  out.inputs.resize(input_floats * static_cast<std::size_t>(out.input_count()));
  float* dst = out.inputs.data();
  for (const auto& rect : out.crops) {
    if (rect.empty()) continue;
    if (rect == pixel_rect{0, 0, decoded.width(), decoded.height()}) {
      preprocess_into(decoded.view(), p, dst, s);
    } else {
      const data::image piece = crop(decoded.view(), rect);
      preprocess_into(piece.view(), p, dst, s);
    }
    dst += input_floats;
  }
  return out;
}

}  // namespace tpt::predict

template <>
struct fmt::formatter<tpt::predict::preprocessing> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::predict::preprocessing& p, Context& ctx) const {
    return fmt::format_to(ctx.out(), "resize to {}x{} ({}, {}{}), centre crop {} to {}x{}, {} channel{}{}",
                          p.working.width, p.working.height, tpt::data::to_string(p.working.policy),
                          tpt::data::to_string(p.working.filter), p.working.dct_scaling ? ", DCT-scaled JPEG decoding" : "",
                          p.crop_fraction, p.input_width, p.input_height, p.working.channels,
                          p.working.channels == 1 ? "" : "s",
                          p.working.exif_orientation ? "" : ", frames as stored (EXIF orientation not applied)");
  }
};

template <>
struct fmt::formatter<tpt::predict::preprocessing_origin> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(tpt::predict::preprocessing_origin o, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(tpt::predict::to_string(o), ctx);
  }
};
