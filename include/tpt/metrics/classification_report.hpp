// The classification report: per-class precision, recall, F1 and support, macro and weighted
// averages, accuracy, top-k accuracy, balanced accuracy and the confusion matrix, computed from a
// confusion matrix exactly as scikit-learn computes them (classification_report with
// labels=<all classes>, zero_division=0; balanced_accuracy_score; top_k_accuracy_score).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/metrics/metric.hpp"

namespace tpt {

namespace detail {

/// Precision, recall and F1 of one class from its counts, as scikit-learn 1.2's
/// precision_recall_fscore_support computes them step for step (0 where a denominator is 0), so
/// values agree to the last bits. The one copy of this arithmetic: the report and the bootstrap's
/// resampled statistics both use it.
struct class_scores {
  double precision = 0, recall = 0, f1 = 0;
};

inline class_scores class_scores_of(std::int64_t true_positives, std::int64_t predicted, std::int64_t support) noexcept {
  const auto tp = static_cast<double>(true_positives);
  class_scores s;
  s.precision = predicted > 0 ? tp / static_cast<double>(predicted) : 0.0;
  s.recall = support > 0 ? tp / static_cast<double>(support) : 0.0;
  const double denom = s.precision + s.recall;
  s.f1 = denom > 0 ? 2.0 * s.precision * s.recall / denom : 0.0;
  return s;
}

/// The sums every average of the report is made of, class by class in class order.
struct score_sums {
  double precision = 0, recall = 0, f1 = 0;           // macro averages: / classes
  double weighted_precision = 0, weighted_f1 = 0;     // weighted by support: / samples
  double present_recall = 0;                          // balanced accuracy: / present
  std::size_t present = 0;                            // classes with support

  void add(const class_scores& s, std::int64_t support) noexcept {
    precision += s.precision;
    recall += s.recall;
    f1 += s.f1;
    const auto w = static_cast<double>(support);
    weighted_precision += s.precision * w;
    weighted_f1 += s.f1 * w;
    if (support > 0) {
      present_recall += s.recall;
      ++present;
    }
  }
};

}  // namespace detail

/// The scores of one class, scikit-learn's zero_division=0 convention: precision is 0 when the
/// class is never predicted, recall is 0 when it never occurs, F1 is 0 when both are 0.
struct class_score {
  std::string name;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  std::int64_t support = 0;    // samples whose true class this is
  std::int64_t predicted = 0;  // samples predicted as this class
  friend bool operator==(const class_score&, const class_score&) = default;
};

/// Everything the paper reports about a classifier on a test set, and more. Built from a
/// confusion matrix (rows: true class, columns: predicted class), the single source of truth:
/// every other field is derived from it by from_confusion.
///
/// Macro averages take every class with equal weight, including classes that never occur in the
/// test set or are never predicted (they count as 0), as the paper and scikit-learn with
/// labels=<all classes> do. Balanced accuracy follows scikit-learn's balanced_accuracy_score: the
/// mean recall over the classes that occur in the test set (so it differs from macro recall when
/// a class has no test samples).
struct classification_report {
  std::vector<class_score> classes;  // one per class, in class-id order
  double accuracy = 0;
  double balanced_accuracy = 0;
  double macro_precision = 0;
  double macro_recall = 0;
  double macro_f1 = 0;
  double weighted_precision = 0;  // weighted by support
  double weighted_recall = 0;     // equals accuracy
  double weighted_f1 = 0;
  std::map<std::int64_t, double> top_k_accuracy;  // k -> fraction; empty when only labels were seen
  std::int64_t samples = 0;
  std::int64_t nonfinite_samples = 0;  // samples whose logits held NaN or infinity
  std::vector<std::int64_t> confusion;  // num_classes^2, row-major: confusion[true * K + predicted]

  [[nodiscard]] std::int64_t num_classes() const noexcept {
    return static_cast<std::int64_t>(classes.size());
  }

