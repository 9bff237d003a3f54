// tpt/data/decode.hpp: JPEG and PNG decode, DCT-scaled decode, and an image_error that names the
// file and the problem for every kind of bad file.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/encode.hpp"
#include "tpt/data/orientation.hpp"
#include "tpt/data/resize.hpp"
#include "tpt/io/atomic_file.hpp"
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
  // A FIFO named like an image: opening it used to wait for a writer forever (preflight hung).
  REQUIRE(::mkfifo((dir / "fifo.jpg").c_str(), 0600) == 0);
  // A sparse file past the 4 GiB an image file may have: it used to be read whole (bad_alloc).
  { std::ofstream(dir / "vast.jpg").put('x'); }
  std::filesystem::resize_file(dir / "vast.jpg", (std::uint64_t{4} << 30) + 1);

  CHECK(problem_of(dir / "fifo.jpg") == image_problem::unreadable);
  CHECK(problem_of(dir / "vast.jpg") == image_problem::too_large);
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

// ---------------------------------------------------------------------------------------------
// EXIF orientation

namespace {

using tpt::data::exif_orientation;

constexpr std::array all_orientations{exif_orientation::top_left,    exif_orientation::top_right,
                                      exif_orientation::bottom_right, exif_orientation::bottom_left,
                                      exif_orientation::left_top,    exif_orientation::right_top,
                                      exif_orientation::right_bottom, exif_orientation::left_bottom};

std::vector<std::uint8_t> pixels_of(const tpt::data::image& img) { return {img.data(), img.data() + img.size_bytes()}; }

}  // namespace

TEST_CASE("EXIF orientation: each of the eight shows the picture upright", "[decode][orientation]") {
  // Stored 2 rows x 3 columns:  1 2 3 / 4 5 6. What a viewer shows for each tag, written out.
  tpt::data::image stored(2, 3, 1);
  for (int i = 0; i < 6; ++i) stored.data()[i] = static_cast<std::uint8_t>(i + 1);
  struct expected_picture {
    exif_orientation o;
    std::int64_t height, width;
    std::vector<std::uint8_t> pixels;
  };
  const std::vector<expected_picture> cases{
      {exif_orientation::top_left, 2, 3, {1, 2, 3, 4, 5, 6}},
      {exif_orientation::top_right, 2, 3, {3, 2, 1, 6, 5, 4}},
      {exif_orientation::bottom_right, 2, 3, {6, 5, 4, 3, 2, 1}},
      {exif_orientation::bottom_left, 2, 3, {4, 5, 6, 1, 2, 3}},
      {exif_orientation::left_top, 3, 2, {1, 4, 2, 5, 3, 6}},
      {exif_orientation::right_top, 3, 2, {4, 1, 5, 2, 6, 3}},
      {exif_orientation::right_bottom, 3, 2, {6, 3, 5, 2, 4, 1}},
      {exif_orientation::left_bottom, 3, 2, {3, 6, 2, 5, 1, 4}},
  };
  for (const auto& c : cases) {
    for (bool big_endian : {false, true}) {
      INFO(fmt::format("{}, {}", c.o, big_endian ? "big-endian" : "little-endian"));
      const auto png = tpt::test::png_with_exif(tpt::data::encode_png(stored), tpt::test::exif_tiff(static_cast<std::uint16_t>(c.o), big_endian));
      const auto info = tpt::data::read_image_info(png, "tagged.png");
      CHECK(info.orientation == c.o);
      CHECK(info.width == 3);  // as stored
      CHECK(info.height == 2);
      CHECK(info.decoded_size(true) == std::pair<std::int64_t, std::int64_t>{c.width, c.height});
      CHECK(info.decoded_size(false) == std::pair<std::int64_t, std::int64_t>{3, 2});
      const auto shown = decode_image(png, "tagged.png", {.channels = 1});
      REQUIRE(shown.height() == c.height);
      REQUIRE(shown.width() == c.width);
      CHECK(pixels_of(shown) == c.pixels);
      const auto as_stored = decode_image(png, "tagged.png", {.channels = 1, .apply_exif_orientation = false});
      CHECK(pixels_of(as_stored) == pixels_of(stored));
    }
    // stored_point agrees with the pixels: the centre of upright pixel (row r, column k) is the
    // centre of the stored pixel that holds its value.
    for (std::int64_t r = 0; r < c.height; ++r) {
      for (std::int64_t k = 0; k < c.width; ++k) {
        const auto [x, y] = tpt::data::stored_point(c.o, (static_cast<double>(k) + 0.5) / static_cast<double>(c.width),
                                                    (static_cast<double>(r) + 0.5) / static_cast<double>(c.height));
        const auto sx = static_cast<std::int64_t>(x * 3), sy = static_cast<std::int64_t>(y * 2);
        CHECK(stored.at(sy, sx) == c.pixels[static_cast<std::size_t>(r * c.width + k)]);
      }
    }
  }
}

