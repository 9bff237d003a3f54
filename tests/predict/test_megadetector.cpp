// tpt/predict/megadetector.hpp, crop.hpp, scores.hpp: MegaDetector files read and written back
// field for field, every malformed file named with its position and what was expected; top-k
// order; detection boxes squared, padded and cut at the image border.
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "predict_fixtures.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/predict/crop.hpp"
#include "tpt/predict/megadetector.hpp"
#include "tpt/predict/scores.hpp"
#include "tpt_test_support.hpp"

using tpt::predict::megadetector_results;
using tpt::predict::ordered_json;

TEST_CASE("a MegaDetector file is written back with every field, in its order", "[megadetector]") {
  tpt::test::scratch_dir dir("tpt-md");
  const ordered_json doc = tpt::test::md_document(dir.path());
  const auto in = dir / "md.json";
  tpt::io::write_text_atomically(in, doc.dump(1));

  const auto results = megadetector_results::read(in);
  CHECK(results.image_count() == 6);
  CHECK(results.format_version() == "1.4");
  CHECK(results.detection_category_id("animal") == std::optional<std::string>("1"));
  CHECK(results.detection_category_id("person") == std::optional<std::string>("2"));
  CHECK_FALSE(results.detection_category_id("animals").has_value());
  CHECK_FALSE(results.has_classifications());
  const auto box = megadetector_results::box_of(results.images()[0]["detections"][1]);
  CHECK(box == tpt::predict::normalized_box{0.85, 0.8, 0.3, 0.3});

  const auto out = dir / "out/md.json";
  results.write(out);
  const std::string written = tpt::io::read_text(out);
  // Same keys in the same order with the same values: the text MegaDetector's indent-1 dump gives.
  CHECK(written == doc.dump(1) + "\n");
  CHECK(ordered_json::parse(written) == doc);
  // Unknown keys at every level survive.
  const auto again = ordered_json::parse(written);
  CHECK(again["custom_top_level"]["kept"] == true);
  CHECK(again["info"]["site_notes"] == "unknown info key");
  CHECK(again["images"][0]["datetime"] == "2021-06-01 06:12:00");
  CHECK(again["images"][0]["detections"][0]["track_id"] == 7);
}

TEST_CASE("a malformed MegaDetector file is refused with its position and what was expected", "[megadetector]") {
  tpt::test::scratch_dir dir("tpt-md-bad");
  const ordered_json good = tpt::test::md_document(dir.path());

  auto refused = [&](const std::string& text) -> std::string {
    const auto file = dir / "bad.json";
    tpt::io::write_text_atomically(file, text);
    try {
      (void)megadetector_results::read(file);
    } catch (const tpt::input_error& e) {
      CHECK(e.file() == file);
      return e.what();
    }
    FAIL("accepted: " << text);
    return {};
  };
  auto edited = [&](auto&& change) {
    ordered_json d = good;
    change(d);
    return d.dump(1);
  };

  SECTION("syntax errors give line and column") {
    const std::string message = refused("{\n \"info\": {\"format_version\": \"1.4\"},\n \"images\": [,]\n}\n");
    CHECK_THAT(message, Catch::Contains("bad.json:3: column 13: not valid JSON"));
    CHECK_THAT(refused("{\"info\": {}"), Catch::Contains("bad.json:1: column 12: not valid JSON"));
    CHECK_THAT(refused("  \n"), Catch::Contains("the file is empty"));
  }
  SECTION("structure") {
    CHECK_THAT(refused("[1, 2]"), Catch::Contains("expected a MegaDetector results object") && Catch::Contains("array"));
    CHECK_THAT(refused(edited([](auto& d) { d.erase("images"); })), Catch::Contains("no 'images' field"));
    CHECK_THAT(refused(edited([](auto& d) { d.erase("detection_categories"); })),
               Catch::Contains("no 'detection_categories' field"));
    CHECK_THAT(refused(edited([](auto& d) { d["info"].erase("format_version"); })),
               Catch::Contains("at info: no 'format_version'"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"] = "x"; })), Catch::Contains("at images: expected an array"));
    CHECK_THAT(refused(edited([](auto& d) { d["detection_categories"]["x1"] = "bird"; })),
               Catch::Contains("category id 'x1' is not a non-negative integer"));
    CHECK_THAT(refused(edited([](auto& d) { d["detection_categories"]["4"] = ""; })),
               Catch::Contains("at detection_categories.\"4\": expected a non-empty name"));
    CHECK_THAT(refused(edited([](auto& d) { d["classification_categories"] = {{"0", 3}}; })),
               Catch::Contains("at classification_categories"));
  }
  SECTION("images and detections") {
    CHECK_THAT(refused(edited([](auto& d) { d["images"][2].erase("file"); })),
               Catch::Contains("at images[2]: expected a 'file' field"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][3].erase("detections"); })),
               Catch::Contains("at images[3] ('cam2/empty.png'): no 'detections' array"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][4]["failure"] = 3; })),
               Catch::Contains("at images[4] ('cam2/broken.jpg').failure: expected null or a string"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][1]["detections"][0]["bbox"] = {0.1, 0.2, 0.3}; })),
               Catch::Contains("at images[1] ('cam1/b.png').detections[0].bbox: expected [x_min, y_min, width, "
                               "height]") &&
                   Catch::Contains("got [0.1,0.2,0.3]"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][0]["detections"][2]["bbox"][3] = -0.1; })),
               Catch::Contains("detections[2].bbox") && Catch::Contains("width and height >= 0"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][0]["detections"][1]["bbox"][0] = "0.5"; })),
               Catch::Contains("detections[1].bbox"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][0]["detections"][0]["category"] = "9"; })),
               Catch::Contains("detections[0].category: '9' is not in detection_categories"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][0]["detections"][0]["category"] = 1; })),
               Catch::Contains("detections[0]: expected a 'category' string"));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][2]["detections"][0]["conf"] = "high"; })),
               Catch::Contains("images[2] ('cam2/c.png').detections[0]: expected a 'conf' number, got \"high\""));
    CHECK_THAT(refused(edited([](auto& d) { d["images"][2]["detections"] = ordered_json::array({ordered_json{{"category", "1"}}}); })),
               Catch::Contains("expected a 'conf' number, got none"));
  }
  SECTION("a missing file") {
    CHECK_THROWS_WITH(megadetector_results::read(dir / "nope.json"), Catch::Contains("nope.json: no such file"));
  }
}

