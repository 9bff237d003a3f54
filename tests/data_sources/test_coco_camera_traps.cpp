// tpt/data/coco_camera_traps.hpp: LILA's COCO Camera Traps JSON, the paper's filters, and every
// kind of malformed file.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/core/random.hpp"
#include "tpt/data/coco_camera_traps.hpp"
#include "tpt/data/detail/element_pipeline.hpp"
#include "tpt/io/csv.hpp"

using namespace tpt::data;
using tpt::test::coco_annotation;
using tpt::test::coco_image;
using tpt::test::coco_json;
using tpt::test::write_file;

namespace {

const std::string categories =
    R"({"id": 0, "name": "empty"}, {"id": 1, "name": "human"}, {"id": 2, "name": "zebra"},
       {"id": 3, "name": "lion"}, {"id": 4, "name": "gnu"})";

std::string images() {
  return coco_image("S9/A/1", "S9/A/1.JPG", "SER_S9#A#1", "A") + ",\n" +
         coco_image("S9/A/2", "S9/A/2.JPG", "SER_S9#A#1", "A") + ",\n" +
         coco_image("S9/B/1", "S9/B/1.JPG", "SER_S9#B#1", "B") + ",\n" +
         coco_image("S9/B/2", "S9/B/2.JPG", "SER_S9#B#2", "B") + ",\n" +
         coco_image("S9/C/1", "S9/C/1.JPG", "SER_S9#C#1", "C") + ",\n" +
         coco_image("S9/C/2", "S9/C/2.JPG", "SER_S9#C#2", "C") + ",\n" +
         coco_image("S9/D/1", "S9/D/1.JPG", "SER_S9#D#1", "D") + ",\n" +
         coco_image("S9/E/1", "S9/E/1.JPG", "SER_S9#E#1", "E") + ",\n" +
         coco_image("S1/A/1", "S1/A/1.JPG", "SER_S1#A#1", "A");
}

std::string annotations() {
  return coco_annotation("a1", "S9/A/1", 2) + ",\n" + coco_annotation("a2", "S9/A/2", 2) + ",\n" +
         coco_annotation("a3", "S9/B/1", 3) + ",\n" + coco_annotation("a4", "S9/B/2", 0) + ",\n" +
         coco_annotation("a5", "S9/C/1", 1) + ",\n" + coco_annotation("a6", "S9/C/2", 2) + ",\n" +
         coco_annotation("a7", "S9/C/2", 3) + ",\n" + coco_annotation("a8", "S9/E/1", 2) + ",\n" +
         coco_annotation("a9", "S9/E/1", 2) + ",\n" + coco_annotation("a10", "S1/A/1", 2);
}

coco_camera_traps_options season9() {
  coco_camera_traps_options o;
  o.path_prefixes = season_prefixes({9});
  return o;
}

/// Read, expecting tpt::input_error; returns it for inspection.
tpt::input_error read_error(const std::filesystem::path& file, const coco_camera_traps_options& o = {}) {
  try {
    (void)read_coco_camera_traps(file, o);
  } catch (const tpt::input_error& e) {
    return e;
  }
  FAIL("expected tpt::input_error reading " << file);
  throw;  // unreachable
}

}  // namespace

TEST_CASE("COCO Camera Traps: season selection and the paper's filters, with counts", "[coco]") {
  tpt::test::scratch_dir dir;
  const auto file = write_file(dir / "meta/serengeti.json", coco_json(images(), annotations(), categories));
  const auto [index, report] = read_coco_camera_traps(file, season9());
  CHECK(index.class_names == std::vector<std::string>{"zebra", "lion"});
  REQUIRE(index.size() == 4);
  CHECK(index.samples[0] == sample{"S9/A/1.JPG", 0, std::nullopt, "SER_S9#A#1", "A"});
  CHECK(index.samples[1].path == "S9/A/2.JPG");
  CHECK(index.samples[2] == sample{"S9/B/1.JPG", 1, std::nullopt, "SER_S9#B#1", "B"});
  CHECK(index.samples[3].path == "S9/E/1.JPG");  // two annotations, one species
  CHECK(index.image_root == dir / "meta");
  CHECK(report.images_in_file == 9);
  CHECK(report.annotations_in_file == 10);
  CHECK(report.categories_in_file == 5);
  CHECK(report.outside_prefixes == 1);
  CHECK(report.without_annotation == 1);
  CHECK(report.multiple_species == 1);
  CHECK(report.dropped("empty") == 1);
  CHECK(report.dropped("human") == 1);
  CHECK(report.kept == 4);
  CHECK(report.annotations_unmatched == 1);
  CHECK(report.bad_records == 0);
  CHECK(report.classes_without_images == std::vector<std::string>{"gnu"});
  const auto text = fmt::format("{}", report);
  CHECK_THAT(text, Catch::Contains("not under S9/") && Catch::Contains("multiple species") &&
                       Catch::Contains("'empty'") && Catch::Contains("'human'") && Catch::Contains("gnu"));

  // All seasons, every category kept as a class.
  coco_camera_traps_options all;
  all.keep_classes_without_images = true;
  all.drop_categories = {"EMPTY"};
  all.image_root = "/images";
  const auto r = read_coco_camera_traps(file, all);
  CHECK(r.index.class_names == std::vector<std::string>{"human", "zebra", "lion", "gnu"});
  CHECK(r.index.size() == 6);
  CHECK(r.report.outside_prefixes == 0);
  CHECK(r.report.dropped("human") == 0);
  CHECK(r.index.image_root == std::filesystem::path("/images"));
}

