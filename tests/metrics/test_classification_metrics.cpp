// tpt/metrics/classification_metrics.hpp: accumulation on the device, streaming equals one-shot,
// top-k, the Metric concept and every error path.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "tpt/core/random.hpp"
#include "tpt/metrics/classification_metrics.hpp"
#include "tpt/metrics/metric.hpp"

using Catch::Matchers::Contains;

namespace {

struct synthetic {
  torch::Tensor logits, targets;
  std::vector<std::int64_t> predictions, labels;
};

// Imbalanced truth; predictions right about 60% of the time; logits with a clear argmax.
synthetic make_data(std::int64_t n, std::int64_t k, std::uint64_t seed) {
  tpt::rng gen(seed);
  synthetic s;
  s.logits = torch::empty({n, k}, torch::kDouble);
  auto acc = s.logits.accessor<double, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    // class c with probability ~ 1/(c+1)^1.5: a long tail
    std::int64_t t = 0;
    while (t + 1 < k && gen.uniform01() < 0.55) ++t;
    const std::int64_t p = gen.uniform01() < 0.6 ? t : static_cast<std::int64_t>(gen.uniform_index(std::uint64_t(k)));
    for (std::int64_t c = 0; c < k; ++c) acc[i][c] = gen.uniform(-3, 3);
    acc[i][p] = 5 + gen.uniform01();
    s.labels.push_back(t);
    s.predictions.push_back(p);
  }
  s.targets = torch::tensor(s.labels, torch::kLong);
  return s;
}

}  // namespace

static_assert(tpt::metric<tpt::classification_metrics>);

TEST_CASE("classification_metrics equals the report built from argmax predictions", "[metrics]") {
  const auto d = make_data(500, 7, 1);
  tpt::classification_metrics m(7, 3);
  m.update(d.logits, d.targets);
  const auto r = m.report();
  const auto expected = tpt::classification_report::from_predictions(d.predictions, d.labels, 7);
  CHECK(r.confusion == expected.confusion);
  CHECK(r.macro_f1 == expected.macro_f1);
  CHECK(r.accuracy == expected.accuracy);
  CHECK(r.nonfinite_samples == 0);
  REQUIRE(r.top_k_accuracy.count(3) == 1);
  CHECK(r.top_k_accuracy.at(3) >= r.accuracy);
  const auto s = m.scalars();
  CHECK(s.at("top3_accuracy") == r.top_k_accuracy.at(3));
  CHECK(s.at("macro_f1") == r.macro_f1);
}

TEST_CASE("many batches of any size give exactly the one-shot result", "[metrics][streaming]") {
  const auto d = make_data(1000, 12, 2);
  tpt::classification_metrics one(12, tpt::classification_metrics_options{.top_k = {1, 5, 20}});
  one.update(d.logits, d.targets);
  tpt::classification_metrics many(12, tpt::classification_metrics_options{.top_k = {20, 1, 5}});
  tpt::rng gen(3);
  std::int64_t at = 0;
  while (at < 1000) {
    const auto size = std::min<std::int64_t>(1000 - at, static_cast<std::int64_t>(gen.uniform_index(40)));
    many.update(d.logits.narrow(0, at, size), d.targets.narrow(0, at, size));  // size 0 included
    at += size;
  }
  CHECK(many.report() == one.report());
  CHECK(one.report().top_k_accuracy.at(1) == one.report().accuracy);
  CHECK(one.report().top_k_accuracy.at(20) == 1.0);  // k above the class count: every sample hits
}

TEST_CASE("reset forgets, copies are independent, predictions are kept on request", "[metrics]") {
  const auto d = make_data(64, 5, 4);
  tpt::classification_metrics m(5, tpt::classification_metrics_options{.keep_predictions = true});
  m.update(d.logits, d.targets);
  const auto first = m.report();
  tpt::classification_metrics copy = m;
  copy.update(d.logits, d.targets);
  CHECK(m.report() == first);
  CHECK(copy.report().samples == 128);
  CHECK(m.predictions() == d.predictions);
  CHECK(m.targets() == d.labels);
  CHECK(m.confusion_matrix().sizes() == torch::IntArrayRef{5, 5});
  CHECK(m.confusion_matrix().sum().item<std::int64_t>() == 64);
  m.reset();
  CHECK_THROWS_WITH(m.report(), Contains("no samples"));
  CHECK(m.predictions().empty());
  tpt::classification_metrics plain(5);
  CHECK_THROWS_WITH(plain.predictions(), Contains("keep_predictions"));
}

