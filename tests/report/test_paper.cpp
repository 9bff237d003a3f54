// tpt/report/paper.hpp: the shipped copy of the paper's Tables 1-3 equals the project's reference
// file (tests/data/paper, itself compared with shared/paper where that is at hand), parse to the paper's numbers, and recognise the paper's class list.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tpt/core/random.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/report/paper.hpp"

namespace {

// The reference files live in shared/paper beside (or above) the checkout; TPT_PAPER_DIR overrides.
std::filesystem::path paper_dir() {
  if (const char* env = std::getenv("TPT_PAPER_DIR")) return env;
  for (auto dir = std::filesystem::path(TPT_SOURCE_DIR); !dir.empty(); dir = dir.parent_path()) {
    for (const auto* sub : {"shared/paper", "../shared/paper"})
      if (std::filesystem::exists(dir / sub / "paper_results.csv")) return dir / sub;
    if (dir == dir.parent_path()) break;
  }
  return {};
}

}  // namespace

TEST_CASE("the shipped paper figures equal the copies the project keeps of the paper's files", "[paper]") {
  const std::filesystem::path data = TPT_TEST_DATA_DIR;
  CHECK(tpt::io::read_text(data / "paper" / "paper_results.csv") == tpt::paper::results_csv);
  // The species counts are tpt::serengeti::season9, checked against
  // tests/data/sampling/serengeti_s9_counts.csv by the sampling tests.
}

TEST_CASE("the project's copies equal the paper's files where shared/paper is at hand", "[paper]") {
  const auto dir = paper_dir();
  if (dir.empty()) {
    WARN("shared/paper not found above " TPT_SOURCE_DIR " (set TPT_PAPER_DIR): the copies in tests/data were not "
         "compared with the originals");
    return;
  }
  const std::filesystem::path data = TPT_TEST_DATA_DIR;
  CHECK(tpt::io::read_text(dir / "paper_results.csv") == tpt::io::read_text(data / "paper" / "paper_results.csv"));
  CHECK(tpt::io::read_text(dir / "serengeti_s9_counts.csv") ==
        tpt::io::read_text(data / "sampling" / "serengeti_s9_counts.csv"));
}

TEST_CASE("the paper's Tables 1-3 parse to its headline numbers", "[paper]") {
  const auto& r = tpt::paper::results();
  REQUIRE(r.size() == 9);
  const auto baseline = tpt::paper::find_result("baseline", 1);
  REQUIRE(baseline);
  CHECK(baseline->macro_f1 == 0.3944);
  CHECK(baseline->accuracy == 0.8527);
  const auto rus2 = tpt::paper::find_result("RUS", 2);
  REQUIRE(rus2);
  CHECK(rus2->macro_f1 == 0.4147);  // the paper's best
  CHECK(tpt::paper::find_result("ROS&RUS(15K)", 1)->macro_recall == 0.4094);
  CHECK(tpt::paper::find_result("ros_rus_5k", 2)->macro_precision == 0.5640);
  CHECK_FALSE(tpt::paper::find_result("baseline", 2));
  CHECK_FALSE(tpt::paper::find_result("focal", 1));
}

TEST_CASE("model names map to the paper's ids in any spelling", "[paper]") {
  CHECK(tpt::paper::model_id("ROS&RUS(15K)") == "ros_rus_15k");
  CHECK(tpt::paper::model_id("ros rus 5K") == "ros_rus_5k");
  CHECK(tpt::paper::model_id("  Baseline ") == "baseline");
  CHECK(tpt::paper::model_rank("RUS") == 2u);
  CHECK_FALSE(tpt::paper::model_rank("my model"));
}

TEST_CASE("the Serengeti S9 class list is recognised in any order and nothing else is", "[paper]") {
  const auto species = tpt::paper::serengeti_s9_species();
  REQUIRE(species.size() == 52);
  std::int64_t train = 0, test = 0;
  for (const auto& s : species) {
    train += s.train;
    test += s.test;
  }
  CHECK(train == 155254);  // the paper's training set
  CHECK(test == 19377);
  CHECK(species.front().species == "wildebeest");
  std::vector<std::string> names;
  for (const auto& s : species) names.emplace_back(s.species);
  tpt::rng gen(5);
  tpt::shuffle(names, gen);
  CHECK(tpt::paper::is_serengeti_s9(names));
  names.pop_back();
  CHECK_FALSE(tpt::paper::is_serengeti_s9(names));
  names.push_back("wildebeest");  // 52 names, one twice
  CHECK_FALSE(tpt::paper::is_serengeti_s9(names));
}
