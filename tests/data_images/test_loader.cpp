// tpt/data/loader.hpp: batches follow the plan exactly (with repeats), drop_last, independence
// from the worker count, channels_last, exceptions from workers, shutdown mid-epoch.
#include <chrono>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "synthetic_frames.hpp"
#include "tpt/data/augmented_dataset.hpp"
#include "tpt/data/loader.hpp"
#include "tpt_test_support.hpp"

using tpt::data::image_loader;
using tpt::data::loader_options;
using tpt::data::tensor_image_store;

namespace {

tensor_image_store make_store(std::int64_t n, std::int64_t size = 40, std::int64_t channels = 3) {
  auto t = torch::empty({n, size, size, channels}, torch::kUInt8);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto img = tpt::test::synthetic_frame(size, size, channels, static_cast<std::uint64_t>(i), 15.0);
    std::memcpy(t[i].data_ptr<std::uint8_t>(), img.data(), img.size_bytes());
  }
  return tensor_image_store(t);
}

std::vector<std::int64_t> labels_for(std::int64_t n) {
  std::vector<std::int64_t> l(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) l[static_cast<std::size_t>(i)] = (i * 7) % 5;
  return l;
}

loader_options small_options() {
  loader_options o;
  o.batch_size = 4;
  o.augment.height = 16;
  o.augment.width = 16;
  o.seed = 11;
  o.epoch = 2;
  return o;
}

/// A store whose image `bad` cannot be read.
struct failing_store {
  tensor_image_store inner;
  std::size_t bad;
  [[nodiscard]] std::size_t size() const { return inner.size(); }
  [[nodiscard]] tpt::data::image_view operator[](std::size_t i) const {
    if (i == bad) throw tpt::input_error("cache.tptc", "image 5 cannot be read");
    return inner[i];
  }
};

/// A store that takes its time, so a loader is destroyed with work in flight.
struct slow_store {
  tensor_image_store inner;
  [[nodiscard]] std::size_t size() const { return inner.size(); }
  [[nodiscard]] tpt::data::image_view operator[](std::size_t i) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return inner[i];
  }
};

}  // namespace

TEST_CASE("batches follow the plan exactly, repeats included, with the right targets and pixels", "[loader]") {
  const auto store = make_store(10);
  const auto labels = labels_for(10);
  const std::vector<std::int64_t> plan{3, 3, 9, 0, 1, 3, 7, 7, 2, 8, 5};
  const auto o = small_options();
  image_loader loader(store, labels, plan, o);
  REQUIRE(loader.size() == 3);
  std::vector<std::int64_t> seen;
  std::vector<int> occurrence(10, 0);
  std::size_t batches = 0;
  for (auto& batch : loader) {
    ++batches;
    REQUIRE(batch.images.dim() == 4);
    REQUIRE(batch.images.size(1) == 3);
    REQUIRE(batch.images.size(2) == 16);
    REQUIRE(batch.images.scalar_type() == torch::kFloat32);
    REQUIRE(batch.targets.scalar_type() == torch::kInt64);
    REQUIRE(batch.images.size(0) == static_cast<std::int64_t>(batch.indices.size()));
    for (std::size_t k = 0; k < batch.indices.size(); ++k) {
      const std::int64_t i = batch.indices[k];
      seen.push_back(i);
      CHECK(batch.targets[static_cast<std::int64_t>(k)].item<std::int64_t>() == labels[static_cast<std::size_t>(i)]);
      const auto expected = tpt::data::augment(store[static_cast<std::size_t>(i)], o.augment,
                                               tpt::data::augment_seed(o.seed, o.epoch, i, occurrence[static_cast<std::size_t>(i)]++));
      CHECK(torch::equal(batch.images[static_cast<std::int64_t>(k)], expected));
    }
  }
  CHECK(batches == 3);
  CHECK(seen == plan);
}

