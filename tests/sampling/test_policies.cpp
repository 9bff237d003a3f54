// Each policy's rule and edge cases: classes of 0 or 1 examples, caps below and above a class's
// size, ratio 1, absent classes, bad settings; composition, per-class targets, balancing,
// every_epoch, plan checks and make_plan.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "sampling_test_support.hpp"
#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/sampler.hpp"

using tpt::test::mixed_classes;
using tpt::test::mixed_labels;
using tpt::test::multiplicities;

namespace {

std::vector<std::int64_t> labels_of(const std::vector<std::int64_t>& counts) {
  return tpt::labels_from_counts(counts);
}

tpt::sampling_plan plan(const auto& policy, const std::vector<std::int64_t>& labels,
                        std::int64_t classes, std::uint64_t seed = 3) {
  tpt::rng gen(seed);
  return policy.plan(labels, classes, gen);
}

}  // namespace

TEST_CASE("identity lists every example once", "[sampling][identity]") {
  const auto labels = mixed_labels();
  const auto p = plan(tpt::identity_sampler{}, labels, mixed_classes);
  CHECK(p.before == p.after);
  REQUIRE(p.total() == static_cast<std::int64_t>(labels.size()));
  for (std::size_t i = 0; i < labels.size(); ++i) CHECK(p.indices[i] == static_cast<std::int64_t>(i));
  CHECK(p.duplicates() == 0);
  CHECK(p.dropped() == 0);
}

TEST_CASE("random oversampling follows the paper's ratio tiers and cap", "[sampling][ros]") {
  const tpt::random_oversample ros;  // the paper's defaults
  CHECK(ros.target(0) == 0);
  CHECK(ros.target(1) == 10);
  CHECK(ros.target(99) == 990);
  CHECK(ros.target(100) == 800);   // tier boundaries are "below"
  CHECK(ros.target(499) == 3992);
  CHECK(ros.target(500) == 3000);
  CHECK(ros.target(999) == 5000);  // 5,994 capped
  CHECK(ros.target(1000) == 4000);
  CHECK(ros.target(1249) == 4996);
  CHECK(ros.target(1250) == 5000);
  CHECK(ros.target(4999) == 5000);
  CHECK(ros.target(5000) == 5000);  // at the cap: untouched
  CHECK(ros.target(48377) == 48377);
}

TEST_CASE("random oversampling keeps every original and spreads the copies evenly",
          "[sampling][ros]") {
  // Classes of 1, 7, 45 and 120 examples; cap 150; x10 below 5, x3 below 50, x2 below 200.
  const auto labels = mixed_labels();
  const auto policy = tpt::test::policy_for_mixed_labels<tpt::random_oversample>();
  const auto p = plan(policy, labels, mixed_classes);
  CHECK(p.after == std::vector<std::int64_t>{400, 150, 135, 21, 10, 0});
  const auto m = multiplicities(p, labels.size());
  for (std::int64_t c = 0; c < 5; ++c) {
    std::int64_t lo = 1 << 30, hi = 0;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == c) {
        lo = std::min(lo, m[i]);
        hi = std::max(hi, m[i]);
      }
    INFO("class " << c);
    CHECK(lo >= 1);        // every original kept
    CHECK(hi - lo <= 1);   // copies spread as evenly as the target allows
  }
  CHECK(p.dropped() == 0);
  CHECK(p.duplicates() == p.total() - p.total_before());
}

TEST_CASE("random oversampling with independent extras keeps every original",
          "[sampling][ros]") {
  const auto labels = labels_of({3, 40});
  tpt::random_oversample::options o;
  o.tiers = {{10, 10.0}, {100, 2.0}};
  o.cap = std::nullopt;
  o.extras = tpt::extra_copies::independent;
  const auto p = plan(tpt::random_oversample(o), labels, 2);
  CHECK(p.after == std::vector<std::int64_t>{30, 80});
  const auto m = multiplicities(p, labels.size());
  CHECK(*std::min_element(m.begin(), m.end()) >= 1);
  // 40 extras over 40 examples drawn independently: some get none, some several.
  CHECK(*std::max_element(m.begin() + 3, m.end()) > 2);
}

