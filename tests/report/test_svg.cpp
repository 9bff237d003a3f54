// tpt/report/svg.hpp: figures are well-formed, escape their text and refuse bad shapes.
#include <cstdlib>
#include <regex>
#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "tpt/io/atomic_file.hpp"
#include "tpt/report/svg.hpp"
#include "tpt_test_support.hpp"

using tpt::test::count;

TEST_CASE("a log-scale grouped bar chart draws one bar per value and marks zeros", "[svg]") {
  tpt::svg::bar_chart chart;
  chart.title = "Per-class counts";
  chart.value_label = "images";
  chart.categories = {"wildebeest", "zebra", "aardwolf & <friends>"};
  chart.data = {{"before", {40000, 2000, 0}}, {"after", {15000, 5000, 30}}};
  chart.value_scale = tpt::svg::scale::log10;
  const std::string svg = tpt::svg::render(chart);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("aardwolf &amp; &lt;friends&gt;") != std::string::npos);
  CHECK(svg.find("<friends>") == std::string::npos);
  // 6 values: 5 bars with tooltips, 1 zero mark with a tooltip.
  CHECK(count(svg, "<title>") == 6);
  // Log ticks from 10 to 100k.
  CHECK(svg.find(">10</text>") != std::string::npos);
  CHECK(svg.find(">100k</text>") != std::string::npos);
}

TEST_CASE("a linear bar chart with negative values draws bars on both sides of zero", "[svg]") {
  tpt::svg::bar_chart chart;
  chart.title = "Relative F1 change";
  chart.categories = {"a", "b"};
  chart.data = {{"change", {25.0, -40.0}}};
  chart.colour_by_sign = true;
  chart.layout = tpt::svg::orientation::horizontal;
  const std::string svg = tpt::svg::render(chart);
  CHECK(svg.find("#009E73") != std::string::npos);  // positive
  CHECK(svg.find("#D55E00") != std::string::npos);  // negative
  CHECK(svg.find(">-40</text>") != std::string::npos);
}

TEST_CASE("bar charts refuse series of the wrong length and empty input", "[svg][errors]") {
  tpt::svg::bar_chart chart;
  chart.categories = {"a", "b"};
  chart.data = {{"s", {1.0}}};
  CHECK_THROWS_WITH(tpt::svg::render(chart), Catch::Contains("series 's' has 1 values for 2"));
  chart.data.clear();
  CHECK_THROWS_AS(tpt::svg::render(chart), tpt::config_error);
}

TEST_CASE("a heat map colours cells by value and refuses ragged rows", "[svg]") {
  tpt::svg::heatmap map;
  map.title = "Confusion";
  map.rows = map.columns = {"x", "y"};
  map.values = {{9, 1}, {0, 10}};
  const std::string svg = tpt::svg::render(map);
  CHECK(svg.find("fill=\"#08306b\"") != std::string::npos);  // the maximum is darkest
  CHECK(svg.find("x / y: 1") != std::string::npos);
  map.values = {{9, 1}, {0}};
  CHECK_THROWS_WITH(tpt::svg::render(map), Catch::Contains("row 1 has 1 values for 2 columns"));
}

TEST_CASE("a log axis starts below a minimum that is a power of ten", "[svg]") {
  tpt::svg::bar_chart chart;
  chart.title = "A title long enough that a narrow chart would have to clip it on both sides";
  chart.categories = {"rodents", "zebra"};
  chart.data = {{"before", {1, 1000}}};
  chart.value_scale = tpt::svg::scale::log10;
  const std::string svg = tpt::svg::render(chart);
  CHECK(svg.find(">0.1</text>") != std::string::npos);  // the axis reaches below 1
  // The rodents' bar (value 1) has a positive height.
  const auto tip = svg.find("<title>rodents");
  REQUIRE(tip != std::string::npos);
  const auto rect = svg.rfind("<rect", tip);
  const auto h = svg.find("height=\"", rect);
  CHECK(std::stod(svg.substr(h + 8)) > 1.0);
  // The document is at least as wide as its title.
  const auto w = svg.find("width=\"");
  CHECK(std::stod(svg.substr(w + 7)) > 0.58 * 15 * chart.title.size());
}

TEST_CASE("text XML cannot hold becomes U+FFFD, so a figure with any class name parses", "[svg][errors]") {
  using tpt::svg::escape;
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(escape("zebra\x01") == "zebra" + fffd);                 // a control character
  CHECK(escape("a\tb\nc\rd") == "a\tb\nc\rd");                   // the three XML allows
  CHECK(escape("caf\xE9") == "caf" + fffd);                      // Latin-1 e-acute, not UTF-8
  CHECK(escape("caf\xC3\xA9") == "caf\xC3\xA9");                 // the same in UTF-8 is kept
  CHECK(escape("\xF0\x9F\xA6\x93 zebra") == "\xF0\x9F\xA6\x93 zebra");  // four bytes (U+1F993)
  CHECK(escape("\xC0\x80") == fffd + fffd);                      // an overlong NUL
  CHECK(escape("\xED\xA0\x80") == fffd + fffd + fffd);           // a UTF-16 surrogate
  CHECK(escape("\xE2\x82") == fffd + fffd);                      // a sequence cut short
  CHECK(escape("a&b") == "a&amp;b");

  tpt::test::scratch_dir dir("tpt-svg-xml");
  tpt::svg::bar_chart chart;
  chart.title = "odd \x02 names from a Latin-1 CSV: caf\xE9";
  chart.categories = {"gazelle\x1F", "caf\xE9 \xC3\xA9l\xC3\xA9phant", "<zebra> & \"friends\""};
  chart.data = {{"count", {1, 10, 100}}};
  tpt::io::write_text_atomically(dir / "odd.svg", tpt::svg::render(chart));
  const std::string command = fmt::format("'{}' -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' '{}'",
                                          TPT_REFERENCE_PYTHON, (dir / "odd.svg").string());
  INFO(command);
  CHECK(std::system(command.c_str()) == 0);
}
