// tpt/data/split.hpp: seeded, stratified, grouped splits and split files.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/core/random.hpp"
#include "tpt/data/split.hpp"

using namespace tpt::data;

namespace {

/// A camera-trap-like dataset: capture events of 1-3 frames at `locations` sites, one species
/// per event (a few with two), class sizes falling off like a long tail.
dataset_index camera_trap_like(std::uint64_t seed, std::size_t events, int classes = 12, int locations = 30) {
  tpt::rng gen(seed);
  dataset_index d;
  d.image_root = "/data";
  for (int c = 0; c < classes; ++c) d.class_names.push_back(fmt::format("species{}", c));
  for (std::size_t e = 0; e < events; ++e) {
    const int frames = 1 + static_cast<int>(gen.uniform_index(3));
    // Zipf-like: class c with weight 1/(c+1).
    double u = gen.uniform01() * 3.1;
    int c = 0;
    while (c + 1 < classes && u > 1.0 / (c + 1)) u -= 1.0 / (c + 1), ++c;
    const int second = gen.uniform01() < 0.05 ? static_cast<int>(gen.uniform_index(classes)) : c;
    const auto loc = fmt::format("L{}", gen.uniform_index(static_cast<std::uint64_t>(locations)));
    for (int f = 0; f < frames; ++f)
      d.samples.push_back({fmt::format("e{}/f{}.jpg", e, f), f == 2 ? second : c, std::nullopt,
                           fmt::format("SEQ{}", e), loc});
  }
  return d;
}

template <class Key>
void check_groups_stay_together(const dataset_index& d, const split_assignment& a, Key key) {
  std::map<std::string, split_kind> where;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const std::string k = key(d.samples[i]);
    auto [it, fresh] = where.emplace(k, a.of[i]);
    if (!fresh && it->second != a.of[i]) FAIL("group " << k << " is in two splits");
  }
}

}  // namespace

TEST_CASE("ungrouped splits are exactly stratified up to rounding", "[split]") {
  tpt::rng gen(7);
  for (int round = 0; round < 20; ++round) {
    dataset_index d;
    d.class_names = {"a", "b", "c", "d"};
    std::vector<int> sizes;
    for (int c = 0; c < 4; ++c) sizes.push_back(1 + static_cast<int>(gen.uniform_index(400)));
    for (int c = 0; c < 4; ++c)
      for (int k = 0; k < sizes[static_cast<std::size_t>(c)]; ++k)
        d.samples.push_back({fmt::format("{}/{}.jpg", c, k), c, std::nullopt, {}, {}});
    split_options o;
    o.group_by = split_grouping::none;
    o.seed = static_cast<std::uint64_t>(round);
    const auto a = assign_splits(d, o);
    const auto s = summarize(d, a);
    for (std::size_t c = 0; c < 4; ++c) {
      const double n = sizes[c];
      INFO("class " << c << " of " << n);
      CHECK(std::abs(static_cast<double>(s.counts[c][0]) - 0.8 * n) <= 1.0);
      CHECK(std::abs(static_cast<double>(s.counts[c][1]) - 0.1 * n) <= 1.0);
      CHECK(std::abs(static_cast<double>(s.counts[c][2]) - 0.1 * n) <= 1.0);
    }
  }
}

TEST_CASE("grouped by seq_id: no capture event straddles splits, classes stay close to stratified", "[split][property]") {
  for (std::uint64_t seed = 0; seed < 12; ++seed) {
    const auto d = camera_trap_like(100 + seed, 3000);
    split_options o;
    o.seed = seed;
    const auto a = assign_splits(d, o);
    check_groups_stay_together(d, a, [](const sample& s) { return s.seq_id; });
    const auto s = summarize(d, a);
    const auto counts = d.class_counts();
    for (std::size_t c = 0; c < counts.size(); ++c) {
      const auto n = static_cast<double>(counts[c]);
      if (n < 60) continue;
      for (std::size_t k = 0; k < 3; ++k) {
        INFO("seed " << seed << " class " << c << " (" << n << " images) split " << k);
        // A group holds at most 3 frames; the greedy keeps every class within a few of them.
        CHECK(std::abs(static_cast<double>(s.counts[c][k]) - o.fractions()[k] * n) <= 6.0);
      }
    }
    const double total = static_cast<double>(d.size());
    CHECK(std::abs(static_cast<double>(a.count(split_kind::train)) / total - 0.8) < 0.01);
    CHECK(std::abs(static_cast<double>(a.count(split_kind::test)) / total - 0.1) < 0.01);
  }
}

