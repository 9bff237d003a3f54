// Compiled by tests/support/concept_check.cmake once per TPT_CASE: "good" must compile; every other
// case is a type that is not a tpt::sampler and must stop compilation with one error naming the
// concept. No <torch/torch.h> here: the sampling headers do not need it, and each case
// compiles in about a second.
#include <cstdint>
#include <span>
#include <vector>

#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/sampler.hpp"

namespace {

struct good {
  tpt::sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                          tpt::rng&) const {
    std::vector<std::int64_t> all(labels.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::int64_t>(i);
    return tpt::make_plan(labels, num_classes, std::move(all));
  }
};

struct no_plan {
  int size = 0;
};

struct returns_indices_only {
  std::vector<std::int64_t> plan(std::span<const std::int64_t>, std::int64_t, tpt::rng&) const {
    return {};
  }
};

struct plan_not_const {
  tpt::sampling_plan plan(std::span<const std::int64_t>, std::int64_t, tpt::rng&) { return {}; }
};

struct takes_a_seed_not_a_generator {
  tpt::sampling_plan plan(std::span<const std::int64_t>, std::int64_t, std::uint64_t) const {
    return {};
  }
};

}  // namespace

int main() {
  const std::vector<std::int64_t> labels{0, 1, 1};
#if TPT_CASE_good
  auto plan = tpt::plan_epoch(tpt::compose(good{}, tpt::every_epoch(good{})), labels, 2, 1, 0);
#elif TPT_CASE_no_plan
  auto plan = tpt::plan_epoch(no_plan{}, labels, 2, 1, 0);
#elif TPT_CASE_returns_indices_only
  auto plan = tpt::plan_epoch(returns_indices_only{}, labels, 2, 1, 0);
#elif TPT_CASE_plan_not_const
  auto plan = tpt::plan_epoch(plan_not_const{}, labels, 2, 1, 0);
#elif TPT_CASE_takes_a_seed_not_a_generator
  auto plan = tpt::plan_epoch(takes_a_seed_not_a_generator{}, labels, 2, 1, 0);
#elif TPT_CASE_bad_first_stage_of_compose
  auto plan = tpt::plan_epoch(tpt::compose(no_plan{}, tpt::random_undersample(5)), labels, 2, 1, 0);
#elif TPT_CASE_bad_policy_in_every_epoch
  auto plan = tpt::plan_epoch(tpt::every_epoch(plan_not_const{}), labels, 2, 1, 0);
#else
#error "define TPT_CASE_<name>"
#endif
  return plan.total() == 3 ? 0 : 1;
}
