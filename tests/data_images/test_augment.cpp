// tpt/data/augment.hpp: shapes, value ranges, the crop draws, determinism per seed, evaluation
// mode, and agreement with torchvision's resized_crop / flip / colour jitter / normalize.
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "fixtures.hpp"
#include "tpt/data/augment.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt_test_support.hpp"

using tpt::data::augment;
using tpt::data::augment_mode;
using tpt::data::augment_options;
using tpt::data::augment_seed;
using tpt::data::draw_augmentation;

TEST_CASE("augmented images have the output shape and stay within the normalised range", "[augment]") {
  const auto img = tpt::test::synthetic_frame(256, 256, 3, 1, 40.0);
  augment_options o;
  o.jitter = {.brightness = 0.4, .contrast = 0.4, .saturation = 0.4};
  for (std::uint64_t s = 0; s < 20; ++s) {
    const auto out = augment(img, o, s);
    REQUIRE(out.sizes() == torch::IntArrayRef({3, 224, 224}));
    for (int c = 0; c < 3; ++c) {
      const float lo = (0 - o.mean[static_cast<std::size_t>(c)]) / o.std[static_cast<std::size_t>(c)];
      const float hi = (1 - o.mean[static_cast<std::size_t>(c)]) / o.std[static_cast<std::size_t>(c)];
      CHECK(out[c].min().item<float>() >= lo - 1e-5f);
      CHECK(out[c].max().item<float>() <= hi + 1e-5f);
    }
  }
  const auto grey = tpt::test::synthetic_frame(28, 28, 1, 2);
  augment_options g{.height = 24, .width = 20};
  g.mean = {0.286f};
  g.std = {0.353f};
  CHECK(augment(grey, g, 3).sizes() == torch::IntArrayRef({1, 24, 20}));
  CHECK_THROWS_AS(augment(grey, augment_options{}, 3), tpt::config_error);  // 3 means for 1 channel
}

TEST_CASE("a constant image normalises to exactly (v/255 - mean)/std whatever the crop", "[augment]") {
  tpt::data::image img(100, 140, 3);
  for (std::int64_t y = 0; y < 100; ++y)
    for (std::int64_t x = 0; x < 140; ++x) {
      img.at(y, x, 0) = 10;
      img.at(y, x, 1) = 128;
      img.at(y, x, 2) = 250;
    }
  const augment_options o;
  for (std::uint64_t s = 0; s < 10; ++s) {
    const auto out = augment(img, o, s);
    for (int c = 0; c < 3; ++c) {
      const float v = c == 0 ? 10 : c == 1 ? 128 : 250;
      const float expected = (v / 255.0f - o.mean[static_cast<std::size_t>(c)]) / o.std[static_cast<std::size_t>(c)];
      CHECK(out[c].min().item<float>() == Approx(expected).margin(1e-4));
      CHECK(out[c].max().item<float>() == Approx(expected).margin(1e-4));
    }
  }
}

TEST_CASE("crop draws follow RandomResizedCrop's scale and ratio ranges", "[augment]") {
  const augment_options o;
  int flips = 0;
  std::set<std::pair<double, double>> corners;
  for (std::uint64_t s = 0; s < 2000; ++s) {
    const auto a = draw_augmentation(256, 192, o, augment_seed(7, 0, static_cast<std::int64_t>(s)));
    REQUIRE(a.box.x0 >= 0);
    REQUIRE(a.box.y0 >= 0);
    REQUIRE(a.box.x1 <= 192);
    REQUIRE(a.box.y1 <= 256);
    const double area = a.box.width() * a.box.height() / (256.0 * 192.0);
    const double ratio = a.box.width() / a.box.height();
    // Rounding to whole pixels moves area and ratio slightly off the drawn values.
    CHECK(area >= 0.08 * 0.9);
    CHECK(area <= 1.0);
    CHECK(ratio >= 0.75 * 0.9);
    CHECK(ratio <= 4.0 / 3.0 * 1.1);
    flips += a.flip;
    corners.emplace(a.box.x0, a.box.y0);
  }
  CHECK(flips > 900);
  CHECK(flips < 1100);
  CHECK(corners.size() > 1000);
}

TEST_CASE("augmentation is a function of the seed: same seed same tensor, other seed other tensor", "[augment]") {
  const auto img = tpt::test::synthetic_frame(256, 256, 3, 5, 20.0);
  augment_options o;
  o.jitter.brightness = 0.3;
  const auto a = augment(img, o, augment_seed(1, 2, 3, 0));
  const auto b = augment(img, o, augment_seed(1, 2, 3, 0));
  const auto c = augment(img, o, augment_seed(1, 2, 3, 1));  // a second copy in the same epoch
  const auto d = augment(img, o, augment_seed(1, 3, 3, 0));  // next epoch
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
  CHECK_FALSE(torch::equal(a, d));
}

