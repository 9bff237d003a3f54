// tpt/predict/prediction.hpp and run.hpp: runs over a folder, a manifest and a MegaDetector file
// with a checkpointed ResNet-18: the probabilities are the model's on the training pipeline's
// inputs; bad images become recorded failures; batches do not change results; a stopped run
// resumes to the very same files; every field of a MegaDetector file is kept.
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "predict_fixtures.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/io/file_lock.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/predict/megadetector.hpp"
#include "tpt/predict/prediction.hpp"
#include "tpt/predict/run.hpp"
#include "tpt_test_support.hpp"

namespace tp = tpt::predict;
using tp::ordered_json;

namespace {

/// The model of `file` with a classifier around it.
tp::batch_classifier classifier_for(const std::filesystem::path& file, std::int64_t batch = 4, std::int64_t k = 3,
                                    tp::crop_options crop = {}) {
  return tp::batch_classifier(tpt::load_checkpoint(file), {.batch_size = batch, .top_k = k, .crop = crop});
}

/// The probabilities the model gives one prepared input, computed directly.
std::vector<float> direct_probabilities(const std::filesystem::path& checkpoint, const std::vector<float>& input,
                                        const tp::preprocessing& p) {
  auto [model, meta] = tpt::load_checkpoint(checkpoint);
  torch::NoGradGuard no_grad;
  const auto x = torch::from_blob(const_cast<float*>(input.data()), {1, p.channels(), p.input_height, p.input_width})
                     .clone();
  const auto probs = torch::softmax(model->forward(x), 1).contiguous();
  return {probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    out.push_back(text.substr(pos, nl - pos));
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  return out;
}

/// Every job's outcome from a classifier with this batch size and worker count, checking that
/// each job is delivered once and in job order.
std::vector<tp::image_outcome> classify_in_order(const std::filesystem::path& checkpoint, std::span<const tp::image_job> jobs,
                                                 std::int64_t batch, std::size_t workers, std::int64_t k) {
  tp::batch_classifier c(tpt::load_checkpoint(checkpoint), {.batch_size = batch, .top_k = k, .workers = workers});
  std::vector<tp::image_outcome> out(jobs.size());
  std::vector<std::size_t> order;
  CHECK(c.classify(jobs, [&](std::size_t i, tp::image_outcome&& o) {
    order.push_back(i);
    out[i] = std::move(o);
    return true;
  }) == jobs.size());
  REQUIRE(order.size() == jobs.size());
  for (std::size_t i = 0; i < order.size(); ++i) CHECK(order[i] == i);
  return out;
}

/// The document without the completion time, which differs between any two runs.
ordered_json without_time(ordered_json doc) {
  doc["info"].erase("classification_completion_time");
  return doc;
}

/// A scratch folder holding a checkpoint (model.tpt) and, under cams/, the MegaDetector fixture's
/// images and its md.json, whose bytes are kept to show that a refused run left it alone.
struct md_run_fixture {
  tpt::test::scratch_dir dir;
  std::filesystem::path root, input;
  std::string input_bytes;
  std::filesystem::path checkpoint;

  explicit md_run_fixture(const std::string& tag)
      : dir(tag), root(dir.path() / "cams"), input(root / "md.json"), checkpoint(dir / "model.tpt") {
    tpt::test::make_checkpoint(checkpoint);
    tpt::io::write_text_atomically(input, tpt::test::md_document(root).dump(1));
    input_bytes = tpt::io::read_text(input);
  }
};

}  // namespace

TEST_CASE("a folder run writes MegaDetector JSON and a CSV, one entry per image, failures recorded", "[run]") {
  tpt::test::frame_folder folder;
  const auto ckpt = folder.dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  auto classifier = classifier_for(ckpt, /*batch=*/4, /*k=*/3);

  const auto listing = tp::list_images(folder.root());
  CHECK(listing.files == folder.all());
  CHECK(listing.ignored == 1);  // notes.txt

  const tp::run_options o{.output = folder.dir / "out/results.json", .csv = folder.dir / "out/results.csv",
                          .checkpoint_every = 4, .classifier_name = "s9-test"};
  std::vector<tp::run_progress> seen;
  auto with_progress = o;
  with_progress.progress = [&](const tp::run_progress& p) { seen.push_back(p); };
  const auto summary = tp::classify_images(classifier, folder.root(), listing.files, with_progress);
  CHECK(summary.images == 9);
  CHECK(summary.classified_images == 6);
  CHECK(summary.failed == 3);
  CHECK(summary.resumed == 0);
  CHECK_FALSE(summary.stopped);
  CHECK(summary.checkpoint.empty());
  CHECK_FALSE(std::filesystem::exists(folder.dir / "out/results.json.checkpoint.jsonl"));
  REQUIRE(seen.size() == 10);  // once at the start, then after every image
  CHECK(seen.back().done == 9);
  CHECK(seen.back().failed == 3);
  CHECK_THAT(fmt::format("{}", summary), Catch::StartsWith("9 images: 6 classified, 3 failed; "));

  const auto results = tp::megadetector_results::read(o.output);
  const auto& doc = results.document();
  CHECK(doc["info"]["format_version"] == "1.4");
  CHECK(doc["info"]["classifier"] == "s9-test");
  CHECK(doc["info"]["classifier_metadata"]["whole_image"] == true);
  CHECK(doc["info"]["classifier_metadata"]["top_k"] == 3);
  CHECK(doc["classification_categories"] == ordered_json(tp::classification_categories_json(tpt::test::species)));
  const auto& images = doc["images"];
  REQUIRE(images.size() == 9);
  const auto p = classifier.preprocess();
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto& im = images[i];
    const std::string file = im["file"];
    INFO(file);
    CHECK(file == listing.files[i]);
    const bool bad = std::find(folder.bad.begin(), folder.bad.end(), file) != folder.bad.end();
    if (bad) {
      CHECK(im["failure"] == "Failure image access");
      CHECK(im["detections"].is_null());
      CHECK(im.contains("failure_detail"));
      continue;
    }
    CHECK_FALSE(im.contains("failure"));
    REQUIRE(im["detections"].size() == 1);
    const auto& det = im["detections"][0];
    CHECK(det["category"] == "1");
    CHECK(det["bbox"] == ordered_json({0.0, 0.0, 1.0, 1.0}));
    const auto& cls = det["classifications"];
    REQUIRE(cls.size() == 3);
    // The model's probabilities on the training pipeline's input, rounded as written.
    const auto prepared = tp::prepare_image(folder.root() / file, std::vector{tp::whole_frame}, p);
    const auto probs = direct_probabilities(ckpt, prepared.inputs, p);
    const auto top = tp::top_k_of(probs, 3);
    for (std::size_t r = 0; r < 3; ++r) {
      CHECK(cls[r][0] == std::to_string(top[r].class_index));
      CHECK(std::abs(cls[r][1].get<double>() - top[r].confidence) <= 0.5e-4 + 1e-6);
      if (r > 0) CHECK(cls[r][1].get<double>() <= cls[r - 1][1].get<double>());
    }
  }
  const auto by_file = [&](const std::string& f) -> const ordered_json& {
    for (const auto& im : images)
      if (im["file"] == f) return im;
    FAIL("no entry for " << f);
    return images[0];
  };
  CHECK_THAT(by_file("site1/cam2/IMG_0002.JPG")["failure_detail"].get<std::string>(), Catch::StartsWith("truncated: "));
  CHECK_THAT(by_file("site2/cam2/empty.jpg")["failure_detail"].get<std::string>(), Catch::StartsWith("empty: "));
  CHECK_THAT(by_file("site2/cam2/noise.jpg")["failure_detail"].get<std::string>(), Catch::StartsWith("unsupported: "));

