// A report table (typed columns, rows of cells) and its renderings: Markdown for report.md, CSV
// for spreadsheets, JSON for programs, aligned plain text for the terminal.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tpt/core/error.hpp"
#include "tpt/io/csv.hpp"
#include "tpt/metrics/statistics.hpp"

namespace tpt::report {

/// What a column holds. An estimate column (a value over several seeds) prints "mean ± sd" in
/// Markdown and text, and becomes two columns, <key>_mean and <key>_sd, in CSV.
enum class column_kind { text, integer, real, estimate };

struct column {
  std::string key;    // CSV header and JSON key: "macro_f1"
  std::string title;  // Markdown and text heading: "macro F1"
  column_kind kind = column_kind::text;
  int precision = 4;  // digits after the point in Markdown and text (CSV and JSON keep all)
};

/// An empty cell (std::monostate) is allowed in any column: a value that does not apply.
using cell = std::variant<std::monostate, std::string, std::int64_t, double, estimate>;

struct table {
  std::string name;   // file stem and JSON key: "headline"
  std::string title;  // Markdown heading
  std::string note;   // a paragraph under the heading
  std::vector<column> columns;
  std::vector<std::vector<cell>> rows;

  /// Append a row; tpt::config_error when its width or a cell's type does not fit the columns.
  void add_row(std::vector<cell> row) {
    if (row.size() != columns.size())
      throw config_error(fmt::format("table '{}'", name),
                         fmt::format("row {} has {} cells for {} columns", rows.size(), row.size(), columns.size()));
    for (std::size_t c = 0; c < row.size(); ++c) {
      const auto kind = columns[c].kind;
      const bool fits = std::holds_alternative<std::monostate>(row[c]) ||
                        (kind == column_kind::text && std::holds_alternative<std::string>(row[c])) ||
                        (kind == column_kind::integer && std::holds_alternative<std::int64_t>(row[c])) ||
                        (kind == column_kind::real && std::holds_alternative<double>(row[c])) ||
                        (kind == column_kind::estimate &&
                         (std::holds_alternative<estimate>(row[c]) || std::holds_alternative<double>(row[c])));
      if (!fits)
        throw config_error(fmt::format("table '{}'", name),
                           fmt::format("row {}: column '{}' holds a value of the wrong type", rows.size(), columns[c].key));
    }
    rows.push_back(std::move(row));
  }
};

namespace detail {

/// A cell as people read it (Markdown and text).
inline std::string human(const cell& v, const column& col) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return "";
        else if constexpr (std::is_same_v<T, std::string>) return x;
        else if constexpr (std::is_same_v<T, std::int64_t>) return fmt::format("{}", x);
        else if constexpr (std::is_same_v<T, double>)
          return std::isfinite(x) ? fmt::format("{:.{}f}", x, col.precision) : "";
        else return format_estimate(x, col.precision, /*show_n=*/false);
      },
      v);
}

/// Shortest text that reads back as the same double.
inline std::string exact(double x) { return std::isfinite(x) ? fmt::format("{}", x) : ""; }

inline bool right_aligned(const column& c) { return c.kind != column_kind::text; }

}  // namespace detail

/// `text` (a species, model or title) as Markdown that shows it as written: the characters
/// CommonMark reads as markup are backslash-escaped ('\\', '`', '*', '[', ']', '<', '>', '|',
/// and '_' unless it sits between two letters or digits, where it never starts emphasis), and
/// line breaks become spaces. "back\\|slash" lost a backslash, and "<b>" was read as HTML.
inline std::string markdown_text(std::string_view text) {
  const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  std::string r;
  r.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' || c == '\r') {
      r += ' ';
      continue;
    }
    const bool intraword = c == '_' && i > 0 && i + 1 < text.size() && alnum(text[i - 1]) && alnum(text[i + 1]);
    if (std::string_view("\\`*[]<>|_").find(c) != std::string_view::npos && !intraword) r += '\\';
    r += c;
  }
  return r;
}

/// GitHub-flavoured Markdown: heading, note, then the table (title and cells through
/// markdown_text; the note is tpt's own Markdown).
inline std::string to_markdown(const table& t, int heading_level = 2) {
  std::string out =
      fmt::format("{} {}\n\n", std::string(static_cast<std::size_t>(heading_level), '#'), markdown_text(t.title));
  if (!t.note.empty()) out += t.note + "\n\n";
  const auto escape = [](const std::string& s) { return markdown_text(s); };
  out += "|";
  for (const auto& c : t.columns) out += fmt::format(" {} |", escape(c.title));
  out += "\n|";
  for (const auto& c : t.columns) out += detail::right_aligned(c) ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    for (std::size_t c = 0; c < row.size(); ++c) out += fmt::format(" {} |", escape(detail::human(row[c], t.columns[c])));
    out += "\n";
  }
  return out + "\n";
}