TEST_CASE("random oversampling edge cases", "[sampling][ros][edge]") {
  SECTION("ratio 1 leaves classes as they are") {
    tpt::random_oversample::options o;
    o.tiers = {{1000, 1.0}};
    const tpt::random_oversample ros(o);
    const auto labels = mixed_labels();
    const auto p = plan(ros, labels, mixed_classes);
    CHECK(p.after == p.before);
    CHECK(p.duplicates() == 0);
  }
  SECTION("a class of one example is copied ratio times") {
    const auto p = plan(tpt::random_oversample{}, labels_of({1}), 1);
    CHECK(p.indices == std::vector<std::int64_t>(10, 0));
  }
  SECTION("a cap below the class size leaves the class alone") {
    tpt::random_oversample::options o;
    o.cap = 3;
    const auto p = plan(tpt::random_oversample(o), labels_of({5, 2}), 2);
    CHECK(p.after == std::vector<std::int64_t>{5, 3});
  }
  SECTION("a cap above the grown size does not bind") {
    tpt::random_oversample::options o;
    o.cap = 1'000'000;
    const auto p = plan(tpt::random_oversample(o), labels_of({5, 200}), 2);
    CHECK(p.after == std::vector<std::int64_t>{50, 1600});
  }
  SECTION("no cap: the ratios alone decide; classes above every tier stay") {
    tpt::random_oversample::options o;
    o.cap = std::nullopt;
    const tpt::random_oversample ros(o);
    CHECK(ros.target(999) == 5994);
    CHECK(ros.target(5000) == 5000);
  }
  SECTION("a fractional ratio rounds down") {
    tpt::random_oversample::options o;
    o.tiers = {{100, 1.5}};
    CHECK(tpt::random_oversample(o).target(7) == 10);
  }
  SECTION("absent classes stay absent") {
    const auto p = plan(tpt::random_oversample{}, labels_of({0, 4, 0}), 3);
    CHECK(p.after == std::vector<std::int64_t>{0, 40, 0});
  }
}

TEST_CASE("random oversampling refuses settings that cannot work", "[sampling][ros][errors]") {
  using opts = tpt::random_oversample::options;
  opts o;
  o.tiers = {{100, 10.0}, {100, 8.0}};
  CHECK_THROWS_WITH(tpt::random_oversample(o),
                    Catch::Contains("option 'tiers': tier 1: 'below' must be greater than 100"));
  o.tiers = {{0, 10.0}};
  CHECK_THROWS_AS(tpt::random_oversample(o), tpt::config_error);
  o.tiers = {{100, 0.5}};
  CHECK_THROWS_WITH(tpt::random_oversample(o),
                    Catch::Contains("ratio must be a number >= 1, got 0.5"));
  o.tiers = {{100, std::nan("")}};
  CHECK_THROWS_AS(tpt::random_oversample(o), tpt::config_error);
  o = opts{};
  o.cap = 0;
  CHECK_THROWS_WITH(tpt::random_oversample(o), "option 'cap': must be at least 1, got 0");
}

TEST_CASE("random undersampling cuts classes above the cap without replacement",
          "[sampling][rus]") {
  const auto labels = mixed_labels();
  const auto p = plan(tpt::random_undersample(50), labels, mixed_classes);
  CHECK(p.after == std::vector<std::int64_t>{50, 50, 45, 7, 1, 0});
  CHECK(p.duplicates() == 0);
  CHECK(p.dropped() == 350 + 70);
  const std::set<std::int64_t> distinct(p.indices.begin(), p.indices.end());
  CHECK(distinct.size() == p.indices.size());
  // Classes at or below the cap keep every example.
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 2) CHECK(distinct.count(static_cast<std::int64_t>(i)) == 1);
}

TEST_CASE("random undersampling edge cases", "[sampling][rus][edge]") {
  CHECK(tpt::random_undersample{}.cap() == 15000);
  SECTION("a cap above every class is the identity") {
    const auto labels = mixed_labels();
    CHECK(plan(tpt::random_undersample(1000), labels, mixed_classes) ==
          plan(tpt::identity_sampler{}, labels, mixed_classes));
  }
  SECTION("a cap equal to a class's size keeps all of it") {
    const auto p = plan(tpt::random_undersample(4), labels_of({4, 9}), 2);
    CHECK(p.after == std::vector<std::int64_t>{4, 4});
    CHECK(std::vector<std::int64_t>(p.indices.begin(), p.indices.begin() + 4) ==
          std::vector<std::int64_t>{0, 1, 2, 3});
  }
  SECTION("cap 1 keeps one example per class, classes of one example keep theirs") {
    const auto p = plan(tpt::random_undersample(1), labels_of({1, 0, 5}), 3);
    CHECK(p.after == std::vector<std::int64_t>{1, 0, 1});
    CHECK(p.indices.front() == 0);
  }
  CHECK_THROWS_WITH(tpt::random_undersample(0), "option 'cap': must be at least 1, got 0");
  CHECK_THROWS_AS(tpt::random_undersample(-4), tpt::config_error);
}