  const auto csv = lines_of(tpt::io::read_text(o.csv));
  REQUIRE(csv.size() == 10);
  CHECK(csv[0] == "file,class_1,confidence_1,class_2,confidence_2,class_3,confidence_3,failure");
  const auto& first = images[0]["detections"][0]["classifications"];
  const std::string top_name = tpt::test::species.at(std::stoul(first[0][0].get<std::string>()));
  CHECK_THAT(csv[1], Catch::StartsWith(fmt::format("{},{},{}", listing.files[0], top_name, first[0][1].dump())));
  CHECK_THAT(csv[1], Catch::EndsWith(","));
  int failures = 0;
  for (std::size_t i = 1; i < csv.size(); ++i)
    if (csv[i].find(",,,,,,,") != std::string::npos) ++failures;
  CHECK(failures == 3);
}

TEST_CASE("batch size and worker count do not change the predictions", "[run]") {
  tpt::test::frame_folder folder;
  const auto ckpt = folder.dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  std::vector<tp::image_job> jobs;
  for (const auto& f : folder.all()) jobs.push_back({folder.root() / f});

  auto run = [&](std::int64_t batch, std::size_t workers) { return classify_in_order(ckpt, jobs, batch, workers, 5); };
  const auto one = run(1, 1);
  for (auto [batch, workers] : {std::pair<std::int64_t, std::size_t>{3, 2}, {64, 3}}) {
    const auto other = run(batch, workers);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      INFO(fmt::format("{} with batch {} and {} workers", jobs[i].file.string(), batch, workers));
      REQUIRE(one[i].ok() == other[i].ok());
      if (!one[i].ok()) {
        CHECK(one[i].failure == other[i].failure);
        continue;
      }
      const auto& a = one[i].predictions.front();
      const auto& b = other[i].predictions.front();
      REQUIRE(a.size() == 5);
      REQUIRE(b.size() == 5);
      for (std::size_t r = 0; r < 5; ++r) {
        CHECK(a[r].class_index == b[r].class_index);
        CHECK(std::abs(a[r].confidence - b[r].confidence) < 1e-5);
      }
    }
  }

  // Images in memory give the file's predictions.
  tp::batch_classifier c(tpt::load_checkpoint(ckpt), {.batch_size = 2, .top_k = 5});
  const auto png = tpt::data::decode_image_file(folder.root() / "site2/cam1/frame.png");
  const auto grey = tpt::data::decode_image_file(folder.root() / "site1/cam2/IMG_0001.jpeg", {.channels = 1});
  const std::vector<tpt::data::image_view> views{png.view(), grey.view(), png.view()};
  const auto mem = c.classify(views);
  REQUIRE(mem.size() == 3);
  const auto all = folder.all();
  const auto at = [&](const std::string& f) { return static_cast<std::size_t>(std::find(all.begin(), all.end(), f) - all.begin()); };
  const auto close = [](const std::vector<tp::class_score>& a, const std::vector<tp::class_score>& b) {
    bool same = a.size() == b.size();
    for (std::size_t r = 0; same && r < a.size(); ++r)
      same = a[r].class_index == b[r].class_index && std::abs(a[r].confidence - b[r].confidence) < 1e-5;
    return same;
  };
  CHECK(close(mem[0], one[at("site2/cam1/frame.png")].predictions.front()));
  CHECK(close(mem[2], mem[0]));
  // The grey frame went through grey -> RGB replication, as decoding a grey JPEG as RGB does.
  CHECK(mem[1].front().class_index == one[at("site1/cam2/IMG_0001.jpeg")].predictions.front().front().class_index);
}

TEST_CASE("an image's crops split across batches: each crop classified, images delivered once and in order", "[run][megadetector]") {
  // Herds: images with 0 to 5 selected boxes (one with no pixels in the frame), so that with small
  // batches one image's crops fill one batch and spill into the next, or span several.
  tpt::test::frame_folder folder;
  const auto ckpt = folder.dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  const std::vector<std::size_t> box_counts{3, 1, 5, 0, 2, 4};
  std::vector<tp::image_job> jobs;
  for (std::size_t j = 0; j < folder.good.size(); ++j) {
    tp::image_job job{folder.root() / folder.good[j], {}};
    for (std::size_t b = 0; b < box_counts[j % box_counts.size()]; ++b) {
      const double x = 0.1 * static_cast<double>(b);
      job.boxes.push_back(b == 1 ? tp::normalized_box{1.2, 0.1, 0.1, 0.1}  // outside the frame: no input
                                 : tp::normalized_box{x, 0.05 * static_cast<double>(b), 0.3, 0.4});
    }
    jobs.push_back(std::move(job));
  }
  jobs.push_back({folder.root() / folder.bad.front(), {tp::normalized_box{0.1, 0.1, 0.2, 0.2}}});  // a failure amid them

  auto run = [&](std::int64_t batch, std::size_t workers) { return classify_in_order(ckpt, jobs, batch, workers, 3); };
  const auto one = run(1, 1);
  for (auto [batch, workers] : {std::pair<std::int64_t, std::size_t>{2, 1}, {3, 2}, {4, 1}, {7, 2}, {64, 2}}) {
    const auto other = run(batch, workers);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      INFO(fmt::format("{} with {} boxes, batch {}, {} workers", jobs[i].file.filename().string(), jobs[i].boxes.size(), batch, workers));
      REQUIRE(one[i].ok() == other[i].ok());
      if (!one[i].ok()) continue;
      REQUIRE(other[i].predictions.size() == jobs[i].boxes.size());
      for (std::size_t b = 0; b < jobs[i].boxes.size(); ++b) {
        // Every box with pixels has its 3 classes; the one outside the frame has none.
        CHECK(other[i].predictions[b].size() == (b == 1 ? 0u : 3u));
        REQUIRE(other[i].predictions[b].size() == one[i].predictions[b].size());
        for (std::size_t r = 0; r < other[i].predictions[b].size(); ++r) {
          CHECK(other[i].predictions[b][r].class_index == one[i].predictions[b][r].class_index);
          CHECK(std::abs(other[i].predictions[b][r].confidence - one[i].predictions[b][r].confidence) < 1e-5);
        }
      }
    }
  }
}

