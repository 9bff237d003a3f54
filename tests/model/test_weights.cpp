// tpt/model/weights.hpp: torchvision's weights give torchvision's logits; every bad file gets an
// error naming the file and the problem.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "model_test_support.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/model/detail/torch_pickle.hpp"
#include "tpt/model/weights.hpp"
#include "tpt_test_support.hpp"

namespace fs = std::filesystem;
using namespace std::string_literals;
using tpt::test::max_abs_diff;

namespace {

// The same state_dict the way LibTorch writes it (torch::pickle_save: a typed dict, zip format).
void save_with_libtorch(const torch::nn::Module& module, const fs::path& file) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& p : module.named_parameters()) dict.insert(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers()) dict.insert(b.key(), b.value());
  const auto bytes = torch::pickle_save(dict);
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A zip archive laid out like torch.save's, with records we choose.
void write_archive(const fs::path& file, const std::vector<std::pair<std::string, std::string>>& records) {
  caffe2::serialize::PyTorchStreamWriter writer(file.string());
  for (const auto& [name, data] : records) writer.writeRecord(name, data.data(), data.size());
  writer.writeEndOfFile();
}

std::string read_record(const fs::path& file, const std::string& name) {
  caffe2::serialize::PyTorchStreamReader reader(file.string());
  auto [ptr, n] = reader.getRecord(name);
  return std::string(static_cast<const char*>(ptr.get()), n);
}

// Compare our model, loaded with torchvision's weights, against torchvision's outputs.
// `train_tolerance` bounds the training-mode logits and BatchNorm statistics (see the ResNet-34
// case for when it needs to be wider).
void check_equivalence(tpt::ResNet& model, const fs::path& dir, double train_tolerance = 1e-4) {
  const auto ref = tpt::read_state_dict(dir / "reference.pt");
  const auto report = tpt::load_weights(model, dir / "weights.pt");
  CHECK(report.loaded == model->named_parameters().size() + model->named_buffers().size());
  CHECK_FALSE(report.replaced_classifier);
  CHECK(tpt::count_parameters(model).total == ref["num_parameters"].item<std::int64_t>());

  const torch::Tensor x = ref["x"];
  torch::NoGradGuard no_grad;
  model->eval();
  CHECK(max_abs_diff(model->forward(x), ref["logits_eval"]) < 1e-5);
  CHECK(max_abs_diff(model->features(x), ref["features_eval"]) < 1e-5);

  // Training mode: batch statistics, and the running ones move exactly as PyTorch's do.
  model->train();
  CHECK(max_abs_diff(model->forward(x), ref["logits_train"]) < train_tolerance);
  for (const auto& b : model->named_buffers()) {
    INFO(b.key());
    CHECK(max_abs_diff(b.value(), ref["after." + b.key()]) < train_tolerance / 10);
  }
  CHECK(model->bn1->num_batches_tracked.item<std::int64_t>() == 8);
}

}  // namespace

TEST_CASE("torchvision resnet18 weights give torchvision's logits to 1e-5", "[model][weights][python]") {
  tpt::test::scratch_dir dir("tpt-weights");
  tpt::test::run_reference(fmt::format("export --arch resnet18 --classes 1000 --size 64 --out '{}'", dir.path().string()));
  auto model = tpt::resnet18();
  check_equivalence(model, dir.path());

  // The legacy format (before PyTorch 1.6) holds the same tensors. PyTorch 1.13 always writes it.
  if (fs::exists(dir / "weights_legacy.pt")) {
    const auto zip = tpt::read_state_dict(dir / "weights.pt");
    const auto legacy = tpt::read_state_dict(dir / "weights_legacy.pt");
    REQUIRE(legacy.keys() == zip.keys());
    for (const auto& item : zip) CHECK(torch::equal(item.value(), legacy[item.key()]));
    CHECK(zip.keys().front() == "conv1.weight");
    CHECK(zip["bn1.num_batches_tracked"].scalar_type() == torch::kLong);

    // A cut-off legacy file says so.
    const auto full = fs::file_size(dir / "weights_legacy.pt");
    fs::copy_file(dir / "weights_legacy.pt", dir / "cut.pt");
    fs::resize_file(dir / "cut.pt", full - 1000);
    CHECK_THROWS_WITH(tpt::read_state_dict(dir / "cut.pt"), Catch::Contains("cut.pt") && Catch::Contains("truncated"));
  }
}