TEST_CASE("grouped by location: no camera site straddles splits", "[split][property]") {
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const auto d = camera_trap_like(seed, 2000, 6, 40);
    split_options o;
    o.seed = seed;
    o.group_by = split_grouping::location;
    const auto a = assign_splits(d, o);
    check_groups_stay_together(d, a, [](const sample& s) { return s.location; });
    for (auto k : all_split_kinds) CHECK(a.count(k) > 0);
  }
}

TEST_CASE("splits are a function of the seed", "[split][property]") {
  const auto d = camera_trap_like(1, 1500);
  split_options o;
  o.seed = 42;
  const auto a = assign_splits(d, o);
  CHECK(assign_splits(d, o) == a);
  o.seed = 43;
  CHECK_FALSE(assign_splits(d, o) == a);
  // Changing the seed only moves groups around: sizes stay close.
  const auto b = assign_splits(d, o);
  CHECK(std::abs(static_cast<double>(a.count(split_kind::test)) - static_cast<double>(b.count(split_kind::test))) < 30);
}

TEST_CASE("images without a seq_id are their own groups", "[split]") {
  auto d = camera_trap_like(3, 500);
  for (auto& s : d.samples) s.seq_id.clear();
  const auto a = assign_splits(d);
  const auto grouped = assign_splits(d, split_options{.group_by = split_grouping::none});
  CHECK((summarize(d, a).counts == summarize(d, grouped).counts));
}

TEST_CASE("given splits are kept and the rest placed around them", "[split]") {
  auto d = camera_trap_like(5, 800);
  for (std::size_t i = 0; i < d.size(); ++i)
    if (d.samples[i].seq_id == "SEQ3" || d.samples[i].seq_id == "SEQ10") d.samples[i].split = split_kind::test;
  d.samples[0].split = split_kind::validation;  // SEQ0, frame 0: the other frames follow it
  const auto a = assign_splits(d);
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d.samples[i].seq_id == "SEQ3" || d.samples[i].seq_id == "SEQ10") CHECK(a.of[i] == split_kind::test);
    if (d.samples[i].seq_id == "SEQ0") CHECK(a.of[i] == split_kind::validation);
  }
  check_groups_stay_together(d, a, [](const sample& s) { return s.seq_id; });
  split_options ignore;
  ignore.respect_given = false;
  CHECK_NOTHROW(assign_splits(d, ignore));
  // Two frames of one event given different splits cannot both be honoured.
  std::size_t second = 1;
  while (d.samples[second].seq_id != d.samples[second - 1].seq_id) ++second;
  d.samples[second - 1].split = split_kind::validation;
  d.samples[second].split = split_kind::train;
  CHECK_THROWS_AS(assign_splits(d), tpt::config_error);
  CHECK_THROWS_WITH(assign_splits(d), Catch::Contains(fmt::format("'{}'", d.samples[second].seq_id)) &&
                                          Catch::Contains("validation and train"));
}

TEST_CASE("a split with fraction 0 stays empty", "[split]") {
  const auto d = camera_trap_like(9, 400);
  split_options o;
  o.train = 0.9;
  o.validation = 0.0;
  o.test = 0.1;
  const auto a = assign_splits(d, o);
  CHECK(a.count(split_kind::validation) == 0);
  CHECK(a.count(split_kind::test) > 0);
}