/// RFC 4180 CSV with a header of column keys; numbers keep full precision; an estimate column
/// becomes <key>_mean and <key>_sd; empty cells are empty fields.
inline std::string to_csv(const table& t) {
  std::vector<std::string> header;
  for (const auto& c : t.columns) {
    if (c.kind == column_kind::estimate) {
      header.push_back(c.key + "_mean");
      header.push_back(c.key + "_sd");
    } else {
      header.push_back(c.key);
    }
  }
  std::string out;
  for (std::size_t i = 0; i < header.size(); ++i) out += fmt::format("{}{}", i ? "," : "", io::csv_escape(header[i]));
  out += "\n";
  for (const auto& row : t.rows) {
    std::vector<std::string> fields;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const auto& v = row[c];
      if (t.columns[c].kind == column_kind::estimate) {
        if (const auto* e = std::get_if<estimate>(&v)) {
          fields.push_back(detail::exact(e->mean));
          fields.push_back(detail::exact(e->sd));
        } else if (const auto* d = std::get_if<double>(&v)) {
          fields.push_back(detail::exact(*d));
          fields.emplace_back();
        } else {
          fields.emplace_back();
          fields.emplace_back();
        }
        continue;
      }
      fields.push_back(std::visit(
          [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return "";
            else if constexpr (std::is_same_v<T, std::string>) return io::csv_escape(x);
            else if constexpr (std::is_same_v<T, std::int64_t>) return fmt::format("{}", x);
            else if constexpr (std::is_same_v<T, double>) return detail::exact(x);
            else return detail::exact(x.mean);
          },
          v));
    }
    for (std::size_t i = 0; i < fields.size(); ++i) out += fmt::format("{}{}", i ? "," : "", fields[i]);
    out += "\n";
  }
  return out;
}

/// {"name", "title", "note", "columns": [{key, title, kind}], "rows": [{key: value}]}; an estimate
/// is {"mean", "sd", "n"}; an empty cell or a non-finite number is null.
inline nlohmann::json to_json(const table& t) {
  static constexpr const char* kinds[] = {"text", "integer", "real", "estimate"};
  nlohmann::json cols = nlohmann::json::array();
  for (const auto& c : t.columns)
    cols.push_back({{"key", c.key}, {"title", c.title}, {"kind", kinds[static_cast<int>(c.kind)]}});
  auto number = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : t.rows) {
    nlohmann::json r = nlohmann::json::object();
    for (std::size_t c = 0; c < row.size(); ++c)
      r[t.columns[c].key] = std::visit(
          [&](const auto& x) -> nlohmann::json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) return nullptr;
            else if constexpr (std::is_same_v<T, std::string>) return x;
            else if constexpr (std::is_same_v<T, std::int64_t>) return x;
            else if constexpr (std::is_same_v<T, double>) return number(x);
            else return {{"mean", number(x.mean)}, {"sd", number(x.sd)}, {"n", x.n}};
          },
          row[c]);
    rows.push_back(std::move(r));
  }
  return {{"name", t.name}, {"title", t.title}, {"note", t.note}, {"columns", cols}, {"rows", rows}};
}

/// Aligned plain text for a terminal: the title, then columns padded to their widest cell.
inline std::string to_text(const table& t) {
  std::vector<std::size_t> width(t.columns.size());
  std::vector<std::vector<std::string>> cells;
  // Display width: count UTF-8 code points, not bytes ("±" is two bytes, one column).
  auto display = [](std::string_view s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  };
  for (std::size_t c = 0; c < t.columns.size(); ++c) width[c] = display(t.columns[c].title);
  for (const auto& row : t.rows) {
    std::vector<std::string> r;
    for (std::size_t c = 0; c < row.size(); ++c) {
      r.push_back(detail::human(row[c], t.columns[c]));
      width[c] = std::max(width[c], display(r.back()));
    }
    cells.push_back(std::move(r));
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t c = 0; c < r.size(); ++c) {
      const std::string pad(width[c] - display(r[c]), ' ');
      if (c) out += "  ";
      out += detail::right_aligned(t.columns[c]) ? pad + r[c] : r[c] + pad;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = t.title + "\n";
  std::vector<std::string> head;
  for (const auto& c : t.columns) head.push_back(c.title);
  out += line(head);
  std::size_t total = 0;
  for (auto w : width) total += w;
  out += std::string(total + 2 * (width.empty() ? 0 : width.size() - 1), '-') + "\n";
  for (const auto& r : cells) out += line(r);
  return out;
}

}  // namespace tpt::report

/// Prints a table as aligned plain text (tpt::report::to_text).
template <>
struct fmt::formatter<tpt::report::table> {
  constexpr auto parse(format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const tpt::report::table& t, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", tpt::report::to_text(t));
  }
};
