// RUS: phase 1 on random undersampling of every class above 15,000 images (scaled) to 15,000,
// without replacement; phase 2 retrains the classifier alone on the original data.
#include "paper_models.hpp"

namespace tpt::examples {

using rus_trainer = two_phase<ResNet, random_undersample, freeze_all_but_classifier, fixed_schedule,
                              classification_metrics, loss_choice>;

std::vector<experiment_record> run_rus(const prepared_data& d, const experiment_options& o, std::uint64_t seed,
                                       const std::string& loss) {
  return run_paper_model<rus_trainer>(paper_model::rus, presets::rus(d.preset_scale), d, o, seed, loss);
}

}  // namespace tpt::examples
