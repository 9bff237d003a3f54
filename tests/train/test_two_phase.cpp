// The two-phase trainer on small synthetic images: phases, early stopping and best-weight
// restore, resume equals an uninterrupted run, the phase-2 fast path equals the plain path,
// divergence, callbacks and bad input.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <sys/resource.h>

#include "tpt/model/weights.hpp"
#include "tpt/train/callbacks.hpp"
#include "tpt/train/two_phase.hpp"
#include "tpt_test_support.hpp"

namespace {

constexpr std::int64_t classes = 3;
constexpr std::int64_t side = 8;

/// Grey 8x8 images whose class is visible: class c lights up row band c. Imbalanced 24/8/4.
tpt::labelled_images<tpt::data::tensor_image_store> synthetic(std::uint64_t seed, std::vector<std::int64_t> counts = {24, 8, 4}) {
  torch::manual_seed(static_cast<std::int64_t>(seed));
  std::vector<std::int64_t> labels;
  for (std::int64_t c = 0; c < classes; ++c)
    for (std::int64_t i = 0; i < counts[static_cast<std::size_t>(c)]; ++i) labels.push_back(c);
  auto images = torch::randint(0, 60, {static_cast<std::int64_t>(labels.size()), side, side}, torch::kUInt8);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto c = labels[i];
    images[static_cast<std::int64_t>(i)].slice(0, c * 2 + 1, c * 2 + 3).fill_(220);
  }
  return {tpt::data::tensor_image_store(images), labels};
}

tpt::ResNet small_model(std::uint64_t seed = 1) {
  torch::manual_seed(static_cast<std::int64_t>(seed));
  return tpt::resnet18({.num_classes = classes, .in_channels = 1, .stem = tpt::resnet_stem::small_image});
}

tpt::trainer_options options(std::uint64_t seed = 7) {
  tpt::trainer_options o;
  o.seed = seed;
  o.augment.height = side;
  o.augment.width = side;
  o.augment.mean = {0.5f};
  o.augment.std = {0.25f};
  o.augment.eval_crop_fraction = 1.0;
  o.augment.crop.scale_min = 0.6;
  o.eval_batch_size = 16;
  return o;
}

tpt::fixed_schedule schedule(std::int64_t epochs1, std::int64_t epochs2, std::int64_t patience = 0,
                             bool restore_best = true) {
  tpt::phase_settings p1, p2;
  p1.epochs = epochs1;
  p1.batch_size = 8;
  p1.stop.patience = patience;
  p1.stop.restore_best = restore_best;
  p2.epochs = epochs2;
  p2.batch_size = 8;
  p2.augment = false;
  p2.stop.patience = patience;
  p2.stop.restore_best = restore_best;
  return tpt::fixed_schedule(p1, p2);
}

using trainer = tpt::two_phase<tpt::ResNet, tpt::random_oversample>;

trainer make_trainer(tpt::fixed_schedule s, tpt::trainer_options o = options()) {
  tpt::random_oversample::options ros;
  ros.tiers = {{10, 3}, {30, 2}};  // 4 -> 12, 8 -> 24, 24 -> 48 (2x below 30)
  ros.cap = 30;
  return trainer(small_model(), tpt::random_oversample(ros), tpt::freeze_all_but_classifier{}, s, tpt::cross_entropy{}, o);
}

std::vector<torch::Tensor> weights_of(const torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
  for (const auto& b : m.buffers()) out.push_back(b.detach().clone());
  return out;
}

bool identical(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

/// Records every hook call (by event) so tests can check what the trainer reported.
struct recorder {
  std::vector<tpt::phase_begin_event> phases;
  std::vector<tpt::epoch_end_event> epochs;
  std::vector<tpt::phase_end_event> ends;
  std::int64_t batches = 0;
  int fit_begins = 0, fit_ends = 0;
  void on_fit_begin(const tpt::fit_begin_event&) { ++fit_begins; }
  void on_phase_begin(const tpt::phase_begin_event& e) { phases.push_back(e); }
  void on_batch_end(const tpt::batch_end_event&) { ++batches; }
  void on_epoch_end(const tpt::epoch_end_event& e) { epochs.push_back(e); }
  void on_phase_end(const tpt::phase_end_event& e) { ends.push_back(e); }
  void on_fit_end(const tpt::fit_end_event&) { ++fit_ends; }
};

/// A Metric reporting a scripted "score" per validation pass: drives early stopping exactly.
struct scripted_metric {
  std::shared_ptr<std::vector<double>> script;
  std::shared_ptr<std::size_t> calls = std::make_shared<std::size_t>(0);
  double current = 0;
  void reset() { current = (*script)[std::min(*calls, script->size() - 1)]; ++*calls; }
  void update(const torch::Tensor&, const torch::Tensor&) {}
  [[nodiscard]] tpt::metric_scalars scalars() const { return {{"score", current}}; }
  [[nodiscard]] bool higher_is_better(std::string_view) const { return true; }
};

/// Keeps the weights as they were at the end of epoch 1 (a callback taking the trainer too).
struct keep_epoch_1 {
  std::vector<torch::Tensor>* out;
  template <class Trainer>
  void on_epoch_end(const tpt::epoch_end_event& e, Trainer& tr) {
    if (e.epoch == 1) *out = weights_of(*tr.model());
  }
};

}  // namespace