TEST_CASE("EXIF orientation of a JPEG: APP1 Exif after XMP, both byte orders, colour and grey", "[decode][orientation]") {
  for (std::int64_t channels : {1, 3}) {
    const auto plain = tpt::test::jpeg_fixture(40, 64, channels, 5);
    const auto stored = decode_image(plain, "plain.jpg", {.channels = channels});
    for (const auto o : all_orientations) {
      for (bool big_endian : {false, true}) {
        INFO(fmt::format("{} channel(s), {}, {}", channels, o, big_endian ? "big-endian" : "little-endian"));
        const auto tagged = tpt::test::jpeg_with_exif(plain, tpt::test::exif_tiff(static_cast<std::uint16_t>(o), big_endian));
        CHECK(tpt::data::read_exif_orientation(tagged) == o);
        const auto info = tpt::data::read_image_info(tagged, "tagged.jpg");
        CHECK(info.orientation == o);
        CHECK(info.width == 64);
        const auto shown = decode_image(tagged, "tagged.jpg", {.channels = channels});
        CHECK(pixels_of(shown) == pixels_of(tpt::data::upright(stored, o)));
        CHECK(pixels_of(decode_image(tagged, "tagged.jpg", {.channels = channels, .apply_exif_orientation = false})) ==
              pixels_of(stored));
      }
    }
  }
  CHECK(tpt::data::read_exif_orientation(tpt::test::jpeg_fixture(8, 8, 3, 1)) == exif_orientation::top_left);
  CHECK(tpt::data::read_exif_orientation(tpt::test::png_fixture(8, 8, 3, 1)) == exif_orientation::top_left);
  CHECK(tpt::data::read_exif_orientation(std::vector<std::uint8_t>{'G', 'I', 'F', '8'}) == exif_orientation::top_left);
}

TEST_CASE("EXIF orientation: the DCT scale keeps the upright minimum size", "[decode][orientation]") {
  // Stored 800 wide x 400 high, shown upright 400 x 800. At least 100 x 200 upright means at
  // least 200 x 100 stored: 1/4 scale, decoded 200 x 100, shown 100 x 200.
  const auto plain = tpt::test::jpeg_fixture(400, 800, 3, 8);
  const auto tagged = tpt::test::jpeg_with_exif(plain, tpt::test::exif_tiff(6, false));
  const auto shown = decode_image(tagged, "tall.jpg", {.channels = 3, .min_width = 100, .min_height = 200});
  CHECK(shown.width() == 100);
  CHECK(shown.height() == 200);
  // Read as stored, the same minimum needs 1/2 scale (1/4 would give only 100 rows).
  const auto as_stored =
      decode_image(tagged, "tall.jpg", {.channels = 3, .min_width = 100, .min_height = 200, .apply_exif_orientation = false});
  CHECK(as_stored.width() == 400);
  CHECK(as_stored.height() == 200);
}

TEST_CASE("a damaged or odd EXIF orientation tag means as stored, never a failed image", "[decode][orientation][errors]") {
  const auto plain = tpt::test::jpeg_fixture(16, 24, 3, 9);
  const auto good = tpt::test::exif_tiff(6, false);
  auto tiff_with = [&](std::size_t at, std::uint8_t value) {
    auto t = good;
    t[at] = value;
    return t;
  };
  // Offsets into exif_tiff's layout: header 0-7, entry count 8-9, Make 10-21, Orientation 22-33.
  const std::vector<std::pair<std::string, std::vector<std::uint8_t>>> odd{
      {"value 0", tiff_with(30, 0)},
      {"value 9", tiff_with(30, 9)},
      {"type LONG instead of SHORT", tiff_with(24, 4)},
      {"two values", tiff_with(26, 2)},
      {"byte order 'IM'", tiff_with(1, 'M')},
      {"magic 43", tiff_with(2, 43)},
      {"IFD0 beyond the block", tiff_with(7, 0x7F)},
      {"entry count 0", tiff_with(8, 0)},
      {"entry count 1: Orientation outside the directory", tiff_with(8, 1)},
      {"empty block", {}},
  };
  for (const auto& [what, tiff] : odd) {
    INFO(what);
    const auto tagged = tpt::test::jpeg_with_exif(plain, tiff);
    CHECK(tpt::data::read_exif_orientation(tagged) == exif_orientation::top_left);
    CHECK(decode_image(tagged, "odd.jpg").width() == 24);
  }
  // Every cut of a good Exif segment's TIFF block, and random blocks, read without a fault; the
  // tag counts once its whole 12-byte entry (bytes 22-33) is there.
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    INFO("TIFF block cut to " << n << " bytes");
    const auto expected = n >= 34 ? exif_orientation::right_top : exif_orientation::top_left;
    CHECK(tpt::data::read_exif_orientation(tpt::test::jpeg_with_exif(plain, cut)) == expected);
    CHECK(tpt::data::detail::tiff_orientation(cut) == expected);
  }
  for (std::uint64_t seed = 0; seed < 500; ++seed) {
    auto block = tpt::test::random_bytes(8 + seed % 64, seed);
    if (seed % 2 == 0) std::copy(good.begin(), good.begin() + 4, block.begin());  // a valid header, random rest
    const auto o = static_cast<int>(tpt::data::detail::tiff_orientation(block));
    CHECK((o >= 1 && o <= 8));
  }
  // Whole files cut short inside the headers: the orientation reads as stored, the decode fails
  // as truncated data does.
  const auto tagged = tpt::test::jpeg_with_exif(plain, good);
  for (std::size_t n = 3; n < 100; n += 7) {
    const std::vector<std::uint8_t> cut(tagged.begin(), tagged.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK(tpt::data::read_exif_orientation(cut) == exif_orientation::top_left);
  }
  const auto png_tagged = tpt::test::png_with_exif(tpt::test::png_fixture(8, 8, 3, 1), good);
  CHECK(tpt::data::read_exif_orientation(png_tagged) == exif_orientation::right_top);
  for (std::size_t n = 8; n < 60; n += 3) {
    const std::vector<std::uint8_t> cut(png_tagged.begin(), png_tagged.begin() + static_cast<std::ptrdiff_t>(n));
    const auto o = tpt::data::read_exif_orientation(cut);
    CHECK((o == exif_orientation::top_left || o == exif_orientation::right_top));
  }
}