TEST_CASE("repeated examples in one epoch are augmented differently", "[loader]") {
  const auto store = make_store(2);
  image_loader loader(store, labels_for(2), {1, 1}, small_options());
  const auto batch = loader.next();
  REQUIRE(batch);
  CHECK_FALSE(torch::equal(batch->images[0], batch->images[1]));
}

TEST_CASE("drop_last drops only a short last batch", "[loader]") {
  const auto store = make_store(10);
  auto o = small_options();
  std::vector<std::int64_t> plan(10);
  std::iota(plan.begin(), plan.end(), 0);
  {
    image_loader keep(store, labels_for(10), plan, o);
    std::vector<std::int64_t> sizes;
    while (auto b = keep.next()) sizes.push_back(b->images.size(0));
    CHECK(sizes == std::vector<std::int64_t>{4, 4, 2});
  }
  o.drop_last = true;
  {
    image_loader drop(store, labels_for(10), plan, o);
    std::vector<std::int64_t> sizes;
    while (auto b = drop.next()) sizes.push_back(b->images.size(0));
    CHECK(sizes == std::vector<std::int64_t>{4, 4});
    CHECK_FALSE(drop.next());
  }
  plan.resize(8);
  image_loader exact(store, labels_for(10), plan, o);
  CHECK(exact.size() == 2);
  image_loader none(store, labels_for(10), {}, o);
  CHECK(none.size() == 0);
  CHECK_FALSE(none.next());
}

TEST_CASE("batches do not depend on the worker count or prefetch depth", "[loader]") {
  const auto store = make_store(12);
  std::vector<std::int64_t> plan{5, 1, 1, 11, 0, 4, 4, 4, 9, 2, 3, 6, 10, 8, 7, 5, 1};
  auto collect = [&](std::size_t workers, std::size_t prefetch) {
    auto o = small_options();
    o.workers = workers;
    o.prefetch = prefetch;
    o.augment.jitter.contrast = 0.3;
    image_loader loader(store, labels_for(12), plan, o);
    std::vector<torch::Tensor> out;
    while (auto b = loader.next()) out.push_back(b->images);
    return torch::cat(out);
  };
  const auto one = collect(1, 1);
  CHECK(torch::equal(one, collect(3, 0)));
  CHECK(torch::equal(one, collect(4, 2)));
}