TEST_CASE("the small-image stem with one channel matches an edited torchvision model", "[model][weights][python]") {
  tpt::test::scratch_dir dir("tpt-weights");
  tpt::test::run_reference(fmt::format("export --arch resnet18 --classes 52 --channels 1 --stem small_image --size 32 "
                                       "--out '{}'", dir.path().string()));
  auto model = tpt::resnet18({.num_classes = 52, .in_channels = 1, .stem = tpt::resnet_stem::small_image});
  check_equivalence(model, dir.path());
}

TEST_CASE("torchvision resnet34 weights give torchvision's logits", "[model][weights][python]") {
  tpt::test::scratch_dir dir("tpt-weights");
  tpt::test::run_reference(
      fmt::format("export --arch resnet34 --classes 10 --size 32 --batch 8 --out '{}'", dir.path().string()));
  // At 32 px through the ImageNet stem layer3 works on 2x2 maps and layer4 on 1x1 maps, where
  // tpt's CPU kernel choices apply (live taps, matrix products, small-map BatchNorm). With them
  // off, every kernel is torchvision's and so are the results to 1e-4 in training mode too.
  auto full = tpt::resnet34({.num_classes = 10,
                             .skip_padding_taps = false,
                             .small_map_batch_norm = false,
                             .channels_last_max_pool = false});
  check_equivalence(full, dir.path());
  // The choices change only the order of the sums, and with a batch of 8 (layer4's BatchNorm
  // normalises 8 values per channel in training mode; 2 would magnify float rounding into the
  // third decimal) the results agree to the same tolerances.
  auto model = tpt::resnet34({.num_classes = 10});
  check_equivalence(model, dir.path());
}

