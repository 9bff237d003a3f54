// tpt/data/resize.hpp: antialiased resizing, checked on hand-made images and bit for bit against
// Pillow (the reference Python pipelines use).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "fixtures.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/resize.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt_test_support.hpp"

using tpt::data::image;
using tpt::data::resize;
using tpt::data::resize_filter;

TEST_CASE("a constant image stays constant under every filter and size", "[resize]") {
  for (auto filter : {resize_filter::box, resize_filter::triangle, resize_filter::lanczos3}) {
    image img(50, 70, 3);
    for (std::size_t i = 0; i < img.size_bytes(); ++i) img.data()[i] = static_cast<std::uint8_t>(17 + 50 * (i % 3));
    for (auto [h, w] : {std::pair{25, 35}, std::pair{13, 9}, std::pair{111, 203}, std::pair{50, 70}}) {
      const auto out = resize(img, h, w, filter);
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
          for (int c = 0; c < 3; ++c) REQUIRE(out.at(y, x, c) == 17 + 50 * c);
    }
  }
}

TEST_CASE("halving a checkerboard averages each 2x2 block", "[resize]") {
  image board(64, 64, 1);
  for (std::int64_t y = 0; y < 64; ++y)
    for (std::int64_t x = 0; x < 64; ++x) board.at(y, x) = ((x + y) % 2) ? 200 : 100;
  // Box: exactly the 2x2 mean. Triangle at scale 2 spans 4 source pixels with weights
  // 1/8, 3/8, 3/8, 1/8 per axis, which also averages a checkerboard to the mean (except at the
  // border, where the filter is cut off and renormalised).
  for (auto filter : {resize_filter::box, resize_filter::triangle}) {
    const auto half = resize(board, 32, 32, filter);
    for (std::int64_t y = 1; y < 31; ++y)
      for (std::int64_t x = 1; x < 31; ++x) REQUIRE(half.at(y, x) == 150);
  }
  const auto box = resize(board, 32, 32, resize_filter::box);
  CHECK(box.at(0, 0) == 150);
  CHECK(box.at(31, 31) == 150);
}

TEST_CASE("same size is a copy, and a box shifted by one pixel moves the image", "[resize]") {
  const auto img = tpt::test::synthetic_frame(31, 47, 3, 2);
  CHECK(tpt::test::mean_abs_diff(resize(img, 31, 47), img) == 0.0);
  image shifted(31, 46, 3);
  tpt::data::resize_into(img, {1, 0, 47, 31}, shifted.data(), 31, 46, resize_filter::triangle);
  for (std::int64_t y = 0; y < 31; ++y)
    for (std::int64_t x = 0; x < 46; ++x)
      for (int c = 0; c < 3; ++c) REQUIRE(shifted.at(y, x, c) == img.at(y, x + 1, c));
}

TEST_CASE("centre-crop policy keeps the centre with the output's aspect ratio", "[resize]") {
  using tpt::data::policy_box;
  using tpt::data::resize_policy;
  CHECK(policy_box(2048, 1536, 256, 256, resize_policy::center_crop) ==
        tpt::data::source_box{256, 0, 1792, 1536});
  CHECK(policy_box(100, 200, 50, 50, resize_policy::center_crop) == tpt::data::source_box{0, 50, 100, 150});
  CHECK(policy_box(2048, 1536, 256, 256, resize_policy::stretch) == tpt::data::source_box{0, 0, 2048, 1536});
  // A frame with the output's own aspect ratio is kept whole, exactly: 336 x 240 into 224 x 160
  // gave a box 1.4e-14 outside the frame, which the resize refused.
  CHECK(policy_box(336, 240, 224, 160, resize_policy::center_crop) == tpt::data::source_box{0, 0, 336, 240});
  CHECK(policy_box(2800, 2000, 224, 160, resize_policy::center_crop) == tpt::data::source_box{0, 0, 2800, 2000});
  // And no box ever leaves its frame, whatever the two aspect ratios.
  std::size_t outside = 0;
  for (std::int64_t w = 1; w <= 120; ++w)
    for (std::int64_t h = 1; h <= 120; ++h)
      for (const auto& [ow, oh] : {std::pair{224, 160}, std::pair{15, 11}, std::pair{13, 6}, std::pair{17, 7}, std::pair{7, 5}}) {
        const auto b = policy_box(w, h, ow, oh, resize_policy::center_crop);
        outside += b.x0 < 0 || b.y0 < 0 || b.x1 > static_cast<double>(w) || b.y1 > static_cast<double>(h) ? 1 : 0;
      }
  CHECK(outside == 0);
  tpt::data::image frame(240, 336, 3);
  CHECK_NOTHROW(tpt::data::resize(frame, 160, 224, resize_policy::center_crop));
}

TEST_CASE("the policy keeps the centre of a region (a detection's crop) as of a frame", "[resize]") {
  using tpt::data::policy_box;
  using tpt::data::resize_policy;
  using tpt::data::source_box;
  const source_box crop{100, 40, 500, 240};  // 400 x 200
  CHECK(policy_box(crop, 64, 64, resize_policy::center_crop) == source_box{200, 40, 400, 240});
  CHECK(policy_box(crop, 64, 64, resize_policy::stretch) == crop);
  // A region at the frame's origin is the frame's own box, bit for bit.
  for (const auto policy : {resize_policy::center_crop, resize_policy::stretch})
    CHECK(policy_box(source_box{0, 0, 2048, 1536}, 224, 160, policy) == policy_box(2048, 1536, 224, 160, policy));
}