static_assert(tpt::metric<scripted_metric>);

TEST_CASE("two_phase trains phase 1 on the plan and phase 2 on the original data, classifier only", "[trainer]") {
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});
  auto t = make_trainer(schedule(2, 2));
  recorder rec;
  std::vector<torch::Tensor> after_phase1;
  struct snapshot_after_phase1 {
    std::vector<torch::Tensor>* out;
    void on_phase_end(const tpt::phase_end_event& e, trainer& tr) {
      if (e.phase == 1) *out = weights_of(*tr.model());
    }
  } snap{&after_phase1};
  const auto result = t.fit(train, val, rec, snap);

  REQUIRE(result.phase1);
  REQUIRE(result.phase2);
  CHECK(result.phase1->class_counts == std::vector<std::int64_t>{30, 24, 12});  // cap 30; 8 x3; 4 x3
  CHECK(result.phase1->examples_per_epoch == 66);
  CHECK(result.phase2->class_counts == std::vector<std::int64_t>{24, 8, 4});
  CHECK(result.phase2->examples_per_epoch == 36);
  CHECK(result.phase2->fast_path);
  REQUIRE(rec.phases.size() == 2);
  CHECK(rec.phases[0].trainable_parameters == tpt::count_parameters(t.model()).total);
  CHECK(rec.phases[1].trainable_parameters == 512 * classes + classes);
  CHECK(rec.epochs.size() == 4);
  CHECK(rec.batches == 2 * 9 + 2 * 5);  // ceil(66/8) and ceil(36/8) per epoch
  CHECK(rec.fit_begins == 1);
  CHECK(rec.fit_ends == 1);
  for (const auto& e : rec.epochs) {
    CHECK(std::isfinite(e.train_loss));
    CHECK(e.validation.count("macro_f1") == 1);
    CHECK(e.validation.count("loss") == 1);
  }

  // Phase 2 left every frozen weight and BatchNorm statistic of phase 1 untouched.
  const auto now = weights_of(*t.model());
  auto params = t.model()->named_parameters();
  std::size_t i = 0, changed_frozen = 0;
  for (const auto& p : params) {
    const bool is_fc = p.key().rfind("fc.", 0) == 0;
    if (!is_fc && !torch::equal(p.value(), after_phase1[i])) ++changed_frozen;
    ++i;
  }
  CHECK(changed_frozen == 0);
  for (const auto& b : t.model()->buffers()) (void)b;
  CHECK(identical(std::vector<torch::Tensor>(now.begin() + static_cast<std::ptrdiff_t>(params.size()), now.end()),
                  std::vector<torch::Tensor>(after_phase1.begin() + static_cast<std::ptrdiff_t>(params.size()), after_phase1.end())));

  // The model learned the visible pattern.
  const auto ev = t.evaluate(val);
  CHECK(ev.predictions.size() == val.labels.size());
  CHECK(ev.metric.scalars().at("accuracy") > 0.5);
}

TEST_CASE("a schedule without phase-2 epochs is the single-phase baseline", "[trainer]") {
  auto t = tpt::two_phase<tpt::ResNet, tpt::identity_sampler>(small_model(), tpt::identity_sampler{},
                                                              tpt::freeze_all_but_classifier{}, schedule(1, 0),
                                                              tpt::cross_entropy{}, options());
  const auto result = t.fit(synthetic(1), synthetic(2, {6, 3, 3}));
  REQUIRE(result.phase1);
  CHECK_FALSE(result.phase2);
  CHECK(result.phase1->examples_per_epoch == 36);
}

TEST_CASE("early stopping stops after patience epochs and restores the best weights", "[trainer]") {
  auto script = std::make_shared<std::vector<double>>(std::vector<double>{0.5, 0.7, 0.6, 0.65, 0.9});
  auto s = schedule(5, 0, /*patience=*/2);
  s.phase1().stop.monitor = "score";
  tpt::two_phase<tpt::ResNet, tpt::identity_sampler, tpt::freeze_all_but_classifier, tpt::fixed_schedule,
                 scripted_metric>
      t(small_model(), tpt::identity_sampler{}, tpt::freeze_all_but_classifier{}, s, tpt::cross_entropy{},
        scripted_metric{script}, options());
  std::vector<torch::Tensor> best;
  keep_epoch_1 keep{&best};
  recorder rec;
  const auto result = t.fit(synthetic(1), synthetic(2, {6, 3, 3}), keep, rec);
  CHECK(result.phase1->epochs_run == 4);  // epochs 0..3: no gain after epoch 1 for 2 epochs
  CHECK(result.phase1->stopped_early);
  CHECK(result.phase1->best_epoch == 1);
  CHECK(result.phase1->best_value == 0.7);
  CHECK(rec.epochs.back().stop);
  CHECK(rec.epochs[1].improved);
  CHECK_FALSE(rec.epochs[2].improved);
  REQUIRE(rec.ends.size() == 1);
  CHECK(rec.ends[0].restored_best);
  CHECK(identical(weights_of(*t.model()), best));
}