TEST_CASE("images that leave the image root through a link or '..' become failures, not reads", "[run][errors]") {
  tpt::test::frame_folder folder;
  const auto ckpt = folder.dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  auto c = classifier_for(ckpt, /*batch=*/2, /*k=*/3);
  tpt::test::scratch_dir elsewhere("tpt-predict-elsewhere");
  tpt::test::write_bytes(elsewhere / "private.jpg", tpt::test::jpeg_fixture(120, 160, 3, 5));
  std::filesystem::create_directories(folder.root() / "site3");
  std::filesystem::create_symlink(elsewhere / "private.jpg", folder.root() / "site3/link_out.jpg");
  std::filesystem::create_symlink("../site1/cam1/IMG_0001.JPG", folder.root() / "site3/link_in.jpg");

  // A folder run: the link inside is classified as its target, the one out is a failure.
  const std::vector<std::string> files{"site1/cam1/IMG_0001.JPG", "site3/link_in.jpg", "site3/link_out.jpg"};
  (void)tp::classify_images(c, folder.root(), files, {.output = folder.dir / "links.json", .checkpoint_every = 0});
  const auto doc = tp::megadetector_results::read(folder.dir / "links.json").document();
  CHECK(doc["images"][1]["detections"][0]["classifications"] == doc["images"][0]["detections"][0]["classifications"]);
  CHECK(doc["images"][2]["failure"] == "Failure image access");
  CHECK_THAT(doc["images"][2]["failure_detail"].get<std::string>(),
             Catch::Contains("outside the image root") && Catch::Contains("symbolic link"));

  // A MegaDetector file naming a path with '..' out of the root, and one naming an absolute path
  // (its own file, read as named).
  ordered_json md{{"info", {{"format_version", "1.4"}}},
                  {"detection_categories", {{"1", "animal"}}},
                  {"images",
                   {{{"file", "../../" + (elsewhere.path().filename() / "private.jpg").string()},
                     {"detections", {tpt::test::md_detection("1", 0.9, {0.1, 0.1, 0.5, 0.5})}}},
                    {{"file", (elsewhere / "private.jpg").string()},
                     {"detections", {tpt::test::md_detection("1", 0.9, {0.1, 0.1, 0.5, 0.5})}}}}}};
  (void)tp::classify_detections(c, tp::megadetector_results(md, "md.json"), folder.root(), {},
                                {.output = folder.dir / "md_out.json", .checkpoint_every = 0});
  const auto out = tp::megadetector_results::read(folder.dir / "md_out.json").document();
  CHECK(out["images"][0]["classification_failure"] == "Failure image access");
  CHECK_THAT(out["images"][0]["classification_failure_detail"].get<std::string>(), Catch::Contains("outside the image root"));
  CHECK(out["images"][1]["detections"][0]["classifications"].size() == 3);
}