TEST_CASE("composition oversamples, then undersamples the oversampled set", "[sampling][compose]") {
  const auto labels = mixed_labels();
  const tpt::random_oversample ros(
      tpt::random_oversample::options{{{50, 4.0}, {500, 2.0}}, std::nullopt, {}});
  const tpt::random_undersample rus(150);
  const auto both = tpt::compose(ros, rus);
  STATIC_REQUIRE(std::is_same_v<decltype(both), const tpt::composed<tpt::random_oversample,
                                                                    tpt::random_undersample>>);
  const auto p = plan(both, labels, mixed_classes);
  CHECK(p.before == std::vector<std::int64_t>{400, 120, 45, 7, 1, 0});
  // 400 -> 800 -> 150; 120 -> 240 -> 150; 45 -> 180 -> 150; 7 -> 28; 1 -> 4.
  CHECK(p.after == std::vector<std::int64_t>{150, 150, 150, 28, 4, 0});
  for (std::size_t c = 0; c < 5; ++c)
    CHECK(p.after[c] == rus.target(ros.target(p.before[c])));
  REQUIRE_NOTHROW(tpt::check_plan(p, labels, mixed_classes));
  // Class 2 grew to 180 (every example 4 times) and shrank to 150 by dropping copies, so no
  // example appears more than 4 times.
  const auto m = multiplicities(p, labels.size());
  CHECK(*std::max_element(m.begin(), m.end()) <= 4);
  CHECK(both.first().settings().tiers.size() == 2);
  CHECK(both.second().cap() == 150);
}

TEST_CASE("compose takes more than two stages", "[sampling][compose]") {
  const auto labels = mixed_labels();
  const auto three = tpt::compose(tpt::class_balanced::to(500), tpt::random_undersample(200),
                                  tpt::random_undersample(100));
  const auto p = plan(three, labels, mixed_classes);
  CHECK(p.after == std::vector<std::int64_t>{100, 100, 100, 100, 100, 0});
  CHECK(p.before[0] == 400);
}

TEST_CASE("per-class targets from a map follow imbalanced-learn's dict strategy",
          "[sampling][targets]") {
  const auto labels = mixed_labels();
  const tpt::per_class_targets targets(tpt::target_map{{0, 100}, {2, 90}, {3, 0}});
  const auto p = plan(targets, labels, mixed_classes);
  // Classes not in the map keep their size; 0 removes a class.
  CHECK(p.after == std::vector<std::int64_t>{100, 120, 90, 0, 1, 0});
  const auto m = multiplicities(p, labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == 0) CHECK(m[i] <= 1);                   // undersampled: no repeats
    if (labels[i] == 1 || labels[i] == 4) CHECK(m[i] == 1);  // untouched
    if (labels[i] == 2) CHECK(m[i] == 2);                   // 45 -> 90: each twice
    if (labels[i] == 3) CHECK(m[i] == 0);
  }
}

TEST_CASE("per-class targets from callables", "[sampling][targets]") {
  const auto labels = mixed_labels();
  SECTION("asked once per class") {
    const auto p = plan(tpt::per_class_targets(tpt::test::double_every_class{}), labels, mixed_classes);
    CHECK(p.after == std::vector<std::int64_t>{800, 240, 90, 14, 2, 0});
  }
  SECTION("a lambda with the class id") {
    const auto only_class_4 = [](std::int64_t cls, std::int64_t n) { return cls == 4 ? 25 : n; };
    const auto p = plan(tpt::per_class_targets(only_class_4), labels, mixed_classes);
    CHECK(p.after == std::vector<std::int64_t>{400, 120, 45, 7, 25, 0});
    CHECK(p.duplicates() == 24);
  }
  SECTION("a rule over the whole distribution") {
    const auto p = plan(tpt::per_class_targets(tpt::test::to_median{}), labels, mixed_classes);
    CHECK(p.after == std::vector<std::int64_t>{45, 45, 45, 45, 45, 0});
  }
}