TEST_CASE("ImageNet weights into a 52-class model replace the classifier and say so", "[model][weights][python]") {
  tpt::test::scratch_dir dir("tpt-weights");
  tpt::test::run_reference(fmt::format("export --arch resnet18 --classes 1000 --size 32 --extras --out '{}'",
                                       dir.path().string()));
  const auto weights = tpt::read_state_dict(dir / "weights.pt");

  torch::manual_seed(9);
  auto model = tpt::resnet18({.num_classes = 52});
  const torch::Tensor fc_before = model->fc->weight.clone();
  const auto report = tpt::load_weights(model, dir / "weights.pt");
  REQUIRE(report.replaced_classifier);
  CHECK(report.replaced_classifier->file_classes == 1000);
  CHECK(report.replaced_classifier->model_classes == 52);
  CHECK(report.loaded == 122 - 2);
  CHECK(report.classifier == "fc");
  CHECK(torch::equal(model->fc->weight, fc_before));
  for (const auto& p : model->named_parameters())
    if (!p.key().starts_with("fc.")) CHECK(torch::equal(p.value(), weights[p.key()]));
  const std::string said = fmt::format("{}", report);
  CHECK_THAT(said, Catch::Contains("loaded 120 tensors") && Catch::Contains("classifier 'fc' replaced") &&
                       Catch::Contains("1000 classes, the model 52"));

  SECTION("without replacement the class count is an error listing both tensors") {
    auto other = tpt::resnet18({.num_classes = 52});
    const torch::Tensor conv_before = other->conv1->weight.clone();
    CHECK_THROWS_WITH(tpt::load_weights(other, dir / "weights.pt", {.replace_classifier = false}),
                      Catch::Contains("weights.pt") && Catch::Contains("2 mismatches") &&
                          Catch::Contains("fc.weight: the file has [1000, 512], the model [52, 512]") &&
                          Catch::Contains("fc.bias: the file has [1000], the model [52]"));
    CHECK(torch::equal(other->conv1->weight, conv_before));  // nothing copied on failure
  }
  SECTION("weights nested in a dict load by naming the entry") {
    CHECK_THROWS_WITH(tpt::read_state_dict(dir / "nested.pt"),
                      Catch::Contains("nested.pt") && Catch::Contains("'epoch' (int)") &&
                          Catch::Contains("entries holding dicts: 'model'"));
    const auto nested = tpt::read_state_dict(dir / "nested.pt", {.entry = "model"});
    CHECK(nested.keys() == weights.keys());
    CHECK_THROWS_WITH(tpt::read_state_dict(dir / "nested.pt", {.entry = "weights"}),
                      Catch::Contains("no entry 'weights'"));
  }
  SECTION("pickle protocol 4 reads as protocol 2") {
    const auto p4 = tpt::read_state_dict(dir / "protocol4.pt");
    REQUIRE(p4.keys() == weights.keys());
    for (const auto& item : weights) CHECK(torch::equal(item.value(), p4[item.key()]));
  }
  SECTION("DataParallel's module. prefix is stripped on request") {
    auto other = tpt::resnet18();
    CHECK_THROWS_WITH(tpt::load_weights(other, dir / "dataparallel.pt"),
                      Catch::Contains("module.conv1.weight: in the file ([64, 3, 7, 7]) but not in the model") &&
                          Catch::Contains("conv1.weight: missing from the file"));
    const auto r = tpt::load_weights(other, dir / "dataparallel.pt", {}, {.strip_prefix = "module."});
    CHECK(r.loaded == 122);
    for (const auto& p : other->named_parameters()) CHECK(torch::equal(p.value(), weights[p.key()]));
    for (const auto& b : other->named_buffers()) CHECK(torch::equal(b.value(), weights[b.key()]));
  }
  SECTION("files that hold something else are named as such") {
    CHECK_THROWS_WITH(tpt::read_state_dict(dir / "not_a_dict.pt"),
                      Catch::Contains("not_a_dict.pt") && Catch::Contains("holds a list"));
    if (fs::exists(dir / "torchscript.pt"))  // PyTorch 1.13 always writes it
      CHECK_THROWS_WITH(tpt::read_state_dict(dir / "torchscript.pt"),
                        Catch::Contains("torchscript.pt") && Catch::Contains("TorchScript"));
  }
  SECTION("a storage that claims more bytes than the file has is refused before any allocation") {
    // 2^40 floats (4 TiB) claimed by a 200-byte legacy file: used to escape as a raw c10::Error
    // from the allocator, with no file name.
    CHECK_THROWS_AS(tpt::read_state_dict(dir / "legacy_huge.pt"), tpt::input_error);
    CHECK_THROWS_WITH(tpt::read_state_dict(dir / "legacy_huge.pt"),
                      Catch::Contains("legacy_huge.pt") && Catch::Contains("1099511627776 elements of 4 bytes expected"));
  }
}

