// tpt/data/folder_source.hpp: an image folder tree, one sub-folder per class.
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/data/folder_source.hpp"
#include "tpt/io/csv.hpp"

using namespace tpt::data;
using tpt::test::write_file;

namespace {
std::vector<std::string> paths(const dataset_index& d) {
  std::vector<std::string> out;
  for (const auto& s : d.samples) out.push_back(s.path);
  return out;
}
}  // namespace

TEST_CASE("read_image_folder: classes are sub-folders, images found recursively in order", "[folder]") {
  tpt::test::scratch_dir dir;
  const auto root = dir / "tree";
  write_file(root / "zebra/b.JPG", "x");
  write_file(root / "zebra/a.jpg", "x");
  write_file(root / "zebra/night/c.png", "x");
  write_file(root / "zebra/notes.txt", "not an image");
  write_file(root / "zebra/.hidden.jpg", "x");
  write_file(root / "lion/1.jpeg", "x");
  write_file(root / ".trash/x.jpg", "x");
  write_file(root / "README.jpg", "a file in the root, not in a class");
  const auto d = read_image_folder(root);
  CHECK(d.class_names == std::vector<std::string>{"lion", "zebra"});
  CHECK(paths(d) == std::vector<std::string>{"lion/1.jpeg", "zebra/a.jpg", "zebra/b.JPG", "zebra/night/c.png"});
  CHECK(d.labels() == std::vector<std::int64_t>{0, 1, 1, 1});
  CHECK(d.image_root == root);
  CHECK(d.skipped.empty());
  CHECK(std::filesystem::exists(d.file(3)));
}

TEST_CASE("read_image_folder with a class list: order given, unlisted folders are bad records", "[folder][errors]") {
  tpt::test::scratch_dir dir;
  const auto root = dir / "tree";
  write_file(root / "zebra/a.jpg", "x");
  write_file(root / "lion/a.jpg", "x");
  write_file(root / "gnu/a.jpg", "x");
  image_folder_options o;
  o.class_names = {"zebra", "lion"};
  CHECK_THROWS_AS(read_image_folder(root, o), tpt::unknown_class_error);
  CHECK_THROWS_WITH(read_image_folder(root, o), Catch::Contains("unknown class 'gnu'") &&
                                                    Catch::Contains("'zebra', 'lion'"));
  o.on_bad_record = bad_record_policy::skip;
  o.skipped_list = dir / "skipped.csv";
  const auto d = read_image_folder(root, o);
  CHECK(d.class_names == std::vector<std::string>{"zebra", "lion"});
  CHECK(paths(d) == std::vector<std::string>{"lion/a.jpg", "zebra/a.jpg"});
  CHECK(d.labels() == std::vector<std::int64_t>{1, 0});
  REQUIRE(d.skipped.size() == 1);
  CHECK(d.skipped[0].path == "gnu/a.jpg");
  CHECK(tpt::io::read_csv(dir / "skipped.csv", {"path"}).at(0, "path") == "gnu/a.jpg");
}

TEST_CASE("read_image_folder rejects links that leave the root and survives link cycles", "[folder][errors]") {
  tpt::test::scratch_dir dir;
  const auto root = dir / "tree";
  write_file(root / "zebra/a.jpg", "x");
  write_file(dir / "elsewhere/secret.jpg", "x");
  std::filesystem::create_symlink(dir / "elsewhere/secret.jpg", root / "zebra/b.jpg");
  std::filesystem::create_directory_symlink(root / "zebra", root / "zebra/loop");
  CHECK_THROWS_WITH(read_image_folder(root), Catch::Contains("outside the image root"));
  image_folder_options o;
  o.on_bad_record = bad_record_policy::skip;
  const auto d = read_image_folder(root, o);
  CHECK(paths(d) == std::vector<std::string>{"zebra/a.jpg"});
  REQUIRE(d.skipped.size() == 1);
  CHECK(d.skipped[0].path == "zebra/b.jpg");
}

TEST_CASE("read_image_folder errors: missing root, a file, no classes, an empty class", "[folder][errors]") {
  tpt::test::scratch_dir dir;
  CHECK_THROWS_WITH(read_image_folder(dir / "absent"), Catch::Contains("absent") && Catch::Contains("no such folder"));
  write_file(dir / "file.txt", "x");
  CHECK_THROWS_WITH(read_image_folder(dir / "file.txt"), Catch::Contains("not a folder"));
  std::filesystem::create_directories(dir / "bare");
  CHECK_THROWS_WITH(read_image_folder(dir / "bare"), Catch::Contains("no class sub-folders"));
  write_file(dir / "tree/zebra/a.jpg", "x");
  write_file(dir / "tree/lion/readme.txt", "x");
  CHECK_THROWS_WITH(read_image_folder(dir / "tree"), Catch::Contains("class 'lion' has no images"));
  image_folder_options o;
  o.allow_empty_classes = true;
  const auto d = read_image_folder(dir / "tree", o);
  CHECK(d.class_counts() == std::vector<std::int64_t>{0, 1});
}