  [[nodiscard]] std::int64_t confusion_at(std::int64_t truth, std::int64_t predicted) const {
    const auto k = num_classes();
    if (truth < 0 || truth >= k || predicted < 0 || predicted >= k)
      throw metric_error(fmt::format("confusion_at({}, {}): class ids must lie in [0, {})", truth,
                                     predicted, k));
    return confusion[static_cast<std::size_t>(truth * k + predicted)];
  }

  /// The confusion matrix as rows of doubles; row_normalised divides each row by its support (a
  /// row without support stays 0), which keeps rare classes readable in a heat map.
  [[nodiscard]] std::vector<std::vector<double>> confusion_matrix(bool row_normalised = false) const {
    const auto k = static_cast<std::size_t>(num_classes());
    std::vector<std::vector<double>> m(k, std::vector<double>(k, 0.0));
    for (std::size_t i = 0; i < k; ++i) {
      const double support = static_cast<double>(classes[i].support);
      for (std::size_t j = 0; j < k; ++j) {
        const double v = static_cast<double>(confusion[i * k + j]);
        m[i][j] = row_normalised ? (support > 0 ? v / support : 0.0) : v;
      }
    }
    return m;
  }

  /// The scores of the class with this name; tpt::unknown_class_error if there is none.
  [[nodiscard]] const class_score& at(std::string_view name) const {
    for (const auto& c : classes)
      if (c.name == name) return c;
    throw unknown_class_error(std::string(name), "classification_report");
  }

  /// The headline values by name (what a trainer monitors): accuracy, topK_accuracy,
  /// balanced_accuracy, macro_/weighted_ precision, recall, f1.
  [[nodiscard]] metric_scalars scalars() const {
    metric_scalars s{{"accuracy", accuracy},
                     {"balanced_accuracy", balanced_accuracy},
                     {"macro_precision", macro_precision},
                     {"macro_recall", macro_recall},
                     {"macro_f1", macro_f1},
                     {"weighted_precision", weighted_precision},
                     {"weighted_recall", weighted_recall},
                     {"weighted_f1", weighted_f1}};
    for (const auto& [k, v] : top_k_accuracy) s.emplace(fmt::format("top{}_accuracy", k), v);
    return s;
  }

  /// Build a report from a confusion matrix (num_classes^2 counts, rows = true class).
  /// class_names: empty (classes are then named "0", "1", ...) or one per class.
  /// top_k: correct-in-top-k counts per k, turned into fractions of the sample count.
  /// Throws tpt::metric_error for an empty matrix (no samples: nothing to report), a wrong size,
  /// negative counts, or a wrong number of class names.
  static classification_report from_confusion(std::vector<std::int64_t> confusion,
                                              std::int64_t num_classes,
                                              std::vector<std::string> class_names = {},
                                              const std::map<std::int64_t, std::int64_t>& top_k_correct = {},
                                              std::int64_t nonfinite_samples = 0);

  /// Build a report from predicted and true class ids (one per sample).
  static classification_report from_predictions(std::span<const std::int64_t> predictions,
                                                std::span<const std::int64_t> targets,
                                                std::int64_t num_classes,
                                                std::vector<std::string> class_names = {});

  friend bool operator==(const classification_report&, const classification_report&) = default;
};

/// Class names for a report: the given ones (checked: one per class, none empty, no duplicates)
/// or "0", "1", ... when none are given.
inline std::vector<std::string> checked_class_names(std::vector<std::string> names,
                                                    std::int64_t num_classes,
                                                    std::string_view what = "class_names") {
  if (num_classes < 1)
    throw metric_error(fmt::format("num_classes must be at least 1, got {}", num_classes));
  if (names.empty()) {
    names.reserve(static_cast<std::size_t>(num_classes));
    for (std::int64_t i = 0; i < num_classes; ++i) names.push_back(std::to_string(i));
    return names;
  }
  if (static_cast<std::int64_t>(names.size()) != num_classes)
    throw metric_error(fmt::format("{}: {} names for {} classes", what, names.size(), num_classes));
  std::map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) throw metric_error(fmt::format("{}[{}] is empty", what, i));
    if (auto [it, fresh] = seen.emplace(names[i], i); !fresh)
      throw metric_error(fmt::format("{}: '{}' appears twice (ids {} and {})", what, names[i],
                                     it->second, i));
  }
  return names;
}

