// commands.h — one function per subcommand, and the flag parsing they share.
#pragma once
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <cxxopts.hpp>
#include <tbb/global_control.h>

#include "train/run_checkpoint.h"


namespace mc {

// Parsed flags, plus the thread limit from --threads (held for the command's lifetime).
struct ParsedArgs {
  std::unique_ptr<cxxopts::ParseResult> result;
  std::unique_ptr<tbb::global_control> threads;
  bool help = false;
};

// Adds the common flags (--threads, --help) and parses; throws UsageError.
ParsedArgs parse_args(cxxopts::Options& options, const std::vector<std::string>& args);

// The value of integer flag --name, which must lie in [lo, hi]; throws UsageError naming it.
int64_t flag_int(const cxxopts::ParseResult& r, const std::string& name, int64_t lo, int64_t hi);

// The value of true/false flag --name ("--name" alone is true); throws UsageError.
bool flag_bool(const cxxopts::ParseResult& r, const std::string& name);

// The run named by --ckpt (null: the flag is missing): UsageError when the flag is missing
// or empty; what load_run throws otherwise (train/run_checkpoint.h).
LoadedRun load_run_flag(const std::string* ckpt, int64_t seq, bool with_task);

// The value of --split for `task`: one of its splits, or "valid"; UsageError naming them otherwise.
std::string split_flag(const Task& task, const std::string& want);

int cmd_gradcheck(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_train(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_sample(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_plot(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_report(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_bench(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mc