TEST_CASE("EXIF orientation equals Pillow's ImageOps.exif_transpose", "[decode][orientation][reference]") {
  tpt::test::scratch_dir dir("tpt-orientation");
  const auto frame = tpt::test::synthetic_frame(30, 44, 3, 13);
  const auto png = tpt::data::encode_png(frame);
  const auto jpeg = tpt::data::encode_jpeg(frame, 92);
  std::vector<std::string> names;
  for (const auto o : all_orientations) {
    const auto tiff = tpt::test::exif_tiff(static_cast<std::uint16_t>(o), static_cast<int>(o) % 2 == 0);
    for (const auto& [ext, bytes] : {std::pair{std::string("png"), tpt::test::png_with_exif(png, tiff)},
                                     std::pair{std::string("jpg"), tpt::test::jpeg_with_exif(jpeg, tiff)}}) {
      names.push_back(fmt::format("o{}.{}", static_cast<int>(o), ext));
      tpt::test::write_bytes(dir / names.back(), bytes);
    }
  }
  const std::string command = fmt::format("'{}' '{}/tests/data_images/pillow_orientation.py' '{}'", TPT_REFERENCE_PYTHON,
                                          TPT_SOURCE_DIR, dir.path().string());
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
  const auto answers = nlohmann::json::parse(tpt::io::read_text(dir / "pillow.json"));
  WARN("compared with Pillow " << answers.at("pillow_version").get<std::string>());
  for (const auto& name : names) {
    INFO(name);
    const auto& a = answers.at("images").at(name);
    const auto ours = decode_image_file(dir / name, {.channels = 3});
    CHECK(static_cast<int>(tpt::data::read_image_info(tpt::test::read_bytes(dir / name), name).orientation) ==
          a.at("orientation").get<int>());
    REQUIRE(ours.width() == a.at("width").get<std::int64_t>());
    REQUIRE(ours.height() == a.at("height").get<std::int64_t>());
    // The same libjpeg-turbo, the same (accurate) IDCT and upsampling: the same bytes.
    CHECK(pixels_of(ours) == tpt::test::read_bytes(dir / (name + ".rgb")));
  }
}

TEST_CASE("PNG of every colour type and depth, with gAMA, sRGB or tRNS, reads as Pillow reads it", "[decode][reference]") {
  // libpng's simplified API converted by gAMA/sRGB and took 16-bit data as linear light: 16-bit
  // files with alpha or gAMA, and 8-bit ones with a non-sRGB gAMA, came out brighter or darker.
  tpt::test::scratch_dir dir("tpt-png-variants");
  const std::string command = fmt::format("'{}' '{}/tests/data_images/png_variants.py' '{}'", TPT_REFERENCE_PYTHON,
                                          TPT_SOURCE_DIR, dir.path().string());
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
  const auto answers = nlohmann::json::parse(tpt::io::read_text(dir / "variants.json"));
  WARN("compared with Pillow " << answers.at("pillow_version").get<std::string>());
  REQUIRE(answers.at("files").size() == 13);
  for (const auto& [name, a] : answers.at("files").items()) {
    INFO(name << " (Pillow mode " << a.at("pillow_mode").get<std::string>() << ", reference "
              << a.at("reference").get<std::string>() << ")");
    const auto file = dir / (name + ".png");
    const auto ours = decode_image_file(file, {.channels = 3});
    REQUIRE(ours.width() == a.at("width").get<std::int64_t>());
    REQUIRE(ours.height() == a.at("height").get<std::int64_t>());
    CHECK(pixels_of(ours) == tpt::test::read_bytes(dir / (name + ".png.rgb")));
    // The header's channel count includes alpha, from tRNS too.
    const auto info = tpt::data::read_image_info(tpt::test::read_bytes(file), name);
    const bool alpha = name == "rgba16" || name == "ga16" || name.ends_with("_trns");
    const bool colour = name.starts_with("rgb") || name.starts_with("palette");
    CHECK(info.channels == (colour ? 3 : 1) + (alpha ? 1 : 0));
  }
}
