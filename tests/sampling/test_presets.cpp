// The paper presets on the built-in Snapshot Serengeti distribution give the dataset sizes the
// paper reports; the built-in table equals the CSV shipped beside it; scaled presets behave on
// the long-tailed Fashion-MNIST profile.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tpt/io/csv.hpp"
#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/presets.hpp"
#include "tpt/sampling/serengeti.hpp"

namespace {

const std::filesystem::path serengeti_csv =
    std::filesystem::path(TPT_TEST_DATA_DIR) / "sampling" / "serengeti_s9_counts.csv";

tpt::sampling_plan plan_on(const auto& policy, const tpt::class_distribution& d,
                           std::uint64_t seed = 1) {
  const auto labels = tpt::labels_from_counts(d.counts);
  return tpt::plan_epoch(policy, labels, d.num_classes(), seed, 0);
}

/// Per-class targets of the paper's rules, computed by Python from the CSV (an independent
/// reading of METHOD.md's table).
std::vector<std::vector<std::int64_t>> python_reference() {
  const std::string script = fmt::format(R"py(
import csv
rows = list(csv.DictReader(open('{}')))
n = [int(r['train']) for r in rows]
def ros(x):
    if x >= 5000: return x
    r = 10 if x < 100 else 8 if x < 500 else 6 if x < 1000 else 4
    return min(x * r, 5000)
for rule in (lambda x: x, ros, lambda x: min(x, 15000), lambda x: min(ros(x), 15000),
             lambda x: min(ros(x), 5000)):
    print(' '.join(str(rule(x)) for x in n))
)py",
                                         serengeti_csv.string());
  const std::string command = fmt::format("'{}' -c \"{}\"", TPT_REFERENCE_PYTHON, script);
  std::FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  while (std::size_t got = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, got);
  REQUIRE(::pclose(pipe) == 0);
  std::vector<std::vector<std::int64_t>> rows;
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t end = out.find('\n', start);
    std::vector<std::int64_t> row;
    std::size_t p = start;
    while (p < end) {
      std::size_t q = out.find(' ', p);
      if (q > end) q = end;
      row.push_back(std::stoll(out.substr(p, q - p)));
      p = q + 1;
    }
    rows.push_back(row);
    start = end + 1;
  }
  return rows;
}

std::string tiers(const tpt::random_oversample& ros) {
  return fmt::format("{}", fmt::join(ros.settings().tiers, ", "));
}

}  // namespace

TEST_CASE("the built-in Serengeti table equals the CSV shipped with it", "[sampling][serengeti]") {
  const tpt::io::csv_table csv = tpt::io::read_csv(serengeti_csv, {"species", "train", "test"});
  REQUIRE(csv.rows() == tpt::serengeti::season9.size());
  for (std::size_t r = 0; r < csv.rows(); ++r) {
    INFO("line " << csv.line(r));
    CHECK(csv.at(r, "species") == tpt::serengeti::season9[r].species);
    CHECK(csv.get<std::int64_t>(r, "train") == tpt::serengeti::season9[r].train);
    CHECK(csv.get<std::int64_t>(r, "test") == tpt::serengeti::season9[r].test);
  }
  const auto train = tpt::serengeti_s9();
  CHECK(train.total() == 155254);
  CHECK(tpt::serengeti_s9(true).total() == 19377);
  CHECK(train.num_classes() == 52);
  CHECK(train.largest() == 48377);
  CHECK(train.classes.front() == "wildebeest");
  CHECK(train.classes.back() == "rodents");
  // The same table read as a counts file.
  const auto from_file = tpt::read_class_counts(serengeti_csv, "species", "train");
  CHECK(from_file.counts == train.counts);
  CHECK(from_file.classes == train.classes);
}

TEST_CASE("the presets give the phase-1 dataset sizes the paper reports", "[sampling][presets]") {
  const auto s9 = tpt::serengeti_s9();
  const auto baseline = plan_on(tpt::presets::baseline(), s9);
  const auto ros = plan_on(tpt::presets::ros(), s9);
  const auto rus = plan_on(tpt::presets::rus(), s9);
  const auto rr15 = plan_on(tpt::presets::ros_rus_15k(), s9);
  const auto rr5 = plan_on(tpt::presets::ros_rus_5k(), s9);

  CHECK(baseline.total() == 155254);
  // "The ROS set holds slightly over 231,000 images."
  CHECK(ros.total() > 231000);
  CHECK(ros.total() < 232000);
  // "The RUS set slightly over 85,000."
  CHECK(rus.total() > 85000);
  CHECK(rus.total() < 86000);
  // "ROS&RUS(15K) about 6,000 more than the original training set."
  CHECK(rr15.total() - 155254 == Approx(6000).margin(500));
  // "The phase-1 sets span 131k to 231k images apart from RUS."
  const auto smallest = std::min({ros.total(), rr15.total(), rr5.total()});
  const auto largest = std::max({ros.total(), rr15.total(), rr5.total()});
  CHECK(std::llround(smallest / 1000.0) == 131);
  CHECK(std::llround(largest / 1000.0) == 231);

  // The exact sizes of the rule, recorded in docs/sampling.md.
  CHECK(ros.total() == 231437);
  CHECK(rus.total() == 85029);
  CHECK(rr15.total() == 161212);
  CHECK(rr5.total() == 131212);

  // ROS duplicates; RUS drops and never duplicates (the authors' code did, a defect).
  CHECK(ros.dropped() == 0);
  CHECK(ros.duplicates() == 231437 - 155254);
  CHECK(rus.duplicates() == 0);
  CHECK(rus.dropped() == 155254 - 85029);
  CHECK(rr15.dropped() == (48377 - 15000) + (36480 - 15000) + (30368 - 15000));
}