TEST_CASE("classifications are written as MegaDetector writes them, highest first", "[megadetector]") {
  const std::vector<float> probs{0.1f, 0.05f, 0.4f, 0.4f, 0.05f};
  const auto top = tpt::predict::top_k_of(probs, 3);
  REQUIRE(top.size() == 3);
  // Ties go to the lower class index, so the order never depends on a sort's whims.
  CHECK(top[0].class_index == 2);
  CHECK(top[1].class_index == 3);
  CHECK(top[2].class_index == 0);
  CHECK(tpt::predict::top_k_of(probs, 10).size() == 5);
  CHECK_THROWS_AS(tpt::predict::top_k_of(probs, 0), tpt::config_error);

  const std::vector<tpt::predict::class_score> scores{{3, 0.901234f}, {1, 0.07149f}, {4, 0.00001f}};
  const ordered_json j = tpt::predict::classifications_json(scores);
  CHECK(j.dump() == R"([["3",0.9012],["1",0.0715],["4",0.0]])");
  const std::vector<std::string> names{"zebra", "gazelle"};
  CHECK(tpt::predict::classification_categories_json(names).dump() == R"({"0":"zebra","1":"gazelle"})");
  CHECK(tpt::predict::md_timestamp().size() == 19);
}

TEST_CASE("detection boxes are squared, padded and cut at the image border", "[crop]") {
  using tpt::predict::covering_pixels;
  using tpt::predict::detection_region;
  using tpt::predict::normalized_box;
  using tpt::predict::pixel_rect;
  using tpt::data::source_box;

  // Inside the frame: normalised to pixels.
  CHECK(detection_region({0.25, 0.2, 0.5, 0.4}, 400, 300) == source_box{100, 60, 300, 180});
  // Reaching past the right and bottom border: cut there.
  CHECK(detection_region({0.85, 0.8, 0.3, 0.3}, 400, 300) == source_box{340, 240, 400, 300});
  // Padding adds a fraction of the box on every side, then the border cuts it.
  CHECK(detection_region({0.25, 0.2, 0.5, 0.4}, 400, 300, {.padding = 0.1}) == source_box{80, 48, 320, 192});
  CHECK(detection_region({0.0, 0.0, 0.2, 0.3}, 400, 300, {.padding = 0.5}) == source_box{0, 0, 120, 135});
  // Square: the short side grows about the centre...
  CHECK(detection_region({0.25, 0.2, 0.5, 0.4}, 400, 300, {.square = true}) == source_box{100, 20, 300, 220});
  // ... and the square moves back inside the frame when it fits ...
  CHECK(detection_region({0.9, 0.0, 0.1, 0.2}, 400, 300, {.square = true}) == source_box{340, 0, 400, 60});
  // ... and is cut when it does not.
  CHECK(detection_region({0.0, 0.1, 1.0, 0.2}, 400, 300, {.square = true}) == source_box{0, 0, 400, 260});
  // Outside the frame, or without area: empty.
  const auto outside = detection_region({1.2, 0.5, 0.1, 0.1}, 400, 300);
  CHECK(outside.width() == 0);
  CHECK(covering_pixels(outside, 1, 1, 400, 300).empty());
  CHECK(covering_pixels(detection_region({0.4, 0.4, 0.0, 0.2}, 400, 300), 1, 1, 400, 300).empty());
  CHECK_THROWS_AS(tpt::predict::validate(tpt::predict::crop_options{.padding = -0.1}), tpt::config_error);

  // Whole pixels cover the region, in a frame decoded at another scale (a quarter here).
  CHECK(covering_pixels({100.5, 60, 299.2, 180}, 1, 1, 400, 300) == pixel_rect{100, 60, 300, 180});
  CHECK(covering_pixels({100, 61, 300, 181}, 0.25, 0.25, 100, 75) == pixel_rect{25, 15, 75, 46});
  CHECK(covering_pixels({0, 0, 400, 300}, 0.25, 0.25, 100, 75) == pixel_rect{0, 0, 100, 75});

  // The crop is the rectangle's pixels.
  const auto frame = tpt::test::synthetic_frame(30, 40, 3, 5);
  const auto piece = tpt::predict::crop(frame.view(), {10, 5, 25, 20});
  REQUIRE(piece.width() == 15);
  REQUIRE(piece.height() == 15);
  bool same = true;
  for (std::int64_t y = 0; y < 15; ++y)
    for (std::int64_t x = 0; x < 15; ++x)
      for (std::int64_t c = 0; c < 3; ++c) same = same && piece.at(y, x, c) == frame.at(y + 5, x + 10, c);
  CHECK(same);
  CHECK_THROWS_AS(tpt::predict::crop(frame.view(), {30, 0, 41, 10}), tpt::config_error);
}
