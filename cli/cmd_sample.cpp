// cmd_sample.cpp — `minicope sample`: text from a text run's checkpoint, with a
// key/value cache (nn/cached.cpp says what is cached and what is recomputed).
#include <cmath>
#include <cxxopts.hpp>
#include <iostream>

#include "cli/cli.h"
#include "cli/commands.h"
#include "tasks/tokenizer.h"
#include "train/run_checkpoint.h"

namespace mc {

namespace {

// Draws a token from logits / temperature, restricted to the top_k most likely
// (0: all). temperature 0 takes the most likely token.
int64_t draw(const double* logits, int64_t V, double temperature, int64_t top_k, Generator& g) {
  std::vector<int64_t> order(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; ++i) order[size_t(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  if (temperature == 0.0) return order[0];
  const int64_t keep = top_k > 0 ? std::min(top_k, V) : V;
  std::vector<double> p(static_cast<size_t>(keep));
  double sum = 0.0;
  for (int64_t i = 0; i < keep; ++i) sum += p[size_t(i)] = std::exp((logits[order[size_t(i)]] - logits[order[0]]) / temperature);
  double u = g.uniform() * sum;
  for (int64_t i = 0; i < keep; ++i)
    if ((u -= p[size_t(i)]) < 0) return order[size_t(i)];
  return order[size_t(keep - 1)];
}

}  // namespace

int cmd_sample(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("minicope sample",
                           "Generates text from a text run's checkpoint, a token at a time with a key/value cache.\n"
                           "When the context is full (the training context by default) the oldest half is dropped\n"
                           "and the cache is rebuilt from the rest.");
  options.add_options()("ckpt", "run folder or .safetensors file", cxxopts::value<std::string>())(
      "prompt", "text to start from (default: a newline, or the first token)", cxxopts::value<std::string>())(
      "tokens", "tokens to generate (default 200)", cxxopts::value<std::string>())(
      "temperature", "divides the logits; 0 takes the most likely token (default 1)", cxxopts::value<std::string>())(
      "top-k", "draw among the k most likely tokens (default 0: all)", cxxopts::value<std::string>())(
      "context", "the longest context kept (default: the training context; not above it for abs)", cxxopts::value<std::string>())(
      "seed", "seed of the draws (default 1)", cxxopts::value<std::string>());
  ParsedArgs p = parse_args(options, args);
  if (p.help) {
    out << options.help();
    return 0;
  }
  const auto& r = *p.result;
  const int64_t n_tokens = r.count("tokens") ? flag_int(r, "tokens", 0, 1 << 24) : 200;
  const int64_t top_k = r.count("top-k") ? flag_int(r, "top-k", 0, 1 << 24) : 0;
  const int64_t seed = r.count("seed") ? flag_int(r, "seed", 0, INT64_MAX) : 1;
  double temperature = 1.0;
  if (r.count("temperature")) {
    const std::string t = r["temperature"].as<std::string>();
    size_t used = 0;
    try {
      if (!t.empty() && !std::isspace(static_cast<unsigned char>(t[0]))) temperature = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != t.size() || !(temperature >= 0 && temperature <= 100))
      throw UsageError("--temperature must be a number in [0, 100], got '" + t + "'");
  }
  const std::string ckpt = r.count("ckpt") ? r["ckpt"].as<std::string>() : "";
  LoadedRun run = load_run_flag(r.count("ckpt") ? &ckpt : nullptr, 0, /*with_task=*/false);
  if (run.cfg.task.name != "text")
    throw UsageError("sample needs a text run; " + ckpt + " is a " + run.cfg.task.name + " run (use eval)");
  const Tokenizer tok = Tokenizer::from_tokens(run.cfg.task.tokenizer, run.cfg.task.vocab, run.cfg.task.tokenizer_model);
  const int64_t seq = run.cfg.model.seq;
  int64_t window = r.count("context") ? flag_int(r, "context", 2, 1 << 20) : seq;
  if (run.cfg.model.pe == "abs" && window > seq)
    throw UsageError("--context " + std::to_string(window) + ": abs position embeddings cover only " + std::to_string(seq) + " positions");

  const std::string prompt = r.count("prompt") ? r["prompt"].as<std::string>() : std::string();
  if (is_subword(tok.kind()) && !is_valid_utf8(prompt))
    throw UsageError("--prompt is not UTF-8 (a " + tok.kind() + " run reads UTF-8 text)");
  std::vector<int64_t> ids = tok.encode(prompt);
  if (ids.empty()) ids = tok.encode("\n");
  if (ids.empty()) ids = {0};
  if (int64_t(ids.size()) > window) ids.erase(ids.begin(), ids.end() - window);
  out << tok.decode(ids) << std::flush;

  Transformer& model = *run.model;
  model.eval();
  Generator g{static_cast<uint64_t>(seed)};
  KVCache cache;
  std::vector<int64_t> context = ids;  // the tokens the cache holds
  Tensor logits = model.forward_cached(Tensor::indices(context, {1, int64_t(context.size())}), cache).to(DType::f64);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t V = logits.size(2), last = logits.size(1) - 1;
    const int64_t next = draw(logits.data<double>() + last * V, V, temperature, top_k, g);
    out << tok.piece(next, context.back()) << std::flush;
    if (!out) break;  // the reader is gone: stop (run_cli reports the failed write)
    context.push_back(next);
    if (int64_t(context.size()) > window) {  // full: keep the newest half, rebuild the cache
      context.erase(context.begin(), context.end() - window / 2);
      cache = KVCache{};
      logits = model.forward_cached(Tensor::indices(context, {1, int64_t(context.size())}), cache).to(DType::f64);
    } else {
      logits = model.forward_cached(Tensor::indices({next}, {1, 1}), cache).to(DType::f64);
    }
  }
  out << "\n";
  (void)err;
  return 0;
}

}  // namespace mc
