// tpt-plan: show what a phase-1 sampling policy does to a class distribution, class by class,
// before any training: per-class counts before and after, totals, duplicates and drops, as a
// table, CSV and a log-scale SVG bar chart (the paper's Figures 4-6).
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tpt/core/error.hpp"
#include "tpt/io/atomic_file.hpp"
#include "tpt/sampling/distribution.hpp"
#include "tpt/sampling/plan.hpp"
#include "tpt/sampling/policies.hpp"
#include "tpt/sampling/presets.hpp"
#include "tpt/sampling/report.hpp"
#include "tpt/sampling/sampler.hpp"

namespace po = boost::program_options;

namespace {

constexpr const char* usage = R"(tpt-plan: show what a phase-1 sampling policy does to a class distribution.

Two-phase training first trains on a rebalanced copy of the data (phase 1). tpt-plan prints,
class by class, how many examples each class has before and after the chosen sampling policy,
how many of the entries are repeated copies (oversampling) and how many examples are left out
(undersampling). Nothing is trained; it takes a second.

Usage: tpt-plan [DATA] [--policy NAME [SETTINGS]] [OUTPUT]

Examples:
  tpt-plan                                    ROS on Snapshot Serengeti S9 (the paper's data)
  tpt-plan --policy rus --svg rus.svg         RUS, and a bar chart to open in a browser
  tpt-plan --long-tail 10,5600,100 --policy ros-rus-15k --scale auto
                                              long-tailed Fashion-MNIST, paper thresholds scaled
  tpt-plan --labels train.csv --policy ros --scale auto --csv plan.csv
  tpt-plan --counts counts.csv --policy oversample --ratio-tiers 50:4,500:2 --oversample-cap 800

Policies (--policy):
  baseline      every example once (no resampling)
  ros           the paper's random oversampling: x10 below 100 images, x8 below 500, x6 below
                1,000, x4 below 5,000, never above 5,000; every original kept, copies at random
  rus           the paper's random undersampling: classes above 15,000 cut to 15,000 (without
                replacement: no image twice)
  ros-rus-15k   ros, then rus at 15,000
  ros-rus-5k    ros, then rus at 5,000
  oversample    ROS with your --ratio-tiers and --oversample-cap
  undersample   RUS with your --undersample-cap
  oversample+undersample   both, in that order
  balance       every class to one count (--balance-to)
The five paper presets take --scale; the others take their settings as given.
)";

struct settings {
  // data
  bool serengeti = false;
  bool serengeti_test = false;
  std::string labels_file, counts_file, long_tail;
  std::string label_column, class_column, count_column;
  // policy
  std::string policy;
  std::string scale;
  std::string ratio_tiers, oversample_cap, balance_to, extras;
  std::optional<std::int64_t> undersample_cap;
  bool every_epoch = false;
  std::string seed_text;
  std::uint64_t seed = 1;
  std::int64_t epoch = 0;
  // output
  std::string csv_file, svg_file, indices_file, order;
  bool quiet = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  throw po::error(message);
}

std::int64_t parse_count(const std::string& option, const std::string& text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    usage_error(fmt::format("option '--{}': expected a whole number, got '{}'", option, text));
  return value;
}

