// cli.cpp — subcommand dispatch, shared flags and the error contract:
// anything a user gets wrong ends in one line `minicope: error: ...` and a non-zero
// exit (io/errors.h gives each kind of failure its status).
#include "cli/cli.h"

#include <algorithm>
#include <cxxopts.hpp>
#include <filesystem>
#include <map>
#include <iostream>
#include <memory>
#include <tbb/global_control.h>

#include "dist/comm.h"
#include "dist/ranks.h"
#include "io/strings.h"
#include "cli/commands.h"

namespace mc {

namespace {

const char* kUsage =
    "minicope — a tensor and autograd library with a CoPE transformer\n"
    "\n"
    "usage: minicope <command> [flags]\n"
    "\n"
    "commands:\n"
    "  train       train a transformer on flipflop, selcopy, counting or text\n"
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
  // A flag given twice is a mistake (which value was meant?), as a key twice in a config is.
  // What cxxopts parsed (so a value that looks like a flag is a value); positional
  // arguments, such as plot's runs, may repeat: only options written as --name count.
  std::map<std::string, int> seen;
  for (const cxxopts::KeyValue& kv : p.result->arguments()) {
    const std::string& name = kv.key();
    const bool as_flag = std::any_of(args.begin(), args.end(), [&](const std::string& a) {
      return a == "--" + name || a.rfind("--" + name + "=", 0) == 0;
    });
    if (as_flag && ++seen[name] == 2) throw UsageError("--" + name + " is given twice");
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
    // stoll skips leading white space; " 5" is refused as "5 " is
    if (!text.empty() && !std::isspace(static_cast<unsigned char>(text[0]))) v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size())
    throw UsageError("--" + name + " expects an integer, got '" + text + "'");
  if (v < lo || v > hi)
    throw UsageError("--" + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + text);
  return v;
}

bool flag_bool(const cxxopts::ParseResult& r, const std::string& name) {
  const std::string v = r[name].as<std::string>();
  if (v != "true" && v != "false") throw UsageError("--" + name + " expects true or false, got '" + v + "'");
  return v == "true";
}

LoadedRun load_run_flag(const std::string* ckpt, int64_t seq, bool with_task) {
  if (!ckpt) throw UsageError("--ckpt DIR is required");
  if (ckpt->empty()) throw UsageError("--ckpt must not be empty");
  return load_run(*ckpt, seq, with_task);
}

std::string split_flag(const Task& task, const std::string& want) {
  const std::vector<std::string> splits = task.splits();
  if (want != "valid" && std::find(splits.begin(), splits.end(), want) == splits.end())
    throw UsageError("--split: " + task.name() + " has no split '" + want + "' (" + join(splits, ", ") + ")");
  return want;
}

namespace {

// A command's output must reach its reader: standard output on a full disk or a closed
// pipe is an error (exit 1), not a success with the output lost.
int finish_output(std::ostream& out, std::ostream& err) {
  out.flush();
  if (out) return 0;
  err << "minicope: error: writing the output failed (a full disk or a closed pipe?); it is incomplete\n";
  return 1;
}

// Discards what is written to it: the output of ranks other than 0.
struct NullBuffer : std::streambuf {
  int overflow(int c) override { return c; }
};

// Whether this rank prints `e`, and with which prefix. One process: always, plainly.
// Several ranks (mpirun): a failure every rank reached is printed once (by rank 0, or
// by the rank that failed first, dist/ranks.h); anything else by the rank that saw it,
// naming the rank.
bool reports(const Launch& l, const std::exception& e, std::string& prefix) {
  if (const auto* known = dynamic_cast<const Error*>(&e); known && known->said()) return false;
  if (l.size == 1) return true;
  const bool lost = dynamic_cast<const RankLost*>(&e) != nullptr;
  if (lost || l.rank != 0) prefix = "rank " + std::to_string(l.rank) + ": ";
  if (lost) return true;
  // Before the ranks joined (or without MPI) every rank failed alike: rank 0 says it.
  if (!built_with_mpi() || !Comm::world_started()) return l.rank == 0;
  try {
    const Comm& comm = Comm::world();
    return comm.failure_agreed() ? comm.failure_reporter() == l.rank : true;
  } catch (const std::exception&) {  // MPI did not start: every rank says so; rank 0 is enough
    return l.rank == 0;
  }
}

// The line that reports e: its message; a filesystem error as "PATH: what failed" (the
// library's own text names no flag); a usage mistake pointing to the command's --help.
std::string message_of(const std::exception& e, const std::string& cmd) {
  if (const auto* fe = dynamic_cast<const std::filesystem::filesystem_error*>(&e))
    return (fe->path1().empty() ? "" : fe->path1().string() + ": ") + fe->code().message();
  const auto* known = dynamic_cast<const Error*>(&e);
  if (known && known->points_to_help()) return std::string(e.what()) + " (see 'minicope " + (cmd.empty() ? "" : cmd + " ") + "--help')";
  return e.what();
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out_all, std::ostream& err) {
  const std::string cmd = args.empty() ? "" : args[0];
  bool known = false;  // whether cmd names a command (its --help is then the hint)
  // Under mpirun only rank 0 prints output and progress.
  const Launch launch = launch_from_env();
  NullBuffer null_buffer;
  std::ostream null_stream(&null_buffer);
  std::ostream& out = launch.rank == 0 ? out_all : null_stream;
  std::ostream& progress = launch.rank == 0 ? err : null_stream;
  try {
    if (cmd.empty()) throw UsageError("no command given (train, eval, sample, bench, gradcheck, plot, report)");
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      if (args.size() > 2) throw UsageError("help takes one command, as in 'minicope help train'");
      if (args.size() == 2 && args[1] != "help" && args[1] != "--help" && args[1] != "-h") {
        for (const Command& c : kCommands)  // help train = train --help
          if (args[1] == c.name) return run_cli({args[1], "--help"}, out_all, err);
        throw UsageError("help: unknown command '" + args[1] + "'");
      }
      out << kUsage;
      return finish_output(out_all, err);
    }
    for (const Command& c : kCommands)
      if (cmd == c.name) {
        known = true;
        if (launch.size > 1 && cmd != "train" && cmd != "eval") {
          if (launch.rank != 0) throw QuietFailure(2);  // rank 0 says it
          throw UsageError("'" + cmd + "' runs in one process; only train and eval run on several MPI ranks");
        }
        const int status = c.run(std::vector<std::string>(args.begin() + 1, args.end()), out, progress);
        return launch.rank == 0 && status == 0 ? finish_output(out_all, err) : status;
      }
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const std::exception& e) {
    std::string prefix;
    if (reports(launch, e, prefix)) err << "minicope: error: " << prefix << message_of(e, known ? cmd : "") << "\n";
    return exit_status(e);
  }
}

}  // namespace mc
