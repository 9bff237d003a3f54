// tpt/metrics/classification_report.hpp: hand-computed values, degenerate test sets, JSON and text.
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/metrics/classification_report.hpp"

using tpt::classification_report;
using Catch::Matchers::Contains;

namespace {
// 4 classes; class 3 never occurs and is never predicted. Confusion rows (truth):
//   0: [2 1 0 0]   1: [1 1 0 0]   2: [1 0 2 0]   3: [0 0 0 0]
const std::vector<std::int64_t> hand_targets{0, 0, 0, 1, 1, 2, 2, 2};
const std::vector<std::int64_t> hand_predictions{0, 0, 1, 1, 0, 2, 2, 0};
}  // namespace

TEST_CASE("a hand-computed 4-class report, one class absent from truth and predictions", "[report]") {
  const auto r = classification_report::from_predictions(hand_predictions, hand_targets, 4,
                                                         {"gnu", "zebra", "eland", "civet"});
  REQUIRE(r.num_classes() == 4);
  CHECK(r.samples == 8);
  CHECK(r.confusion == std::vector<std::int64_t>{2, 1, 0, 0, 1, 1, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0});
  CHECK(r.classes[0].support == 3);
  CHECK(r.classes[0].predicted == 4);
  CHECK(r.classes[3].support == 0);
  CHECK(r.classes[3].predicted == 0);
  CHECK(r.classes[0].precision == Approx(0.5).epsilon(1e-15));
  CHECK(r.classes[0].recall == Approx(2.0 / 3).epsilon(1e-15));
  CHECK(r.classes[0].f1 == Approx(4.0 / 7).epsilon(1e-15));
  CHECK(r.classes[1].f1 == Approx(0.5).epsilon(1e-15));
  CHECK(r.classes[2].precision == 1.0);
  CHECK(r.classes[2].f1 == Approx(0.8).epsilon(1e-15));
  CHECK(r.classes[3].precision == 0.0);
  CHECK(r.classes[3].recall == 0.0);
  CHECK(r.classes[3].f1 == 0.0);
  // Macro averages count the absent class as 0 (divide by 4, not 3).
  CHECK(r.macro_precision == Approx(0.5).epsilon(1e-15));
  CHECK(r.macro_recall == Approx(11.0 / 24).epsilon(1e-15));
  CHECK(r.macro_f1 == Approx(131.0 / 280).epsilon(1e-15));
  CHECK(r.accuracy == Approx(5.0 / 8).epsilon(1e-15));
  CHECK(r.weighted_precision == Approx(11.0 / 16).epsilon(1e-15));
  CHECK(r.weighted_recall == r.accuracy);
  CHECK(r.weighted_f1 == Approx(179.0 / 280).epsilon(1e-15));
  // Balanced accuracy (scikit-learn's): mean recall over the 3 classes that occur.
  CHECK(r.balanced_accuracy == Approx(11.0 / 18).epsilon(1e-15));
  CHECK(r.confusion_at(2, 0) == 1);
  CHECK(r.at("eland").f1 == r.classes[2].f1);
  CHECK_THROWS_AS(r.at("okapi"), tpt::unknown_class_error);
  CHECK_THROWS_AS(r.confusion_at(4, 0), tpt::metric_error);
  const auto s = r.scalars();
  CHECK(s.at("macro_f1") == r.macro_f1);
  CHECK(s.at("balanced_accuracy") == r.balanced_accuracy);
  CHECK(s.count("top5_accuracy") == 0);  // no logits, no top-k
}

TEST_CASE("row-normalised confusion matrices divide by support and leave empty rows at 0", "[report]") {
  const auto r = classification_report::from_predictions(hand_predictions, hand_targets, 4);
  const auto m = r.confusion_matrix(true);
  CHECK(m[0][0] == Approx(2.0 / 3));
  CHECK(m[1][0] == Approx(0.5));
  CHECK(m[3] == std::vector<double>{0, 0, 0, 0});
  CHECK(r.confusion_matrix(false)[2][2] == 2.0);
  CHECK(r.classes[1].name == "1");  // default names are the class ids
}

TEST_CASE("a single class: every prediction right", "[report][degenerate]") {
  const std::vector<std::int64_t> y(5, 0);
  const auto r = classification_report::from_predictions(y, y, 1);
  CHECK(r.accuracy == 1.0);
  CHECK(r.macro_precision == 1.0);
  CHECK(r.macro_recall == 1.0);
  CHECK(r.macro_f1 == 1.0);
  CHECK(r.balanced_accuracy == 1.0);
}

