// Self-contained SVG figures that open in any browser: grouped bar charts (linear or log scale,
// negative values, up to ~100 readable category labels) and heat maps. Used by the sampling
// plans (per-class counts, the paper's Figures 4-6), the metrics reports (confusion matrix,
// relative F1 change, the paper's Figure 1) and anything else that plots.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tpt/core/error.hpp"
#include "tpt/core/utf8.hpp"

namespace tpt::svg {

/// Escape text for XML character data and attribute values. What XML 1.0 cannot hold at all
/// (control characters other than tab, newline and carriage return; bytes that are not UTF-8, as
/// a Latin-1 class name from a CSV) becomes U+FFFD, so that a figure always parses.
inline std::string escape(std::string_view text) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        case '\t': case '\n': case '\r': out += static_cast<char>(c); break;
        default: out += c < 0x20 ? replacement : std::string_view(&text[i], 1);
      }
      ++i;
      continue;
    }
    if (const std::size_t n = utf8::sequence_length(text, i); n != 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out += replacement;
      ++i;
    }
  }
  return out;
}

/// A minimal SVG writer: shapes are appended in drawing order; str() closes the document.
class document {
 public:
  document(double width, double height) : width_(width), height_(height) {}

  void rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view tooltip = {}, std::string_view stroke = {}) {
    body_ += fmt::format(R"svg(<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="{}")svg",
                         x, y, std::max(w, 0.0), std::max(h, 0.0), fill);
    if (!stroke.empty()) body_ += fmt::format(R"svg( stroke="{}" stroke-width="0.5")svg", stroke);
    if (tooltip.empty()) {
      body_ += "/>\n";
    } else {
      body_ += fmt::format("><title>{}</title></rect>\n", escape(tooltip));
    }
  }

  void line(double x1, double y1, double x2, double y2, std::string_view stroke = "#444",
            double width = 1.0, std::string_view dash = {}) {
    body_ += fmt::format(
        R"svg(<line x1="{:.2f}" y1="{:.2f}" x2="{:.2f}" y2="{:.2f}" stroke="{}" stroke-width="{}")svg",
        x1, y1, x2, y2, stroke, width);
    if (!dash.empty()) body_ += fmt::format(R"svg( stroke-dasharray="{}")svg", dash);
    body_ += "/>\n";
  }

  /// anchor: start | middle | end. rotate: degrees about (x, y).
  void text(double x, double y, std::string_view content, double size = 11,
            std::string_view anchor = "start", double rotate = 0, std::string_view fill = "#222",
            std::string_view weight = "normal") {
    body_ += fmt::format(
        R"svg(<text x="{:.2f}" y="{:.2f}" font-size="{}" text-anchor="{}" fill="{}" font-weight="{}")svg",
        x, y, size, anchor, fill, weight);
    if (rotate != 0) body_ += fmt::format(R"svg( transform="rotate({} {:.2f} {:.2f})")svg", rotate, x, y);
    body_ += fmt::format(">{}</text>\n", escape(content));
  }

  [[nodiscard]] std::string str() const {
    return fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
        "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"Helvetica, Arial, sans-serif\">\n"
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{2}</svg>\n",
        width_, height_, body_);
  }

  [[nodiscard]] double width() const noexcept { return width_; }
  [[nodiscard]] double height() const noexcept { return height_; }

 private:
  double width_, height_;
  std::string body_;
};

