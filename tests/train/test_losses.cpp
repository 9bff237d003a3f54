// Losses and post-hoc corrections against values computed by hand (closed forms in doubles).
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "tpt/train/losses.hpp"

namespace {
// Two samples, two classes: logits (2, 0) with target 0 and (0, 1) with target 1.
torch::Tensor logits() { return torch::tensor({2.0f, 0.0f, 0.0f, 1.0f}).view({2, 2}); }
torch::Tensor targets() { return torch::tensor(std::vector<std::int64_t>{0, 1}); }
// -log softmax of the target for a pair of logits (a, b) with target a: log(1 + e^(b - a)).
double nll(double target_logit, double other_logit) { return std::log1p(std::exp(other_logit - target_logit)); }
const std::vector<std::int64_t> counts{3, 1};
}  // namespace

static_assert(tpt::loss<tpt::cross_entropy>);
static_assert(tpt::prior_aware_loss<tpt::class_weighted_cross_entropy>);
static_assert(tpt::prior_aware_loss<tpt::logit_adjusted_cross_entropy>);
static_assert(tpt::prior_aware_loss<tpt::balanced_softmax>);
static_assert(tpt::loss<tpt::focal_loss> && !tpt::prior_aware_loss<tpt::focal_loss>);

TEST_CASE("cross_entropy equals the mean negative log-likelihood", "[losses]") {
  const double expected = (nll(2, 0) + nll(1, 0)) / 2;
  CHECK(tpt::cross_entropy{}(logits(), targets()).item<double>() == Approx(expected).epsilon(1e-6));
}

TEST_CASE("class_weighted_cross_entropy uses balanced weights N / (C n_c)", "[losses]") {
  tpt::class_weighted_cross_entropy loss;
  loss.set_class_counts(counts);
  const double w0 = 4.0 / (2 * 3), w1 = 4.0 / (2 * 1);
  const double expected = (w0 * nll(2, 0) + w1 * nll(1, 0)) / (w0 + w1);
  CHECK(loss(logits(), targets()).item<double>() == Approx(expected).epsilon(1e-6));
  CHECK(loss.weights()[0].item<double>() == Approx(w0));

  // An absent class gets weight 0 rather than infinity.
  loss.set_class_counts(std::vector<std::int64_t>{4, 0});
  CHECK(loss.weights()[1].item<double>() == 0.0);
}

TEST_CASE("focal_loss down-weights easy examples and reduces to CE at gamma 0", "[losses]") {
  const double p0 = 1 / (1 + std::exp(-2.0)), p1 = 1 / (1 + std::exp(-1.0));
  const double expected = (std::pow(1 - p0, 2) * -std::log(p0) + std::pow(1 - p1, 2) * -std::log(p1)) / 2;
  CHECK(tpt::focal_loss{2.0}(logits(), targets()).item<double>() == Approx(expected).epsilon(1e-5));
  CHECK(tpt::focal_loss{0.0}(logits(), targets()).item<double>() ==
        Approx(tpt::cross_entropy{}(logits(), targets()).item<double>()).epsilon(1e-6));
}

TEST_CASE("focal_loss gradients stay finite on examples the model is certain of", "[losses][errors]") {
  // A margin of 40 makes 1 - p_t exactly 0 in float: (1 - p_t)^0.5 has an infinite derivative
  // there, which gave NaN gradients (and then a diverged run) before the floor.
  for (double gamma : {0.0, 0.5, 1.0, 2.0}) {
    INFO("gamma " << gamma);
    auto x = torch::tensor({{40.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.5f}}).requires_grad_(true);
    const auto loss = tpt::focal_loss{gamma}(x, torch::tensor({0, 1}, torch::kLong));
    loss.backward();
    CHECK(std::isfinite(loss.item<double>()));
    CHECK(torch::isfinite(x.grad()).all().item<bool>());
    // The certain example contributes (almost) nothing; the other one its usual focal term.
    const double p = std::exp(1.0) / (std::exp(0.0) + std::exp(1.0) + std::exp(0.5));
    CHECK(loss.item<double>() == Approx(std::pow(1 - p, gamma) * -std::log(p) / 2).epsilon(1e-5));
  }
}

TEST_CASE("balanced_softmax and logit adjustment add tau log prior to the logits", "[losses]") {
  const double l0 = std::log(0.75), l1 = std::log(0.25);
  tpt::balanced_softmax bs;
  bs.set_class_counts(counts);
  const double expected = (nll(2 + l0, 0 + l1) + nll(1 + l1, 0 + l0)) / 2;
  CHECK(bs(logits(), targets()).item<double>() == Approx(expected).epsilon(1e-6));
  CHECK(bs.name() == "balanced_softmax");

  tpt::logit_adjusted_cross_entropy la(0.5);
  la.set_class_counts(counts);
  const double expected_half = (nll(2 + 0.5 * l0, 0.5 * l1) + nll(1 + 0.5 * l1, 0.5 * l0)) / 2;
  CHECK(la(logits(), targets()).item<double>() == Approx(expected_half).epsilon(1e-6));
}

TEST_CASE("prior-aware losses refuse to run without counts and check shapes", "[losses][errors]") {
  tpt::balanced_softmax bs;
  CHECK_THROWS_WITH(bs(logits(), targets()), Catch::Contains("set_class_counts"));
  bs.set_class_counts(std::vector<std::int64_t>{1, 2, 3});
  CHECK_THROWS_WITH(bs(logits(), targets()), Catch::Contains("3"));
  CHECK_THROWS_AS(bs.set_class_counts(std::vector<std::int64_t>{0, 0}), tpt::config_error);
  CHECK_THROWS_AS(bs.set_class_counts(std::vector<std::int64_t>{2, -1}), tpt::config_error);
}

