// tpt/report/table.hpp and tables.hpp: renderings of a table, and the paper's tables built from
// experiment records (values, order, several seeds, the paper beside ours, comparisons).
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report_fixtures.hpp"
#include "tpt/report/paper.hpp"
#include "tpt/report/table.hpp"
#include "tpt/report/tables.hpp"

using Catch::Matchers::Contains;
using tpt::report::column_kind;

TEST_CASE("a table renders as Markdown, CSV, JSON and aligned text", "[table]") {
  tpt::report::table t;
  t.name = "demo";
  t.title = "Demo";
  t.note = "A note.";
  t.columns = {{"model", "model"}, {"n", "n", column_kind::integer}, {"f1", "F1", column_kind::real, 3},
               {"acc", "accuracy", column_kind::estimate}};
  t.add_row({std::string("a|b, \"c\""), std::int64_t{3}, 0.25, tpt::estimate{0.5, 0.01, 3}});
  t.add_row({std::string("plain"), std::monostate{}, std::nan(""), 0.75});
  const auto md = tpt::report::to_markdown(t);
  CHECK_THAT(md, Contains("## Demo\n\nA note.\n"));
  CHECK_THAT(md, Contains("| model | n | F1 | accuracy |\n|---|---:|---:|---:|\n"));
  CHECK_THAT(md, Contains("| a\\|b, \"c\" | 3 | 0.250 | 0.5000 ± 0.0100 |"));
  CHECK_THAT(md, Contains("| plain |  |  | 0.7500 |"));
  const auto csv = tpt::report::to_csv(t);
  CHECK(csv == "model,n,f1,acc_mean,acc_sd\n\"a|b, \"\"c\"\"\",3,0.25,0.5,0.01\nplain,,,0.75,\n");
  const auto j = tpt::report::to_json(t);
  CHECK(j["rows"][0]["acc"]["sd"] == 0.01);
  CHECK(j["rows"][1]["n"].is_null());
  CHECK(j["rows"][1]["f1"].is_null());
  CHECK(j["columns"][3]["kind"] == "estimate");
  const auto text = tpt::report::to_text(t);
  CHECK_THAT(text, Contains("Demo\nmodel     n     F1         accuracy\n"));
  CHECK_THAT(text, Contains("a|b, \"c\"  3  0.250  0.5000 ± 0.0100\n"));
  CHECK_THAT(text, Contains("plain                        0.7500\n"));
  CHECK(fmt::format("{}", t) == text);
}

TEST_CASE("a row of the wrong width or type is refused", "[table][errors]") {
  tpt::report::table t;
  t.name = "demo";
  t.columns = {{"model", "model"}, {"n", "n", column_kind::integer}};
  CHECK_THROWS_WITH(t.add_row({std::string("x")}), Contains("row 0 has 1 cells for 2 columns"));
  CHECK_THROWS_WITH(t.add_row({std::string("x"), 0.5}), Contains("column 'n' holds a value of the wrong type"));
}

TEST_CASE("the headline table has the paper's layout and the reports' values", "[tables]") {
  const auto s = tpt::test::small_set();
  const std::vector<tpt::experiment_record> records{tpt::test::simulate(s, "mine", 1, 0, 0.1, 0.0),
                                                    tpt::test::simulate(s, "baseline", 1, 0, 0.0, 0.0)};
  const auto groups = tpt::report::group_runs(records);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].model == "baseline");  // the paper's models first
  const auto t = tpt::report::headline_table(groups);
  REQUIRE(t.rows.size() == 2);
  std::vector<std::string> keys;
  for (const auto& c : t.columns) keys.push_back(c.key);
  CHECK(keys == std::vector<std::string>{"model", "phase", "seeds", "accuracy", "macro_precision", "macro_recall",
                                         "macro_f1", "balanced_accuracy", "weighted_f1"});
  CHECK(std::get<std::string>(t.rows[1][0]) == "mine");
  CHECK(std::get<double>(t.rows[1][6]) == records[0].test.macro_f1);
  CHECK(std::get<double>(t.rows[0][3]) == records[1].test.accuracy);
}

