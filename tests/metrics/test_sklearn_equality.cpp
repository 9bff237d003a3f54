// Equality with scikit-learn, checked at test time: this file generates test sets (seeded,
// so the comparison is reproducible), tests/metrics/sklearn_reference.py computes scikit-learn's
// classification_report(labels=<all classes>, zero_division=0), balanced_accuracy_score,
// top_k_accuracy_score and confusion_matrix through TPT_REFERENCE_PYTHON, and every value must
// agree to 1e-9, both for reports built from predictions and for classification_metrics fed
// logits batch by batch.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "tpt/core/random.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/metrics/classification_metrics.hpp"
#include "tpt_test_support.hpp"

namespace {

struct test_set {
  std::string description;
  std::int64_t k;
  std::vector<std::int64_t> targets, predictions;
  std::vector<double> scores;  // [n, k] row-major, argmax == prediction
  std::vector<std::int64_t> top_k;
};

enum class truth_shape { uniform, long_tail, single_class, missing_classes };
enum class prediction_shape { mostly_right, all_wrong, constant, random };

test_set make(std::int64_t k, std::int64_t n, truth_shape ts, prediction_shape ps, std::uint64_t seed) {
  tpt::rng gen(seed);
  test_set s;
  s.k = k;
  s.description = fmt::format("k={} n={} truth={} predictions={} seed={}", k, n, int(ts), int(ps), seed);
  auto any = [&] { return static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k))); };
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t t = 0;
    switch (ts) {
      case truth_shape::uniform: t = any(); break;
      case truth_shape::long_tail:
        while (t + 1 < k && gen.uniform01() < 0.7) ++t;
        break;
      case truth_shape::single_class: t = k / 2; break;
      case truth_shape::missing_classes: t = 2 * static_cast<std::int64_t>(gen.uniform_index(std::uint64_t((k + 1) / 2))); break;
    }
    std::int64_t p = t;
    switch (ps) {
      case prediction_shape::mostly_right: p = gen.uniform01() < 0.7 ? t : any(); break;
      case prediction_shape::all_wrong: p = k == 1 ? t : (t + 1 + static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k - 1)))) % k; break;
      case prediction_shape::constant: p = 0; break;
      case prediction_shape::random: p = any(); break;
    }
    s.targets.push_back(t);
    s.predictions.push_back(p);
    for (std::int64_t c = 0; c < k; ++c) s.scores.push_back(c == p ? 10 + gen.uniform01() : gen.uniform(-5, 5));
  }
  // k above the class count included (every sample a hit). scikit-learn takes 1-D scores for 2
  // classes, so top-k is compared from 3 classes on.
  if (k == 3) s.top_k = {1, 2, 3, 6};
  if (k > 3) s.top_k = {1, 2, 3, k, k + 3};
  return s;
}

std::vector<test_set> cases() {
  std::vector<test_set> all;
  std::uint64_t seed = 100;
  for (std::int64_t k : {1, 2, 3, 5, 52})
    for (std::int64_t n : {1, 9, 400})
      for (auto ts : {truth_shape::uniform, truth_shape::long_tail, truth_shape::single_class, truth_shape::missing_classes})
        for (auto ps : {prediction_shape::mostly_right, prediction_shape::all_wrong, prediction_shape::constant, prediction_shape::random})
          all.push_back(make(k, n, ts, ps, seed++));
  all.push_back(make(52, 19377, truth_shape::long_tail, prediction_shape::mostly_right, 7));  // the paper's test-set size
  return all;
}

}  // namespace

