// Prediction costs: preparing a camera frame for the model (decode, resize, evaluation crop) with
// and without DCT-scaled decoding, and for detection crops; a whole batched run against the model
// alone on the same batches (what the pipeline adds); reading and writing a MegaDetector file.
//
//   bench_predict [--images=32] [--batch=32] [--repeats=3] [--md-images=100000] [--device=cpu|cuda]
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <malloc.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bench_image_common.hpp"
#include "fixtures.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/predict/megadetector.hpp"
#include "tpt/predict/prediction.hpp"
#include "tpt/predict/preprocess.hpp"
#include "tpt_test_support.hpp"

namespace tp = tpt::predict;

int main(int argc, char** argv) {
  const auto flags = tpt::bench::program_flags(
      argc, argv, {"images", "batch", "repeats", "md-images", "device"},
      "bench_predict [--images=32] [--batch=32] [--repeats=3] [--md-images=100000] [--device=cpu|cuda]\n");
  const long images = tpt::bench::option(flags, "images", 32);
  const long batch = tpt::bench::option(flags, "batch", 32);
  const int repeats = static_cast<int>(tpt::bench::option(flags, "repeats", 3));
  const long md_images = tpt::bench::option(flags, "md-images", 100000);
  const torch::Device device = tp::resolve_device(flags.text("device", "cpu"));
  tpt::bench::print_machine();
  fmt::print("LibTorch threads: {}, device: {}\n\n", torch::get_num_threads(), device.str());

  tpt::test::scratch_dir dir("tpt-bench-predict");
  std::vector<tp::image_job> whole, crops;
  for (long i = 0; i < images; ++i) {
    const auto file = dir / fmt::format("cam/IMG_{:04}.JPG", i);
    tpt::test::write_bytes(file, tpt::test::jpeg_fixture(1536, 2048, 3, 1000 + static_cast<std::uint64_t>(i), 90));
    whole.push_back({file});
    // Three animals per frame: a large, a middling and a distant one.
    crops.push_back({file, {{0.1, 0.3, 0.35, 0.45}, {0.55, 0.5, 0.15, 0.2}, {0.8, 0.4, 0.05, 0.06}}});
  }
  tp::preprocessing p;  // ImageNet-style: 256 x 256 working size, 224 x 224 input
  auto full_decode = p;
  full_decode.working.dct_scaling = false;

  // 1. Preparing inputs, one thread.
  fmt::print("preparing inputs from {} JPEG frames of 2048 x 1536 (one thread)\n", images);
  tp::preprocess_scratch scratch;
  auto prepare_all = [&](const std::vector<tp::image_job>& jobs, const tp::preprocessing& prep) {
    return [&jobs, &prep, &scratch] {
      for (const auto& j : jobs) (void)tp::prepare_image(j.file, j.boxes, prep, {}, &scratch);
    };
  };
  const auto t_full = tpt::bench::median_timing(repeats, prepare_all(whole, full_decode));
  tpt::bench::report("whole frame, full-size decode (baseline)", t_full, static_cast<double>(images));
  const auto t_dct = tpt::bench::median_timing(repeats, prepare_all(whole, p));
  tpt::bench::report("whole frame, DCT-scaled decode", t_dct, static_cast<double>(images), &t_full);
  const auto t_crops = tpt::bench::median_timing(repeats, prepare_all(crops, p));
  tpt::bench::report("3 crops per frame, DCT-scaled decode", t_crops, static_cast<double>(images), &t_full);

  // 2. A batched run against the model alone on the same batches.
  fmt::print("\nclassifying {} frames, ResNet-18 at 224 x 224, 52 classes, batch {}\n", images, batch);
  torch::manual_seed(0);
  auto model = tpt::resnet18({.num_classes = 52});
  std::vector<std::string> names;
  for (int c = 0; c < 52; ++c) names.push_back(fmt::format("species{:02}", c));
  const tpt::model_metadata meta{.class_names = names};
  const auto ckpt = dir / "model.tpt";
  tpt::save_checkpoint(ckpt, model, meta);
  auto loaded = tpt::load_checkpoint(ckpt, device);
  std::vector<torch::Tensor> inputs;
  {
    std::vector<float> all;
    for (const auto& j : whole) {
      const auto prepared = tp::prepare_image(j.file, j.boxes, p);
      all.insert(all.end(), prepared.inputs.begin(), prepared.inputs.end());
    }
    const auto x = torch::from_blob(all.data(), {images, 3, 224, 224}).clone();
    for (long first = 0; first < images; first += batch) inputs.push_back(x.narrow(0, first, std::min(batch, images - first)));
  }
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  const auto t_model = tpt::bench::median_timing(repeats, [&] {
    c10::InferenceMode guard;
    for (const auto& b : inputs) (void)torch::softmax(loaded.model->forward(b.to(device)), 1).to(torch::kCPU);
    sync();
  });
  tpt::bench::report("model alone on prepared batches (baseline)", t_model, static_cast<double>(images));
  tp::batch_classifier classifier(tpt::load_checkpoint(ckpt, device), {.device = device, .batch_size = batch, .top_k = 5});
  const auto t_run = tpt::bench::median_timing(repeats, [&] {
    classifier.classify(whole, [](std::size_t, tp::image_outcome&&) { return true; });
  });
  tpt::bench::report(fmt::format("batch_classifier, {} decoding thread(s)", classifier.workers()), t_run,
                     static_cast<double>(images), &t_model, "model alone");
  fmt::print("  wall time: run {:.2f} s, model alone {:.2f} s, ratio {:.2f}\n", t_run.wall, t_model.wall,
             t_run.wall / t_model.wall);

  // 3. MegaDetector files.
  fmt::print("\nMegaDetector results file with {} images, 2 detections each\n", md_images);
  tp::ordered_json doc{{"info", {{"format_version", "1.4"}, {"detector", "md_v5a.0.0.pt"}}},
                       {"detection_categories", tp::md_detection_categories()},
                       {"images", tp::ordered_json::array()}};
  for (long i = 0; i < md_images; ++i)
    doc["images"].push_back({{"file", fmt::format("site{}/cam{}/IMG_{:05}.JPG", i % 7, i % 13, i)},
                             {"detections",
                              {{{"category", "1"}, {"conf", 0.912}, {"bbox", {0.1234, 0.2345, 0.3456, 0.4567}}},
                               {{"category", "2"}, {"conf", 0.31}, {"bbox", {0.5, 0.6, 0.1, 0.2}}}}}});
  const auto md_file = dir / "md.json";
  tp::megadetector_results(doc, md_file).write(md_file);
  const double mb = static_cast<double>(std::filesystem::file_size(md_file)) / 1e6;
  // Memory held by a parsed file: heap in use (glibc's count) before and after one read.
  auto heap_mb = [] {
    const struct mallinfo2 m = ::mallinfo2();
    return static_cast<double>(m.uordblks + m.hblkhd) / 1e6;
  };
  const double before = heap_mb();
  tp::megadetector_results read_back = tp::megadetector_results::read(md_file);
  fmt::print("heap in use grew by {:.0f} MB while holding the parsed file ({:.1f}x its size)\n", heap_mb() - before,
             (heap_mb() - before) / mb);
  const auto t_read = tpt::bench::median_timing(repeats, [&] { read_back = tp::megadetector_results::read(md_file); });
  const auto t_write = tpt::bench::median_timing(repeats, [&] { read_back.write(dir / "md_out.json"); });
  fmt::print("{:.1f} MB: read and check {:.2f} s ({:.0f} MB/s), write {:.2f} s ({:.0f} MB/s)\n", mb, t_read.wall,
             mb / t_read.wall, t_write.wall, mb / t_write.wall);
  return 0;
}