TEST_CASE("several seeds give mean and standard deviation of every headline metric", "[tables][seeds]") {
  const auto s = tpt::test::small_set();
  std::vector<tpt::experiment_record> records;
  for (std::uint64_t seed : {0, 1, 2}) records.push_back(tpt::test::simulate(s, "baseline", 1, seed, 0.0, 0.0));
  records.push_back(tpt::test::simulate(s, "RUS", 2, 0, 0.05, 0.1));
  const auto groups = tpt::report::group_runs(records);
  const auto t = tpt::report::headline_table(groups);
  for (std::size_t c = 3; c < t.columns.size(); ++c) {
    CHECK(t.columns[c].kind == column_kind::estimate);
    std::vector<double> v;
    for (const auto& r : records)
      if (r.model == "baseline") v.push_back(r.test.scalars().at(t.columns[c].key));
    const auto e = std::get<tpt::estimate>(t.rows[0][c]);
    CHECK(e == tpt::mean_and_sd(v));
    CHECK(e.sd > 0);
    CHECK(std::get<tpt::estimate>(t.rows[1][c]).n == 1);
  }
  CHECK(std::get<std::int64_t>(t.rows[0][2]) == 3);
  const auto runs = tpt::report::runs_table(groups);
  CHECK(runs.rows.size() == 4);
  const auto species = tpt::report::species_table(groups[0]);
  CHECK(std::get<tpt::estimate>(species.rows[0][3]).n == 3);
}

TEST_CASE("per-species tables follow the paper's Tables 4-6, most frequent species first", "[tables][species]") {
  const auto s = tpt::test::serengeti();
  const auto r = tpt::test::simulate(s, "ROS", 2, 0, 0.0, 0.1);
  const std::vector<tpt::experiment_record> records{r};
  const auto t = tpt::report::species_table(tpt::report::group_runs(records)[0]);
  CHECK(t.name == "species_ros_phase2");
  REQUIRE(t.rows.size() == 52);
  std::vector<std::string> keys;
  for (const auto& c : t.columns) keys.push_back(c.key);
  CHECK(keys == std::vector<std::string>{"species", "precision", "recall", "f1", "train", "test"});
  CHECK(std::get<std::string>(t.rows[0][0]) == "wildebeest");
  CHECK(std::get<std::int64_t>(t.rows[0][4]) == 48377);
  CHECK(std::get<std::int64_t>(t.rows[0][5]) == 6047);
  for (std::size_t i = 1; i < t.rows.size(); ++i)
    CHECK(std::get<std::int64_t>(t.rows[i - 1][4]) >= std::get<std::int64_t>(t.rows[i][4]));
  const auto& zorilla = r.test.at("zorilla");
  const auto row = std::find_if(t.rows.begin(), t.rows.end(), [](const auto& x) { return std::get<std::string>(x[0]) == "zorilla"; });
  REQUIRE(row != t.rows.end());
  CHECK(std::get<double>((*row)[3]) == zorilla.f1);
}

TEST_CASE("ours beside the paper: every row of a paper model carries the paper's figures", "[tables][paper]") {
  const auto records = tpt::test::paper_models(tpt::test::serengeti(), {0});
  const auto t = tpt::report::paper_table(tpt::report::group_runs(records));
  REQUIRE(t.rows.size() == 9);
  // baseline row: columns model, phase, accuracy ours, paper, P ours, paper, R ours, paper, F1 ours, paper, diff
  CHECK(std::get<double>(t.rows[0][3]) == 0.8527);
  CHECK(std::get<double>(t.rows[0][9]) == 0.3944);
  CHECK(std::get<double>(t.rows[0][10]) == Approx(records[0].test.macro_f1 - 0.3944));
  CHECK(std::get<std::string>(t.rows[4][0]) == "RUS");
  CHECK(std::get<double>(t.rows[4][9]) == 0.4147);
}

