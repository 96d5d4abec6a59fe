// svg.cpp — see svg.h. Coordinates are SVG user units (pixels at 100% zoom).
#include "plot/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace mc::svg {

namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v) {  // a coordinate: two decimals are finer than any screen
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string tick_text(double v) {
  if (std::fabs(v) < 1e-12) return "0";
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// The length of a valid UTF-8 sequence starting at s[i] that is also an XML character,
// or 0.
size_t utf8_len(const std::string& s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return 0;
  if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  if (n == 3 && c == 0xEF && at(i + 1) == 0xBF && at(i + 2) >= 0xBE) return 0;  // U+FFFE, U+FFFF
  return n;
}

// Ticks at 1, 2 or 5 times a power of ten, about `want` of them over [lo, hi].
double nice_step(double lo, double hi, int want) {
  const double raw = (hi - lo) / want;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  double t(double v) const { return log ? std::log10(v) : v; }
  double frac(double v) const { return (t(v) - t(lo)) / (t(hi) - t(lo)); }
};

Axis linear_axis(double lo, double hi, bool from_zero) {
  if (from_zero && lo > 0 && lo < 0.5 * hi) lo = 0;
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) lo -= std::max(1e-3, std::fabs(lo) * 0.1), hi += std::max(1e-3, std::fabs(hi) * 0.1);
  Axis a;
  const double step = nice_step(lo, hi, 5);
  a.lo = std::floor(lo / step + 1e-9) * step;
  a.hi = std::ceil(hi / step - 1e-9) * step;
  for (double v = a.lo; v <= a.hi + step * 1e-6; v += step) a.ticks.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return a;
}

Axis log_axis(double lo, double hi) {
  Axis a;
  a.log = true;
  const int d0 = int(std::floor(std::log10(lo) + 1e-9)), d1 = int(std::ceil(std::log10(hi) - 1e-9));
  a.lo = std::pow(10.0, d0), a.hi = std::pow(10.0, std::max(d1, d0 + 1));
  const bool fine = d1 - d0 <= 2;
  for (int d = d0; d <= d1; ++d)
    for (double m : {1.0, 2.0, 5.0})
      if (m == 1.0 || fine) {
        const double v = m * std::pow(10.0, d);
        if (v >= a.lo * (1 - 1e-9) && v <= a.hi * (1 + 1e-9)) a.ticks.push_back(v);
      }
  return a;
}

void header(std::ostringstream& o, double w, double h, const std::string& title) {
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(w) << "\" height=\"" << num(h) << "\" viewBox=\"0 0 "
    << num(w) << " " << num(h) << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<title>" << escape(title) << "</title>\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(w / 2) << "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << escape(title) << "</text>\n";
}

// One line chart in the box whose top-left corner is (0, top).
void draw_chart(std::ostringstream& o, const LineChart& c, double top, double width, double height) {
  const double L = 72, R = 200, T = 34, B = 44;
  const double pw = width - L - R, ph = height - T - B, x0 = L, y0 = top + T;
  o << "<g class=\"chart\">\n<text x=\"" << num(x0 + pw / 2) << "\" y=\"" << num(top + 22)
    << "\" text-anchor=\"middle\" font-size=\"13\">" << escape(c.title) << "</text>\n";
  double xl = std::numeric_limits<double>::infinity(), xh = -xl, yl = xl, yh = -xl;
  for (const Series& s : c.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double y = s.y[i] * c.y_scale;
      if (!std::isfinite(y) || !std::isfinite(s.x[i])) continue;
      xl = std::min(xl, s.x[i]), xh = std::max(xh, s.x[i]), yl = std::min(yl, y), yh = std::max(yh, y);
    }
  o << "<rect x=\"" << num(x0) << "\" y=\"" << num(y0) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
    << "\" fill=\"none\" stroke=\"#444\"/>\n";
  if (!(xl <= xh)) {
    o << "<text x=\"" << num(x0 + pw / 2) << "\" y=\"" << num(y0 + ph / 2) << "\" text-anchor=\"middle\">no data</text>\n</g>\n";
    return;
  }
  const bool log = c.log_y == "on" ? yl > 0 : c.log_y == "auto" && yl > 0 && yh > 20 * yl;
  const Axis xa = linear_axis(xl, xh, true), ya = log ? log_axis(yl, yh) : linear_axis(yl, yh, true);
  const auto px = [&](double x) { return x0 + xa.frac(x) * pw; };
  const auto py = [&](double y) { return y0 + ph - ya.frac(y) * ph; };
  for (double v : xa.ticks)
    o << "<line x1=\"" << num(px(v)) << "\" y1=\"" << num(y0) << "\" x2=\"" << num(px(v)) << "\" y2=\"" << num(y0 + ph)
      << "\" stroke=\"#e4e4e4\"/><text x=\"" << num(px(v)) << "\" y=\"" << num(y0 + ph + 16)
      << "\" text-anchor=\"middle\">" << tick_text(v) << "</text>\n";
  for (double v : ya.ticks)
    o << "<line x1=\"" << num(x0) << "\" y1=\"" << num(py(v)) << "\" x2=\"" << num(x0 + pw) << "\" y2=\"" << num(py(v))
      << "\" stroke=\"#e4e4e4\"/><text x=\"" << num(x0 - 6) << "\" y=\"" << num(py(v) + 4)
      << "\" text-anchor=\"end\">" << tick_text(v) << "</text>\n";
  o << "<text x=\"" << num(x0 + pw / 2) << "\" y=\"" << num(y0 + ph + 36) << "\" text-anchor=\"middle\">"
    << escape(c.x_label) << "</text>\n<text transform=\"translate(" << num(18) << " " << num(y0 + ph / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << escape(c.y_label + (log ? " (log scale)" : "")) << "</text>\n";

  for (size_t k = 0; k < c.series.size(); ++k) {
    const Series& s = c.series[k];
    static const char* kDashes[] = {"", " stroke-dasharray=\"7 4\"", " stroke-dasharray=\"2 3\"", " stroke-dasharray=\"8 3 2 3\""};
    const char* colour = kPalette[size_t(s.colour >= 0 ? s.colour : int(k)) % 10];
    const char* dash = kDashes[size_t(s.dash >= 0 ? s.dash : 0) % 4];
    std::string d;
    size_t points = 0;
    bool pen_down = false;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double y = s.y[i] * c.y_scale;
      if (!std::isfinite(y) || !std::isfinite(s.x[i]) || (log && y <= 0)) {
        pen_down = false;
        continue;
      }
      d += (pen_down ? " L" : " M") + num(px(s.x[i])) + " " + num(py(y));
      pen_down = true;
      ++points;
    }
    o << "<path class=\"series\" data-label=\"" << escape(s.label) << "\" d=\"" << (d.empty() ? "M0 0" : d.substr(1))
      << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\" stroke-linecap=\"round\"" << dash << "/>\n";
    if (points <= 40)
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        const double y = s.y[i] * c.y_scale;
        if (std::isfinite(y) && std::isfinite(s.x[i]) && !(log && y <= 0))
          o << "<circle class=\"marker\" cx=\"" << num(px(s.x[i])) << "\" cy=\"" << num(py(y)) << "\" r=\"2.5\" fill=\""
            << colour << "\"/>\n";
      }
    const double ly = y0 + 8 + 18 * double(k);
    o << "<line x1=\"" << num(x0 + pw + 14) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(x0 + pw + 36) << "\" y2=\""
      << num(ly) << "\" stroke=\"" << colour << "\" stroke-width=\"2.5\"" << dash << "/><text class=\"legend\" x=\""
      << num(x0 + pw + 42) << "\" y=\"" << num(ly + 4) << "\">" << escape(s.label) << "</text>\n";
  }
  o << "</g>\n";
}

