// cmd_bench.cpp — `minicope bench`: times whole training steps (forward, backward,
// clipping, AdamW) of a model on random tokens, or (--task counting) on real Counting
// programs, packed or padded, against fixed-length batches of their mean length.
// docs/benchmarks.md gives the FLOP count.
#include <algorithm>
#include <chrono>
#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include "nn/transformer.h"
#include "tensor/blas.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "optim/optim.h"
#include "config/run_config.h"
#include "tasks/task.h"

namespace mc {

namespace {

// Model FLOPs of one training step per token: 6 per parameter in the matrix products
// (2 forward, 4 backward) plus attention's two L x L products per layer, counted over
// the causal half: 6 * layers * L * C. Position-encoding extras (CoPE's gates and q·e)
// are not counted: every pe is measured against the same useful work.
double step_flops_per_token(const ModelConfig& c) {
  const double C = double(c.dim), L = double(c.seq), V = double(c.vocab);
  const double per_layer = 4 * C * C + 2 * double(c.mlp_ratio) * C * C;  // q, k, v, out; fc1, fc2
  const double matrix_params = double(c.layers) * per_layer + V * C;       // + the output projection
  return 6 * matrix_params + 6 * double(c.layers) * L * C;
}

// --gemm N: one product through minicope's matmul (OpenBLAS single-threaded per row
// block, TBB across blocks), and one plain sgemm call on this thread: the medians of 10.
void bench_gemm(const cxxopts::ParseResult& r, std::ostream& out) {
  const int64_t n = flag_int(r, "gemm", 16, 1 << 14);
  Generator g(3);
  const Tensor a = Tensor::normal({n, n}, 0, 1, g), b = Tensor::normal({n, n}, 0, 1, g);
  Tensor c({n, n}, DType::f32);
  auto time_it = [&](auto&& f) {
    std::vector<double> t;
    for (int i = 0; i < 12; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      if (i >= 2) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return 2.0 * double(n) * double(n) * double(n) / t[t.size() / 2] / 1e9;
  };
  const double tbb = time_it([&] { matmul_acc(c, a, b, false, false, 1.0, 0.0); });
  const double one = time_it([&] {
    gemm<float>(false, false, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f, c.data<float>(), n);
  });
  if (r.count("json"))
    out << nlohmann::json{{"gemm", n}, {"gflops_matmul", tbb}, {"gflops_one_thread", one}}.dump() << "\n";
  else
    out << "sgemm " << n << "^3: " << tbb << " GFLOP/s through matmul (all threads), " << one
        << " GFLOP/s in one OpenBLAS call on one thread\n";
}

// The model of --pe, --layers, ... (the G1 configuration of docs/benchmarks.md by
// default); not yet validated.
// seq_from_task: --seq 0 means the task's context, set by the caller.
ModelConfig bench_model(const cxxopts::ParseResult& r, bool seq_from_task = false) {
  RunConfig cfg;
  cfg.model.layers = 4;
  cfg.model.dim = 256;
  cfg.model.heads = 4;
  cfg.model.seq = 256;
  cfg.model.pe = "cope";
  for (const Setting& s : settings())
    if (s.group == "model" && r.count(s.name)) {
      apply_setting(cfg, s, parse_flag_value(s, r[s.name].as<std::string>()), "--" + s.name);
    }
  ModelConfig m = cfg.model;
  if (m.init_scheme == "auto") m.init_scheme = "gpt2";  // timing only: the draw does not change the work
  m.vocab = r.count("vocab") ? flag_int(r, "vocab", 1, 1 << 24) : 65;
  if (m.seq < 1 && !seq_from_task) throw UsageError("--seq must be at least 1");

  return m;
}

// Random tokens: B rows of L, every prediction counted (no mask).
TokenBatch random_batch(const ModelConfig& m, int64_t B, int64_t L) {
  Generator g(2);
  std::vector<int64_t> ids(size_t(B * L)), next(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(g.below(uint64_t(m.vocab))), next[i] = int64_t(g.below(uint64_t(m.vocab)));
  TokenBatch b;
  b.inputs = Tensor::indices(ids, {B, L});
  b.targets = Tensor::indices(next, {B, L});
  return b;
}

// Milliseconds of each of `steps` training steps (after `warm` untimed ones), step s on
// batches[s % size] (packed ones with their starts): forward, backward, clipping, AdamW.
std::vector<double> time_steps(const ModelConfig& m, const std::vector<TokenBatch>& batches, int64_t warm, int64_t steps,
                               int64_t& parameters) {
  Transformer model(m, 1);
  AdamW adam(model.named_parameters(), model.decay_flags(), OptimConfig{});
  std::vector<double> ms;
  for (int64_t s = 0; s < warm + steps; ++s) {
    const TokenBatch& b = batches[size_t(s) % batches.size()];
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grad();
    const Var logits = model.forward(b.inputs, b.starts);
    Var loss = b.mask.defined() ? cross_entropy(logits, b.targets, b.mask) : cross_entropy(logits, b.targets);
    loss.backward();
    adam.clip_gradients();
    adam.step(1e-4);
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= warm) ms.push_back(dt);
  }
  parameters = model.parameter_count();
  return ms;
}

double median_of(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs.size() % 2 ? xs[xs.size() / 2] : (xs[xs.size() / 2 - 1] + xs[xs.size() / 2]) / 2;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

// The median step, tokens/s, GFLOP/s and the peak memory, as a line or as JSON.
void report_steps(std::ostream& out, const ModelConfig& m, int64_t B, int64_t steps, std::vector<double> ms,
                  int64_t parameters, bool json) {
  std::sort(ms.begin(), ms.end());
  const double median = median_of(ms);
  const double tokens = double(B * m.seq);
  const double tps = tokens / (median / 1000);
  const double gflops = step_flops_per_token(m) * tokens / (median / 1000) / 1e9;
  const double peak_mb = peak_rss_mb();
  if (json) {
    out << nlohmann::json{{"pe", m.pe}, {"layers", m.layers}, {"dim", m.dim}, {"heads", m.heads}, {"seq", m.seq},
                          {"batch", B}, {"vocab", m.vocab}, {"steps", steps}, {"ms_per_step", median},
                          {"min_ms", ms.front()}, {"max_ms", ms.back()}, {"tokens_per_s", tps}, {"gflops", gflops},
                          {"peak_rss_mb", peak_mb}, {"parameters", parameters}}.dump()
        << "\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof line,
                  "%s, %lld layers, width %lld, %lld heads, context %lld, batch %lld: median %.1f ms/step (min %.1f, max %.1f "
                  "over %lld steps), %.0f tokens/s, %.2f GFLOP/s, peak RSS %.0f MB\n",
                  m.pe.c_str(), (long long)m.layers, (long long)m.dim, (long long)m.heads, (long long)m.seq, (long long)B, median,
                  ms.front(), ms.back(), (long long)steps, tps, gflops, peak_mb);
    out << line;
  }
}

// --task counting: batches of real Counting programs, packed into rows of the model's
// context (--packed false: padded to their longest), timed like the random batches;
// then the same model on fixed-length batches of the programs' mean length.
struct CountingBench {
  std::vector<TokenBatch> batches;  // the ones timed (packed or padded)
  double padded_padding = 0, packed_padding = 0;  // fractions of all the batches' slots
  int64_t real_tokens = 0, examples = 0, longest = 0;
  double mean_length() const { return double(real_tokens) / double(std::max<int64_t>(1, examples)); }
};

CountingBench counting_batches(const Task& task, int64_t B, int64_t count, int64_t row_length, bool packed) {
  CountingBench c;
  Generator g(2);
  int64_t padded_slots = 0, packed_slots = 0;
  for (int64_t n = 0; n < count; ++n) {
    std::vector<Example> xs;
    for (int64_t i = 0; i < B; ++i) xs.push_back(task.sample(g));
    TokenBatch padded = make_batch(xs), rows = pack_batch(xs, row_length);
    c.real_tokens += rows.real_tokens(), c.examples += B, c.longest = std::max(c.longest, padded.inputs.size(1));
    padded_slots += padded.inputs.numel(), packed_slots += rows.inputs.numel();
    c.batches.push_back(packed ? std::move(rows) : std::move(padded));
  }
  c.padded_padding = 1.0 - double(c.real_tokens) / double(padded_slots);
  c.packed_padding = 1.0 - double(c.real_tokens) / double(packed_slots);
  return c;
}

void bench_counting(const cxxopts::ParseResult& r, ModelConfig m, int64_t B, int64_t warm, int64_t steps, std::ostream& out) {
  TaskOptions o;
  o.name = "counting";
  if (r.count("max-steps")) o.max_steps = flag_int(r, "max-steps", 3, 1 << 16);
  if (r.count("vars")) o.vars = flag_int(r, "vars", 1, 26);
  const std::unique_ptr<Task> task = make_task(o);
  m.vocab = int64_t(task->vocab().size());
  if (!r.count("seq") || m.seq == 0) m.seq = task->context();
  if (m.seq < task->context())
    throw UsageError("--seq " + std::to_string(m.seq) + " is shorter than the longest Counting program of --max-steps " +
                     std::to_string(o.max_steps) + " (" + std::to_string(task->context()) + " inputs)");
  try {
    m.validate();
  } catch (const ConfigError& e) {
    throw setting_error(e);
  }
  const bool packed = r.count("packed") ? flag_bool(r, "packed") : true;
  const CountingBench c = counting_batches(*task, B, warm + steps, m.seq, packed);
  int64_t parameters = 0;
  const std::vector<double> ms = time_steps(m, c.batches, warm, steps, parameters);
  double seconds = 0, rows = 0;
  int64_t real = 0;
  for (int64_t s = warm; s < warm + steps; ++s)
    seconds += ms[size_t(s - warm)] / 1000, real += c.batches[size_t(s)].real_tokens(), rows += double(c.batches[size_t(s)].inputs.size(0));
  const double real_tps = double(real) / seconds;
  const int64_t mean = std::max<int64_t>(1, int64_t(std::llround(c.mean_length())));
  const double fixed_ms = median_of(time_steps(m, {random_batch(m, B, mean)}, warm, steps, parameters));
  const double fixed_tps = double(B * mean) / (fixed_ms / 1000);
  const std::string kind = packed ? "packed" : "padded";
  if (r.count("json")) {
    out << nlohmann::json{{"task", "counting"}, {"max_steps", o.max_steps}, {"vars", o.vars}, {"pe", m.pe},
                          {"layers", m.layers}, {"dim", m.dim}, {"heads", m.heads}, {"seq", m.seq}, {"batch", B},
                          {"steps", steps}, {"batches", kind}, {"ms_per_step", median_of(ms)}, {"rows_per_step", rows / double(steps)},
                          {"real_tokens_per_s", real_tps}, {"padding_padded", c.padded_padding},
                          {"padding_packed", c.packed_padding}, {"mean_length", c.mean_length()}, {"longest", c.longest},
                          {"fixed_ms_per_step", fixed_ms}, {"fixed_tokens_per_s", fixed_tps},
                          {"real_over_fixed", real_tps / fixed_tps}, {"peak_rss_mb", peak_rss_mb()},
                          {"parameters", parameters}}.dump()
        << "\n";
    return;
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "counting (3..%lld statements, %lld variables), %s, %lld layers, width %lld, %lld heads, context %lld, batch %lld\n"
                "  %s batches: median %.1f ms/step (%.1f rows a step, %s %lld), %.0f real tokens/s over %lld steps\n"
                "  padding: %.1f%% of padded batches' slots, %.1f%% of packed ones' (programs: mean %.1f inputs, longest %lld)\n"
                "  fixed-length batches of the mean length (%lld x %lld): median %.1f ms/step, %.0f tokens/s\n"
                "  real tokens/s = %.1f%% of fixed-length tokens/s; peak RSS %.0f MB\n",
                (long long)o.max_steps, (long long)o.vars, m.pe.c_str(), (long long)m.layers, (long long)m.dim,
                (long long)m.heads, (long long)m.seq, (long long)B, kind.c_str(), median_of(ms), rows / double(steps),
                packed ? "each of" : "padded to their longest, at most", (long long)(packed ? m.seq : c.longest), real_tps, (long long)steps, 100 * c.padded_padding,
                100 * c.packed_padding, c.mean_length(), (long long)c.longest, (long long)B, (long long)mean, fixed_ms,
                fixed_tps, 100 * real_tps / fixed_tps, peak_rss_mb());
  out << line;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("minicope bench",
                           "Times training steps (forward, backward, AdamW) on random tokens after warm-up steps,\n"
                           "and prints the median time per step, tokens/s, model GFLOP/s and the peak memory.");
  options.add_options()("vocab", "vocabulary size (default 65)", cxxopts::value<std::string>())(
      "batch", "sequences per step (default 16)", cxxopts::value<std::string>())(
      "steps", "timed steps (default 10)", cxxopts::value<std::string>())(
      "warmup-steps", "untimed steps first (default 2)", cxxopts::value<std::string>())(
      "gemm", "instead: time an N x N x N f32 matrix product (the machine's sgemm speed)", cxxopts::value<std::string>())(
      "task", "instead of random tokens: 'counting', batches of real Counting programs (uneven lengths)",
      cxxopts::value<std::string>())("max-steps", "counting: at most this many statements (default 16)",
                                      cxxopts::value<std::string>())(
      "vars", "counting: variables (default 3)", cxxopts::value<std::string>())(
      "packed", "counting: pack the programs into rows of the context (default true; false: pad each to the longest)",
      cxxopts::value<std::string>()->implicit_value("true"))(
      "json", "one JSON object");
  for (const Setting& s : settings()) {
    if (s.group != "model") continue;
    auto value = cxxopts::value<std::string>();
    if (s.kind == "bool") value->implicit_value("true");
    options.add_options("model")(s.name, s.help, value);
  }
  ParsedArgs p = parse_args(options, args);
  if (p.help) {
    out << options.help({"", "model", "common"});
    return 0;
  }
  const auto& r = *p.result;
  if (r.count("gemm")) {
    bench_gemm(r, out);
    return 0;
  }
  const int64_t B = r.count("batch") ? flag_int(r, "batch", 1, 1 << 20) : 16;
  const int64_t steps = r.count("steps") ? flag_int(r, "steps", 1, 1 << 20) : 10;
  const int64_t warm = r.count("warmup-steps") ? flag_int(r, "warmup-steps", 0, 1 << 20) : 2;
  const bool counting = r.count("task") && r["task"].as<std::string>() == "counting";
  if (r.count("task") && !counting)
    throw UsageError("--task expects counting (the one task of uneven lengths), got '" + r["task"].as<std::string>() + "'");
  for (const char* flag : {"max-steps", "vars", "packed"})
    if (!counting && r.count(flag)) throw UsageError(std::string("--") + flag + " needs --task counting");
  if (counting) {
    bench_counting(r, bench_model(r, /*seq_from_task=*/true), B, warm, steps, out);
    return 0;
  }
  const ModelConfig m = bench_model(r);
  try {
    m.validate();
  } catch (const ConfigError& e) {
    throw setting_error(e);
  }
  int64_t parameters = 0;
  std::vector<double> ms = time_steps(m, {random_batch(m, B, m.seq)}, warm, steps, parameters);
  report_steps(out, m, B, steps, std::move(ms), parameters, r.count("json") > 0);
  (void)err;
  return 0;
}

}  // namespace mc
