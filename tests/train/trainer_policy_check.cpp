// Compiled by tests/support/concept_check.cmake: the two-phase trainer given a type that
// does not satisfy one of its policy concepts stops with exactly one error naming that concept
// ("good" must compile). Includes <torch/torch.h>, so each case takes about 15 s.
#include "tpt/model/resnet.hpp"
#include "tpt/train/two_phase.hpp"

namespace {
struct not_a_sampler {
  int size = 0;
};
struct freezer_without_classifier_only {  // apply and train, but no classifier_only()
  void apply(tpt::ResNet&) {}
  void train(tpt::ResNet&) {}
};
struct schedule_without_augment {  // misses augment(phase)
  [[nodiscard]] std::int64_t epochs(int) const { return 1; }
  [[nodiscard]] std::int64_t batch_size(int) const { return 8; }
  [[nodiscard]] double learning_rate(int, std::int64_t) const { return 1e-3; }
  [[nodiscard]] tpt::early_stopping stopping(int) const { return {}; }
  [[nodiscard]] double weight_decay(int) const { return 0; }
};
struct metric_without_scalars {  // reset and update, but nothing to report
  explicit metric_without_scalars(std::int64_t) {}
  void reset() {}
  void update(const torch::Tensor&, const torch::Tensor&) {}
};
struct loss_without_name {
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets) const {
    return torch::nn::functional::cross_entropy(logits, targets);
  }
};
struct plainImpl : torch::nn::Module {  // a module without the features()/classifier() hook
  torch::Tensor forward(const torch::Tensor& x) { return x; }
};
TORCH_MODULE(plain);
}  // namespace

int main() {
  using namespace tpt;
#if TPT_CASE_good
  two_phase<ResNet, identity_sampler> trainer(resnet18({.num_classes = 3}));
#elif TPT_CASE_trainer_with_a_non_sampler
  two_phase<ResNet, not_a_sampler> trainer(resnet18({.num_classes = 3}));
#elif TPT_CASE_trainer_with_a_non_freezer
  two_phase<ResNet, identity_sampler, freezer_without_classifier_only> trainer(resnet18({.num_classes = 3}));
#elif TPT_CASE_trainer_with_a_non_schedule
  two_phase<ResNet, identity_sampler, freeze_all_but_classifier, schedule_without_augment> trainer(
      resnet18({.num_classes = 3}), identity_sampler{}, freeze_all_but_classifier{}, schedule_without_augment{});
#elif TPT_CASE_trainer_with_a_non_metric
  two_phase<ResNet, identity_sampler, freeze_all_but_classifier, fixed_schedule, metric_without_scalars> trainer(
      resnet18({.num_classes = 3}));
#elif TPT_CASE_trainer_with_a_non_loss
  two_phase<ResNet, identity_sampler, freeze_all_but_classifier, fixed_schedule, classification_metrics,
            loss_without_name>
      trainer(resnet18({.num_classes = 3}));
#elif TPT_CASE_trainer_with_a_non_model
  two_phase<plain> trainer(plain{});
#endif
  (void)trainer;
}
