// tpt/data/decoded_cache.hpp: round trip, reuse, invalidation (changed file, changed settings,
// damaged or truncated cache file), independence from the thread count, in-memory sources.
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "fixtures.hpp"
#include "tpt/data/decode.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/orientation.hpp"
#include "tpt/data/resize.hpp"
#include "tpt_test_support.hpp"

using tpt::data::cache_settings;
using tpt::data::decoded_cache;

namespace {

struct image_folder {
  tpt::test::scratch_dir dir{"tpt-cache"};
  std::vector<std::string> paths;

  explicit image_folder(int n) {
    for (int i = 0; i < n; ++i) {
      const bool png = i % 3 == 2;
      const std::string rel = fmt::format("cam{}/img{:03}.{}", i % 2, i, png ? "png" : "jpg");
      // Different shapes, grey and colour, JPEG and PNG, one large enough for DCT scaling.
      const std::int64_t h = i == 0 ? 600 : 40 + 7 * i, w = i == 0 ? 800 : 50 + 5 * i;
      const std::int64_t c = i % 4 == 3 ? 1 : 3;
      tpt::test::write_bytes(dir / rel, png ? tpt::test::png_fixture(h, w, c, 100 + i) : tpt::test::jpeg_fixture(h, w, c, 100 + i));
      paths.push_back(rel);
    }
  }
  [[nodiscard]] std::filesystem::path root() const { return dir.path() / ""; }
};

bool same_pixels(const decoded_cache& a, const decoded_cache& b) {
  if (a.size() != b.size() || a.image_bytes() != b.image_bytes()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!std::equal(a[i].pixels, a[i].pixels + a.image_bytes(), b[i].pixels)) return false;
  return true;
}

void overwrite(const std::filesystem::path& file, std::uint64_t at, std::uint8_t value) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(value));
}

}  // namespace

TEST_CASE("cache round trip: each slot is the decoded, resized image", "[cache]") {
  image_folder folder(7);
  const auto cache_file = folder.dir / "cache/images.tptc";
  const cache_settings settings{.height = 32, .width = 48, .channels = 3};
  const auto cache = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings, {.threads = 2});
  CHECK(cache.rebuilt());
  CHECK(cache.rebuild_reason() == "no cache file yet");
  REQUIRE(cache.size() == 7);
  CHECK(cache.height() == 32);
  CHECK(cache.width() == 48);
  CHECK(cache.channels() == 3);
  for (std::size_t i = 0; i < cache.size(); ++i) {
    // Reference: full decode, then the same resize. DCT scaling (image 0) differs slightly.
    const auto full = tpt::data::decode_image_file(folder.root() / folder.paths[i], {.channels = 3});
    const auto expected = tpt::data::resize(full, 32, 48);
    const double diff = tpt::test::mean_abs_diff(cache[i], expected);
    INFO("image " << i << " " << folder.paths[i]);
    if (i == 0) {
      CHECK(diff < 2.0);
    } else {
      CHECK(diff == 0.0);
    }
  }
  const auto t = cache.tensor();
  CHECK(t.sizes() == torch::IntArrayRef({7, 32, 48, 3}));
  CHECK(t[3][5][7][1].item<int>() == cache[3].at(5, 7, 1));
  CHECK_THROWS_AS(cache.at(7), std::out_of_range);
  // No temporary files are left beside the cache.
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(cache_file.parent_path())) ++files;
  CHECK(files == 1);
}

TEST_CASE("cache is reused while inputs and settings are unchanged", "[cache]") {
  image_folder folder(4);
  const auto cache_file = folder.dir / "c.tptc";
  const cache_settings settings{.height = 16, .width = 16};
  const auto first = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings);
  const auto second = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings);
  CHECK_FALSE(second.rebuilt());
  CHECK(second.rebuild_reason().empty());
  CHECK(same_pixels(first, second));
  const auto full = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings,
                                                 {.verification = tpt::data::cache_verification::full});
  CHECK_FALSE(full.rebuilt());
  const auto opened = decoded_cache::open(cache_file);
  CHECK(opened.size() == 4);
  CHECK(same_pixels(first, opened));
}