TEST_CASE("COCO Camera Traps: member order, read chunk size and threads do not change the result", "[coco][property]") {
  tpt::test::scratch_dir dir;
  std::string order = "aci";
  std::sort(order.begin(), order.end());
  const auto reference = read_coco_camera_traps(
      write_file(dir / "ref.json", coco_json(images(), annotations(), categories)), season9());
  int n = 0;
  do {
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{1} << 20}) {
      const auto file = write_file(dir / fmt::format("o{}.json", n++), coco_json(images(), annotations(), categories, order));
      auto o = season9();
      o.read_chunk_bytes = chunk;
      o.threads = 1 + chunk % 2;
      const auto r = read_coco_camera_traps(file, o);
      INFO("order " << order << ", chunk " << chunk << ", threads " << o.threads);
      CHECK(r.index.samples == reference.index.samples);
      CHECK(r.index.class_names == reference.index.class_names);
      CHECK(fmt::format("{}", r.report) == fmt::format("{}", reference.report));
    }
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("COCO Camera Traps: integer ids, escapes, a byte order mark and extra members", "[coco]") {
  tpt::test::scratch_dir dir;
  const std::string text =
      "\xEF\xBB\xBF{\"licenses\": [{\"name\": \"CDLA\", \"url\": \"x\"}],\n"
      " \"images\": [{\"id\": 17, \"file_\\u006eame\": \"S9\\/A\\/quote\\\"d \\\\ \\u00e9.JPG\", \"location\": 5, "
      "\"seq_id\": null},\n"
      "             {\"id\": 18, \"file_name\": \"S9/A/2.JPG\", \"location\": \"B\", \"seq_id\": \"s\\\\\"}],\n"
      " \"annotations\": [{\"image_id\": 17, \"category_id\": 2}, {\"image_id\": 18, \"category_id\": 2,"
      " \"bbox\": [1, 2, {\"deep\": [[]]}]}],\n"
      " \"categories\": [{\"id\": 2, \"name\": \"zebra\"}], \"info\": \"text with } and ] and \\\" inside\"}";
  const auto file = write_file(dir / "ints.json", text);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{5}, std::size_t{4096}}) {
    coco_camera_traps_options o;
    o.read_chunk_bytes = chunk;
    const auto r = read_coco_camera_traps(file, o);
    REQUIRE(r.index.size() == 2);
    CHECK(r.index.samples[0].path == "S9/A/quote\"d \\ \xC3\xA9.JPG");
    CHECK(r.index.samples[0].location == "5");
    CHECK(r.index.samples[0].seq_id.empty());
    CHECK(r.index.samples[1].seq_id == "s\\");
    CHECK(r.report.annotations_unmatched == 0);
  }
}

