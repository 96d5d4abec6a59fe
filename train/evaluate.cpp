// evaluate.cpp — evaluation of fixed example sets (evaluate.h).
#include "train/evaluate.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "autograd/var.h"
#include "train/data_parallel.h"

namespace mc {

double EvalMetrics::ppl() const { return std::exp(loss); }
double EvalMetrics::bits() const { return loss / std::log(2.0); }

namespace {

// What the scored predictions of some examples add up to.
struct ScoreSums {
  double loss = 0.0;  // the summed cross-entropy
  int64_t scored = 0, wrong_tokens = 0, wrong_examples = 0;
};

// Adds the scored predictions of each example of batch b (at its place in the rows) to
// `sums`, from the batch's logits [R,L,V] in f64.
void score_examples(const TokenBatch& b, const Tensor& logits, ScoreSums& sums) {
  const int64_t L = b.inputs.size(1), V = logits.size(2);
  const double* lp = logits.data<double>();
  const int64_t* tg = b.targets.data<int64_t>();
  const float* mk = b.mask.data<float>();
  for (const TokenBatch::Place& p : b.places) {
    bool example_wrong = false;
    for (int64_t i = p.row * L + p.offset; i < p.row * L + p.offset + p.length; ++i) {
      if (mk[i] == 0.0f) continue;
      const double* row = lp + i * V;
      int64_t arg = 0;
      double mx = row[0];
      for (int64_t v = 1; v < V; ++v)
        if (row[v] > mx) mx = row[v], arg = v;
      double se = 0.0;
      for (int64_t v = 0; v < V; ++v) se += std::exp(row[v] - mx);
      sums.loss += mx + std::log(se) - row[tg[i]];
      ++sums.scored;
      if (arg != tg[i]) ++sums.wrong_tokens, example_wrong = true;
    }
    sums.wrong_examples += example_wrong;
  }
}

}  // namespace

EvalMetrics evaluate(Transformer& model, const std::string& split, const std::vector<Example>& set, int64_t batch,
                     Comm* comm) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  EvalMetrics m;
  m.split = split;
  ScoreSums sums;
  // Several ranks: each scores its own contiguous share of the set; the sums are summed.
  // Each chunk of `batch` examples is packed into rows of the model's context where that
  // is smaller than padding (tasks/task.h, smallest_batch).
  const auto [lo, hi] = comm ? shard(int64_t(set.size()), *comm) : std::pair<int64_t, int64_t>{0, int64_t(set.size())};
  for (int64_t at = lo; at < hi; at += batch) {
    const auto chunk = std::span<const Example>(set).subspan(size_t(at), size_t(std::min(hi, at + batch) - at));
    const TokenBatch b = smallest_batch(chunk, model.config().seq);
    score_examples(b, model.forward(b.inputs, b.starts).value().to(DType::f64), sums);  // logits [R,L,V]
    m.examples += int64_t(chunk.size());
  }
  if (comm && comm->distributed()) {  // counts below 2^53 are exact in a double
    double all[5] = {sums.loss, double(sums.scored), double(m.examples), double(sums.wrong_examples), double(sums.wrong_tokens)};
    comm->sum(all, 5, "summing the evaluation of split '" + split + "'");
    sums.loss = all[0], sums.scored = int64_t(all[1]), m.examples = int64_t(all[2]);
    sums.wrong_examples = int64_t(all[3]), sums.wrong_tokens = int64_t(all[4]);
  }
  m.scored = sums.scored;
  m.loss = m.scored ? sums.loss / double(m.scored) : 0.0;
  m.error_rate = m.examples ? double(sums.wrong_examples) / double(m.examples) : 0.0;
  m.token_error_rate = m.scored ? double(sums.wrong_tokens) / double(m.scored) : 0.0;
  model.train(was_training);
  return m;
}

std::string metrics_line(const Task& task, const EvalMetrics& m, int64_t step) {
  nlohmann::json j{{"task", task.name()}, {"split", m.split}, {"step", step}, {"loss", m.loss}};
  if (task.is_text()) {
    j["ppl"] = m.ppl();
    if (!m.unit.empty()) j["bits_per_" + m.unit] = m.bits();
    j["tokens"] = m.scored;
  } else {
    j["error_rate"] = m.error_rate;
    j["token_error_rate"] = m.token_error_rate;
    j["examples"] = m.examples;
  }
  return j.dump();
}

void print_metrics(std::ostream& out, const Task& task, const std::vector<EvalMetrics>& ms, bool json, int64_t step) {
  if (json) {
    for (const EvalMetrics& m : ms) out << metrics_line(task, m, step) << "\n";
    return;
  }
  char line[160];
  if (task.is_text()) {
    for (const EvalMetrics& m : ms) {
      std::snprintf(line, sizeof line, "%s: loss %.4f nats/token, perplexity %.3f", m.split.c_str(), m.loss, m.ppl());
      out << line;
      if (!m.unit.empty()) {
        std::snprintf(line, sizeof line, ", %.4f bits per %s", m.bits(), m.unit.c_str());
        out << line;
      }
      out << " (" << m.scored << " tokens)\n";
    }
    return;
  }
  const char* tok = task.name() == "flipflop" ? "read error" : "token error";
  std::snprintf(line, sizeof line, "%-8s %10s %12s %12s %9s\n", "split", "loss", "error", tok, "examples");
  out << line;
  for (const EvalMetrics& m : ms) {
    std::snprintf(line, sizeof line, "%-8s %10.4f %11.2f%% %11.2f%% %9lld\n", m.split.c_str(), m.loss, 100 * m.error_rate,
                  100 * m.token_error_rate, (long long)m.examples);
    out << line;
  }
}

}  // namespace mc
