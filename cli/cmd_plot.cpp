// cmd_plot.cpp — `minicope plot`: pictures as SVG.
//
//   plot curves RUN...       training loss, and an evaluation metric per split, against
//                            step; one series per run (and split), labelled
//   plot attention --ckpt R  one head's attention weights a[i,j] and, for a CoPE layer,
//                            its positions p[i,j], for one input, tokens on the axes;
//                            prints the mean CoPE gate of each key token (what it counts)
//                            (cli/plot_attention.cpp)
//   plot lengths DIR         Counting: test error against program length (--max-steps),
//                            one series per encoding, the shortcut's error as a line
//   plot contexts DIR        text: validation perplexity against the context at
//                            evaluation, one series per encoding (Figure 3's shape)
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cxxopts.hpp>
#include <algorithm>
#include <iomanip>
#include <map>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "plot/report.h"
#include "plot/svg.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/plot_parts.h"
#include "io/files.h"
#include "io/strings.h"
#include "io/metrics_file.h"
#include "nn/config.h"

namespace mc {

namespace plot_cli {

// Refuses an --out that plot must not replace: a folder, a symbolic link, a device, a
// FIFO or a socket, and a regular file that is not an SVG picture (a run's checkpoint,
// its metrics.jsonl, a document). A new path, an empty file or an earlier SVG is fine.
void check_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw std::runtime_error("--out " + path + ": cannot be used (" + std::strerror(errno) + ")");
  }
  const auto refuse = [&](const std::string& why) {
    throw UsageError("--out " + path + " " + why + "; plot writes a new file or replaces an SVG picture");
  };
  if (S_ISDIR(st.st_mode)) refuse("is a folder");
  if (S_ISLNK(st.st_mode)) refuse("is a symbolic link");
  if (!S_ISREG(st.st_mode)) refuse("is not a regular file (a device, FIFO or socket)");
  if (st.st_size == 0) return;
  char head[256] = {};
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  const ssize_t n = fd >= 0 ? ::read(fd, head, sizeof head - 1) : -1;
  if (fd >= 0) ::close(fd);
  const std::string start(head, size_t(std::max<ssize_t>(0, n)));
  const size_t bom = start.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;  // a UTF-8 byte-order mark
  const size_t at = start.find_first_not_of(" \t\r\n", bom);
  const auto starts = [&](const char* s) { return at != std::string::npos && start.compare(at, std::strlen(s), s) == 0; };
  if (!starts("<?xml") && !starts("<svg") && !starts("<!--") && !starts("<!DOCTYPE svg"))
    refuse("holds something other than an SVG picture");
}

// Writes the picture through a temporary file renamed into place (io/files.h).
void write_file(const std::string& path, const std::string& text) {
  check_target(path);  // again: the file may have appeared while the picture was drawn
  write_file_atomically(path, text);
}

}  // namespace plot_cli

