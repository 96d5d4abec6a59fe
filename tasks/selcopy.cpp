// selcopy.cpp — the Selective Copy task (Gu and Dao 2023).
#include "tasks/makers.h"

#include <algorithm>
#include <stdexcept>

namespace mc {

namespace {

// Tokens: "." (noise), "|" (separator), then `symbols` data tokens. data_tokens data
// tokens stand at random positions among noise_tokens noise tokens; after the separator
// the model writes the data tokens in order. The copied tokens are scored.
class SelCopy : public Task {
 public:
  explicit SelCopy(const TaskOptions& o) : opt_(o) {
    require(o.data_tokens >= 1, "data-tokens", "selcopy: --data-tokens must be at least 1");
    require(o.noise_tokens >= 2, "noise-tokens", "selcopy: --noise-tokens must be at least 2 (dense uses half)");
    require(o.symbols >= 1 && o.symbols <= 26, "symbols", "selcopy: --symbols must be between 1 and 26");
    name_ = "selcopy";
    vocab_ = {".", "|"};
    for (int64_t s = 0; s < o.symbols; ++s) vocab_.push_back(std::string(1, char('A' + s)));
  }
  int64_t context() const override { return total(2 * opt_.noise_tokens) - 1; }  // the sparse split is longest
  Example sample(Generator& g) const override { return generate(g, opt_.noise_tokens); }
  std::vector<std::string> splits() const override { return {"test", "dense", "sparse"}; }
  int64_t eval_tokens() const override {  // valid, test, dense, sparse
    return opt_.eval_size * (2 * total(opt_.noise_tokens) + total(opt_.noise_tokens / 2) + total(2 * opt_.noise_tokens));
  }
  int64_t eval_examples() const override { return 4 * opt_.eval_size; }
  std::vector<Example> eval_set(const std::string& split) const override {
    int64_t noise;
    if (split == "test" || split == "valid") noise = opt_.noise_tokens;
    else if (split == "dense") noise = opt_.noise_tokens / 2;
    else if (split == "sparse") noise = 2 * opt_.noise_tokens;
    else throw std::invalid_argument("selcopy has no split '" + split + "' (test, dense, sparse)");
    Generator g(split_seed(name_ + std::to_string(opt_.data_tokens) + "/" + std::to_string(opt_.noise_tokens), split));
    std::vector<Example> out;
    for (int64_t n = 0; n < opt_.eval_size; ++n) out.push_back(generate(g, noise));
    return out;
  }

 private:
  int64_t total(int64_t noise) const { return opt_.data_tokens + noise + 1 + opt_.data_tokens; }
  Example generate(Generator& g, int64_t noise) const {
    const int64_t n = opt_.data_tokens, span = n + noise;
    // choose n of the span positions for the data (a partial Fisher-Yates shuffle)
    std::vector<int64_t> slots(static_cast<size_t>(span));
    for (int64_t i = 0; i < span; ++i) slots[size_t(i)] = i;
    for (int64_t i = 0; i < n; ++i) std::swap(slots[size_t(i)], slots[size_t(i + int64_t(g.below(uint64_t(span - i))))]);
    std::sort(slots.begin(), slots.begin() + n);
    Example e;
    e.tokens.assign(size_t(span), 0);
    std::vector<int64_t> data;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t tok = 2 + int64_t(g.below(uint64_t(opt_.symbols)));
      e.tokens[size_t(slots[size_t(i)])] = tok;
      data.push_back(tok);
    }
    e.tokens.push_back(1);  // separator
    for (int64_t tok : data) e.tokens.push_back(tok);
    e.scored.assign(e.tokens.size() - 1, 0);
    for (int64_t i = 0; i < n; ++i) e.scored[size_t(span + i)] = 1;  // the separator predicts the first, ...
    return e;
  }
  TaskOptions opt_;
};

}  // namespace

std::unique_ptr<Task> make_selcopy(const TaskOptions& opt) { return std::make_unique<SelCopy>(opt); }

}  // namespace mc
