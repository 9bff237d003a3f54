// tpt/data/paths.hpp and records.hpp: paths under the image root, dataset invariants, bad-record policy.
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/data/records.hpp"
#include "tpt/io/csv.hpp"

using namespace tpt::data;

TEST_CASE("path_problem accepts paths inside the root and rejects escapes", "[records][paths]") {
  for (const char* ok : {"a.jpg", "S9/B04/B04_R1/S9_B04_R1_PICT0001.JPG", "./a/b.png", "a/../b.jpg",
                         "a//b.jpg", "a/./b.jpg", "..a/b.jpg", "a/..b.jpg"})
    CHECK_FALSE(path_problem(ok));
  CHECK_THAT(*path_problem(""), Catch::Contains("empty"));
  CHECK_THAT(*path_problem("/etc/passwd"), Catch::Contains("absolute") && Catch::Contains("relative to the image root"));
  CHECK_THAT(*path_problem("../secret.jpg"), Catch::Contains("escapes the image root"));
  CHECK_THAT(*path_problem("a/../../secret.jpg"), Catch::Contains("escapes the image root"));
  CHECK_THAT(*path_problem("a/b/../../../x.jpg"), Catch::Contains("escapes"));
  CHECK_THAT(*path_problem(".."), Catch::Contains("escapes"));
  CHECK_THAT(*path_problem("."), Catch::Contains("image root itself"));
  CHECK_THAT(*path_problem("a/.."), Catch::Contains("image root itself"));
  CHECK_THAT(*path_problem("a/b/"), Catch::Contains("folder"));
  CHECK_THAT(*path_problem(std::string("a\0b.jpg", 7)), Catch::Contains("NUL"));
  CHECK_THAT(*path_problem("cam1/caf\xE9.jpg"), Catch::Contains("'cam1/caf\\xE9.jpg' is not UTF-8"));
  CHECK_FALSE(path_problem("cam1/caf\xC3\xA9.jpg"));
  // A line break cannot survive a split file or results CSV read back line by line.
  CHECK_THAT(*path_problem("cam1/new\nline.jpg"),
             Catch::Contains("'cam1/new\\x0Aline.jpg' contains a control character"));
  CHECK_THAT(*path_problem("cam1/tab\t.jpg"), Catch::Contains("tab\\x09.jpg"));
  CHECK_THAT(*path_problem("del\x7F.jpg"), Catch::Contains("control character"));
}

TEST_CASE("normal_relative_path gives one spelling per image", "[records][paths]") {
  CHECK(normal_relative_path("a/b.jpg") == "a/b.jpg");
  CHECK(normal_relative_path("./a/b.jpg") == "a/b.jpg");
  CHECK(normal_relative_path("a//b.jpg") == "a/b.jpg");
  CHECK(normal_relative_path("a/./b.jpg") == "a/b.jpg");
  CHECK(normal_relative_path("a/x/../b.jpg") == "a/b.jpg");
  CHECK(normal_relative_path("x/../a/b.jpg") == "a/b.jpg");
  CHECK(normal_relative_path("..a/b.jpg") == "..a/b.jpg");
}

TEST_CASE("path_under_root joins what path_problem accepts and names what it refuses", "[records][paths][errors]") {
  CHECK(path_under_root("/data/img", "S9/a.jpg") == std::filesystem::path("/data/img/S9/a.jpg"));
  CHECK(path_under_root("root", "./a/b.png") == std::filesystem::path("root/./a/b.png"));
  for (const std::string bad : {"../x.jpg", "/etc/passwd", "", "a/b/", "a/.."}) {
    CAPTURE(bad);
    try {
      (void)path_under_root("root", bad);
      FAIL("accepted");
    } catch (const tpt::input_error& e) {
      CHECK(e.reason() == *path_problem(bad));  // the same rule and words as every data source
      CHECK(e.file() == (bad.empty() ? std::filesystem::path("root") : std::filesystem::path(bad)));
    }
  }
}

TEST_CASE("resolve_under_root follows links but not out of the root", "[records][paths][errors]") {
  tpt::test::scratch_dir dir;
  const auto root = dir / "images";
  tpt::test::write_file(root / "zebra/1.jpg", "x");
  tpt::test::write_file(dir / "outside/secret.jpg", "x");
  std::filesystem::create_symlink(dir / "outside/secret.jpg", root / "zebra/link.jpg");
  std::filesystem::create_symlink(root / "zebra/1.jpg", root / "zebra/inner.jpg");
  CHECK(resolve_under_root(root, "zebra/1.jpg") == std::filesystem::canonical(root / "zebra/1.jpg"));
  CHECK(resolve_under_root(root, "zebra/inner.jpg") == std::filesystem::canonical(root / "zebra/1.jpg"));
  CHECK_THROWS_WITH(resolve_under_root(root, "zebra/link.jpg"), Catch::Contains("outside the image root"));
  CHECK_THROWS_AS(resolve_under_root(root, "../outside/secret.jpg"), tpt::input_error);
}