TEST_CASE("default comparisons: every model against the baseline, phase 2 against phase 1", "[tables][comparisons]") {
  const auto records = tpt::test::paper_models(tpt::test::small_set(), {0});
  const auto groups = tpt::report::group_runs(records);
  const auto c = tpt::report::default_comparisons(groups, "baseline");
  REQUIRE(c.size() == 8 + 4);
  CHECK(c[0].reference.model == "baseline");
  CHECK(c[0].candidate.model == "ROS");
  CHECK(c[0].candidate.phase == 1);
  CHECK(c[8].reference.model == "ROS");
  CHECK(c[8].reference.phase == 1);
  CHECK(c[8].candidate.phase == 2);
  std::vector<std::string> notes;
  const auto results = tpt::report::compare(groups, c, {.resamples = 50}, notes);
  CHECK(results.size() == 12);
  CHECK(notes.empty());
  CHECK(results[0].bootstrap.reference == records[0].test.macro_f1);
  const auto t = tpt::report::comparison_table(results, {.resamples = 50});
  CHECK(t.rows.size() == 12);
  CHECK(std::get<std::string>(t.rows[0][1]) == "ROS phase 1");
}

TEST_CASE("default comparisons: a two-phase reference model still compares its phase 2 with its phase 1",
          "[tables][comparisons]") {
  // A single paper program (tpt-ros) or a grid without the baseline: the first model is the
  // reference, and its phase-2 gain is the paper's central comparison.
  auto records = tpt::test::paper_models(tpt::test::small_set(), {0});
  std::erase_if(records, [](const auto& r) { return r.model != "ROS" && r.model != "RUS"; });
  const auto groups = tpt::report::group_runs(records);
  REQUIRE(groups.size() == 4);
  const auto c = tpt::report::default_comparisons(groups, "ROS");
  std::vector<std::string> pairs;
  for (const auto& x : c)
    pairs.push_back(fmt::format("{}{}>{}{}", x.reference.model, x.reference.phase, x.candidate.model, x.candidate.phase));
  CHECK(pairs == std::vector<std::string>{"ROS1>RUS1", "ROS1>RUS2", "ROS1>ROS2", "RUS1>RUS2"});
  std::erase_if(records, [](const auto& r) { return r.model != "ROS"; });
  const auto alone = tpt::report::default_comparisons(tpt::report::group_runs(records), "ROS");
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].reference.phase == 1);
  CHECK(alone[0].candidate.phase == 2);
}

TEST_CASE("comparisons name what is missing, ambiguous or unpaired", "[tables][comparisons][errors]") {
  const auto s = tpt::test::small_set();
  auto a = tpt::test::simulate(s, "baseline", 1, 0, 0, 0);
  auto b = tpt::test::simulate(s, "RUS", 2, 0, 0.1, 0.1);
  auto c = tpt::test::simulate(s, "RUS", 2, 1, 0.1, 0.1, /*split_seed=*/9);  // another test split
  auto d = tpt::test::simulate(s, "baseline", 1, 1, 0, 0);
  d.predictions.clear();
  d.targets.clear();
  auto e = tpt::test::simulate(s, "RUS", 2, 0, 0.1, 0.1);
  e.loss = "focal";
  const std::vector<tpt::experiment_record> records{a, b, c, d, e};
  const auto groups = tpt::report::group_runs(records);
  std::vector<std::string> notes;
  CHECK_THROWS_WITH(tpt::report::compare(groups, {{{"baseline", 1}, {"RUS", 2}}}, {.resamples = 20}, notes),
                    Contains("ambiguous") && Contains("name the loss"));
  CHECK_THROWS_WITH(tpt::report::compare(groups, {{{"baseline", 1}, {"ROS", 2}}}, {.resamples = 20}, notes),
                    Contains("no runs of 'ROS phase 2'"));
  const auto results = tpt::report::compare(groups, {{{"baseline", 1}, {"RUS", 2, "cross_entropy"}}}, {.resamples = 20}, notes);
  REQUIRE(results.size() == 1);  // seed 0 only
  CHECK(results[0].seed == 0u);
  REQUIRE(notes.size() == 1);
  CHECK_THAT(notes[0], Contains("seed 1: no per-image predictions"));
  notes.clear();
  d = tpt::test::simulate(s, "baseline", 1, 1, 0, 0);
  const std::vector<tpt::experiment_record> records2{a, b, c, d};
  tpt::report::compare(tpt::report::group_runs(records2), {{{"baseline", 1}, {"RUS", 2}}}, {.resamples = 20}, notes);
  REQUIRE(notes.size() == 1);
  CHECK_THAT(notes[0], Contains("seed 1: the two runs were tested on different images"));
}