double parse_number(const std::string& option, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    usage_error(fmt::format("option '--{}': expected a number, got '{}'", option, text));
  return value;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

/// Build with `make`; a tpt::config_error about a setting is reported under the command-line
/// option that gave it.
/// `part` adds the setting's own name, for options that bundle several values (--long-tail).
template <class Make>
auto as_option(const char* option, Make&& make, bool part = false) {
  try {
    return make();
  } catch (const tpt::config_error& e) {
    if (part) usage_error(fmt::format("option '--{}': {} {}", option, e.option(), e.reason()));
    usage_error(fmt::format("option '--{}': {}", option, e.reason()));
  }
}

/// The dataset to plan on: a distribution and one label per example.
tpt::labelled_examples load_data(const settings& s) {
  const int sources = int(s.serengeti) + int(s.serengeti_test) + int(!s.labels_file.empty()) +
                      int(!s.counts_file.empty()) + int(!s.long_tail.empty());
  if (sources > 1)
    usage_error("choose one of --serengeti, --serengeti-test, --labels, --counts, --long-tail");
  tpt::labelled_examples data;
  if (!s.labels_file.empty()) return tpt::read_labels(s.labels_file, s.label_column);
  if (!s.counts_file.empty()) {
    data.distribution = tpt::read_class_counts(s.counts_file, s.class_column, s.count_column);
  } else if (!s.long_tail.empty()) {
    const auto parts = split(s.long_tail, ',');
    if (parts.size() != 3)
      usage_error(fmt::format("option '--long-tail': expected CLASSES,LARGEST,RATIO such as "
                              "10,5600,100, got '{}'",
                              s.long_tail));
    const auto classes = parse_count("long-tail", parts[0]);
    const auto largest = parse_count("long-tail", parts[1]);
    const auto ratio = parse_number("long-tail", parts[2]);
    data.distribution =
        as_option("long-tail", [&] { return tpt::long_tailed(classes, largest, ratio); }, true);
  } else {
    data.distribution = tpt::serengeti_s9(s.serengeti_test);
  }
  // One label per example, then the plan and its report: about 4 x 8 bytes per example. Summed
  // without overflow and compared with this machine's memory before anything is allocated
  // (a count of 10^13 used to end in std::bad_alloc).
  const auto memory = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  double total = 0;
  for (const auto c : data.distribution.counts) total += static_cast<double>(c);
  if (memory > 0 && total * 32 > memory)
    throw tpt::input_error(s.counts_file.empty() ? std::string("--long-tail ") + s.long_tail : s.counts_file,
                           fmt::format("{:.0f} examples need about {:.0f} GB for their labels and plan; this machine "
                                       "has {:.0f} GB", total, total * 32 / 1e9, memory / 1e9));
  data.labels = tpt::labels_from_counts(data.distribution.counts);
  return data;
}

std::vector<tpt::ratio_tier> parse_tiers(const std::string& text) {
  std::vector<tpt::ratio_tier> tiers;
  for (const std::string& item : split(text, ',')) {
    const auto pair = split(item, ':');
    if (pair.size() != 2)
      usage_error(fmt::format("option '--ratio-tiers': expected BELOW:RATIO pairs such as "
                              "100:10,500:8, got '{}'",
                              item));
    tiers.push_back({parse_count("ratio-tiers", pair[0]), parse_number("ratio-tiers", pair[1])});
  }
  return tiers;
}

tpt::extra_copies parse_extras(const std::string& text) {
  if (text == "spread") return tpt::extra_copies::spread_evenly;
  if (text == "independent") return tpt::extra_copies::independent;
  usage_error(fmt::format("option '--extras': expected 'spread' or 'independent', got '{}'", text));
}

tpt::random_oversample make_oversample(const settings& s) {
  tpt::random_oversample::options o;
  if (!s.ratio_tiers.empty()) {
    o.tiers = parse_tiers(s.ratio_tiers);
    as_option("ratio-tiers", [&] { return tpt::random_oversample(o); });
  }
  if (!s.oversample_cap.empty())
    o.cap = s.oversample_cap == "none" ? std::nullopt
                                       : std::optional(parse_count("oversample-cap", s.oversample_cap));
  if (!s.extras.empty()) o.extras = parse_extras(s.extras);
  return as_option("oversample-cap", [&] { return tpt::random_oversample(o); });
}

tpt::random_undersample make_undersample(const settings& s) {
  if (!s.undersample_cap) return tpt::random_undersample();
  return as_option("undersample-cap", [&] { return tpt::random_undersample(*s.undersample_cap); });
}

tpt::class_balanced make_balanced(const settings& s) {
  const auto extras = s.extras.empty() ? tpt::extra_copies::spread_evenly : parse_extras(s.extras);
  if (s.balance_to.empty() || s.balance_to == "largest") return tpt::class_balanced::to_largest(extras);
  if (s.balance_to == "smallest") return tpt::class_balanced::to_smallest();
  const std::int64_t count = parse_count("balance-to", s.balance_to);
  return as_option("balance-to", [&] { return tpt::class_balanced::to(count, extras); });
}

/// Refuse settings that the chosen policy would silently ignore.
void check_applicable(const settings& s, bool presets) {
  const bool over = s.policy == "oversample" || s.policy == "oversample+undersample";
  const bool under = s.policy == "undersample" || s.policy == "oversample+undersample";
  const bool balance = s.policy == "balance";
  auto refuse = [&](bool given, const char* option, const char* applies_to) {
    if (given)
      usage_error(fmt::format("option '--{}' applies to --policy {}, not to --policy {}", option,
                              applies_to, s.policy));
  };
  refuse(!s.scale.empty() && !presets, "scale",
         "baseline, ros, rus, ros-rus-15k or ros-rus-5k (the paper presets)");
  refuse(!s.ratio_tiers.empty() && !over, "ratio-tiers", "oversample or oversample+undersample");
  refuse(!s.oversample_cap.empty() && !over, "oversample-cap", "oversample or oversample+undersample");
  refuse(s.undersample_cap.has_value() && !under, "undersample-cap",
         "undersample or oversample+undersample");
  refuse(!s.balance_to.empty() && !balance, "balance-to", "balance");
  refuse(!s.extras.empty() && !over && !balance, "extras", "oversample, oversample+undersample or balance");
}

/// Call f with the policy the settings describe (wrapped in every_epoch when asked).
template <class F>
void with_policy(const settings& s, const tpt::class_distribution& d, F&& f) {
  auto run = [&](auto policy) {
    if (s.every_epoch) f(tpt::every_epoch(std::move(policy)));
    else f(std::move(policy));
  };
  // presets::visit takes '_' for '-' (ros_rus_15k); so does this test.
  std::string key = s.policy;
  std::replace(key.begin(), key.end(), '_', '-');
  const bool is_preset = std::ranges::find(tpt::presets::names, key) != tpt::presets::names.end();
  check_applicable(s, is_preset);
  if (is_preset) {
    double scale = 1.0;
    if (s.scale == "auto") scale = as_option("scale", [&] { return tpt::presets::scale_for(d.counts); });
    else if (!s.scale.empty()) scale = parse_number("scale", s.scale);
    as_option("scale", [&] { return tpt::presets::scaled(1, scale); });  // checks the scale
    tpt::presets::visit(s.policy, scale, run);
  } else if (s.policy == "oversample") {
    run(make_oversample(s));
  } else if (s.policy == "undersample") {
    run(make_undersample(s));
  } else if (s.policy == "oversample+undersample") {
    run(tpt::compose(make_oversample(s), make_undersample(s)));
  } else if (s.policy == "balance") {
    run(make_balanced(s));
  } else {
    usage_error(fmt::format("option '--policy': unknown policy '{}' (known: {}, oversample, "
                            "undersample, oversample+undersample, balance)",
                            s.policy, fmt::join(tpt::presets::names, ", ")));
  }
}

int run(settings s) {
  {
    const char* first = s.seed_text.data();
    const char* last = first + s.seed_text.size();
    const auto [end, ec] = std::from_chars(first, last, s.seed);
    if (s.seed_text.empty() || ec != std::errc{} || end != last)
      usage_error(fmt::format("option '--seed': expected a whole number from 0 to 2^64-1, got '{}'",
                              s.seed_text));
  }
  if (s.order != "size" && s.order != "file")
    usage_error(fmt::format("option '--order': expected 'size' or 'file', got '{}'", s.order));
  if (s.epoch < 0) usage_error(fmt::format("option '--epoch': epochs count from 0, got {}", s.epoch));
  if (s.epoch > 0 && !s.every_epoch)
    usage_error("option '--epoch': a plan drawn once is the same for every epoch; add "
                "--every-epoch to see epoch " + std::to_string(s.epoch) + "'s plan");
  const tpt::labelled_examples data = load_data(s);
  const tpt::class_distribution& d = data.distribution;

  with_policy(s, d, [&](const auto& policy) {
    // Targets are only known once the rule meets the counts: a problem then is reported under
    // the option that set the rule, not the policy's class name.
    const tpt::sampling_plan plan = [&] {
      try {
        return tpt::plan_epoch(policy, data.labels, d.num_classes(), s.seed, s.epoch);
      } catch (const tpt::config_error& e) {
        const char* option = s.policy == "balance"         ? "balance-to"
                             : s.policy == "undersample"   ? "undersample-cap"
                             : s.policy.starts_with("over") ? "ratio-tiers"
                                                            : "scale";
        usage_error(fmt::format("option '--{}': {}", option, e.reason()));
      } catch (const std::bad_alloc&) {
        throw tpt::error(fmt::format("the plan of policy '{}' does not fit in memory", s.policy));
      }
    }();
    tpt::plan_report report =
        tpt::describe_plan(plan, data.labels, d.classes, fmt::format("{} on {}", s.policy, d.name));
    if (s.order == "size") report.sort_by_size();
    if (!s.quiet) {
      fmt::print("policy: {}\n", policy);
      fmt::print("drawn {}, seed {}{}\n\n",
                 tpt::redraws_every_epoch_v<decltype(policy)> ? "every epoch" : "once for the run",
                 s.seed, s.every_epoch ? fmt::format(", epoch {}", s.epoch) : std::string());
      fmt::print("{}\n", report);
    }
    tpt::write_plan_report(report, s.csv_file, s.svg_file);
    if (!s.indices_file.empty())
      tpt::io::write_atomically(s.indices_file, [&](std::ostream& out) {
        for (const std::int64_t i : plan.indices) out << i << '\n';
      });
    for (const auto& [file, what] : {std::pair{s.csv_file, "table"}, std::pair{s.svg_file, "chart"},
                                     std::pair{s.indices_file, "indices"}})
      if (!file.empty() && !s.quiet) fmt::print("wrote {}: {}\n", what, file);
    fmt::print("summary: {} on {}: {}\n", s.policy, d.name, plan);
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  constexpr unsigned width = 100, description_at = 36;
  po::options_description data("Data (one of; default --serengeti)", width, description_at);
  data.add_options()
      ("serengeti", po::bool_switch(&s.serengeti), "Snapshot Serengeti season 9, training split: 52 species, 155,254 images (built in)")
      ("serengeti-test", po::bool_switch(&s.serengeti_test), "the same, test split (19,377 images)")
      ("labels", po::value(&s.labels_file)->value_name("FILE"), "CSV with one row per example and a column of class names")
      ("label-column", po::value(&s.label_column)->default_value("label")->value_name("NAME"), "the class-name column of --labels")
      ("counts", po::value(&s.counts_file)->value_name("FILE"), "CSV with one row per class: a name and a count")
      ("class-column", po::value(&s.class_column)->default_value("class")->value_name("NAME"), "the name column of --counts")
      ("count-column", po::value(&s.count_column)->default_value("count")->value_name("NAME"), "the count column of --counts (e.g. 'train')")
      ("long-tail", po::value(&s.long_tail)->value_name("K,LARGEST,RATIO"), "synthetic long-tailed profile: K classes, the largest with LARGEST examples, each next one smaller by a constant factor down to LARGEST/RATIO (10,5600,100 is long-tailed Fashion-MNIST)");
  po::options_description policy("Policy", width, description_at);
  policy.add_options()
      ("policy", po::value(&s.policy)->default_value("ros")->value_name("NAME"), "baseline, ros, rus, ros-rus-15k, ros-rus-5k, oversample, undersample, oversample+undersample or balance (see above)")
      ("scale", po::value(&s.scale)->value_name("X|auto"), "paper presets only: multiply their thresholds and caps by X; 'auto' scales them to your largest class (largest / 48,377)")
      ("ratio-tiers", po::value(&s.ratio_tiers)->value_name("LIST"), "oversample: BELOW:RATIO pairs, e.g. 100:10,500:8,1000:6,5000:4 (a class of n < BELOW grows to n x RATIO)")
      ("oversample-cap", po::value(&s.oversample_cap)->value_name("N|none"), "oversample: no class grows beyond N (default 5000)")
      ("undersample-cap", po::value<std::int64_t>()->value_name("N")->notifier([&](std::int64_t v) { s.undersample_cap = v; }), "undersample: classes above N are cut to N (default 15000)")
      ("balance-to", po::value(&s.balance_to)->value_name("N|largest|smallest"), "balance: the common count (default largest)")
      ("extras", po::value(&s.extras)->value_name("spread|independent"), "how oversampling draws its copies: spread evenly over the class (default) or independently with replacement (as imbalanced-learn)")
      ("every-epoch", po::bool_switch(&s.every_epoch), "redraw the plan every epoch instead of once for the run")
      ("seed", po::value(&s.seed_text)->default_value("1")->value_name("N"), "the run's seed (0 to 2^64-1)")
      ("epoch", po::value(&s.epoch)->default_value(0)->value_name("E"), "with --every-epoch: the epoch to show (from 0)");
  po::options_description output("Output", width, description_at);
  output.add_options()
      ("csv", po::value(&s.csv_file)->value_name("FILE"), "write the per-class table as CSV")
      ("svg", po::value(&s.svg_file)->value_name("FILE"), "write a log-scale bar chart of per-class counts before and after (opens in a browser)")
      ("indices", po::value(&s.indices_file)->value_name("FILE"), "write the plan's example indices, one per line (row numbers of --labels, from 0)")
      ("order", po::value(&s.order)->default_value("size")->value_name("size|file"), "class order of the table and chart: largest first, or the class order of the data (as listed in --counts and the built-in tables, alphabetical for --labels, whose class ids are the sorted names)")
      ("quiet", po::bool_switch(&s.quiet), "print only the summary line")
      ("help,h", "show this help");
  po::options_description all(width, description_at);
  all.add(data).add(policy).add(output);

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << '\n' << all << '\n';
      return 0;
    }
    po::notify(vm);
    return run(s);
  } catch (const po::error& e) {
    fmt::print(stderr, "tpt-plan: {}\nRun 'tpt-plan --help' for the options.\n", e.what());
    return 2;
  } catch (const tpt::error& e) {
    fmt::print(stderr, "tpt-plan: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tpt-plan: unexpected failure: {}\n", e.what());
    return 1;
  }
}
