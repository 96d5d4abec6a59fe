// trainer.h — the training loop, evaluation and run checkpoints.
#pragma once
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "nn/transformer.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/run_config.h"

namespace mc {

struct EvalMetrics {
  std::string split;
  double loss = 0;              // mean cross-entropy over scored predictions (nats)
  double error_rate = 0;        // sequences with any scored prediction wrong
  double token_error_rate = 0;  // scored predictions wrong (Flip-Flop: per read)
  int64_t examples = 0, scored = 0;
  std::string unit;             // text: "byte" or "char" when bits per unit mean something
  double ppl() const;           // exp(loss)
  double bits() const;          // loss / ln 2: bits per byte or character
};

// Evaluates `model` (in eval mode, no gradients) on fixed example sets. With `comm`
// (several ranks, each calling it), every rank scores its share of the set and all
// get the metrics of the whole set.
EvalMetrics evaluate(Transformer& model, const std::string& split, const std::vector<Example>& set, int64_t batch,
                     Comm* comm = nullptr);

// Fills in what the task decides (vocabulary, default context) and validates the whole
// configuration; throws std::invalid_argument naming the setting.
void resolve(RunConfig& cfg, const Task& task);

// A model configuration error as the flags name it: "--dim 30 is not divisible by ...".
std::string flag_message(const ConfigError& e);

struct TrainOptions {
  std::string out;         // run folder: last.safetensors, best.safetensors, metrics.jsonl
  bool resume = false;     // continue from out/last.safetensors
  bool json = false;       // print the final evaluation as JSON lines
  int64_t stop_after = 0;  // stop (with a checkpoint) after this many steps of this invocation
  std::set<std::string> given;  // settings given by flag or config file (a resume checks them)
  // Several ranks (mpirun): gradients are summed in buckets of about this many bytes,
  // started during backward when overlap is on (docs/distributed.md).
  int64_t bucket_bytes = int64_t(1) << 20;
  bool overlap = true;
  // Refuse a run whose estimated memory exceeds what the machine has (train/memory.h).
  bool memory_check = true;
};

// Trains; prints progress to err and the final evaluation (of the best checkpoint) to out.
// Under mpirun every rank calls it, and they train one model together (docs/distributed.md).
// Throws std::runtime_error / std::invalid_argument on any failure before or during it,
// without touching an existing checkpoint unless a new one is complete.
std::vector<EvalMetrics> train(RunConfig cfg, const TrainOptions& opt, std::ostream& out, std::ostream& err);

// A checkpoint's run: its configuration, task and model with the stored weights.
struct LoadedRun {
  RunConfig cfg;
  std::unique_ptr<Task> task;
  std::unique_ptr<Transformer> model;
  int64_t step = 0;
  TensorFile file;
};
// path: a .safetensors file, or a run folder (its best.safetensors, else last.safetensors).
// seq > 0 evaluates a text run with windows of seq tokens (longer than it trained on).
// with_task false skips building the task (sample needs only the model and vocabulary).
LoadedRun load_run(const std::string& path, int64_t seq = 0, bool with_task = true);
// The same from a checkpoint already read and checked (`file` names it in messages).
LoadedRun run_from_file(TensorFile f, const std::string& file, int64_t seq, bool with_task);

// The run named by --ckpt (null: the flag is missing): UsageError when the flag is missing
// or --seq does not fit,
// a plain error (exit 1) for a file that is missing or damaged.
LoadedRun load_run_flag(const std::string* ckpt, int64_t seq, bool with_task);

void print_metrics(std::ostream& out, const Task& task, const std::vector<EvalMetrics>& m, bool json, int64_t step);

}  // namespace mc
