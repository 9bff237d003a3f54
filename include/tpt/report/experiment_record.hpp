// tpt::experiment_record: one evaluated run (a model after one phase, one seed) with everything a
// report needs, its validation, and its JSON form (save one per run, report over many later).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/metrics/classification_report.hpp"

namespace tpt {

/// One evaluated run: a model after phase 1 or 2, trained with one loss and one seed, scored on
/// the test set. The five models of the paper are named "baseline", "ROS", "RUS",
/// "ROS&RUS(15K)" and "ROS&RUS(5K)" (any spelling with the same letters and digits matches the
/// paper's figures); any other name is a user's model. The baseline is single-phase: phase 1.
struct experiment_record {
  std::string model;
  int phase = 1;
  std::string loss = "cross_entropy";
  std::uint64_t seed = 0;
  std::vector<std::string> class_names;    // one per class id
  std::vector<std::int64_t> train_counts;  // images per class in the original (imbalanced) training set
  std::vector<std::int64_t> test_counts;   // images per class in the test set
  classification_report test;              // the test-set report
  /// Each test image's predicted and true class, in one fixed order of the test images (the same
  /// for every model evaluated on that test set): what the paired bootstrap resamples. May be
  /// left empty (no confidence intervals for this run then).
  std::vector<std::int64_t> predictions;
  std::vector<std::int64_t> targets;

  [[nodiscard]] std::int64_t num_classes() const noexcept {
    return static_cast<std::int64_t>(class_names.size());
  }

  /// "ROS&RUS(15K) phase 2, seed 3" (and the loss when it is not cross-entropy).
  [[nodiscard]] std::string label() const {
    return fmt::format("{} phase {}{}, seed {}", model, phase,
                       loss == "cross_entropy" ? std::string() : fmt::format(" ({})", loss), seed);
  }

  /// Check the record is complete and consistent; tpt::config_error naming the field otherwise
  /// (tpt::unknown_class_error for a prediction or target outside the class list).
  void validate() const {
    auto fail = [&](std::string_view field, const std::string& reason) {
      throw config_error(fmt::format("record '{}': {}", label(), field), reason);
    };
    if (model.empty()) fail("model", "must name the model (baseline, ROS, RUS, ROS&RUS(15K), ROS&RUS(5K) or your own)");
    if (phase != 1 && phase != 2) fail("phase", fmt::format("must be 1 or 2, got {}", phase));
    if (loss.empty()) fail("loss", "must name the loss (e.g. cross_entropy)");
    const auto k = class_names.size();
    if (k == 0) fail("class_names", "must list the classes");
    try {
      (void)checked_class_names(class_names, static_cast<std::int64_t>(k));
    } catch (const metric_error& e) {
      fail("class_names", e.what());
    }
    if (test.classes.size() != k)
      fail("test", fmt::format("the report has {} classes for {} class names", test.classes.size(), k));
    if (test.confusion.size() != k * k)
      fail("test", fmt::format("the report's confusion matrix has {} entries, expected {}", test.confusion.size(), k * k));
    if (train_counts.size() != k)
      fail("train_counts", fmt::format("has {} entries for {} classes", train_counts.size(), k));
    if (test_counts.size() != k)
      fail("test_counts", fmt::format("has {} entries for {} classes", test_counts.size(), k));
    for (std::size_t c = 0; c < k; ++c) {
      if (test.classes[c].name != class_names[c])
        fail("test", fmt::format("the report names class {} '{}' but class_names says '{}' (build the "
                                 "record with make_experiment_record, which names the report's classes)",
                                 c, test.classes[c].name, class_names[c]));
      if (train_counts[c] < 0) fail("train_counts", fmt::format("'{}' has a negative count {}", class_names[c], train_counts[c]));
      if (test_counts[c] != test.classes[c].support)
        fail("test_counts", fmt::format("'{}' has {} test images but the report's support is {}",
                                        class_names[c], test_counts[c], test.classes[c].support));
    }
    if (predictions.size() != targets.size())
      fail("predictions", fmt::format("{} predictions for {} targets: one per test image expected",
                                      predictions.size(), targets.size()));
    if (!targets.empty()) {
      if (static_cast<std::int64_t>(targets.size()) != test.samples)
        fail("targets", fmt::format("{} targets but the report counts {} test images", targets.size(), test.samples));
      std::vector<std::int64_t> confusion(k * k, 0);
      const auto kk = static_cast<std::int64_t>(k);
      for (std::size_t i = 0; i < targets.size(); ++i) {
        if (targets[i] < 0 || targets[i] >= kk)
          throw unknown_class_error(std::to_string(targets[i]),
                                    fmt::format("record '{}': targets[{}] (classes are 0..{})", label(), i, kk - 1));
        if (predictions[i] < 0 || predictions[i] >= kk)
          throw unknown_class_error(std::to_string(predictions[i]),
                                    fmt::format("record '{}': predictions[{}] (classes are 0..{})", label(), i, kk - 1));
        ++confusion[static_cast<std::size_t>(targets[i] * kk + predictions[i])];
      }
      if (confusion != test.confusion)
        fail("predictions", "do not reproduce the report's confusion matrix (predictions from another run?)");
    }
  }