TEST_CASE("resuming from a checkpoint gives the weights of an uninterrupted run", "[trainer]") {
  torch::set_num_threads(1);
  tpt::test::scratch_dir dir;
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});

  auto whole = make_trainer(schedule(3, 2));
  whole.fit(train, val);
  const auto expected = weights_of(*whole.model());

  // Crash after phase 1's second epoch, with a checkpoint written after every epoch.
  struct crash_after {
    int phase;
    std::int64_t epoch;
    void on_epoch_end(const tpt::epoch_end_event& e) {
      if (e.phase == phase && e.epoch == epoch) throw std::runtime_error("simulated crash");
    }
  };
  const auto ckpt = dir / "last.ckpt";
  {
    auto first = make_trainer(schedule(3, 2));
    CHECK_THROWS_WITH(first.fit(train, val, tpt::save_checkpoints(ckpt), crash_after{1, 1}),
                      Catch::Contains("simulated crash"));
  }
  auto second = make_trainer(schedule(3, 2));
  second.resume(ckpt);
  recorder rec;
  // Crash again in phase 2, then finish from there.
  CHECK_THROWS(second.fit(train, val, tpt::save_checkpoints(ckpt), crash_after{2, 0}, rec));
  CHECK(rec.epochs.front().phase == 1);
  CHECK(rec.epochs.front().epoch == 2);  // continued after the checkpoint's epoch
  auto third = make_trainer(schedule(3, 2));
  third.resume(ckpt);
  const auto result = third.fit(train, val, tpt::save_checkpoints(ckpt));
  REQUIRE(result.phase1);
  CHECK(result.phase1->epochs_run == 3);
  CHECK(result.phase2->epochs_run == 2);
  CHECK(identical(weights_of(*third.model()), expected));
}

TEST_CASE("a second fit() starts afresh: no phase-1 result carried over", "[trainer]") {
  torch::set_num_threads(1);
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});
  auto t = make_trainer(schedule(1, 1));
  const auto first = t.fit(train, val);
  REQUIRE(first.phase1);
  t.schedule() = schedule(0, 1);  // phase 2 alone, on the model as it is
  const auto second = t.fit(train, val);
  CHECK_FALSE(second.phase1);
  CHECK(second.phase2);
}

TEST_CASE("resuming works when no best weights are kept (restore_best off)", "[trainer]") {
  torch::set_num_threads(1);
  tpt::test::scratch_dir dir;
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});
  const auto plan = schedule(2, 1, 0, /*restore_best=*/false);
  auto whole = make_trainer(plan);
  whole.fit(train, val);
  const auto ckpt = dir / "last.ckpt";
  {
    struct crash_after_first_epoch {
      void on_epoch_end(const tpt::epoch_end_event& e) {
        if (e.phase == 1 && e.epoch == 0) throw std::runtime_error("simulated crash");
      }
    };
    auto first = make_trainer(plan);
    CHECK_THROWS(first.fit(train, val, tpt::save_checkpoints(ckpt), crash_after_first_epoch{}));
  }
  auto second = make_trainer(plan);
  second.resume(ckpt);
  const auto result = second.fit(train, val);
  REQUIRE(result.phase2);
  CHECK(result.phase2->epochs_run == 1);
  CHECK(identical(weights_of(*second.model()), weights_of(*whole.model())));
}

TEST_CASE("a monitored value of NaN survives a checkpoint (JSON null) and the run resumes", "[trainer]") {
  tpt::test::scratch_dir dir;
  auto script = std::make_shared<std::vector<double>>(std::vector<double>{std::nan(""), std::nan(""), 0.5});
  auto s = schedule(3, 0);
  s.phase1().stop.monitor = "score";
  auto make = [&] {
    return tpt::two_phase<tpt::ResNet, tpt::identity_sampler, tpt::freeze_all_but_classifier, tpt::fixed_schedule,
                          scripted_metric>(small_model(), tpt::identity_sampler{}, tpt::freeze_all_but_classifier{}, s,
                                           tpt::cross_entropy{}, scripted_metric{script}, options());
  };
  struct crash_after_first_epoch {
    void on_epoch_end(const tpt::epoch_end_event& e) {
      if (e.epoch == 0) throw std::runtime_error("simulated crash");
    }
  };
  const auto ckpt = dir / "nan.ckpt";
  {
    auto first = make();
    CHECK_THROWS(first.fit(synthetic(1), synthetic(2), tpt::save_checkpoints(ckpt), crash_after_first_epoch{}));
  }
  auto second = make();
  REQUIRE_NOTHROW(second.resume(ckpt));
  const auto result = second.fit(synthetic(1), synthetic(2));
  REQUIRE(result.phase1);
  CHECK(result.phase1->epochs_run == 3);
}