TEST_CASE("integer targets of any width, float and half logits", "[metrics]") {
  const auto d = make_data(200, 4, 5);
  tpt::classification_metrics reference(4);
  reference.update(d.logits, d.targets);
  tpt::classification_metrics narrow(4);
  narrow.update(d.logits.to(torch::kFloat), d.targets.to(torch::kInt));
  CHECK(narrow.report() == reference.report());
  tpt::classification_metrics half(4);
  half.update(d.logits.to(torch::kHalf), d.targets.to(torch::kByte));
  CHECK(half.report().confusion == reference.report().confusion);
}

TEST_CASE("NaN logits are counted, not hidden", "[metrics]") {
  auto d = make_data(10, 3, 6);
  d.logits[2][1] = std::numeric_limits<double>::quiet_NaN();
  d.logits[7][0] = std::numeric_limits<double>::infinity();
  tpt::classification_metrics m(3);
  m.update(d.logits, d.targets);
  CHECK(m.report().nonfinite_samples == 2);
  CHECK_THAT(fmt::format("{}", m.report()), Contains("2 of 10 samples had NaN or infinite logits"));
}

TEST_CASE("empty input, bad shapes, types, devices and targets give clear errors", "[metrics][errors]") {
  tpt::classification_metrics m(3);
  CHECK_THROWS_WITH(m.report(), Contains("no samples"));
  CHECK_THROWS_WITH(m.scalars(), Contains("no samples"));
  m.update(torch::empty({0, 3}), torch::empty({0}, torch::kLong));
  CHECK_THROWS_WITH(m.report(), Contains("no samples"));
  CHECK_THROWS_WITH(m.update(torch::zeros({4, 2}), torch::zeros({4}, torch::kLong)),
                    Contains("logits must have shape [batch, 3]"));
  CHECK_THROWS_WITH(m.update(torch::zeros({4}), torch::zeros({4}, torch::kLong)), Contains("[batch, 3]"));
  CHECK_THROWS_WITH(m.update(torch::zeros({4, 3}), torch::zeros({5}, torch::kLong)),
                    Contains("targets must have shape [4]"));
  CHECK_THROWS_WITH(m.update(torch::zeros({4, 3}), torch::zeros({4, 1}, torch::kLong)),
                    Contains("targets must have shape [4]"));
  CHECK_THROWS_WITH(m.update(torch::zeros({4, 3}), torch::zeros({4})), Contains("integer class ids"));
  CHECK_THROWS_WITH(m.update(torch::zeros({4, 3}, torch::kLong), torch::zeros({4}, torch::kLong)),
                    Contains("floating point"));
  CHECK_THROWS_WITH(m.update(torch::Tensor(), torch::zeros({4}, torch::kLong)), Contains("defined"));
  // Out-of-range targets are found without a device sync in update(), and reported at the end.
  m.update(torch::zeros({3, 3}), torch::tensor({0, 3, -1}, torch::kLong));
  CHECK_THROWS_WITH(m.report(), Contains("2 target(s) outside [0, 3) (values from -1 to 3)"));
  CHECK_THROWS_AS(tpt::classification_metrics(0), tpt::config_error);
  CHECK_THROWS_WITH(tpt::classification_metrics(3, 0), Contains("k must be at least 1"));
  CHECK_THROWS_WITH(tpt::classification_metrics(3, tpt::classification_metrics_options{.top_k = {2, 2}}),
                    Contains("listed twice"));
  CHECK_THROWS_WITH(tpt::classification_metrics(3, tpt::classification_metrics_options{.class_names = {"a"}}),
                    Contains("1 names for 3 classes"));
}

