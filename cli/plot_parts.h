// plot_parts.h — what the parts of `minicope plot` share (cli/cmd_plot.cpp draws curves
// and the charts of a folder of runs; cli/plot_attention.cpp draws attention maps).
#pragma once
#include <cxxopts.hpp>
#include <iosfwd>
#include <string>

namespace mc::plot_cli {

// Refuses an --out that plot must not replace: a folder, a symbolic link, a device, a
// FIFO or a socket, and a regular file that is not an SVG picture (UsageError).
void check_target(const std::string& path);

// Writes the picture through a temporary file renamed into place: a failure leaves any
// earlier file whole.
void write_file(const std::string& path, const std::string& text);

// `plot attention --ckpt RUN --out FILE.svg`: one head's attention weights and, for a
// CoPE layer, its positions, for one input; prints each key token's mean CoPE gate.
int plot_attention(const cxxopts::ParseResult& r, const std::string& out_path, std::ostream& out);

}  // namespace mc::plot_cli
