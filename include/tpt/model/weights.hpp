// Weights from PyTorch: read a state_dict saved with torch.save (e.g. torchvision's ImageNet
// ResNet-18) and copy it into a tpt model, replacing the classifier when the class count differs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"
#include "tpt/model/classifier_model.hpp"
#include "tpt/model/detail/torch_pickle.hpp"

namespace tpt {

/// Parameter and buffer tensors by qualified name, in the file's order (LibTorch's vocabulary).
using state_dict = torch::OrderedDict<std::string, torch::Tensor>;

struct read_weights_options {
  /// The entry of a dict that holds the weights when the file nests them, e.g. "model" for
  /// torch.save({"model": m.state_dict(), "epoch": 3}, path); empty: the file is the state_dict.
  /// tpt's own checkpoints are recognised without it.
  std::string entry{};
  /// A prefix to strip from every name, e.g. "module." for weights saved from DataParallel.
  std::string strip_prefix{};
};

namespace detail {

inline std::string describe_entries(const pickle::dict_ptr& dict) {
  std::vector<std::string> names;
  for (const auto& [k, v] : *dict)
    if (const auto* s = std::get_if<std::string>(&k.v); s && std::holds_alternative<pickle::dict_ptr>(v.v))
      names.push_back(fmt::format("'{}'", *s));
  return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

inline const pickle::value* find_entry(const pickle::dict_ptr& dict, std::string_view key) {
  for (const auto& [k, v] : *dict)
    if (const auto* s = std::get_if<std::string>(&k.v); s && *s == key) return &v;
  return nullptr;
}

inline bool is_tpt_checkpoint(const pickle::dict_ptr& dict) {
  const auto* format = find_entry(dict, "format");
  const auto* name = format ? std::get_if<std::string>(&format->v) : nullptr;
  return name && *name == "tpt.checkpoint";
}

/// The state_dict inside a loaded torch file, or an input_error saying what the file holds.
inline state_dict extract_state_dict(const std::filesystem::path& file, const pickle::torch_file& loaded,
                                     const read_weights_options& options) {
  const auto* root = std::get_if<pickle::dict_ptr>(&loaded.root.v);
  if (!root)
    throw input_error(file, fmt::format("holds a {}, not a state_dict (a dict of tensors)",
                                        pickle::kind_name(loaded.root)));
  pickle::dict_ptr dict = *root;
  std::string entry = options.entry;
  if (entry.empty() && is_tpt_checkpoint(dict)) entry = "state_dict";
  if (!entry.empty()) {
    const auto* nested = find_entry(dict, entry);
    if (!nested)
      throw input_error(file, fmt::format("has no entry '{}'; entries holding dicts: {}", entry,
                                          describe_entries(dict)));
    const auto* d = std::get_if<pickle::dict_ptr>(&nested->v);
    if (!d)
      throw input_error(file, fmt::format("entry '{}' holds a {}, not a state_dict", entry,
                                          pickle::kind_name(*nested)));
    dict = *d;
  }

  state_dict out;
  std::vector<std::string> not_tensors;
  for (const auto& [k, v] : *dict) {
    const auto* name = std::get_if<std::string>(&k.v);
    if (!name)
      throw input_error(file, fmt::format("has a key of type {}; a state_dict's keys are str",
                                          pickle::kind_name(k)));
    const auto* t = std::get_if<pickle::tensor_ref>(&v.v);
    if (!t) {
      not_tensors.push_back(fmt::format("'{}' ({})", *name, pickle::kind_name(v)));
      continue;
    }
    std::string key = *name;
    if (!options.strip_prefix.empty() && key.starts_with(options.strip_prefix))
      key.erase(0, options.strip_prefix.size());
    if (out.contains(key))
      throw input_error(file, fmt::format("holds '{}' twice after stripping '{}'", key, options.strip_prefix));
    out.insert(key, loaded.tensor(file, *t, *name));
  }
  if (!not_tensors.empty()) {
    const std::string nested = describe_entries(dict);
    throw input_error(
        file, fmt::format("is not a state_dict: {} {} not a tensor{}", fmt::join(not_tensors, ", "),
                          not_tensors.size() == 1 ? "is" : "are",
                          nested == "none" ? std::string()
                                           : fmt::format(" (if the weights are nested, name the entry "
                                                         "with read_weights_options::entry; entries "
                                                         "holding dicts: {})", nested)));
  }
  if (out.is_empty()) throw input_error(file, "holds an empty state_dict");
  return out;
}

}  // namespace detail

/// Read the state_dict in a file written by Python's torch.save (zip format since PyTorch 1.6, or
/// the legacy format before it), e.g. torch.save(torchvision.models.resnet18().state_dict(), p),
/// or a tpt checkpoint. Tensors are on the CPU; tensors that shared storage in Python share it
/// here. tpt::input_error naming the file for a missing, corrupt or unexpected file.
inline state_dict read_state_dict(const std::filesystem::path& file, const read_weights_options& options = {}) {
  return detail::extract_state_dict(file, detail::pickle::load_torch_file(file), options);
}

struct load_weights_options {
  /// When the file's classifier has another class count than the model's (1000 ImageNet classes
  /// into a 52-class model), keep the model's freshly initialised classifier instead of failing.
  bool replace_classifier = true;
  /// false: skip, and list in the report, names missing on either side and shapes that differ,
  /// instead of failing (e.g. ImageNet weights into a small-image stem, whose conv1 differs).
  bool strict = true;
};

/// What load_weights did, for the caller to log: tensors copied, classifier replaced or not.
struct load_report {
  struct classifier_replacement {
    std::int64_t file_classes = 0;
    std::int64_t model_classes = 0;
  };

