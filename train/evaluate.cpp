// evaluate.cpp — evaluation of fixed example sets (evaluate.h).
#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "autograd/var.h"
#include "train/data_parallel.h"

namespace mc {

double EvalMetrics::ppl() const { return std::exp(loss); }
double EvalMetrics::bits_per_char() const { return text.chars ? loss * double(scored) / std::log(2.0) / double(text.chars) : NAN; }
double EvalMetrics::bits_per_byte() const { return text.bytes ? loss * double(scored) / std::log(2.0) / double(text.bytes) : NAN; }

namespace {

// What the scored predictions of some examples add up to.
struct ScoreSums {
  double loss = 0.0;  // the summed cross-entropy
  int64_t scored = 0, wrong_tokens = 0, wrong_examples = 0;
  int64_t shortcut_examples = 0, shortcut_wrong = 0, binding_wrong = 0;  // binding: model and shortcut wrong
};

// Adds the scored predictions of each example of batch b (at its place in the rows) to
// `sums`, from the batch's logits [R,L,V] in f64; examples are the batch's, in order,
// the first of them example `first` of its set. With `wrong`, lists the wrong ones.
void score_examples(std::span<const Example> examples, int64_t first, const TokenBatch& b, const Tensor& logits,
                    ScoreSums& sums, std::vector<WrongExample>* wrong) {
  const int64_t L = b.inputs.size(1), V = logits.size(2);
  const double* lp = logits.data<double>();
  const int64_t* tg = b.targets.data<int64_t>();
  const float* mk = b.mask.data<float>();
  for (size_t e = 0; e < b.places.size(); ++e) {
    const TokenBatch::Place& p = b.places[e];
    bool example_wrong = false;
    WrongExample listed{first + int64_t(e), 0, {}};
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
      if (arg != tg[i]) {
        ++sums.wrong_tokens, example_wrong = true;
        // input column i - (row start + offset) predicts the token one after it
        if (wrong) listed.wrong.push_back({i - p.row * L - p.offset + 1, listed.scored, tg[i], arg});
      }
      ++listed.scored;
    }
    sums.wrong_examples += example_wrong;
    if (wrong && example_wrong) wrong->push_back(std::move(listed));
    if (const int8_t shortcut = examples[e].shortcut_right; shortcut >= 0) {
      ++sums.shortcut_examples;
      sums.shortcut_wrong += shortcut == 0;
      sums.binding_wrong += shortcut == 0 && example_wrong;
    }
  }
}

double ratio(int64_t part, int64_t whole) { return whole ? double(part) / double(whole) : 0.0; }

}  // namespace

EvalMetrics evaluate(Transformer& model, const std::string& split, const std::vector<Example>& set, int64_t batch,
                     Comm* comm, std::vector<WrongExample>* wrong) {
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
    score_examples(chunk, at, b, model.forward(b.inputs, b.starts).value().to(DType::f64), sums, wrong);  // logits [R,L,V]
    m.examples += int64_t(chunk.size());
  }
  if (comm && comm->distributed()) {  // counts below 2^53 are exact in a double
    double all[8] = {sums.loss,          double(sums.scored),         double(m.examples),
                     double(sums.wrong_examples), double(sums.wrong_tokens), double(sums.shortcut_examples),
                     double(sums.shortcut_wrong), double(sums.binding_wrong)};
    comm->sum(all, 8, "summing the evaluation of split '" + split + "'");
    sums.loss = all[0], sums.scored = int64_t(all[1]), m.examples = int64_t(all[2]);
    sums.wrong_examples = int64_t(all[3]), sums.wrong_tokens = int64_t(all[4]);
    sums.shortcut_examples = int64_t(all[5]), sums.shortcut_wrong = int64_t(all[6]), sums.binding_wrong = int64_t(all[7]);
  }
  m.scored = sums.scored;
  m.loss = m.scored ? sums.loss / double(m.scored) : 0.0;
  m.error_rate = ratio(sums.wrong_examples, m.examples);
  m.token_error_rate = ratio(sums.wrong_tokens, m.scored);
  m.shortcut_examples = sums.shortcut_examples;
  m.shortcut_error_rate = ratio(sums.shortcut_wrong, sums.shortcut_examples);
  m.binding_examples = sums.shortcut_wrong;
  m.binding_error_rate = sums.shortcut_wrong ? ratio(sums.binding_wrong, sums.shortcut_wrong) : NAN;
  model.train(was_training);
  return m;
}

std::string metrics_line(const Task& task, const EvalMetrics& m, int64_t step) {
  nlohmann::json j{{"task", task.name()}, {"split", m.split}, {"step", step}, {"loss", m.loss}};
  if (task.is_text()) {
    j["ppl"] = m.ppl();
    if (m.text.chars > 0) {
      j["bits_per_char"] = m.bits_per_char();
      j["bits_per_byte"] = m.bits_per_byte();
      j["chars"] = m.text.chars;
      j["bytes"] = m.text.bytes;
      j["unk_tokens"] = m.text.unknown;
    }
    j["tokens"] = m.scored;
  } else {
    j["error_rate"] = m.error_rate;
    j["token_error_rate"] = m.token_error_rate;
    j["examples"] = m.examples;
  }
  if (m.shortcut_examples > 0) {  // null: no example where the shortcut is wrong
    j["shortcut_error_rate"] = m.shortcut_error_rate;
    j["binding_examples"] = m.binding_examples;
    j["binding_error_rate"] = m.binding_examples ? nlohmann::json(m.binding_error_rate) : nlohmann::json(nullptr);
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
      if (m.text.chars > 0) {
        std::snprintf(line, sizeof line, "; %.4f bits per character, %.4f per byte", m.bits_per_char(), m.bits_per_byte());
        out << line;
      }
      out << " (" << m.scored << " tokens";
      if (m.text.chars > 0) out << ", " << m.text.chars << " characters, " << m.text.bytes << " bytes";
      if (m.text.unknown > 0) out << ", " << m.text.unknown << " of the tokens <unk>";
      out << ")\n";
    }
    return;
  }
  const char* tok = task.name() == "flipflop" ? "read error" : "token error";
  const bool shortcut = std::any_of(ms.begin(), ms.end(), [](const EvalMetrics& m) { return m.shortcut_examples > 0; });
  std::snprintf(line, sizeof line, "%-8s %10s %12s %12s %9s", "split", "loss", "error", tok, "examples");
  out << line << (shortcut ? "     shortcut   binding (n)\n" : "\n");
  for (const EvalMetrics& m : ms) {
    std::snprintf(line, sizeof line, "%-8s %10.4f %11.2f%% %11.2f%% %9lld", m.split.c_str(), m.loss, 100 * m.error_rate,
                  100 * m.token_error_rate, (long long)m.examples);
    out << line;
    if (shortcut) {
      std::snprintf(line, sizeof line, " %11.2f%% %8.2f%% (%lld)", 100 * m.shortcut_error_rate, 100 * m.binding_error_rate,
                    (long long)m.binding_examples);
      out << line;
    }
    out << "\n";
  }
  if (shortcut)
    out << "shortcut: its error (" << task.shortcut() << "); binding: the model's error on the\n"
           "examples the shortcut gets wrong, and how many (docs/tasks.md)\n";
}

}  // namespace mc
