// tpt/data/decode.hpp: JPEG and PNG decode, DCT-scaled decode, and an image_error that names the
// file and the problem for every kind of bad file.
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/encode.hpp"
#include "tpt/data/resize.hpp"
#include "tpt_test_support.hpp"

using tpt::data::decode_image;
using tpt::data::decode_image_file;
using tpt::data::decode_options;
using tpt::data::image_error;
using tpt::data::image_problem;

namespace {

image_problem problem_of(const std::filesystem::path& file, decode_options opt = {}) {
  try {
    (void)decode_image_file(file, opt);
  } catch (const image_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(file.filename().string()));
    return e.problem();
  }
  FAIL("no image_error for " << file);
  return image_problem::corrupt;
}

}  // namespace

TEST_CASE("PNG decodes losslessly in colour and grey", "[decode]") {
  for (std::int64_t c : {1, 3}) {
    const auto original = tpt::test::synthetic_frame(37, 53, c, 7);
    const auto png = tpt::data::encode_png(original);
    const auto decoded = decode_image(png, "mem.png", {.channels = c});
    REQUIRE(decoded.height() == 37);
    REQUIRE(decoded.width() == 53);
    REQUIRE(decoded.channels() == c);
    CHECK(tpt::test::mean_abs_diff(decoded, original) == 0.0);
  }
}

TEST_CASE("JPEG decodes close to the original in colour and grey", "[decode]") {
  for (std::int64_t c : {1, 3}) {
    const auto original = tpt::test::synthetic_frame(120, 160, c, 11, 2.0);
    const auto jpeg = tpt::data::encode_jpeg(original, 95);
    CHECK(tpt::data::detect_format(jpeg) == tpt::data::image_format::jpeg);
    const auto info = tpt::data::read_image_info(jpeg, "mem.jpg");
    CHECK(info.width == 160);
    CHECK(info.height == 120);
    CHECK(info.channels == c);
    const auto decoded = decode_image(jpeg, "mem.jpg", {.channels = c});
    REQUIRE(decoded.height() == 120);
    REQUIRE(decoded.width() == 160);
    REQUIRE(decoded.channels() == c);
    CHECK(tpt::test::mean_abs_diff(decoded, original) < 3.0);
  }
}

TEST_CASE("channel conversion: grey files to RGB replicate, RGB files to grey take luma", "[decode]") {
  const auto grey = tpt::test::synthetic_frame(20, 30, 1, 3);
  const auto rgb_from_grey = decode_image(tpt::data::encode_png(grey), "g.png", {.channels = 3});
  REQUIRE(rgb_from_grey.channels() == 3);
  for (std::int64_t y = 0; y < 20; ++y)
    for (std::int64_t x = 0; x < 30; ++x)
      for (int c = 0; c < 3; ++c) REQUIRE(rgb_from_grey.at(y, x, c) == grey.at(y, x));

  const auto rgb = tpt::test::synthetic_frame(20, 30, 3, 4);
  const auto grey_from_rgb = decode_image(tpt::data::encode_png(rgb), "c.png", {.channels = 1});
  REQUIRE(grey_from_rgb.channels() == 1);
  CHECK(grey_from_rgb.at(5, 7) == tpt::data::luma601(rgb.at(5, 7, 0), rgb.at(5, 7, 1), rgb.at(5, 7, 2)));

  // JPEG's own Y channel is ITU-R 601 luma too: within JPEG error of the converted colour decode.
  const auto jpeg = tpt::data::encode_jpeg(rgb, 95);
  const auto y_direct = decode_image(jpeg, "c.jpg", {.channels = 1});
  const auto y_converted = tpt::data::convert_channels(decode_image(jpeg, "c.jpg", {.channels = 3}), 1);
  CHECK(tpt::test::mean_abs_diff(y_direct, y_converted) < 1.5);
}

TEST_CASE("the DCT scale is the smallest power of two that keeps the working size", "[decode]") {
  using tpt::data::jpeg_scale_denominator;
  CHECK(jpeg_scale_denominator(2048, 1536, 256, 256) == 4);  // 512 x 384; 1/8 gives 192 rows
  CHECK(jpeg_scale_denominator(2048, 1536, 224, 192) == 8);
  CHECK(jpeg_scale_denominator(2048, 1536, 1024, 768) == 2);
  CHECK(jpeg_scale_denominator(2048, 1536, 1025, 768) == 1);
  CHECK(jpeg_scale_denominator(2048, 1536, 0, 0) == 8);
  CHECK(jpeg_scale_denominator(100, 75, 13, 10) == 8);  // sizes round up: 13 x 10 at 1/8
  CHECK(jpeg_scale_denominator(100, 75, 14, 10) == 4);
}

TEST_CASE("DCT-scaled decode then resize gives the working size and nearly full-decode pixels", "[decode][resize]") {
  const auto jpeg = tpt::test::jpeg_fixture(1536, 2048, 3, 21);
  decode_options scaled{.channels = 3, .min_width = 256, .min_height = 256};
  const auto small = decode_image(jpeg, "frame.jpg", scaled);
  CHECK(small.width() == 512);
  CHECK(small.height() == 384);
  const auto full = decode_image(jpeg, "frame.jpg", {.channels = 3});
  CHECK(full.width() == 2048);
  CHECK(full.height() == 1536);
  const auto a = tpt::data::resize(small, 256, 256);
  const auto b = tpt::data::resize(full, 256, 256);
  REQUIRE(a.width() == 256);
  REQUIRE(a.height() == 256);
  // The scaled IDCT low-passes like the antialiasing filter does; what differs is the last
  // bit of rounding and the filter shape, well under 2 grey levels on average.
  CHECK(tpt::test::mean_abs_diff(a, b) < 2.0);
}