TEST_CASE("all predictions wrong give zeros everywhere", "[report][degenerate]") {
  const std::vector<std::int64_t> t{0, 1, 2, 0, 1, 2};
  const std::vector<std::int64_t> p{1, 2, 0, 2, 0, 1};
  const auto r = classification_report::from_predictions(p, t, 3);
  CHECK(r.accuracy == 0.0);
  CHECK(r.macro_precision == 0.0);
  CHECK(r.macro_recall == 0.0);
  CHECK(r.macro_f1 == 0.0);
  CHECK(r.weighted_f1 == 0.0);
  CHECK(r.balanced_accuracy == 0.0);
}

TEST_CASE("a class that is present but never predicted has precision 0 and recall 0", "[report][degenerate]") {
  // Everything predicted as class 0: the paper's majority-class failure.
  const std::vector<std::int64_t> t{0, 0, 0, 1, 2};
  const std::vector<std::int64_t> p{0, 0, 0, 0, 0};
  const auto r = classification_report::from_predictions(p, t, 3);
  CHECK(r.classes[0].precision == Approx(0.6));
  CHECK(r.classes[0].recall == 1.0);
  CHECK(r.classes[1].precision == 0.0);
  CHECK(r.classes[1].recall == 0.0);
  CHECK(r.macro_f1 == Approx(2 * 0.6 / 1.6 / 3));
  CHECK(r.accuracy == Approx(0.6));
}

TEST_CASE("empty input and malformed confusion matrices give clear errors", "[report][errors]") {
  const std::vector<std::int64_t> none;
  CHECK_THROWS_WITH(classification_report::from_predictions(none, none, 3), Contains("no samples"));
  CHECK_THROWS_WITH(classification_report::from_confusion({0, 0, 0, 0}, 2), Contains("no samples"));
  CHECK_THROWS_WITH(classification_report::from_confusion({1, 2, 3}, 2), Contains("3 entries, expected 2 x 2"));
  CHECK_THROWS_WITH(classification_report::from_confusion({1, -2, 3, 4}, 2), Contains("negative"));
  CHECK_THROWS_WITH(classification_report::from_confusion({1}, 0), Contains("at least 1"));
  CHECK_THROWS_WITH(classification_report::from_confusion({1, 0, 0, 1}, 2, {"a"}), Contains("1 names for 2 classes"));
  CHECK_THROWS_WITH(classification_report::from_confusion({1, 0, 0, 1}, 2, {"a", "a"}), Contains("'a' appears twice"));
  CHECK_THROWS_WITH(classification_report::from_confusion({1, 0, 0, 1}, 2, {}, {{5, 3}}), Contains("3 hits for 2"));
  const std::vector<std::int64_t> t{0, 1}, p{0};
  CHECK_THROWS_WITH(classification_report::from_predictions(p, t, 2), Contains("1 predictions for 2 targets"));
  const std::vector<std::int64_t> bad{0, 7};
  CHECK_THROWS_AS(classification_report::from_predictions(bad, t, 2), tpt::unknown_class_error);
  CHECK_THROWS_WITH(classification_report::from_predictions(bad, t, 2), Contains("predictions[1]"));
  CHECK_THROWS_WITH(classification_report::from_predictions(t, bad, 2), Contains("targets[1]"));
}

TEST_CASE("JSON round trip keeps every value and refuses a report that contradicts its matrix", "[report][json]") {
  const auto r = classification_report::from_confusion({5, 1, 0, 2, 7, 1, 0, 0, 3}, 3, {"a", "b", "c"},
                                                       {{2, 17}}, 1);
  nlohmann::json j = r;
  const auto text = j.dump();
  const auto back = nlohmann::json::parse(text).get<classification_report>();
  CHECK(back == r);
  CHECK(back.top_k_accuracy.at(2) == Approx(17.0 / 19));
  j["macro"]["f1"] = 0.99;
  CHECK_THROWS_WITH(j.get<classification_report>(), Contains("contradicts"));
  j = r;
  j["confusion_matrix"][1] = {1, 2};
  CHECK_THROWS_WITH(j.get<classification_report>(), Contains("row 1 must hold 3"));
  j = r;
  j.erase("classes");
  CHECK_THROWS_WITH(j.get<classification_report>(), Contains("missing key 'classes'"));
}

TEST_CASE("the text form follows scikit-learn's layout", "[report][format]") {
  const auto r = classification_report::from_predictions(hand_predictions, hand_targets, 4,
                                                         {"gnu", "zebra", "eland", "civet"});
  const std::string text = fmt::format("{}", r);
  CHECK_THAT(text, Contains("precision"));
  CHECK_THAT(text, Contains("    gnu     0.5000     0.6667     0.5714          3"));
  CHECK_THAT(text, Contains("macro avg     0.5000     0.4583     0.4679          8"));
  CHECK_THAT(text, Contains("balanced accuracy"));
  const std::string summary = fmt::format("{:s}", r);
  CHECK_THAT(summary, !Contains("zebra"));
  CHECK_THAT(summary, Contains("weighted avg"));
}