TEST_CASE("COCO Camera Traps: unknown categories fail by default, or are skipped and listed", "[coco][errors]") {
  tpt::test::scratch_dir dir;
  const auto file = write_file(
      dir / "m.json", coco_json(images(), annotations() + ",\n" + coco_annotation("x", "S9/D/1", 99), categories));
  try {
    (void)read_coco_camera_traps(file, season9());
    FAIL("expected an error");
  } catch (const tpt::unknown_class_error& e) {
    CHECK(e.label() == "99");
    CHECK_THAT(e.what(), Catch::Contains("m.json:") && Catch::Contains("unknown class '99'") &&
                             Catch::Contains("'zebra'"));
  }
  auto o = season9();
  o.on_bad_record = bad_record_policy::skip;
  o.skipped_list = dir / "skipped.csv";
  const auto r = read_coco_camera_traps(file, o);
  CHECK(r.index.size() == 4);
  CHECK(r.report.bad_records == 1);
  CHECK(r.report.without_annotation == 0);
  REQUIRE(r.index.skipped.size() == 1);
  CHECK(r.index.skipped[0].path == "S9/D/1.JPG");
  CHECK_THAT(r.index.skipped[0].reason, Catch::Contains("category_id 99"));
  const auto t = tpt::io::read_csv(dir / "skipped.csv", {"where", "path", "label", "reason"});
  REQUIRE(t.rows() == 1);
  CHECK(t.at(0, "label") == "99");
}

TEST_CASE("COCO Camera Traps: file names that leave the root or repeat are bad records", "[coco][errors]") {
  tpt::test::scratch_dir dir;
  const std::string imgs = coco_image("i1", "S9/ok.JPG", "s1", "A") + ",\n" +
                           coco_image("i2", "../../etc/passwd", "s2", "A") + ",\n" +
                           coco_image("i3", "/abs/S9/x.JPG", "s3", "A") + ",\n" +
                           coco_image("i4", "S9/x/../ok.JPG", "s4", "A");
  const std::string anns = coco_annotation("a1", "i1", 2) + "," + coco_annotation("a2", "i2", 2) + "," +
                           coco_annotation("a3", "i3", 2) + "," + coco_annotation("a4", "i4", 3);
  const auto file = write_file(dir / "m.json", coco_json(imgs, anns, categories));
  const auto e = read_error(file);
  CHECK(e.line() == 4);
  CHECK_THAT(e.what(), Catch::Contains("escapes the image root") && Catch::Contains("2 more bad records"));
  coco_camera_traps_options o;
  o.on_bad_record = bad_record_policy::skip;
  const auto r = read_coco_camera_traps(file, o);
  REQUIRE(r.index.size() == 1);
  CHECK(r.index.samples[0].path == "S9/ok.JPG");
  REQUIRE(r.index.skipped.size() == 3);
  CHECK_THAT(r.index.skipped[1].reason, Catch::Contains("absolute"));
  CHECK_THAT(r.index.skipped[2].reason, Catch::Contains("already used"));
  CHECK(r.report.annotations_unmatched == 0);
}

TEST_CASE("COCO Camera Traps: a bad file name outside the selected seasons is only counted as outside", "[coco][errors]") {
  tpt::test::scratch_dir dir;
  const std::string imgs = coco_image("i1", "S9/ok.JPG", "s1", "A") + ",\n" +
                           coco_image("i2", "S1/../../etc/passwd", "s2", "A");
  const std::string anns = coco_annotation("a1", "i1", 2) + "," + coco_annotation("a2", "i2", 2);
  const auto file = write_file(dir / "m.json", coco_json(imgs, anns, categories));
  const auto r = read_coco_camera_traps(file, season9());  // the default policy fails on bad records
  REQUIRE(r.index.size() == 1);
  CHECK(r.index.samples[0].path == "S9/ok.JPG");
  CHECK(r.index.skipped.empty());
  CHECK(r.report.outside_prefixes == 1);
  // Selected, the same name is a bad record again.
  coco_camera_traps_options s1;
  s1.path_prefixes = season_prefixes({1});
  CHECK_THAT(read_error(file, s1).what(), Catch::Contains("escapes the image root"));
}

