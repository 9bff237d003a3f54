// tpt-report: the report (tables, figures, paired-bootstrap comparisons) over experiment records
// saved by tpt::save_record, e.g. one file per model, phase and seed from separate runs.
//
//   tpt-report --out report/ runs/*.json
//   tpt-report --out report/ --compare baseline:1,RUS:2 --resamples 20000 runs/*.json
//   tpt-report --out demo/ --demo [--demo-seeds 3]   (simulated runs on the paper's 52 species)
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/random.hpp"
#include "tpt/core/utf8.hpp"
#include "tpt/metrics/classification_report.hpp"
#include "tpt/report/experiment_record.hpp"
#include "tpt/report/paper.hpp"
#include "tpt/report/write_report.hpp"

namespace po = boost::program_options;

namespace {

// "RUS:2" or "RUS:2:focal" -> run_key.
tpt::report::run_key parse_key(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos)
    throw tpt::config_error("compare", fmt::format("'{}': expected MODEL:PHASE[:LOSS]", text));
  tpt::report::run_key key;
  key.model = text.substr(0, colon);
  const auto rest = text.substr(colon + 1);
  const auto colon2 = rest.find(':');
  const auto phase = rest.substr(0, colon2);
  if (phase != "1" && phase != "2") throw tpt::config_error("compare", fmt::format("'{}': the phase must be 1 or 2", text));
  key.phase = phase == "1" ? 1 : 2;
  if (colon2 != std::string::npos) key.loss = rest.substr(colon2 + 1);
  return key;
}

