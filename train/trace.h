// trace.h — `minicope train --trace`: a run's steps written out so that another
// implementation can replay them and compare (bench/trajectory.py, docs/results.md).
//
// Into the run folder: init.safetensors, the weights before the first step (a run
// checkpoint, docs/checkpoint.md), and trace.jsonl, one line per step:
//   {"step": 1, "lr": ..., "loss": ..., "grad_norm": ..., "rows": R, "cols": L,
//    "inputs": [R*L ids], "targets": [R*L ids], "mask": [R*L weights], "starts": [R*L] or null}
// the batch exactly as the model saw it (tasks/task.h, TokenBatch: row-major, packed
// rows with their example starts, padded ones with starts null), the loss of that batch,
// the gradient norm before clipping and the learning rate of the step. Meant for short
// runs: a step of B x L tokens is about 20 B L bytes of text.
#pragma once

#include <fstream>
#include <string>

#include "tasks/task.h"

namespace mc {

class StepTrace {
 public:
  // Opens DIR/trace.jsonl for writing (a new file; an old one is replaced). Throws
  // FileError when it cannot be written.
  explicit StepTrace(const std::string& dir);
  // One line for the step that just ended (step counts from 1).
  void write(int64_t step, const TokenBatch& batch, double loss, double grad_norm, double lr);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace mc
