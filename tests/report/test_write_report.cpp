// tpt/report/write_report.hpp: the whole report for the paper's five models over several seeds;
// files well-formed (JSON parsed back, CSV columns read by name, SVG closed), atomic on bad input.
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "report_fixtures.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/csv.hpp"
#include "tpt/report/write_report.hpp"
#include "tpt_test_support.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("a report on the paper's models and species, three seeds", "[write_report]") {
  tpt::test::scratch_dir dir("tpt-report");
  const auto records = tpt::test::paper_models(tpt::test::serengeti(), {0, 1, 2});
  tpt::report_options options;
  options.bootstrap.resamples = 200;
  const auto written = tpt::write_report(dir / "out", records, options);
  const auto& doc = written.document;

  // Files: report.md/.csv/.json, a CSV per table, 9 confusion matrices, 12 F1-change figures.
  for (const auto* f : {"report.md", "report.csv", "report.json", "tables/headline.csv", "tables/paper.csv",
                        "tables/comparisons.csv", "tables/runs.csv", "tables/species_f1.csv",
                        "tables/species_ros_rus_15k_phase2.csv", "figures/confusion_baseline_phase1.svg",
                        "figures/f1_change_rus_phase2_vs_baseline_phase1.svg",
                        "figures/f1_change_ros_phase2_vs_ros_phase1.svg"})
    CHECK(fs::exists(dir / "out" / f));
  CHECK(doc.figures.size() == 9 + 12);
  CHECK(written.files.size() == doc.figures.size() + doc.tables.size() + 3);
  CHECK(written.files.back().filename() == "report.md");
  for (const auto& f : written.files) CHECK(fs::exists(f));
  for (const auto& [path, svg] : doc.figures) {
    CHECK(svg.rfind("<?xml", 0) == 0);
    CHECK(svg.find("</svg>") != std::string::npos);
  }

  // report.json parses back; its records are the inputs.
  const auto json = nlohmann::json::parse(tpt::io::read_text(dir / "out" / "report.json"));
  CHECK(json.at("paper").at("serengeti_s9") == true);
  CHECK(json.at("groups").size() == 9);
  CHECK(json.at("groups")[0].at("scalars").at("macro_f1").at("n") == 3);
  CHECK(json.at("groups")[0].at("scalars").at("macro_f1").at("mean").get<double>() ==
        Approx((records[0].test.macro_f1 + records[9].test.macro_f1 + records[18].test.macro_f1) / 3));
  CHECK(json.at("comparisons").size() == 12 * 4);  // 3 seeds + pooled, per comparison
  CHECK(json.at("tables").contains("species_rus_phase2"));
  const auto back = tpt::load_records(dir / "out" / "report.json");
  const bool same_records = back == records;
  CHECK(same_records);

  // report.csv is the headline table, read back by column name.
  const auto csv = tpt::io::read_csv(dir / "out" / "report.csv",
                                     {"model", "phase", "seeds", "accuracy_mean", "accuracy_sd", "macro_precision_mean",
                                      "macro_recall_mean", "macro_f1_mean", "macro_f1_sd"});
  REQUIRE(csv.rows() == 9);
  CHECK(csv.at(0, "model") == "baseline");
  CHECK(csv.get<int>(4, "phase") == 2);
  CHECK(csv.at(4, "model") == "RUS");
  CHECK(csv.get<int>(0, "seeds") == 3);
  CHECK(csv.get<double>(0, "macro_f1_mean") == Approx(json.at("groups")[0].at("scalars").at("macro_f1").at("mean").get<double>()).epsilon(1e-15));
  const auto species = tpt::io::read_csv(dir / "out" / "tables" / "species_baseline_phase1.csv",
                                         {"species", "precision_mean", "recall_mean", "f1_mean", "f1_sd", "train", "test"});
  CHECK(species.rows() == 52);
  CHECK(species.at(0, "species") == "wildebeest");
  const auto comparisons = tpt::io::read_csv(dir / "out" / "tables" / "comparisons.csv",
                                             {"reference", "candidate", "seeds", "difference", "ci_low", "ci_high", "verdict"});
  CHECK(comparisons.rows() == 48);
  CHECK(comparisons.at(3, "seeds") == "all (0, 1, 2)");

  // report.md holds every table and links every figure.
  const auto md = tpt::io::read_text(dir / "out" / "report.md");
  CHECK_THAT(md, Contains("## Accuracy and macro-averaged scores (layout of the paper's Tables 1-3)"));
  CHECK_THAT(md, Contains("## Ours beside the paper"));
  CHECK_THAT(md, Contains("## Is the gain real? Paired bootstrap of macro_f1"));
  CHECK_THAT(md, Contains("### Per species: RUS phase 2"));
  for (const auto& [path, svg] : doc.figures) CHECK_THAT(md, Contains("](" + path + ")"));
  CHECK_THAT(md, Contains(" ± "));

  // The screen summary: the headline, the paper beside ours, the comparisons.
  CHECK_THAT(written.summary, Contains("Accuracy and macro-averaged scores") && Contains("Ours beside the paper") &&
                                  Contains("Is the gain real?") && Contains("ROS&RUS(15K)"));
  CHECK(written.summary == doc.summary);
}