TEST_CASE("a stopped run resumes from its checkpoint and ends with the same files", "[run][resume]") {
  tpt::test::frame_folder folder;
  const auto ckpt = folder.dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  const auto files = tp::list_images(folder.root()).files;
  auto classifier = classifier_for(ckpt, /*batch=*/2, /*k=*/3);

  auto options = [&](const std::string& name) {
    return tp::run_options{.output = folder.dir / (name + ".json"), .csv = folder.dir / (name + ".csv"),
                           .checkpoint_every = 4, .model_fingerprint = "model.tpt"};
  };
  const auto whole = tp::classify_images(classifier, folder.root(), files, options("whole"));
  REQUIRE_FALSE(whole.stopped);

  // Stop after the 6th image: the first block of 4 is saved, the second is not.
  auto o = options("resumed");
  std::size_t done = 0;
  o.progress = [&](const tp::run_progress& p) { done = p.done; };
  o.stop_requested = [&] { return done >= 6; };
  const auto stopped = tp::classify_images(classifier, folder.root(), files, o);
  CHECK(stopped.stopped);
  CHECK_FALSE(std::filesystem::exists(o.output));
  CHECK_FALSE(std::filesystem::exists(o.csv));
  const auto journal = folder.dir / "resumed.json.checkpoint.jsonl";
  REQUIRE(stopped.checkpoint == journal);
  CHECK(lines_of(tpt::io::read_text(journal)).size() == 1 + 4);

  SECTION("resuming gives the uninterrupted run's files") {
    // A crash in the middle of writing leaves half a line: it is dropped.
    { std::ofstream(journal, std::ios::app) << R"({"key": "site2/cam1/IMG_01)"; }
    o.stop_requested = {};
    const auto resumed = tp::classify_images(classifier, folder.root(), files, o);
    CHECK_FALSE(resumed.stopped);
    CHECK(resumed.resumed == 3);  // the block's failure (site1/cam2/IMG_0002.JPG) is read again
    CHECK(resumed.processed == 6);
    CHECK(resumed.failed == whole.failed);
    CHECK_FALSE(std::filesystem::exists(journal));
    CHECK(tpt::io::read_text(o.csv) == tpt::io::read_text(folder.dir / "whole.csv"));
    CHECK(without_time(tp::megadetector_results::read(o.output).document()) ==
          without_time(tp::megadetector_results::read(folder.dir / "whole.json").document()));
  }
  SECTION("an image that failed is tried again on resuming") {
    // The first block's failure is not taken from the checkpoint: a file still being copied (here:
    // cut short, then complete), or a share that was not mounted, may be readable now.
    const auto saved = lines_of(tpt::io::read_text(journal));
    REQUIRE(std::any_of(saved.begin(), saved.end(), [](const std::string& line) {
      return line.find("site1/cam2/IMG_0002.JPG") != std::string::npos && line.find("\"failure\"") != std::string::npos;
    }));
    tpt::test::write_bytes(folder.root() / "site1/cam2/IMG_0002.JPG", tpt::test::jpeg_fixture(240, 320, 3, 17));
    o.stop_requested = {};
    const auto resumed = tp::classify_images(classifier, folder.root(), files, o);
    CHECK(resumed.resumed == 3);
    CHECK(resumed.failed == whole.failed - 1);
    CHECK(resumed.classified_images == whole.classified_images + 1);
  }
  SECTION("an image replaced under its name since it was classified is classified again") {
    // A frame re-copied from a camera's card, say: the checkpoint's entry records the file's size
    // and modification time, and a different file under the same name is not taken from it.
    const auto saved = lines_of(tpt::io::read_text(journal));
    std::string replaced;
    for (const auto& line : saved) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("predictions")) {
        REQUIRE(j.contains("file"));
        replaced = j.at("key").get<std::string>();
        break;
      }
    }
    REQUIRE_FALSE(replaced.empty());
    tpt::test::write_bytes(folder.root() / replaced, tpt::test::jpeg_fixture(200, 300, 3, 99));
    o.stop_requested = {};
    const auto resumed = tp::classify_images(classifier, folder.root(), files, o);
    CHECK(resumed.resumed == 2);
    CHECK(resumed.changed_since_checkpoint == 1);
    CHECK(resumed.processed == 7);
    CHECK_THAT(fmt::format("{}", resumed), Catch::Contains("1 changed since the checkpoint and classified again"));
  }
  SECTION("a version-2 checkpoint (entries without file stamps) is still resumed") {
    auto text = tpt::io::read_text(journal);
    const auto header_end = text.find('\n');
    auto header = nlohmann::json::parse(text.substr(0, header_end));
    header["tpt_predict_checkpoint"] = 2;
    std::string rewritten = header.dump() + "\n";
    for (const auto& line : lines_of(text.substr(header_end + 1))) {
      auto j = nlohmann::json::parse(line);
      j.erase("file");
      rewritten += j.dump() + "\n";
    }
    tpt::io::write_text_atomically(journal, rewritten);
    o.stop_requested = {};
    const auto resumed = tp::classify_images(classifier, folder.root(), files, o);
    CHECK(resumed.resumed == 3);
    CHECK(tpt::io::read_text(o.csv) == tpt::io::read_text(folder.dir / "whole.csv"));
  }
  SECTION("other settings are refused, a restart discards the checkpoint") {
    o.stop_requested = {};
    auto other = classifier_for(ckpt, /*batch=*/2, /*k=*/2);
    CHECK_THROWS_WITH(tp::classify_images(other, folder.root(), files, o),
                      Catch::Contains("resumed.json.checkpoint.jsonl: holds partial results of a run with other "
                                      "settings (top_k was 3, now 2)"));
    auto moved = o;
    moved.model_fingerprint = "other.tpt";
    CHECK_THROWS_WITH(tp::classify_images(classifier, folder.root(), files, moved),
                      Catch::Contains("model was \"model.tpt\", now \"other.tpt\""));
    o.restart = true;
    const auto fresh = tp::classify_images(other, folder.root(), files, o);
    CHECK(fresh.resumed == 0);
    CHECK(fresh.classified_images == 6);
  }
  SECTION("a damaged checkpoint is refused with its line") {
    { std::ofstream(journal, std::ios::app) << "not json\n{\"key\": 1}\n"; }
    o.stop_requested = {};
    CHECK_THROWS_WITH(tp::classify_images(classifier, folder.root(), files, o),
                      Catch::Contains("resumed.json.checkpoint.jsonl:6: damaged checkpoint entry"));
    tpt::io::write_text_atomically(journal, "{}\n");
    CHECK_THROWS_WITH(tp::classify_images(classifier, folder.root(), files, o),
                      Catch::Contains(":1: is not a tpt-predict checkpoint"));
  }
}

