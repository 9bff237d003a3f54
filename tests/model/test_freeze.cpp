// tpt/freeze/: what each freezer trains, and that phase 2 never moves a frozen weight or a frozen
// BatchNorm statistic (the paper's Keras semantics), unless asked to (cRT).
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "model_test_support.hpp"
#include "tpt/freeze/freezer.hpp"
#include "tpt/freeze/policies.hpp"
#include "tpt/model/resnet.hpp"

using tpt::test::TinyNet;

static_assert(tpt::freezer<tpt::freeze_nothing, tpt::ResNet>);
static_assert(tpt::freezer<tpt::freeze_all_but_classifier, tpt::ResNet>);
static_assert(tpt::freezer<tpt::freeze_up_to, tpt::ResNet>);
static_assert(tpt::freezer<tpt::freeze_all_but_classifier, TinyNet>);
static_assert(tpt::freezer<tpt::freeze_up_to, TinyNet>);
static_assert(!tpt::freezer<int, tpt::ResNet>);
static_assert(!tpt::freezer<tpt::freeze_nothing, torch::nn::Linear>);  // not a classifier_model

namespace {

// A policy missing classifier_only() is not a freezer.
struct half_a_freezer {
  void apply(tpt::ResNet&) const {}
  void train(tpt::ResNet&) const {}
};
static_assert(!tpt::freezer<half_a_freezer, tpt::ResNet>);

// A model that forgot to register its classifier.
struct StrayImpl : torch::nn::Module {
  torch::nn::Linear head{4, 2};
  torch::Tensor features(const torch::Tensor& x) { return x; }
  torch::Tensor forward(const torch::Tensor& x) { return head(x); }
  torch::nn::Linear classifier() { return head; }
};
TORCH_MODULE(Stray);

std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out.emplace(p.key(), p.value().detach().clone());
  for (const auto& b : m.named_buffers()) out.emplace(b.key(), b.value().clone());
  return out;
}

// Running statistics that differ from the initial 0/1, as after phase 1.
void give_statistics(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (const auto& b : m.named_buffers()) {
    if (b.key().ends_with("running_mean")) b.value().normal_(0.0, 0.2);
    if (b.key().ends_with("running_var")) b.value().uniform_(0.5, 2.0);
    if (b.key().ends_with("num_batches_tracked")) b.value().fill_(100);
  }
}

// Some phase-2 steps in training mode: Adam (with weight decay, which would move any frozen
// weight it could reach) over the trainable parameters only.
template <class Freezer, class Model>
void phase2_steps(const Freezer& freezer, Model& model, int steps, std::int64_t classes) {
  freezer.apply(model);
  freezer.train(model);
  torch::optim::Adam optimizer(tpt::trainable_parameters(model), torch::optim::AdamOptions(1e-2).weight_decay(1e-4));
  for (int i = 0; i < steps; ++i) {
    const auto x = torch::randn({8, 3, 32, 32});
    const auto y = torch::randint(classes, {8}, torch::kLong);
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    optimizer.step();
  }
}

bool in(const std::string& name, const std::vector<std::string>& scopes) {
  for (const auto& s : scopes)
    if (name.starts_with(s + ".")) return true;
  return false;
}

}  // namespace