inline classification_report classification_report::from_confusion(
    std::vector<std::int64_t> confusion, std::int64_t num_classes,
    std::vector<std::string> class_names, const std::map<std::int64_t, std::int64_t>& top_k_correct,
    std::int64_t nonfinite_samples) {
  class_names = checked_class_names(std::move(class_names), num_classes);
  const auto k = static_cast<std::size_t>(num_classes);
  if (confusion.size() != k * k)
    throw metric_error(fmt::format("confusion matrix has {} entries, expected {} x {} = {}",
                                   confusion.size(), k, k, k * k));
  classification_report r;
  r.classes.resize(k);
  std::int64_t total = 0, correct = 0;
  for (std::size_t i = 0; i < k; ++i) {
    r.classes[i].name = std::move(class_names[i]);
    for (std::size_t j = 0; j < k; ++j) {
      const std::int64_t v = confusion[i * k + j];
      if (v < 0)
        throw metric_error(fmt::format("confusion matrix entry ({}, {}) is negative: {}", i, j, v));
      r.classes[i].support += v;
      r.classes[j].predicted += v;
      total += v;
    }
    correct += confusion[i * k + i];
  }
  if (total == 0)
    throw metric_error(
        "no samples: a classification report needs at least one prediction (was update() called "
        "with an empty evaluation set?)");
  if (nonfinite_samples < 0 || nonfinite_samples > total)
    throw metric_error(fmt::format("nonfinite_samples must lie in [0, {}], got {}", total,
                                   nonfinite_samples));

  // The arithmetic mirrors scikit-learn 1.2's precision_recall_fscore_support step for step. The
  // averages are summed left to right where numpy sums pairwise, so they can differ in the last
  // bit (well inside the 1e-9 the tests require).
  detail::score_sums sums;
  for (std::size_t i = 0; i < k; ++i) {
    auto& c = r.classes[i];
    const auto scores = detail::class_scores_of(confusion[i * k + i], c.predicted, c.support);
    c.precision = scores.precision;
    c.recall = scores.recall;
    c.f1 = scores.f1;
    sums.add(scores, c.support);
  }
  const double n = static_cast<double>(total);
  r.samples = total;
  r.nonfinite_samples = nonfinite_samples;
  r.accuracy = static_cast<double>(correct) / n;
  r.macro_precision = sums.precision / double(k);
  r.macro_recall = sums.recall / double(k);
  r.macro_f1 = sums.f1 / double(k);
  r.weighted_precision = sums.weighted_precision / n;
  r.weighted_recall = r.accuracy;
  r.weighted_f1 = sums.weighted_f1 / n;
  r.balanced_accuracy = sums.present_recall / double(sums.present);
  for (const auto& [kk, hits] : top_k_correct) {
    if (kk < 1) throw metric_error(fmt::format("top-k accuracy: k must be at least 1, got {}", kk));
    if (hits < 0 || hits > total)
      throw metric_error(fmt::format("top-{} accuracy: {} hits for {} samples", kk, hits, total));
    r.top_k_accuracy[kk] = static_cast<double>(hits) / n;
  }
  r.confusion = std::move(confusion);
  return r;
}

inline classification_report classification_report::from_predictions(
    std::span<const std::int64_t> predictions, std::span<const std::int64_t> targets,
    std::int64_t num_classes, std::vector<std::string> class_names) {
  if (num_classes < 1)
    throw metric_error(fmt::format("num_classes must be at least 1, got {}", num_classes));
  if (predictions.size() != targets.size())
    throw metric_error(fmt::format("{} predictions for {} targets: one prediction per target expected",
                                   predictions.size(), targets.size()));
  const auto k = static_cast<std::size_t>(num_classes);
  std::vector<std::int64_t> confusion(k * k, 0);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto t = targets[i], p = predictions[i];
    if (t < 0 || t >= num_classes)
      throw unknown_class_error(std::to_string(t), fmt::format("targets[{}] (classes are 0..{})", i,
                                                               num_classes - 1));
    if (p < 0 || p >= num_classes)
      throw unknown_class_error(std::to_string(p), fmt::format("predictions[{}] (classes are 0..{})",
                                                               i, num_classes - 1));
    ++confusion[static_cast<std::size_t>(t) * k + static_cast<std::size_t>(p)];
  }
  return from_confusion(std::move(confusion), num_classes, std::move(class_names));
}

