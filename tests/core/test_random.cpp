// tpt/core/random.hpp: platform-independent seeded randomness.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tpt/core/random.hpp"

TEST_CASE("splitmix64 matches the reference implementation's first outputs", "[random]") {
  std::uint64_t state = 0;
  // Reference values of Vigna's splitmix64.c seeded with 0.
  CHECK(tpt::splitmix64(state) == 0xE220A8397B1DCDAFULL);
  CHECK(tpt::splitmix64(state) == 0x6E789E6AA1B965F4ULL);
  CHECK(tpt::splitmix64(state) == 0x06C45D188009454FULL);
}

TEST_CASE("rng is deterministic for a seed and differs across seeds", "[random]") {
  tpt::rng a(42), b(42), c(43);
  std::vector<std::uint64_t> xa, xb, xc;
  for (int i = 0; i < 100; ++i) {
    xa.push_back(a());
    xb.push_back(b());
    xc.push_back(c());
  }
  CHECK(xa == xb);
  CHECK(xa != xc);
}

TEST_CASE("rng state round-trips exactly", "[random]") {
  tpt::rng a(7);
  for (int i = 0; i < 10; ++i) a();
  const auto saved = a.state();
  const auto next = a();
  tpt::rng b(0);
  b.set_state(saved);
  CHECK(b() == next);
}

TEST_CASE("uniform_index stays in range and is close to uniform", "[random]") {
  tpt::rng g(1);
  constexpr int buckets = 7;
  constexpr int draws = 70000;
  std::vector<int> count(buckets, 0);
  for (int i = 0; i < draws; ++i) {
    const auto k = g.uniform_index(buckets);
    REQUIRE(k < buckets);
    ++count[k];
  }
  // Chi-square with 6 degrees of freedom: 22.46 is the 0.999 quantile.
  double chi2 = 0;
  for (int c : count) chi2 += std::pow(c - draws / double(buckets), 2) / (draws / double(buckets));
  CHECK(chi2 < 22.46);
  CHECK(g.uniform_index(1) == 0);
}

TEST_CASE("uniform01 lies in the unit interval with mean near one half", "[random]") {
  tpt::rng g(3);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = g.uniform01();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum += u;
  }
  CHECK(sum / 100000 == Approx(0.5).margin(0.01));
}

TEST_CASE("shuffle is a seeded permutation", "[random]") {
  std::vector<int> v(1000);
  std::iota(v.begin(), v.end(), 0);
  auto a = v, b = v;
  tpt::rng g1(5), g2(5);
  tpt::shuffle(a, g1);
  tpt::shuffle(b, g2);
  CHECK(a == b);
  CHECK(a != v);
  std::sort(a.begin(), a.end());
  CHECK(a == v);
}

TEST_CASE("derive_seed separates streams and does not depend on thread order", "[random]") {
  const std::uint64_t seed = 2021;
  CHECK(tpt::derive_seed(seed, 1) != tpt::derive_seed(seed, 2));
  CHECK(tpt::derive_seed(seed, 1, 2) != tpt::derive_seed(seed, 2, 1));
  CHECK(tpt::derive_seed(seed, tpt::stream_tag("split")) !=
        tpt::derive_seed(seed, tpt::stream_tag("plan")));
  CHECK(tpt::derive_seed(seed) != tpt::derive_seed(seed + 1));

  // Seeds derived per item on two threads equal the ones derived in one loop.
  std::vector<std::uint64_t> serial(64), threaded(64);
  for (int i = 0; i < 64; ++i) serial[i] = tpt::derive_seed(seed, tpt::stream_tag("augment"), 3, i);
  std::thread t1([&] { for (int i = 0; i < 64; i += 2) threaded[i] = tpt::derive_seed(seed, tpt::stream_tag("augment"), 3, i); });
  std::thread t2([&] { for (int i = 1; i < 64; i += 2) threaded[i] = tpt::derive_seed(seed, tpt::stream_tag("augment"), 3, i); });
  t1.join();
  t2.join();
  CHECK(serial == threaded);
  CHECK(std::set<std::uint64_t>(serial.begin(), serial.end()).size() == serial.size());
}
