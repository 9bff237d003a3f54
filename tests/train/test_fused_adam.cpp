// tpt::fused_adam against LibTorch's torch::optim::Adam: the same update to float rounding on the
// single-pass path, exactly the same on the per-tensor path, interchangeable state.
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "tpt/train/fused_adam.hpp"

namespace {

/// Parameters of awkward sizes: a scalar-ish one, one shorter than a vector, one with a tail,
/// one spread over several parallel chunks, and a 4-d one.
std::vector<torch::Tensor> make_parameters(torch::TensorOptions options = torch::kFloat32) {
  torch::manual_seed(11);
  std::vector<torch::Tensor> ps{torch::randn({1}, options), torch::randn({5}, options), torch::randn({3, 67}, options),
                                torch::randn({tpt::fused_adam::grain_size * 3 + 13}, options),
                                torch::randn({16, 8, 3, 3}, options)};
  for (auto& p : ps) p.set_requires_grad(true);
  return ps;
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().set_requires_grad(true));
  return out;
}

/// Gives every parameter of both sets the same pseudo-random gradient for step `step`, of mixed
/// magnitudes (so some second moments are tiny and some large).
void set_gradients(std::vector<torch::Tensor>& a, std::vector<torch::Tensor>& b, int step) {
  torch::manual_seed(100 + step);
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto g = torch::randn(a[i].sizes(), a[i].options().requires_grad(false)) *
             torch::pow(10.0, torch::randint(-4, 2, a[i].sizes(), a[i].options().requires_grad(false)));
    g = g.contiguous(a[i].suggest_memory_format());
    a[i].mutable_grad() = g.clone();
    b[i].mutable_grad() = g.clone();
  }
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, (a[i].detach() - b[i].detach()).abs().max().item<double>());
  return worst;
}

/// Steps [first, last) of both optimisers, each on the same fresh gradients.
void step_both(std::vector<torch::Tensor>& a, torch::optim::Optimizer& on_a, std::vector<torch::Tensor>& b,
               torch::optim::Optimizer& on_b, int first, int last) {
  for (int step = first; step < last; ++step) {
    set_gradients(a, b, step);
    on_a.step();
    on_b.step();
  }
}

const torch::optim::AdamParamState& state_of(const torch::optim::Adam& adam, const torch::Tensor& p) {
  return static_cast<const torch::optim::AdamParamState&>(
      *adam.state().at(c10::guts::to_string(p.unsafeGetTensorImpl())));
}

}  // namespace

TEST_CASE("fused_adam takes the steps of torch::optim::Adam to float rounding", "[fused_adam]") {
  const double weight_decay = GENERATE(0.0, 0.01);
  CAPTURE(weight_decay);
  auto reference = make_parameters();
  auto fused = copies(reference);
  const auto options = torch::optim::AdamOptions(1e-3).weight_decay(weight_decay);
  torch::optim::Adam torch_adam(reference, options);
  tpt::fused_adam tpt_adam(fused, options);

  for (int step = 0; step < 25; ++step) {
    set_gradients(reference, fused, step);
    torch_adam.step();
    tpt_adam.step();
    REQUIRE(tpt_adam.fused_parameters() == static_cast<std::int64_t>(fused.size()));
  }
  // 25 steps of lr 1e-3 move a weight by up to 2.5e-2; the two agree far below one step.
  CHECK(max_difference(reference, fused) < 1e-6);
  CHECK(max_difference(reference, copies(make_parameters())) > 1e-3);  // the weights did move
  for (std::size_t i = 0; i < fused.size(); ++i) {
    const auto& a = state_of(torch_adam, reference[i]);
    const auto& b = state_of(tpt_adam, fused[i]);
    CHECK(a.step() == b.step());
    CHECK(torch::allclose(a.exp_avg(), b.exp_avg(), 1e-5, 1e-9));
    CHECK(torch::allclose(a.exp_avg_sq(), b.exp_avg_sq(), 1e-5, 1e-12));
  }
}

TEST_CASE("fused_adam streams channels_last parameters", "[fused_adam]") {
  auto reference = make_parameters();
  for (auto& p : reference)
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  auto fused = copies(reference);
  REQUIRE(fused.back().is_contiguous(torch::MemoryFormat::ChannelsLast));
  torch::optim::Adam torch_adam(reference);
  tpt::fused_adam tpt_adam(fused);
  step_both(reference, torch_adam, fused, tpt_adam, 0, 5);
  CHECK(tpt_adam.fused_parameters() == static_cast<std::int64_t>(fused.size()));
  CHECK(max_difference(reference, fused) < 1e-6);
}

