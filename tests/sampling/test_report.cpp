// Plan reports (table, CSV, SVG) and the distributions they are drawn for: built-in, long-tailed,
// labels files and counts files, with every failure path of the readers.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "tpt/io/atomic_file.hpp"
#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/presets.hpp"
#include "tpt/sampling/report.hpp"
#include "tpt_test_support.hpp"

namespace {

void write(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file) << text;
}

std::size_t count(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a plan report counts unique examples, duplicates and drops per class",
          "[sampling][report]") {
  const std::vector<std::int64_t> labels{0, 0, 0, 0, 1, 2};
  const std::vector<std::string> names{"zebra", "aardvark", "civet"};
  // zebra: keep 2 of 4; aardvark: 1 -> 3 copies; civet: dropped entirely.
  const auto plan = tpt::make_plan(labels, 3, {1, 3, 4, 4, 4});
  tpt::plan_report report = tpt::describe_plan(plan, labels, names, "test plan");
  REQUIRE(report.classes.size() == 3);
  CHECK(report.classes[0] == tpt::class_counts{"zebra", 4, 2, 2});
  CHECK(report.classes[1] == tpt::class_counts{"aardvark", 1, 3, 1});
  CHECK(report.classes[2] == tpt::class_counts{"civet", 1, 0, 0});
  CHECK(report.classes[1].duplicates() == 2);
  CHECK(report.classes[0].dropped() == 2);
  CHECK(report.total() == tpt::class_counts{"total", 6, 5, 3});
  CHECK(fmt::format("{}", report.classes[0]) == "zebra: 4 -> 2 (2 unique, 0 duplicates, 2 dropped)");

  report.classes.push_back({"rhino", 1, 0, 0});
  report.sort_by_size();
  CHECK(report.classes[0].name == "zebra");
  CHECK(report.classes[1].name == "aardvark");  // ties by name
  CHECK(report.classes[3].name == "rhino");

  const std::string table = tpt::plan_table(report);
  CHECK(table.rfind("test plan\nclass ", 0) == 0);
  CHECK(table.find("zebra             4          2    x0.50          2           0          2") !=
        std::string::npos);
  CHECK(table.find("total             7          5    x0.71") != std::string::npos);
  CHECK(fmt::format("{}", report) == table);

  CHECK(tpt::plan_csv(report) ==
        "class,before,after,unique,duplicates,dropped\n"
        "zebra,4,2,2,0,2\n"
        "aardvark,1,3,1,2,0\n"
        "civet,1,0,0,0,1\n"
        "rhino,1,0,0,0,1\n"
        ",7,5,3,2,4\n");  // the totals: an empty class cell, which no class has
  CHECK_THROWS_WITH(tpt::describe_plan(plan, labels, std::vector<std::string>{"zebra", "", "civet"}),
                    Catch::Contains("class 1 has an empty name"));

  CHECK_THROWS_WITH(tpt::describe_plan(plan, labels, std::vector<std::string>{"a"}),
                    "option 'class names': 1 names for a plan of 3 classes");
  const auto unnamed = tpt::describe_plan(plan, labels);
  CHECK(unnamed.classes[2].name == "class 2");
}

