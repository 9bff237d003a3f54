// ROS&RUS(15K): phase 1 on oversampling by the paper's tiers and then undersampling at 15,000
// (both scaled), a sampler composed at compile time; phase 2 retrains the classifier alone.
#include "paper_models.hpp"

namespace tpt::examples {

using ros_rus_trainer = two_phase<ResNet, composed<random_oversample, random_undersample>, freeze_all_but_classifier,
                                  fixed_schedule, classification_metrics, loss_choice>;

std::vector<experiment_record> run_ros_rus_15k(const prepared_data& d, const experiment_options& o, std::uint64_t seed,
                                               const std::string& loss) {
  return run_paper_model<ros_rus_trainer>(paper_model::ros_rus_15k, presets::ros_rus_15k(d.preset_scale), d, o, seed,
                                          loss);
}

}  // namespace tpt::examples
