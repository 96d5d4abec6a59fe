// task.cpp — what every task shares: choosing one, the split seeds, batches.
#include "tasks/task.h"

#include <algorithm>

#include "io/hash.h"
#include "tasks/makers.h"

namespace mc {

uint64_t split_seed(const std::string& task, const std::string& split) {
  // FNV-1a of "task/split" from a basis a digit short of FNV's own (1469598103934665603,
  // not ...6037): kept, as it fixes the evaluation sets every run so far was scored on.
  const std::string name = task + "/" + split;
  return fnv1a64(name.data(), name.size(), 1469598103934665603ULL);
}

void require(bool ok, const char* setting, const std::string& what) {
  if (!ok) throw SettingError(setting, what);
}

std::string Task::describe(const Example& e) const {
  std::string s;
  for (int64_t t : e.tokens) s += (s.empty() ? "" : " ") + vocab_.at(size_t(t));
  return s;
}

std::string size_flags(const std::string& task) {
  if (task == "flipflop") return "--length";
  if (task == "selcopy") return "--data-tokens or --noise-tokens";
  if (task == "counting") return "--max-steps";
  return "--seq";
}

std::string size_setting(const std::string& task) {
  if (task == "flipflop") return "length";
  if (task == "selcopy") return "data-tokens";
  if (task == "counting") return "max-steps";
  return "seq";
}

std::unique_ptr<Task> make_task(const TaskOptions& opt) {
  if (opt.eval_size < 1) throw SettingError("eval-size", "--eval-size must be at least 1");
  if (opt.name == "flipflop") return make_flipflop(opt);
  if (opt.name == "selcopy") return make_selcopy(opt);
  if (opt.name == "counting") return make_counting(opt);
  if (opt.name == "text") return make_text_task(opt);
  throw SettingError("task", "unknown task '" + opt.name + "' (flipflop, selcopy, counting, text)");
}

int64_t TokenBatch::real_tokens() const {
  int64_t n = 0;
  for (const Place& p : places) n += p.length;
  return n;
}

double TokenBatch::padding_fraction() const {
  const int64_t slots = inputs.defined() ? inputs.numel() : 0;
  return slots ? 1.0 - double(real_tokens()) / double(slots) : 0.0;
}

namespace {

int64_t input_count(const Example& e) { return int64_t(e.tokens.size()) - 1; }

void check_fits(int64_t n, int64_t L, const char* who) {
  if (n > L)
    throw std::invalid_argument(std::string(who) + ": an example of " + std::to_string(n) +
                                " inputs exceeds the length " + std::to_string(L));
}

// Rows x L of padding (token 0, unscored), and the examples written at their places.
TokenBatch fill_rows(std::span<const Example> examples, std::vector<TokenBatch::Place> places, int64_t rows, int64_t L) {
  TokenBatch b{Tensor::zeros({rows, L}, DType::i64), Tensor::zeros({rows, L}, DType::i64), Tensor::zeros({rows, L}), {},
               std::move(places)};
  int64_t* in = b.inputs.data<int64_t>();
  int64_t* tg = b.targets.data<int64_t>();
  float* m = b.mask.data<float>();
  for (size_t i = 0; i < examples.size(); ++i) {
    const Example& e = examples[i];
    const TokenBatch::Place& p = b.places[i];
    const int64_t at = p.row * L + p.offset;
    for (int64_t t = 0; t < p.length; ++t) {
      in[at + t] = e.tokens[size_t(t)];
      tg[at + t] = e.tokens[size_t(t + 1)];
      m[at + t] = e.scored[size_t(t)] ? 1.0f : 0.0f;
    }
  }
  return b;
}

}  // namespace

TokenBatch make_batch(std::span<const Example> examples, int64_t length) {
  int64_t L = length;
  if (L == 0)
    for (const Example& e : examples) L = std::max(L, input_count(e));
  std::vector<TokenBatch::Place> places;
  for (const Example& e : examples) {
    check_fits(input_count(e), L, "make_batch");
    places.push_back({int64_t(places.size()), 0, input_count(e)});
  }
  return fill_rows(examples, std::move(places), int64_t(examples.size()), L);
}

RowPlan plan_rows(std::span<const int64_t> lengths, int64_t row_length) {
  RowPlan plan;
  std::vector<int64_t> used;  // columns taken in each row
  for (const int64_t n : lengths) {
    check_fits(n, row_length, "pack_batch");
    size_t r = 0;
    while (r < used.size() && used[r] + n > row_length) ++r;
    if (r == used.size()) used.push_back(0);
    plan.row_of.push_back(int64_t(r));
    plan.offset_of.push_back(used[r]);
    used[r] += n;
  }
  plan.rows = int64_t(used.size());
  return plan;
}

TokenBatch pack_batch(std::span<const Example> examples, int64_t row_length) {
  std::vector<int64_t> lengths;
  for (const Example& e : examples) lengths.push_back(input_count(e));
  const RowPlan plan = plan_rows(lengths, row_length);
  std::vector<TokenBatch::Place> places;
  for (size_t i = 0; i < examples.size(); ++i) places.push_back({plan.row_of[i], plan.offset_of[i], lengths[i]});
  TokenBatch b = fill_rows(examples, places, plan.rows, row_length);
  // starts: each example's first column over its span; the tail of a row (padding)
  // starts where the last example ends.
  b.starts = Tensor::zeros({plan.rows, row_length}, DType::i64);
  int64_t* st = b.starts.data<int64_t>();
  std::vector<int64_t> end(size_t(plan.rows), 0);  // where each row's examples end
  for (const TokenBatch::Place& p : b.places) {
    for (int64_t t = p.offset; t < p.offset + p.length; ++t) st[p.row * row_length + t] = p.offset;
    end[size_t(p.row)] = std::max(end[size_t(p.row)], p.offset + p.length);
  }
  for (int64_t r = 0; r < plan.rows; ++r)
    for (int64_t t = end[size_t(r)]; t < row_length; ++t) st[r * row_length + t] = end[size_t(r)];
  return b;
}

Task::BatchShape smallest_shape(std::span<const int64_t> lengths, int64_t row_length) {
  const int64_t longest = lengths.empty() ? 0 : *std::max_element(lengths.begin(), lengths.end());
  const int64_t padded = longest * int64_t(lengths.size());
  const int64_t L = std::max(row_length, longest);
  const int64_t rows = plan_rows(lengths, L).rows;
  if (rows * L < padded) return {rows, L, /*packed=*/true};
  return {int64_t(lengths.size()), longest};
}

TokenBatch smallest_batch(std::span<const Example> examples, int64_t row_length) {
  std::vector<int64_t> lengths;
  for (const Example& e : examples) lengths.push_back(input_count(e));
  const Task::BatchShape shape = smallest_shape(lengths, row_length);
  return shape.packed ? pack_batch(examples, shape.length) : make_batch(examples);
}

}  // namespace mc
