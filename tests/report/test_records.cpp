// tpt/report/experiment_record.hpp and figures.hpp: records are validated field by field, survive
// a JSON round trip, and draw as well-formed figures.
#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report_fixtures.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/report/experiment_record.hpp"
#include "tpt/report/figures.hpp"
#include "tpt/report/write_report.hpp"
#include "tpt_test_support.hpp"

using Catch::Matchers::Contains;

using tpt::test::count;

TEST_CASE("make_experiment_record names the report's classes and checks consistency", "[records]") {
  const auto s = tpt::test::small_set();
  const auto r = tpt::test::simulate(s, "ROS&RUS(5K)", 2, 4, 0, 0.1);
  CHECK(r.test.classes[1].name == "zebra");
  CHECK(r.test_counts == s.test);
  CHECK(r.label() == "ROS&RUS(5K) phase 2, seed 4");
  CHECK_THAT(fmt::format("{}", r), Contains("ROS&RUS(5K) phase 2, seed 4: accuracy 0.") && Contains("(90 test images)"));
  auto focal = r;
  focal.loss = "focal";
  CHECK(focal.label() == "ROS&RUS(5K) phase 2 (focal), seed 4");
}

TEST_CASE("malformed records give errors that name the record and the field", "[records][errors]") {
  const auto s = tpt::test::small_set();
  const auto good = tpt::test::simulate(s, "RUS", 1, 0, 0, 0);
  auto r = good;
  r.phase = 3;
  CHECK_THROWS_WITH(r.validate(), Contains("record 'RUS phase 3, seed 0': phase") && Contains("must be 1 or 2, got 3"));
  r = good;
  r.model.clear();
  CHECK_THROWS_WITH(r.validate(), Contains("model"));
  r = good;
  r.train_counts.pop_back();
  CHECK_THROWS_WITH(r.validate(), Contains("train_counts") && Contains("3 entries for 4 classes"));
  r = good;
  r.test_counts[0] += 1;
  CHECK_THROWS_WITH(r.validate(), Contains("'gnu' has 51 test images but the report's support is 50"));
  r = good;
  r.predictions.pop_back();
  CHECK_THROWS_WITH(r.validate(), Contains("89 predictions for 90 targets"));
  r = good;
  r.predictions[5] = 4;
  CHECK_THROWS_AS(r.validate(), tpt::unknown_class_error);
  CHECK_THROWS_WITH(r.validate(), Contains("predictions[5]") && Contains("unknown class '4'"));
  r = good;
  r.targets[3] = -1;
  CHECK_THROWS_WITH(r.validate(), Contains("targets[3]"));
  r = good;
  r.predictions[0] = (r.predictions[0] + 1) % 4;
  CHECK_THROWS_WITH(r.validate(), Contains("do not reproduce the report's confusion matrix"));
  r = good;
  r.class_names[1] = "gnu";
  CHECK_THROWS_WITH(r.validate(), Contains("'gnu' appears twice"));
  r = good;
  r.class_names[1] = "horse";
  CHECK_THROWS_WITH(r.validate(), Contains("the report names class 1 'zebra' but class_names says 'horse'"));
  r = good;
  r.class_names.push_back("okapi");
  CHECK_THROWS_WITH(r.validate(), Contains("the report has 4 classes for 5 class names"));
  CHECK_THROWS_AS(tpt::make_experiment_record("x", 1, 0, {"a", "b"}, {1, 2}, good.test), tpt::config_error);
}

TEST_CASE("records survive a JSON round trip through save_record and load_records", "[records][json]") {
  tpt::test::scratch_dir dir("tpt-records");
  const auto s = tpt::test::small_set();
  const auto a = tpt::test::simulate(s, "baseline", 1, 0, 0, 0);
  auto b = tpt::test::simulate(s, "mine", 2, 7, 0.1, 0);
  b.loss = "focal";
  tpt::save_record(dir / "a.json", a);
  const auto back = tpt::load_records(dir / "a.json");
  REQUIRE(back.size() == 1);
  CHECK(back[0] == a);
  tpt::io::write_text_atomically(dir / "both.json", nlohmann::json(std::vector<tpt::experiment_record>{a, b}).dump());
  const auto both = tpt::load_records(dir / "both.json");
  REQUIRE(both.size() == 2);
  CHECK(both[1] == b);
}

TEST_CASE("load_records names the file and the record for bad input", "[records][json][errors]") {
  tpt::test::scratch_dir dir("tpt-records");
  const auto s = tpt::test::small_set();
  const auto a = tpt::test::simulate(s, "baseline", 1, 0, 0, 0);
  CHECK_THROWS_WITH(tpt::load_records(dir / "missing.json"), Contains("missing.json") && Contains("no such file"));
  tpt::io::write_text_atomically(dir / "broken.json", "{\"model\": ");
  CHECK_THROWS_AS(tpt::load_records(dir / "broken.json"), tpt::input_error);
  CHECK_THROWS_WITH(tpt::load_records(dir / "broken.json"), Contains("broken.json") && Contains("not valid JSON"));
  nlohmann::json j = a;
  j.erase("seed");
  tpt::io::write_text_atomically(dir / "noseed.json", nlohmann::json::array({nlohmann::json(a), j}).dump());
  CHECK_THROWS_WITH(tpt::load_records(dir / "noseed.json"), Contains("noseed.json") && Contains("record 1") && Contains("missing key 'seed'"));
  j = a;
  j["predictions"][0] = 99;
  tpt::io::write_text_atomically(dir / "unknown.json", j.dump());
  CHECK_THROWS_WITH(tpt::load_records(dir / "unknown.json"), Contains("unknown class '99'"));
  j = a;
  j["phase"] = "two";
  tpt::io::write_text_atomically(dir / "type.json", j.dump());
  CHECK_THROWS_WITH(tpt::load_records(dir / "type.json"), Contains("type.json: record 0"));
  j = a;
  j["test"]["confusion_matrix"][0][0] = 1000;
  tpt::io::write_text_atomically(dir / "tampered.json", j.dump());
  CHECK_THROWS_WITH(tpt::load_records(dir / "tampered.json"), Contains("tampered.json") && Contains("contradicts"));
}