TEST_CASE("minimum_decode_size: the smallest decode that keeps every region at the working size", "[resize]") {
  using tpt::data::minimum_decode_size;
  using tpt::data::resize_policy;
  using tpt::data::source_box;
  using size = std::pair<std::int64_t, std::int64_t>;
  const source_box frame{0, 0, 2048, 1536};
  // The whole frame to 256 x 256: stretched, it needs 256 x 256; centre-cropped, the kept 1536 x 1536
  // square must still be 256 wide, so the frame 2048 * 256 / 1536 = 341.33 -> 342.
  CHECK(minimum_decode_size(std::span(&frame, 1), 2048, 1536, 256, 256, resize_policy::stretch) == size{256, 256});
  CHECK(minimum_decode_size(std::span(&frame, 1), 2048, 1536, 256, 256, resize_policy::center_crop) == size{342, 256});
  // A 128 x 96 crop must keep 256 x 256 pixels: the frame would have to grow; capped at its own size.
  const std::vector<source_box> crops{{0, 0, 128, 96}, {1000, 700, 2048, 1536}, {5, 5, 5, 9}};  // the last is empty
  CHECK(minimum_decode_size(crops, 2048, 1536, 256, 256, resize_policy::stretch) == size{2048, 1536});
  // Only the large crop: 1048 x 836 to 256 x 256 allows 2048 * 256 / 1048 = 500.3 -> 501 and
  // 1536 * 256 / 836 = 470.4 -> 471.
  CHECK(minimum_decode_size(std::span(crops).subspan(1), 2048, 1536, 256, 256, resize_policy::stretch) ==
        size{501, 471});
  CHECK(minimum_decode_size(std::span(crops).subspan(2), 2048, 1536, 256, 256, resize_policy::stretch) == size{0, 0});
}

TEST_CASE("bad resize arguments are config errors", "[resize][errors]") {
  const auto img = tpt::test::synthetic_frame(10, 10, 3, 2);
  CHECK_THROWS_AS(resize(img, 0, 5), tpt::config_error);
  image out(5, 5, 3);
  CHECK_THROWS_AS(tpt::data::resize_into(img, {0, 0, 11, 10}, out.data(), 5, 5), tpt::config_error);
  CHECK_THROWS_AS(tpt::data::resize_into(img, {3, 0, 3, 10}, out.data(), 5, 5), tpt::config_error);
}

TEST_CASE("resize matches Pillow bit for bit (BOX, BILINEAR, LANCZOS, boxes, up and down)", "[resize][reference]") {
  tpt::test::scratch_dir dir;
  const auto img = tpt::test::synthetic_frame(97, 131, 3, 8, 30.0);
  tpt::test::write_bytes(dir / "in.png", tpt::data::encode_png(img));
  struct job {
    resize_filter filter;
    const char* pil;
    int h, w;
    tpt::data::source_box box;
  };
  const std::vector<job> jobs = {
      {resize_filter::triangle, "BILINEAR", 40, 57, {0, 0, 131, 97}},
      {resize_filter::triangle, "BILINEAR", 200, 150, {0, 0, 131, 97}},
      {resize_filter::box, "BOX", 33, 29, {0, 0, 131, 97}},
      {resize_filter::lanczos3, "LANCZOS", 48, 65, {0, 0, 131, 97}},
      {resize_filter::triangle, "BILINEAR", 24, 24, {10.5, 3.25, 90, 80.75}},
      {resize_filter::triangle, "BILINEAR", 97, 64, {0, 0, 131, 97}},
  };
  std::string script = "from PIL import Image\nim = Image.open(r'" + (dir / "in.png").string() + "')\n";
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& j = jobs[i];
    script += fmt::format(
        "open(r'{}', 'wb').write(im.resize(({}, {}), Image.{}, box=({}, {}, {}, {})).tobytes())\n",
        (dir / fmt::format("out{}.raw", i)).string(), j.w, j.h, j.pil, j.box.x0, j.box.y0, j.box.x1, j.box.y1);
  }
  tpt::io::write_text_atomically(dir / "ref.py", script);
  REQUIRE(std::system(fmt::format("{} {}", TPT_REFERENCE_PYTHON, (dir / "ref.py").string()).c_str()) == 0);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& j = jobs[i];
    image ours(j.h, j.w, 3);
    tpt::data::resize_into(img, j.box, ours.data(), j.h, j.w, j.filter);
    const auto theirs = tpt::test::read_bytes(dir / fmt::format("out{}.raw", i));
    REQUIRE(theirs.size() == ours.size_bytes());
    std::size_t differ = 0;
    for (std::size_t k = 0; k < theirs.size(); ++k) differ += theirs[k] != ours.data()[k];
    INFO("job " << i << " (" << j.pil << " " << j.w << "x" << j.h << ")");
    CHECK(differ == 0);
  }
}