  std::filesystem::path file{};
  std::size_t loaded = 0;
  /// Qualified name of the model's classifier ("fc").
  std::string classifier{};
  /// Set when the file's classifier was left out for another class count.
  std::optional<classifier_replacement> replaced_classifier{};
  /// BatchNorm counters absent from old files (num_batches_tracked), left at their value.
  std::vector<std::string> defaulted{};
  /// Only with strict = false: what was not loaded and why.
  std::vector<std::string> skipped{};
};

namespace detail {

inline std::string shape(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

/// Copy `weights` into `module`'s parameters and buffers, checking every name and shape first so
/// that a mismatch changes nothing. `classifier` is the classifier's qualified name (or empty).
inline load_report copy_state_dict(torch::nn::Module& module, const state_dict& weights,
                                   const std::filesystem::path& file, const std::string& classifier,
                                   const load_weights_options& options) {
  load_report report;
  report.file = file;
  report.classifier = classifier;

  state_dict targets;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) targets.insert(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) targets.insert(item.key(), item.value());

  // The classifier is replaced when both of its tensors differ only in the class count.
  std::vector<std::string> replaced;
  if (!classifier.empty() && options.replace_classifier) {
    const std::string w = classifier + ".weight", b = classifier + ".bias";
    const auto* fw = weights.find(w);
    const auto* mw = targets.find(w);
    if (fw && mw && fw->dim() == 2 && mw->dim() == 2 && fw->size(1) == mw->size(1) &&
        fw->size(0) != mw->size(0)) {
      const auto* fb = weights.find(b);
      const auto* mb = targets.find(b);
      const bool bias_ok = (!fb && !mb) || (fb && mb && fb->dim() == 1 && fb->size(0) == fw->size(0) &&
                                            mb->size(0) == mw->size(0));
      if (bias_ok) {
        report.replaced_classifier = load_report::classifier_replacement{fw->size(0), mw->size(0)};
        replaced = {w, b};
      }
    }
  }
  auto is_replaced = [&](const std::string& name) {
    return std::find(replaced.begin(), replaced.end(), name) != replaced.end();
  };

  std::vector<std::string> problems;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& item : targets) {
    const std::string& name = item.key();
    if (is_replaced(name)) continue;
    const auto* source = weights.find(name);
    if (!source) {
      if (name.ends_with(".num_batches_tracked")) report.defaulted.push_back(name);
      else problems.push_back(fmt::format("{}: missing from the file (the model has {})", name,
                                          shape(item.value())));
      continue;
    }
    if (source->sizes() != item.value().sizes()) {
      problems.push_back(fmt::format("{}: the file has {}, the model {}", name, shape(*source),
                                     shape(item.value())));
      continue;
    }
    copies.emplace_back(item.value(), *source);
  }
  for (const auto& item : weights)
    if (!targets.contains(item.key()))
      problems.push_back(fmt::format("{}: in the file ({}) but not in the model", item.key(), shape(item.value())));

  if (!problems.empty() && options.strict) {
    std::string hint;
    if (!classifier.empty() && !options.replace_classifier)
      hint = " (replace_classifier is off)";
    throw input_error(file, fmt::format("does not match the model: {} mismatch{}{}:\n  {}", problems.size(),
                                        problems.size() == 1 ? "" : "es", hint, fmt::join(problems, "\n  ")));
  }
  report.skipped = std::move(problems);

  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
  report.loaded = copies.size();
  return report;
}

}  // namespace detail

/// Copy a state_dict into a model whose names follow the same convention (torchvision's, for
/// tpt::ResNet). Every name and shape is checked before anything is copied: with strict = true
/// (the default) any mismatch throws one tpt::input_error listing all of them and leaves the
/// model untouched. The classifier is found through the model's classifier() hook.
template <classifier_model M>
load_report load_state_dict(M& model, const state_dict& weights, const load_weights_options& options = {},
                            const std::filesystem::path& source = "state_dict") {
  return detail::copy_state_dict(*model, weights, source, classifier_name(model), options);
}

/// read_state_dict + load_state_dict: start a model from weights saved in Python, e.g.
///   auto model = tpt::resnet18({.num_classes = 52});
///   fmt::print("{}\n", tpt::load_weights(model, "resnet18-f37072fd.pth"));
/// which loads everything but fc and reports that fc (1000 classes in the file) was replaced.
template <classifier_model M>
load_report load_weights(M& model, const std::filesystem::path& file, const load_weights_options& options = {},
                         const read_weights_options& read = {}) {
  return load_state_dict(model, read_state_dict(file, read), options, file);
}

}  // namespace tpt

template <>
struct fmt::formatter<tpt::load_report> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const tpt::load_report& r, Context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "loaded {} tensors from {}", r.loaded, r.file.string());
    if (r.replaced_classifier)
      out = fmt::format_to(out,
                           "; classifier '{}' replaced: the file has {} classes, the model {}, so '{}' "
                           "keeps its fresh initialisation",
                           r.classifier, r.replaced_classifier->file_classes,
                           r.replaced_classifier->model_classes, r.classifier);
    if (!r.defaulted.empty())
      out = fmt::format_to(out, "; {} BatchNorm counters absent from the file left at their value",
                           r.defaulted.size());
    if (!r.skipped.empty())
      out = fmt::format_to(out, "; skipped {}: {}", r.skipped.size(), fmt::join(r.skipped, "; "));
    return out;
  }
};