TEST_CASE("the confusion heat map is row-normalised and ordered by frequency", "[figures]") {
  const auto s = tpt::test::small_set();
  auto r = tpt::test::simulate(s, "baseline", 1, 0, 0, 0);
  const std::string svg = tpt::report::confusion_svg(r);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count(svg, "<title>") == 16 + 0);  // one tooltip per cell
  CHECK_THAT(svg, Contains("gnu (50)"));
  // Cell (gnu, gnu) holds its recall.
  CHECK_THAT(svg, Contains(fmt::format("gnu (50) / gnu: {:.2f}", r.test.classes[0].recall)));
  const std::string counts = tpt::report::confusion_svg(r, false);
  CHECK_THAT(counts, Contains(fmt::format("gnu (50) / gnu: {}", r.test.confusion_at(0, 0))));
  // 52 species: labels present, cells small but every one drawn.
  const auto big = tpt::test::simulate(tpt::test::serengeti(), "RUS", 2, 0, 0, 0.1);
  const std::string svg52 = tpt::report::confusion_svg(big);
  CHECK(count(svg52, "<title>") == 52 * 52);
  CHECK(svg52.find(">zorilla</text>") != std::string::npos);
  CHECK(svg52.find("wildebeest") < svg52.find("zorilla"));
}

TEST_CASE("a heat map summed over seeds labels rows with the test set's counts", "[figures]") {
  // Summed over three seeds of one test set, the rows used to show three times its counts
  // under an axis that said "test images".
  const auto s = tpt::test::small_set();
  std::vector<tpt::experiment_record> records;
  for (std::uint64_t seed = 0; seed < 3; ++seed) records.push_back(tpt::test::simulate(s, "RUS", 2, seed, 0, 0.1));
  tpt::test::scratch_dir dir("tpt-heatmap");
  tpt::report_options options;
  options.bootstrap.resamples = 20;
  tpt::write_report(dir.path(), records, options);
  const auto svg = tpt::io::read_text(dir / "figures/confusion_rus_phase2.svg");
  CHECK_THAT(svg, Contains("gnu (50)"));
  CHECK_THAT(svg, !Contains("gnu (150)"));
  // Without one test set, the sums are shown and the axis says so.
  tpt::report::confusion_figure f{
      .title = "t", .class_names = {"a", "b"}, .confusion = {3, 1, 0, 2}, .order = {}, .row_normalised = true, .row_counts = {}, .runs = 2};
  const auto summed = tpt::report::render(f);
  CHECK_THAT(summed, Contains("a (4)") && Contains("summed over 2 runs"));
  f.row_counts = {1};
  CHECK_THROWS_WITH(tpt::report::render(f), Contains("1 row counts for 2 classes"));
}

TEST_CASE("the F1-change figure plots relative change, marks changes from 0 and refuses bad input", "[figures]") {
  tpt::report::f1_change_figure f;
  f.title = "change";
  f.class_names = {"a", "b", "c", "d"};
  f.reference_f1 = {0.5, 0.4, 0.0, 0.0};
  f.candidate_f1 = {0.6, 0.2, 0.3, 0.0};
  f.order = {1, 0, 2, 3};
  const std::string svg = tpt::report::render(f);
  CHECK_THAT(svg, Contains("a — relative F1 change: 20"));
  CHECK_THAT(svg, Contains("b — relative F1 change: -50"));
  CHECK_THAT(svg, Contains("c (from 0 to 0.30)"));
  CHECK_THAT(svg, Contains("d — relative F1 change: 0"));
  CHECK(svg.find(">b</text>") < svg.find(">a</text>"));  // the given order
  CHECK(tpt::report::f1_change(0.5, 0.6, true) == Approx(20));
  CHECK(tpt::report::f1_change(0.5, 0.6, false) == Approx(0.1));
  CHECK(std::isnan(tpt::report::f1_change(0.0, 0.1, true)));
  f.order = {0, 0, 1, 2};
  CHECK_THROWS_WITH(tpt::report::render(f), Contains("every class id exactly once"));
  f.order.clear();
  f.candidate_f1.pop_back();
  CHECK_THROWS_WITH(tpt::report::render(f), Contains("3 candidate F1 values for 4 classes"));
  const auto s = tpt::test::small_set();
  auto other = s;
  other.names[0] = "wildebeest";
  CHECK_THROWS_WITH(tpt::report::f1_change_svg(tpt::test::simulate(s, "a", 1, 0, 0, 0), tpt::test::simulate(other, "b", 1, 0, 0, 0)),
                    Contains("different class lists"));
  CHECK_THROWS_AS(tpt::report::frequency_order({"a", "b"}, {1}, {1, 2}), tpt::config_error);
}