TEST_CASE("cache is rebuilt when a file, the list or a setting changes", "[cache]") {
  image_folder folder(4);
  const auto cache_file = folder.dir / "c.tptc";
  const cache_settings settings{.height = 16, .width = 16};
  (void)decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings);

  SECTION("a changed file") {
    tpt::test::write_bytes(folder.root() / folder.paths[1], tpt::test::jpeg_fixture(30, 30, 3, 999));
    const auto c = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings);
    CHECK(c.rebuilt());
    CHECK_THAT(c.rebuild_reason(), Catch::Contains(folder.paths[1]));
  }
  SECTION("a changed file with the same size and time: only the content fingerprint notices") {
    const tpt::data::cache_options content{.fingerprint = tpt::data::cache_fingerprint::content};
    const auto content_file = folder.dir / "content.tptc";
    (void)decoded_cache::open_or_build(content_file, folder.root(), folder.paths, settings, content);
    const auto file = folder.root() / folder.paths[1];
    const auto when = std::filesystem::last_write_time(file);
    auto bytes = tpt::test::read_bytes(file);
    REQUIRE(bytes[6] == 'J');  // JFIF APP0: change the pixel density, which decoding ignores
    bytes[15] ^= 0x01;
    tpt::test::write_bytes(file, bytes);
    std::filesystem::last_write_time(file, when);
    CHECK_FALSE(decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings).rebuilt());
    const auto c = decoded_cache::open_or_build(content_file, folder.root(), folder.paths, settings, content);
    CHECK(c.rebuilt());
    CHECK_THAT(c.rebuild_reason(), Catch::Contains(folder.paths[1]) && Catch::Contains("content"));
  }
  SECTION("a different list") {
    auto fewer = folder.paths;
    fewer.pop_back();
    const auto c = decoded_cache::open_or_build(cache_file, folder.root(), fewer, settings);
    CHECK(c.rebuilt());
    CHECK(c.size() == 3);
    CHECK_THAT(c.rebuild_reason(), Catch::Contains("image list"));
  }
  SECTION("each setting") {
    std::vector<cache_settings> changed(7, settings);
    changed[0].height = 20;
    changed[1].width = 20;
    changed[2].channels = 1;
    changed[3].policy = tpt::data::resize_policy::center_crop;
    changed[4].filter = tpt::data::resize_filter::box;
    changed[5].dct_scaling = false;
    changed[6].exif_orientation = false;
    for (const auto& s : changed) {
      (void)decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings);
      const auto c = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, s);
      CHECK(c.rebuilt());
      CHECK_THAT(c.rebuild_reason(), Catch::Contains("setting"));
      CHECK(c.height() == s.height);
      CHECK(c.channels() == s.channels);
    }
  }
}

TEST_CASE("a frame stored sideways with an EXIF orientation is cached upright", "[cache][orientation]") {
  // The upright picture is 300 wide and 200 high; a camera held sideways stores it turned 90
  // degrees anticlockwise (200 wide, 300 high) with orientation 6 (right-top). Large enough for
  // the DCT scale to matter: the upright minimum must be kept, not the stored one.
  tpt::test::scratch_dir dir("tpt-cache-orientation");
  const auto picture = tpt::test::synthetic_frame(200, 300, 3, 77);
  const auto sideways = tpt::data::upright(picture, tpt::data::exif_orientation::left_bottom);  // turned anticlockwise
  REQUIRE(sideways.width() == 200);
  const auto turned_back = tpt::data::upright(sideways, tpt::data::exif_orientation::right_top);
  REQUIRE(std::equal(picture.data(), picture.data() + picture.size_bytes(), turned_back.data()));
  const auto tiff = tpt::test::exif_tiff(6, false);
  tpt::test::write_bytes(dir / "upright.png", tpt::data::encode_png(picture));
  tpt::test::write_bytes(dir / "sideways.png", tpt::test::png_with_exif(tpt::data::encode_png(sideways), tiff));
  tpt::test::write_bytes(dir / "upright.jpg", tpt::data::encode_jpeg(picture, 95, tpt::data::jpeg_subsampling::s444));
  tpt::test::write_bytes(dir / "sideways.jpg",
                         tpt::test::jpeg_with_exif(tpt::data::encode_jpeg(sideways, 95, tpt::data::jpeg_subsampling::s444), tiff));
  const std::vector<std::string> files{"upright.png", "sideways.png", "upright.jpg", "sideways.jpg"};
  const cache_settings settings{.height = 48, .width = 64};
  const auto cache = decoded_cache::open_or_build(dir / "c.tptc", dir.path(), files, settings);
  const auto slot = [&](std::size_t i) { return tpt::data::image_view{cache[i].pixels, 48, 64, 3}; };
  // PNG is lossless: the same bytes. The JPEGs were encoded from turned pixels, so they differ
  // by compression noise only, where a wrong turn would differ by the picture itself.
  CHECK(std::equal(slot(0).pixels, slot(0).pixels + cache.image_bytes(), slot(1).pixels));
  CHECK(tpt::test::mean_abs_diff(slot(2), slot(3)) < 2.0);
  CHECK(tpt::test::mean_abs_diff(slot(0), slot(3)) < 3.0);

  const auto stored = decoded_cache::open_or_build(dir / "s.tptc", dir.path(), files,
                                                   cache_settings{.height = 48, .width = 64, .exif_orientation = false});
  const auto stored_slot = [&](std::size_t i) { return tpt::data::image_view{stored[i].pixels, 48, 64, 3}; };
  CHECK(tpt::test::mean_abs_diff(stored_slot(1), slot(1)) > 20.0);  // the sideways frame squeezed as stored
  CHECK(std::equal(stored_slot(0).pixels, stored_slot(0).pixels + stored.image_bytes(), slot(0).pixels));
}

