// Reading CSV files (manifests, label files, result tables) by column name, with errors that
// name the file, the line and the column. Parsing is Debian's fast-cpp-csv-parser (fccp); this
// header adds columns chosen at run time, optional columns and typed access.
#pragma once

#include <array>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <csv.h>  // fccp

#include "tpt/core/error.hpp"

namespace tpt::io {

/// The most columns one read_csv call can ask for (fccp fixes the count at compile time).
inline constexpr std::size_t max_csv_columns = 12;

/// A CSV file read into memory, column by column, remembering each row's source line.
class csv_table {
 public:
  csv_table() = default;
  csv_table(std::filesystem::path file, std::vector<std::string> columns)
      : file_(std::move(file)), columns_(std::move(columns)) {}

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
  /// The columns the file has, among those asked for.
  [[nodiscard]] const std::vector<std::string>& columns() const noexcept { return columns_; }
  [[nodiscard]] std::size_t rows() const noexcept { return lines_.size(); }
  [[nodiscard]] bool empty() const noexcept { return lines_.empty(); }
  [[nodiscard]] bool has(std::string_view column) const noexcept { return find(column).has_value(); }
  /// 1-based line of the file that row `row` came from.
  [[nodiscard]] std::size_t line(std::size_t row) const { return lines_.at(row); }

  /// The raw (trimmed, unquoted) text of a cell.
  [[nodiscard]] const std::string& at(std::size_t row, std::string_view column) const {
    return cells_.at(row).at(index(column));
  }

  /// A cell converted to T (integers, floating point, std::string). Errors name file, line and
  /// column and show the text found.
  template <class T>
  [[nodiscard]] T get(std::size_t row, std::string_view column) const {
    const std::string& text = at(row, column);
    if constexpr (std::same_as<T, std::string>) {
      return text;
    } else {
      T value{};
      const char* first = text.data();
      const char* last = first + text.size();
      auto [ptr, ec] = std::from_chars(first, last, value);
      if (text.empty() || ec != std::errc{} || ptr != last) {
        throw input_error(file_, line(row),
                          fmt::format("column '{}': expected {}, got '{}'", column,
                                      std::integral<T> ? "an integer" : "a number", text));
      }
      return value;
    }
  }

  /// Error helper for callers that validate cells themselves.
  [[noreturn]] void fail(std::size_t row, std::string_view column, std::string_view reason) const {
    throw input_error(file_, line(row), fmt::format("column '{}': {}", column, reason));
  }

  void append(std::size_t line, std::vector<std::string> cells) {
    lines_.push_back(line);
    cells_.push_back(std::move(cells));
  }

 private:
  [[nodiscard]] std::optional<std::size_t> find(std::string_view column) const noexcept {
    for (std::size_t i = 0; i < columns_.size(); ++i)
      if (columns_[i] == column) return i;
    return std::nullopt;
  }
  [[nodiscard]] std::size_t index(std::string_view column) const {
    if (auto i = find(column)) return *i;
    throw input_error(file_, fmt::format("no column '{}' (the file has: {})", column,
                                         fmt::join(columns_, ", ")));
  }

