// flipflop.cpp — the Flip-Flop task (Liu et al. 2023).
#include "tasks/makers.h"

#include <stdexcept>

namespace mc {

namespace {

// Tokens w r i 0 1. A sequence is length/2 instruction/bit pairs; the first instruction
// is w, the last r, the others w, r or i with p(i) = p_i, p(w) = p(r) = (1 - p_i)/2. The
// bit after w or i is uniform; the bit after r repeats the bit of the latest w. Only the
// bits after r are scored.
class FlipFlop : public Task {
 public:
  enum : int64_t { W = 0, R = 1, I = 2, ZERO = 3, ONE = 4 };
  explicit FlipFlop(const TaskOptions& o) : opt_(o) {
    require(o.length >= 4 && o.length % 2 == 0, "length", "flipflop: --length must be even and at least 4, got " + std::to_string(o.length));
    if (!(o.p_ignore >= 0 && o.p_ignore < 1)) throw std::invalid_argument("flipflop: p_ignore must be in [0, 1)");  // not a setting
    name_ = "flipflop";
    vocab_ = {"w", "r", "i", "0", "1"};
  }
  int64_t context() const override { return opt_.length - 1; }
  Example sample(Generator& g) const override { return generate(g, opt_.p_ignore); }
  std::vector<std::string> splits() const override { return {"test", "sparse", "dense"}; }
  int64_t eval_tokens() const override { return 4 * opt_.eval_size * opt_.length; }
  int64_t eval_examples() const override { return 4 * opt_.eval_size; }
  std::vector<Example> eval_set(const std::string& split) const override {
    double p;
    if (split == "test" || split == "valid") p = opt_.p_ignore;
    else if (split == "sparse") p = 0.98;
    else if (split == "dense") p = 0.1;
    else throw std::invalid_argument("flipflop has no split '" + split + "' (test, sparse, dense)");
    Generator g(split_seed(name_ + std::to_string(opt_.length), split));
    std::vector<Example> out;
    for (int64_t n = 0; n < opt_.eval_size; ++n) out.push_back(generate(g, p));
    return out;
  }

 private:
  Example generate(Generator& g, double p_i) const {
    Example e;
    const int64_t pairs = opt_.length / 2;
    int64_t memory = 0;
    for (int64_t k = 0; k < pairs; ++k) {
      int64_t op;
      if (k == 0) op = W;
      else if (k == pairs - 1) op = R;
      else {
        const double u = g.uniform();
        op = u < p_i ? I : u < p_i + (1 - p_i) / 2 ? W : R;
      }
      const int64_t bit = op == R ? memory : static_cast<int64_t>(g.below(2));
      if (op == W) memory = bit;
      e.tokens.push_back(op);
      e.tokens.push_back(ZERO + bit);
    }
    e.scored.assign(e.tokens.size() - 1, 0);
    for (size_t t = 0; t + 1 < e.tokens.size(); ++t) e.scored[t] = e.tokens[t] == R ? 1 : 0;
    return e;
  }
  TaskOptions opt_;
};

}  // namespace

std::unique_ptr<Task> make_flipflop(const TaskOptions& opt) { return std::make_unique<FlipFlop>(opt); }

}  // namespace mc