// Simulated runs on the paper's species for --demo: each model's chance of a right answer grows
// with the class's training share, rebalanced models do better on rare classes. Not real results.
std::vector<tpt::experiment_record> demo_records(std::uint64_t seeds) {
  std::vector<std::string> names;
  std::vector<std::int64_t> train, targets;
  for (const auto& s : tpt::paper::serengeti_s9_species()) {
    names.emplace_back(s.species);
    train.push_back(s.train);
    targets.insert(targets.end(), static_cast<std::size_t>(s.test), static_cast<std::int64_t>(names.size() - 1));
  }
  tpt::rng split(1);
  tpt::shuffle(targets, split);
  double total = 0;
  for (auto n : train) total += double(n);
  struct model { const char* name; int phase; double skill, rare; };
  const model models[] = {{"baseline", 1, 0.0, 0.0},       {"ROS", 1, -0.02, 0.10},        {"ROS", 2, 0.0, 0.08},
                          {"RUS", 1, -0.05, 0.05},         {"RUS", 2, 0.01, 0.12},         {"ROS&RUS(15K)", 1, -0.01, 0.10},
                          {"ROS&RUS(15K)", 2, 0.0, 0.09},  {"ROS&RUS(5K)", 1, -0.10, 0.15}, {"ROS&RUS(5K)", 2, -0.01, 0.10}};
  std::vector<tpt::experiment_record> out;
  for (std::uint64_t seed = 0; seed < seeds; ++seed)
    for (const auto& m : models) {
      tpt::rng gen(tpt::derive_seed(seed, tpt::stream_tag(m.name), static_cast<std::uint64_t>(m.phase)));
      std::vector<std::int64_t> predictions;
      for (auto t : targets) {
        const double share = double(train[static_cast<std::size_t>(t)]) / total;
        const double p = std::clamp(0.25 + 0.6 * std::pow(share / 0.3, 0.25) + m.skill + (share < 0.01 ? m.rare : 0.0), 0.0, 0.98);
        const double u = gen.uniform01();
        predictions.push_back(u < p ? t : gen.uniform01() < 0.7 ? std::int64_t{0} : static_cast<std::int64_t>(gen.uniform_index(names.size())));
      }
      auto report = tpt::classification_report::from_predictions(predictions, targets, static_cast<std::int64_t>(names.size()));
      out.push_back(tpt::make_experiment_record(m.name, m.phase, seed, names, train, std::move(report), predictions, targets));
    }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, statistic, title;
  std::vector<std::string> inputs, compare;
  // Signed, so that "-1" is refused instead of wrapping around to 2^64-1.
  std::int64_t resamples = 10000, demo_seeds = 3, seed = 0;
  double confidence = 0.95;
  po::options_description visible("tpt-report [options] RECORD.json...");
  visible.add_options()("help,h", "print this help")(
      "out,o", po::value(&out)->required(), "folder to write report.md/.csv/.json, tables/ and figures/ into")(
      "title", po::value(&title)->default_value("tpt experiment report"), "report title")(
      "compare", po::value(&compare)->composing(),
      "REF:PHASE[:LOSS],CAND:PHASE[:LOSS]: one pair per --compare, repeat it for more; LOSS as the report spells it, "
      "e.g. focal(gamma=2) (default: every model vs the baseline, and phase 2 vs phase 1)")(
      "statistic", po::value(&statistic)->default_value("macro_f1"), "bootstrapped statistic")(
      "resamples", po::value(&resamples)->default_value(10000), "paired bootstrap resamples")(
      "confidence", po::value(&confidence)->default_value(0.95, "0.95"), "confidence level of the intervals")(
      "seed", po::value(&seed)->default_value(0), "bootstrap seed")(
      "counts", "heat maps of raw counts instead of row-normalised shares")(
      "absolute-f1-change", "plot F1 change in points instead of percent")(
      "no-paper", "never set the paper's figures beside ours")(
      "demo", "report on SIMULATED runs of the paper's five models on its 52 species")(
      "demo-seeds", po::value(&demo_seeds)->default_value(3), "seeds of the --demo runs");
  po::options_description hidden;
  hidden.add_options()("input", po::value(&inputs)->composing());
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("input", -1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << visible << "\n";
      return 0;
    }
    po::notify(vm);
    // Checked here, before any record is read or any resample drawn.
    if (resamples < 2 || resamples > 10'000'000)
      throw tpt::config_error("resamples", fmt::format("expected 2 to 10,000,000, got {}", resamples));
    if (seed < 0) throw tpt::config_error("seed", fmt::format("expected a whole number >= 0, got {}", seed));
    if (demo_seeds < 1 || demo_seeds > 100)
      throw tpt::config_error("demo-seeds", fmt::format("expected 1 to 100, got {}", demo_seeds));
    if (!(confidence > 0 && confidence < 1))
      throw tpt::config_error("confidence", fmt::format("expected a number between 0 and 1, got {}", confidence));
    if (!tpt::utf8::valid(title))
      throw tpt::config_error("title", fmt::format("'{}' is not UTF-8", tpt::utf8::shown(title)));
    std::vector<tpt::experiment_record> records;
    if (vm.count("demo")) {
      records = demo_records(static_cast<std::uint64_t>(demo_seeds));
      if (vm["title"].defaulted()) title = "tpt report on SIMULATED runs (tpt-report --demo)";
    }
    for (const auto& file : inputs) {
      auto more = tpt::load_records(file);
      records.insert(records.end(), more.begin(), more.end());
    }
    if (records.empty()) throw tpt::config_error("input", "give record files (saved with tpt::save_record) or --demo");

    tpt::report_options options;
    options.title = title;
    options.bootstrap = {.statistic = statistic, .resamples = static_cast<std::size_t>(resamples), .confidence = confidence,
                         .seed = static_cast<std::uint64_t>(seed)};
    options.row_normalised_confusion = vm.count("counts") == 0;
    options.relative_f1_change = vm.count("absolute-f1-change") == 0;
    if (vm.count("no-paper")) options.paper = tpt::paper_columns::never;
    for (const auto& c : compare) {
      const auto comma = c.find(',');
      if (comma == std::string::npos) throw tpt::config_error("compare", fmt::format("'{}': expected REF:PHASE,CAND:PHASE", c));
      options.comparisons.push_back({parse_key(c.substr(0, comma)), parse_key(c.substr(comma + 1))});
    }
    const auto written = tpt::write_report(out, records, options);
    std::cout << written.summary << "\n"
              << fmt::format("tpt-report: wrote {} files to {} ({} runs)\n", written.files.size(), out, records.size());
    return 0;
  } catch (const po::error& e) {  // a usage error, like a bad value: one line and exit status 2
    std::cerr << "tpt-report: " << e.what() << "\n(see tpt-report --help)\n";
    return 2;
  } catch (const tpt::config_error& e) {
    std::cerr << "tpt-report: " << e.what() << "\n(see tpt-report --help)\n";
    return 2;
  } catch (const tpt::error& e) {
    std::cerr << "tpt-report: " << e.what() << "\n";
  } catch (const std::exception& e) {  // never std::terminate: one line, exit status 1
    std::cerr << "tpt-report: " << e.what() << "\n";
  }
  return 1;
}