TEST_CASE("a NaN monitored value is never the best epoch", "[trainer]") {
  // NaN first used to be taken as the best and stay so (nothing compares greater than NaN): the
  // best epoch was 0 and restore_best brought back its weights.
  auto script = std::make_shared<std::vector<double>>(std::vector<double>{std::nan(""), 0.2, 0.9, 0.5});
  auto s = schedule(4, 0);
  s.phase1().stop.monitor = "score";
  s.phase1().stop.patience = 0;
  auto t = tpt::two_phase<tpt::ResNet, tpt::identity_sampler, tpt::freeze_all_but_classifier, tpt::fixed_schedule,
                          scripted_metric>(small_model(), tpt::identity_sampler{}, tpt::freeze_all_but_classifier{}, s,
                                           tpt::cross_entropy{}, scripted_metric{script}, options());
  const auto result = t.fit(synthetic(1), synthetic(2));
  REQUIRE(result.phase1);
  CHECK(result.phase1->epochs_run == 4);
  CHECK(result.phase1->best_epoch == 2);
  CHECK(result.phase1->best_value == 0.9);
}

TEST_CASE("resume refuses another seed, another class count and a corrupt file", "[trainer][errors]") {
  tpt::test::scratch_dir dir;
  const auto ckpt = dir / "c.ckpt";
  auto t = make_trainer(schedule(1, 0));
  t.fit(synthetic(1), synthetic(2, {6, 3, 3}), tpt::save_checkpoints(ckpt));

  auto other_seed = make_trainer(schedule(1, 0), options(99));
  CHECK_THROWS_WITH(other_seed.resume(ckpt), Catch::Contains("seed 7") && Catch::Contains("seed 99"));
  CHECK_THROWS_WITH(make_trainer(schedule(1, 0)).resume(dir / "none.ckpt"), Catch::Contains("no such checkpoint"));
  std::ofstream(dir / "junk.ckpt") << "not a checkpoint";
  CHECK_THROWS_WITH(make_trainer(schedule(1, 0)).resume(dir / "junk.ckpt"), Catch::Contains("junk.ckpt"));
}

TEST_CASE("resume refuses another architecture, stem, schedule or freezer before training anything",
          "[trainer][errors]") {
  tpt::test::scratch_dir dir;
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});
  struct crash_in_phase2 {
    void on_epoch_end(const tpt::epoch_end_event& e) {
      if (e.phase == 2) throw std::runtime_error("simulated crash");
    }
  };
  const auto ckpt = dir / "p2.ckpt";
  {
    auto first = make_trainer(schedule(1, 2));
    CHECK_THROWS(first.fit(train, val, tpt::save_checkpoints(ckpt), crash_in_phase2{}));
  }
  const auto make_with = [&](tpt::ResNet model) {
    return trainer(std::move(model), tpt::random_oversample{}, tpt::freeze_all_but_classifier{}, schedule(1, 2),
                   tpt::cross_entropy{}, options());
  };
  // The ImageNet stem: conv1 is 7x7 over 1 channel; LibTorch alone would load the 3x3 weights into it.
  torch::manual_seed(1);
  auto imagenet_stem = make_with(tpt::resnet18({.num_classes = classes, .in_channels = 1}));
  CHECK_THROWS_WITH(imagenet_stem.resume(ckpt), Catch::Contains("p2.ckpt") && Catch::Contains("another model") &&
                                                    Catch::Contains("'conv1.weight' is [64, 1, 3, 3] in the checkpoint, "
                                                                    "[64, 1, 7, 7] here"));
  auto deeper = make_with(tpt::resnet34({.num_classes = classes, .in_channels = 1, .stem = tpt::resnet_stem::small_image}));
  CHECK_THROWS_WITH(deeper.resume(ckpt), Catch::Contains("'layer1.2.conv1.weight' is missing from the checkpoint"));
  // Another epoch count: the checkpoint's epoch and patience state would mean something else.
  auto longer = make_trainer(schedule(1, 5));
  CHECK_THROWS_WITH(longer.resume(ckpt), Catch::Contains("written for 1 + 2 epochs") && Catch::Contains("has 1 + 5"));
  // Another freezer: refused when its phase starts, naming the checkpoint, not a raw c10::Error.
  auto other_freezer = tpt::two_phase<tpt::ResNet, tpt::random_oversample, tpt::freeze_up_to>(
      small_model(), tpt::random_oversample{}, tpt::freeze_up_to{.first_trainable = "layer4"}, schedule(1, 2),
      tpt::cross_entropy{}, options());
  REQUIRE_NOTHROW(other_freezer.resume(ckpt));
  CHECK_THROWS_AS(other_freezer.fit(train, val), tpt::input_error);
  auto again = tpt::two_phase<tpt::ResNet, tpt::random_oversample, tpt::freeze_up_to>(
      small_model(), tpt::random_oversample{}, tpt::freeze_up_to{.first_trainable = "layer4"}, schedule(1, 2),
      tpt::cross_entropy{}, options());
  again.resume(ckpt);
  CHECK_THROWS_WITH(again.fit(train, val), Catch::Contains("p2.ckpt") && Catch::Contains("freezer"));
  // Given to the model-weights loader (tpt-predict --model), it says what it is.
  auto model = small_model();
  CHECK_THROWS_WITH(tpt::load_weights(model, ckpt),
                    Catch::Contains("p2.ckpt") && Catch::Contains("is a trainer checkpoint") &&
                        Catch::Contains("model.tpt"));
  // The same model, schedule and freezer still resume.
  auto same = make_trainer(schedule(1, 2));
  REQUIRE_NOTHROW(same.resume(ckpt));
  CHECK(same.fit(train, val).phase2->epochs_run == 2);
}