// JSON: the confusion matrix, class names and top-k hit fractions are stored with every derived
// value; reading recomputes the derived values from the matrix and checks they agree, so a file
// edited by hand cannot carry a report that contradicts its own confusion matrix.
inline void to_json(nlohmann::json& j, const classification_report& r) {
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : r.classes)
    classes.push_back({{"name", c.name}, {"precision", c.precision}, {"recall", c.recall},
                       {"f1", c.f1}, {"support", c.support}, {"predicted", c.predicted}});
  nlohmann::json top_k = nlohmann::json::object();
  for (const auto& [k, v] : r.top_k_accuracy) top_k[std::to_string(k)] = v;
  const auto k = static_cast<std::size_t>(r.num_classes());
  nlohmann::json matrix = nlohmann::json::array();
  for (std::size_t i = 0; i < k; ++i)
    matrix.push_back(std::vector<std::int64_t>(r.confusion.begin() + static_cast<std::ptrdiff_t>(i * k),
                                               r.confusion.begin() + static_cast<std::ptrdiff_t>((i + 1) * k)));
  j = {{"samples", r.samples},
       {"accuracy", r.accuracy},
       {"top_k_accuracy", top_k},
       {"balanced_accuracy", r.balanced_accuracy},
       {"macro", {{"precision", r.macro_precision}, {"recall", r.macro_recall}, {"f1", r.macro_f1}}},
       {"weighted",
        {{"precision", r.weighted_precision}, {"recall", r.weighted_recall}, {"f1", r.weighted_f1}}},
       {"nonfinite_samples", r.nonfinite_samples},
       {"classes", classes},
       {"confusion_matrix", matrix}};
}

inline void from_json(const nlohmann::json& j, classification_report& r) {
  auto need = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key))
      throw metric_error(fmt::format("classification report: missing key '{}'", key));
    return j.at(key);
  };
  const auto& classes = need("classes");
  const auto& matrix = need("confusion_matrix");
  if (!classes.is_array() || classes.empty())
    throw metric_error("classification report: 'classes' must be a non-empty array");
  const std::size_t k = classes.size();
  std::vector<std::string> names;
  for (const auto& c : classes) {
    if (!c.is_object() || !c.contains("name") || !c.at("name").is_string())
      throw metric_error("classification report: every entry of 'classes' needs a string 'name'");
    names.push_back(c.at("name").get<std::string>());
  }
  if (!matrix.is_array() || matrix.size() != k)
    throw metric_error(fmt::format("classification report: 'confusion_matrix' must have {} rows", k));
  std::vector<std::int64_t> confusion;
  confusion.reserve(k * k);
  for (std::size_t i = 0; i < k; ++i) {
    const auto& row = matrix[i];
    if (!row.is_array() || row.size() != k)
      throw metric_error(fmt::format("classification report: confusion_matrix row {} must hold {} counts", i, k));
    for (const auto& v : row) {
      if (!v.is_number_integer())
        throw metric_error(fmt::format("classification report: confusion_matrix row {} holds a non-integer", i));
      confusion.push_back(v.get<std::int64_t>());
    }
  }
  const std::int64_t total = [&] {
    std::int64_t t = 0;
    for (auto v : confusion) t += v;
    return t;
  }();
  std::map<std::int64_t, std::int64_t> top_k_correct;
  if (j.contains("top_k_accuracy")) {
    const auto& tk = j.at("top_k_accuracy");
    if (!tk.is_object()) throw metric_error("classification report: 'top_k_accuracy' must be an object");
    for (const auto& [key, value] : tk.items()) {
      std::int64_t kk = 0;
      try {
        std::size_t used = 0;
        kk = std::stoll(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        throw metric_error(fmt::format("classification report: top_k_accuracy key '{}' is not an integer", key));
      }
      if (!value.is_number())
        throw metric_error(fmt::format("classification report: top_k_accuracy['{}'] must be a number", key));
      // Stored as a fraction of the samples; turn it back into a hit count.
      top_k_correct[kk] = std::llround(value.get<double>() * static_cast<double>(total));
    }
  }
  const std::int64_t nonfinite =
      j.contains("nonfinite_samples") ? j.at("nonfinite_samples").get<std::int64_t>() : 0;
  r = classification_report::from_confusion(std::move(confusion), static_cast<std::int64_t>(k),
                                            std::move(names), top_k_correct, nonfinite);
  auto check = [&](const char* what, double stored, double derived) {
    if (!(std::abs(stored - derived) <= 1e-9))
      throw metric_error(fmt::format("classification report: stored {} {} contradicts its confusion "
                                     "matrix, which gives {}",
                                     what, stored, derived));
  };
  if (j.contains("accuracy")) check("accuracy", j.at("accuracy").get<double>(), r.accuracy);
  if (j.contains("macro") && j.at("macro").contains("f1"))
    check("macro f1", j.at("macro").at("f1").get<double>(), r.macro_f1);
}

}  // namespace tpt

