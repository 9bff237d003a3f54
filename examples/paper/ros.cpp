// ROS: phase 1 on random oversampling (x10 below 100 images, x8 below 500, x6 below 1,000, x4
// below 5,000, capped at 5,000; thresholds scaled to the dataset), phase 2 retrains the
// classifier alone on the original data.
#include "paper_models.hpp"

namespace tpt::examples {

using ros_trainer = two_phase<ResNet, random_oversample, freeze_all_but_classifier, fixed_schedule,
                              classification_metrics, loss_choice>;

std::vector<experiment_record> run_ros(const prepared_data& d, const experiment_options& o, std::uint64_t seed,
                                       const std::string& loss) {
  return run_paper_model<ros_trainer>(paper_model::ros, presets::ros(d.preset_scale), d, o, seed, loss);
}

}  // namespace tpt::examples
