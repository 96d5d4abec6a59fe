// cli.cpp — subcommand dispatch, shared flags and the error contract:
// anything a user gets wrong ends in one line `minicope: error: ...` and a non-zero
// exit (2 for usage, 1 otherwise).
#include "train/cli.h"

#include <cxxopts.hpp>
#include <iostream>
#include <memory>
#include <tbb/global_control.h>

#include "train/commands.h"

namespace mc {

namespace {

const char* kUsage =
    "minicope — a tensor and autograd library with a CoPE transformer\n"
    "\n"
    "usage: minicope <command> [flags]\n"
    "\n"
    "commands:\n"
    "  train       train a transformer on flipflop, selcopy or counting\n"
    "  eval        evaluate a checkpoint on its task's splits\n"
    "  sample      generate text from a text run's checkpoint\n"
    "  bench       time training steps (forward, backward, AdamW)\n"
    "  gradcheck   check every differentiable op against finite differences (f64)\n"
    "  plot        draw training curves, attention and CoPE position maps as SVG\n"
    "  report      the results tables of a folder of runs (scripts/reproduce.sh)\n"
    "  help        show this help\n"
    "\n"
    "Every command answers --help. From the repository, ./minicope builds first and\n"
    "./minicope test runs the test suite.\n";

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
};

const Command kCommands[] = {
    {"train", cmd_train},
    {"eval", cmd_eval},
    {"sample", cmd_sample},
    {"bench", cmd_bench},
    {"gradcheck", cmd_gradcheck},
    {"plot", cmd_plot},
    {"report", cmd_report},
};

}  // namespace

ParsedArgs parse_args(cxxopts::Options& options, const std::vector<std::string>& args) {
  options.add_options("common")("threads", "worker threads (default: all cores)", cxxopts::value<std::string>())(
      "h,help", "show this help");
  std::vector<const char*> argv{options.program().c_str()};
  for (const auto& a : args) argv.push_back(a.c_str());
  ParsedArgs p;
  try {
    p.result = std::make_unique<cxxopts::ParseResult>(options.parse(static_cast<int>(argv.size()), argv.data()));
  } catch (const cxxopts::exceptions::exception& e) {
    // cxxopts quotes with U+2018/U+2019; keep our messages plain ASCII.
    std::string msg = e.what();
    for (const char* q : {"\xE2\x80\x98", "\xE2\x80\x99"})
      for (size_t at; (at = msg.find(q)) != std::string::npos;) msg.replace(at, 3, "'");
    throw UsageError(msg);
  }
  if (!p.result->unmatched().empty())
    throw UsageError("unexpected argument '" + p.result->unmatched()[0] +
                     "' (a true/false flag takes its value after '=', as in --tied=false)");
  p.help = p.result->count("help") > 0;
  if (p.result->count("threads")) {
    const int64_t n = flag_int(*p.result, "threads", 1, 4096);
    p.threads = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(n));
  }
  return p;
}

int64_t flag_int(const cxxopts::ParseResult& r, const std::string& name, int64_t lo, int64_t hi) {
  const std::string text = r[name].as<std::string>();
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size())
    throw UsageError("--" + name + " expects an integer, got '" + text + "'");
  if (v < lo || v > hi)
    throw UsageError("--" + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + text);
  return v;
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::string cmd = args.empty() ? "" : args[0];
  bool known = false;  // whether cmd names a command (its --help is then the hint)
  try {
    if (cmd.empty()) {
      err << kUsage;
      return 2;
    }
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      out << kUsage;
      return 0;
    }
    for (const Command& c : kCommands)
      if (cmd == c.name) return known = true, c.run(std::vector<std::string>(args.begin() + 1, args.end()), out, err);
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const Interrupted& e) {
    return 128 + e.signal;
  } catch (const UsageError& e) {
    err << "minicope: error: " << e.what() << " (see 'minicope " << (known ? cmd + " " : "")
        << "--help')\n";
    return 2;
  } catch (const std::exception& e) {
    err << "minicope: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace mc