/// Prints the report in scikit-learn's classification_report text layout, with top-k and balanced
/// accuracy below it. "{:s}" (short) prints only the summary rows, without one row per class.
template <>
struct fmt::formatter<tpt::classification_report> {
  bool summary_only = false;
  constexpr auto parse(format_parse_context& ctx) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it == 's') {
      summary_only = true;
      ++it;
    }
    if (it != ctx.end() && *it != '}') throw format_error("classification_report: use {} or {:s}");
    return it;
  }
  template <class Context>
  auto format(const tpt::classification_report& r, Context& ctx) const {
    std::size_t w = 17;  // "balanced accuracy"
    if (!summary_only)
      for (const auto& c : r.classes) w = std::max(w, c.name.size());
    auto out = fmt::format_to(ctx.out(), "{:>{}} {:>10} {:>10} {:>10} {:>10}\n", "", w, "precision",
                              "recall", "f1-score", "support");
    if (!summary_only) {
      for (const auto& c : r.classes)
        out = fmt::format_to(out, "{:>{}} {:>10.4f} {:>10.4f} {:>10.4f} {:>10}\n", c.name, w,
                             c.precision, c.recall, c.f1, c.support);
      out = fmt::format_to(out, "\n");
    }
    out = fmt::format_to(out, "{:>{}} {:>10} {:>10} {:>10.4f} {:>10}\n", "accuracy", w, "", "",
                         r.accuracy, r.samples);
    out = fmt::format_to(out, "{:>{}} {:>10.4f} {:>10.4f} {:>10.4f} {:>10}\n", "macro avg", w,
                         r.macro_precision, r.macro_recall, r.macro_f1, r.samples);
    out = fmt::format_to(out, "{:>{}} {:>10.4f} {:>10.4f} {:>10.4f} {:>10}\n", "weighted avg", w,
                         r.weighted_precision, r.weighted_recall, r.weighted_f1, r.samples);
    for (const auto& [k, v] : r.top_k_accuracy)
      out = fmt::format_to(out, "{:>{}} {:>10} {:>10} {:>10.4f} {:>10}\n",
                           fmt::format("top-{} accuracy", k), w, "", "", v, r.samples);
    out = fmt::format_to(out, "{:>{}} {:>10} {:>10} {:>10.4f}\n", "balanced accuracy", w, "", "",
                         r.balanced_accuracy);
    if (r.nonfinite_samples > 0)
      out = fmt::format_to(out, "warning: {} of {} samples had NaN or infinite logits\n",
                           r.nonfinite_samples, r.samples);
    return out;
  }
};