TEST_CASE("per-class targets refuse impossible targets, naming the class", "[sampling][targets][errors]") {
  const auto labels = mixed_labels();
  tpt::rng gen(1);
  CHECK_THROWS_WITH(tpt::per_class_targets(tpt::target_map{{6, 10}}).plan(labels, mixed_classes, gen),
                    "option 'targets': class 6 is not a class id: expected 0 <= class < 6");
  CHECK_THROWS_WITH(tpt::per_class_targets(tpt::target_map{{-1, 10}}).plan(labels, mixed_classes, gen),
                    Catch::Contains("class -1 is not a class id"));
  CHECK_THROWS_WITH(tpt::per_class_targets(tpt::target_map{{1, -3}}).plan(labels, mixed_classes, gen),
                    "option 'targets': class 1: target -3 is negative");
  CHECK_THROWS_WITH(tpt::per_class_targets(tpt::target_map{{5, 10}}).plan(labels, mixed_classes, gen),
                    "option 'targets': class 5 has no examples, so it cannot be sampled to 10");
  const auto wrong_size = [](std::span<const std::int64_t>) { return std::vector<std::int64_t>{1, 2}; };
  CHECK_THROWS_WITH(tpt::per_class_targets(wrong_size).plan(labels, mixed_classes, gen),
                    "option 'targets': expected one target per class (6), got 2");
  const auto huge = [](std::int64_t, std::int64_t n) -> std::int64_t {
    return n > 0 ? std::numeric_limits<std::int64_t>::max() / 2 : 0;
  };
  CHECK_THROWS_WITH(tpt::per_class_targets(huge).plan(labels, mixed_classes, gen),
                    Catch::Contains("more than 1e+12 examples"));
  // 10^12 is refused before any allocation (a balance to 10^14 used to end in std::bad_alloc).
  const auto big = [](std::int64_t, std::int64_t n) -> std::int64_t { return n > 0 ? 600'000'000'000 : 0; };
  CHECK_THROWS_WITH(tpt::per_class_targets(big).plan(labels, mixed_classes, gen),
                    Catch::Contains("more than 1e+12 examples"));
}

TEST_CASE("class balancing brings every present class to one count", "[sampling][balanced]") {
  const auto labels = mixed_labels();
  CHECK(plan(tpt::class_balanced::to(60), labels, mixed_classes).after ==
        std::vector<std::int64_t>{60, 60, 60, 60, 60, 0});
  CHECK(plan(tpt::class_balanced{}, labels, mixed_classes).after ==
        std::vector<std::int64_t>{400, 400, 400, 400, 400, 0});
  const auto smallest = plan(tpt::class_balanced::to_smallest(), labels, mixed_classes);
  CHECK(smallest.after == std::vector<std::int64_t>{1, 1, 1, 1, 1, 0});
  CHECK(smallest.duplicates() == 0);
  CHECK(tpt::class_balanced::to_largest().balance_to() == tpt::class_balanced::reference::largest);
  CHECK_THROWS_WITH(tpt::class_balanced::to(0), "option 'balance to': must be at least 1, got 0");
  // Nothing to balance: no class has examples.
  CHECK(plan(tpt::class_balanced{}, std::vector<std::int64_t>{}, 2).after ==
        std::vector<std::int64_t>{0, 0});
}

TEST_CASE("every_epoch marks any policy as redrawn and plans as the policy does",
          "[sampling][epochs]") {
  STATIC_REQUIRE_FALSE(tpt::redraws_every_epoch_v<tpt::random_undersample>);
  STATIC_REQUIRE(tpt::redraws_every_epoch_v<tpt::every_epoch<tpt::random_undersample>>);
  STATIC_REQUIRE(tpt::redraws_every_epoch_v<
                 tpt::composed<tpt::random_oversample, tpt::every_epoch<tpt::random_undersample>>>);
  STATIC_REQUIRE_FALSE(
      tpt::redraws_every_epoch_v<tpt::composed<tpt::random_oversample, tpt::random_undersample>>);
  const auto labels = mixed_labels();
  const tpt::random_undersample rus(20);
  CHECK(plan(tpt::every_epoch(rus), labels, mixed_classes) == plan(rus, labels, mixed_classes));
  CHECK(tpt::every_epoch(rus).policy().cap() == 20);

  // Redrawn every epoch, undersampling sees most of the majority class over the run.
  std::set<std::int64_t> seen;
  for (std::int64_t epoch = 0; epoch < 40; ++epoch)
    for (auto i : tpt::plan_epoch(tpt::every_epoch(rus), labels, mixed_classes, 1, epoch).indices)
      if (labels[static_cast<std::size_t>(i)] == 0) seen.insert(i);
  // Expected 400 x (1 - 0.95^40) = 349 of 400; drawn once it would be 20.
  CHECK(seen.size() > 300);
}

namespace {
/// A policy that opts in to redrawing by its own member, not through the wrapper.
struct fresh_each_epoch {
  static constexpr bool redraws_every_epoch = true;
  tpt::sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t k, tpt::rng& gen) const {
    return tpt::random_undersample(1).plan(labels, k, gen);
  }
};
/// A custom sampler whose plan does not match its indices.
struct miscounting {
  tpt::sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t k, tpt::rng& gen) const {
    auto p = tpt::identity_sampler{}.plan(labels, k, gen);
    p.after[0] += 1;
    return p;
  }
};
struct out_of_range {
  tpt::sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t k, tpt::rng& gen) const {
    auto p = tpt::identity_sampler{}.plan(labels, k, gen);
    p.indices.push_back(static_cast<std::int64_t>(labels.size()));
    return p;
  }
};
}  // namespace