TEST_CASE("weights saved by LibTorch load, and shape mismatches are all listed", "[model][weights][errors]") {
  tpt::test::scratch_dir dir("tpt-weights");
  torch::manual_seed(11);
  auto source = tpt::resnet18({.num_classes = 52});
  save_with_libtorch(*source, dir / "r18.pt");
  auto copy = tpt::resnet18({.num_classes = 52});
  CHECK(tpt::load_weights(copy, dir / "r18.pt").loaded == 122);
  CHECK(torch::equal(copy->layer3->named_parameters()["1.conv2.weight"],
                     source->layer3->named_parameters()["1.conv2.weight"]));

  // ImageNet-stem RGB weights into a small-stem greyscale model: conv1 differs, nothing else.
  auto grey = tpt::resnet18({.num_classes = 52, .in_channels = 1, .stem = tpt::resnet_stem::small_image});
  const torch::Tensor before = grey->layer1->named_parameters()["0.conv1.weight"].clone();
  CHECK_THROWS_WITH(tpt::load_weights(grey, dir / "r18.pt"),
                    Catch::Contains("r18.pt") && Catch::Contains("1 mismatch:") &&
                        Catch::Contains("conv1.weight: the file has [64, 3, 7, 7], the model [64, 1, 3, 3]"));
  CHECK(torch::equal(grey->layer1->named_parameters()["0.conv1.weight"], before));
  const auto lenient = tpt::load_weights(grey, dir / "r18.pt", {.strict = false});
  CHECK(lenient.loaded == 121);
  REQUIRE(lenient.skipped.size() == 1);
  CHECK_THAT(fmt::format("{}", lenient), Catch::Contains("skipped 1: conv1.weight"));
  CHECK(torch::equal(grey->layer1->named_parameters()["0.conv1.weight"],
                     source->layer1->named_parameters()["0.conv1.weight"]));

  // ResNet-34 weights into ResNet-18: every extra block is listed, not just the first.
  auto r34 = tpt::resnet34({.num_classes = 52});
  save_with_libtorch(*r34, dir / "r34.pt");
  try {
    tpt::load_weights(copy, dir / "r34.pt");
    FAIL("expected an error");
  } catch (const tpt::input_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("layer1.2.conv1.weight: in the file ([64, 64, 3, 3]) but not in the model"));
    CHECK_THAT(what, Catch::Contains("layer3.5.bn2.running_var: in the file"));
    CHECK_THAT(what, Catch::Contains("layer4.2.bn2.num_batches_tracked: in the file"));
    CHECK(e.file() == dir / "r34.pt");
  }

  // Old files lack num_batches_tracked; PyTorch loads them, so does tpt, and says so.
  c10::Dict<std::string, torch::Tensor> old;
  for (const auto& p : source->named_parameters()) old.insert(p.key(), p.value().detach());
  for (const auto& b : source->named_buffers())
    if (!b.key().ends_with("num_batches_tracked")) old.insert(b.key(), b.value());
  const auto bytes = torch::pickle_save(old);
  write_bytes(dir / "old.pt", std::string(bytes.begin(), bytes.end()));
  const auto r = tpt::load_weights(copy, dir / "old.pt");
  CHECK(r.defaulted.size() == 20);
  CHECK(r.loaded == 102);
}