TEST_CASE("a manifest names images under a root, and a bad one gives file and line", "[run][manifest]") {
  tpt::test::frame_folder folder;
  const auto ckpt = folder.dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  const auto manifest = folder.dir / "manifest.csv";

  // Paths come back in their one spelling ('./' and doubled slashes gone), as the output names them.
  tpt::io::write_text_atomically(manifest, "label,path\nzebra,./site1/cam1/IMG_0001.JPG\ngnu,site2//cam1/frame.png\n"
                                           "zebra,site9/missing.jpg\n");
  const auto paths = tp::read_image_manifest(manifest);
  CHECK(paths == std::vector<std::string>{"site1/cam1/IMG_0001.JPG", "site2/cam1/frame.png", "site9/missing.jpg"});
  auto c = classifier_for(ckpt);
  const auto summary = tp::classify_images(c, folder.root(), paths, {.output = folder.dir / "m.json", .checkpoint_every = 0});
  CHECK(summary.classified_images == 2);
  CHECK(summary.failed == 1);
  const auto doc = tp::megadetector_results::read(folder.dir / "m.json").document();
  CHECK(doc["images"][2]["file"] == "site9/missing.jpg");
  CHECK_THAT(doc["images"][2]["failure_detail"].get<std::string>(), Catch::StartsWith("missing: "));

  // Windows separators read as '/', blank lines are skipped, and a '#' row after the header is
  // an image (only lines before the header are comments).
  tpt::io::write_text_atomically(manifest, "# written by hand\npath\r\nsite1\\cam1\\IMG_0001.JPG\r\n\r\n   \n"
                                           "#1.jpg\nsite2/cam1/frame.png\n\n");
  CHECK(tp::read_image_manifest(manifest) ==
        std::vector<std::string>{"site1/cam1/IMG_0001.JPG", "#1.jpg", "site2/cam1/frame.png"});

  auto refused = [&](const std::string& text) -> std::string {
    tpt::io::write_text_atomically(manifest, text);
    try {
      (void)tp::read_image_manifest(manifest);
    } catch (const tpt::input_error& e) {
      return e.what();
    }
    FAIL("accepted: " << text);
    return {};
  };
  CHECK_THAT(refused("file\na.jpg\n"), Catch::Contains("manifest.csv:1: header has no column 'path'"));
  CHECK_THAT(refused("path\na.jpg\nb.jpg\n./a.jpg\n"),
             Catch::Contains("manifest.csv:4: column 'path': './a.jpg' is listed twice (first on line 2)"));
  CHECK_THAT(refused("path\na.jpg\n../x.jpg\n"), Catch::Contains("manifest.csv:3: column 'path': '../x.jpg'") &&
                                                      Catch::Contains("escapes the image root"));
  CHECK_THAT(refused("path\na.jpg\n..\\x.jpg\n"), Catch::Contains("manifest.csv:3: column 'path': '../x.jpg'") &&
                                                      Catch::Contains("escapes the image root"));
  CHECK_THAT(refused("path\na.jpg\n\n.\\a.jpg\n"), Catch::Contains("manifest.csv:4: column 'path': './a.jpg' is listed twice"));
  CHECK_THAT(refused("path\n/etc/passwd\n"), Catch::Contains("manifest.csv:2: column 'path': '/etc/passwd'") &&
                                                  Catch::Contains("absolute"));
  CHECK_THAT(refused("path,x\n,1\n"), Catch::Contains("manifest.csv:2: column 'path': is empty"));
  CHECK_THAT(refused("path\n\"a.jpg\n"), Catch::Contains("manifest.csv"));

  CHECK_THROWS_WITH(tp::list_images(folder.dir / "nope"), Catch::Contains("no such folder"));
  CHECK_THROWS_WITH(tp::list_images(ckpt), Catch::Contains("is not a folder"));
}

TEST_CASE("list_images passes over hidden files and folders, as the training folder source does", "[run]") {
  tpt::test::scratch_dir dir("tpt-list");
  const std::vector<std::uint8_t> bytes{'x'};
  tpt::test::write_bytes(dir / "cam1/IMG_0001.JPG", bytes);
  tpt::test::write_bytes(dir / "cam1/._IMG_0001.JPG", bytes);   // a macOS sidecar
  tpt::test::write_bytes(dir / ".thumbnails/IMG_0001.JPG", bytes);
  const auto listing = tp::list_images(dir.path());
  CHECK(listing.files == std::vector<std::string>{"cam1/IMG_0001.JPG"});
  CHECK(listing.ignored == 0);
}

TEST_CASE("list_images leaves no image out silently: odd entries listed to fail, folders it skips named",
          "[run][errors]") {
  namespace fs = std::filesystem;
  tpt::test::scratch_dir dir("tpt-list-odd");
  const std::vector<std::uint8_t> bytes{'x'};
  tpt::test::write_bytes(dir / "cam1/IMG_0001.JPG", bytes);
  tpt::test::write_bytes(dir / "elsewhere/IMG_0002.JPG", bytes);
  fs::create_symlink("/nonexistent/IMG_0009.JPG", dir / "cam1/IMG_0009.JPG");  // a card not mounted
  REQUIRE(::mkfifo((dir / "cam1/IMG_0010.png").c_str(), 0600) == 0);
  fs::create_directory_symlink(dir / "elsewhere", dir / "cam2");
  const auto listing = tp::list_images(dir.path());
  // The dangling link and the FIFO are listed, so each becomes that image's recorded failure.
  CHECK(listing.files == std::vector<std::string>{"cam1/IMG_0001.JPG", "cam1/IMG_0009.JPG", "cam1/IMG_0010.png",
                                                  "elsewhere/IMG_0002.JPG"});
  CHECK(listing.linked_folders == std::vector<std::string>{"cam2"});
  CHECK(listing.unreadable_folders.empty());
  const auto read = [&](const char* name) { return tpt::data::read_image_bytes(dir / name); };
  CHECK_THROWS_AS(read("cam1/IMG_0009.JPG"), tpt::data::image_error);
  CHECK_THROWS_AS(read("cam1/IMG_0010.png"), tpt::data::image_error);  // refused, not waited on
  // A folder the walk cannot enter is named (root reads every folder: checked as another user only).
  if (::geteuid() != 0) {
    tpt::test::write_bytes(dir / "locked/IMG_0003.JPG", bytes);
    fs::permissions(dir / "locked", fs::perms::none);
    const auto locked = tp::list_images(dir.path());
    CHECK(locked.unreadable_folders == std::vector<std::string>{"locked"});
    fs::permissions(dir / "locked", fs::perms::owner_all);
  }
  // A file name with a line break could not be read back from the CSV: refused with the others.
  tpt::test::write_bytes(dir / "cam1/new\nline.jpg", bytes);
  CHECK_THROWS_WITH(tp::list_images(dir.path()), Catch::Contains("'cam1/new\\x0Aline.jpg' contains a control character"));
}

TEST_CASE("file names JSON cannot hold are refused before any work, named byte by byte", "[run][errors]") {
  // A Latin-1 name from an old card is a legal Linux file name but not UTF-8: written to the
  // results it would become 'caf\uFFFD.jpg', which names no file.
  tpt::test::scratch_dir dir("tpt-list-latin1");
  const std::vector<std::uint8_t> bytes{'x'};
  tpt::test::write_bytes(dir / "cam1/IMG_0001.JPG", bytes);
  tpt::test::write_bytes(dir / "cam1/caf\xE9.jpg", bytes);
  CHECK_THROWS_WITH(tp::list_images(dir.path()),
                    Catch::Contains("1 image file name cannot be used") && Catch::Contains("'cam1/caf\\xE9.jpg' is not UTF-8"));
  tpt::io::write_text_atomically(dir / "m.csv", "path\ncam1/IMG_0001.JPG\ncam1/caf\xE9.jpg\n");
  CHECK_THROWS_WITH(tp::read_image_manifest(dir / "m.csv"),
                    Catch::Contains("m.csv:3: column 'path': 'cam1/caf\\xE9.jpg'") && Catch::Contains("is not UTF-8"));
}

