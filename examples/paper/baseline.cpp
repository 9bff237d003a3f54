// The paper's baseline: ResNet-18 trained once on the original, imbalanced data (no resampling,
// no phase 2). The same trainer template, with the identity sampler and no phase-2 epochs.
#include "paper_models.hpp"

namespace tpt::examples {

using baseline_trainer = two_phase<ResNet, identity_sampler, freeze_all_but_classifier, fixed_schedule,
                                   classification_metrics, loss_choice>;

std::vector<experiment_record> run_baseline(const prepared_data& d, const experiment_options& o, std::uint64_t seed,
                                            const std::string& loss) {
  return run_paper_model<baseline_trainer>(paper_model::baseline, presets::baseline(), d, o, seed, loss);
}

}  // namespace tpt::examples
