// trainer.h — training a run: the loop, and what it needs from the command line.
#pragma once
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "config/run_config.h"
#include "io/errors.h"
#include "tasks/task.h"
#include "train/evaluate.h"

namespace mc {

// Fills in what the task decides (vocabulary, default context) and validates the whole
// configuration; throws SettingError naming the setting.
void resolve(RunConfig& cfg, const Task& task);

// --epochs: the order in which pass `pass` reads a fixed training set of n examples, a
// permutation of 0..n-1 shuffled from (seed, pass) — the same on every rank and resume.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t pass);

struct TrainOptions {
  std::string out;         // run folder: last.safetensors, best.safetensors, metrics.jsonl
  bool resume = false;     // continue from out/last.safetensors
  bool json = false;       // print the final evaluation as JSON lines
  int64_t stop_after = 0;  // stop (with a checkpoint) after this many steps of this invocation
  bool trace = false;      // write init.safetensors and trace.jsonl into out (train/trace.h)
  std::string init;        // start from the weights in this file instead of the seeded ones
  std::set<std::string> given;  // settings given by flag or config file (a resume checks them)
  // Several ranks (mpirun): gradients are summed in buckets of about this many bytes,
  // started during backward when overlap is on (docs/distributed.md).
  int64_t bucket_bytes = int64_t(1) << 20;
  bool overlap = true;
  // Refuse a run whose estimated memory exceeds what the machine has (train/memory.h).
  bool memory_check = true;
};

// Training stopped by SIGINT or SIGTERM after saving a checkpoint: exit 128 + signal,
// with no error line (the trainer has said what happened).
class Interrupted : public Error {
 public:
  explicit Interrupted(int sig) : Error("interrupted"), signal(sig) {}
  int exit_status() const override { return 128 + signal; }
  bool said() const override { return true; }
  int signal;
};

// Trains; prints progress to err and the final evaluation (of the best checkpoint) to out.
// Under mpirun every rank calls it, and they train one model together (docs/distributed.md).
// Throws (io/errors.h: SettingError, FileError, Interrupted, ...) on any failure before or
// during it, without touching an existing checkpoint unless a new one is complete.
std::vector<EvalMetrics> train(RunConfig cfg, const TrainOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace mc