TEST_CASE("fused_adam hands what it cannot stream to LibTorch's multi-tensor or per-tensor update", "[fused_adam]") {
  SECTION("double parameters") {
    auto reference = make_parameters(torch::kFloat64);
    auto fused = copies(reference);
    torch::optim::Adam torch_adam(reference, torch::optim::AdamOptions(1e-3).weight_decay(0.1));
    tpt::fused_adam tpt_adam(fused, torch::optim::AdamOptions(1e-3).weight_decay(0.1));
    step_both(reference, torch_adam, fused, tpt_adam, 0, 5);
    CHECK(tpt_adam.fused_parameters() == 0);
    CHECK(tpt_adam.multi_tensor_parameters() == static_cast<std::int64_t>(fused.size()));
    CHECK(max_difference(reference, fused) == 0.0);  // the same operations: bit for bit
  }
  SECTION("amsgrad") {
    auto reference = make_parameters();
    auto fused = copies(reference);
    torch::optim::Adam torch_adam(reference, torch::optim::AdamOptions(1e-3).amsgrad(true));
    tpt::fused_adam tpt_adam(fused, torch::optim::AdamOptions(1e-3).amsgrad(true));
    step_both(reference, torch_adam, fused, tpt_adam, 0, 5);
    CHECK(tpt_adam.fused_parameters() == 0);
    CHECK(tpt_adam.multi_tensor_parameters() == 0);  // amsgrad takes the per-tensor update
    CHECK(max_difference(reference, fused) == 0.0);
    CHECK(state_of(tpt_adam, fused[2]).max_exp_avg_sq().defined());
  }
  SECTION("a gradient laid out unlike its parameter") {
    auto p = torch::randn({6, 9}).set_requires_grad(true);
    auto q = p.detach().clone().set_requires_grad(true);
    const auto g = torch::randn({9, 6});
    p.mutable_grad() = g.t();  // same values, transposed strides
    q.mutable_grad() = g.t().contiguous();
    tpt::fused_adam strided({p});
    tpt::fused_adam dense({q});
    strided.step();
    dense.step();
    CHECK(strided.fused_parameters() == 0);
    CHECK(strided.multi_tensor_parameters() == 1);
    CHECK(dense.fused_parameters() == 1);
    CHECK(dense.multi_tensor_parameters() == 0);
    CHECK(torch::allclose(p.detach(), q.detach(), 0, 1e-7));
  }
  SECTION("parameters without a gradient are left alone") {
    auto ps = make_parameters();
    const auto before = copies(ps);
    tpt::fused_adam adam(ps);
    ps[1].mutable_grad() = torch::ones_like(ps[1]);
    adam.step();
    CHECK(adam.fused_parameters() == 1);
    CHECK(torch::equal(ps[0].detach(), before[0].detach()));
    CHECK_FALSE(torch::equal(ps[1].detach(), before[1].detach()));
    CHECK(adam.state().size() == 1);
  }
}

TEST_CASE("fused_adam's multi-tensor update batches parameters by step count and dtype", "[fused_adam]") {
  // Two dtypes, and parameters whose step counts drift apart (some lack a gradient on some
  // steps), so the batches need different bias corrections; every value must match LibTorch's
  // Adam bit for bit, since the same operations run per tensor on the CPU.
  auto reference = make_parameters(torch::kFloat64);
  for (auto& p : make_parameters(torch::kFloat64))
    reference.push_back(p.detach().to(torch::kBFloat16).requires_grad_());
  auto ours = copies(reference);
  const auto options = torch::optim::AdamOptions(1e-2).weight_decay(0.05);
  torch::optim::Adam torch_adam(reference, options);
  tpt::fused_adam tpt_adam(ours, options);
  for (int step = 0; step < 8; ++step) {
    set_gradients(reference, ours, step);
    for (std::size_t i = 0; i < ours.size(); ++i)
      if ((static_cast<int>(i) + step) % 3 == 0) {  // this parameter sits this step out
        reference[i].mutable_grad() = torch::Tensor();
        ours[i].mutable_grad() = torch::Tensor();
      }
    torch_adam.step();
    tpt_adam.step();
    CHECK(tpt_adam.fused_parameters() == 0);
    CHECK(tpt_adam.multi_tensor_parameters() > 0);
  }
  for (std::size_t i = 0; i < ours.size(); ++i) {
    CAPTURE(i);
    CHECK(torch::equal(reference[i].detach(), ours[i].detach()));
    CHECK(state_of(torch_adam, reference[i]).step() == state_of(tpt_adam, ours[i]).step());
  }
  CHECK(state_of(tpt_adam, ours[0]).step() != state_of(tpt_adam, ours[1]).step());
}

