// The exceptions tpt throws: each names the culprit (file and line, option, field) and what was
// expected, so a user can fix the input without reading tpt's source.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace tpt {

/// Base of every exception tpt throws on purpose.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file or record the user supplied is missing, unreadable or malformed.
/// what() reads like a compiler diagnostic: "labels.csv:17: column 'label': expected ...".
class input_error : public error {
 public:
  input_error(std::filesystem::path file, std::optional<std::size_t> line, std::string reason)
      : error(format(file, line, reason)),
        file_(std::move(file)),
        line_(line),
        reason_(std::move(reason)) {}

  input_error(std::filesystem::path file, std::string reason)
      : input_error(std::move(file), std::nullopt, std::move(reason)) {}

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
  [[nodiscard]] std::optional<std::size_t> line() const noexcept { return line_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  static std::string format(const std::filesystem::path& file, std::optional<std::size_t> line,
                            const std::string& reason) {
    if (line) return fmt::format("{}:{}: {}", file.string(), *line, reason);
    return fmt::format("{}: {}", file.string(), reason);
  }

  std::filesystem::path file_;
  std::optional<std::size_t> line_;
  std::string reason_;
};

/// An option, policy parameter or combination of them that cannot work
/// ("option 'cap': must be positive, got -3").
class config_error : public error {
 public:
  config_error(std::string option, std::string reason)
      : error(fmt::format("option '{}': {}", option, reason)),
        option_(std::move(option)),
        reason_(std::move(reason)) {}

  [[nodiscard]] const std::string& option() const noexcept { return option_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  std::string option_;
  std::string reason_;
};

/// A class name or id that is not in the dataset's category list.
class unknown_class_error : public error {
 public:
  explicit unknown_class_error(std::string label, std::string where = {})
      : error(where.empty() ? fmt::format("unknown class '{}'", label)
                            : fmt::format("{}: unknown class '{}'", where, label)),
        label_(std::move(label)) {}

  [[nodiscard]] const std::string& label() const noexcept { return label_; }

 private:
  std::string label_;
};

}  // namespace tpt