  friend bool operator==(const experiment_record&, const experiment_record&) = default;
};

/// Build a record from a report; test counts come from the report's support.
inline experiment_record make_experiment_record(std::string model, int phase, std::uint64_t seed,
                                                std::vector<std::string> class_names,
                                                std::vector<std::int64_t> train_counts,
                                                classification_report test,
                                                std::vector<std::int64_t> predictions = {},
                                                std::vector<std::int64_t> targets = {},
                                                std::string loss = "cross_entropy") {
  experiment_record r;
  r.model = std::move(model);
  r.phase = phase;
  r.loss = std::move(loss);
  r.seed = seed;
  for (auto& c : test.classes) r.test_counts.push_back(c.support);
  if (class_names.size() == test.classes.size())
    for (std::size_t c = 0; c < class_names.size(); ++c) test.classes[c].name = class_names[c];
  r.class_names = std::move(class_names);
  r.train_counts = std::move(train_counts);
  r.test = std::move(test);
  r.predictions = std::move(predictions);
  r.targets = std::move(targets);
  r.validate();
  return r;
}

inline void to_json(nlohmann::json& j, const experiment_record& r) {
  j = {{"model", r.model},
       {"phase", r.phase},
       {"loss", r.loss},
       {"seed", r.seed},
       {"class_names", r.class_names},
       {"train_counts", r.train_counts},
       {"test_counts", r.test_counts},
       {"test", r.test},
       {"predictions", r.predictions},
       {"targets", r.targets}};
}

/// Reads and validates; errors are tpt::config_error / tpt::metric_error / nlohmann errors,
/// which load_records turns into tpt::input_error naming the file.
inline void from_json(const nlohmann::json& j, experiment_record& r) {
  if (!j.is_object()) throw config_error("record", "expected a JSON object");
  for (const char* key : {"model", "phase", "seed", "class_names", "train_counts", "test"})
    if (!j.contains(key)) throw config_error("record", fmt::format("missing key '{}'", key));
  r.model = j.at("model").get<std::string>();
  r.phase = j.at("phase").get<int>();
  r.loss = j.value("loss", std::string("cross_entropy"));
  r.seed = j.at("seed").get<std::uint64_t>();
  r.class_names = j.at("class_names").get<std::vector<std::string>>();
  r.train_counts = j.at("train_counts").get<std::vector<std::int64_t>>();
  r.test = j.at("test").get<classification_report>();
  if (r.test.classes.size() != r.class_names.size())
    throw config_error("record", fmt::format("'test' has {} classes for {} class names", r.test.classes.size(), r.class_names.size()));
  r.test_counts = j.contains("test_counts") ? j.at("test_counts").get<std::vector<std::int64_t>>()
                                            : std::vector<std::int64_t>{};
  if (r.test_counts.empty())
    for (const auto& c : r.test.classes) r.test_counts.push_back(c.support);
  r.predictions = j.value("predictions", std::vector<std::int64_t>{});
  r.targets = j.value("targets", std::vector<std::int64_t>{});
  r.validate();
}

/// Write one record as JSON, atomically.
inline void save_record(const std::filesystem::path& file, const experiment_record& record) {
  record.validate();
  io::write_text_atomically(file, nlohmann::json(record).dump(1) + "\n");
}

/// Read records from a JSON file holding one record, an array of records, or a report.json
/// written by tpt::write_report (its "records"). tpt::input_error naming the file and the record
/// for anything missing or inconsistent.
inline std::vector<experiment_record> load_records(const std::filesystem::path& file) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::read_text(file));
  } catch (const nlohmann::json::exception& e) {
    throw input_error(file, fmt::format("not valid JSON: {}", e.what()));
  }
  const nlohmann::json* list = &j;
  nlohmann::json single = nlohmann::json::array();
  if (j.is_object() && j.contains("records")) {
    list = &j.at("records");
  } else if (j.is_object()) {
    single.push_back(j);
    list = &single;
  }
  if (!list->is_array()) throw input_error(file, "expected a record, an array of records or a report with 'records'");
  std::vector<experiment_record> records;
  for (std::size_t i = 0; i < list->size(); ++i) {
    try {
      records.push_back((*list)[i].get<experiment_record>());
    } catch (const nlohmann::json::exception& e) {
      throw input_error(file, fmt::format("record {}: {}", i, e.what()));
    } catch (const error& e) {
      throw input_error(file, fmt::format("record {}: {}", i, e.what()));
    }
  }
  return records;
}

}  // namespace tpt

/// "ROS phase 2, seed 0: accuracy 0.8528, macro P 0.5053, R 0.3635, F1 0.4012 (19377 test images)".
template <>
struct fmt::formatter<tpt::experiment_record> {
  constexpr auto parse(format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const tpt::experiment_record& r, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}: accuracy {:.4f}, macro P {:.4f}, R {:.4f}, F1 {:.4f} ({} test images)",
                          r.label(), r.test.accuracy, r.test.macro_precision, r.test.macro_recall,
                          r.test.macro_f1, r.test.samples);
  }
};
