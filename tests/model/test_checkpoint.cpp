// tpt/model/checkpoint.hpp: weights and metadata round-trip, Python reads the file, bad
// checkpoints and contradicting metadata are refused, a failed save destroys nothing.
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model_test_support.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/model/weights.hpp"
#include "tpt_test_support.hpp"

namespace fs = std::filesystem;
using tpt::test::max_abs_diff;
using tpt::test::TinyNet;

namespace {

tpt::model_metadata grey_metadata() {
  tpt::model_metadata m;
  m.architecture = "resnet18";
  m.class_names = {"zebra", "wildebeest", "gazelleThomsons", "buffalo", "elephant"};
  m.in_channels = 1;
  m.stem = tpt::resnet_stem::small_image;
  m.input_height = 32;
  m.input_width = 32;
  m.normalization_mean = {0.5};
  m.normalization_std = {0.25};
  m.extra = {{"phase", 2}, {"freezer", "freeze all but the classifier"}};
  return m;
}

// A checkpoint-shaped file with chosen root entries (the way save_checkpoint writes it).
void write_root(const fs::path& file, c10::impl::GenericDict root) {
  const auto bytes = torch::pickle_save(c10::IValue(root));
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

c10::impl::GenericDict fake_checkpoint(std::int64_t version, const std::string& metadata) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("format", std::string("tpt.checkpoint"));
  root.insert("version", version);
  root.insert("metadata", metadata);
  c10::Dict<std::string, torch::Tensor> weights;
  weights.insert("head.weight", torch::zeros({3, 16}));
  root.insert("state_dict", weights);
  return root;
}

}  // namespace

TEST_CASE("a checkpoint round-trips weights and metadata, and torchvision reads it", "[model][checkpoint][python]") {
  tpt::test::scratch_dir dir("tpt-checkpoint");
  tpt::test::run_reference(fmt::format("export --arch resnet18 --classes 5 --channels 1 --stem small_image --size 32 "
                                       "--out '{}'", dir.path().string()));
  const auto ref = tpt::read_state_dict(dir / "reference.pt");
  auto model = tpt::resnet18({.num_classes = 5, .in_channels = 1, .stem = tpt::resnet_stem::small_image});
  tpt::load_weights(model, dir / "weights.pt");
  // Saved from a channels_last model: the file holds plain contiguous tensors all the same.
  for (auto& p : model->parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  const auto meta = grey_metadata();
  tpt::save_checkpoint(dir / "model.tpt", model, meta);

  auto loaded = tpt::load_checkpoint(dir / "model.tpt");
  CHECK_FALSE(loaded.model->is_training());
  CHECK(loaded.metadata.class_names == meta.class_names);
  CHECK(loaded.metadata.in_channels == 1);
  CHECK(loaded.metadata.stem == tpt::resnet_stem::small_image);
  CHECK(loaded.metadata.input_height == 32);
  CHECK(loaded.metadata.input_width == 32);
  CHECK(loaded.metadata.normalization_mean == std::vector<double>{0.5});
  CHECK(loaded.metadata.normalization_std == std::vector<double>{0.25});
  CHECK(loaded.metadata.extra == meta.extra);
  CHECK(fmt::format("{}", loaded.metadata) == "resnet18, 5 classes, 1 channel, small_image stem, 32x32 input");
  for (const auto& item : model->named_buffers()) CHECK(torch::equal(item.value(), loaded.model->named_buffers()[item.key()]));
  {
    torch::NoGradGuard no_grad;
    CHECK(max_abs_diff(loaded.model->forward(ref["x"]), ref["logits_eval"]) < 1e-5);
  }
  CHECK(tpt::read_checkpoint_metadata(dir / "model.tpt").class_names == meta.class_names);

  // Python: torch.load, then torchvision's load_state_dict(strict=True), same logits.
  tpt::test::run_reference(fmt::format("check-checkpoint --checkpoint '{}' --reference '{}' --out '{}'",
                                       (dir / "model.tpt").string(), (dir / "reference.pt").string(),
                                       (dir / "python_logits.pt").string()));
  CHECK(max_abs_diff(tpt::read_state_dict(dir / "python_logits.pt")["logits"], ref["logits_eval"]) < 1e-5);

  // A checkpoint is also a weights file: start a new model from it.
  auto again = tpt::resnet18({.num_classes = 5, .in_channels = 1, .stem = tpt::resnet_stem::small_image});
  CHECK(tpt::load_weights(again, dir / "model.tpt").loaded == 122);
}

TEST_CASE("save_checkpoint refuses metadata that contradicts the model and keeps the old file",
          "[model][checkpoint][errors]") {
  tpt::test::scratch_dir dir("tpt-checkpoint");
  auto model = tpt::resnet18({.num_classes = 5, .in_channels = 1, .stem = tpt::resnet_stem::small_image});
  const auto file = dir / "model.tpt";
  tpt::save_checkpoint(file, model, grey_metadata());
  const std::string good = tpt::io::read_text(file);

  auto bad = [&](auto change, const std::string& field) {
    auto m = grey_metadata();
    change(m);
    INFO(field);
    CHECK_THROWS_WITH(tpt::save_checkpoint(file, model, m), Catch::Contains(fmt::format("option '{}'", field)));
    CHECK(tpt::io::read_text(file) == good);
  };
  bad([](auto& m) { m.class_names.pop_back(); }, "class_names");
  bad([](auto& m) { m.class_names[1] = m.class_names[0]; }, "class_names");
  bad([](auto& m) { m.class_names.clear(); }, "class_names");
  bad([](auto& m) { m.in_channels = 3; m.normalization_mean = {0, 0, 0}; m.normalization_std = {1, 1, 1}; },
      "in_channels");
  bad([](auto& m) { m.stem = tpt::resnet_stem::imagenet; }, "stem");
  bad([](auto& m) { m.architecture = "resnet34"; }, "architecture");
  bad([](auto& m) { m.normalization_mean = {0.5, 0.5, 0.5}; }, "normalization_mean");
  bad([](auto& m) { m.normalization_std = {0.0}; }, "normalization_std");
  bad([](auto& m) { m.input_width = 0; }, "input size");
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);  // no temporary left behind
}