TEST_CASE("posthoc_logit_adjustment subtracts tau log prior", "[losses]") {
  tpt::posthoc_logit_adjustment adjust(1.0);
  adjust.fit(counts);
  const auto out = adjust(logits());
  CHECK(out[0][0].item<double>() == Approx(2 - std::log(0.75)));
  CHECK(out[1][1].item<double>() == Approx(1 - std::log(0.25)));
  // A rare class can win after adjustment: logits (0.5, 0) favour class 0 before, class 1 after.
  const auto close = adjust(torch::tensor({0.5f, 0.0f}).view({1, 2}));
  CHECK(close.argmax(1).item<std::int64_t>() == 1);
}

TEST_CASE("posthoc_logit_adjustment does not boost a class the classifier never saw", "[losses]") {
  // Counts 60/30/0 (a species whose images all fell into validation and test): the empty class's
  // tiny floor prior used to add 27.6 tau to its logit, so it won every image.
  tpt::posthoc_logit_adjustment adjust(1.0);
  adjust.fit(std::vector<std::int64_t>{60, 30, 0});
  const auto logits = torch::tensor({3.0f, 1.0f, -2.0f, 0.2f, 1.5f, -0.5f}).view({2, 3});
  const auto out = adjust(logits);
  CHECK(out[0][0].item<double>() == Approx(3 - std::log(60.0 / 90)));
  CHECK(out[0][2].item<double>() == Approx(-2.0));  // unadjusted
  const auto best = out.argmax(1);
  CHECK(best[0].item<std::int64_t>() == 0);
  CHECK(best[1].item<std::int64_t>() == 1);
  CHECK_THROWS_WITH(tpt::posthoc_logit_adjustment(-1.0), Catch::Contains("tau must be a finite number >= 0"));
  CHECK_THROWS_WITH(tpt::posthoc_logit_adjustment(std::nan("")), Catch::Contains("tau must be a finite number >= 0"));
}

TEST_CASE("tau_normalization divides each class row by its norm to the power tau", "[losses]") {
  torch::nn::Linear fc(2, 2);
  {
    torch::NoGradGuard g;
    fc->weight.copy_(torch::tensor({3.0f, 4.0f, 0.0f, 2.0f}).view({2, 2}));
    fc->bias.fill_(0.5f);
  }
  tpt::tau_normalization{1.0, /*zero_bias=*/false}.apply(fc);
  CHECK(fc->weight[0][0].item<double>() == Approx(0.6));
  CHECK(fc->weight[1][1].item<double>() == Approx(1.0));
  CHECK(fc->bias[0].item<double>() == Approx(0.5));
  tpt::tau_normalization{0.0}.apply(fc);  // tau 0 leaves weights alone; the bias goes by default
  CHECK(fc->weight[0][0].item<double>() == Approx(0.6));
  CHECK(fc->bias[0].item<double>() == 0.0);
  CHECK(fc->bias[1].item<double>() == 0.0);
}

TEST_CASE("loss_choice parses every loss and behaves like it", "[losses]") {
  static_assert(tpt::prior_aware_loss<tpt::loss_choice>);
  auto bs = tpt::loss_choice::parse("balanced_softmax");
  bs.set_class_counts(counts);
  tpt::balanced_softmax direct;
  direct.set_class_counts(counts);
  CHECK(bs(logits(), targets()).item<double>() == Approx(direct(logits(), targets()).item<double>()));
  CHECK(bs.name() == "balanced_softmax");
  CHECK(tpt::loss_choice::parse("ce").name() == "cross_entropy");
  CHECK(tpt::loss_choice::parse("focal:1.5").name() == "focal(gamma=1.5)");
  CHECK(tpt::loss_choice::parse("logit_adjusted:0.5").name() == "logit_adjusted(tau=0.5)");
  CHECK(tpt::loss_choice::parse("weighted_ce").name() == "weighted_ce");
  auto ce = tpt::loss_choice::parse("ce");
  ce.set_class_counts(counts);  // a no-op for losses that ignore the prior
  CHECK(ce(logits(), targets()).item<double>() == Approx(tpt::cross_entropy{}(logits(), targets()).item<double>()));
}

TEST_CASE("loss_choice rejects unknown names and bad parameters", "[losses][errors]") {
  CHECK_THROWS_WITH(tpt::loss_choice::parse("hinge"), Catch::Contains("unknown loss 'hinge'"));
  CHECK_THROWS_WITH(tpt::loss_choice::parse("focal:abc"), Catch::Contains("must be a number"));
  CHECK_THROWS_WITH(tpt::loss_choice::parse("focal:-1"), Catch::Contains("gamma must be >= 0"));
  CHECK_THROWS_WITH(tpt::loss_choice::parse("weighted_ce:-3"), Catch::Contains("power must be >= 0"));
  CHECK_THROWS_WITH(tpt::loss_choice::parse("logit_adjusted:-1"), Catch::Contains("tau must be >= 0"));
  CHECK_THROWS_WITH(tpt::loss_choice::parse("ce:2"), Catch::Contains("takes no parameter"));
}