TEST_CASE("a policy can opt in to redrawing with a member", "[sampling][epochs]") {
  STATIC_REQUIRE(tpt::redraws_every_epoch_v<fresh_each_epoch>);
  CHECK(tpt::plan_seed<fresh_each_epoch>(1, 0) != tpt::plan_seed<fresh_each_epoch>(1, 1));
  CHECK(tpt::plan_seed<tpt::random_undersample>(1, 0) == tpt::plan_seed<tpt::random_undersample>(1, 9));
  CHECK(tpt::plan_seed<tpt::random_undersample>(1, 0) != tpt::plan_seed<tpt::random_undersample>(2, 0));
}

TEST_CASE("plan_epoch stops a custom sampler's inconsistent plan", "[sampling][errors]") {
  const auto labels = mixed_labels();
  CHECK_THROWS_WITH(tpt::plan_epoch(miscounting{}, labels, mixed_classes, 1, 0),
                    "sampling plan: after[0] = 401 but the indices hold 400 examples of class 0");
  CHECK_THROWS_WITH(tpt::plan_epoch(out_of_range{}, labels, mixed_classes, 1, 0),
                    "sampling plan: indices[573] = 573 is outside the dataset [0, 573)");
  // And a composition catches a first stage that strays outside the dataset.
  tpt::rng gen(1);
  CHECK_THROWS_WITH(tpt::compose(out_of_range{}, tpt::identity_sampler{}).plan(labels, mixed_classes, gen),
                    Catch::Contains("composed sampler: the first stage chose index 573"));
  CHECK_THROWS_WITH(tpt::compose(tpt::identity_sampler{}, out_of_range{}).plan(labels, mixed_classes, gen),
                    Catch::Contains("composed sampler: the second stage chose entry 573 (position 573), "
                                    "outside the first stage's 573 entries"));
  tpt::sampling_plan short_plan;
  short_plan.before = {1};
  CHECK_THROWS_WITH(tpt::check_plan(short_plan, labels, mixed_classes),
                    Catch::Contains("one count per class (6), got 1 and 0"));
}

TEST_CASE("make_plan counts a custom sampler's chosen indices", "[sampling][plan]") {
  const std::vector<std::int64_t> labels{2, 0, 2, 1};
  const auto p = tpt::make_plan(labels, 3, {0, 0, 2, 3});
  CHECK(p.before == std::vector<std::int64_t>{1, 1, 2});
  CHECK(p.after == std::vector<std::int64_t>{0, 1, 3});
  CHECK(p.unique() == 3);
  CHECK(p.duplicates() == 1);
  CHECK(p.dropped() == 1);
  CHECK(fmt::format("{}", p) == "4 -> 4 examples in 3 classes (1 duplicates, 1 dropped)");
  CHECK_THROWS_WITH(tpt::make_plan(labels, 3, {4}),
                    "sampling plan: indices[0] = 4 is outside the dataset [0, 4)");
  CHECK_THROWS_AS(tpt::make_plan(labels, 2, {0}), tpt::label_error);
  CHECK_THROWS_WITH(tpt::count_classes(labels, 0), "option 'num_classes': must be at least 1, got 0");
}
