// svg.h — charts as standalone SVG documents (a browser shows them; nothing else needed).
//
// Two kinds, both written by hand as text:
//   line charts  series of (x, y) points with axes, ticks and a legend; several charts
//                stack vertically in one document. Each series is one
//                <path class="series"> (gaps where a value is missing), with
//                <circle class="marker"> dots when it has 40 points or fewer.
//   heat maps    a square grid of values with labels on both axes (tokens) and a colour
//                bar; several maps sit side by side. Each drawn cell is one
//                <rect class="cell"> with a <title> (the browser shows it on hover).
// Labels may hold any bytes: XML's special characters are escaped, control characters
// and bytes that are not UTF-8 are shown as \n, \t or \xNN, so the document is always
// well-formed XML.
#pragma once
#include <string>
#include <vector>

namespace mc::svg {

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length; a non-finite y leaves a gap
  int colour = -1;           // index into a palette of 10 (-1: the series' own index)
  int dash = 0;              // 0 solid, then dashed, dotted, dash-dot
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  // Logarithmic y axis: "auto" takes it when every y is positive and they span more
  // than a factor of 20 (training losses), "on", or "off".
  std::string log_y = "auto";
  double y_scale = 1.0;  // values are multiplied by this when drawn (1 -> 100 for percent)
};

// The charts, one under the other; a chart with no finite point says "no data".
std::string line_charts(const std::string& title, const std::vector<LineChart>& charts);

struct HeatMap {
  std::string title;
  std::vector<std::string> row_labels, col_labels;  // rows top to bottom, columns left to right
  std::vector<double> values;                       // rows x cols, row-major; NaN: not drawn
  double lo = 0, hi = 1;                            // the colour scale's ends
  std::string value_name;                           // shown on hover: "weight", "position"
  size_t first_row = 0, first_col = 0;              // the index of row 0 / column 0 in the whole
                                                    // input (a window of it), shown on hover
};

// The maps side by side, each with its own colour bar.
std::string heat_maps(const std::string& title, const std::vector<HeatMap>& maps);

// Text made safe for XML: escapes & < > " ', shows control characters as \n, \t, \r or
// \xNN, and bytes that are not part of valid UTF-8 as \xNN.
std::string escape(const std::string& text);

}  // namespace mc::svg
