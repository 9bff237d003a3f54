// The Sampler contract, run over every policy type tpt offers: a consistent plan, determinism,
// independence from threads, label checks, empty data, and plan_epoch's draw-once/redraw rule.
#include <algorithm>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "sampling_test_support.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/sampler.hpp"

using tpt::test::all_policies;
using tpt::test::mixed_classes;
using tpt::test::mixed_labels;
using tpt::test::policy_for_mixed_labels;

TEMPLATE_LIST_TEST_CASE("every policy models tpt::sampler with consistent, deterministic plans",
                        "[sampling][contract][determinism]", all_policies) {
  SECTION("a consistent plan") {
    STATIC_REQUIRE(tpt::sampler<TestType>);
    const auto policy = policy_for_mixed_labels<TestType>();
    const auto labels = mixed_labels();
    tpt::rng gen(5);
    const tpt::sampling_plan plan = policy.plan(labels, mixed_classes, gen);

    REQUIRE_NOTHROW(tpt::check_plan(plan, labels, mixed_classes));
    CHECK(plan.before == std::vector<std::int64_t>{400, 120, 45, 7, 1, 0});
    CHECK(plan.total_before() == static_cast<std::int64_t>(labels.size()));
    CHECK(plan.total() == std::accumulate(plan.after.begin(), plan.after.end(), std::int64_t{0}));
    CHECK(plan.after[5] == 0);  // an absent class stays absent
    CHECK(std::is_sorted(plan.indices.begin(), plan.indices.end()));  // built-ins list ascending
    CHECK(plan.unique() + plan.dropped() == plan.total_before());
    CHECK(plan.unique() + plan.duplicates() == plan.total());
  }
  SECTION("deterministic for the generator state") {
    const auto policy = policy_for_mixed_labels<TestType>();
    const auto labels = mixed_labels();
    tpt::rng a(99), b(99);
    const auto first = policy.plan(labels, mixed_classes, a);
    const auto second = policy.plan(labels, mixed_classes, b);
    CHECK(first == second);
    CHECK(a == b);  // and leaves the generator in the same state
  }
  SECTION("the same plan on any number of threads") {
    const auto policy = policy_for_mixed_labels<TestType>();
    const auto labels = mixed_labels();
    const auto serial = tpt::plan_epoch(policy, labels, mixed_classes, 2024, 3);
    std::vector<tpt::sampling_plan> results(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < results.size(); ++t)
      threads.emplace_back([&, t] { results[t] = tpt::plan_epoch(policy, labels, mixed_classes, 2024, 3); });
    for (auto& t : threads) t.join();
    for (const auto& r : results) CHECK(r == serial);
  }
  SECTION("the seed moves only the draws") {
    const auto policy = policy_for_mixed_labels<TestType>();
    const auto labels = mixed_labels();
    const auto a = tpt::plan_epoch(policy, labels, mixed_classes, 1, 0);
    const auto b = tpt::plan_epoch(policy, labels, mixed_classes, 2, 0);
    CHECK(a.before == b.before);
    // Policies defined by per-class targets fix the counts; a custom sampler may draw them.
    if constexpr (tpt::detail::chainable<TestType>) CHECK(a.after == b.after);
  }
}

TEMPLATE_LIST_TEST_CASE("every policy handles bad labels, empty data and epochs by the contract",
                        "[sampling][contract][errors][epochs]", all_policies) {
  SECTION("labels outside the classes") {
    const auto policy = policy_for_mixed_labels<TestType>();
    auto labels = mixed_labels();
    tpt::rng gen(1);
    labels[17] = mixed_classes;
    try {
      (void)policy.plan(labels, mixed_classes, gen);
      FAIL("no error for a label equal to num_classes");
    } catch (const tpt::label_error& e) {
      CHECK(e.value() == mixed_classes);
      CHECK(e.position() == 17);
      CHECK(std::string(e.what()) == "labels[17] = 6 is not a class id: expected 0 <= label < 6");
    }
    labels[17] = 0;
    labels[3] = -2;
    CHECK_THROWS_WITH(policy.plan(labels, mixed_classes, gen),
                      "labels[3] = -2 is not a class id: expected 0 <= label < 6");
    CHECK_THROWS_AS(policy.plan(labels, 0, gen), tpt::config_error);
  }
  SECTION("an empty dataset") {
    const auto policy = policy_for_mixed_labels<TestType>();
    tpt::rng gen(1);
    const std::vector<std::int64_t> none;
    if constexpr (std::is_same_v<TestType, tpt::per_class_targets<tpt::target_map>>) {
      // Explicit targets for classes that have no examples cannot be met: an error, not a guess.
      CHECK_THROWS_WITH(policy.plan(none, mixed_classes, gen),
                        "option 'targets': class 0 has no examples, so it cannot be sampled to 100");
    } else {
      const auto plan = policy.plan(none, mixed_classes, gen);
      CHECK(plan.empty());
      CHECK(plan.before == std::vector<std::int64_t>(mixed_classes, 0));
      CHECK(plan.after == std::vector<std::int64_t>(mixed_classes, 0));
    }
  }
  SECTION("drawn once or every epoch") {
    const auto policy = policy_for_mixed_labels<TestType>();
    const auto labels = mixed_labels();
    const auto epoch0 = tpt::plan_epoch(policy, labels, mixed_classes, 7, 0);
    bool any_differs = false;
    for (std::int64_t epoch = 1; epoch < 5; ++epoch) {
      const auto later = tpt::plan_epoch(policy, labels, mixed_classes, 7, epoch);
      CHECK(later.after == epoch0.after);  // the counts are the policy's; only the draws move
      any_differs = any_differs || later.indices != epoch0.indices;
    }
    if constexpr (tpt::redraws_every_epoch_v<TestType>) {
      CHECK(any_differs);
    } else {
      CHECK_FALSE(any_differs);
    }
    // The plan drawn once is the plan of the generator plan_seed gives.
    tpt::rng gen(tpt::plan_seed<TestType>(7, 0));
    CHECK(policy.plan(labels, mixed_classes, gen) == epoch0);
    CHECK_THROWS_WITH(tpt::plan_epoch(policy, labels, mixed_classes, 7, -1),
                      "option 'epoch': epochs count from 0, got -1");
  }
}