TEST_CASE("trainable parameter counts after each freezer", "[freeze]") {
  auto model = tpt::resnet18({.num_classes = 52});
  tpt::freeze_all_but_classifier{}.apply(model);
  CHECK(tpt::count_parameters(model).trainable == 26'676);  // the paper's 512 x 52 + 52
  CHECK(tpt::count_parameters(model).total == 11'203'188);
  const auto trainable = tpt::trainable_parameters(model);
  REQUIRE(trainable.size() == 2);
  CHECK(trainable[0].is_same(model->fc->weight));
  CHECK(trainable[1].is_same(model->fc->bias));

  tpt::freeze_up_to{.first_trainable = "layer4"}.apply(model);
  CHECK(tpt::count_parameters(model).trainable == 8'420'404);  // torchvision: layer4 + fc
  tpt::freeze_up_to{.first_trainable = "layer4.1"}.apply(model);
  CHECK(tpt::count_parameters(model).trainable == 4'747'316);  // layer4.1 + fc
  CHECK_FALSE(model->layer4->named_parameters()["0.conv1.weight"].requires_grad());
  CHECK(model->layer4->named_parameters()["1.conv1.weight"].requires_grad());

  // Applying a policy sets every flag, so a later one undoes an earlier one.
  tpt::freeze_nothing{}.apply(model);
  CHECK(tpt::count_parameters(model).trainable == 11'203'188);
  CHECK(tpt::trainable_parameters(model).size() == 62);
}

TEST_CASE("freezers say whether only the classifier trains", "[freeze]") {
  CHECK_FALSE(tpt::freeze_nothing{}.classifier_only());
  CHECK(tpt::freeze_all_but_classifier{}.classifier_only());
  CHECK_FALSE(tpt::freeze_all_but_classifier{.batchnorm = tpt::batchnorm_statistics::updating}.classifier_only());
  CHECK_FALSE(tpt::freeze_up_to{.first_trainable = "layer4"}.classifier_only());
  CHECK(fmt::format("{}", tpt::freeze_all_but_classifier{}) ==
        "freeze all but the classifier (BatchNorm statistics frozen)");
  CHECK(fmt::format("{}", tpt::freeze_up_to{"layer4", tpt::batchnorm_statistics::updating}) ==
        "freeze up to layer4 (BatchNorm statistics updating)");
  CHECK(fmt::format("{}", tpt::freeze_nothing{}) == "freeze nothing");
}

TEST_CASE("train() keeps frozen BatchNorm layers in inference mode", "[freeze]") {
  auto model = tpt::resnet18({.num_classes = 5, .stem = tpt::resnet_stem::small_image});
  model->eval();
  tpt::freeze_up_to f{.first_trainable = "layer4"};
  f.apply(model);
  f.train(model);
  CHECK(model->is_training());
  for (const auto& m : model->named_modules("", false)) {
    INFO(m.key());
    if (m.value()->as<torch::nn::BatchNorm2d>()) CHECK(m.value()->is_training() == m.key().starts_with("layer4."));
    else CHECK(m.value()->is_training());
  }

  tpt::freeze_all_but_classifier{}.train(model);
  for (const auto& m : model->named_modules("", false))
    if (m.value()->as<torch::nn::BatchNorm2d>()) CHECK_FALSE(m.value()->is_training());
  CHECK(model->fc->is_training());

  tpt::freeze_all_but_classifier{.batchnorm = tpt::batchnorm_statistics::updating}.train(model);
  for (const auto& m : model->modules(false)) CHECK(m->is_training());
  tpt::freeze_nothing{}.train(model);
  for (const auto& m : model->modules(false)) CHECK(m->is_training());
}

TEST_CASE("phase-2 steps leave frozen weights and BatchNorm buffers bit-identical", "[freeze]") {
  torch::manual_seed(21);
  auto model = tpt::resnet18({.num_classes = 5, .stem = tpt::resnet_stem::small_image});
  give_statistics(*model);
  const auto before = snapshot(*model);
  phase2_steps(tpt::freeze_all_but_classifier{}, model, 3, 5);

  for (const auto& [name, value] : snapshot(*model)) {
    INFO(name);
    if (name.starts_with("fc.")) CHECK_FALSE(torch::equal(value, before.at(name)));  // the classifier learns
    else CHECK(torch::equal(value, before.at(name)));  // running_mean/var, num_batches_tracked included
  }
}

TEST_CASE("freezing up to layer4 trains layer4 and its BatchNorm, nothing before", "[freeze]") {
  torch::manual_seed(22);
  auto model = tpt::resnet18({.num_classes = 5, .stem = tpt::resnet_stem::small_image});
  give_statistics(*model);
  const auto before = snapshot(*model);
  phase2_steps(tpt::freeze_up_to{.first_trainable = "layer4"}, model, 3, 5);

  int changed = 0;
  for (const auto& [name, value] : snapshot(*model)) {
    INFO(name);
    if (in(name, {"layer4", "fc"})) {
      CHECK_FALSE(torch::equal(value, before.at(name)));
      ++changed;
    } else {
      CHECK(torch::equal(value, before.at(name)));
    }
  }
  // layer4.0: 3 convolutions + 3 BatchNorms of 5 entries; layer4.1: 2 + 2 x 5; fc: 2.
  CHECK(changed == (3 + 3 * 5) + (2 + 2 * 5) + 2);
}

TEST_CASE("updating BatchNorm statistics (cRT) moves running statistics, not frozen weights", "[freeze]") {
  torch::manual_seed(23);
  auto model = tpt::resnet18({.num_classes = 5, .stem = tpt::resnet_stem::small_image});
  give_statistics(*model);
  const auto before = snapshot(*model);
  phase2_steps(tpt::freeze_all_but_classifier{.batchnorm = tpt::batchnorm_statistics::updating}, model, 3, 5);

  int moved = 0;
  for (const auto& [name, value] : snapshot(*model)) {
    INFO(name);
    if (name.ends_with("running_mean") || name.ends_with("running_var")) {
      CHECK_FALSE(torch::equal(value, before.at(name)));
      ++moved;
    } else if (name.ends_with("num_batches_tracked")) {
      CHECK(value.item<std::int64_t>() == 103);
    } else if (name.starts_with("fc.")) {
      CHECK_FALSE(torch::equal(value, before.at(name)));
    } else {
      CHECK(torch::equal(value, before.at(name)));  // BatchNorm weight and bias stay frozen
    }
  }
  CHECK(moved == 2 * 20);
}

TEST_CASE("with classifier_only the backbone is a fixed function in training mode", "[freeze]") {
  // The condition for the trainer's fast path: features computed once equal those of any epoch.
  torch::manual_seed(24);
  auto model = tpt::resnet18({.num_classes = 5, .stem = tpt::resnet_stem::small_image});
  give_statistics(*model);
  const auto x = torch::randn({4, 3, 32, 32});
  torch::NoGradGuard no_grad;
  model->eval();
  const auto reference = model->features(x);

  tpt::freeze_all_but_classifier frozen;
  REQUIRE(frozen.classifier_only());
  frozen.apply(model);
  frozen.train(model);
  CHECK(torch::equal(model->features(x), reference));
  CHECK(torch::equal(model->features(x), reference));  // and it stays so: no statistic moved

  tpt::freeze_all_but_classifier updating{.batchnorm = tpt::batchnorm_statistics::updating};
  REQUIRE_FALSE(updating.classifier_only());
  updating.train(model);
  CHECK_FALSE(torch::equal(model->features(x), reference));
}

TEST_CASE("a user-defined model works with every freezer through its classifier hook", "[freeze][user-model]") {
  torch::manual_seed(25);
  TinyNet model(3);
  CHECK(tpt::classifier_name(model) == "head");
  give_statistics(*model);
  const auto before = snapshot(*model);

  tpt::freeze_all_but_classifier f;
  phase2_steps(f, model, 2, 3);
  CHECK(tpt::count_parameters(model).trainable == 16 * 3 + 3);
  CHECK_FALSE(model->norm->is_training());
  CHECK_FALSE(model->mixer_norm->is_training());
  for (const auto& [name, value] : snapshot(*model)) {
    INFO(name);
    CHECK(torch::equal(value, before.at(name)) == !name.starts_with("head."));
  }

  tpt::freeze_up_to up{.first_trainable = "mixer"};
  up.apply(model);
  up.train(model);
  CHECK(tpt::count_parameters(model).trainable == (8 * 16 * 9 + 16) + 2 * 16 + (16 * 3 + 3));
  CHECK_FALSE(model->norm->is_training());
  CHECK(model->mixer_norm->is_training());

  tpt::freeze_nothing{}.apply(model);
  CHECK(tpt::count_parameters(model).trainable == tpt::count_parameters(model).total);
}

TEST_CASE("freezer mistakes are named", "[freeze][errors]") {
  auto model = tpt::resnet18({.num_classes = 5});
  CHECK_THROWS_WITH(tpt::freeze_up_to{.first_trainable = "layer5"}.apply(model),
                    Catch::Contains("first_trainable") && Catch::Contains("no module 'layer5'") &&
                        Catch::Contains("conv1, bn1, layer1, layer2, layer3, layer4, fc"));
  CHECK_THROWS_AS(tpt::freeze_up_to{}.apply(model), tpt::config_error);

  // A classifier that is not registered cannot be found, so nothing could train it.
  Stray stray;
  static_assert(tpt::classifier_model<Stray>);
  CHECK_THROWS_WITH(tpt::freeze_all_but_classifier{}.apply(stray), Catch::Contains("register_module"));
}
