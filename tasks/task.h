// task.h — a task: its examples, its fixed evaluation splits, its batches (one file per task beside it).
//
// A task yields Examples: a token sequence and which next-token predictions count
// (the loss mask). Training draws endless examples from a Generator; each evaluation
// split is a fixed list, drawn from its own seed (the same for every run), so runs with
// different seeds are scored on the same sequences. docs/tasks.md shows an example of
// each task and its metric.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/errors.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace mc {

// The longest context (model input) any task may have: past it, attention's L x L rows
// alone outgrow any machine minicope runs on (--seq has the same bound).
constexpr int64_t kMaxContext = int64_t(1) << 16;

struct Example {
  std::vector<int64_t> tokens;
  // scored[t] = 1 when predicting tokens[t+1] from tokens[0..t] counts (loss and
  // error); size tokens.size() - 1.
  std::vector<uint8_t> scored;
  // The task's shortcut on this example — a trivial strategy that ignores what the task
  // is about (Counting: count every "++;" after the last "= 0 ;", whichever variable;
  // docs/tasks.md) — reported beside the model: 1 it answers right, 0 wrong, -1 the task
  // has none. Evaluation reports its error and the model's error where it is wrong.
  int8_t shortcut_right = -1;
};

// Options of every task (each uses its own; docs/tasks.md gives the defaults' reasons).
struct TaskOptions {
  std::string name = "flipflop";
  int64_t eval_size = 500;       // examples per evaluation split
  // flipflop
  int64_t length = 64;           // tokens per sequence (instruction/bit pairs: even)
  double p_ignore = 0.8;         // p_i of training and the test split
  // selcopy
  int64_t data_tokens = 4;       // tokens to copy
  int64_t noise_tokens = 32;     // in distribution; dense uses half, sparse twice
  int64_t symbols = 8;           // distinct data tokens
  // counting
  int64_t vars = 3;              // 1, 3 or 5 in the paper
  int64_t max_steps = 16;        // statements per program: 3..max_steps
  bool cut_left = false;         // programs longer than `context` lose their first tokens (the official collator)
  std::string data;              // counting: a folder with train/valid/test.jsonl (official format); text: the file
  // text
  std::string val;               // held-out text (default: the last 10% of data)
  std::string tokenizer = "char";  // byte, char, word, bpe, unigram
  int64_t vocab_size = 0;        // word: keep at most this many words (0: all); bpe, unigram: this many (0: 1024)
  int64_t min_count = 1;         // word: keep words seen at least this often
  int64_t context = 0;           // text: the model's context (windows of context + 1 tokens); counting: cut_left's
  std::vector<std::string> vocab;  // a stored vocabulary (resume, eval, sample): rebuilds the tokenizer
  std::string tokenizer_model;     // and for bpe, unigram its stored SentencePiece model
  bool evaluate_only = false;      // text: no training windows are drawn (eval), so the training text may be short
};

class Task {
 public:
  virtual ~Task() = default;
  const std::string& name() const { return name_; }
  const std::vector<std::string>& vocab() const { return vocab_; }
  // A text task's serialized SentencePiece model (bpe, unigram), else empty.
  const std::string& tokenizer_model() const { return tokenizer_model_; }
  // The longest model input any split needs (tokens - 1).
  virtual int64_t context() const = 0;
  virtual Example sample(Generator& g) const = 0;  // one training example
  virtual std::vector<std::string> splits() const = 0;  // reported evaluation splits
  // A fixed evaluation set; "valid" (drawn like training data, own seed) chooses the
  // best checkpoint for every task. Throws std::invalid_argument for an unknown split.
  virtual std::vector<Example> eval_set(const std::string& split) const = 0;
  // Tokens in all the evaluation sets a training run builds ("valid" and splits()),
  // counted without building them (the memory estimate, train/memory.h).
  virtual int64_t eval_tokens() const = 0;
  virtual int64_t eval_examples() const = 0;  // and the examples they hold
  // The shape smallest_batch gives a batch of `batch` examples with rows of row_length,
  // about (the memory estimate, train/memory.h): `batch` rows of context() for tasks of
  // fixed length; for Counting, whose programs are mostly far shorter than the longest it
  // can make, fewer packed rows, or shorter padded ones.
  struct BatchShape {
    int64_t rows = 0, length = 0;
    bool packed = false;  // rows of several examples (pack_batch), else one each (make_batch)
    bool varies = false;  // batches differ in shape from step to step
  };
  virtual BatchShape batch_shape(int64_t batch, int64_t row_length) const {
    (void)row_length;
    return {batch, context()};
  }
  std::string describe(const Example& e) const;  // the tokens as text
  // Text tasks choose the best checkpoint by loss and report perplexity.
  virtual bool is_text() const { return false; }
  // The characters (UTF-8 code points) and bytes of the text that an evaluation split's
  // scored tokens predict, so that its loss can be given per character and per byte
  // whatever the tokens are, and how many of them are <unk> (a <unk> stands for its
  // text without spelling it, so per-character figures flatter a run with many); all
  // zero for a task that is not text.
  struct TextSize {
    int64_t chars = 0, bytes = 0;
    int64_t unknown = 0;  // scored tokens that are <unk>: text the tokens do not spell out
  };
  virtual TextSize scored_text(const std::string& split) const {
    (void)split;
    return {};
  }
  // What the task's shortcut (Example::shortcut_right) does, in a phrase, or "" for none.
  virtual std::string shortcut() const { return ""; }
  // A fixed training set (Counting's --data), which --epochs reads in shuffled passes;
  // empty for a task whose sample() draws endlessly.
  virtual std::span<const Example> training_set() const { return {}; }

