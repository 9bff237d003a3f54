// Fixtures for the predict suite: a small trained-model stand-in (an untrained ResNet-18 saved as a
// tpt checkpoint with class names and recorded preprocessing), folders of generated camera-trap
// frames with damaged files among them, and generated MegaDetector results files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "../data_images/fixtures.hpp"
#include "tpt/data/decoded_cache.hpp"
#include "tpt/data/encode.hpp"
#include "tpt/model/checkpoint.hpp"
#include "tpt/model/resnet.hpp"
#include "tpt/predict/megadetector.hpp"
#include "tpt/predict/preprocess.hpp"
#include "tpt_test_support.hpp"

namespace tpt::test {

inline const std::vector<std::string> species{"zebra", "wildebeest", "gazelleThomsons", "lionFemale", "hartebeest"};

/// A ResNet-18 for `species` at 64 x 64 (small and quick on a CPU), its metadata recording a
/// 72 x 72 working size and the 0.875 evaluation crop; saved to `file`.
inline tpt::model_metadata make_checkpoint(const std::filesystem::path& file, std::uint64_t seed = 3) {
  torch::manual_seed(static_cast<std::int64_t>(seed));
  auto model = tpt::resnet18({.num_classes = static_cast<std::int64_t>(species.size())});
  // Random running statistics, so that BatchNorm in eval mode does more than pass values through
  // and the five classes get clearly different probabilities.
  {
    torch::NoGradGuard no_grad;
    for (auto& b : model->named_buffers()) {
      if (b.key().ends_with("running_mean")) b.value().uniform_(-0.2, 0.2);
      if (b.key().ends_with("running_var")) b.value().uniform_(0.5, 2.0);
    }
  }
  tpt::model_metadata meta{.class_names = species, .input_height = 64, .input_width = 64};
  tpt::predict::record_preprocessing(meta, {.height = 72, .width = 72}, 0.875);
  tpt::save_checkpoint(file, model, meta);
  return meta;
}

/// A folder of camera frames: good JPEGs (colour and grey, in subfolders), a PNG, and the damaged
/// files a real card holds (truncated, empty, random bytes), plus a file that is not an image.
struct frame_folder {
  scratch_dir dir{"tpt-predict"};
  std::vector<std::string> good;  ///< sorted
  std::vector<std::string> bad;   ///< sorted

  frame_folder() {
    auto put = [&](const std::string& rel, const std::vector<std::uint8_t>& bytes, bool ok) {
      write_bytes(dir / ("images/" + rel), bytes);
      (ok ? good : bad).push_back(rel);
    };
    put("site1/cam1/IMG_0001.JPG", jpeg_fixture(240, 320, 3, 11), true);
    put("site1/cam1/IMG_0002.JPG", jpeg_fixture(240, 320, 3, 12), true);
    put("site1/cam2/IMG_0001.jpeg", jpeg_fixture(300, 400, 1, 13), true);  // a grey night frame
    put("site2/cam1/frame.png", png_fixture(180, 240, 3, 14), true);
    put("site2/cam1/IMG_0100.jpg", jpeg_fixture(480, 640, 3, 15), true);
    put("site2/cam1/IMG_0101.jpg", jpeg_fixture(200, 260, 3, 16), true);
    put("site1/cam2/IMG_0002.JPG", truncated(jpeg_fixture(240, 320, 3, 17), 0.5), false);
    put("site2/cam2/empty.jpg", {}, false);
    put("site2/cam2/noise.jpg", random_bytes(3000, 18), false);
    write_bytes(dir / "images/site1/cam1/notes.txt", std::vector<std::uint8_t>{'h', 'i'});
    std::sort(good.begin(), good.end());
    std::sort(bad.begin(), bad.end());
  }

  [[nodiscard]] std::filesystem::path root() const { return dir.path() / "images"; }
  [[nodiscard]] std::vector<std::string> all() const {
    std::vector<std::string> out = good;
    out.insert(out.end(), bad.begin(), bad.end());
    std::sort(out.begin(), out.end());
    return out;
  }
};

/// A detection as MegaDetector writes it.
inline tpt::predict::ordered_json md_detection(const std::string& category, double conf, std::vector<double> bbox) {
  return {{"category", category}, {"conf", conf}, {"bbox", bbox}};
}

/// A MegaDetector results file for PNG frames in `root` (PNG so that crops can be compared pixel
/// for pixel): animals in the middle and at the border, a person, a faint animal, an empty frame,
/// a frame the detector could not open, a frame that has gone missing since, and fields tpt does
/// not know (which must survive).
inline tpt::predict::ordered_json md_document(const std::filesystem::path& root) {
  using tpt::predict::ordered_json;
  write_bytes(root / "cam1/a.png", png_fixture(300, 400, 3, 31));
  write_bytes(root / "cam1/b.png", png_fixture(240, 320, 3, 32));
  write_bytes(root / "cam2/c.png", png_fixture(200, 200, 3, 33));
  write_bytes(root / "cam2/empty.png", png_fixture(120, 160, 3, 34));
  ordered_json doc;
  doc["info"] = {{"format_version", "1.4"},
                 {"detector", "md_v5a.0.0.pt"},
                 {"detection_completion_time", "2024-05-26 19:11:27"},
                 {"detector_metadata", {{"megadetector_version", "v5a.0.0"}, {"typical_detection_threshold", 0.2}}},
                 {"site_notes", "unknown info key"}};
  doc["detection_categories"] = {{"1", "animal"}, {"2", "person"}, {"3", "vehicle"}};
  doc["images"] = ordered_json::array();
  auto& images = doc["images"];
  images.push_back({{"file", "cam1/a.png"},
                    {"detections",
                     {md_detection("1", 0.926, {0.25, 0.2, 0.3, 0.4}),
                      // at the right and bottom border: the box reaches past the frame
                      md_detection("1", 0.81, {0.85, 0.8, 0.3, 0.3}),
                      md_detection("2", 0.95, {0.1, 0.1, 0.2, 0.5}),
                      md_detection("1", 0.04, {0.5, 0.5, 0.1, 0.1})}},
                    {"datetime", "2021-06-01 06:12:00"}});
  images.push_back({{"file", "cam1/b.png"},
                    {"detections",
                     {md_detection("1", 0.5, {0.0, 0.0, 0.2, 0.3}),  // at the top-left corner
                      md_detection("1", 0.3, {0.4, 0.4, 0.0, 0.2})}}});  // no width: no pixels
  images.push_back({{"file", "cam2/c.png"}, {"detections", {md_detection("1", 0.7, {0.1, 0.3, 0.5, 0.45})}}});
  images.push_back({{"file", "cam2/empty.png"}, {"detections", ordered_json::array()}});
  images.push_back({{"file", "cam2/broken.jpg"}, {"failure", "Failure image access"}, {"detections", nullptr}});
  images.push_back({{"file", "cam3/gone.png"}, {"detections", {md_detection("1", 0.9, {0.1, 0.1, 0.5, 0.5})}}});
  images[0]["detections"][0]["track_id"] = 7;  // an unknown detection key
  doc["custom_top_level"] = {{"kept", true}};
  return doc;
}

}  // namespace tpt::test
