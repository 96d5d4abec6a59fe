// cmd_bench.cpp — `minicope bench`: times whole training steps (forward, backward,
// clipping, AdamW) of a model on random tokens. docs/benchmarks.md gives the FLOP count.
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
ModelConfig bench_model(const cxxopts::ParseResult& r) {
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
  m.vocab = r.count("vocab") ? flag_int(r, "vocab", 1, 1 << 24) : 65;
  if (m.seq < 1) throw UsageError("--seq must be at least 1");

  return m;
}

// Milliseconds of each of `steps` training steps (after `warm` untimed ones) on random
// tokens: forward, backward, clipping, AdamW.
std::vector<double> time_steps(const ModelConfig& m, int64_t B, int64_t warm, int64_t steps, int64_t& parameters) {
  Transformer model(m, 1);
  AdamW adam(model.named_parameters(), model.decay_flags(), OptimConfig{});
  Generator g(2);
  std::vector<int64_t> ids(size_t(B * m.seq)), next(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(g.below(uint64_t(m.vocab))), next[i] = int64_t(g.below(uint64_t(m.vocab)));
  const Tensor inputs = Tensor::indices(ids, {B, m.seq}), targets = Tensor::indices(next, {B, m.seq});
  std::vector<double> ms;
  for (int64_t s = 0; s < warm + steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grad();
    Var loss = cross_entropy(model.forward(inputs), targets);
    loss.backward();
    adam.clip_gradients();
    adam.step(1e-4);
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= warm) ms.push_back(dt);
  }
  parameters = model.parameter_count();
  return ms;
}

// The median step, tokens/s, GFLOP/s and the peak memory, as a line or as JSON.
void report_steps(std::ostream& out, const ModelConfig& m, int64_t B, int64_t steps, std::vector<double> ms,
                  int64_t parameters, bool json) {
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  const double tokens = double(B * m.seq);
  const double tps = tokens / (median / 1000);
  const double gflops = step_flops_per_token(m) * tokens / (median / 1000) / 1e9;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_mb = double(ru.ru_maxrss) / 1024.0;
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
  const ModelConfig m = bench_model(r);
  const int64_t B = r.count("batch") ? flag_int(r, "batch", 1, 1 << 20) : 16;
  const int64_t steps = r.count("steps") ? flag_int(r, "steps", 1, 1 << 20) : 10;
  const int64_t warm = r.count("warmup-steps") ? flag_int(r, "warmup-steps", 0, 1 << 20) : 2;
  try {
    m.validate();
  } catch (const ConfigError& e) {
    throw setting_error(e);
  }
  int64_t parameters = 0;
  std::vector<double> ms = time_steps(m, B, warm, steps, parameters);
  report_steps(out, m, B, steps, std::move(ms), parameters, r.count("json") > 0);
  (void)err;
  return 0;
}

}  // namespace mc