/// Colour-blind-safe palette (Okabe and Ito), cycled for series.
inline std::string_view palette(std::size_t i) {
  static constexpr std::string_view colours[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                 "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
  return colours[i % std::size(colours)];
}

enum class scale { linear, log10 };
enum class orientation { vertical, horizontal };

struct series {
  std::string name;
  std::vector<double> values;  // one per category; NaN draws no bar
  std::string colour{};        // empty: palette
};

struct bar_chart {
  std::string title;
  std::string value_label;               // axis title for values ("training images", "F1 change %")
  std::vector<std::string> categories;   // e.g. species, in plotting order
  std::vector<series> data;
  scale value_scale = scale::linear;
  /// vertical: categories along x with labels turned 60 degrees (the paper's figures);
  /// horizontal: one row per category, labels level and easiest to read.
  orientation layout = orientation::vertical;
  bool colour_by_sign = false;           // single series: positive green, negative red
};

namespace detail {

struct axis {
  double lo, hi;
  scale kind;
  [[nodiscard]] double map(double v) const {  // value -> [0, 1]
    if (kind == scale::log10) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
  [[nodiscard]] std::vector<double> ticks() const {
    std::vector<double> t;
    if (kind == scale::log10) {
      for (double v = std::pow(10.0, std::floor(std::log10(lo))); v <= hi * 1.0001; v *= 10)
        if (v >= lo * 0.9999) t.push_back(v);
      return t;
    }
    const double raw = (hi - lo) / 6;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
      if (m * mag >= raw) { step = m * mag; break; }
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
      t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    return t;
  }
};

inline std::string tick_label(double v) {
  const double a = std::abs(v);
  if (a >= 1e6 && std::fmod(a, 1e6) == 0) return fmt::format("{}M", v / 1e6);
  if (a >= 1e4 && std::fmod(a, 1e3) == 0) return fmt::format("{}k", v / 1e3);
  if (a == std::floor(a)) return fmt::format("{:.0f}", v);
  return fmt::format("{:g}", v);
}

inline double text_width(std::string_view s, double size) { return 0.58 * size * double(s.size()); }

}  // namespace detail

/// Render a bar chart. Throws tpt::config_error when a series' length differs from the category
/// count or a log scale meets a value <= 0 (such bars are skipped: log of a count of 0 is not drawable
/// and is marked with a small tick instead).
inline std::string render(const bar_chart& chart) {
  const std::size_t n = chart.categories.size();
  for (const auto& s : chart.data)
    if (s.values.size() != n)
      throw config_error("bar_chart",
                         fmt::format("series '{}' has {} values for {} categories", s.name,
                                     s.values.size(), n));
  if (n == 0 || chart.data.empty()) throw config_error("bar_chart", "nothing to plot");

  // Value range.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : chart.data)
    for (double v : s.values) {
      if (std::isnan(v) || (chart.value_scale == scale::log10 && v <= 0)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (!std::isfinite(lo)) lo = hi = 1;
  detail::axis ax{0, 1, chart.value_scale};
  if (chart.value_scale == scale::log10) {
    ax.lo = std::pow(10.0, std::floor(std::log10(lo)));
    if (ax.lo >= lo) ax.lo /= 10;  // a minimum on a power of ten (a count of 1) still gets a bar
    ax.hi = std::pow(10.0, std::ceil(std::log10(hi) + 1e-12));
    if (ax.hi <= ax.lo) ax.hi = ax.lo * 10;
  } else {
    ax.lo = std::min(0.0, lo);
    ax.hi = std::max(0.0, hi);
    if (ax.hi == ax.lo) ax.hi = ax.lo + 1;
    const double pad = 0.05 * (ax.hi - ax.lo);
    if (ax.hi > 0) ax.hi += pad;
    if (ax.lo < 0) ax.lo -= pad;
  }

  double longest = 0;
  for (const auto& c : chart.categories) longest = std::max(longest, detail::text_width(c, 11));
  const std::size_t k = chart.data.size();
  const bool vertical = chart.layout == orientation::vertical;
  const double band = vertical ? std::max(14.0, 6.0 * double(k) + 6) : std::max(16.0, 7.0 * double(k) + 6);
  const double legend_h = k > 1 ? 22 : 0;
  const double top = 40 + legend_h;

  double width, height, plot_x, plot_y, plot_w, plot_h;
  if (vertical) {
    const double label_h = longest * 0.87 + 12;  // labels turned 60 degrees
    plot_x = 70;
    plot_y = top;
    plot_w = band * double(n);
    plot_h = 320;
    width = plot_x + plot_w + 30;
    height = plot_y + plot_h + label_h + 20;
  } else {
    plot_x = longest + 20;
    plot_y = top;
    plot_w = 520;
    plot_h = band * double(n);
    width = plot_x + plot_w + 40;
    height = plot_y + plot_h + 50;
  }
  width = std::max({width, 360.0, detail::text_width(chart.title, 15) + 40});
  document doc(width, height);
  doc.text(width / 2, 22, chart.title, 15, "middle", 0, "#111", "bold");

  // Legend.
  if (k > 1) {
    double x = plot_x;
    for (std::size_t s = 0; s < k; ++s) {
      const std::string colour = chart.data[s].colour.empty() ? std::string(palette(s)) : chart.data[s].colour;
      doc.rect(x, 34, 12, 12, colour);
      doc.text(x + 16, 44, chart.data[s].name, 11);
      x += 16 + detail::text_width(chart.data[s].name, 11) + 18;
    }
  }

  // Grid and value axis.
  for (double t : ax.ticks()) {
    const double f = ax.map(t);
    if (vertical) {
      const double y = plot_y + plot_h * (1 - f);
      doc.line(plot_x, y, plot_x + plot_w, y, "#ddd", 0.8);
      doc.text(plot_x - 6, y + 4, detail::tick_label(t), 10, "end");
    } else {
      const double x = plot_x + plot_w * f;
      doc.line(x, plot_y, x, plot_y + plot_h, "#ddd", 0.8);
      doc.text(x, plot_y + plot_h + 16, detail::tick_label(t), 10, "middle");
    }
  }
  const double base = chart.value_scale == scale::log10 ? 0.0 : ax.map(0.0);
  if (vertical) {
    doc.text(18, plot_y + plot_h / 2, chart.value_label, 12, "middle", -90);
    doc.line(plot_x, plot_y + plot_h * (1 - base), plot_x + plot_w, plot_y + plot_h * (1 - base), "#444");
    doc.line(plot_x, plot_y, plot_x, plot_y + plot_h, "#444");
  } else {
    doc.text(plot_x + plot_w / 2, plot_y + plot_h + 38, chart.value_label, 12, "middle");
    doc.line(plot_x + plot_w * base, plot_y, plot_x + plot_w * base, plot_y + plot_h, "#444");
    doc.line(plot_x, plot_y + plot_h, plot_x + plot_w, plot_y + plot_h, "#444");
  }

  // Bars.
  const double bar = (band - 4) / double(k);
  for (std::size_t c = 0; c < n; ++c) {
    const double start = (vertical ? plot_x : plot_y) + band * double(c) + 2;
    for (std::size_t s = 0; s < k; ++s) {
      const double v = chart.data[s].values[c];
      const std::string tip = fmt::format("{} — {}: {:g}", chart.categories[c], chart.data[s].name, v);
      std::string colour = chart.data[s].colour.empty() ? std::string(palette(s)) : chart.data[s].colour;
      if (chart.colour_by_sign && k == 1) colour = v < 0 ? "#D55E00" : "#009E73";
      const double pos = start + bar * double(s);
      if (std::isnan(v)) continue;
      if (chart.value_scale == scale::log10 && v <= 0) {  // zero count: a mark on the axis
        if (vertical) doc.rect(pos, plot_y + plot_h - 2, bar, 2, "#999", tip);
        else doc.rect(plot_x, pos, 2, bar, "#999", tip);
        continue;
      }
      const double f = std::clamp(ax.map(v), 0.0, 1.0);
      const double a = std::min(f, base), b = std::max(f, base);
      if (vertical) doc.rect(pos, plot_y + plot_h * (1 - b), bar, plot_h * (b - a), colour, tip);
      else doc.rect(plot_x + plot_w * a, pos, plot_w * (b - a), bar, colour, tip);
    }
    if (vertical) {
      const double x = start + band / 2 - 2;
      doc.text(x, plot_y + plot_h + 10, chart.categories[c], 11, "end", -60);
    } else {
      doc.text(plot_x - 6, start + band / 2 + 2, chart.categories[c], 11, "end");
    }
  }
  return doc.str();
}

struct heatmap {
  std::string title;
  std::string row_label;                  // e.g. "true class"
  std::string column_label;               // e.g. "predicted class"
  std::vector<std::string> rows;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> values;  // rows x columns
  std::optional<double> max_value;        // colour scale top; default: the largest value
  bool show_values = true;                // print values in cells when the cells are big enough
  std::string value_format = "{:.0f}";    // fmt format for printed values
};

/// Render a heat map (white to dark blue). Throws tpt::config_error on a ragged matrix.
inline std::string render(const heatmap& map) {
  const std::size_t r = map.rows.size(), c = map.columns.size();
  if (r == 0 || c == 0) throw config_error("heatmap", "nothing to plot");
  if (map.values.size() != r)
    throw config_error("heatmap", fmt::format("{} rows of values for {} row labels", map.values.size(), r));
  double vmax = 0;
  for (std::size_t i = 0; i < r; ++i) {
    if (map.values[i].size() != c)
      throw config_error("heatmap", fmt::format("row {} has {} values for {} columns", i, map.values[i].size(), c));
    for (double v : map.values[i])
      if (std::isfinite(v)) vmax = std::max(vmax, v);
  }
  vmax = map.max_value.value_or(vmax);
  if (vmax <= 0) vmax = 1;

  const double cell = c > 30 ? 14 : 26;
  double row_w = 0, col_h = 0;
  for (const auto& s : map.rows) row_w = std::max(row_w, detail::text_width(s, 10));
  for (const auto& s : map.columns) col_h = std::max(col_h, detail::text_width(s, 10));
  const double x0 = row_w + 40, y0 = 50 + col_h * 0.87 + 10;
  const double width = x0 + cell * double(c) + 90, height = y0 + cell * double(r) + 20;
  document doc(std::max({width, 360.0, detail::text_width(map.title, 15) + 40}), height);
  doc.text(doc.width() / 2, 22, map.title, 15, "middle", 0, "#111", "bold");
  doc.text(x0 + cell * double(c) / 2, 40, map.column_label, 12, "middle");
  doc.text(14, y0 + cell * double(r) / 2, map.row_label, 12, "middle", -90);

  auto colour = [&](double v) {
    const double f = std::isfinite(v) ? std::clamp(v / vmax, 0.0, 1.0) : 0.0;
    const int red = static_cast<int>(std::lround(255 - f * (255 - 8)));
    const int green = static_cast<int>(std::lround(255 - f * (255 - 48)));
    const int blue = static_cast<int>(std::lround(255 - f * (255 - 107)));
    return fmt::format("#{:02x}{:02x}{:02x}", red, green, blue);
  };
  for (std::size_t j = 0; j < c; ++j)
    doc.text(x0 + cell * (double(j) + 0.5) + 3, y0 - 6, map.columns[j], 10, "start", -60);
  for (std::size_t i = 0; i < r; ++i) {
    doc.text(x0 - 6, y0 + cell * (double(i) + 0.5) + 4, map.rows[i], 10, "end");
    for (std::size_t j = 0; j < c; ++j) {
      const double v = map.values[i][j];
      const std::string shown = std::isfinite(v) ? fmt::format(fmt::runtime(map.value_format), v) : "";
      doc.rect(x0 + cell * double(j), y0 + cell * double(i), cell, cell, colour(v),
               fmt::format("{} / {}: {}", map.rows[i], map.columns[j], shown), "#eee");
      if (map.show_values && cell >= 20 && std::isfinite(v) && v != 0)
        doc.text(x0 + cell * (double(j) + 0.5), y0 + cell * (double(i) + 0.5) + 4, shown, 9,
                 "middle", 0, v / vmax > 0.55 ? "#fff" : "#222");
    }
  }
  // Colour bar.
  const double bx = x0 + cell * double(c) + 20, bh = std::min(200.0, cell * double(r));
  for (int s = 0; s < 50; ++s)
    doc.rect(bx, y0 + bh * (1 - (s + 1) / 50.0), 14, bh / 50.0 + 0.5, colour(vmax * (s + 0.5) / 50.0));
  doc.text(bx + 18, y0 + 8, fmt::format(fmt::runtime(map.value_format), vmax), 10);
  doc.text(bx + 18, y0 + bh, fmt::format(fmt::runtime(map.value_format), 0.0), 10);
  return doc.str();
}

}  // namespace tpt::svg