TEST_CASE("a truncated or damaged cache file is detected and rebuilt, never read", "[cache][errors]") {
  image_folder folder(5);
  const auto cache_file = folder.dir / "c.tptc";
  const cache_settings settings{.height = 16, .width = 24};
  const auto good = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings);
  std::vector<std::vector<std::uint8_t>> expected;
  for (std::size_t i = 0; i < good.size(); ++i) expected.emplace_back(good[i].pixels, good[i].pixels + good.image_bytes());
  const auto size = std::filesystem::file_size(cache_file);
  const std::uint64_t last_image = size - 16 - 4 * 5 - good.image_bytes();

  auto check_rebuilt = [&](const std::string& why, tpt::data::cache_verification v = tpt::data::cache_verification::structure) {
    const auto c = decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, settings, {.verification = v});
    CHECK(c.rebuilt());
    CHECK_THAT(c.rebuild_reason(), Catch::Contains(why));
    for (std::size_t i = 0; i < c.size(); ++i) CHECK(std::equal(expected[i].begin(), expected[i].end(), c[i].pixels));
  };
  SECTION("truncated in the images") {
    std::filesystem::resize_file(cache_file, size - 100);
    check_rebuilt("truncated");
  }
  SECTION("truncated to a few bytes") {
    std::filesystem::resize_file(cache_file, 10);
    check_rebuilt("truncated");
  }
  SECTION("emptied") {
    std::filesystem::resize_file(cache_file, 0);
    check_rebuilt("truncated");
  }
  SECTION("a damaged header") {
    overwrite(cache_file, 40, 0x7F);
    check_rebuilt("header");
  }
  SECTION("a damaged description") {
    overwrite(cache_file, 140, '#');
    check_rebuilt("description");
  }
  SECTION("garbage with the right size") {
    tpt::test::write_bytes(cache_file, tpt::test::random_bytes(size, 3));
    check_rebuilt("signature");
  }
  SECTION("a damaged image, found by full verification") {
    overwrite(cache_file, last_image + 3, static_cast<std::uint8_t>(expected[4][3] ^ 0xFF));
    check_rebuilt("image 4", tpt::data::cache_verification::full);
  }
  SECTION("open() refuses a damaged file with the reason") {
    std::filesystem::resize_file(cache_file, size - 1);
    CHECK_THROWS_WITH(decoded_cache::open(cache_file), Catch::Contains("c.tptc") && Catch::Contains("truncated"));
  }
}

TEST_CASE("cache contents do not depend on the thread count", "[cache]") {
  image_folder folder(9);
  const cache_settings settings{.height = 24, .width = 24, .channels = 3, .policy = tpt::data::resize_policy::center_crop};
  const auto one = decoded_cache::open_or_build(folder.dir / "one.tptc", folder.root(), folder.paths, settings, {.threads = 1});
  const auto four = decoded_cache::open_or_build(folder.dir / "four.tptc", folder.root(), folder.paths, settings, {.threads = 4});
  CHECK(same_pixels(one, four));
  CHECK(tpt::test::read_bytes(folder.dir / "one.tptc") == tpt::test::read_bytes(folder.dir / "four.tptc"));
}