TEST_CASE("impossible split options are config errors", "[split][errors]") {
  const auto d = camera_trap_like(2, 50);
  CHECK_THROWS_WITH(assign_splits(d, split_options{.train = 0.8, .validation = 0.2, .test = 0.2}),
                    Catch::Contains("add up to 1"));
  CHECK_THROWS_WITH(assign_splits(d, split_options{.train = 1.2, .validation = -0.1, .test = -0.1}),
                    Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(assign_splits(d, split_options{.train = 0.0, .validation = 0.5, .test = 0.5}),
                    Catch::Contains("training split cannot be empty"));
  dataset_index empty;
  empty.class_names = {"a"};
  CHECK_THROWS_WITH(assign_splits(empty), Catch::Contains("empty dataset"));
}

TEST_CASE("split summary, subset and formatter", "[split]") {
  const auto d = camera_trap_like(4, 300, 3);
  const auto a = assign_splits(d);
  const auto s = summarize(d, a);
  CHECK(s.total(split_kind::train) + s.total(split_kind::validation) + s.total(split_kind::test) ==
        static_cast<std::int64_t>(d.size()));
  const auto test = subset(d, a, split_kind::test);
  CHECK(test.size() == a.count(split_kind::test));
  for (const auto& x : test.samples) CHECK(x.split == split_kind::test);
  CHECK(a.indices(split_kind::test).size() == test.size());
  const auto text = fmt::format("{}", s);
  CHECK_THAT(text, Catch::Contains("species0") && Catch::Contains("validation") &&
                       Catch::Contains(fmt::format("{}", s.total(split_kind::train))));
}

TEST_CASE("split files repeat a split exactly", "[split][file]") {
  tpt::test::scratch_dir dir;
  const auto d = camera_trap_like(8, 400);
  split_options o;
  o.seed = 11;
  const auto a = assign_splits(d, o);
  const auto file = dir / "split.csv";
  write_split_file(file, d, a, o);
  CHECK(read_split_file(file, d) == a);
  // The file is also a manifest with a split column: reading it as one gives the same splits.
  const auto m = read_manifest(file, manifest_options{.class_names = d.class_names, .image_root = d.image_root});
  REQUIRE(m.size() == d.size());
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(m.samples[i].split == a.of[i]);
  CHECK(assign_splits(m) == a);
  CHECK_THAT(tpt::io::read_text(file), Catch::StartsWith("# tpt split file") && Catch::Contains("seed=11"));
}

TEST_CASE("a split file that does not match its dataset is an error naming the line", "[split][file][errors]") {
  tpt::test::scratch_dir dir;
  const auto d = camera_trap_like(8, 40, 3);
  const auto a = assign_splits(d);
  const auto file = dir / "split.csv";
  write_split_file(file, d, a);
  const std::string good = tpt::io::read_text(file);

  auto other = d;
  other.samples.pop_back();
  CHECK_THROWS_WITH(read_split_file(file, other), Catch::Contains("is not an image of the dataset"));
  auto more = d;
  more.samples.push_back({"new/x.jpg", 0, std::nullopt, "", ""});
  CHECK_THROWS_WITH(read_split_file(file, more), Catch::Contains("missing") && Catch::Contains("'new/x.jpg'"));
  auto relabelled = d;
  relabelled.samples[3].label = (relabelled.samples[3].label + 1) % 3;
  CHECK_THROWS_WITH(read_split_file(file, relabelled), Catch::Contains(":7:") && Catch::Contains("column 'label'"));

  std::string text = good;
  const auto first_row = text.find("\n", text.find("path,label")) + 1;
  const auto row_end = text.find('\n', first_row);
  const std::string row = text.substr(first_row, row_end - first_row + 1);
  tpt::test::write_file(file, text + row);
  CHECK_THROWS_WITH(read_split_file(file, d), Catch::Contains("already listed on line 4"));
  std::string bad = good;
  bad.replace(bad.find(",train,"), 7, ",holdout,");
  tpt::test::write_file(file, bad);
  CHECK_THROWS_WITH(read_split_file(file, d), Catch::Contains("'holdout'") && Catch::Contains("column 'split'"));
  tpt::test::write_file(file, "path,label\na.jpg,x\n");
  CHECK_THROWS_WITH(read_split_file(file, d), Catch::Contains("no column 'split'"));
  CHECK_THROWS_WITH(read_split_file(dir / "absent.csv", d), Catch::Contains("no such file"));
}