  std::filesystem::path file_;
  std::vector<std::string> columns_;
  std::vector<std::size_t> lines_;
  std::vector<std::vector<std::string>> cells_;
};

// fccp copies file names with strncpy; GCC reports the (harmless, bounded) truncation inside
// our inlined callers, where -isystem does not silence it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-truncation"

namespace detail {

/// fccp's comment policy for tpt's files: blank lines (or only spaces and tabs) are skipped
/// anywhere, since editors and `echo >>` leave them; lines starting with '#' are comments only
/// before the header (where tpt writes its own), because after it such a line is a row whose
/// first cell starts with '#' (a file named '#1.jpg', which pandas and Python's csv module do not
/// quote) and dropping it would lose an image without a word. fccp asks a static function, so the
/// side of the header is a flag of the reading thread, set by read_csv around each file.
struct header_comments {
  static inline thread_local bool in_body = false;
  static bool is_comment(const char* line) {
    return ::io::empty_line_comment::is_comment(line) || (!in_body && *line == '#');
  }
};

using fccp_reader = ::io::CSVReader<max_csv_columns, ::io::trim_chars<' ', '\t'>,
                                    ::io::double_quote_escape<',', '"'>, ::io::throw_on_overflow,
                                    header_comments>;

template <std::size_t... I>
void read_header(fccp_reader& reader, const std::array<std::string, max_csv_columns>& names,
                 std::index_sequence<I...>) {
  reader.read_header(::io::ignore_extra_column | ::io::ignore_missing_column, names[I]...);
}

template <std::size_t... I>
bool read_row(fccp_reader& reader, std::array<char*, max_csv_columns>& cells,
              std::index_sequence<I...>) {
  return reader.read_row(cells[I]...);
}

}  // namespace detail

/// Read a CSV file with a header line. `required` columns must be present (in any order);
/// `optional` ones are read when present. Other columns are ignored; lines starting with '#'
/// before the header are comments, blank lines are skipped. Throws tpt::input_error naming the
/// file (and line) for a missing file, a missing column, a row with too few fields or an
/// unterminated quote (a quoted cell cannot span lines: fccp reads line by line).
inline csv_table read_csv(const std::filesystem::path& file,
                          const std::vector<std::string>& required,
                          const std::vector<std::string>& optional = {}) {
  if (required.size() + optional.size() > max_csv_columns)
    throw config_error("read_csv columns",
                       fmt::format("at most {} columns can be read at once", max_csv_columns));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw input_error(file, std::filesystem::exists(file, ec) ? "not a regular file"
                                                              : "no such file");
  {
    std::ifstream probe(file);
    if (!probe) throw input_error(file, "cannot open for reading");
  }

  std::array<std::string, max_csv_columns> names;
  std::size_t n = 0;
  for (const auto& c : required) names[n++] = c;
  for (const auto& c : optional) names[n++] = c;
  for (std::size_t i = n; i < max_csv_columns; ++i)
    names[i] = fmt::format("\x01tpt-unused-{}", i);  // cannot occur in a real header

  struct body_flag {
    body_flag() { detail::header_comments::in_body = false; }
    ~body_flag() { detail::header_comments::in_body = false; }
  } flag;
  try {
    detail::fccp_reader reader(file.string());
    detail::read_header(reader, names, std::make_index_sequence<max_csv_columns>{});
    detail::header_comments::in_body = true;
    std::vector<std::string> present;
    std::vector<std::size_t> slots;
    for (std::size_t i = 0; i < n; ++i) {
      if (reader.has_column(names[i])) {
        present.push_back(names[i]);
        slots.push_back(i);
      } else if (i < required.size()) {
        throw input_error(file, 1,
                          fmt::format("header has no column '{}' (required: {}{}{})", names[i],
                                      fmt::join(required, ", "), optional.empty() ? "" : "; optional: ",
                                      fmt::join(optional, ", ")));
      }
    }
    csv_table table(file, present);
    std::array<char*, max_csv_columns> cells{};
    while (true) {
      cells.fill(nullptr);
      if (!detail::read_row(reader, cells, std::make_index_sequence<max_csv_columns>{})) break;
      std::vector<std::string> row;
      row.reserve(slots.size());
      for (auto s : slots) row.emplace_back(cells[s] ? cells[s] : "");
      table.append(reader.get_file_line(), std::move(row));
    }
    return table;
  } catch (const ::io::error::base& e) {
    // fccp's errors carry the line through a separate (non-polymorphic) mixin.
    std::optional<std::size_t> line;
    if (const auto* with_line = dynamic_cast<const ::io::error::with_file_line*>(&e);
        with_line != nullptr && with_line->file_line > 0)
      line = static_cast<std::size_t>(with_line->file_line);
    throw input_error(file, line, e.what());
  }
}

#pragma GCC diagnostic pop

/// Quote a field for CSV output when it needs it (RFC 4180).
inline std::string csv_escape(std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos && !field.empty() &&
      field.front() != ' ' && field.back() != ' ')
    return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace tpt::io