namespace {
// Writes the first epoch's checkpoint; the second runs into a file-size limit of 1 MB, which
// fails writes as a full disk does (EFBIG once SIGXFSZ is ignored).
struct checkpoint_to_full_disk {
  std::filesystem::path file;
  int calls = 0;
  template <class Trainer>
  void on_epoch_end(const tpt::epoch_end_event&, Trainer& trainer) {
    if (calls++ == 0) return trainer.save_checkpoint(file);
    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 1 << 20;
    ::setrlimit(RLIMIT_FSIZE, &small);
    try {
      trainer.save_checkpoint(file);
    } catch (...) {
      ::setrlimit(RLIMIT_FSIZE, &old);
      std::signal(SIGXFSZ, previous_handler);
      throw;
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, previous_handler);
  }
};
}  // namespace

TEST_CASE("a checkpoint that cannot be written (full disk) is an error, not an abort, and the old one stays",
          "[trainer][errors]") {
  tpt::test::scratch_dir dir;
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});
  const auto ckpt = dir / "full.ckpt";
  auto t = make_trainer(schedule(2, 0));
  // LibTorch's stream writer used to throw twice here and call std::terminate.
  CHECK_THROWS_AS(t.fit(train, val, checkpoint_to_full_disk{ckpt}), tpt::input_error);
  REQUIRE(std::filesystem::exists(ckpt));
  std::size_t leftovers = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) leftovers += e.path() != ckpt;
  CHECK(leftovers == 0);  // the temporary file is removed
  auto resumed = make_trainer(schedule(2, 0));
  REQUIRE_NOTHROW(resumed.resume(ckpt));
  CHECK(resumed.fit(train, val).phase1->epochs_run == 2);
}

namespace {
// A user's model with dropout before its head: dropout has to live in features(), since
// classifier() is the Linear layer.
struct DropNetImpl : torch::nn::Module {
  torch::nn::Conv2d conv{torch::nn::Conv2dOptions(1, 4, 3).padding(1)};
  torch::nn::BatchNorm2d bn{4};
  torch::nn::Dropout drop{0.5};
  torch::nn::Linear fc{4, classes};
  DropNetImpl() {
    register_module("conv", conv);
    register_module("bn", bn);
    register_module("drop", drop);
    register_module("fc", fc);
  }
  torch::Tensor features(const torch::Tensor& x) {
    return drop(torch::adaptive_avg_pool2d(torch::relu(bn(conv(x))), {1, 1}).flatten(1));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc(features(x)); }
  torch::nn::Linear classifier() { return fc; }
};
TORCH_MODULE(DropNet);
}  // namespace

TEST_CASE("a model with dropout in its features takes the plain phase-2 path", "[trainer]") {
  // Features computed once would freeze one dropout mask per image for every epoch.
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});
  torch::manual_seed(3);
  tpt::two_phase<DropNet, tpt::identity_sampler> with_dropout(DropNet{}, tpt::identity_sampler{},
                                                              tpt::freeze_all_but_classifier{}, schedule(1, 1),
                                                              tpt::cross_entropy{}, options());
  const auto r = with_dropout.fit(train, val);
  REQUIRE(r.phase2);
  CHECK_FALSE(r.phase2->fast_path);
  with_dropout.freezer().train(with_dropout.model());  // phase 2's training mode: dropout active
  CHECK(tpt::detail::has_active_dropout(*with_dropout.model()));
  with_dropout.model()->eval();
  CHECK_FALSE(tpt::detail::has_active_dropout(*with_dropout.model()));
  // ResNet-18 has none: the fast path stays on.
  CHECK_FALSE(tpt::detail::has_active_dropout(*small_model()));
}