TEST_CASE("COCO Camera Traps: wrong types and missing fields name the element, line and byte", "[coco][errors]") {
  tpt::test::scratch_dir dir;
  struct bad {
    std::string images, annotations, cats, expected;
  };
  const std::string img = coco_image("i1", "S9/a.JPG", "s", "A");
  const std::string ann = coco_annotation("a1", "i1", 2);
  const std::vector<bad> cases = {
      {R"({"id": "i1", "file_name": 5})", ann, categories, "images[0]: field 'file_name': expected a string, got a number"},
      {R"({"id": "i1"})", ann, categories, "images[0]: missing field 'file_name'"},
      {R"({"file_name": "a.jpg"})", ann, categories, "images[0]: missing field 'id'"},
      {R"({"id": [1], "file_name": "a.jpg"})", ann, categories, "field 'id': expected a string or an integer, got an array"},
      {R"(["S9/a.JPG"])", ann, categories, "images[0]: expected an object, got an array"},
      {img, R"({"image_id": "i1", "category_id": "zebra"})", categories, "annotations[0]: field 'category_id': expected an integer, got a string"},
      {img, R"({"image_id": "i1", "category_id": 2.5})", categories, "expected an integer, got a number"},
      {img, R"({"image_id": "i1"})", categories, "annotations[0]: missing field 'category_id'"},
      {img, R"({"category_id": 2})", categories, "annotations[0]: missing field 'image_id'"},
      {img, ann, R"({"id": 2})", "categories[0]: missing field 'name'"},
      {img, ann, R"({"name": "zebra"})", "categories[0]: missing field 'id'"},
      {img, ann, R"({"id": 2, "name": "zebra"}, {"id": 2, "name": "lion"})", "category id 2 already used by 'zebra'"},
      {img, ann, R"({"id": 2, "name": "zebra"}, {"id": 3, "name": "zebra"})", "category name 'zebra' already used"},
      {img + "," + img, ann, categories, "images[1]: image id 'i1' already used"},
      {R"({"id": "i1", "file_name": "a.jpg", "width": tru})", ann, categories, "images[0]: invalid JSON"},
      {R"({"id": "i1", "file_name": "a.jpg" "x": 1})", ann, categories, "images[0]: invalid JSON"},
      {R"({"id": "i1", "file_name": "a.jpg", "x": [1, 2}})", ann, categories, "expected ']' to close the array"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto file = write_file(dir / fmt::format("bad{}.json", n++), coco_json(c.images, c.annotations, c.cats));
    const auto e = read_error(file);
    INFO(e.what());
    CHECK_THAT(e.what(), Catch::Contains(c.expected) && Catch::Contains("byte "));
    CHECK(e.line().has_value());
  }
}

TEST_CASE("COCO Camera Traps: structural errors say where and what was expected", "[coco][errors]") {
  tpt::test::scratch_dir dir;
  const std::string img = coco_image("i1", "S9/a.JPG", "s", "A");
  const std::string ann = coco_annotation("a1", "i1", 2);
  struct bad {
    std::string text, expected;
    std::size_t line;
  };
  const std::vector<bad> cases = {
      {"", "the file is empty", 1},
      {"   \n  ", "the file is empty", 2},
      {"[1, 2]", "expected a JSON object ('{') at the top level, got '['", 1},
      {"{\"images\": {}}", "'images': expected an array", 1},
      {"{\"images\": [" + img + "]\n\"annotations\": []}", "expected ',' or '}' after the value of 'images', got '\"'", 2},
      {"{\"images\": [" + img + " " + img + "]}", "expected ',' or ']' after element 0 of 'images'", 1},
      {"{\"images\": [" + img + ",]}", "expected a value after ','", 1},
      {"{\"images\" [" + img + "]}", "expected ':' after member name 'images'", 1},
      {"{images: []}", "expected a member name (a string)", 1},
      {"{\"images\": [" + img + "]} x", "unexpected 'x' after the end of the top-level object", 1},
      {"{\"images\": [" + img + "], \"images\": []}", "the member 'images' appears twice", 1},
      {"{\"info\": @}", "expected a JSON value, got '@'", 1},
      {"{\"images\": [], \n\"annotations\": [], \n\"categories\": [], \"info\": {\"a\": }}", "'info': invalid JSON", 3},
      {"{\"info\": \"" + std::string(20, 'x'), "a string that starts at byte 9 is not closed", 1},
      {"{\"info\": " + std::string(2000, '[') + std::string(2000, ']') + "}", "nesting deeper than 1024", 1},
      {"{\"images\": [], \"annotations\": []}", "no 'categories' array", 0},
      {"{\"annotations\": [], \"categories\": []}", "no 'images' array", 0},
      {"{\"images\": [], \"annotations\": [], \"categories\": [" + categories + "]}", "no images left after filtering", 0},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto file = write_file(dir / fmt::format("s{}.json", n++), c.text);
    const auto e = read_error(file);
    INFO(e.what());
    CHECK_THAT(e.what(), Catch::Contains(c.expected));
    if (c.line) CHECK(e.line() == c.line);
  }
  // An element's own error comes before a syntax error further on, whichever is found first: the
  // elements still waiting in the batch being filled used to be dropped unchecked.
  const auto first_wins = write_file(dir / "first.json", "{\"images\": [" + img + R"(, {"file_name": "b.jpg"}, )" + img +
                                                             " " + img + "]}");
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    const auto e = read_error(first_wins, {.threads = threads});
    INFO(e.what());
    CHECK_THAT(e.what(), Catch::Contains("images[1]: missing field 'id'"));
  }
  CHECK_THAT(read_error(dir / "absent.json").what(), Catch::Contains("no such file"));
  CHECK_THROWS_AS(read_coco_camera_traps(dir / "s0.json", coco_camera_traps_options{.threads = 0}), tpt::config_error);
  std::filesystem::create_directories(dir / "folder.json");
  CHECK_THAT(read_error(dir / "folder.json").what(), Catch::Contains("is a folder"));
}