// Viridis, sampled at five points and interpolated in RGB.
std::string colour_of(double f) {
  static const double kStops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  f = std::clamp(std::isfinite(f) ? f : 0.0, 0.0, 1.0) * 4;
  const int i = std::min(3, int(f));
  const double w = f - i;
  char b[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c) rgb[c] = int(std::lround(kStops[i][c] * (1 - w) + kStops[i + 1][c] * w));
  std::snprintf(b, sizeof b, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return b;
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  char hex[8];
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t n = utf8_len(text, i);
      if (n) {
        out.append(text, i, n);
        i += n;
        continue;
      }
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          std::snprintf(hex, sizeof hex, "\\x%02X", c);
          out += hex;
        } else {
          out += char(c);
        }
    }
    ++i;
  }
  return out;
}

std::string line_charts(const std::string& title, const std::vector<LineChart>& charts) {
  const double width = 820, height = 340;
  std::ostringstream o;
  header(o, width, 30 + height * double(std::max<size_t>(1, charts.size())), title);
  for (size_t i = 0; i < charts.size(); ++i) draw_chart(o, charts[i], 30 + height * double(i), width, height);
  o << "</svg>\n";
  return o.str();
}

std::string heat_maps(const std::string& title, const std::vector<HeatMap>& maps) {
  // Each map: labels on the left and on top, the grid, then its colour bar.
  struct Box { double label, cell, grid_w, grid_h, width; size_t every; };
  std::vector<Box> boxes;
  double height = 0, width = 20;
  for (const HeatMap& m : maps) {
    const size_t rows = m.row_labels.size(), cols = m.col_labels.size();
    Box b;
    b.cell = std::clamp(600.0 / double(std::max<size_t>({rows, cols, 1})), 3.0, 18.0);
    b.every = size_t(std::ceil(9.0 / b.cell));  // a label every so many cells, 9 px apart at least
    size_t longest = 1;
    for (const auto* labels : {&m.row_labels, &m.col_labels})
      for (const std::string& s : *labels) longest = std::max(longest, escape(s).size());
    b.label = std::min(110.0, 7.0 * double(longest) + 10);
    b.grid_w = b.cell * double(cols), b.grid_h = b.cell * double(rows);
    b.width = b.label + b.grid_w + 90;
    boxes.push_back(b);
    width += b.width + 20;
    height = std::max(height, 60 + b.label + b.grid_h + 30);
  }
  std::ostringstream o;
  header(o, width, height, title);
  o << "<defs>\n";
  for (size_t k = 0; k < maps.size(); ++k) {
    o << "<linearGradient id=\"bar" << k << "\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
    for (int s = 0; s <= 8; ++s) o << "<stop offset=\"" << num(s / 8.0) << "\" stop-color=\"" << colour_of(s / 8.0) << "\"/>";
    o << "</linearGradient>\n";
  }
  o << "</defs>\n";
  double left = 20;
  for (size_t k = 0; k < maps.size(); ++k) {
    const HeatMap& m = maps[k];
    const Box& b = boxes[k];
    const size_t rows = m.row_labels.size(), cols = m.col_labels.size();
    const double gx = left + b.label, gy = 60 + b.label;
    const double font = std::clamp(b.cell * 0.8, 7.0, 11.0);
    o << "<g class=\"map\">\n<text x=\"" << num(gx + b.grid_w / 2) << "\" y=\"46\" text-anchor=\"middle\" font-size=\"13\">"
      << escape(m.title) << "</text>\n";
    for (size_t i = 0; i < rows; i += b.every)
      o << "<text class=\"row-label\" x=\"" << num(gx - 4) << "\" y=\"" << num(gy + b.cell * (double(i) + 0.5) + font * 0.35)
        << "\" text-anchor=\"end\" font-size=\"" << num(font) << "\">" << escape(m.row_labels[i]) << "</text>\n";
    for (size_t j = 0; j < cols; j += b.every) {
      const double x = gx + b.cell * (double(j) + 0.5) + font * 0.35, y = gy - 4;
      o << "<text class=\"col-label\" transform=\"translate(" << num(x) << " " << num(y)
        << ") rotate(-90)\" font-size=\"" << num(font) << "\">" << escape(m.col_labels[j]) << "</text>\n";
    }
    o << "<rect x=\"" << num(gx) << "\" y=\"" << num(gy) << "\" width=\"" << num(b.grid_w) << "\" height=\""
      << num(b.grid_h) << "\" fill=\"#f4f4f4\"/>\n";
    const double span = m.hi > m.lo ? m.hi - m.lo : 1.0;
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < cols; ++j) {
        const double v = i * cols + j < m.values.size() ? m.values[i * cols + j] : NAN;
        if (!std::isfinite(v)) continue;
        o << "<rect class=\"cell\" x=\"" << num(gx + b.cell * double(j)) << "\" y=\"" << num(gy + b.cell * double(i))
          << "\" width=\"" << num(b.cell) << "\" height=\"" << num(b.cell) << "\" fill=\"" << colour_of((v - m.lo) / span)
          << "\"><title>" << escape(m.row_labels[i]) << " (" << m.first_row + i << ") to " << escape(m.col_labels[j]) << " ("
          << m.first_col + j
          << "): " << escape(m.value_name) << " " << tick_text(v) << "</title></rect>\n";
      }
    const double bx = gx + b.grid_w + 20, bh = std::max(80.0, std::min(b.grid_h, 240.0));
    o << "<rect x=\"" << num(bx) << "\" y=\"" << num(gy) << "\" width=\"14\" height=\"" << num(bh) << "\" fill=\"url(#bar"
      << k << ")\" stroke=\"#444\"/>\n";
    for (int s = 0; s <= 2; ++s)
      o << "<text x=\"" << num(bx + 18) << "\" y=\"" << num(gy + bh - bh * s / 2.0 + 4) << "\">"
        << tick_text(m.lo + (m.hi - m.lo) * s / 2.0) << "</text>\n";
    o << "<text x=\"" << num(bx) << "\" y=\"" << num(gy + bh + 16) << "\">" << escape(m.value_name) << "</text>\n</g>\n";
    left += b.width + 20;
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace mc::svg