TEST_CASE("every value equals scikit-learn's to 1e-9", "[sklearn][reference]") {
  const auto sets = cases();
  tpt::test::scratch_dir dir("tpt-sklearn");
  nlohmann::json in = nlohmann::json::array();
  for (const auto& s : sets) {
    nlohmann::json c = {{"num_classes", s.k}, {"targets", s.targets}, {"predictions", s.predictions}};
    if (!s.top_k.empty()) {
      c["scores"] = s.scores;
      c["top_k"] = s.top_k;
    }
    in.push_back(std::move(c));
  }
  tpt::io::write_text_atomically(dir / "cases.json", in.dump());
  const std::string command = fmt::format("'{}' '{}/tests/metrics/sklearn_reference.py' '{}' '{}'",
                                          TPT_REFERENCE_PYTHON, TPT_SOURCE_DIR,
                                          (dir / "cases.json").string(), (dir / "answers.json").string());
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
  const auto out = nlohmann::json::parse(tpt::io::read_text(dir / "answers.json"));
  const auto& answers = out.at("answers");
  REQUIRE(answers.size() == sets.size());
  WARN(fmt::format("compared {} test sets against scikit-learn {}", sets.size(), out.at("sklearn_version").get<std::string>()));

  std::size_t compared = 0;
  for (std::size_t i = 0; i < sets.size(); ++i) {
    const auto& s = sets[i];
    const auto& a = answers[i];
    INFO(s.description);
    const auto from_labels = tpt::classification_report::from_predictions(s.predictions, s.targets, s.k);

    // The same test set through the device path, in uneven batches.
    tpt::classification_metrics m(s.k, tpt::classification_metrics_options{.top_k = s.top_k});
    const auto n = static_cast<std::int64_t>(s.targets.size());
    const auto logits = torch::tensor(s.scores, torch::kDouble).view({n, s.k});
    const auto targets = torch::tensor(s.targets, torch::kLong);
    for (std::int64_t at = 0; at < n; at += 37)
      m.update(logits.narrow(0, at, std::min<std::int64_t>(37, n - at)), targets.narrow(0, at, std::min<std::int64_t>(37, n - at)));
    const auto from_logits = m.report();
    REQUIRE(from_logits.confusion == from_labels.confusion);
    // The tensor-operation path (what runs on a GPU) gives the same counts as the CPU loop.
    tpt::classification_metrics ops(s.k, tpt::classification_metrics_options{.top_k = s.top_k, .method = tpt::accumulation::tensor_ops});
    ops.update(logits, targets);
    REQUIRE(ops.report() == from_logits);

    for (const auto* r : {&from_labels, &from_logits}) {
      for (std::int64_t c = 0; c < s.k; ++c) {
        const auto& expected = a.at("classes")[static_cast<std::size_t>(c)];
        const auto& got = r->classes[static_cast<std::size_t>(c)];
        CHECK(got.precision == Approx(expected[0].get<double>()).margin(1e-9));
        CHECK(got.recall == Approx(expected[1].get<double>()).margin(1e-9));
        CHECK(got.f1 == Approx(expected[2].get<double>()).margin(1e-9));
        CHECK(got.support == expected[3].get<std::int64_t>());
      }
      CHECK(r->accuracy == Approx(a.at("accuracy").get<double>()).margin(1e-9));
      CHECK(r->macro_precision == Approx(a.at("macro")[0].get<double>()).margin(1e-9));
      CHECK(r->macro_recall == Approx(a.at("macro")[1].get<double>()).margin(1e-9));
      CHECK(r->macro_f1 == Approx(a.at("macro")[2].get<double>()).margin(1e-9));
      CHECK(r->weighted_precision == Approx(a.at("weighted")[0].get<double>()).margin(1e-9));
      CHECK(r->weighted_recall == Approx(a.at("weighted")[1].get<double>()).margin(1e-9));
      CHECK(r->weighted_f1 == Approx(a.at("weighted")[2].get<double>()).margin(1e-9));
      CHECK(r->balanced_accuracy == Approx(a.at("balanced_accuracy").get<double>()).margin(1e-9));
      std::vector<std::int64_t> confusion;
      for (const auto& row : a.at("confusion"))
        for (const auto& v : row) confusion.push_back(v.get<std::int64_t>());
      CHECK(r->confusion == confusion);
    }
    for (std::int64_t kk : s.top_k)
      CHECK(from_logits.top_k_accuracy.at(kk) == Approx(a.at("top_k").at(std::to_string(kk)).get<double>()).margin(1e-9));
    ++compared;
  }
  CHECK(compared == sets.size());
}