TEST_CASE("the presets' per-class counts match a Python reading of the paper's rules",
          "[sampling][presets][reference]") {
  const auto reference = python_reference();
  REQUIRE(reference.size() == 5);
  const auto s9 = tpt::serengeti_s9();
  CHECK(plan_on(tpt::presets::baseline(), s9).after == reference[0]);
  CHECK(plan_on(tpt::presets::ros(), s9).after == reference[1]);
  CHECK(plan_on(tpt::presets::rus(), s9).after == reference[2]);
  CHECK(plan_on(tpt::presets::ros_rus_15k(), s9).after == reference[3]);
  CHECK(plan_on(tpt::presets::ros_rus_5k(), s9).after == reference[4]);
}

TEST_CASE("scale 1 gives the paper's settings", "[sampling][presets]") {
  CHECK(tiers(tpt::presets::ros()) == "x10 below 100, x8 below 500, x6 below 1000, x4 below 5000");
  CHECK(tpt::presets::ros().settings().cap == 5000);
  CHECK(tpt::presets::rus().cap() == 15000);
  CHECK(tpt::presets::ros_rus_15k().second().cap() == 15000);
  CHECK(tpt::presets::ros_rus_5k().second().cap() == 5000);
  CHECK(tpt::presets::scale_for(tpt::serengeti_s9().counts) == 1.0);
}

TEST_CASE("scaled presets on long-tailed Fashion-MNIST (largest 5,600, imbalance 100)",
          "[sampling][presets][scaled]") {
  const auto lt = tpt::long_tailed(10, 5600, 100.0);
  CHECK(lt.counts == std::vector<std::int64_t>{5600, 3357, 2012, 1206, 723, 433, 259, 155, 93, 56});
  const double scale = tpt::presets::scale_for(lt.counts);
  CHECK(scale == Approx(5600.0 / 48377.0));

  const auto ros = tpt::presets::ros(scale);
  CHECK(tiers(ros) == "x10 below 12, x8 below 58, x6 below 116, x4 below 579");
  CHECK(ros.settings().cap == 579);
  CHECK(tpt::presets::rus(scale).cap() == 1736);
  CHECK(tpt::presets::ros_rus_5k(scale).second().cap() == 579);

  const auto p_ros = plan_on(ros, lt);
  const auto p_rus = plan_on(tpt::presets::rus(scale), lt);
  const auto p_rr15 = plan_on(tpt::presets::ros_rus_15k(scale), lt);
  const auto p_rr5 = plan_on(tpt::presets::ros_rus_5k(scale), lt);
  CHECK(lt.total() == 13894);
  // The tail grows to the scaled cap (or by its tier ratio), the head is untouched / cut.
  CHECK(p_ros.after == std::vector<std::int64_t>{5600, 3357, 2012, 1206, 723, 579, 579, 579, 558, 448});
  CHECK(p_rus.after == std::vector<std::int64_t>{1736, 1736, 1736, 1206, 723, 433, 259, 155, 93, 56});
  CHECK(p_rr15.after == std::vector<std::int64_t>{1736, 1736, 1736, 1206, 723, 579, 579, 579, 558, 448});
  CHECK(p_rr5.after == std::vector<std::int64_t>{579, 579, 579, 579, 579, 579, 579, 579, 558, 448});
  CHECK(p_ros.total() == 15641);
  CHECK(p_rus.total() == 8133);
  CHECK(p_rr15.total() == 9880);
  CHECK(p_rr5.total() == 5638);
  // Sensible: every scheme shrinks the imbalance ratio from 100.
  CHECK(5600.0 / 448 == Approx(12.5));
  CHECK(1736.0 / 56 < 32);
  CHECK(1736.0 / 448 < 4);
  CHECK(579.0 / 448 < 1.3);
}

TEST_CASE("tiny scales merge thresholds that round together", "[sampling][presets][scaled]") {
  const auto ros = tpt::presets::ros(0.001);  // 0.1, 0.5, 1, 5 -> 1, 1, 1, 5
  CHECK(tiers(ros) == "x10 below 1, x4 below 5");
  CHECK(ros.settings().cap == 5);
  CHECK(ros.target(1) == 4);
  CHECK(tpt::presets::scaled(15000, 0.001) == 15);
  CHECK(tpt::presets::scaled(100, 0.0001) == 1);
  CHECK_THROWS_WITH(tpt::presets::ros(0.0), "option 'scale': must be a number > 0, got 0");
  CHECK_THROWS_AS(tpt::presets::rus(-1.0), tpt::config_error);
  CHECK_THROWS_AS(tpt::presets::scale_for(std::vector<std::int64_t>{0, 0}), tpt::config_error);
}

TEST_CASE("presets are found by name", "[sampling][presets]") {
  const auto s9 = tpt::serengeti_s9();
  std::vector<std::int64_t> totals;
  for (const auto name : tpt::presets::names)
    totals.push_back(tpt::presets::visit(name, 1.0, [&](const auto& policy) {
      return plan_on(policy, s9).total();
    }));
  CHECK(totals == std::vector<std::int64_t>{155254, 231437, 85029, 161212, 131212});
  CHECK(tpt::presets::visit("ros_rus_5k", 1.0, [](const auto& p) {
    return tpt::redraws_every_epoch_v<decltype(p)>;
  }) == false);
  CHECK_THROWS_WITH(tpt::presets::visit("smote", 1.0, [](const auto&) { return 0; }),
                    "option 'preset': unknown preset 'smote' (known: baseline, ros, rus, "
                    "ros-rus-15k, ros-rus-5k)");
}
