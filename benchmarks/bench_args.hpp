// What every benchmark program shares: the median of its measurements, and command-line flags
// read strictly (a mistyped or valueless flag is an error, not a silent run of the defaults).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tpt::bench {

/// The median: the middle value, or the mean of the two middle values of an even count (the
/// upper middle alone would report the faster of two epochs, for instance).
inline double median(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("no measurements to take the median of (is --repeats 0?)");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Flags `--name value` or `--name=value`, each one of `known`; `--help` prints `usage`.
class flags {
 public:
  flags(int argc, char** argv, std::initializer_list<std::string_view> known, std::string usage)
      : usage_(std::move(usage)) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        help_ = true;
        continue;
      }
      if (arg.rfind("--", 0) != 0) throw std::invalid_argument(fmt::format("unexpected argument '{}'", arg));
      std::string name = arg.substr(2), value;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      } else {
        if (i + 1 >= argc) throw std::invalid_argument(fmt::format("--{} needs a value", name));
        value = argv[++i];
      }
      if (std::find(known.begin(), known.end(), name) == known.end())
        throw std::invalid_argument(fmt::format("unknown flag --{} (known: --{})", name, fmt::join(known, ", --")));
      values_[name] = value;
    }
  }

  /// True when --help was given: the usage is printed and the program should stop.
  [[nodiscard]] bool help() const {
    if (help_) std::fputs(usage_.c_str(), stdout);
    return help_;
  }
  [[nodiscard]] bool has(const std::string& name) const { return values_.count(name) != 0; }
  [[nodiscard]] std::string text(const std::string& name, std::string fallback) const {
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  /// A whole number in [min, max].
  [[nodiscard]] long long number(const std::string& name, long long fallback, long long min = 1,
                                 long long max = 1'000'000'000'000LL) const {
    const auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    return parse_number(name, it->second, min, max);
  }
  /// on or off, nothing else.
  [[nodiscard]] bool on_off(const std::string& name, bool fallback) const {
    const auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    if (it->second == "on") return true;
    if (it->second == "off") return false;
    throw std::invalid_argument(fmt::format("--{}: expected on or off, got '{}'", name, it->second));
  }

  /// `text` as a whole number in [min, max]; errors name `--name`, or `NAME` as written when it is
  /// in capitals (a positional argument).
  static long long parse_number(const std::string& name, const std::string& text, long long min, long long max) {
    long long v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v < min || v > max)
      throw std::invalid_argument(fmt::format("{}{}: expected a whole number from {} to {}, got '{}'",
                                              name.front() >= 'A' && name.front() <= 'Z' ? "" : "--", name, min, max, text));
    return v;
  }

 private:
  std::string usage_;
  bool help_ = false;
  std::map<std::string, std::string> values_;
};

}  // namespace tpt::bench