TEST_CASE("the phase-2 fast path trains the same classifier as the plain path", "[trainer]") {
  torch::set_num_threads(1);
  const auto train = synthetic(1), val = synthetic(2, {6, 3, 3});
  auto fast = make_trainer(schedule(1, 3));
  auto plain_options = options();
  plain_options.phase2_fast_path = false;
  auto plain = make_trainer(schedule(1, 3), plain_options);
  const auto rf = fast.fit(train, val);
  const auto rp = plain.fit(train, val);
  CHECK(rf.phase2->fast_path);
  CHECK_FALSE(rp.phase2->fast_path);
  const auto& wf = fast.model()->classifier()->weight;
  const auto& wp = plain.model()->classifier()->weight;
  CHECK(torch::allclose(wf, wp, /*rtol=*/1e-4, /*atol=*/1e-5));
  CHECK(torch::allclose(fast.model()->classifier()->bias, plain.model()->classifier()->bias, 1e-4, 1e-5));
  CHECK(rf.phase2->best_value == Approx(rp.phase2->best_value).margin(1e-9));
}

TEST_CASE("a non-finite loss stops the run and names phase, epoch and batch", "[trainer][errors]") {
  struct explodes_at_batch_3 {
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets) const {
      auto l = torch::nn::functional::cross_entropy(logits, targets);
      return ++*calls == 3 ? l * std::numeric_limits<float>::quiet_NaN() : l;
    }
    [[nodiscard]] std::string name() const { return "explodes"; }
  };
  tpt::two_phase<tpt::ResNet, tpt::identity_sampler, tpt::freeze_all_but_classifier, tpt::fixed_schedule,
                 tpt::classification_metrics, explodes_at_batch_3>
      t(small_model(), {}, {}, schedule(1, 0), explodes_at_batch_3{}, options());
  try {
    t.fit(synthetic(1), synthetic(2, {6, 3, 3}));
    FAIL("expected training_diverged");
  } catch (const tpt::training_diverged& e) {
    CHECK(e.phase() == 1);
    CHECK(e.epoch() == 0);
    CHECK(e.batch() == 3);
    CHECK_THAT(e.what(), Catch::Contains("phase 1, epoch 1, batch 3"));
  }
}

TEST_CASE("metrics_log writes every epoch as JSON lines and CSV", "[trainer][callbacks]") {
  tpt::test::scratch_dir dir;
  auto t = make_trainer(schedule(2, 1));
  t.fit(synthetic(1), synthetic(2, {6, 3, 3}), tpt::metrics_log(dir / "log.jsonl", dir / "log.csv"));
  std::ifstream jsonl(dir / "log.jsonl");
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(jsonl, line)) rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["phase"] == 1);
  CHECK(rows[2]["phase"] == 2);
  CHECK(rows[1]["epoch"] == 2);
  CHECK(rows[0].contains("val_macro_f1"));
  const auto csv = tpt::io::read_csv(dir / "log.csv", {"phase", "epoch", "train_loss", "val_macro_f1"});
  CHECK(csv.rows() == 3);
  CHECK(csv.get<int>(2, "phase") == 2);
}

TEST_CASE("progress_bar prints one line per epoch when not on a terminal", "[trainer][callbacks]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  auto t = make_trainer(schedule(1, 1));
  t.fit(synthetic(1), synthetic(2, {6, 3, 3}), tpt::progress_bar(out));
  std::rewind(out);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof buf, out)) text += buf;
  std::fclose(out);
  CHECK_THAT(text, Catch::Contains("phase 1: 1 epochs of 66 images, batch 8"));
  CHECK_THAT(text, Catch::Contains("phase 2: 1 epochs of 36 images") && Catch::Contains("fast path"));
  CHECK_THAT(text, Catch::Contains("phase 1 epoch 1/1: loss"));
  CHECK_THAT(text, Catch::Contains("val macro_f1"));
}

