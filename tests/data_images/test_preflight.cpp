// tpt/data/preflight.hpp: every kind of bad image is found and named; fail lists them all,
// skip leaves them out and writes the skipped list.
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/data/preflight.hpp"
#include "tpt/io/csv.hpp"
#include "tpt_test_support.hpp"

using tpt::data::image_problem;
using tpt::data::on_bad_image;
using tpt::data::preflight_images;

namespace {

struct messy_folder {
  tpt::test::scratch_dir dir{"tpt-preflight"};
  tpt::test::scratch_dir elsewhere{"tpt-preflight-elsewhere"};  // outside the image root
  std::vector<std::string> paths;
  std::vector<std::pair<std::size_t, image_problem>> expected_bad;

  void good(const std::string& rel, std::vector<std::uint8_t> bytes) {
    tpt::test::write_bytes(dir / rel, bytes);
    paths.push_back(rel);
  }
  void bad(const std::string& rel, image_problem p, std::optional<std::vector<std::uint8_t>> bytes) {
    if (bytes) tpt::test::write_bytes(dir / rel, *bytes);
    expected_bad.emplace_back(paths.size(), p);
    paths.push_back(rel);
  }

  messy_folder() {
    const auto jpeg = tpt::test::jpeg_fixture(300, 400, 3, 1);
    const auto png = tpt::test::png_fixture(50, 60, 1, 2);
    good("a/ok.jpg", jpeg);
    bad("a/missing.jpg", image_problem::missing, std::nullopt);
    bad("a/empty.jpg", image_problem::empty, std::vector<std::uint8_t>{});
    good("a/ok.png", png);
    bad("a/cut.jpg", image_problem::truncated, tpt::test::truncated(jpeg, 0.7));
    bad("a/cut.png", image_problem::truncated, tpt::test::truncated(png, 0.7));
    bad("b/damaged.jpg", image_problem::corrupt, tpt::test::corrupted(jpeg, 5));
    bad("b/noise.jpg", image_problem::unsupported, tpt::test::random_bytes(3000, 4));
    good("b/png_named.jpg", png);
    bad("b/huge.jpg", image_problem::too_large, tpt::test::jpeg_with_claimed_size(jpeg, 65000, 65000));
    bad("b/huge.png", image_problem::too_large, tpt::test::png_with_claimed_size(png, 1u << 30, 1u << 30));
    bad("../escape.jpg", image_problem::outside_root, std::nullopt);
    std::filesystem::create_directories(dir / "b/folder.jpg");
    bad("b/folder.jpg", image_problem::unreadable, std::nullopt);
    good("b/grey.jpg", tpt::test::jpeg_fixture(64, 64, 1, 3));
    // Symbolic links: one to an image inside the root is that image; one out of the root is
    // refused (a lexically safe path can still leave the root through a link).
    std::filesystem::create_directories(dir / "c");
    std::filesystem::create_symlink("../a/ok.jpg", dir / "c/link_in.jpg");
    paths.push_back("c/link_in.jpg");
    tpt::test::write_bytes(elsewhere / "private.jpg", jpeg);
    std::filesystem::create_symlink(elsewhere / "private.jpg", dir / "c/link_out.jpg");
    bad("c/link_out.jpg", image_problem::outside_root, std::nullopt);
    std::filesystem::create_directory_symlink(elsewhere.path(), dir / "c/away");
    bad("c/away/private.jpg", image_problem::outside_root, std::nullopt);
  }
};

}  // namespace

TEST_CASE("preflight fails by default and lists every bad image with its problem", "[preflight][errors]") {
  messy_folder f;
  try {
    (void)preflight_images(f.dir.path(), f.paths);
    FAIL("preflight passed a folder of bad images");
  } catch (const tpt::data::bad_images_error& e) {
    REQUIRE(e.issues().size() == f.expected_bad.size());
    for (std::size_t k = 0; k < f.expected_bad.size(); ++k) {
      const auto& issue = e.issues()[k];
      INFO(issue.path << ": " << issue.detail);
      CHECK(issue.index == f.expected_bad[k].first);
      CHECK(issue.path == f.paths[issue.index]);
      CHECK(issue.problem == f.expected_bad[k].second);
      CHECK_THAT(e.what(), Catch::Contains(issue.path));
    }
    CHECK_THAT(e.what(), Catch::Contains(fmt::format("{} of {} images are unusable", f.expected_bad.size(), f.paths.size())));
  }
}

TEST_CASE("preflight fail with a report file writes the full list and points to it", "[preflight][errors]") {
  messy_folder f;
  const auto report = f.dir / "reports/bad.csv";
  try {
    (void)preflight_images(f.dir.path(), f.paths, {.report_file = report});
    FAIL("no error");
  } catch (const tpt::data::bad_images_error& e) {
    CHECK(e.full_list() == report);
    CHECK_THAT(e.what(), Catch::Contains(report.string()));
  }
  const auto table = tpt::io::read_csv(report, {"path", "problem", "detail"});
  CHECK(table.rows() == f.expected_bad.size());
}

TEST_CASE("preflight skip keeps the good images and writes the skipped list", "[preflight]") {
  messy_folder f;
  const auto report = f.dir / "skipped.csv";
  const auto r = preflight_images(f.dir.path(), f.paths, {.action = on_bad_image::skip, .report_file = report, .threads = 3});
  CHECK(r.checked == f.paths.size());
  CHECK(r.usable == std::vector<std::size_t>{0, 3, 8, 13, 14});  // 14: the link inside the root
  REQUIRE(r.bad.size() == f.expected_bad.size());
  const auto table = tpt::io::read_csv(report, {"path", "problem", "detail"});
  REQUIRE(table.rows() == r.bad.size());
  for (std::size_t k = 0; k < r.bad.size(); ++k) {
    CHECK(table.at(k, "path") == r.bad[k].path);
    CHECK(table.at(k, "problem") == std::string(tpt::data::to_string(r.bad[k].problem)));
  }
  // The same answer on one thread.
  const auto r1 = preflight_images(f.dir.path(), f.paths, {.action = on_bad_image::skip, .threads = 1});
  CHECK(r1.usable == r.usable);
  CHECK(r1.bad == r.bad);
}

TEST_CASE("preflight of good images passes and writes nothing", "[preflight]") {
  tpt::test::scratch_dir dir;
  std::vector<std::string> paths;
  for (int i = 0; i < 5; ++i) {
    paths.push_back(fmt::format("x/{}.jpg", i));
    tpt::test::write_bytes(dir / paths.back(), tpt::test::jpeg_fixture(40, 40, 3, static_cast<std::uint64_t>(i)));
  }
  const auto r = preflight_images(dir.path(), paths, {.report_file = dir / "bad.csv"});
  CHECK(r.usable.size() == 5);
  CHECK(r.bad.empty());
  CHECK_FALSE(std::filesystem::exists(dir / "bad.csv"));
}
