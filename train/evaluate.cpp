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

EvalMetrics evaluate(Transformer& model, const std::string& split, const std::vector<Example>& set, int64_t batch,
                     Comm* comm) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  EvalMetrics m;
  m.split = split;
  double loss_sum = 0.0;
  int64_t wrong_seq = 0, wrong_tok = 0;
  // Several ranks: each scores its own contiguous share of the set; the sums are summed.
  const auto [lo, hi] = comm ? shard(int64_t(set.size()), *comm) : std::pair<int64_t, int64_t>{0, int64_t(set.size())};
  for (int64_t at = lo; at < hi; at += batch) {
    const TokenBatch b = make_batch(std::span<const Example>(set).subspan(size_t(at), size_t(std::min(hi, at + batch) - at)));
    const Tensor logits = model.forward(b.inputs).value().to(DType::f64);  // [B,L,V]
    const int64_t B = b.inputs.size(0), L = b.inputs.size(1), V = logits.size(2);
    const double* lp = logits.data<double>();
    const int64_t* tg = b.targets.data<int64_t>();
    const float* mk = b.mask.data<float>();
    for (int64_t i = 0; i < B; ++i) {
      bool seq_wrong = false;
      for (int64_t t = 0; t < L; ++t) {
        if (mk[i * L + t] == 0.0f) continue;
        const double* row = lp + (i * L + t) * V;
        int64_t arg = 0;
        double mx = row[0];
        for (int64_t v = 1; v < V; ++v)
          if (row[v] > mx) mx = row[v], arg = v;
        double se = 0.0;
        for (int64_t v = 0; v < V; ++v) se += std::exp(row[v] - mx);
        loss_sum += mx + std::log(se) - row[tg[i * L + t]];
        ++m.scored;
        if (arg != tg[i * L + t]) ++wrong_tok, seq_wrong = true;
      }
      wrong_seq += seq_wrong;
    }
    m.examples += B;
  }
  if (comm && comm->distributed()) {  // counts below 2^53 are exact in a double
    double sums[5] = {loss_sum, double(m.scored), double(m.examples), double(wrong_seq), double(wrong_tok)};
    comm->sum(sums, 5, "summing the evaluation of split '" + split + "'");
    loss_sum = sums[0], m.scored = int64_t(sums[1]), m.examples = int64_t(sums[2]);
    wrong_seq = int64_t(sums[3]), wrong_tok = int64_t(sums[4]);
  }
  m.loss = m.scored ? loss_sum / double(m.scored) : 0.0;
  m.error_rate = m.examples ? double(wrong_seq) / double(m.examples) : 0.0;
  m.token_error_rate = m.scored ? double(wrong_tok) / double(m.scored) : 0.0;
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