TEST_CASE("fused_adam's vector and portable loops compute the same update", "[fused_adam]") {
  const std::int64_t n = 1003;  // 125 vectors of 8 and a tail of 3
  torch::manual_seed(3);
  const auto p0 = torch::randn({n}), g = torch::randn({n}) * 1e-2, m0 = torch::randn({n}) * 1e-3,
             v0 = torch::rand({n}) * 1e-5;
  const tpt::detail::adam_step_constants c{0.9F, 0.1F, 0.999F, 0.001F, 0.0447F, 1e-8F, -1e-2F, 1e-2F};
  auto run = [&](auto&& update) {
    auto p = p0.clone(), m = m0.clone(), v = v0.clone();
    update(p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(), n, c);
    return std::vector<torch::Tensor>{p, m, v};
  };
  const auto portable = run(tpt::detail::adam_update_portable);
  const auto dispatched = run(tpt::detail::adam_update);
  // Fused multiply-adds round once where the portable loop rounds twice: agreement to a few
  // float ulps of each tensor's scale (moments can cancel to near zero, so no relative test).
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    const double scale = portable[i].abs().max().item<double>();
    CHECK((portable[i] - dispatched[i]).abs().max().item<double>() <= 1e-6 * scale);
  }
  CHECK_FALSE(torch::equal(portable[0], p0));
  // Against the formula in doubles.
  const auto gd = g.to(torch::kFloat64) + 1e-2 * p0.to(torch::kFloat64);
  const auto m = 0.9 * m0.to(torch::kFloat64) + 0.1 * gd;
  const auto v = 0.999 * v0.to(torch::kFloat64) + 0.001 * gd * gd;
  const auto p = p0.to(torch::kFloat64) - 1e-2 * m / (v.sqrt() / 0.0447 + 1e-8);
  CHECK(torch::allclose(dispatched[0].to(torch::kFloat64), p, 1e-6, 1e-7));
}

TEST_CASE("fused_adam and torch::optim::Adam read each other's saved state", "[fused_adam]") {
  auto a = make_parameters();
  tpt::fused_adam fused(a);
  auto unused = copies(a);
  for (int step = 0; step < 3; ++step) {
    set_gradients(a, unused, step);
    fused.step();
  }
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    fused.save(archive);
    archive.save_to(saved);
  }
  // LibTorch's Adam resumes from fused_adam's state, and the two continue alike.
  auto b = copies(a);
  torch::optim::Adam plain(b);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(saved);
    plain.load(archive);
  }
  CHECK(state_of(plain, b[3]).step() == 3);
  step_both(a, fused, b, plain, 3, 6);
  CHECK(max_difference(a, b) < 1e-6);

  // And the other way round.
  std::stringstream saved_plain;
  {
    torch::serialize::OutputArchive archive;
    plain.save(archive);
    archive.save_to(saved_plain);
  }
  auto c = copies(b);
  tpt::fused_adam resumed(c);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(saved_plain);
    resumed.load(archive);
  }
  CHECK(state_of(resumed, c[3]).step() == 6);
  CHECK(torch::equal(state_of(resumed, c[3]).exp_avg(), state_of(plain, b[3]).exp_avg()));
}

TEST_CASE("clear_gradients drops gradients so backward writes fresh ones", "[fused_adam]") {
  auto w = torch::ones({4}).set_requires_grad(true);
  tpt::fused_adam adam({w});
  (w * 3).sum().backward();
  REQUIRE(w.grad().defined());
  tpt::clear_gradients(adam);
  CHECK_FALSE(w.grad().defined());
  (w * 2).sum().backward();
  CHECK(torch::equal(w.grad(), torch::full({4}, 2.0F)));  // not 3 + 2
  adam.step();
  CHECK(adam.fused_parameters() == 1);
}

TEST_CASE("fused_adam's step marks the parameters modified, as LibTorch's in-place update does", "[fused_adam]") {
  // A graph that saved w before the step must not backward through the stale value afterwards:
  // torch::optim::Adam's p.addcdiv_() bumps w's version and autograd refuses; so must fused_adam.
  for (const bool fused : {true, false}) {
    CAPTURE(fused);
    auto w = torch::ones({16}).set_requires_grad(true);
    auto adam = tpt::make_adam({w}, torch::optim::AdamOptions(0.1), fused);
    (w * w).sum().backward();
    auto stale = (w * w).sum();  // saves w (version v)
    const auto before = w._version();
    adam->step();
    CHECK(w._version() > before);
    CHECK_THROWS_WITH(stale.backward(), Catch::Contains("modified by an inplace operation"));
    if (fused) CHECK(static_cast<tpt::fused_adam&>(*adam).fused_parameters() == 1);
  }
}

TEST_CASE("fused_adam's result does not depend on the thread count", "[fused_adam]") {
  // Many parameters that split into several chunks each, so a chunk edge falling inside a
  // vector (scalar tail where one thread would use the vector loop) would show somewhere.
  const auto before = torch::get_num_threads();
  auto run = [](int threads) {
    torch::set_num_threads(threads);
    torch::manual_seed(21);
    std::vector<torch::Tensor> ps;
    for (int i = 0; i < 24; ++i)
      ps.push_back(torch::randn({tpt::fused_adam::grain_size * 3 + 13 + i}).set_requires_grad(true));
    auto unused = copies(ps);
    tpt::fused_adam adam(ps, torch::optim::AdamOptions(1e-3).weight_decay(0.01));
    for (int step = 0; step < 4; ++step) {
      set_gradients(ps, unused, step);
      adam.step();
    }
    return ps;
  };
  const auto one = run(1), seven = run(7);
  torch::set_num_threads(before);
  for (std::size_t i = 0; i < one.size(); ++i) CHECK(torch::equal(one[i].detach(), seven[i].detach()));
}
