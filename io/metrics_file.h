// metrics_file.h — reading a run's metrics.jsonl back (for plots and reports).
//
// The trainer writes one JSON object per line (train/trainer.cpp, train/evaluate.cpp;
// docs/checkpoint.md lists the fields):
//   a training line   {"step", "loss", "lr", "grad_norm", "tokens_per_s"}
//   an eval line      {"task", "split", "step", "loss", then "error_rate" and
//                      "token_error_rate" (tasks) or "ppl" (text)}
// A resumed run appends, so a step may appear twice; the later line wins.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mc {

struct MetricsPoint {
  int64_t step = 0;
  double loss = 0;                // training loss, or the split's mean loss
  double error_rate = 0;          // eval lines of synthetic tasks (NaN elsewhere)
  double token_error_rate = 0;    // ditto
};

struct RunMetrics {
  std::string path;                                     // the file read
  std::string task;                                     // from the eval lines ("" if none)
  std::vector<MetricsPoint> train;                      // by step
  std::map<std::string, std::vector<MetricsPoint>> eval;  // split -> points by step
};

// Reads `path`, a metrics.jsonl or a run folder holding one. Blank lines are skipped.
// Throws FileError "PATH:LINE: what is wrong" for a line that is not a JSON
// object or lacks a whole "step" >= 0 or a numeric "loss", and "PATH: ..." for a file
// that cannot be read or holds no metrics.
RunMetrics read_metrics(const std::string& path);
// The same from the file's text; `path` names it in messages.
RunMetrics parse_metrics(const std::string& text, const std::string& path);

}  // namespace mc