namespace {

using plot_cli::check_target;
using plot_cli::write_file;

namespace fs = std::filesystem;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string run_name(const RunMetrics& m) {
  const fs::path p(m.path);
  const std::string dir = p.parent_path().filename().string();
  return dir.empty() ? p.filename().string() : dir;
}

int plot_curves(const cxxopts::ParseResult& r, const std::vector<std::string>& inputs, const std::string& out_path,
                std::ostream& out) {
  if (inputs.empty()) throw UsageError("plot curves needs one or more runs (run folders or metrics.jsonl files)");
  std::vector<RunMetrics> runs;
  for (const std::string& in : inputs) runs.push_back(read_metrics(in));
  std::vector<std::string> labels;
  if (r.count("labels")) {
    labels = split_list(r["labels"].as<std::string>());
    if (labels.size() != runs.size())
      throw UsageError("--labels has " + std::to_string(labels.size()) + " names for " + std::to_string(runs.size()) + " runs");
  } else {
    for (const RunMetrics& m : runs) labels.push_back(run_name(m));
  }
  const bool text = runs[0].task == "text";
  for (const RunMetrics& m : runs)
    if ((m.task == "text") != text && !m.task.empty())
      throw UsageError("plot curves: " + m.path + " is a " + m.task + " run and " + runs[0].path + " a " +
                       (text ? std::string("text") : runs[0].task) + " run; plot text and task runs separately");
  const std::string metric = r.count("metric") ? r["metric"].as<std::string>() : (text ? "loss" : "error");
  if (metric != "error" && metric != "token-error" && metric != "loss")
    throw UsageError("--metric must be error, token-error or loss, got '" + metric + "'");
  if (text && metric != "loss") throw UsageError("--metric " + metric + ": text runs have no error rate (use loss)");

  std::vector<std::string> splits;
  if (r.count("split")) {
    splits = split_list(r["split"].as<std::string>());
    if (splits.empty()) throw UsageError("--split names no split");
    for (const std::string& s : splits)
      for (const RunMetrics& m : runs)
        if (!m.eval.count(s)) {
          std::vector<std::string> have;
          for (const auto& [name, pts] : m.eval) have.push_back(name);
          throw UsageError("--split " + s + ": " + m.path + " has no evaluations of it (it has: " +
                           (have.empty() ? "none" : join(have, ", ")) + ")");
        }
  } else {  // the reported splits ("valid" chooses checkpoints, so it is left out when others exist)
    for (const auto& [name, pts] : runs[0].eval)
      if (name != "valid") splits.push_back(name);
    if (splits.empty() && runs[0].eval.count("valid")) splits.push_back("valid");
  }

  svg::LineChart loss{"training loss", "step", "loss (nats per scored token)", {}, "auto", 1.0};
  for (size_t k = 0; k < runs.size(); ++k) {
    svg::Series s{labels[k], {}, {}};
    for (const MetricsPoint& p : runs[k].train) s.x.push_back(double(p.step)), s.y.push_back(p.loss);
    loss.series.push_back(std::move(s));
  }
  const std::string what = metric == "error" ? "error" : metric == "token-error" ? "token error" : "loss";
  svg::LineChart eval{"evaluation: " + what, "step", metric == "loss" ? "loss (nats per scored token)" : what + " (%)",
                      {}, metric == "loss" ? "auto" : "off", metric == "loss" ? 1.0 : 100.0};
  for (size_t k = 0; k < runs.size(); ++k)  // a run keeps its colour; splits differ by dashes
    for (size_t si = 0; si < splits.size(); ++si) {
      const std::string& split = splits[si];
      const auto it = runs[k].eval.find(split);
      if (it == runs[k].eval.end()) continue;
      svg::Series s{splits.size() > 1 || runs.size() == 1 ? labels[k] + " " + split : labels[k], {}, {}, int(k), int(si)};
      for (const MetricsPoint& p : it->second) {
        s.x.push_back(double(p.step));
        s.y.push_back(metric == "error" ? p.error_rate : metric == "token-error" ? p.token_error_rate : p.loss);
      }
      eval.series.push_back(std::move(s));
    }
  std::vector<svg::LineChart> charts{loss};
  if (!eval.series.empty()) charts.push_back(eval);
  const std::string title = r.count("title") ? r["title"].as<std::string>() : (runs[0].task.empty() ? "training" : runs[0].task);
  write_file(out_path, svg::line_charts(title, charts));
  out << "wrote " << out_path << ": " << loss.series.size() + eval.series.size() << " series from " << runs.size()
      << (runs.size() == 1 ? " run\n" : " runs\n");
  return 0;
}

// Counting, a chart per number of variables: each encoding's test error (mean over its
// seeds) and its binding-subset error (dashed) against --max-steps; the shortcut (no
// model) in grey.
int plot_lengths(const cxxopts::ParseResult& r, const std::vector<std::string>& inputs, const std::string& out_path,
                 std::ostream& out) {
  if (inputs.size() != 1) throw UsageError("plot lengths needs one folder of runs (as scripts/reproduce.sh writes)");
  const std::vector<CountingCell> cells = counting_by_length(inputs[0], position_encodings());
  const auto mean = [](const std::vector<double>& v) {
    double sum = 0;
    int n = 0;
    for (double x : v)
      if (std::isfinite(x)) sum += x, ++n;
    return n ? sum / n : NAN;
  };
  std::map<int64_t, svg::LineChart> charts;             // vars -> chart
  std::map<int64_t, std::map<int64_t, double>> shortcut;  // vars -> max_steps -> error
  std::map<std::pair<int64_t, std::string>, size_t> index;  // (vars, pe) -> its series' place
  std::vector<std::string> pes;
  for (const CountingCell& c : cells) {
    svg::LineChart& ch = charts[c.vars];
    if (ch.series.empty())
      ch = {std::to_string(c.vars) + " variable" + (c.vars == 1 ? "" : "s") + ": test error (solid), binding subset (dashed)",
            "at most this many statements (--max-steps)", "error (%)", {}, "off", 100.0};
    if (std::find(pes.begin(), pes.end(), c.pe) == pes.end()) pes.push_back(c.pe);
    const int colour = int(std::find(pes.begin(), pes.end(), c.pe) - pes.begin());
    if (!index.count({c.vars, c.pe})) {
      index[{c.vars, c.pe}] = ch.series.size();
      ch.series.push_back({c.pe, {}, {}, colour, 0});
      ch.series.push_back({c.pe + " binding", {}, {}, colour, 1});
    }
    const size_t k = index.at({c.vars, c.pe});
    ch.series[k].x.push_back(double(c.max_steps)), ch.series[k].y.push_back(mean(c.error));
    ch.series[k + 1].x.push_back(double(c.max_steps)), ch.series[k + 1].y.push_back(mean(c.binding));
    if (std::isfinite(mean(c.shortcut))) shortcut[c.vars][c.max_steps] = mean(c.shortcut);
  }
  if (charts.empty())
    throw UsageError(inputs[0] + " holds no finished counting runs that drew their own programs (--max-steps)");
  std::vector<svg::LineChart> list;
  size_t series = 0;
  for (auto& [vars, ch] : charts) {
    svg::Series s{"shortcut (no model)", {}, {}, 7, 2};  // grey, dotted
    for (const auto& [steps, err] : shortcut[vars]) s.x.push_back(double(steps)), s.y.push_back(err);
    if (!s.x.empty()) ch.series.push_back(std::move(s));
    series += ch.series.size();
    list.push_back(std::move(ch));
  }
  const std::string title = r.count("title") ? r["title"].as<std::string>() : "Counting: error against program length";
  write_file(out_path, svg::line_charts(title, list));
  out << "wrote " << out_path << ": " << series << " series in " << list.size() << (list.size() == 1 ? " chart\n" : " charts\n");
  return 0;
}

// Text, the shape of the paper's Figure 3: a chart per corpus, each encoding's validation
// perplexity (mean over its seeds) against the context it was evaluated at, from the
// training context to the largest multiple evaluated (scripts/reproduce.sh: 2x and 4x).
// A corpus trained at several contexts gets a series per (pe, training context), the
// contexts told apart by dashes. The values are also printed, a line per series.
int plot_contexts(const cxxopts::ParseResult& r, const std::vector<std::string>& inputs, const std::string& out_path,
                  std::ostream& out) {
  if (inputs.size() != 1) throw UsageError("plot contexts needs one folder of runs (as scripts/reproduce.sh writes)");
  const std::vector<TextCell> cells = text_by_context(inputs[0], position_encodings());
  if (cells.empty()) throw UsageError(inputs[0] + " holds no finished text runs");
  std::map<std::string, std::vector<int64_t>> contexts;  // corpus -> its training contexts, ascending
  for (const TextCell& c : cells) {
    auto& v = contexts[c.data];
    if (std::find(v.begin(), v.end(), c.seq) == v.end()) v.push_back(c.seq);
  }
  std::map<std::string, svg::LineChart> charts;  // corpus -> chart
  std::vector<std::string> pes;                  // colour by encoding, the same in every chart
  size_t series = 0;
  for (const TextCell& c : cells) {
    svg::LineChart& ch = charts[c.data];
    if (ch.series.empty())
      ch = {c.data, "context at evaluation (tokens)", "validation perplexity (per token)", {}, "off", 1.0};
    if (std::find(pes.begin(), pes.end(), c.pe) == pes.end()) pes.push_back(c.pe);
    const auto& ctxs = contexts.at(c.data);
    const int dash = int(std::find(ctxs.begin(), ctxs.end(), c.seq) - ctxs.begin());
    svg::Series s{ctxs.size() > 1 ? c.pe + ", trained at " + std::to_string(c.seq) : c.pe, {}, {},
                  int(std::find(pes.begin(), pes.end(), c.pe) - pes.begin()), dash};
    out << c.data << ", trained at " << c.seq << ", " << c.pe << ":";
    size_t seeds = 0;
    for (const auto& [factor, losses] : c.loss_at) {
      double ppl = 0;
      for (double l : losses) ppl += std::exp(l);
      ppl /= double(losses.size());
      s.x.push_back(double(factor * c.seq)), s.y.push_back(ppl);
      seeds = std::max(seeds, losses.size());
      out << " " << factor * c.seq << " -> " << std::fixed << std::setprecision(3) << ppl << std::defaultfloat;
    }
    out << " (perplexity, mean of " << seeds << " seed" << (seeds == 1 ? "" : "s") << ")\n";
    ch.series.push_back(std::move(s));
    ++series;
  }
  std::vector<svg::LineChart> list;
  for (auto& [data, ch] : charts) list.push_back(std::move(ch));
  const std::string title =
      r.count("title") ? r["title"].as<std::string>() : "Text: validation perplexity against the context at evaluation";
  write_file(out_path, svg::line_charts(title, list));
  out << "wrote " << out_path << ": " << series << " series in " << list.size() << (list.size() == 1 ? " chart\n" : " charts\n");
  return 0;
}

}  // namespace

