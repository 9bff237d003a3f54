// tpt's checkpoints: a model's weights together with what is needed to use it later (class
// names, input size and channels, stem, normalisation), in one file that Python can also read.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/model/classifier_model.hpp"
#include "tpt/model/detail/torch_pickle.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/model/weights.hpp"

namespace tpt {

/// Everything besides the weights that a program needs to prepare images for a trained model
/// and to name its outputs. Images are expected as pixel / 255, then (x - mean) / std per channel.
struct model_metadata {
  /// "resnet18" or "resnet34" for models load_checkpoint can build; any name for a user's model.
  std::string architecture = "resnet18";
  /// Output i of the classifier is class_names[i].
  std::vector<std::string> class_names{};
  std::int64_t in_channels = 3;
  resnet_stem stem = resnet_stem::imagenet;
  std::int64_t input_height = 224;
  std::int64_t input_width = 224;
  std::vector<double> normalization_mean = {0.485, 0.456, 0.406};  // ImageNet's, as torchvision
  std::vector<double> normalization_std = {0.229, 0.224, 0.225};
  /// Whatever else the writer wants to keep (phase, epoch, validation scores); tpt stores it as is.
  nlohmann::json extra = nlohmann::json::object();

  [[nodiscard]] std::int64_t num_classes() const noexcept {
    return static_cast<std::int64_t>(class_names.size());
  }
};

/// tpt::config_error for metadata that could not describe a working model.
inline void validate(const model_metadata& m) {
  if (m.architecture.empty()) throw config_error("architecture", "must not be empty");
  if (m.class_names.empty()) throw config_error("class_names", "a classifier needs at least one class");
  std::unordered_set<std::string> seen;
  for (const auto& name : m.class_names)
    if (!seen.insert(name).second) throw config_error("class_names", fmt::format("'{}' appears twice", name));
  if (m.in_channels < 1) throw config_error("in_channels", fmt::format("must be at least 1, got {}", m.in_channels));
  if (m.input_height < 1 || m.input_width < 1)
    throw config_error("input size", fmt::format("must be positive, got {}x{}", m.input_height, m.input_width));
  const auto channels = static_cast<std::size_t>(m.in_channels);
  if (m.normalization_mean.size() != channels)
    throw config_error("normalization_mean", fmt::format("needs one value per channel ({}), got {}", channels,
                                                         m.normalization_mean.size()));
  if (m.normalization_std.size() != channels)
    throw config_error("normalization_std", fmt::format("needs one value per channel ({}), got {}", channels,
                                                        m.normalization_std.size()));
  for (double s : m.normalization_std)
    if (!(s > 0)) throw config_error("normalization_std", fmt::format("must be positive, got {}", s));
  if (!m.extra.is_object()) throw config_error("extra", "must be a JSON object");
}

inline nlohmann::json to_json(const model_metadata& m) {
  return nlohmann::json{{"architecture", m.architecture},
                        {"class_names", m.class_names},
                        {"in_channels", m.in_channels},
                        {"stem", std::string(to_string(m.stem))},
                        {"input_height", m.input_height},
                        {"input_width", m.input_width},
                        {"normalization_mean", m.normalization_mean},
                        {"normalization_std", m.normalization_std},
                        {"extra", m.extra}};
}

/// Metadata from its JSON form; tpt::input_error naming `file` and the field at fault.
inline model_metadata metadata_from_json(const nlohmann::json& j, const std::filesystem::path& file) {
  if (!j.is_object()) throw input_error(file, "checkpoint metadata is not a JSON object");
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) throw input_error(file, fmt::format("checkpoint metadata lacks '{}'", key));
    return j.at(key);
  };
  auto fail = [&](const char* key, const char* expected) {
    return input_error(file, fmt::format("checkpoint metadata '{}': expected {}, got {}", key, expected,
                                         j.at(key).dump()));
  };
  auto integer = [&](const char* key) {
    const auto& v = field(key);
    if (!v.is_number_integer()) throw fail(key, "an integer");
    return v.get<std::int64_t>();
  };
  auto numbers = [&](const char* key) {
    const auto& v = field(key);
    std::vector<double> out;
    if (!v.is_array()) throw fail(key, "an array of numbers");
    for (const auto& x : v) {
      if (!x.is_number()) throw fail(key, "an array of numbers");
      out.push_back(x.get<double>());
    }
    return out;
  };

  model_metadata m;
  if (!field("architecture").is_string()) throw fail("architecture", "a string");
  m.architecture = j.at("architecture").get<std::string>();
  const auto& names = field("class_names");
  if (!names.is_array()) throw fail("class_names", "an array of strings");
  m.class_names.clear();
  for (const auto& n : names) {
    if (!n.is_string()) throw fail("class_names", "an array of strings");
    m.class_names.push_back(n.get<std::string>());
  }
  m.in_channels = integer("in_channels");
  if (!field("stem").is_string()) throw fail("stem", "'imagenet' or 'small_image'");
  try {
    m.stem = parse_resnet_stem(j.at("stem").get<std::string>());
  } catch (const config_error&) {
    throw fail("stem", "'imagenet' or 'small_image'");
  }
  m.input_height = integer("input_height");
  m.input_width = integer("input_width");
  m.normalization_mean = numbers("normalization_mean");
  m.normalization_std = numbers("normalization_std");
  m.extra = j.contains("extra") ? j.at("extra") : nlohmann::json::object();
  try {
    validate(m);
  } catch (const config_error& e) {
    throw input_error(file, fmt::format("checkpoint metadata: {}", e.what()));
  }
  return m;
}