TEST_CASE("a bad image fails the build with every bad file listed and writes no cache", "[cache][errors]") {
  image_folder folder(4);
  tpt::test::write_bytes(folder.root() / folder.paths[1], tpt::test::truncated(tpt::test::read_bytes(folder.root() / folder.paths[1]), 0.5));
  std::filesystem::remove(folder.root() / folder.paths[3]);
  const auto cache_file = folder.dir / "c.tptc";
  try {
    (void)decoded_cache::open_or_build(cache_file, folder.root(), folder.paths, {.height = 8, .width = 8});
    FAIL("built a cache from bad images");
  } catch (const tpt::data::bad_images_error& e) {
    REQUIRE(e.issues().size() == 2);
    CHECK(e.issues()[0].path == folder.paths[1]);
    CHECK(e.issues()[0].problem == tpt::data::image_problem::truncated);
    CHECK(e.issues()[1].problem == tpt::data::image_problem::missing);
    CHECK_THAT(e.what(), Catch::Contains(folder.paths[1]) && Catch::Contains(folder.paths[3]));
  }
  CHECK_FALSE(std::filesystem::exists(cache_file));
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(folder.dir.path())) ++files;
  CHECK(files == 2);  // cam0/, cam1/: no temporary left behind
}

TEST_CASE("paths that leave the image root are refused", "[cache][errors]") {
  image_folder folder(1);
  for (std::string bad : {"../outside.jpg", "cam0/../../x.jpg", "/etc/passwd"}) {
    const std::vector<std::string> paths{bad};
    CHECK_THROWS_AS(decoded_cache::open_or_build(folder.dir / "c.tptc", folder.root(), paths, {}), tpt::input_error);
  }
  // So are symbolic links out of the root, found when the file is about to be read; one inside
  // the root is followed.
  tpt::test::scratch_dir elsewhere("tpt-cache-elsewhere");
  tpt::test::write_bytes(elsewhere / "private.jpg", tpt::test::jpeg_fixture(40, 50, 3, 9));
  std::filesystem::create_symlink(elsewhere / "private.jpg", folder.dir / "cam0/link_out.jpg");
  std::filesystem::create_symlink("img000.jpg", folder.dir / "cam0/link_in.jpg");
  const std::vector<std::string> paths{folder.paths[0], "cam0/link_in.jpg", "cam0/link_out.jpg"};
  try {
    (void)decoded_cache::open_or_build(folder.dir / "l.tptc", folder.root(), paths, {.height = 8, .width = 8});
    FAIL("a link out of the image root was read");
  } catch (const tpt::data::bad_images_error& e) {
    REQUIRE(e.issues().size() == 1);
    CHECK(e.issues()[0].path == "cam0/link_out.jpg");
    CHECK(e.issues()[0].problem == tpt::data::image_problem::outside_root);
    CHECK_THAT(e.issues()[0].detail, Catch::Contains("symbolic link leads outside the image root"));
  }
  CHECK_FALSE(std::filesystem::exists(folder.dir / "l.tptc"));
  const auto inside = decoded_cache::open_or_build(folder.dir / "l.tptc", folder.root(),
                                                   std::vector<std::string>(paths.begin(), paths.begin() + 2),
                                                   {.height = 8, .width = 8});
  CHECK(std::equal(inside[0].pixels, inside[0].pixels + inside.image_bytes(), inside[1].pixels));
}

