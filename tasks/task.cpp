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

TokenBatch make_batch(std::span<const Example> examples, int64_t length) {
  const int64_t B = int64_t(examples.size());
  int64_t L = length;
  if (L == 0)
    for (const Example& e : examples) L = std::max(L, int64_t(e.tokens.size()) - 1);
  TokenBatch b{Tensor::zeros({B, L}, DType::i64), Tensor::zeros({B, L}, DType::i64), Tensor::zeros({B, L})};
  int64_t* in = b.inputs.data<int64_t>();
  int64_t* tg = b.targets.data<int64_t>();
  float* m = b.mask.data<float>();
  for (int64_t i = 0; i < B; ++i) {
    const Example& e = examples[size_t(i)];
    const int64_t n = int64_t(e.tokens.size()) - 1;
    if (n > L) throw std::invalid_argument("make_batch: an example of " + std::to_string(n) + " inputs exceeds the length " + std::to_string(L));
    for (int64_t t = 0; t < n; ++t) {
      in[i * L + t] = e.tokens[size_t(t)];
      tg[i * L + t] = e.tokens[size_t(t + 1)];
      m[i * L + t] = e.scored[size_t(t)] ? 1.0f : 0.0f;
    }
  }
  return b;
}

}  // namespace mc
