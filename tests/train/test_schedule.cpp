// The Schedule policy: paper presets, learning-rate policies and validation of settings.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "tpt/train/schedule.hpp"

static_assert(tpt::schedule<tpt::fixed_schedule>);

TEST_CASE("paper_schedule gives the paper's epochs, Adam 1e-3 and batch 64", "[schedule]") {
  using tpt::paper_model;
  const auto check = [](paper_model m, std::int64_t e1, std::int64_t e2) {
    const auto s = tpt::paper_schedule(m);
    CHECK(s.epochs(1) == e1);
    CHECK(s.epochs(2) == e2);
    CHECK(s.batch_size(1) == 64);
    CHECK(s.learning_rate(1, 0) == 1e-3);
    CHECK(s.augment(1));
    CHECK_FALSE(s.augment(2));
  };
  check(paper_model::baseline, 10, 0);
  check(paper_model::ros, 10, 7);
  check(paper_model::rus, 14, 14);
  check(paper_model::ros_rus_15k, 14, 8);
  check(paper_model::ros_rus_5k, 17, 14);
  CHECK(fmt::format("{}", paper_model::ros_rus_15k) == "ROS&RUS(15K)");
}

TEST_CASE("learning-rate policies: constant, step and cosine", "[schedule]") {
  tpt::phase_settings p;
  p.epochs = 5;
  p.learning_rate = 0.1;
  p.lr = tpt::lr_policy::step;
  p.step_size = 2;
  p.gamma = 0.5;
  tpt::fixed_schedule s(p, {});
  CHECK(s.learning_rate(1, 0) == Approx(0.1));
  CHECK(s.learning_rate(1, 1) == Approx(0.1));
  CHECK(s.learning_rate(1, 2) == Approx(0.05));
  CHECK(s.learning_rate(1, 4) == Approx(0.025));

  p.lr = tpt::lr_policy::cosine;
  p.min_learning_rate = 0.01;
  tpt::fixed_schedule c(p, {});
  // torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=0.01), one step per epoch:
  // 0.1, 0.0914058, 0.0689058, 0.0410942, 0.0185942.
  CHECK(c.learning_rate(1, 0) == Approx(0.1));
  CHECK(c.learning_rate(1, 1) == Approx(0.0914058));
  CHECK(c.learning_rate(1, 2) == Approx(0.0689058));
  CHECK(c.learning_rate(1, 3) == Approx(0.0410942));
  CHECK(c.learning_rate(1, 4) == Approx(0.0185942));
  // With the default floor of 0 the last epoch still learns.
  p.min_learning_rate = 0;
  p.epochs = 2;
  CHECK(tpt::fixed_schedule(p, {}).learning_rate(1, 1) == Approx(0.05));
}

TEST_CASE("impossible schedule settings are refused with the option named", "[schedule][errors]") {
  tpt::phase_settings bad;
  bad.batch_size = 0;
  CHECK_THROWS_WITH(tpt::fixed_schedule(bad, {}), Catch::Contains("phase1.batch_size"));
  tpt::phase_settings lr;
  lr.learning_rate = -1;
  CHECK_THROWS_WITH(tpt::fixed_schedule({}, lr), Catch::Contains("phase2.learning_rate"));
  tpt::phase_settings pat;
  pat.stop.patience = -2;
  CHECK_THROWS_AS(tpt::fixed_schedule(pat, {}), tpt::config_error);
  CHECK_THROWS_WITH(tpt::fixed_schedule{}.epochs(3), Catch::Contains("must be 1 or 2"));
  // A negative min_delta made a worse epoch an improvement; NaN made nothing one.
  for (double delta : {-0.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    tpt::phase_settings d;
    d.stop.min_delta = delta;
    CHECK_THROWS_WITH(tpt::fixed_schedule({}, d), Catch::Contains("phase2.min_delta") && Catch::Contains("finite number >= 0"));
  }
}

TEST_CASE("phase 2 does not augment unless asked, whichever constructor built the schedule", "[schedule]") {
  // fixed_schedule(p1, p2) with default phase settings used to augment phase 2 (and so leave the
  // fast path), though the default-constructed schedule and the docs said it does not.
  tpt::phase_settings p1, p2;
  p1.epochs = 2;
  p2.epochs = 3;
  const tpt::fixed_schedule s(p1, p2);
  CHECK(s.augment(1));
  CHECK_FALSE(s.augment(2));
  CHECK_FALSE(tpt::fixed_schedule{}.augment(2));
  p2.augment = true;
  p1.augment = false;
  const tpt::fixed_schedule asked(p1, p2);
  CHECK_FALSE(asked.augment(1));
  CHECK(asked.augment(2));
}