TEST_CASE("COCO Camera Traps: every truncation of a file is an error, never a crash or a hang", "[coco][errors][property]") {
  tpt::test::scratch_dir dir;
  const std::string text = coco_json(images(), annotations(), categories);
  // The last byte is a newline: dropping it still leaves a complete document.
  for (std::size_t len = 0; len + 1 < text.size(); ++len) {
    const auto file = write_file(dir / "t.json", text.substr(0, len));
    coco_camera_traps_options o;
    o.read_chunk_bytes = 1 + len % 97;
    o.threads = 1 + len % 2;
    CHECK_THROWS_AS(read_coco_camera_traps(file, o), tpt::input_error);
  }
  const auto file = write_file(dir / "t.json", text.substr(0, text.size() - 1));
  CHECK(read_coco_camera_traps(file).index.size() == 5);
  const auto e = read_error(write_file(dir / "t.json", text.substr(0, text.size() / 2)));
  CHECK_THAT(e.what(), Catch::Contains("unexpected end of file"));
}

TEST_CASE("COCO Camera Traps: corrupted bytes give tpt errors or a valid read, nothing else", "[coco][errors][property]") {
  tpt::test::scratch_dir dir;
  const std::string text = coco_json(images(), annotations(), categories);
  tpt::rng gen(2024);
  const char replacements[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'x', ' ', '\n', '\0', '\x80'};
  int errors = 0;
  for (int round = 0; round < 400; ++round) {
    std::string bad = text;
    const int flips = 1 + static_cast<int>(gen.uniform_index(3));
    for (int k = 0; k < flips; ++k)
      bad[gen.uniform_index(bad.size())] = replacements[gen.uniform_index(sizeof replacements)];
    const auto file = write_file(dir / "c.json", bad);
    // The same outcome, error message included, on one thread or two.
    std::string outcome[2];
    for (std::size_t threads : {1, 2}) {
      coco_camera_traps_options o;
      o.read_chunk_bytes = 1 + gen.uniform_index(300);
      o.threads = threads;
      try {
        const auto r = read_coco_camera_traps(file, o);
        CHECK(r.index.size() > 0);
        outcome[threads - 1] = fmt::format("{} images\n{}", r.index.size(), r.report);
      } catch (const tpt::error& e) {
        outcome[threads - 1] = e.what();
        errors += threads == 1;
      }
    }
    CHECK(outcome[0] == outcome[1]);
  }
  CHECK(errors > 100);  // the corruptions did reach the error paths
}

TEST_CASE("element pipeline: once a batch failed on the parsing thread, no later batch is handled", "[coco][errors]") {
  // Under load the worker could fail on an earlier batch before finish() queued the batch being
  // filled; the drain then handled that batch on the calling thread and reported its (later)
  // error instead of the first one. Forced here: the worker's failure is awaited first.
  using tpt::data::detail::element_pipeline;
  using tpt::data::detail::element_batch;
  std::atomic<int> handled{0};
  std::atomic<bool> threw{false};
  element_pipeline pipeline(
      [&](const element_batch& b) {
        ++handled;
        if (b.tag == 1) {
          threw = true;
          throw tpt::input_error("f.json", "first error (images)");
        }
        throw tpt::input_error("f.json", "later error (categories)");
      },
      /*background=*/true);
  const std::string text = "{}";
  const tpt::data::detail::json_slice element{text.data(), text.size(), 0};
  pipeline.add(1, "images", element, 0);
  pipeline.add(2, "categories", element, 0);  // a new member: the images batch goes to the worker
  while (!threw) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the worker record the failure
  std::string first, reported;
  try {
    pipeline.finish();
  } catch (const tpt::input_error& e) {
    first = e.what();
  }
  try {
    pipeline.drain_and_rethrow_earlier();
  } catch (const tpt::input_error& e) {
    reported = e.what();
  }
  CHECK_THAT(first, Catch::Contains("first error"));
  CHECK_THAT(reported, Catch::Contains("first error"));
  CHECK(handled == 1);
}