TEST_CASE("cache from in-memory images (Fashion-MNIST shape), reused by content", "[cache]") {
  tpt::test::scratch_dir dir;
  auto images = torch::randint(0, 256, {50, 28, 28, 1}, torch::kUInt8);
  const cache_settings same{.height = 28, .width = 28, .channels = 1};
  const auto c = decoded_cache::open_or_build(dir / "fm.tptc", images, same);
  CHECK(c.rebuilt());
  REQUIRE(c.size() == 50);
  CHECK(torch::equal(c.tensor(), images));
  CHECK_FALSE(decoded_cache::open_or_build(dir / "fm.tptc", images, same).rebuilt());
  images[7][3][3][0] = static_cast<std::uint8_t>(images[7][3][3][0].item<int>() ^ 1);
  const auto changed = decoded_cache::open_or_build(dir / "fm.tptc", images, same);
  CHECK(changed.rebuilt());
  CHECK_THAT(changed.rebuild_reason(), Catch::Contains("in-memory"));
  CHECK(torch::equal(changed.tensor(), images));

  // Grey N x H x W to RGB 32 x 32: channels replicated, upsampled.
  const auto rgb = decoded_cache::open_or_build(dir / "rgb.tptc", images.squeeze(3), {.height = 32, .width = 32, .channels = 3});
  CHECK(rgb.channels() == 3);
  CHECK(rgb[5].at(10, 10, 0) == rgb[5].at(10, 10, 2));
  const auto ref = tpt::data::resize(tpt::data::image_view{images[5].data_ptr<std::uint8_t>(), 28, 28, 1}, 32, 32);
  CHECK(rgb[5].at(10, 10, 1) == ref.at(10, 10));

  CHECK_THROWS_AS(decoded_cache::open_or_build(dir / "x.tptc", images.to(torch::kFloat32), same), tpt::config_error);
  CHECK_THROWS_AS(decoded_cache::open_or_build(dir / "x.tptc", images, {.channels = 2}), tpt::config_error);
}

TEST_CASE("the checksum table is aligned whatever the image size - older format versions are rebuilt", "[cache]") {
  // 3 images of 5 x 5 x 1 (25 bytes each, 75 in all): version 1 put the uint32 table at an odd address.
  tpt::test::scratch_dir dir;
  const auto images = torch::randint(0, 256, {3, 5, 5, 1}, torch::kUInt8);
  const cache_settings settings{.height = 5, .width = 5, .channels = 1};
  const auto file = dir / "odd.tptc";
  const auto c = decoded_cache::open_or_build(file, images, settings);
  tpt::data::detail::cache_file_header h{};
  {
    std::ifstream in(file, std::ios::binary);
    in.read(reinterpret_cast<char*>(&h), sizeof h);
  }
  CHECK(h.checksum_offset % 8 == 0);
  CHECK(h.checksum_offset >= h.data_offset + 3 * 25);
  CHECK(h.checksum_offset < h.data_offset + 3 * 25 + 8);
  CHECK(reinterpret_cast<std::uintptr_t>(c.tensor().data_ptr()) % 4096 == 0);
  for (std::size_t i = 0; i < 3; ++i) CHECK(c.checksum(i) == tpt::data::detail::crc32_of(c[i].pixels, 25));
  CHECK_FALSE(decoded_cache::open_or_build(file, images, settings, {.verification = tpt::data::cache_verification::full})
                  .rebuilt());
  // A file of an older format version is rebuilt, and the reason names the versions.
  overwrite(file, 8, 1);  // the version field's low byte
  const auto again = decoded_cache::open_or_build(file, images, settings);
  CHECK(again.rebuilt());
  CHECK_THAT(again.rebuild_reason(), Catch::Contains("cache format version 1, this tpt writes version 2"));
  CHECK(torch::equal(again.tensor(), images));
}

TEST_CASE("temporary files of builds that died are removed - a live build's is kept", "[cache][errors]") {
  // A build killed (SIGKILL, out of memory) left its full-size temporary file, and every crash
  // another one, until the disk was full.
  namespace fs = std::filesystem;
  tpt::test::scratch_dir dir;
  const auto images = torch::randint(0, 256, {20, 8, 8, 1}, torch::kUInt8);
  const cache_settings settings{.height = 8, .width = 8, .channels = 1};
  const auto stale = dir / ".fm.tptc.tmp-999999-0";
  { std::ofstream(stale) << std::string(4096, 'x'); }
  // A temporary file another build is writing right now: locked.
  const auto live = dir / ".fm.tptc.tmp-1-0";
  { std::ofstream(live) << "in progress"; }
  const int fd = ::open(live.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  // Another cache's temporary file is not this cache's business.
  const auto other = dir / ".other.tptc.tmp-999999-0";
  { std::ofstream(other) << "x"; }

  const auto c = decoded_cache::open_or_build(dir / "fm.tptc", images, settings);
  CHECK(c.rebuilt());
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));
  ::close(fd);
  CHECK(tpt::data::detail::remove_stale_cache_temporaries(dir / "fm.tptc") == 1);  // unlocked now
  CHECK_FALSE(fs::exists(live));
  CHECK(fs::exists(dir / "fm.tptc"));
}