TEST_CASE("split names parse as people write them", "[records][split]") {
  CHECK(parse_split_kind("train") == split_kind::train);
  CHECK(parse_split_kind("Training") == split_kind::train);
  CHECK(parse_split_kind("VAL") == split_kind::validation);
  CHECK(parse_split_kind("valid") == split_kind::validation);
  CHECK(parse_split_kind("validation") == split_kind::validation);
  CHECK(parse_split_kind("test") == split_kind::test);
  CHECK_FALSE(parse_split_kind("holdout"));
  CHECK_FALSE(parse_split_kind(""));
  CHECK(fmt::format("{}", split_kind::validation) == "validation");
}

namespace {
dataset_index small_index() {
  dataset_index d;
  d.image_root = "/data";
  d.class_names = {"lion", "zebra"};
  d.samples = {{"a/1.jpg", 0, std::nullopt, "s1", "L1"}, {"a/2.jpg", 1, split_kind::test, "", ""},
               {"b/3.jpg", 1, std::nullopt, "s2", ""}};
  return d;
}
}  // namespace

TEST_CASE("dataset_index gives labels, counts and files", "[records]") {
  const auto d = small_index();
  CHECK(d.labels() == std::vector<std::int64_t>{0, 1, 1});
  CHECK(d.class_counts() == std::vector<std::int64_t>{1, 2});
  CHECK(d.file(2) == std::filesystem::path("/data/b/3.jpg"));
  CHECK(d.class_index("zebra") == 1);
  CHECK_FALSE(d.class_index("gnu"));
  CHECK(d.has_seq_ids());
  CHECK(d.has_locations());
  CHECK_NOTHROW(d.validate());
  CHECK(fmt::format("{}", d) == "3 images in 2 classes under /data");
}

TEST_CASE("dataset_index::validate names what breaks an invariant", "[records][errors]") {
  auto d = small_index();
  d.samples[1].label = 2;
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("sample 1") && Catch::Contains("label 2 outside 0..1"));
  d = small_index();
  d.samples[2].path = "a/1.jpg";
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("'a/1.jpg' appears twice"));
  d = small_index();
  d.samples[0].path = "../x.jpg";
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("escapes the image root"));
  d = small_index();
  d.samples[0].path = "a/./1.jpg";
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("normal form"));
  d = small_index();
  d.class_names = {"lion", "lion"};
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("'lion' appears twice"));
  d = small_index();
  d.class_names[1] = "gu\xE9pard";  // a Latin-1 folder name: JSON (checkpoints, reports) cannot hold it
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("class 1 name 'gu\\xE9pard' is not UTF-8"));
  d = small_index();
  d.samples.clear();
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("no images"));
  d.class_names.clear();
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("no classes"));
}

TEST_CASE("bad records fail with the first one and a count, or are skipped and listed", "[records][errors]") {
  tpt::test::scratch_dir dir;
  const std::vector<std::string> classes = {"lion", "zebra"};
  auto make = [] {
    tpt::data::detail::bad_records bad;
    bad.add(tpt::data::detail::bad_records::kind::unknown_label, "m.csv", 4, "column 'label'", "x.jpg", "gnu",
            "label outside the class list");
    bad.add(tpt::data::detail::bad_records::kind::bad_path, "m.csv", 7, "column 'path'", "../y.jpg", "lion",
            "path '../y.jpg' escapes the image root");
    return bad;
  };
  {
    auto bad = make();
    dataset_index d;
    try {
      bad.finish(bad_record_policy::fail, classes, d, std::nullopt);
      FAIL("expected an error");
    } catch (const tpt::unknown_class_error& e) {
      CHECK(e.label() == "gnu");
      CHECK_THAT(e.what(), Catch::Contains("m.csv:4") && Catch::Contains("unknown class 'gnu'") &&
                               Catch::Contains("'lion', 'zebra'") && Catch::Contains("1 more bad record"));
    }
  }
  {
    tpt::data::detail::bad_records bad;
    bad.add(tpt::data::detail::bad_records::kind::bad_path, "m.csv", 7, "column 'path'", "../y.jpg", "lion",
            "path '../y.jpg' escapes the image root");
    dataset_index d;
    try {
      bad.finish(bad_record_policy::fail, classes, d, std::nullopt);
      FAIL("expected an error");
    } catch (const tpt::input_error& e) {
      CHECK(e.line() == 7);
      CHECK_THAT(e.what(), Catch::Contains("m.csv:7: column 'path': path '../y.jpg' escapes"));
    }
  }
  {
    auto bad = make();
    dataset_index d;
    const auto list = dir / "skipped.csv";
    bad.finish(bad_record_policy::skip, classes, d, list);
    REQUIRE(d.skipped.size() == 2);
    CHECK(d.skipped[0].where == "m.csv:4 (column 'label')");
    CHECK(d.skipped[1].path == "../y.jpg");
    const auto t = tpt::io::read_csv(list, {"where", "path", "label", "reason"});
    REQUIRE(t.rows() == 2);
    CHECK(t.at(0, "label") == "gnu");
    CHECK(t.at(1, "reason") == "path '../y.jpg' escapes the image root");
    CHECK_THAT(fmt::format("{}", d.skipped[0]), Catch::Contains("'x.jpg' (gnu)"));
  }
}