/// The ResNet options a checkpoint's metadata describes.
inline resnet_options resnet_options_for(const model_metadata& m) {
  return resnet_options{.num_classes = m.num_classes(), .in_channels = m.in_channels, .stem = m.stem};
}

inline constexpr std::string_view checkpoint_format = "tpt.checkpoint";
inline constexpr std::int64_t checkpoint_version = 1;

/// Save `model`'s parameters and buffers with `metadata`, atomically (a crash never leaves a
/// half-written file in place of the previous one). The file is what Python's torch.save would
/// write for {"format": "tpt.checkpoint", "version": 1, "metadata": "<JSON>", "state_dict":
/// OrderedDict(...)}, so in Python ckpt = torch.load(path, weights_only=True) and then
/// torchvision_model.load_state_dict(ckpt["state_dict"]) work; tensors are contiguous CPU copies
/// whatever the model's device and memory format.
/// tpt::config_error when the metadata contradicts the model (class count, channels, stem).
template <classifier_model M>
void save_checkpoint(const std::filesystem::path& file, const M& model, const model_metadata& metadata) {
  validate(metadata);
  const std::int64_t outputs = classifier_of(model)->options.out_features();
  if (outputs != metadata.num_classes())
    throw config_error("class_names", fmt::format("{} names for a classifier with {} outputs",
                                                  metadata.num_classes(), outputs));
  if constexpr (std::same_as<M, ResNet>) {
    const auto& o = model->options();
    if (o.in_channels != metadata.in_channels)
      throw config_error("in_channels", fmt::format("metadata says {}, the model has {}", metadata.in_channels,
                                                    o.in_channels));
    if (o.stem != metadata.stem)
      throw config_error("stem", fmt::format("metadata says {}, the model has {}", to_string(metadata.stem),
                                             to_string(o.stem)));
    if (model->architecture() != metadata.architecture)
      throw config_error("architecture", fmt::format("metadata says {}, the model is {}", metadata.architecture,
                                                     model->architecture()));
  } else if (is_resnet_architecture(metadata.architecture)) {
    // load_checkpoint would rebuild a ResNet from this file and fail on every weight.
    throw config_error("architecture",
                       fmt::format("the metadata says '{}'{}, but the model is not a tpt::ResNet; name your own "
                                   "architecture (model_metadata::architecture, e.g. \"mynet\") and read the file "
                                   "back with load_checkpoint_into",
                                   metadata.architecture, metadata.architecture == "resnet18" ? " (the default)" : ""));
  }

  detail::pickle::writer pickle;
  pickle.begin_dict();
  pickle.string("format");
  pickle.string(checkpoint_format);
  pickle.string("version");
  pickle.integer(checkpoint_version);
  pickle.string("metadata");
  pickle.string(to_json(metadata).dump());
  pickle.string("state_dict");
  pickle.begin_ordered_dict();
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : model->named_parameters(/*recurse=*/true)) {
      pickle.string(item.key());
      pickle.tensor(item.value());
    }
    for (const auto& item : model->named_buffers(/*recurse=*/true)) {
      pickle.string(item.key());
      pickle.tensor(item.value());
    }
  }
  pickle.end_dict();
  pickle.end_dict();
  const std::string bytes = pickle.finish();
  io::write_atomically(
      file, [&](std::ostream& out) { detail::pickle::write_torch_archive(file, out, bytes, pickle.storages()); },
      std::ios::binary);
}