TEST_CASE("a MegaDetector run classifies the selected detections' crops and keeps every other field", "[run][megadetector]") {
  tpt::test::scratch_dir dir("tpt-md-run");
  const auto root = dir.path() / "cams";
  const auto ckpt = dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  const ordered_json original = tpt::test::md_document(root);
  const auto input = root / "md.json";
  tpt::io::write_text_atomically(input, original.dump(1));
  const std::string input_bytes = tpt::io::read_text(input);

  const tp::crop_options crop{.padding = 0.1};
  auto c = classifier_for(ckpt, /*batch=*/3, /*k=*/2, crop);
  const tp::run_options o{.output = dir / "out/md_classified.json", .csv = dir / "out/md_classified.csv",
                          .checkpoint_every = 2, .classifier_name = "serengeti-ros"};
  const auto summary = tp::classify_detections(c, tp::megadetector_results::read(input), root, {}, o);
  CHECK(summary.images == 6);
  CHECK(summary.detections == 8);
  CHECK(summary.detections_selected == 6);  // animals at >= 0.1: two in a, two in b, one in c, one in gone
  CHECK(summary.detections_outside == 1);   // b1 has no width
  CHECK(summary.inputs == 4);
  CHECK(summary.classified_images == 3);
  CHECK(summary.failed == 1);  // cam3/gone.png
  CHECK(summary.skipped_failed == 1);
  CHECK(tpt::io::read_text(input) == input_bytes);  // the input is never touched

  const auto out = tp::megadetector_results::read(o.output);
  ordered_json doc = out.document();
  // Top level: classification_categories right after detection_categories, the rest in place.
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"info", "detection_categories", "classification_categories", "images",
                                         "custom_top_level"});
  CHECK(doc["info"]["classifier"] == "serengeti-ros");
  CHECK(doc["info"]["detector"] == "md_v5a.0.0.pt");
  CHECK(doc["info"]["site_notes"] == "unknown info key");
  CHECK(doc["info"]["classifier_metadata"]["crop_padding"] == 0.1);
  CHECK(doc["info"].contains("classification_completion_time"));

  // Crops classified as the same regions saved as images would be.
  const auto& a = doc["images"][0]["detections"];
  auto expect_crop = [&](const std::string& file, const tp::normalized_box& box, const ordered_json& cls) {
    INFO(file << " " << fmt::format("{}", box));
    const auto prepared = tp::prepare_image(root / file, std::vector{box}, c.preprocess(), crop);
    const auto top = tp::top_k_of(direct_probabilities(ckpt, prepared.inputs, c.preprocess()), 2);
    REQUIRE(cls.size() == 2);
    for (std::size_t r = 0; r < 2; ++r) {
      CHECK(cls[r][0] == std::to_string(top[r].class_index));
      CHECK(std::abs(cls[r][1].get<double>() - top[r].confidence) <= 0.5e-4 + 1e-6);
    }
  };
  expect_crop("cam1/a.png", {0.25, 0.2, 0.3, 0.4}, a[0]["classifications"]);
  expect_crop("cam1/a.png", {0.85, 0.8, 0.3, 0.3}, a[1]["classifications"]);  // cut at the border
  CHECK_FALSE(a[2].contains("classifications"));  // a person
  CHECK_FALSE(a[3].contains("classifications"));  // an animal below the threshold
  CHECK(a[0]["track_id"] == 7);
  const auto& b = doc["images"][1]["detections"];
  expect_crop("cam1/b.png", {0.0, 0.0, 0.2, 0.3}, b[0]["classifications"]);
  CHECK_FALSE(b[1].contains("classifications"));
  CHECK(doc["images"][3]["detections"] == ordered_json::array());
  CHECK(doc["images"][4] == original["images"][4]);  // the detector's failure, untouched
  const auto& gone = doc["images"][5];
  CHECK(gone["classification_failure"] == "Failure image access");
  CHECK_THAT(gone["classification_failure_detail"].get<std::string>(), Catch::StartsWith("missing: "));
  CHECK(gone["detections"] == original["images"][5]["detections"]);  // the detector's results stay

  // Apart from what a classifier adds, the file is the input.
  doc.erase("classification_categories");
  doc["info"].erase("classifier");
  doc["info"].erase("classification_completion_time");
  doc["info"].erase("classifier_metadata");
  for (auto& im : doc["images"]) {
    im.erase("classification_failure");
    im.erase("classification_failure_detail");
    if (im["detections"].is_array())
      for (auto& det : im["detections"]) det.erase("classifications");
  }
  CHECK(doc == original);

  const auto csv = lines_of(tpt::io::read_text(o.csv));
  REQUIRE(csv.size() == 1 + 5 + 1);  // header, the selected detections of a, b, c, one row for gone.png
  CHECK(csv[0] == "file,detection,category,detection_conf,x,y,width,height,class_1,confidence_1,class_2,"
                  "confidence_2,failure");
  CHECK_THAT(csv[1], Catch::StartsWith("cam1/a.png,0,animal,0.926,0.25,0.2,0.3,0.4,"));
  CHECK_THAT(csv[4], Catch::StartsWith("cam1/b.png,1,animal,0.3,0.4,0.4,0,0.2,,,,,no pixels inside the image"));
  CHECK_THAT(csv[6], Catch::StartsWith("cam3/gone.png,,,,,,,,,,,,missing: "));
}