TEST_CASE("a PNG saved under a .jpg name decodes by its signature", "[decode][errors]") {
  tpt::test::scratch_dir dir;
  const auto original = tpt::test::synthetic_frame(16, 24, 3, 5);
  tpt::test::write_bytes(dir / "actually_png.jpg", tpt::data::encode_png(original));
  const auto decoded = decode_image_file(dir / "actually_png.jpg");
  CHECK(tpt::test::mean_abs_diff(decoded, original) == 0.0);
}

TEST_CASE("each kind of bad file gives an image_error naming the file and the problem", "[decode][errors]") {
  tpt::test::scratch_dir dir;
  const auto jpeg = tpt::test::jpeg_fixture(240, 320, 3, 9);
  const auto png = tpt::test::png_fixture(60, 80, 3, 9);
  tpt::test::write_bytes(dir / "empty.jpg", {});
  tpt::test::write_bytes(dir / "noise.jpg", tpt::test::random_bytes(5000, 1));
  tpt::test::write_bytes(dir / "cut.jpg", tpt::test::truncated(jpeg, 0.6));
  tpt::test::write_bytes(dir / "cut_in_header.jpg", tpt::test::truncated(jpeg, 0.02));
  tpt::test::write_bytes(dir / "cut.png", tpt::test::truncated(png, 0.6));
  tpt::test::write_bytes(dir / "damaged.jpg", tpt::test::corrupted(jpeg, 2));
  tpt::test::write_bytes(dir / "damaged.png", tpt::test::corrupted(png, 2));
  tpt::test::write_bytes(dir / "huge.jpg", tpt::test::jpeg_with_claimed_size(jpeg, 60000, 60000));
  tpt::test::write_bytes(dir / "huge.png", tpt::test::png_with_claimed_size(png, 100000, 100000));
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  tpt::test::write_bytes(dir / "anim.jpg", {reinterpret_cast<const std::uint8_t*>(gif.data()), gif.size()});
  std::filesystem::create_directories(dir / "folder.jpg");

  CHECK(problem_of(dir / "missing.jpg") == image_problem::missing);
  CHECK(problem_of(dir / "folder.jpg") == image_problem::unreadable);
  CHECK(problem_of(dir / "empty.jpg") == image_problem::empty);
  CHECK(problem_of(dir / "noise.jpg") == image_problem::unsupported);
  CHECK(problem_of(dir / "cut.jpg") == image_problem::truncated);
  CHECK(problem_of(dir / "cut_in_header.jpg") == image_problem::truncated);
  CHECK(problem_of(dir / "cut.png") == image_problem::truncated);
  CHECK(problem_of(dir / "damaged.jpg") == image_problem::corrupt);
  CHECK(problem_of(dir / "damaged.png") == image_problem::corrupt);
  CHECK(problem_of(dir / "huge.jpg") == image_problem::too_large);
  CHECK(problem_of(dir / "huge.png") == image_problem::too_large);
  CHECK(problem_of(dir / "anim.jpg") == image_problem::unsupported);
  CHECK_THROWS_WITH(decode_image_file(dir / "anim.jpg"), Catch::Contains("GIF"));

  // A truncated JPEG is caught at every DCT scale: the entropy-coded data is scanned in full.
  CHECK(problem_of(dir / "cut.jpg", {.min_width = 1, .min_height = 1}) == image_problem::truncated);
}

TEST_CASE("lenient JPEG decoding still refuses truncated data", "[decode][errors]") {
  tpt::test::scratch_dir dir;
  const auto jpeg = tpt::test::jpeg_fixture(240, 320, 3, 9);
  tpt::test::write_bytes(dir / "cut.jpg", tpt::test::truncated(jpeg, 0.6));
  CHECK(problem_of(dir / "cut.jpg", {.strict = false}) == image_problem::truncated);
}

TEST_CASE("a CMYK JPEG is unsupported, with a hint", "[decode][errors]") {
  tjhandle tj = tjInitCompress();
  std::vector<std::uint8_t> cmyk(32 * 32 * 4, 100);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(tj, cmyk.data(), 32, 0, 32, TJPF_CMYK, &buf, &size, TJSAMP_444, 90, 0) == 0);
  std::vector<std::uint8_t> bytes(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  try {
    (void)decode_image(bytes, "cmyk.jpg");
    FAIL("decoded a CMYK JPEG");
  } catch (const image_error& e) {
    CHECK(e.problem() == image_problem::unsupported);
    CHECK_THAT(e.what(), Catch::Contains("cmyk.jpg") && Catch::Contains("CMYK"));
  }
}

TEST_CASE("decode options that cannot work are config errors", "[decode][errors]") {
  const auto png = tpt::test::png_fixture(8, 8, 3, 1);
  CHECK_THROWS_AS(decode_image(png, "x.png", {.channels = 2}), tpt::config_error);
  CHECK_THROWS_AS(decode_image(png, "x.png", {.max_pixels = 0}), tpt::config_error);
  CHECK_THROWS_AS(decode_image(png, "x.png", {.max_pixels = 63}), image_error);
  CHECK_NOTHROW(decode_image(png, "x.png", {.max_pixels = 64}));
}