TEST_CASE("bad splits and options are refused with the culprit named", "[trainer][errors]") {
  auto t = make_trainer(schedule(1, 0));
  auto bad = synthetic(1);
  bad.labels[3] = 5;
  CHECK_THROWS_WITH(t.fit(bad, synthetic(2)), Catch::Contains("label 5"));
  auto short_labels = synthetic(1);
  short_labels.labels.pop_back();
  CHECK_THROWS_WITH(t.fit(short_labels, synthetic(2)), Catch::Contains("36 images but 35 labels"));
  auto s = schedule(1, 0);
  s.phase1().stop.monitor = "happiness";
  s.phase1().stop.patience = 1;
  auto unknown = make_trainer(s);
  CHECK_THROWS_WITH(unknown.fit(synthetic(1), synthetic(2)), Catch::Contains("happiness"));
  // Only the validation set is watched: "val_macro_f1" names its macro_f1, a training or test
  // quantity is refused before any training.
  auto val_prefixed = schedule(2, 0, /*patience=*/1);
  val_prefixed.phase1().stop.monitor = "val_macro_f1";
  const auto watched = make_trainer(val_prefixed).fit(synthetic(1), synthetic(2));
  REQUIRE(watched.phase1);
  CHECK(watched.phase1->best_epoch >= 0);
  for (const char* name : {"train_loss", "test_macro_f1"}) {
    auto other_set = schedule(1, 0);
    other_set.phase1().stop.monitor = name;
    recorder rec;
    CHECK_THROWS_WITH(make_trainer(other_set).fit(synthetic(1), synthetic(2), rec),
                      Catch::Contains(name) && Catch::Contains("validation set"));
    CHECK(rec.epochs.empty());
  }
  // The default augment options are ImageNet's (three channels): grey images name them.
  auto o = options();
  o.augment = {};
  CHECK_THROWS_WITH(make_trainer(schedule(1, 0), o).fit(synthetic(1), synthetic(2)),
                    Catch::Contains("trainer_options.augment mean/std") && Catch::Contains("1-channel images") &&
                        Catch::Contains("ImageNet"));
  CHECK_THROWS_WITH(tpt::resolve_device("tpu"), Catch::Contains("unknown device 'tpu'"));
  if (!torch::cuda::is_available())
    CHECK_THROWS_WITH(tpt::resolve_device("cuda"), Catch::Contains("no CUDA"));
  CHECK(tpt::resolve_device("auto") == (torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU)));
}

TEST_CASE("the fused optimiser takes LibTorch's Adam step inside the trainer, and either can be chosen",
          "[trainer][fused_adam]") {
  // One step per phase (a batch larger than the data): the same gradients, so the weights
  // agree to float rounding. Over many steps the two drift apart as any rounding difference
  // does through BatchNorm and Adam's sign-like first steps, so the comparison is step-sized.
  auto run = [](bool fused) {
    auto o = options();
    o.fused_optimizer = fused;
    o.phase2_fast_path = false;
    auto s = schedule(1, 1);
    s.phase1().batch_size = 256;
    s.phase2().batch_size = 256;
    auto t = make_trainer(s, o);
    t.fit(synthetic(1), synthetic(2));
    return weights_of(*t.model());
  };
  const auto fused = run(true), plain = run(false);
  const auto start = weights_of(*small_model());
  REQUIRE(fused.size() == plain.size());
  double worst = 0, moved = 0;
  for (std::size_t i = 0; i < fused.size(); ++i) {
    if (!fused[i].is_floating_point()) continue;
    worst = std::max(worst, (fused[i] - plain[i]).abs().max().item<double>());
    moved = std::max(moved, (fused[i] - start[i]).abs().max().item<double>());
  }
  CHECK(worst < 1e-6);
  CHECK(moved > 5e-4);  // one Adam step of lr 1e-3 moves weights by about 1e-3
}