TEST_CASE("the plan chart is a log-scale bar chart of counts before and after",
          "[sampling][report][svg]") {
  const auto s9 = tpt::serengeti_s9();
  const auto labels = tpt::labels_from_counts(s9.counts);
  const auto plan = tpt::plan_epoch(tpt::presets::ros_rus_5k(), labels, s9.num_classes(), 1, 0);
  auto report = tpt::describe_plan(plan, labels, s9.classes, "ROS&RUS(5K) on Snapshot Serengeti S9");
  report.sort_by_size();
  const auto chart = tpt::plan_chart(report);
  CHECK(chart.value_scale == tpt::svg::scale::log10);
  CHECK(chart.layout == tpt::svg::orientation::vertical);  // 52 classes: the paper's layout
  CHECK(chart.data[0].name == "before sampling (155254 in all)");
  CHECK(chart.data[1].name == "after sampling (131212 in all)");
  REQUIRE(chart.data.size() == 2);
  CHECK(chart.categories.size() == 52);
  CHECK(chart.data[0].values.front() == 48377);
  CHECK(chart.data[1].values.front() == 5000);
  CHECK(chart.data[1].values.back() == 10);  // rodents: 1 image x10
  const std::string svg = tpt::svg::render(chart);
  CHECK(count(svg, "<title>") == 104);
  CHECK(svg.find(">honeyBadger</text>") != std::string::npos);
  CHECK(svg.find("ROS&amp;RUS(5K)") != std::string::npos);

  // A few classes lie one per row.
  report.classes.resize(5);
  CHECK(tpt::plan_chart(report).layout == tpt::svg::orientation::horizontal);
  const auto few = tpt::svg::render(tpt::plan_chart(report));
  CHECK(count(few, "<title>") == 10);

  tpt::test::scratch_dir dir("tpt-plan-report");
  tpt::write_plan_report(report, dir / "plan.csv", dir / "plan.svg");
  CHECK(tpt::io::read_text(dir / "plan.svg") == few);
  CHECK(tpt::io::read_text(dir / "plan.csv") == tpt::plan_csv(report));
  tpt::write_plan_report(report, {}, {});  // nothing asked, nothing written
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()),
                      std::filesystem::directory_iterator{}) == 2);
}

TEST_CASE("long-tailed profiles", "[sampling][distribution]") {
  const auto lt = tpt::long_tailed(10, 5600, 100.0);
  CHECK(lt.counts.front() == 5600);
  CHECK(lt.counts.back() == 56);
  CHECK(lt.classes[3] == "class 3");
  CHECK(tpt::long_tailed(1, 7, 50.0).counts == std::vector<std::int64_t>{7});
  CHECK(tpt::long_tailed(3, 10, 1000.0).counts == std::vector<std::int64_t>{10, 1, 1});
  CHECK(tpt::long_tailed(4, 10, 1.0).counts == std::vector<std::int64_t>{10, 10, 10, 10});
  CHECK_THROWS_WITH(tpt::long_tailed(0, 10, 2.0), "option 'classes': must be at least 1, got 0");
  CHECK_THROWS_WITH(tpt::long_tailed(3, 0, 2.0), "option 'largest': must be at least 1, got 0");
  CHECK_THROWS_WITH(tpt::long_tailed(3, 10, 0.5),
                    "option 'imbalance ratio': must be a number >= 1, got 0.5");
  CHECK(tpt::labels_from_counts(std::vector<std::int64_t>{2, 0, 1}) ==
        std::vector<std::int64_t>{0, 0, 2});
  CHECK_THROWS_WITH(tpt::labels_from_counts(std::vector<std::int64_t>{2, -1}),
                    "option 'counts': class 1: count -1 is negative");
  // Counts past what a plan may hold, or past int64 when summed, are refused before allocating
  // (10^13 used to end in std::bad_alloc, two counts of 9e18 in a wrapped total).
  CHECK_THROWS_WITH(tpt::labels_from_counts(std::vector<std::int64_t>{5, 10'000'000'000'000}),
                    Catch::Contains("add up to more than 1e+12 examples (class 1: 10000000000000)"));
  const std::int64_t huge = 9'000'000'000'000'000'000;
  CHECK_THROWS_AS(tpt::labels_from_counts(std::vector<std::int64_t>{huge, huge}), tpt::config_error);
}