TEST_CASE("MegaDetector runs: replacing classifications, unknown categories, in place", "[run][megadetector]") {
  tpt::test::scratch_dir dir("tpt-md-opts");
  const auto root = dir.path() / "cams";
  const auto ckpt = dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  const auto input = root / "md.json";
  tpt::io::write_text_atomically(input, tpt::test::md_document(root).dump(1));
  auto c = classifier_for(ckpt, 4, 1);

  CHECK_THROWS_WITH(tp::classify_detections(c, tp::megadetector_results::read(input), root,
                                            {.categories = {"animals"}}, {.output = dir / "x.json"}),
                    Catch::Contains("md.json: has no detection category 'animals' (its detection_categories: animal, "
                                    "person, vehicle)"));
  CHECK_THROWS_WITH(tp::classify_detections(c, tp::megadetector_results::read(input), root, {.min_confidence = 1.5},
                                            {.output = dir / "x.json"}),
                    Catch::Contains("must be in [0, 1]"));

  // Classify people too, in place (atomically), with no checkpoint.
  const auto first = tp::classify_detections(c, tp::megadetector_results::read(input), root,
                                             {.categories = {"animal", "person"}}, {.output = input, .checkpoint_every = 0});
  CHECK(first.detections_selected == 7);
  const auto once = tp::megadetector_results::read(input);
  CHECK(once.has_classifications());
  CHECK(once.document()["images"][0]["detections"][2]["classifications"].size() == 1);

  // A second classifier is refused unless it replaces the first one's results.
  CHECK_THROWS_WITH(tp::classify_detections(c, tp::megadetector_results::read(input), root, {}, {.output = dir / "y.json"}),
                    Catch::Contains("already holds classifications (5 classification categories, classifier 'tpt "
                                    "classifier')"));
  const auto again = tp::classify_detections(c, tp::megadetector_results::read(input), root,
                                             {.replace_classifications = true}, {.output = dir / "y.json"});
  const auto replaced = tp::megadetector_results::read(dir / "y.json").document();
  CHECK_FALSE(replaced["images"][0]["detections"][2].contains("classifications"));  // the person's are gone
  CHECK(replaced["images"][0]["detections"][0]["classifications"].size() == 1);
  CHECK(again.detections_selected == 6);

  // A run against the wrong image root records a failure on every image with selected boxes;
  // replacing its results with a run against the right root leaves only the real failures.
  std::filesystem::create_directories(dir / "wrong_root");
  (void)tp::classify_detections(c, tp::megadetector_results::read(input), dir / "wrong_root",
                                {.replace_classifications = true}, {.output = dir / "wrong.json"});
  const auto failures_in = [](const ordered_json& d) {
    std::size_t n = 0;
    for (const auto& im : d["images"]) n += im.contains("classification_failure") ? 1 : 0;
    return n;
  };
  const auto wrong = tp::megadetector_results::read(dir / "wrong.json").document();
  REQUIRE(failures_in(wrong) > failures_in(replaced));
  (void)tp::classify_detections(c, tp::megadetector_results::read(dir / "wrong.json"), root,
                                {.replace_classifications = true}, {.output = dir / "right.json"});
  const auto right = tp::megadetector_results::read(dir / "right.json").document();
  CHECK(failures_in(right) == failures_in(replaced));
  CHECK_FALSE(right["images"][0].contains("classification_failure"));
  CHECK(right["images"][0]["detections"][0]["classifications"].size() == 1);

  // One entry per image is expected.
  auto doubled = tpt::test::md_document(root);
  doubled["images"].push_back(doubled["images"][0]);
  CHECK_THROWS_WITH(tp::classify_detections(c, tp::megadetector_results(doubled, "dup.json"), root, {},
                                            {.output = dir / "z.json"}),
                    Catch::Contains("dup.json: images[0] and images[6] both name 'cam1/a.png'"));
}

TEST_CASE("a MegaDetector file rewritten between a stop and a resume: moved boxes are classified again",
          "[run][megadetector][resume]") {
  tpt::test::scratch_dir dir("tpt-md-resume");
  const auto root = dir.path() / "cams";
  const auto ckpt = dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  auto original = tpt::test::md_document(root);
  const auto input = root / "md.json";
  tpt::io::write_text_atomically(input, original.dump(1));
  auto c = classifier_for(ckpt, 2, 2);

  tp::run_options o{.output = dir / "resumed.json", .csv = dir / "resumed.csv", .checkpoint_every = 1};
  std::size_t done = 0;
  o.progress = [&](const tp::run_progress& p) { done = p.done; };
  o.stop_requested = [&] { return done >= 2; };
  const auto stopped = tp::classify_detections(c, tp::megadetector_results::read(input), root, {}, o);
  REQUIRE(stopped.stopped);  // a.png and b.png are in the checkpoint

  // MegaDetector is run again into the same file: a.png's first box moved, b.png's did not.
  auto moved = original;
  moved["images"][0]["detections"][0]["bbox"] = {0.05, 0.5, 0.3, 0.4};
  tpt::io::write_text_atomically(input, moved.dump(1));
  o.stop_requested = {};
  const auto resumed = tp::classify_detections(c, tp::megadetector_results::read(input), root, {}, o);
  CHECK(resumed.resumed == 1);  // b.png
  const auto fresh = tp::classify_detections(c, tp::megadetector_results::read(input), root, {},
                                             {.output = dir / "fresh.json", .csv = dir / "fresh.csv", .checkpoint_every = 1});
  CHECK(without_time(tp::megadetector_results::read(o.output).document()) ==
        without_time(tp::megadetector_results::read(dir / "fresh.json").document()));
  CHECK(tpt::io::read_text(o.csv) == tpt::io::read_text(dir / "fresh.csv"));
}

