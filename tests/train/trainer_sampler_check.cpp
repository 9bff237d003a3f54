// Compiled by tests/sampling/sampler_concept_check.cmake: the two-phase trainer given a type
// that is not a tpt::sampler stops with one error naming the concept, as plan_epoch does ("good"
// must compile). Includes <torch/torch.h>, so one case only: about 15 s each.
#include "tpt/model/resnet.hpp"
#include "tpt/train/two_phase.hpp"

namespace {
struct not_a_sampler {
  int size = 0;
};
}  // namespace

int main() {
#if TPT_CASE_good
  tpt::two_phase<tpt::ResNet, tpt::identity_sampler> trainer(tpt::resnet18({.num_classes = 3}));
#elif TPT_CASE_trainer_with_a_non_sampler
  tpt::two_phase<tpt::ResNet, not_a_sampler> trainer(tpt::resnet18({.num_classes = 3}));
#endif
  (void)trainer;
}