TEST_CASE("a labels file gives labels and a distribution", "[sampling][distribution]") {
  tpt::test::scratch_dir dir("tpt-labels");
  write(dir / "labels.csv", "# comment\npath,label\na.jpg,zebra\nb.jpg,aardvark\nc.jpg,zebra\n\nd.jpg,zebra\n");
  const auto read = tpt::read_labels(dir / "labels.csv");
  CHECK(read.distribution.classes == std::vector<std::string>{"aardvark", "zebra"});
  CHECK(read.distribution.counts == std::vector<std::int64_t>{1, 3});
  CHECK(read.labels == std::vector<std::int64_t>{1, 0, 1, 1});
  CHECK(read.distribution.name == "labels.csv");

  // With a fixed class list, ids follow it and an unknown name is an error naming the line.
  const auto fixed = tpt::read_labels(dir / "labels.csv", "label", {"zebra", "aardvark", "civet"});
  CHECK(fixed.labels == std::vector<std::int64_t>{0, 1, 0, 0});
  CHECK(fixed.distribution.counts == std::vector<std::int64_t>{3, 1, 0});
  CHECK_THROWS_WITH(tpt::read_labels(dir / "labels.csv", "label", {"zebra"}),
                    Catch::Contains("labels.csv:4: unknown class 'aardvark'"));
  CHECK_THROWS_WITH(tpt::read_labels(dir / "labels.csv", "label", {"zebra", "zebra"}),
                    "option 'classes': class 'zebra' is listed twice");

  CHECK_THROWS_WITH(tpt::read_labels(dir / "labels.csv", "species"),
                    Catch::Contains("header has no column 'species'"));
  write(dir / "empty.csv", "label\n");
  CHECK_THROWS_WITH(tpt::read_labels(dir / "empty.csv"),
                    Catch::Contains("empty.csv: no examples: the file has a header but no rows"));
  write(dir / "blank.csv", "label,path\nzebra,a\n,b\n");
  CHECK_THROWS_WITH(tpt::read_labels(dir / "blank.csv"),
                    Catch::Contains("blank.csv:3: column 'label': empty label"));
  CHECK_THROWS_WITH(tpt::read_labels(dir / "missing.csv"), Catch::Contains("no such file"));
}

TEST_CASE("a counts file gives a distribution in file order", "[sampling][distribution]") {
  tpt::test::scratch_dir dir("tpt-counts");
  write(dir / "counts.csv", "class,count\nzebra,40\naardvark,3\ncivet,0\n");
  const auto d = tpt::read_class_counts(dir / "counts.csv");
  CHECK(d.classes == std::vector<std::string>{"zebra", "aardvark", "civet"});
  CHECK(d.counts == std::vector<std::int64_t>{40, 3, 0});
  CHECK(d.total() == 43);

  write(dir / "negative.csv", "class,count\nzebra,40\naardvark,-3\n");
  CHECK_THROWS_WITH(tpt::read_class_counts(dir / "negative.csv"),
                    Catch::Contains("negative.csv:3: column 'count': expected a count >= 0, got -3"));
  write(dir / "text.csv", "class,count\nzebra,many\n");
  CHECK_THROWS_WITH(tpt::read_class_counts(dir / "text.csv"),
                    Catch::Contains("text.csv:2: column 'count': expected an integer, got 'many'"));
  write(dir / "twice.csv", "class,count\nzebra,4\nzebra,5\n");
  CHECK_THROWS_WITH(tpt::read_class_counts(dir / "twice.csv"),
                    Catch::Contains("twice.csv:3: column 'class': class 'zebra' appears again (first on line 2)"));
  write(dir / "unnamed.csv", "class,count\n,4\n");
  CHECK_THROWS_WITH(tpt::read_class_counts(dir / "unnamed.csv"), Catch::Contains("empty class name"));
  write(dir / "none.csv", "class,count\n");
  CHECK_THROWS_WITH(tpt::read_class_counts(dir / "none.csv"), Catch::Contains("no classes"));
  CHECK_THROWS_WITH(tpt::read_class_counts(dir / "counts.csv", "species"),
                    Catch::Contains("header has no column 'species'"));
}