TEST_CASE("no two of a run's files may be one: output, CSV, checkpoint and input", "[run][errors]") {
  const md_run_fixture f("tpt-run-files");
  const auto& [dir, root, input, input_bytes, checkpoint] = f;
  auto c = classifier_for(checkpoint, 2, 1);
  const std::vector<std::string> files{"cam1/a.png"};
  const auto md = [&] { return tp::megadetector_results::read(input); };

  // The checkpoint is deleted when the results are written: as the results file, the CSV or the
  // input it used to take them along (a run's output, or an ecologist's MegaDetector file).
  CHECK_THROWS_WITH(tp::classify_images(c, root, files, {.output = dir / "o.json", .checkpoint_file = dir / "o.json"}),
                    Catch::Contains("option 'checkpoint file'") && Catch::Contains("is also the results file"));
  CHECK_THROWS_WITH(tp::classify_images(c, root, files, {.output = dir / "o.json", .csv = dir / "o.csv",
                                                         .checkpoint_file = dir / "./o.csv"}),
                    Catch::Contains("is also the CSV file"));
  CHECK_THROWS_WITH(tp::classify_detections(c, md(), root, {}, {.output = dir / "o.json", .checkpoint_file = input,
                                                                 .restart = true}),
                    Catch::Contains("option 'checkpoint file'") && Catch::Contains("is also the input file"));
  CHECK_THROWS_WITH(tp::classify_detections(c, md(), root, {}, {.output = dir / "o.json", .csv = root / "../cams/md.json"}),
                    Catch::Contains("option 'csv'") && Catch::Contains("is also the input file"));
  CHECK_THROWS_WITH(tp::classify_images(c, root, files, {.output = dir / "o.json", .csv = dir / "o.json"}),
                    Catch::Contains("option 'csv'") && Catch::Contains("is also the results file"));
  // A hard link is the same file too.
  std::filesystem::create_hard_link(input, dir / "linked.json");
  CHECK_THROWS_WITH(tp::classify_detections(c, md(), root, {}, {.output = dir / "o.json", .checkpoint_file = dir / "linked.json"}),
                    Catch::Contains("is also the input file"));
  // No checkpoints (checkpoint_every 0): the checkpoint file names nothing.
  CHECK_NOTHROW(tp::classify_images(c, root, files, {.output = dir / "o.json", .checkpoint_file = dir / "o.json",
                                                     .checkpoint_every = 0}));
  CHECK(tpt::io::read_text(input) == input_bytes);
  CHECK_FALSE(std::filesystem::exists(dir / "o.csv"));
  // A CSV or checkpoint folder that cannot take files is refused before any image is read (a file
  // stands where the folder should be: no permissions involved, so this holds as root too).
  tpt::io::write_text_atomically(dir / "not-a-folder", "x");
  std::size_t progress_calls = 0;
  const auto count = [&](const tp::run_progress&) { ++progress_calls; };
  CHECK_THROWS_WITH(tp::classify_images(c, root, files, {.output = dir / "p.json", .csv = dir / "not-a-folder/p.csv",
                                                         .progress = count}),
                    Catch::Contains("not-a-folder") && Catch::Contains("cannot create folder"));
  CHECK_THROWS_WITH(tp::classify_images(c, root, files, {.output = dir / "p.json",
                                                         .checkpoint_file = dir / "not-a-folder/p.jsonl", .progress = count}),
                    Catch::Contains("not-a-folder"));
  CHECK(progress_calls == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "p.json"));
}

TEST_CASE("a results file another run is writing is refused before any work, and the lock goes with the run",
          "[run][errors]") {
  const md_run_fixture f("tpt-run-lock");
  const auto& [dir, root, input, input_bytes, checkpoint] = f;
  auto c = classifier_for(checkpoint, 2, 1);
  const std::vector<std::string> files{"cam1/a.png", "cam2/c.png"};
  std::size_t progress_calls = 0;
  const auto count = [&](const tp::run_progress&) { ++progress_calls; };
  {
    // Another run holds o.json (the lock a run takes is the same file, opened anew).
    const tpt::io::exclusive_file_lock other(dir / ".o.json.tpt-lock", dir / "o.json", "", true);
    CHECK_THROWS_WITH(tp::classify_images(c, root, files, {.output = dir / "o.json", .progress = count}),
                      Catch::Contains("o.json") && Catch::Contains("is in use by another run (process ") &&
                          Catch::Contains("give another output file"));
    const tpt::io::exclusive_file_lock in_place(root / ".md.json.tpt-lock", input, "", true);
    CHECK_THROWS_WITH(tp::classify_detections(c, tp::megadetector_results::read(input), root, {},
                                              {.output = input, .progress = count}),
                      Catch::Contains("md.json") && Catch::Contains("is in use by another run"));
  }
  CHECK(progress_calls == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "o.json"));
  CHECK_FALSE(std::filesystem::exists(dir / "o.json.checkpoint.jsonl"));
  CHECK(tpt::io::read_text(input) == input_bytes);
  // Free again: the run goes ahead and takes its lock file along when it ends.
  const auto summary = tp::classify_images(c, root, files, {.output = dir / "o.json"});
  CHECK(summary.classified_images == 2);
  CHECK(std::filesystem::exists(dir / "o.json"));
  CHECK_FALSE(std::filesystem::exists(dir / ".o.json.tpt-lock"));
  // An output that is a device takes no lock (nothing to lock beside /dev/null).
  CHECK_NOTHROW(tp::classify_images(c, root, files, {.output = "/dev/null", .checkpoint_every = 0}));
  // A link to the results file is the same output: the lock is taken beside the file written.
  std::filesystem::create_symlink(dir / "o.json", dir / "alias.json");
  {
    const tpt::io::exclusive_file_lock other(dir / ".o.json.tpt-lock", dir / "o.json", "", true);
    CHECK_THROWS_WITH(tp::classify_images(c, root, files, {.output = dir / "alias.json"}),
                      Catch::Contains("alias.json") && Catch::Contains("is in use by another run"));
  }
  // A descriptor the caller opened (/dev/stdout redirected to a file: here /proc/self/fd/N of a
  // regular file) is written into as a stream, with no folder under /proc to probe or lock in.
  const auto redirected = dir / "redirected.json";
  const int fd = ::open(redirected.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  CHECK_NOTHROW(
      tp::classify_images(c, root, files, {.output = fmt::format("/proc/self/fd/{}", fd), .checkpoint_every = 0}));
  ::close(fd);
  CHECK_THAT(tpt::io::read_text(redirected), Catch::Contains("classification_categories"));
}

TEST_CASE("on a CUDA device the predictions are the CPU's", "[run][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("LibTorch sees no CUDA device here: the CUDA path is not exercised");
    return;
  }
  tpt::test::frame_folder folder;
  const auto ckpt = folder.dir / "model.tpt";
  tpt::test::make_checkpoint(ckpt);
  std::vector<tp::image_job> jobs;
  for (const auto& f : folder.good) jobs.push_back({folder.root() / f});
  auto run = [&](torch::Device device) {
    tp::batch_classifier c(tpt::load_checkpoint(ckpt, device), {.device = device, .batch_size = 4, .top_k = 5});
    std::vector<tp::image_outcome> out;
    c.classify(jobs, [&](std::size_t, tp::image_outcome&& o) {
      out.push_back(std::move(o));
      return true;
    });
    return out;
  };
  const auto cpu = run(torch::kCPU);
  const auto gpu = run(torch::kCUDA);
  REQUIRE(cpu.size() == gpu.size());
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    REQUIRE(gpu[i].ok());
    CHECK(cpu[i].predictions.front().front().class_index == gpu[i].predictions.front().front().class_index);
    CHECK(std::abs(cpu[i].predictions.front().front().confidence - gpu[i].predictions.front().front().confidence) < 1e-3);
  }
}