int cmd_plot(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("minicope plot",
                           "Draws pictures as SVG files (open them in a browser).\n\n"
                           "  minicope plot curves RUN... --out FILE.svg\n"
                           "      training loss and an evaluation metric against step; RUN is a run folder or a\n"
                           "      metrics.jsonl. One series per run (and per split). A loss axis turns logarithmic\n"
                           "      when the values span more than a factor of 20.\n"
                           "  minicope plot attention --ckpt RUN --out FILE.svg\n"
                           "      one head's attention weights a[i,j] and, for a CoPE layer, its positions p[i,j],\n"
                           "      with the tokens on the axes. The input is --text, or an example of a split.\n"
                           "      For a CoPE layer it also prints each key token's mean gate (the step of p[i,j]\n"
                           "      at key j): what the head counts.\n"
                           "  minicope plot lengths DIR --out FILE.svg\n"
                           "      Counting runs of a folder (scripts/reproduce.sh): test error and binding-subset\n"
                           "      error against --max-steps, one series per encoding (mean over seeds), and the\n"
                           "      variable-blind shortcut's error as a line.\n"
                           "  minicope plot contexts DIR --out FILE.svg\n"
                           "      text runs of a folder (scripts/reproduce.sh): validation perplexity against the\n"
                           "      context at evaluation (1x, 2x, 4x the training context), one series per encoding\n"
                           "      (mean over seeds), a chart per corpus: the paper's Figure 3.");
  options.positional_help("curves RUN... | attention | lengths DIR | contexts DIR");
  options.add_options()("what", "curves, attention, lengths or contexts", cxxopts::value<std::string>())(
      "runs", "run folders or metrics.jsonl files", cxxopts::value<std::vector<std::string>>())(
      "out", "the SVG file to write", cxxopts::value<std::string>())(
      "title", "the picture's title", cxxopts::value<std::string>());
  options.add_options("curves")("labels", "comma-separated names of the runs (default: their folders)",
                                cxxopts::value<std::string>())(
      "split", "curves: comma-separated splits to draw (default: all but valid); attention: the example's split",
      cxxopts::value<std::string>())("metric", "curves: error, token-error or loss (default: error; text: loss)",
                                     cxxopts::value<std::string>());
  options.add_options("attention")("ckpt", "run folder or .safetensors file", cxxopts::value<std::string>())(
      "text", "the input: text (text runs) or space-separated tokens (tasks)", cxxopts::value<std::string>())(
      "example", "the input: this example of --split (default 0)", cxxopts::value<std::string>())(
      "layer", "layer, from 0 (default 0)", cxxopts::value<std::string>())(
      "head", "head, from 0 (default 0)", cxxopts::value<std::string>())(
      "queries", "draw the rows of these queries only, FROM:TO (token indices, TO not included; default all)",
      cxxopts::value<std::string>())(
      "keys", "draw the columns of these keys only, FROM:TO (default all); a map draws at most 256 of each",
      cxxopts::value<std::string>());
  options.parse_positional({"what", "runs"});
  ParsedArgs p = parse_args(options, args);
  if (p.help) {
    out << options.help({"", "curves", "attention", "common"});
    return 0;
  }
  (void)err;
  const auto& r = *p.result;
  const std::string what = r.count("what") ? r["what"].as<std::string>() : "";
  if (what != "curves" && what != "attention" && what != "lengths" && what != "contexts")
    throw UsageError(what.empty() ? "plot needs what to draw: curves, attention, lengths or contexts"
                                  : "plot draws curves, attention, lengths or contexts, not '" + what + "'");
  if (!r.count("out")) throw UsageError("--out FILE.svg is required");
  const std::string out_path = r["out"].as<std::string>();
  if (out_path.empty()) throw UsageError("--out must not be empty");
  check_target(out_path);  // before any work: refuse to replace what is not a picture
  const std::vector<std::string> runs = r.count("runs") ? r["runs"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (what == "curves" || what == "lengths" || what == "contexts") {
    for (const char* flag : {"ckpt", "text", "example", "layer", "head", "queries", "keys"})
      if (r.count(flag)) throw UsageError(std::string("--") + flag + " applies to plot attention");
    if (what == "curves") return plot_curves(r, runs, out_path, out);
    for (const char* flag : {"labels", "metric", "split"})
      if (r.count(flag)) throw UsageError(std::string("--") + flag + " applies to plot curves");
    return what == "lengths" ? plot_lengths(r, runs, out_path, out) : plot_contexts(r, runs, out_path, out);
  }
  if (!runs.empty()) throw UsageError("plot attention takes its run from --ckpt, not '" + runs[0] + "'");
  for (const char* flag : {"labels", "metric"})
    if (r.count(flag)) throw UsageError(std::string("--") + flag + " applies to plot curves");
  return plot_cli::plot_attention(r, out_path, out);
}

}  // namespace mc
