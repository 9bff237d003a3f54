// Synthetic experiment records for the report tests: the paper's 52 Serengeti S9 species and
// test-set sizes, with predictions whose quality depends on class frequency, model and seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tpt/core/random.hpp"
#include "tpt/metrics/classification_report.hpp"
#include "tpt/report/experiment_record.hpp"
#include "tpt/report/paper.hpp"

namespace tpt::test {

struct species_set {
  std::vector<std::string> names;
  std::vector<std::int64_t> train, test;
};

inline species_set serengeti() {
  species_set s;
  for (const auto& sp : paper::serengeti_s9_species()) {
    s.names.emplace_back(sp.species);
    s.train.push_back(sp.train);
    s.test.push_back(sp.test);
  }
  return s;
}

/// A small imbalanced problem with user class names.
inline species_set small_set() {
  return {{"gnu", "zebra", "eland", "civet"}, {500, 300, 40, 6}, {50, 30, 8, 2}};
}

/// Test targets in a fixed order (class by class, shuffled with a fixed seed: the same test set
/// for every model).
inline std::vector<std::int64_t> test_targets(const species_set& s, std::uint64_t split_seed = 1) {
  std::vector<std::int64_t> t;
  for (std::size_t c = 0; c < s.test.size(); ++c) t.insert(t.end(), static_cast<std::size_t>(s.test[c]), std::int64_t(c));
  tpt::rng gen(split_seed);
  tpt::shuffle(t, gen);
  return t;
}

/// A model whose chance of a right answer grows with the class's training share; `skill` shifts
/// it for every class (a better model), `rare_boost` for the rare ones (what rebalancing does).
inline experiment_record simulate(const species_set& s, const std::string& model, int phase, std::uint64_t seed,
                                  double skill, double rare_boost, std::uint64_t split_seed = 1) {
  const auto targets = test_targets(s, split_seed);
  tpt::rng gen(tpt::derive_seed(seed, tpt::stream_tag(model), static_cast<std::uint64_t>(phase)));
  double total = 0;
  for (auto n : s.train) total += double(n);
  const auto k = static_cast<std::int64_t>(s.names.size());
  std::vector<std::int64_t> predictions;
  for (auto t : targets) {
    const double share = double(s.train[static_cast<std::size_t>(t)]) / total;
    double p = 0.25 + 0.6 * std::pow(share / 0.3, 0.25) + skill + (share < 0.01 ? rare_boost : 0.0);
    p = std::clamp(p, 0.0, 0.98);
    if (gen.uniform01() < p) {
      predictions.push_back(t);
    } else {
      // mistakes go mostly to the big classes
      const double u = gen.uniform01();
      predictions.push_back(u < 0.6 ? 0 : u < 0.8 ? std::min<std::int64_t>(1, k - 1)
                                                  : static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k))));
    }
  }
  auto report = classification_report::from_predictions(predictions, targets, k);
  return make_experiment_record(model, phase, seed, s.names, s.train, std::move(report), predictions, targets);
}

/// The paper's five models (baseline single-phase), with made-up but plausible skills.
inline std::vector<experiment_record> paper_models(const species_set& s, std::vector<std::uint64_t> seeds) {
  std::vector<experiment_record> out;
  for (auto seed : seeds) {
    out.push_back(simulate(s, "baseline", 1, seed, 0.0, 0.0));
    out.push_back(simulate(s, "ROS", 1, seed, -0.02, 0.10));
    out.push_back(simulate(s, "ROS", 2, seed, 0.0, 0.08));
    out.push_back(simulate(s, "RUS", 1, seed, -0.05, 0.05));
    out.push_back(simulate(s, "RUS", 2, seed, 0.01, 0.12));
    out.push_back(simulate(s, "ROS&RUS(15K)", 1, seed, -0.01, 0.10));
    out.push_back(simulate(s, "ROS&RUS(15K)", 2, seed, 0.0, 0.09));
    out.push_back(simulate(s, "ROS&RUS(5K)", 1, seed, -0.10, 0.15));
    out.push_back(simulate(s, "ROS&RUS(5K)", 2, seed, -0.01, 0.10));
  }
  return out;
}

}  // namespace tpt::test