TEST_CASE("bad checkpoints are named with what is wrong", "[model][checkpoint][errors]") {
  tpt::test::scratch_dir dir("tpt-checkpoint");
  CHECK_THROWS_WITH(tpt::load_checkpoint(dir / "absent.tpt"), Catch::Contains("absent.tpt") && Catch::Contains("no such file"));

  // A plain state_dict is weights, not a checkpoint.
  auto model = tpt::resnet18({.num_classes = 3});
  c10::Dict<std::string, torch::Tensor> plain;
  plain.insert("conv1.weight", model->conv1->weight.detach());
  const auto bytes = torch::pickle_save(plain);
  std::ofstream(dir / "plain.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  CHECK_THROWS_WITH(tpt::load_checkpoint(dir / "plain.pt"),
                    Catch::Contains("plain.pt") && Catch::Contains("not a tpt checkpoint") &&
                        Catch::Contains("load_weights"));

  auto json = tpt::to_json(grey_metadata());
  write_root(dir / "future.tpt", fake_checkpoint(2, json.dump()));
  CHECK_THROWS_WITH(tpt::load_checkpoint(dir / "future.tpt"), Catch::Contains("newer tpt (checkpoint version 2)"));

  write_root(dir / "broken.tpt", fake_checkpoint(1, "{\"architecture\": "));
  CHECK_THROWS_WITH(tpt::load_checkpoint(dir / "broken.tpt"), Catch::Contains("broken.tpt") && Catch::Contains("not valid JSON"));

  auto no_names = json;
  no_names.erase("class_names");
  write_root(dir / "nameless.tpt", fake_checkpoint(1, no_names.dump()));
  CHECK_THROWS_WITH(tpt::read_checkpoint_metadata(dir / "nameless.tpt"), Catch::Contains("lacks 'class_names'"));

  auto wrong_type = json;
  wrong_type["in_channels"] = "one";
  write_root(dir / "typed.tpt", fake_checkpoint(1, wrong_type.dump()));
  CHECK_THROWS_WITH(tpt::read_checkpoint_metadata(dir / "typed.tpt"),
                    Catch::Contains("'in_channels': expected an integer, got \"one\""));

  auto custom = json;
  custom["architecture"] = "tinynet";
  custom["class_names"] = {"a", "b", "c"};
  custom["in_channels"] = 3;
  custom["normalization_mean"] = {0.5, 0.5, 0.5};
  custom["normalization_std"] = {0.5, 0.5, 0.5};
  write_root(dir / "tiny.tpt", fake_checkpoint(1, custom.dump()));
  CHECK_THROWS_WITH(tpt::load_checkpoint(dir / "tiny.tpt"),
                    Catch::Contains("'tinynet'") && Catch::Contains("load_checkpoint_into"));
  // The fake holds only head.weight: loading it into a TinyNet lists what is missing.
  TinyNet tiny(3);
  CHECK_THROWS_WITH(tpt::load_checkpoint_into(dir / "tiny.tpt", tiny),
                    Catch::Contains("tiny.tpt") && Catch::Contains("stem.weight: missing from the file"));
}

TEST_CASE("a user-defined model saves and loads through the same checkpoint functions",
          "[model][checkpoint][user-model]") {
  tpt::test::scratch_dir dir("tpt-checkpoint");
  torch::manual_seed(31);
  TinyNet model(3);
  tpt::model_metadata meta;
  meta.class_names = {"impala", "hyena", "lion"};
  // Left at its default, the architecture says resnet18: load_checkpoint would rebuild a ResNet
  // from the file and fail on every weight, so the file is not written.
  CHECK_THROWS_WITH(tpt::save_checkpoint(dir / "tiny.tpt", model, meta),
                    Catch::Contains("'resnet18' (the default)") && Catch::Contains("not a tpt::ResNet") &&
                        Catch::Contains("load_checkpoint_into"));
  meta.architecture = "resnet34";
  CHECK_THROWS_WITH(tpt::save_checkpoint(dir / "tiny.tpt", model, meta), Catch::Contains("'resnet34', but"));
  CHECK_FALSE(std::filesystem::exists(dir / "tiny.tpt"));
  meta.architecture = "tinynet";
  tpt::save_checkpoint(dir / "tiny.tpt", model, meta);

  torch::manual_seed(32);
  TinyNet other(3);
  const auto read = tpt::load_checkpoint_into(dir / "tiny.tpt", other);
  CHECK(read.architecture == "tinynet");
  CHECK(read.class_names == meta.class_names);
  model->eval();
  other->eval();
  const auto x = torch::randn({2, 3, 16, 16});
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(model->forward(x), other->forward(x)));

  TinyNet four(4);
  CHECK_THROWS_WITH(tpt::load_checkpoint_into(dir / "tiny.tpt", four), Catch::Contains("3-class model") &&
                                                                           Catch::Contains("4 outputs"));
  meta.class_names.push_back("cheetah");
  CHECK_THROWS_AS(tpt::save_checkpoint(dir / "tiny.tpt", model, meta), tpt::config_error);
}