TEST_CASE("channels_last batches hold the same values in NHWC memory", "[loader]") {
  const auto store = make_store(6);
  auto o = small_options();
  image_loader a(store, labels_for(6), {0, 1, 2, 3, 4, 5}, o);
  o.channels_last = true;
  image_loader b(store, labels_for(6), {0, 1, 2, 3, 4, 5}, o);
  const auto x = a.next();
  const auto y = b.next();
  REQUIRE(x);
  REQUIRE(y);
  CHECK(y->images.is_contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK(torch::equal(x->images, y->images));
}

TEST_CASE("an exception in a worker reaches the caller at its batch, after the earlier batches", "[loader][errors]") {
  const failing_store store{make_store(12), 5};
  std::vector<std::int64_t> plan(12);
  std::iota(plan.begin(), plan.end(), 0);
  auto o = small_options();
  o.workers = 2;
  image_loader loader(store, labels_for(12), plan, o);
  const auto first = loader.next();  // examples 0..3
  REQUIRE(first);
  CHECK(first->indices == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("image 5 cannot be read"));
  CHECK_THROWS_AS(loader.next(), tpt::input_error);  // and it stays failed
}

TEST_CASE("destroying a loader mid-epoch stops its workers without hanging", "[loader]") {
  const slow_store store{make_store(8)};
  std::vector<std::int64_t> plan(400);
  for (std::size_t p = 0; p < plan.size(); ++p) plan[p] = static_cast<std::int64_t>(p % 8);
  auto o = small_options();
  o.workers = 3;
  {
    image_loader loader(store, labels_for(8), plan, o);
    REQUIRE(loader.next());
  }
  {
    image_loader untouched(store, labels_for(8), plan, o);
  }
  SUCCEED("both loaders were destroyed with batches in flight");
}

TEST_CASE("loader options and plans that cannot work are config errors", "[loader][errors]") {
  const auto store = make_store(4);
  auto o = small_options();
  CHECK_THROWS_WITH(image_loader(store, labels_for(4), {0, 4}, o), Catch::Contains("position 1") && Catch::Contains("4"));
  CHECK_THROWS_AS(image_loader(store, labels_for(4), {-1}, o), tpt::config_error);
  CHECK_THROWS_AS(image_loader(store, labels_for(3), {0}, o), tpt::config_error);
  o.batch_size = 0;
  CHECK_THROWS_AS(image_loader(store, labels_for(4), {0}, o), tpt::config_error);
  o = small_options();
  o.augment.mean = {0.5f};
  CHECK_THROWS_AS(image_loader(store, labels_for(4), {0}, o), tpt::config_error);
  if (!torch::cuda::is_available()) {
    o = small_options();
    o.device = torch::Device(torch::kCUDA);
    CHECK_THROWS_WITH(image_loader(store, labels_for(4), {0}, o), Catch::Contains("CUDA"));
  }
}

TEST_CASE("the default worker count leaves the CPU to the model", "[loader]") {
  CHECK(tpt::data::default_loader_workers(torch::kCPU) == 1);
  CHECK(tpt::data::default_loader_workers(torch::Device(torch::kCUDA)) >= 1);
  CHECK(tpt::data::default_loader_workers(torch::Device(torch::kCUDA)) <= 4);
}

TEST_CASE("the loader serves a decoded cache and moves batches to the requested device", "[loader]") {
  tpt::test::scratch_dir dir;
  auto images = torch::randint(0, 256, {9, 28, 28, 1}, torch::kUInt8);
  const auto cache = tpt::data::decoded_cache::open_or_build(dir / "c.tptc", images, {.height = 28, .width = 28, .channels = 1});
  auto o = small_options();
  o.augment.mean = {0.5f};
  o.augment.std = {0.25f};
  o.augment.mode = tpt::data::augment_mode::eval;
  o.augment.eval_crop_fraction = 1.0;
  o.augment.height = 28;
  o.augment.width = 28;
  o.device = torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  image_loader loader(cache, labels_for(9), {8, 0, 4}, o);
  const auto b = loader.next();
  REQUIRE(b);
  CHECK(b->images.device() == o.device);
  CHECK(b->targets.device() == o.device);
  // Evaluation at the cache's own size is the identity before normalisation.
  const auto expected = (images.index({torch::tensor({8, 0, 4})}).permute({0, 3, 1, 2}).to(torch::kFloat32) / 255 - 0.5) / 0.25;
  CHECK(torch::allclose(b->images.cpu(), expected, 1e-5, 1e-5));
}

TEST_CASE("the torch::data adapter serves augmented examples to make_data_loader", "[loader]") {
  const auto store = make_store(6);
  const auto labels = labels_for(6);
  auto o = small_options();
  tpt::data::augmented_dataset dataset(store, labels, o.augment, o.seed);
  dataset.set_epoch(o.epoch);
  CHECK(dataset.size().value() == 6);
  const auto example = dataset.get(4);
  CHECK(torch::equal(example.data, tpt::data::augment(store[4], o.augment, tpt::data::augment_seed(o.seed, o.epoch, 4))));
  CHECK(example.target.item<std::int64_t>() == labels[4]);
  CHECK_THROWS_AS(dataset.get(6), std::out_of_range);

  auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      dataset.map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(4));
  std::int64_t seen = 0;
  for (auto& batch : *loader) {
    CHECK(batch.data.size(1) == 3);
    CHECK(batch.data.size(2) == 16);
    seen += batch.data.size(0);
  }
  CHECK(seen == 6);
}
