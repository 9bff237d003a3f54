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
struct metric_without_class_count_constructor {  // a metric, but not one made from a class count
  void reset() {}
  void update(const torch::Tensor&, const torch::Tensor&) {}
  [[nodiscard]] tpt::metric_scalars scalars() const { return {}; }
};
struct misspelt_hook {  // on_epoch_ended is no hook: the trainer would never call it
  void on_epoch_ended(const tpt::epoch_end_event&) {}
};
struct hook_taking_a_mutable_event {  // on_epoch_end declared, but not callable with a const event
  void on_epoch_end(tpt::epoch_end_event&) {}
};
tpt::labelled_images<tpt::data::tensor_image_store> tiny_split() {
  return {tpt::data::tensor_image_store(torch::zeros({4, 3, 8, 8}, torch::kUInt8)), {0, 1, 2, 0}};
}
}  // namespace

int main() {
  using namespace tpt;
#if TPT_CASE_good
  two_phase<ResNet, identity_sampler> trainer(resnet18({.num_classes = 3}));
  if (false) trainer.fit(tiny_split(), tiny_split(), progress_bar{});
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
#elif TPT_CASE_trainer_with_a_module_not_its_holder
  two_phase<ResNetImpl> trainer(ResNetImpl({2, 2, 2, 2}, resnet_options{.num_classes = 3}));
#elif TPT_CASE_trainer_with_a_metric_not_made_from_the_class_count
  two_phase<ResNet, identity_sampler, freeze_all_but_classifier, fixed_schedule, metric_without_class_count_constructor>
      trainer(resnet18({.num_classes = 3}));
#elif TPT_CASE_callback_with_a_misspelt_hook
  two_phase<ResNet, identity_sampler> trainer(resnet18({.num_classes = 3}));
  trainer.fit(tiny_split(), tiny_split(), misspelt_hook{});
#elif TPT_CASE_callback_with_a_hook_taking_a_mutable_event
  two_phase<ResNet, identity_sampler> trainer(resnet18({.num_classes = 3}));
  trainer.fit(tiny_split(), tiny_split(), hook_taking_a_mutable_event{});
#elif TPT_CASE_callback_passed_const_with_a_non_const_hook
  two_phase<ResNet, identity_sampler> trainer(resnet18({.num_classes = 3}));
  const progress_bar bar;
  trainer.fit(tiny_split(), tiny_split(), bar);
#endif
  (void)trainer;
}