TEST_CASE("a user's classes: no paper columns unless asked, explicit comparisons", "[write_report]") {
  tpt::test::scratch_dir dir("tpt-report");
  const auto s = tpt::test::small_set();
  const std::vector<tpt::experiment_record> records{tpt::test::simulate(s, "plain", 1, 0, 0, 0),
                                                    tpt::test::simulate(s, "two-phase", 2, 0, 0.05, 0.2)};
  tpt::report_options options;
  options.bootstrap = {.statistic = "balanced_accuracy", .resamples = 100, .seed = 4};
  options.comparisons = {{{"plain", 1}, {"two-phase", 2}}};
  const auto doc = tpt::build_report(records, options);
  CHECK_THROWS_WITH(doc.table("paper"), Contains("no table 'paper'"));
  CHECK_THROWS_AS(doc.table("runs"), tpt::config_error);  // one seed: no per-run table
  const auto& c = doc.table("comparisons");
  REQUIRE(c.rows.size() == 1);
  CHECK(std::get<double>(c.rows[0][3]) == records[0].test.balanced_accuracy);
  CHECK(doc.figures.size() == 2 + 1);
  options.paper = tpt::paper_columns::always;
  const auto with_paper = tpt::build_report(records, options);
  CHECK_THAT(with_paper.table("paper").note, Contains("not on the paper's 52 Serengeti S9 species"));
  options.figures = false;
  options.per_species_tables = false;
  const auto written = tpt::write_report(dir.path(), records, options);
  CHECK_FALSE(fs::exists(dir / "figures"));
  CHECK_FALSE(fs::exists(dir / "tables" / "species_plain_phase1.csv"));
  CHECK(fs::exists(dir / "tables" / "comparisons.csv"));
  // Same seed, same report: the bootstrap is reproducible end to end.
  CHECK(tpt::build_report(records, options).markdown == written.document.markdown);
}

TEST_CASE("report.md escapes model names everywhere they appear, not only in tables", "[write_report]") {
  const auto s = tpt::test::small_set();
  const std::vector<tpt::experiment_record> records{tpt::test::simulate(s, "my*model*_[v2]<b>", 1, 0, 0, 0),
                                                    tpt::test::simulate(s, "my*model*_[v2]<b>", 2, 0, 0.05, 0.2)};
  tpt::report_options options;
  options.reference_model = "my*model*_[v2]<b>";
  options.bootstrap.resamples = 20;
  const auto doc = tpt::build_report(records, options);
  // Summary paragraph, comparison table, figure headings and alt text: never the raw name.
  CHECK(doc.markdown.find("my*model") == std::string::npos);
  CHECK(doc.markdown.find("<b>") == std::string::npos);
  CHECK_THAT(doc.markdown, Contains("(my\\*model\\*\\_\\[v2\\]\\<b\\> phase 1, "));
  CHECK_THAT(doc.markdown, Contains("### Confusion matrix: my\\*model\\*\\_\\[v2\\]\\<b\\> phase 1\n\n![Confusion matrix: my\\*"));
  CHECK_THAT(doc.markdown, Contains("### F1 change per species: my\\*model"));  // its own phase 2 vs phase 1
}

TEST_CASE("bad input leaves an existing report untouched", "[write_report][errors]") {
  tpt::test::scratch_dir dir("tpt-report");
  const auto s = tpt::test::small_set();
  const auto good = tpt::test::simulate(s, "baseline", 1, 0, 0, 0);
  tpt::report_options options;
  options.bootstrap.resamples = 50;
  tpt::write_report(dir.path(), std::vector<tpt::experiment_record>{good}, options);
  const auto before = tpt::io::read_text(dir / "report.md");

  auto bad = tpt::test::simulate(s, "RUS", 2, 0, 0, 0);
  bad.predictions.pop_back();
  CHECK_THROWS_WITH(tpt::write_report(dir.path(), std::vector<tpt::experiment_record>{good, bad}, options),
                    Contains("record 'RUS phase 2, seed 0': predictions") && Contains("89 predictions for 90 targets"));
  bad = tpt::test::simulate(s, "RUS", 2, 0, 0, 0);
  bad.predictions[0] = 17;
  CHECK_THROWS_AS(tpt::write_report(dir.path(), std::vector<tpt::experiment_record>{good, bad}, options),
                  tpt::unknown_class_error);
  options.comparisons = {{{"baseline", 1}, {"ROS", 2}}};
  CHECK_THROWS_WITH(tpt::write_report(dir.path(), std::vector<tpt::experiment_record>{good}, options),
                    Contains("no runs of 'ROS phase 2'"));
  options.title = "caf\xe9";  // Latin-1: report.json could not hold it
  CHECK_THROWS_WITH(tpt::write_report(dir.path(), std::vector<tpt::experiment_record>{good}, options),
                    Contains("option 'title'") && Contains("is not UTF-8"));
  options.title = "tpt experiment report";
  options.comparisons.clear();
  options.bootstrap.resamples = 1;
  CHECK_THROWS_WITH(tpt::write_report(dir.path(), std::vector<tpt::experiment_record>{good, tpt::test::simulate(s, "RUS", 2, 0, 0, 0)}, options),
                    Contains("resamples"));
  CHECK_THROWS_WITH(tpt::write_report("", std::vector<tpt::experiment_record>{good}), Contains("needs a folder"));
  CHECK_THROWS_WITH(tpt::write_report(dir.path(), std::vector<tpt::experiment_record>{}), Contains("no experiment records"));
  CHECK(tpt::io::read_text(dir / "report.md") == before);
  for (const auto& e : fs::recursive_directory_iterator(dir.path()))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);  // no temporary left behind
}
