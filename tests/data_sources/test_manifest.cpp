// tpt/data/manifest.hpp: CSV manifests path,label[,split][,seq_id][,location].
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/data/manifest.hpp"
#include "tpt/io/csv.hpp"

using namespace tpt::data;
using tpt::test::write_file;

TEST_CASE("read_manifest reads every column and infers sorted classes", "[manifest]") {
  tpt::test::scratch_dir dir;
  const auto m = write_file(dir / "set/manifest.csv",
                            "# a comment\n"
                            "path,label,split,seq_id,location,extra\n"
                            "S9/a.jpg,zebra,train,SEQ1,B04,x\n"
                            "\n"
                            ".\\S9\\b.jpg,lion,val,SEQ1,B04,y\n"
                            "S9/c.jpg,\"gazelle, Thomson's\",,SEQ2,,z\n");
  const auto d = read_manifest(m);
  CHECK(d.image_root == dir / "set");
  CHECK(d.class_names == std::vector<std::string>{"gazelle, Thomson's", "lion", "zebra"});
  REQUIRE(d.size() == 3);
  CHECK(d.samples[0] == sample{"S9/a.jpg", 2, split_kind::train, "SEQ1", "B04"});
  CHECK(d.samples[1] == sample{"S9/b.jpg", 1, split_kind::validation, "SEQ1", "B04"});
  CHECK(d.samples[2] == sample{"S9/c.jpg", 0, std::nullopt, "SEQ2", ""});
}

TEST_CASE("read_manifest: only path and label are required - numeric labels sort as numbers", "[manifest]") {
  tpt::test::scratch_dir dir;
  const auto m = write_file(dir / "m.csv", "label,path\n10,a.png\n2,b.png\n1,c.png\n");
  manifest_options o;
  o.image_root = dir / "elsewhere";
  const auto d = read_manifest(m, o);
  CHECK(d.class_names == std::vector<std::string>{"1", "2", "10"});
  CHECK(d.labels() == std::vector<std::int64_t>{2, 1, 0});
  CHECK(d.image_root == dir / "elsewhere");
  CHECK_FALSE(d.has_seq_ids());
  CHECK_FALSE(d.samples[0].split);
}

TEST_CASE("read_manifest with a class list: unknown labels fail or are skipped and written out", "[manifest][errors]") {
  tpt::test::scratch_dir dir;
  const auto m = write_file(dir / "m.csv", "path,label\na.jpg,zebra\nb.jpg,gnu\nc.jpg,lion\nd.jpg,Zebra\n");
  manifest_options o;
  o.class_names = {"lion", "zebra"};
  try {
    (void)read_manifest(m, o);
    FAIL("expected an error");
  } catch (const tpt::unknown_class_error& e) {
    CHECK(e.label() == "gnu");
    CHECK_THAT(e.what(), Catch::Contains("m.csv:3") && Catch::Contains("'lion', 'zebra'") &&
                             Catch::Contains("1 more bad record"));
  }
  o.on_bad_record = bad_record_policy::skip;
  o.skipped_list = dir / "out/skipped.csv";
  const auto d = read_manifest(m, o);
  CHECK(d.size() == 2);
  CHECK(d.labels() == std::vector<std::int64_t>{1, 0});
  REQUIRE(d.skipped.size() == 2);
  CHECK(d.skipped[1].label == "Zebra");
  const auto t = tpt::io::read_csv(dir / "out/skipped.csv", {"where", "path", "label", "reason"});
  REQUIRE(t.rows() == 2);
  CHECK(t.at(0, "where") == (dir / "m.csv").string() + ":3 (column 'label')");
}

TEST_CASE("read_manifest rejects paths that escape the root and duplicates", "[manifest][errors]") {
  tpt::test::scratch_dir dir;
  auto m = write_file(dir / "m.csv", "path,label\na.jpg,zebra\n../../etc/passwd,zebra\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:3") && Catch::Contains("escapes the image root"));
  m = write_file(dir / "m.csv", "path,label\n/abs/a.jpg,zebra\nb.jpg,zebra\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:2") && Catch::Contains("absolute path"));
  m = write_file(dir / "m.csv", "path,label\na.jpg,zebra\nx/../a.jpg,lion\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:3") && Catch::Contains("already listed on line 2"));
  manifest_options o;
  o.on_bad_record = bad_record_policy::skip;
  const auto d = read_manifest(m, o);
  CHECK(d.size() == 1);
  CHECK(d.skipped.size() == 1);
}

TEST_CASE("read_manifest: malformed CSV names file, line, column and what was expected", "[manifest][errors]") {
  tpt::test::scratch_dir dir;
  CHECK_THROWS_WITH(read_manifest(dir / "absent.csv"), Catch::Contains("absent.csv") && Catch::Contains("no such file"));
  auto m = write_file(dir / "m.csv", "file,label\na.jpg,zebra\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:1") && Catch::Contains("no column 'path'"));
  m = write_file(dir / "m.csv", "path,label\na.jpg\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:2"));
  m = write_file(dir / "m.csv", "path,label\n\"a.jpg,zebra\n");
  CHECK_THROWS_AS(read_manifest(m), tpt::input_error);
  m = write_file(dir / "m.csv", "path,label,split\na.jpg,zebra,holdout\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:2") && Catch::Contains("column 'split'") &&
                                          Catch::Contains("'holdout'") && Catch::Contains("expected train"));
  m = write_file(dir / "m.csv", "path,label\na.jpg,\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:2") && Catch::Contains("column 'label'"));
  m = write_file(dir / "m.csv", "path,label\n,zebra\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("m.csv:2") && Catch::Contains("column 'path'"));
  m = write_file(dir / "m.csv", "path,label\n");
  CHECK_THROWS_WITH(read_manifest(m), Catch::Contains("no images"));
  m = write_file(dir / "m.csv", "");
  CHECK_THROWS_AS(read_manifest(m), tpt::input_error);
  manifest_options o;
  o.on_bad_record = bad_record_policy::skip;
  m = write_file(dir / "m.csv", "path,label\n../a.jpg,zebra\n");
  CHECK_THROWS_WITH(read_manifest(m, o), Catch::Contains("no images (1 bad records skipped)"));
}

TEST_CASE("write_manifest round-trips through read_manifest, awkward fields included", "[manifest]") {
  tpt::test::scratch_dir dir;
  dataset_index d;
  d.image_root = dir.path();
  d.class_names = {"gazelle, Thomson's", "lion \"king\"", "zebra"};
  d.samples = {{"#odd/a.jpg", 0, split_kind::test, "SER#1", "B04"},
               {"b c/\"q\".jpg", 1, std::nullopt, "", ""},
               {"x.jpg", 2, split_kind::train, "S,2", " L "}};
  const auto file = dir / "m.csv";
  write_manifest(file, d, std::nullopt, {"made by a test"});
  manifest_options o;
  o.class_names = d.class_names;
  const auto back = read_manifest(file, o);
  CHECK(back.samples == d.samples);
  CHECK(back.class_names == d.class_names);
}