TEST_CASE("configure_threads and configure_cpu_allocator set what they report", "[trainer][device]") {
  const auto before = torch::get_num_threads();
  CHECK(tpt::configure_threads(1) == 1);
  CHECK(torch::get_num_threads() == 1);
  CHECK(tpt::configure_threads(0) == std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(before);
  const auto s = tpt::configure_cpu_allocator();
#if defined(__GLIBC__)
  CHECK(s.applied);
  CHECK(s.mmap_threshold == 32u << 20);
  CHECK(s.trim_threshold == 1u << 30);
  // Training still works under the new settings (the process keeps them).
  auto t = make_trainer(schedule(1, 0));
  CHECK(t.fit(synthetic(1), synthetic(2)).phase1->epochs_run == 1);
#else
  CHECK_FALSE(s.applied);
#endif
}

TEST_CASE("the README's composed trainer compiles and trains", "[trainer][docs]") {
  // README.md, "Composing a trainer", with the tiny synthetic splits and a short schedule.
  using ros_rus_trainer = tpt::two_phase<
      tpt::ResNet,                                                    // Model: ResNet-18, torchvision names
      tpt::composed<tpt::random_oversample, tpt::random_undersample>, // Sampler: phase 1's rebalanced plan
      tpt::freeze_all_but_classifier,                                 // Freezer: phase 2 trains fc only
      tpt::fixed_schedule,                                            // Schedule: epochs, lr, early stopping
      tpt::classification_metrics,                                    // Metric: macro F1 on the device
      tpt::balanced_softmax>;                                         // Loss (the paper: tpt::cross_entropy)
  auto o = options();
  o.device = tpt::resolve_device("auto");
  ros_rus_trainer trainer(small_model(), tpt::presets::ros_rus_15k(0.01), {}, schedule(1, 1), {}, o);
  const auto result = trainer.fit(synthetic(1), synthetic(2, {6, 3, 3}));
  CHECK(result.phase2->fast_path);
  const auto scores = trainer.evaluate(synthetic(3, {6, 3, 3})).metric.report();
  CHECK(scores.classes.size() == static_cast<std::size_t>(classes));
  static_assert(std::same_as<tpt::two_phase<>::sampler_type, tpt::random_oversample>);
  static_assert(std::same_as<tpt::two_phase<>::loss_type, tpt::cross_entropy>);
}

TEST_CASE("a monitor the metric does not report is refused before any training, for either phase",
          "[trainer][errors]") {
  struct count_batches {
    std::int64_t* batches;
    void on_batch_end(const tpt::batch_end_event&) { ++*batches; }
  };
  // schedule(1, 1) with the monitors given.
  auto watching = [](std::string monitor1, std::string monitor2) {
    tpt::phase_settings p1, p2;
    p1.epochs = p2.epochs = 1;
    p1.batch_size = p2.batch_size = 8;
    p2.augment = false;
    p1.stop.monitor = std::move(monitor1);
    p2.stop.monitor = std::move(monitor2);
    return tpt::fixed_schedule(p1, p2);
  };
  for (const int phase : {1, 2}) {
    // top1_accuracy is a name the rules know, but classification_metrics reports it only when
    // asked for k = 1 (the default is top-5): before, a phase-2 typo surfaced after all of phase 1.
    auto t = make_trainer(phase == 1 ? watching("val_top1_accuracy", "macro_f1") : watching("macro_f1", "val_top1_accuracy"));
    std::int64_t batches = 0;
    CHECK_THROWS_WITH(t.fit(synthetic(1), synthetic(2, {6, 3, 3}), count_batches{&batches}),
                      Catch::Contains(fmt::format("phase {} monitor", phase)) &&
                          Catch::Contains("reports no 'val_top1_accuracy'") && Catch::Contains("top5_accuracy"));
    CHECK(batches == 0);
  }
  // Unknown names are refused up front too, and the trainer's own loss is always there.
  auto unknown = make_trainer(watching("macro_f1", "kappa"));
  CHECK_THROWS_WITH(unknown.fit(synthetic(1), synthetic(2, {6, 3, 3})), Catch::Contains("unknown quantity 'kappa'"));
  auto with_loss = make_trainer(watching("macro_f1", "val_loss"));
  CHECK(with_loss.fit(synthetic(1), synthetic(2, {6, 3, 3})).phase2->epochs_run == 1);
}

namespace {
/// A metric accumulating in tensors (shared by copies, as torch::Tensor handles are), with the
/// clone() that gives each evaluation its own.
struct tensor_accuracy {
  torch::Tensor correct = torch::zeros({}, torch::kInt64), seen = torch::zeros({}, torch::kInt64);
  void reset() {
    correct.zero_();
    seen.zero_();
  }
  void update(const torch::Tensor& logits, const torch::Tensor& targets) {
    correct += logits.argmax(1).eq(targets).sum();
    seen += targets.numel();
  }
  [[nodiscard]] tpt::metric_scalars scalars() const {
    return {{"accuracy", static_cast<double>(correct.item<std::int64_t>()) / static_cast<double>(seen.item<std::int64_t>())}};
  }
  [[nodiscard]] tensor_accuracy clone() const {
    tensor_accuracy m;
    m.correct = correct.clone();
    m.seen = seen.clone();
    return m;
  }
};
}  // namespace

TEST_CASE("each evaluate() keeps its own result, for a metric whose copies would share tensors", "[trainer]") {
  tpt::two_phase<tpt::ResNet, tpt::identity_sampler, tpt::freeze_all_but_classifier, tpt::fixed_schedule, tensor_accuracy>
      t(small_model(), {}, {}, schedule(1, 0), {}, tensor_accuracy{}, options());
  auto always = [](std::int64_t c) {
    return [c](const torch::Tensor& logits) {
      auto out = torch::zeros_like(logits);
      out.select(1, c).fill_(1);
      return out;
    };
  };
  const auto split = synthetic(1);  // 24 / 8 / 4
  const auto first = t.evaluate(split, always(2));
  CHECK(first.metric.scalars().at("accuracy") == Approx(4.0 / 36));
  const auto second = t.evaluate(split, always(0));
  CHECK(second.metric.scalars().at("accuracy") == Approx(24.0 / 36));
  CHECK(first.metric.scalars().at("accuracy") == Approx(4.0 / 36));  // shared tensors would read 24/36 now
  // Without clone() the trainer copies; the copy of a tensor handle is the same tensor.
  const tensor_accuracy m;
  CHECK(tpt::copy_metric(m).correct.data_ptr() != m.correct.data_ptr());
}
