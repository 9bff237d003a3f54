// tpt/io/csv.hpp: CSV by column name, with errors naming file, line and column.
#include <fstream>

#include <catch2/catch.hpp>

#include "tpt/io/csv.hpp"
#include "tpt_test_support.hpp"

namespace {
std::filesystem::path write(const tpt::test::scratch_dir& dir, const std::string& name,
                            const std::string& text) {
  auto p = dir / name;
  std::ofstream(p) << text;
  return p;
}
}  // namespace

TEST_CASE("read_csv reads required and optional columns in any order", "[csv]") {
  tpt::test::scratch_dir dir;
  auto p = write(dir, "m.csv",
                 "# a comment line\n"
                 "label,extra,path,split\n"
                 "zebra,x,a/1.jpg,train\n"
                 "\n"
                 "\"gazelle, Thomson's\",y,\"b/\"\"2\"\".jpg\",test\n");
  auto t = tpt::io::read_csv(p, {"path", "label"}, {"split", "seq_id"});
  REQUIRE(t.rows() == 2);
  CHECK(t.columns() == std::vector<std::string>{"path", "label", "split"});
  CHECK(t.has("split"));
  CHECK_FALSE(t.has("seq_id"));
  CHECK(t.at(0, "path") == "a/1.jpg");
  CHECK(t.at(1, "label") == "gazelle, Thomson's");
  CHECK(t.at(1, "path") == "b/\"2\".jpg");
  CHECK(t.line(0) == 3);
  CHECK(t.line(1) == 5);
}

TEST_CASE("read_csv skips blank lines anywhere - '#' starts a comment only before the header", "[csv]") {
  tpt::test::scratch_dir dir;
  // Editors and `echo >>` leave blank lines (CRLF ones too, and lines of spaces). After the header
  // a line starting with '#' is a row: a file named '#1.jpg', which pandas does not quote, used
  // to vanish without a word.
  auto p = write(dir, "m.csv",
                 "\n# written by hand\n  \npath,label\r\n\r\n#1.jpg,zebra\r\n \t \nb.jpg,lion\n\n\n");
  auto t = tpt::io::read_csv(p, {"path", "label"});
  REQUIRE(t.rows() == 2);
  CHECK(t.at(0, "path") == "#1.jpg");
  CHECK(t.line(0) == 6);
  CHECK(t.at(1, "path") == "b.jpg");
  CHECK(t.line(1) == 8);
  // A comment after the header is then a short row, named with its line, not data lost quietly.
  auto late = write(dir, "late.csv", "path,label\na.jpg,zebra\n# a late comment\n");
  CHECK_THROWS_WITH(tpt::io::read_csv(late, {"path", "label"}), Catch::Contains("late.csv:3"));
  // A file read after a failed one starts before its header again.
  auto q = write(dir, "q.csv", "# note\npath,label\na.jpg,x\n");
  CHECK(tpt::io::read_csv(q, {"path", "label"}).rows() == 1);
}

TEST_CASE("read_csv converts cells and names the culprit when it cannot", "[csv]") {
  tpt::test::scratch_dir dir;
  auto p = write(dir, "c.csv", "species,train\nzebra,120\nlion,many\n");
  auto t = tpt::io::read_csv(p, {"species", "train"});
  CHECK(t.get<long>(0, "train") == 120);
  CHECK(t.get<double>(0, "train") == 120.0);
  try {
    (void)t.get<long>(1, "train");
    FAIL("expected an error");
  } catch (const tpt::input_error& e) {
    CHECK(e.line() == 3);
    CHECK_THAT(e.what(), Catch::Contains("c.csv:3") && Catch::Contains("'train'") &&
                             Catch::Contains("'many'"));
  }
}

TEST_CASE("read_csv reports a missing file", "[csv][errors]") {
  tpt::test::scratch_dir dir;
  CHECK_THROWS_WITH(tpt::io::read_csv(dir / "absent.csv", {"a"}),
                    Catch::Contains("absent.csv") && Catch::Contains("no such file"));
}

TEST_CASE("read_csv reports a missing required column with the columns expected", "[csv][errors]") {
  tpt::test::scratch_dir dir;
  auto p = write(dir, "h.csv", "path,species\nx.jpg,zebra\n");
  CHECK_THROWS_WITH(tpt::io::read_csv(p, {"path", "label"}, {"split"}),
                    Catch::Contains("h.csv:1") && Catch::Contains("'label'") &&
                        Catch::Contains("required: path, label"));
}

TEST_CASE("read_csv reports short rows and unterminated quotes with their line", "[csv][errors]") {
  tpt::test::scratch_dir dir;
  auto p = write(dir, "s.csv", "path,label\na.jpg,zebra\nb.jpg\n");
  CHECK_THROWS_WITH(tpt::io::read_csv(p, {"path", "label"}),
                    Catch::Contains("s.csv:3"));
  auto q = write(dir, "q.csv", "path,label\n\"a.jpg,zebra\n");
  CHECK_THROWS_AS(tpt::io::read_csv(q, {"path", "label"}), tpt::input_error);
}

TEST_CASE("read_csv reports an empty file as having no header", "[csv][errors]") {
  tpt::test::scratch_dir dir;
  auto p = write(dir, "e.csv", "");
  CHECK_THROWS_WITH(tpt::io::read_csv(p, {"path"}), Catch::Contains("e.csv"));
}

TEST_CASE("csv_escape quotes only when needed", "[csv]") {
  CHECK(tpt::io::csv_escape("zebra") == "zebra");
  CHECK(tpt::io::csv_escape("a,b") == "\"a,b\"");
  CHECK(tpt::io::csv_escape("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(tpt::io::csv_escape("") == "\"\"");
}
