// evaluate.h — scoring a model on fixed example sets, and printing the scores.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "nn/transformer.h"
#include "tasks/task.h"

namespace mc {

struct EvalMetrics {
  std::string split;
  double loss = 0;              // mean cross-entropy over scored predictions (nats)
  double error_rate = 0;        // sequences with any scored prediction wrong
  double token_error_rate = 0;  // scored predictions wrong (Flip-Flop: per read)
  int64_t examples = 0, scored = 0;
  // The task's shortcut (Example::shortcut_right), where the examples have one:
  int64_t shortcut_examples = 0;   // examples it was judged on (0: the task has none)
  double shortcut_error_rate = 0;  // its error on them
  int64_t binding_examples = 0;    // those it gets wrong (Counting: where binding matters)
  double binding_error_rate = 0;   // the model's error on those (NaN when there are none)
  Task::TextSize text;          // text: the characters and bytes the scored tokens predict
  double ppl() const;           // exp(loss), per token
  double bits_per_char() const;  // the summed loss in bits over text.chars (NaN: none)
  double bits_per_byte() const;  // and over text.bytes: comparable across tokenizers
};

// A scored prediction the model got wrong: tokens[at] was wanted (`want`), `got` was
// the most likely token; k counts the example's scored predictions before it (from 0).
struct WrongPrediction {
  int64_t at = 0, k = 0, want = 0, got = 0;
};
// An example the model got wrong: its index in the set, how many predictions of it are
// scored, and the wrong ones in order (`eval --errors` writes them, docs/tasks.md).
struct WrongExample {
  int64_t example = 0, scored = 0;
  std::vector<WrongPrediction> wrong;
};

// Evaluates `model` (in eval mode, no gradients) on fixed example sets. With `comm`
// (several ranks, each calling it), every rank scores its share of the set and all
// get the metrics of the whole set. With `wrong`, the examples with a wrong prediction
// are listed there too, in the set's order (with `comm`: this rank's share only).
EvalMetrics evaluate(Transformer& model, const std::string& split, const std::vector<Example>& set, int64_t batch,
                     Comm* comm = nullptr, std::vector<WrongExample>* wrong = nullptr);

// One evaluation as a line of metrics.jsonl (docs/checkpoint.md lists its fields).
std::string metrics_line(const Task& task, const EvalMetrics& m, int64_t step);

// The final table (or, with json, metrics lines) of a run's evaluation at `step`.
void print_metrics(std::ostream& out, const Task& task, const std::vector<EvalMetrics>& m, bool json, int64_t step);

}  // namespace mc
