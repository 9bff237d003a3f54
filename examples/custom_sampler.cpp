// A custom sampling policy in about 20 lines, run through the same code path as the built-in
// ones: plan_epoch (draw once or every epoch, plan checks), composition with a built-in policy,
// and the same report. The policy is square-root sampling (Mahajan et al. 2018): a class of n
// examples gets round(sqrt(n x largest)) entries, so the tail grows and the head keeps its size.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/presets.hpp"
#include "tpt/sampling/report.hpp"
#include "tpt/sampling/sampler.hpp"

// ---- the whole policy ------------------------------------------------------------------------
struct square_root_sampling {
  tpt::sampling_plan plan(std::span<const std::int64_t> labels, std::int64_t num_classes,
                          tpt::rng& gen) const {
    const auto before = tpt::count_classes(labels, num_classes);  // also checks every label
    const double largest = static_cast<double>(*std::max_element(before.begin(), before.end()));
    std::vector<std::vector<std::int64_t>> members(before.size());
    for (std::size_t i = 0; i < labels.size(); ++i)
      members[static_cast<std::size_t>(labels[i])].push_back(static_cast<std::int64_t>(i));
    std::vector<std::int64_t> indices;
    for (const auto& m : members) {
      const auto target = std::llround(std::sqrt(static_cast<double>(m.size()) * largest));
      indices.insert(indices.end(), m.begin(), m.end());  // every original once...
      for (auto k = static_cast<long long>(m.size()); k < target; ++k)  // ...plus random copies
        indices.push_back(m[gen.uniform_index(m.size())]);
    }
    return tpt::make_plan(labels, num_classes, std::move(indices));
  }
};
static_assert(tpt::sampler<square_root_sampling>);
// ----------------------------------------------------------------------------------------------

int main() {
  const tpt::class_distribution s9 = tpt::serengeti_s9();
  const std::vector<std::int64_t> labels = tpt::labels_from_counts(s9.counts);
  const std::uint64_t seed = 42;

  // What a trainer does each phase-1 epoch.
  const tpt::sampling_plan plan = tpt::plan_epoch(square_root_sampling{}, labels, s9.num_classes(), seed, 0);
  tpt::plan_report report = tpt::describe_plan(plan, labels, s9.classes, "square-root sampling on " + s9.name);
  report.sort_by_size();
  fmt::print("{}\n", report);

  // It composes with the built-ins (here: then the paper's RUS at 15,000) and can be redrawn
  // every epoch, like any policy.
  const auto then_rus = tpt::compose(square_root_sampling{}, tpt::presets::rus());
  const auto composed_plan = tpt::plan_epoch(then_rus, labels, s9.num_classes(), seed, 0);
  const auto redrawn = tpt::every_epoch(square_root_sampling{});
  const bool moves = tpt::plan_epoch(redrawn, labels, s9.num_classes(), seed, 0).indices !=
                     tpt::plan_epoch(redrawn, labels, s9.num_classes(), seed, 1).indices;
  fmt::print("then RUS(15K): {}\n", composed_plan);
  fmt::print("redrawn every epoch: epoch 0 and epoch 1 plans {}\n", moves ? "differ" : "are equal");
  fmt::print("summary: square-root sampling on {}: {}\n", s9.name, plan);
  return 0;
}