TEST_CASE("every reported scalar has a known direction", "[metrics][monitor]") {
  tpt::classification_metrics m(4, tpt::classification_metrics_options{.top_k = {2, 3}});
  const auto d = make_data(50, 4, 7);
  m.update(d.logits, d.targets);
  for (const auto& [name, value] : m.scalars()) {
    CHECK(tpt::higher_is_better(name));
    CHECK(tpt::higher_is_better(m, name));
    CHECK(value >= 0.0);
    CHECK(value <= 1.0);
  }
  CHECK_FALSE(tpt::higher_is_better("loss"));
  CHECK_FALSE(tpt::higher_is_better("val_loss"));
  CHECK_FALSE(tpt::higher_is_better("top1_error"));
  CHECK(tpt::higher_is_better("top10_accuracy"));
  CHECK(tpt::higher_is_better("val_macro_f1"));
  CHECK_FALSE(tpt::higher_is_better("train_loss"));
  CHECK_THROWS_WITH(tpt::higher_is_better("val_kappa"), Contains("unknown quantity 'val_kappa'"));
  CHECK_THROWS_WITH(tpt::higher_is_better("topx_accuracy"), Contains("unknown quantity 'topx_accuracy'"));
  CHECK_THROWS_AS(tpt::higher_is_better("kappa"), tpt::config_error);
  struct kappa_metric {
    void reset() {}
    void update(const torch::Tensor&, const torch::Tensor&) {}
    [[nodiscard]] tpt::metric_scalars scalars() const { return {{"kappa", 0.5}}; }
    [[nodiscard]] bool higher_is_better(std::string_view) const { return true; }
  };
  static_assert(tpt::metric<kappa_metric>);
  CHECK(tpt::higher_is_better(kappa_metric{}, "kappa"));
}

TEST_CASE("a metric's own higher_is_better answers for its names - the standard names keep their direction",
          "[metrics]") {
  // A bool member cannot decline a name: it is asked only about names the rules do not know, so
  // one written for "rare_recall" alone does not turn accuracy (or the trainer's loss) around.
  struct rare_recall_metric {
    void reset() {}
    void update(const torch::Tensor&, const torch::Tensor&) {}
    [[nodiscard]] tpt::metric_scalars scalars() const { return {{"rare_recall", 0.5}, {"accuracy", 0.9}}; }
    [[nodiscard]] bool higher_is_better(std::string_view name) const { return name == "rare_recall"; }
  };
  const rare_recall_metric rare;
  CHECK(tpt::higher_is_better(rare, "rare_recall"));
  CHECK(tpt::higher_is_better(rare, "accuracy"));
  CHECK(tpt::higher_is_better(rare, "macro_f1"));
  CHECK_FALSE(tpt::higher_is_better(rare, "loss"));
  CHECK_FALSE(tpt::higher_is_better(rare, "kappa"));
  // An optional<bool> member answers first and leaves the rest to the rules (unknown names throw).
  struct rank_metric {
    void reset() {}
    void update(const torch::Tensor&, const torch::Tensor&) {}
    [[nodiscard]] tpt::metric_scalars scalars() const { return {{"mean_rank", 1.5}}; }
    [[nodiscard]] std::optional<bool> higher_is_better(std::string_view name) const {
      if (name == "mean_rank" || name == "accuracy") return false;  // it may even overrule the rules
      return std::nullopt;
    }
  };
  const rank_metric rank;
  CHECK_FALSE(tpt::higher_is_better(rank, "mean_rank"));
  CHECK_FALSE(tpt::higher_is_better(rank, "accuracy"));
  CHECK(tpt::higher_is_better(rank, "macro_f1"));
  CHECK_FALSE(tpt::higher_is_better(rank, "loss"));
  CHECK_THROWS_WITH(tpt::higher_is_better(rank, "kappa"), Catch::Contains("unknown quantity 'kappa'"));
}

TEST_CASE("classification_metrics declares the names its scalars() reports before any sample", "[metrics]") {
  tpt::classification_metrics m(4, tpt::classification_metrics_options{.top_k = {3, 1}});
  const auto declared = m.scalar_names();
  CHECK_THROWS_AS(m.scalars(), tpt::metric_error);  // nothing seen yet: only the names are known
  m.update(torch::tensor({{2.0f, 1.0f, 0.0f, 0.0f}, {0.0f, 3.0f, 1.0f, 0.0f}}), torch::tensor({0, 2}));
  std::vector<std::string> reported;
  for (const auto& [name, value] : m.scalars()) reported.push_back(name);
  CHECK_THAT(declared, Catch::UnorderedEquals(reported));
  CHECK(tpt::declared_scalar_names(m) == declared);
  struct plain_metric {
    void reset() {}
    void update(const torch::Tensor&, const torch::Tensor&) {}
    [[nodiscard]] tpt::metric_scalars scalars() const { return {}; }
  };
  CHECK_FALSE(tpt::declared_scalar_names(plain_metric{}).has_value());
}