TEST_CASE("evaluation mode is the centre crop, with no randomness", "[augment]") {
  const auto img = tpt::test::synthetic_frame(256, 256, 3, 6, 20.0);
  augment_options o{.mode = augment_mode::eval};
  const auto a = augment(img, o, 1);
  CHECK(torch::equal(a, augment(img, o, 999)));
  // 224/256 of a 256 cache: exactly pixels 16..239, normalised.
  for (int c = 0; c < 3; ++c)
    for (int y : {0, 100, 223})
      for (int x : {0, 57, 223}) {
        const float v = img.at(y + 16, x + 16, c) / 255.0f;
        CHECK(a[c][y][x].item<float>() ==
              Approx((v - o.mean[static_cast<std::size_t>(c)]) / o.std[static_cast<std::size_t>(c)]).margin(1e-5));
      }
}

TEST_CASE("a horizontal flip mirrors the output", "[augment]") {
  const auto img = tpt::test::synthetic_frame(64, 64, 3, 8, 20.0);
  augment_options o{.height = 48, .width = 40, .crop = {.scale_min = 0.5, .scale_max = 0.5, .ratio_min = 1, .ratio_max = 1}};
  o.flip_probability = 1;
  const std::uint64_t seed = 42;
  const auto flipped = augment(img, o, seed);
  o.flip_probability = 0;
  // The same crop box: flip is drawn after the box, so the box does not change.
  const auto plain = augment(img, o, seed);
  CHECK(torch::allclose(flipped, plain.flip({2}), 1e-5, 1e-5));
}

TEST_CASE("augmentation matches torchvision (resized_crop antialias, hflip, jitter, normalize)", "[augment][reference]") {
  tpt::test::scratch_dir dir;
  const auto img = tpt::test::synthetic_frame(120, 160, 3, 9, 25.0);
  tpt::test::write_bytes(dir / "in.png", tpt::data::encode_png(img));
  augment_options o{.height = 64, .width = 72};
  o.jitter = {.brightness = 0.5, .contrast = 0.5, .saturation = 0.5};
  std::string script = fmt::format(
      "import torch, numpy as np\nfrom PIL import Image\nimport torchvision.transforms.functional as F\n"
      "x = torch.from_numpy(np.array(Image.open(r'{}'))).permute(2, 0, 1).float() / 255\n"
      "mean = {}; std = {}\nout = []\n",
      (dir / "in.png").string(), fmt::format("[{}]", fmt::join(o.mean, ",")), fmt::format("[{}]", fmt::join(o.std, ",")));
  const std::vector<std::uint64_t> seeds{1, 2, 3, 4, 5, 6};
  for (std::uint64_t s : seeds) {
    const auto a = draw_augmentation(120, 160, o, s);
    const bool jitter = s % 2 == 0;
    script += fmt::format(
        "y = F.resized_crop(x, {}, {}, {}, {}, [{}, {}], interpolation=F.InterpolationMode.BILINEAR, antialias=True)\n",
        a.box.y0, a.box.x0, a.box.height(), a.box.width(), o.height, o.width);
    if (a.flip) script += "y = F.hflip(y)\n";
    if (jitter) {
      for (int op : a.jitter_order) {
        if (op == 0) script += fmt::format("y = F.adjust_brightness(y, {:.9g})\n", a.brightness);
        if (op == 1) script += fmt::format("y = F.adjust_contrast(y, {:.9g})\n", a.contrast);
        if (op == 2) script += fmt::format("y = F.adjust_saturation(y, {:.9g})\n", a.saturation);
      }
    } else {
      script += "y = y.clamp(0, 1)\n";
    }
    script += "out.append(F.normalize(y, mean, std))\n";
  }
  script += fmt::format("torch.stack(out).numpy().astype('float32').tofile(r'{}')\n", (dir / "ref.f32").string());
  tpt::io::write_text_atomically(dir / "ref.py", script);
  REQUIRE(std::system(fmt::format("{} {}", TPT_REFERENCE_PYTHON, (dir / "ref.py").string()).c_str()) == 0);
  const auto raw = tpt::test::read_bytes(dir / "ref.f32");
  REQUIRE(raw.size() == seeds.size() * 3 * 64 * 72 * sizeof(float));
  const auto ref = torch::from_blob(const_cast<std::uint8_t*>(raw.data()), {static_cast<std::int64_t>(seeds.size()), 3, 64, 72}, torch::kFloat32).clone();
  for (std::size_t k = 0; k < seeds.size(); ++k) {
    augment_options ok = o;
    if (seeds[k] % 2 == 1) ok.jitter = {};
    // Same draws with or without jitter: the jitter factors are drawn after box and flip.
    const auto ours = augment(img, ok, seeds[k]);
    const float worst = (ours - ref[static_cast<std::int64_t>(k)]).abs().max().item<float>();
    INFO("seed " << seeds[k] << " jitter " << (seeds[k] % 2 == 0) << " worst difference " << worst);
    CHECK(worst < 2e-3f);
  }
}