namespace detail {

struct checkpoint_contents {
  model_metadata metadata;
  state_dict weights;
};

inline checkpoint_contents read_checkpoint(const std::filesystem::path& file) {
  const auto loaded = pickle::load_torch_file(file);
  const auto* root = std::get_if<pickle::dict_ptr>(&loaded.root.v);
  if (!root || !is_tpt_checkpoint(*root))
    throw input_error(file, "is not a tpt checkpoint (no entry 'format': 'tpt.checkpoint'); to start a "
                            "model from a PyTorch state_dict use tpt::load_weights");
  const auto* version = find_entry(*root, "version");
  const auto* v = version ? std::get_if<std::int64_t>(&version->v) : nullptr;
  if (!v) throw input_error(file, "tpt checkpoint without a version");
  if (*v > checkpoint_version)
    throw input_error(file, fmt::format("was written by a newer tpt (checkpoint version {}); this tpt reads "
                                        "version {}", *v, checkpoint_version));
  const auto* text = find_entry(*root, "metadata");
  const auto* json_text = text ? std::get_if<std::string>(&text->v) : nullptr;
  if (!json_text) throw input_error(file, "tpt checkpoint without its metadata");
  nlohmann::json j = nlohmann::json::parse(*json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw input_error(file, "checkpoint metadata is not valid JSON");
  return {metadata_from_json(j, file), extract_state_dict(file, loaded, {.entry = "state_dict"})};
}

}  // namespace detail

/// Only the metadata of a checkpoint (e.g. to print what a model predicts before loading it).
inline model_metadata read_checkpoint_metadata(const std::filesystem::path& file) {
  return detail::read_checkpoint(file).metadata;
}

/// Load a checkpoint into an existing model (a user's own, or a ResNet built by the caller).
/// Names and shapes must match exactly; tpt::input_error lists every mismatch otherwise.
template <classifier_model M>
model_metadata load_checkpoint_into(const std::filesystem::path& file, M& model) {
  auto contents = detail::read_checkpoint(file);
  const std::int64_t outputs = classifier_of(model)->options.out_features();
  if (outputs != contents.metadata.num_classes())
    throw input_error(file, fmt::format("holds a {}-class model, the model given has {} outputs",
                                        contents.metadata.num_classes(), outputs));
  load_state_dict(model, contents.weights, {.replace_classifier = false, .strict = true}, file);
  return std::move(contents.metadata);
}

struct checkpoint {
  ResNet model;
  model_metadata metadata;
};

/// Build the ResNet a checkpoint describes, load its weights and move it to `device`.
/// The model comes back in eval mode, ready for prediction.
inline checkpoint load_checkpoint(const std::filesystem::path& file, torch::Device device = torch::kCPU) {
  auto contents = detail::read_checkpoint(file);
  const auto& arch = contents.metadata.architecture;
  if (arch != "resnet18" && arch != "resnet34")
    throw input_error(file, fmt::format("holds a '{}' model, which tpt cannot build; construct it yourself "
                                        "and use tpt::load_checkpoint_into", arch));
  ResNet model = make_resnet(arch, resnet_options_for(contents.metadata));
  load_state_dict(model, contents.weights, {.replace_classifier = false, .strict = true}, file);
  model->to(device);
  model->eval();
  return {std::move(model), std::move(contents.metadata)};
}

}  // namespace tpt

template <>
struct fmt::formatter<tpt::model_metadata> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::model_metadata& m, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}, {} classes, {} channel{}, {} stem, {}x{} input", m.architecture,
                          m.num_classes(), m.in_channels, m.in_channels == 1 ? "" : "s", tpt::to_string(m.stem),
                          m.input_height, m.input_width);
  }
};