TEST_CASE("missing, empty, corrupt and hostile files give clear errors", "[model][weights][errors]") {
  tpt::test::scratch_dir dir("tpt-weights");
  auto model = tpt::resnet18({.num_classes = 4, .stem = tpt::resnet_stem::small_image});

  CHECK_THROWS_WITH(tpt::load_weights(model, dir / "absent.pt"),
                    Catch::Contains("absent.pt") && Catch::Contains("no such file"));
  CHECK_THROWS_AS(tpt::load_weights(model, dir / "absent.pt"), tpt::input_error);
  CHECK_THROWS_WITH(tpt::read_state_dict(dir.path()), Catch::Contains("is a folder"));

  write_bytes(dir / "empty.pt", "");
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "empty.pt"), Catch::Contains("empty.pt") && Catch::Contains("is empty"));

  write_bytes(dir / "text.pt", "conv1.weight,0.1,0.2\n");
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "text.pt"),
                    Catch::Contains("text.pt") && Catch::Contains("not a file written by torch.save"));

  // A zip whose central directory is gone (cut short).
  save_with_libtorch(*model, dir / "good.pt");
  fs::copy_file(dir / "good.pt", dir / "cut.pt");
  fs::resize_file(dir / "cut.pt", fs::file_size(dir / "good.pt") / 2);
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "cut.pt"),
                    Catch::Contains("cut.pt") && Catch::Contains("not a readable PyTorch zip archive"));

  // Valid archives around a broken pickle, a pickle that tries to run a command, a short storage.
  write_archive(dir / "garbage.pt", {{"data.pkl", "\x80\x02}q\x00(X\x05\x00\x00\x00"s}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "garbage.pt"),
                    Catch::Contains("garbage.pt") && Catch::Contains("corrupt or unsupported pickle at byte"));
  write_archive(dir / "hostile.pt", {{"data.pkl", "\x80\x02\x63os\nsystem\nX\x05\x00\x00\x00touch\x85R."s}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "hostile.pt"),
                    Catch::Contains("hostile.pt") && Catch::Contains("os.system") &&
                        Catch::Contains("tpt does not read"));
  const std::string pickle = read_record(dir / "good.pt", "data.pkl");
  const std::string storage = read_record(dir / "good.pt", "data/0");
  write_archive(dir / "short.pt", {{"data.pkl", pickle}, {"data/0", storage.substr(0, 16)}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "short.pt"),
                    Catch::Contains("short.pt") && Catch::Contains("storage '0' holds 16 bytes"));
  write_archive(dir / "lost.pt", {{"data.pkl", pickle}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "lost.pt"), Catch::Contains("storage '0' is missing"));
  write_archive(dir / "other.pt", {{"notes.txt", "hello"}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "other.pt"), Catch::Contains("without data.pkl"));

  // A list that holds itself (EMPTY_LIST, DUP, APPEND): the walk over the pickle stops with an
  // error instead of recursing until the stack overflows.
  write_archive(dir / "cycle.pt", {{"data.pkl", "\x80\x02]2a."s}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "cycle.pt"),
                    Catch::Contains("cycle.pt") && Catch::Contains("holds itself"));

  // Tensors whose offset or strides take the last element's index past 2^63: wrapped around to a
  // negative number it passed the bounds check, and the view read memory before the storage.
  const auto text = [](const std::string& t) {
    const auto n = static_cast<char>(t.size());
    return "X"s + std::string{n, 0, 0, 0} + t;  // BINUNICODE
  };
  const auto long8 = [](std::uint64_t v) {  // LONG1 with 8 bytes
    std::string out = "\x8a\x08"s;
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    return out;
  };
  const auto state_dict_with = [&](std::uint64_t offset, std::uint64_t size, std::uint64_t stride) {
    return "\x80\x02}"s + text("fc.bias") + "ctorch._utils\n_rebuild_tensor_v2\n(("s + text("storage") +
           "ctorch\nFloatStorage\n"s + text("0") + text("cpu") + "K\x04tQ"s + long8(offset) + long8(size) + "\x85"s +
           long8(stride) + "\x85"s + "\x89"s + "ccollections\nOrderedDict\n)RtRs."s;
  };
  const std::string four_floats(16, '\0');
  for (const auto& [what, offset, size, stride] :
       {std::tuple{"offset 2^63-1", (1ull << 63) - 1, 2ull, 1ull}, std::tuple{"offset 2^63-2^40", (1ull << 63) - (1ull << 40), 2ull, 1ull << 40},
        std::tuple{"stride 2^62", 0ull, 3ull, 1ull << 62}}) {
    INFO(what);
    write_archive(dir / "overflow.pt", {{"data.pkl", state_dict_with(offset, size, stride)}, {"data/0", four_floats}});
    CHECK_THROWS_WITH(tpt::read_state_dict(dir / "overflow.pt"),
                      Catch::Contains("overflow.pt") && Catch::Contains("reaches past its storage of 4 elements"));
  }
  // The same file with an honest view reads.
  write_archive(dir / "view.pt", {{"data.pkl", state_dict_with(1, 2, 2)}, {"data/0", four_floats}});
  // A disk that fills while an archive is written: an error naming the file, not std::terminate
  // (the zip writer's destructor used to throw a second time while the first error unwound).
  struct full_disk : std::streambuf {
    std::size_t room = 200;
    int overflow(int c) override {
      if (room == 0) return traits_type::eof();
      --room;
      return c;
    }
  } disk;
  std::ostream to_full_disk(&disk);
  const std::vector<std::pair<std::string, torch::Tensor>> storages{{"0", torch::zeros({1000})}};
  CHECK_THROWS_WITH(tpt::detail::pickle::write_torch_archive(dir / "full.pt", to_full_disk, "\x80\x02}."s, storages),
                    Catch::Contains("full.pt") && Catch::Contains("disk full"));
  const auto view = tpt::read_state_dict(dir / "view.pt");
  REQUIRE(view.contains("fc.bias"));
  CHECK(view["fc.bias"].sizes() == torch::IntArrayRef{2});
}

