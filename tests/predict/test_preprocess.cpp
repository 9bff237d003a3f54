// tpt/predict/preprocess.hpp and the device choice: a whole image becomes exactly what training's
// decoded cache plus evaluation augmentation made of it; a detection crop exactly what the same
// region saved as its own image becomes; DCT-scaled decoding never shrinks a crop below the
// working size; the checkpoint's recorded preprocessing is read, and bad records refused.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "predict_fixtures.hpp"
#include "tpt/data/augment.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/encode.hpp"
#include "tpt/data/orientation.hpp"
#include "tpt/predict/crop.hpp"
#include "tpt/predict/prediction.hpp"
#include "tpt/predict/preprocess.hpp"
#include "tpt_test_support.hpp"

namespace {

tpt::predict::preprocessing small_preprocessing(tpt::data::resize_policy policy = tpt::data::resize_policy::stretch) {
  tpt::predict::preprocessing p;
  p.working = {.height = 72, .width = 96, .channels = 3, .policy = policy};
  p.working.strict_jpeg = false;
  p.input_height = 64;
  p.input_width = 64;
  return p;
}

bool same_floats(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

}  // namespace

TEST_CASE("a whole image becomes what the decoded cache and evaluation augmentation made of it", "[preprocess]") {
  tpt::test::scratch_dir dir("tpt-prep");
  const std::vector<std::string> files{"a.jpg", "b.jpg", "c.png", "d.jpg"};
  // A frame large enough for DCT-scaled decoding (1/4 here), a grey JPEG, a PNG, a small JPEG.
  tpt::test::write_bytes(dir / "a.jpg", tpt::test::jpeg_fixture(480, 640, 3, 1));
  tpt::test::write_bytes(dir / "b.jpg", tpt::test::jpeg_fixture(150, 200, 1, 2));
  tpt::test::write_bytes(dir / "c.png", tpt::test::png_fixture(90, 120, 3, 3));
  tpt::test::write_bytes(dir / "d.jpg", tpt::test::jpeg_fixture(50, 60, 3, 4));

  for (auto policy : {tpt::data::resize_policy::stretch, tpt::data::resize_policy::center_crop}) {
    INFO("policy " << tpt::data::to_string(policy));
    const auto p = small_preprocessing(policy);
    const auto cache = tpt::data::decoded_cache::open_or_build(dir / fmt::format("{}.tptc", tpt::data::to_string(policy)),
                                                               dir.path(), files, p.working);
    for (std::size_t i = 0; i < files.size(); ++i) {
      INFO(files[i]);
      const auto prepared = tpt::predict::prepare_image(dir / files[i], std::vector{tpt::predict::whole_frame}, p);
      REQUIRE(prepared.input_count() == 1);
      const torch::Tensor expected = tpt::data::augment(cache[i], p.eval_options(), 0);
      REQUIRE(static_cast<std::size_t>(expected.numel()) == prepared.inputs.size());
      CHECK(same_floats(expected.data_ptr<float>(), prepared.inputs.data(), prepared.inputs.size()));
    }
  }
  // The 640 x 480 frame was decoded at a quarter of its size: still above 96 x 72.
  const auto a = tpt::predict::prepare_image(dir / "a.jpg", std::vector{tpt::predict::whole_frame}, small_preprocessing());
  CHECK(a.decoded_width == 160);
  CHECK(a.decoded_height == 120);
}

TEST_CASE("a detection crop becomes what the same region saved as its own image becomes", "[preprocess][crop]") {
  tpt::test::scratch_dir dir("tpt-crop");
  const auto frame = tpt::test::synthetic_frame(300, 400, 3, 21);
  tpt::test::write_bytes(dir / "frame.png", tpt::data::encode_png(frame));
  const auto p = small_preprocessing();

  struct probe {
    tpt::predict::normalized_box box;
    tpt::predict::crop_options options;
  };
  const std::vector<probe> probes{
      {{0.25, 0.2, 0.5, 0.4}, {}},                    // inside
      {{0.85, 0.8, 0.3, 0.3}, {}},                    // past the right and bottom border
      {{0.0, 0.0, 0.2, 0.3}, {.padding = 0.25}},      // top-left corner, padded past it
      {{0.9, 0.0, 0.1, 0.2}, {.square = true}},       // square pushed back inside
      {{0.3, 0.3, 0.2, 0.1}, {.padding = 0.1, .square = true}},
      {{0.123, 0.456, 0.2345, 0.1111}, {}},           // fractional edges round outward
  };
  std::vector<tpt::predict::normalized_box> boxes;
  for (const auto& pr : probes) boxes.push_back(pr.box);
  for (const auto& pr : probes) {
    INFO(fmt::format("box {} padding {} square {}", pr.box, pr.options.padding, pr.options.square));
    const auto prepared = tpt::predict::prepare_image(dir / "frame.png", std::vector{pr.box}, p, pr.options);
    REQUIRE(prepared.input_count() == 1);
    const auto rect = prepared.crops.front();
    // The crop by hand: region in pixels, rounded outward, cut at the border.
    const auto region = tpt::predict::detection_region(pr.box, 400, 300, pr.options);
    CHECK(rect == tpt::predict::covering_pixels(region, 1, 1, 400, 300));
    CHECK(rect.x0 >= 0);
    CHECK(rect.y0 >= 0);
    CHECK(rect.x1 <= 400);
    CHECK(rect.y1 <= 300);
    const auto piece = tpt::predict::crop(frame.view(), rect);
    tpt::test::write_bytes(dir / "piece.png", tpt::data::encode_png(piece));
    const auto alone = tpt::predict::prepare_image(dir / "piece.png", std::vector{tpt::predict::whole_frame}, p);
    REQUIRE(alone.inputs.size() == prepared.inputs.size());
    CHECK(same_floats(alone.inputs.data(), prepared.inputs.data(), alone.inputs.size()));
  }
  // Several boxes at once: one decode, the inputs in box order, an empty box skipped.
  boxes.insert(boxes.begin() + 2, tpt::predict::normalized_box{0.5, 0.5, 0.0, 0.1});
  const auto all = tpt::predict::prepare_image(dir / "frame.png", boxes, p);
  CHECK(all.crops.size() == boxes.size());
  CHECK(all.crops[2].empty());
  CHECK(all.input_count() == static_cast<std::int64_t>(probes.size()));
  const auto first = tpt::predict::prepare_image(dir / "frame.png", std::vector{boxes[0]}, p);
  const auto third = tpt::predict::prepare_image(dir / "frame.png", std::vector{boxes[3]}, p);
  const std::size_t n = first.inputs.size();
  CHECK(same_floats(all.inputs.data(), first.inputs.data(), n));
  CHECK(same_floats(all.inputs.data() + 2 * n, third.inputs.data(), n));
}

TEST_CASE("DCT-scaled decoding keeps every crop at or above the working size", "[preprocess][crop]") {
  tpt::test::scratch_dir dir("tpt-dct");
  tpt::test::write_bytes(dir / "big.jpg", tpt::test::jpeg_fixture(1536, 2048, 3, 41, 85));
  const auto p = small_preprocessing();  // working size 96 x 72
  const std::vector whole{tpt::predict::whole_frame};
  const auto full = tpt::predict::prepare_image(dir / "big.jpg", whole, p);
  CHECK(full.decoded_width == 256);  // 1/8: 256 x 192 still covers 96 x 72
  // A box a quarter of the width wide needs 96 px: 512 / 4 = 128 >= 96, 256 / 4 = 64 < 96.
  const auto quarter = tpt::predict::prepare_image(dir / "big.jpg", std::vector{tpt::predict::normalized_box{0.1, 0.1, 0.25, 0.25}}, p);
  CHECK(quarter.decoded_width == 512);
  CHECK(quarter.crops.front().width() >= 96);
  CHECK(quarter.crops.front().height() >= 72);
  // A small, distant animal: decoded at full size.
  const auto tiny = tpt::predict::prepare_image(dir / "big.jpg", std::vector{tpt::predict::normalized_box{0.5, 0.5, 0.03, 0.03}}, p);
  CHECK(tiny.decoded_width == 2048);
  // Without DCT scaling: full size always.
  auto q = p;
  q.working.dct_scaling = false;
  CHECK(tpt::predict::prepare_image(dir / "big.jpg", whole, q).decoded_width == 2048);
}

TEST_CASE("bad image files become image errors that say what is wrong", "[preprocess]") {
  tpt::test::scratch_dir dir("tpt-prep-bad");
  tpt::test::write_bytes(dir / "cut.jpg", tpt::test::truncated(tpt::test::jpeg_fixture(120, 160, 3, 5), 0.4));
  tpt::test::write_bytes(dir / "zero.jpg", std::vector<std::uint8_t>{});
  const auto p = small_preprocessing();
  const std::vector whole{tpt::predict::whole_frame};
  auto problem = [&](const std::string& name) {
    try {
      (void)tpt::predict::prepare_image(dir / name, whole, p);
    } catch (const tpt::data::image_error& e) {
      return e.problem();
    }
    FAIL(name << " was accepted");
    return tpt::data::image_problem::corrupt;
  };
  CHECK(problem("cut.jpg") == tpt::data::image_problem::truncated);
  CHECK(problem("zero.jpg") == tpt::data::image_problem::empty);
  CHECK(problem("absent.jpg") == tpt::data::image_problem::missing);
}

TEST_CASE("preprocessing comes from the checkpoint's metadata, with defaults when none is recorded", "[preprocess]") {
  tpt::model_metadata m{.class_names = {"a", "b"}, .input_height = 224, .input_width = 224};
  auto p = tpt::predict::preprocessing_for(m);
  CHECK(tpt::predict::origin_of(m) == tpt::predict::preprocessing_origin::defaults);
  CHECK(p.working.height == 256);
  CHECK(p.working.width == 256);
  CHECK(p.working.policy == tpt::data::resize_policy::stretch);
  CHECK(p.crop_fraction == 0.875);
  CHECK_FALSE(p.working.strict_jpeg);

  tpt::predict::record_preprocessing(
      m, {.height = 300, .width = 400, .channels = 3, .policy = tpt::data::resize_policy::center_crop,
          .filter = tpt::data::resize_filter::box, .dct_scaling = false},
      1.0);
  CHECK(tpt::predict::origin_of(m) == tpt::predict::preprocessing_origin::checkpoint);
  p = tpt::predict::preprocessing_for(m);
  CHECK(p.working.height == 300);
  CHECK(p.working.width == 400);
  CHECK(p.working.policy == tpt::data::resize_policy::center_crop);
  CHECK(p.working.filter == tpt::data::resize_filter::box);
  CHECK_FALSE(p.working.dct_scaling);
  CHECK(p.crop_fraction == 1.0);
  CHECK(p.mean == std::vector<float>{0.485f, 0.456f, 0.406f});
  CHECK(fmt::format("{}", p) == "resize to 400x300 (center_crop, box), centre crop 1 to 224x224, 3 channels");

  // The record survives a checkpoint round trip.
  tpt::test::scratch_dir dir("tpt-prep-ckpt");
  const auto meta = tpt::test::make_checkpoint(dir / "m.tpt");
  const auto loaded = tpt::read_checkpoint_metadata(dir / "m.tpt");
  CHECK(tpt::predict::preprocessing_for(loaded).working.width == 72);
  CHECK(tpt::predict::preprocessing_for(loaded).input_width == 64);

  auto bad = [&](nlohmann::json record) {
    auto copy = m;
    copy.extra["preprocessing"] = std::move(record);
    return copy;
  };
  CHECK_THROWS_WITH(tpt::predict::preprocessing_for(bad(3), "m.tpt"), Catch::Contains("m.tpt: extra.preprocessing"));
  CHECK_THROWS_WITH(tpt::predict::preprocessing_for(bad({{"working", {{"policy", "squash"}}}}), "m.tpt"),
                    Catch::Contains("policy 'squash': expected 'stretch' or 'center_crop'"));
  CHECK_THROWS_WITH(tpt::predict::preprocessing_for(bad({{"working", {{"height", "big"}}}})),
                    Catch::Contains("working.height must be an integer"));
  CHECK_THROWS_WITH(tpt::predict::preprocessing_for(bad({{"working", {{"channels", 1}}}})),
                    Catch::Contains("working.channels is 1 but the model takes 3 channels"));
  CHECK_THROWS_WITH(tpt::predict::preprocessing_for(bad({{"working", nlohmann::json::object()}, {"crop_fraction", 1.5}})),
                    Catch::Contains("eval_crop_fraction"));
  CHECK_THROWS_WITH(tpt::predict::preprocessing_for(bad({{"working", {{"exif_orientation", "yes"}}}})),
                    Catch::Contains("working.exif_orientation must be true or false"));
}

TEST_CASE("EXIF orientation in prediction follows the checkpoint - old checkpoints used frames as stored", "[preprocess][orientation]") {
  tpt::model_metadata m{.class_names = {"a", "b"}, .input_height = 64, .input_width = 64};
  CHECK(tpt::predict::preprocessing_for(m).working.exif_orientation);  // nothing recorded: upright, as MegaDetector
  tpt::predict::record_preprocessing(m, {.height = 72, .width = 72});
  CHECK(m.extra["preprocessing"]["working"]["exif_orientation"] == true);
  CHECK(tpt::predict::preprocessing_for(m).working.exif_orientation);
  tpt::predict::record_preprocessing(m, {.height = 72, .width = 72, .exif_orientation = false});
  CHECK_FALSE(tpt::predict::preprocessing_for(m).working.exif_orientation);
  m.extra["preprocessing"]["working"].erase("exif_orientation");  // written before tpt read the tag
  CHECK_FALSE(tpt::predict::preprocessing_for(m).working.exif_orientation);
}

TEST_CASE("a detection box lands on the animal MegaDetector saw in a frame stored sideways", "[preprocess][crop][orientation]") {
  // The upright picture is 300 wide and 200 high; stored turned anticlockwise (200 x 300) with
  // orientation 6, as a camera held sideways writes it. MegaDetector's boxes are fractions of the
  // upright picture.
  tpt::test::scratch_dir dir("tpt-prep-orientation");
  using tpt::data::exif_orientation;
  const auto picture = tpt::test::synthetic_frame(200, 300, 3, 31);
  const auto sideways = tpt::data::upright(picture, exif_orientation::left_bottom);
  tpt::test::write_bytes(dir / "upright.png", tpt::data::encode_png(picture));
  tpt::test::write_bytes(dir / "sideways.png",
                         tpt::test::png_with_exif(tpt::data::encode_png(sideways), tpt::test::exif_tiff(6, true)));
  const tpt::predict::normalized_box box{0.2, 0.3, 0.4, 0.35};
  const std::vector boxes{box};

  // A model trained on upright frames: the crop is the upright crop, pixel for pixel.
  const auto p = small_preprocessing();
  REQUIRE(p.working.exif_orientation);
  const auto from_upright = tpt::predict::prepare_image(dir / "upright.png", boxes, p);
  const auto from_sideways = tpt::predict::prepare_image(dir / "sideways.png", boxes, p);
  CHECK(from_sideways.decoded_width == 300);
  CHECK((from_sideways.crops == from_upright.crops));
  REQUIRE(from_sideways.inputs.size() == from_upright.inputs.size());
  CHECK(same_floats(from_sideways.inputs.data(), from_upright.inputs.data(), from_upright.inputs.size()));

  // A model trained on frames as stored: the same animal, cut from the stored pixels.
  auto q = p;
  q.working.exif_orientation = false;
  const auto stored = tpt::predict::prepare_image(dir / "sideways.png", boxes, q);
  CHECK(stored.decoded_width == 200);
  REQUIRE(stored.crops.size() == 1);
  const auto upright_rect = from_upright.crops.front();  // x [60, 180) y [60, 130)
  CHECK(upright_rect == tpt::predict::pixel_rect{60, 60, 180, 130});
  const auto stored_rect = stored.crops.front();
  CHECK(stored_rect == tpt::predict::pixel_rect{60, 120, 130, 240});
  const auto upright_piece = tpt::predict::crop(picture.view(), upright_rect);
  const auto stored_piece = tpt::predict::crop(sideways.view(), stored_rect);
  const auto turned = tpt::data::upright(stored_piece, exif_orientation::right_top);
  CHECK(std::equal(turned.data(), turned.data() + turned.size_bytes(), upright_piece.data(), upright_piece.data() + upright_piece.size_bytes()));
  // The whole frame as stored for such a model.
  CHECK(tpt::predict::prepare_image(dir / "sideways.png", std::vector{tpt::predict::whole_frame}, q).decoded_height == 300);
  // stored_box for every orientation keeps the box's area and turns its sides with the picture.
  for (int o = 1; o <= 8; ++o) {
    const auto b = tpt::predict::stored_box(box, static_cast<exif_orientation>(o));
    CHECK(b.width * b.height == Approx(box.width * box.height));
    CHECK(b.width == Approx(o >= 5 ? box.height : box.width));
  }
}

TEST_CASE("the device is cpu, cuda or auto, and cuda only where there is one", "[device]") {
  CHECK(tpt::predict::resolve_device("cpu") == torch::Device(torch::kCPU));
  CHECK(tpt::predict::resolve_device("auto") ==
        (torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU)));
  CHECK_THROWS_WITH(tpt::predict::resolve_device("gpu"), Catch::Contains("unknown device 'gpu' (expected cpu, cuda, cuda:N or auto)"));
  CHECK_THROWS_WITH(tpt::predict::resolve_device("cuda:x"), Catch::Contains("expected cuda:N"));
  if (!torch::cuda::is_available()) {
    CHECK_THROWS_WITH(tpt::predict::resolve_device("cuda"), Catch::Contains("LibTorch sees no CUDA device"));
  } else {
    CHECK(tpt::predict::resolve_device("cuda:0").is_cuda());
    CHECK_THROWS_WITH(tpt::predict::resolve_device("cuda:99"), Catch::Contains("CUDA device(s)"));
  }
}