TEST_CASE("grouping refuses duplicates and mixed class lists", "[tables][errors]") {
  const auto s = tpt::test::small_set();
  const auto a = tpt::test::simulate(s, "baseline", 1, 0, 0, 0);
  CHECK_THROWS_WITH(tpt::report::group_runs(std::vector<tpt::experiment_record>{a, a}), Contains("appears twice"));
  auto other = tpt::test::small_set();
  other.names[2] = "okapi";
  const auto b = tpt::test::simulate(other, "RUS", 1, 0, 0, 0);
  CHECK_THROWS_WITH(tpt::report::group_runs(std::vector<tpt::experiment_record>{a, b}),
                    Contains("differ first at class 2"));
  CHECK_THROWS_WITH(tpt::report::group_runs(std::vector<tpt::experiment_record>{}), Contains("no experiment records"));
}

TEST_CASE("user models are grouped by their exact name - file names never collide", "[tables]") {
  // Reduced to ASCII letters and digits, "模型一" and "模型二" were both "" and "ResNet-50" and
  // "ResNet 50" both "resnet_50": two models became one row (or "appears twice").
  const auto s = tpt::test::small_set();
  std::vector<tpt::experiment_record> records;
  for (const char* name : {"模型一", "模型二", "ResNet-50", "ResNet 50"})
    records.push_back(tpt::test::simulate(s, name, 1, 0, 0, 0));
  records.push_back(tpt::test::simulate(s, "ros_rus_15k", 2, 0, 0, 0));
  records.push_back(tpt::test::simulate(s, "ROS&RUS(15K)", 2, 1, 0, 0));  // the paper's model, another spelling
  const auto groups = tpt::report::group_runs(records);
  REQUIRE(groups.size() == 5);
  std::set<std::string> slugs;
  for (const auto& g : groups) slugs.insert(g.slug());
  CHECK(slugs.size() == 5);
  CHECK(slugs.contains("ros_rus_15k_phase2"));
  CHECK(tpt::paper::file_slug("cross_entropy") == "cross_entropy");
  CHECK_THAT(tpt::paper::file_slug("模型一"), Catch::Matches("model_[0-9a-f]{8}"));
  CHECK(tpt::paper::file_slug("ResNet-50") != tpt::paper::file_slug("ResNet 50"));
}

TEST_CASE("Markdown shows names as written: markup characters are escaped", "[table]") {
  using tpt::report::markdown_text;
  CHECK(markdown_text("back\\|slash") == "back\\\\\\|slash");
  CHECK(markdown_text("<b>bold</b>") == "\\<b\\>bold\\</b\\>");
  CHECK(markdown_text("*star* [link]") == "\\*star\\* \\[link\\]");
  CHECK(markdown_text("cross_entropy") == "cross_entropy");  // between letters '_' never emphasises
  CHECK(markdown_text("_lead and trail_") == "\\_lead and trail\\_");
  CHECK(markdown_text("ROS&RUS(15K)\nline") == "ROS&RUS(15K) line");
  tpt::report::table t;
  t.name = "x";
  t.title = "<i>title</i>";
  t.columns = {{"model", "model"}};
  t.add_row({std::string("a*b*c")});
  const auto md = tpt::report::to_markdown(t);
  CHECK_THAT(md, Contains("## \\<i\\>title\\</i\\>"));
  CHECK_THAT(md, Contains("| a\\*b\\*c |"));
}