TEST_CASE("pickles that nest deep, copy long strings over and over or build big dicts stay in bounds",
          "[model][weights][errors]") {
  namespace pickle = tpt::detail::pickle;
  tpt::test::scratch_dir dir("tpt-pickle");
  const auto u32 = [](std::size_t v) {
    std::string out;
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    return out;
  };
  const auto text = [&](const std::string& t) { return "X"s + u32(t.size()) + t; };  // BINUNICODE

  // A million TUPLE1 opcodes (one byte each) nest a million tuples. Destroying them used to
  // recurse once per level and overflow the stack: the error below was never seen, the process
  // died. Both ways out are covered: the walk over a finished pickle, and a pickle cut short.
  const std::string tower(1'000'000, '\x85');
  write_archive(dir / "tower.pt", {{"data.pkl", "\x80\x02N"s + tower + "."s}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "tower.pt"),
                    Catch::Contains("tower.pt") && Catch::Contains("more than 256 deep"));
  write_archive(dir / "tower-cut.pt", {{"data.pkl", "\x80\x02N"s + tower}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "tower-cut.pt"),
                    Catch::Contains("tower-cut.pt") && Catch::Contains("needs 1 more bytes"));
  // A chain of lists each appended into the one before (through the memo) nests as deep.
  std::string chain = "\x80\x02]r"s + u32(0);
  for (std::size_t i = 1; i < 200'000; ++i) chain += "]r"s + u32(i) + "j"s + u32(i - 1) + "j"s + u32(i) + "a00"s;
  write_archive(dir / "chain.pt", {{"data.pkl", chain + "."s}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "chain.pt"), Catch::Contains("more than 256 deep"));

  // One string of 1 MiB read from the memo a thousand times would ask for a GiB of copies; the
  // reader stops at 16 times the pickle's size plus 64 MiB and says why.
  std::string copies = "\x80\x02"s + text(std::string(1 << 20, 's')) + "q\x00"s;
  for (int i = 0; i < 1000; ++i) copies += "h\x00"s;
  write_archive(dir / "copies.pt", {{"data.pkl", copies + "."s}});
  CHECK_THROWS_WITH(tpt::read_state_dict(dir / "copies.pt"),
                    Catch::Contains("copies.pt") && Catch::Contains("copies more than 16 times its own size"));
  // A few copies of a long string are fine.
  std::string few = "\x80\x02"s + text(std::string(1 << 20, 's')) + "q\x00"s + "h\x00h\x00\x86\x86."s;
  write_archive(dir / "few.pt", {{"data.pkl", few}});
  CHECK(std::holds_alternative<pickle::tuple_ptr>(pickle::load_torch_file(dir / "few.pt").root.v));

  // A dict of 200,000 keys in one SETITEMS, each key twice: the second value replaces the first
  // (as in Python) and the order is the first insertion's. The key search used to be linear.
  std::string big = "\x80\x02}("s;
  for (int round = 0; round < 2; ++round)
    for (int k = 0; k < 200'000; ++k) big += text(fmt::format("k{}", k)) + "J"s + u32(static_cast<std::size_t>(k + round));
  write_archive(dir / "big.pt", {{"data.pkl", big + "u."s}});
  const auto loaded = pickle::load_torch_file(dir / "big.pt");
  const auto& dict = *std::get<pickle::dict_ptr>(loaded.root.v);
  REQUIRE(dict.size() == 200'000);
  CHECK(std::get<std::string>(dict.front().first.v) == "k0");
  CHECK(std::get<std::int64_t>(dict.front().second.v) == 1);
  CHECK(std::get<std::string>(dict.back().first.v) == "k199999");
  CHECK(std::get<std::int64_t>(dict.back().second.v) == 200'000);

  // A list that holds itself (load_torch_file refuses it, see above) is freed with its heap; it
  // leaked before. Its values stay readable while the heap lives.
  std::weak_ptr<std::vector<pickle::value>> cycle;
  {
    const std::string bytes = "\x80\x02]2a."s;
    auto containers = std::make_shared<pickle::heap>();
    pickle::unpickler reader(dir / "self.pkl", containers, bytes, 0, false);
    const pickle::value self = reader.load();
    const auto& list = std::get<pickle::list_ptr>(self.v);
    REQUIRE(list->size() == 1);
    CHECK(std::get<pickle::list_ptr>(list->front().v) == list);
    cycle = list;
  }
  CHECK(cycle.expired());
}