 protected:
  std::string name_;
  std::vector<std::string> vocab_;
  std::string tokenizer_model_;
};

// The settings that make a task's sequences long ("--length" for flipflop), for messages,
// and the first of them as a setting's name ("length").
std::string size_flags(const std::string& task);
std::string size_setting(const std::string& task);

// Builds a task; throws SettingError (an option out of range, naming it) or FileError
// (an unreadable or malformed data file, naming the file and line).
std::unique_ptr<Task> make_task(const TaskOptions& opt);

// A batch: rows of inputs, targets and mask, and where each example lies in them.
//
// Padded (make_batch): one example per row, from column 0, padded on the right with
// token 0 (unscored) to the longest; `starts` is undefined (every row is one sequence).
// Packed (pack_batch): several examples per row, one after the other; starts[r,t] is the
// column of the first token of the example holding column t (0 <= starts[r,t] <= t, a
// step function along the row), which the model's attention and positions respect, so
// no example sees another. The unused tail of a row is padding: token 0, unscored, and
// an example of its own (its own start).
struct TokenBatch {
  Tensor inputs;   // [R,L] i64
  Tensor targets;  // [R,L] i64
  Tensor mask;     // [R,L] f32, 1 where the prediction counts
  Tensor starts;   // [R,L] i64 (packed), or undefined (padded)
  // Where example i's inputs lie: row, first column, how many (tokens - 1).
  struct Place { int64_t row = 0, offset = 0, length = 0; };
  std::vector<Place> places;  // one per example, in the examples' order
  int64_t real_tokens() const;  // inputs that are not padding: the sum of the lengths
  double padding_fraction() const;  // of the R x L slots
};
// examples: any contiguous run of them (a rank's share, an evaluation chunk), not copied.
TokenBatch make_batch(std::span<const Example> examples, int64_t length = 0);  // 0: the longest

// Packs the examples into rows of row_length inputs, first fit in the examples' order:
// each example goes into the first row with room for it, a new row when none has
// (deterministic; the rows' order is the order they were opened). An example longer than
// row_length is an error (std::invalid_argument), as in make_batch.
TokenBatch pack_batch(std::span<const Example> examples, int64_t row_length);

// The rows first fit makes of examples of these input lengths: row_of[i] is example i's
// row; rows is how many. What pack_batch and the memory estimate share.
struct RowPlan {
  std::vector<int64_t> row_of, offset_of;
  int64_t rows = 0;
};
RowPlan plan_rows(std::span<const int64_t> lengths, int64_t row_length);

// The batch a step trains on and evaluation scores: packed into rows of row_length (the
// model's context; or the longest example, where one is longer: rel, rope and cope run
// past their context) when that takes fewer token slots than padding every example to
// the longest (uneven examples, as Counting's), else padded (examples of one length
// gain nothing by packing).
TokenBatch smallest_batch(std::span<const Example> examples, int64_t row_length);
// The shape smallest_batch gives examples of these input lengths.
Task::BatchShape smallest_shape(std::span<const int64_t> lengths, int64_t row_length);

}  // namespace mc
