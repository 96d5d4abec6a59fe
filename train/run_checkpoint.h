// run_checkpoint.h — a training run's checkpoint: what it stores, how it is saved, and
// how a run (to resume, evaluate or sample) is rebuilt from it.
//
// A run checkpoint is a safetensors file (io/safetensors.h). Tensors: every parameter
// under its module name, then "optim.m.NAME" and "optim.v.NAME" (AdamW's moments).
// Metadata: format, format_version, config (JSON), step, optim_steps, rng_data,
// rng_dropout, best_error, best_loss, best_step, task, vocab (JSON list), and the
// checksums that save_safetensors adds. docs/checkpoint.md lists them.
#pragma once
#include <cmath>
#include <memory>
#include <string>

#include "config/run_config.h"
#include "io/safetensors.h"
#include "nn/transformer.h"
#include "optim/optim.h"
#include "tasks/task.h"

namespace mc {

// What a run has done, besides its weights and moments: saved with them.
struct RunState {
  int64_t step = 0;
  double best_error = INFINITY, best_loss = INFINITY;  // of the best checkpoint on "valid"
  int64_t best_step = -1;
  Generator data_rng;  // draws the training examples
};

// Writes the checkpoint of a run at `path` (atomically: io/safetensors.h).
void save_run(const std::string& path, const RunConfig& cfg, const Task& task, Transformer& model, AdamW& opt,
              const RunState& st);

// A run checkpoint's checks on a parsed file: format, version, checksums. Throws
// CheckpointError naming `path`.
TensorFile check_run_file(TensorFile f, const std::string& path);

// The stored configuration, with the task's vocabulary restored from the metadata
// (with_vocab), which is kept apart in it.
RunConfig stored_config(const TensorFile& f, const std::string& path, bool with_vocab = true);

// The task of a stored configuration; a stored option or vocabulary it refuses is the
// file's fault: CheckpointError naming `file`.
std::unique_ptr<Task> stored_task(const RunConfig& cfg, const std::string& file);

// Puts the stored weights, AdamW's moments and step, the state and both generators of
// a checkpoint into a model and optimizer built from its configuration.
void restore_run(const TensorFile& f, const std::string& path, Transformer& model, AdamW& opt, RunState& st);

// The model's weights from a file of tensors named as docs/model.md's "Parameter names"
// (a run checkpoint, or weights made elsewhere: `train --init`). Every parameter must be
// there with its shape and dtype, and the file may hold nothing else but optimizer
// moments ("optim.*"); otherwise a CheckpointError naming the tensor.
void restore_weights(const TensorFile& f, const std::string& path, Transformer& model);

// A checkpoint's run: its configuration, task and model with the stored weights.
struct LoadedRun {
  RunConfig cfg;
  std::unique_ptr<Task> task;
  std::unique_ptr<Transformer> model;
  int64_t step = 0;
  TensorFile file;
};
// path: a .safetensors file, or a run folder (its best.safetensors, else last.safetensors).
// seq > 0 evaluates a text run with windows of seq tokens (longer than it trained on):
// SettingError "seq" when that does not fit. with_task false skips building the task
// (sample needs only the model and vocabulary). A missing or damaged file: FileError.
LoadedRun load_run(const std::string& path, int64_t seq = 0, bool with_task = true);
// The same from a checkpoint already read and checked (`file` names it in messages).
LoadedRun run_from_file(TensorFile f, const std::string& file, int64_t seq, bool with_task);

}  // namespace mc
