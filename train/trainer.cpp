// trainer.cpp — the training loop, evaluation, checkpoints of a run.
#include "train/trainer.h"

#include "train/cli.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <unistd.h>

namespace mc {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "minicope-run";
constexpr const char* kFormatVersion = "2";  // 2: with checksums

// ---- checkpoints ---------------------------------------------------------------------------
// Tensors: every parameter under its module name, then "optim.m.NAME" and "optim.v.NAME".
// Metadata: format, format_version, config (JSON), step, optim_steps, rng_data,
// rng_dropout, best_error, best_loss, best_step, task, vocab (JSON list), and the
// checksums that save_safetensors adds.
struct RunState {
  int64_t step = 0;
  double best_error = INFINITY, best_loss = INFINITY;
  int64_t best_step = -1;
  Generator data_rng;
};

void save_run(const std::string& path, const RunConfig& cfg, const Task& task, Transformer& model, AdamW& opt,
              const RunState& st) {
  TensorFile f;
  for (const auto& [name, p] : model.named_parameters()) f.tensors.emplace_back(name, p.value());
  for (size_t k = 0; k < opt.params().size(); ++k) {
    f.tensors.emplace_back("optim.m." + opt.params()[k].first, opt.m()[k]);
    f.tensors.emplace_back("optim.v." + opt.params()[k].first, opt.v()[k]);
  }
  auto num = [](double x) {
    std::ostringstream os;
    os << std::setprecision(17) << x;
    return os.str();
  };
  f.metadata = {{"format", kFormat},
                {"format_version", kFormatVersion},
                {"config", to_json(cfg).dump()},
                {"task", task.name()},
                {"vocab", nlohmann::json(task.vocab()).dump()},
                {"step", std::to_string(st.step)},
                {"optim_steps", std::to_string(opt.steps_taken())},
                {"rng_data", st.data_rng.state()},
                {"rng_dropout", model.dropout_rng.state()},
                {"best_error", num(st.best_error)},
                {"best_loss", num(st.best_loss)},
                {"best_step", std::to_string(st.best_step)}};
  save_safetensors(path, f);
}

// Copies a stored tensor into `dst`, checking name, shape and dtype.
void restore(const TensorFile& f, const std::string& name, Tensor& dst, const std::string& path) {
  const Tensor& src = f.at(name);
  if (src.shape() != dst.shape() || src.dtype() != dst.dtype())
    throw CheckpointError(path + ": tensor '" + name + "' is " + dtype_name(src.dtype()) + shape_str(src.shape()) +
                          ", the configuration needs " + dtype_name(dst.dtype()) + shape_str(dst.shape()));
  std::memcpy(dst.raw(), src.raw(), dst.nbytes());
}

int64_t meta_int(const TensorFile& f, const std::string& key, const std::string& path) {
  const std::string& s = f.meta(key);
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
  }
  if (used == 0 || used != s.size()) throw CheckpointError(path + ": metadata '" + key + "' is not an integer");
  return v;
}

double meta_real(const TensorFile& f, const std::string& key, const std::string& path) {
  try {
    return std::stod(f.meta(key));
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception&) {
    throw CheckpointError(path + ": metadata '" + key + "' is not a number");
  }
}

TensorFile open_checkpoint(const std::string& path) {
  TensorFile f = load_safetensors(path);
  auto fmt = f.metadata.find("format");
  if (fmt == f.metadata.end() || fmt->second != kFormat)
    throw CheckpointError(path + ": not a minicope run checkpoint (no format '" + kFormat + "' in its metadata)");
  const std::string& ver = f.meta("format_version");
  if (ver != kFormatVersion)
    throw CheckpointError(path + ": checkpoint format version " + ver + "; this minicope reads version " + kFormatVersion);
  if (!f.checksummed) throw CheckpointError(path + ": has no checksums (a minicope run checkpoint always has them)");
  return f;
}

RunConfig config_of(const TensorFile& f, const std::string& path) {
  try {
    return run_config_from_json(nlohmann::json::parse(f.meta("config")));
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError(path + ": the stored configuration is unusable: " + e.what());
  }
}

// ---- progress ------------------------------------------------------------------------------
std::string duration(double s) {
  char b[32];
  if (s < 60) std::snprintf(b, sizeof b, "%.0fs", s);
  else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(b, sizeof b, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return b;
}

class Progress {
 public:
  Progress(std::ostream& err, int64_t first, int64_t total, int64_t every)
      : err_(err), first_(first), total_(total), every_(every), tty_(&err == &std::cerr && isatty(2)),
        start_(std::chrono::steady_clock::now()) {}
  void step(int64_t done, double loss, double tokens_per_s) {
    const double elapsed = seconds();
    const double eta = done > first_ ? elapsed / double(done - first_) * double(total_ - done) : 0.0;
    char line[200];
    if (tty_) {
      const int width = 24, fill = int(double(width) * double(done) / double(total_));
      std::snprintf(line, sizeof line, "\r  step %lld/%lld [%-*s] loss %.4f  %.0f tok/s  ETA %s   ", (long long)done,
                    (long long)total_, width, std::string(size_t(fill), '=').c_str(), loss, tokens_per_s, duration(eta).c_str());
      err_ << line << std::flush;
      dirty_ = true;
    } else if (done % every_ == 0 || done == total_) {
      std::snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  %.0f tok/s  elapsed %s  ETA %s\n", (long long)done,
                    (long long)total_, loss, tokens_per_s, duration(elapsed).c_str(), duration(eta).c_str());
      err_ << line << std::flush;
    }
  }
  void message(const std::string& text) {
    if (dirty_) err_ << "\n";
    dirty_ = false;
    err_ << text << "\n" << std::flush;
  }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::ostream& err_;
  int64_t first_, total_, every_;
  bool tty_, dirty_ = false;
  std::chrono::steady_clock::time_point start_;
};

// ---- faults ------------------------------------------------------------------------------
// SIGINT and SIGTERM set a flag; the loop saves a checkpoint after the step it is in and
// stops. The handlers reset themselves, so a second signal ends the program at once
// (the checkpoint on disk is whole either way: saves are atomic).
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) { g_signal = sig; }

struct StopSignals {
  struct sigaction old_int {}, old_term {};
  StopSignals() {
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

// The first parameter (grads: the first gradient) holding a NaN or an infinity, as
// "parameter 'NAME' holds NaN", or "" when all are finite.
std::string first_non_finite(const Module& model, bool grads) {
  for (const auto& [name, p] : model.named_parameters()) {
    const Tensor& t = grads ? p.grad() : p.value();
    if (!t.defined()) continue;
    const std::vector<double> v = t.to_vector();
    for (double x : v)
      if (!std::isfinite(x))
        return std::string(grads ? "the gradient of '" : "parameter '") + name + "' holds " +
               (std::isnan(x) ? "NaN" : x > 0 ? "+inf" : "-inf");
  }
  return "";
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

// Reads the task's vocabulary from a checkpoint, so its tokenizer is the trained one.
void restore_vocab(RunConfig& cfg, const TensorFile& f, const std::string& path) {
  try {
    cfg.task.vocab = nlohmann::json::parse(f.meta("vocab")).get<std::vector<std::string>>();
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception&) {
    throw CheckpointError(path + ": the stored vocabulary is not a JSON list of strings");
  }
}

}  // namespace

double EvalMetrics::ppl() const { return std::exp(loss); }
double EvalMetrics::bits() const { return loss / std::log(2.0); }

EvalMetrics evaluate(Transformer& model, const std::string& split, const std::vector<Example>& set, int64_t batch) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  EvalMetrics m;
  m.split = split;
  double loss_sum = 0.0;
  int64_t wrong_seq = 0, wrong_tok = 0;
  for (size_t at = 0; at < set.size(); at += size_t(batch)) {
    const std::vector<Example> chunk(set.begin() + long(at), set.begin() + long(std::min(set.size(), at + size_t(batch))));
    const TokenBatch b = make_batch(chunk);
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
  m.loss = m.scored ? loss_sum / double(m.scored) : 0.0;
  m.error_rate = m.examples ? double(wrong_seq) / double(m.examples) : 0.0;
  m.token_error_rate = m.scored ? double(wrong_tok) / double(m.scored) : 0.0;
  model.train(was_training);
  return m;
}

void resolve(RunConfig& cfg, const Task& task) {
  cfg.model.vocab = int64_t(task.vocab().size());
  if (cfg.model.vocab < 1) throw std::invalid_argument("the task has an empty vocabulary");
  const int64_t need = task.context();
  if (cfg.model.seq == 0) cfg.model.seq = need;
  else if (cfg.model.seq < need)
    throw std::invalid_argument("--seq " + std::to_string(cfg.model.seq) + " is shorter than the " + task.name() +
                                " task needs: its longest split has inputs of " + std::to_string(need) + " tokens");
  try {
    cfg.model.validate();
  } catch (const ConfigError& e) {
    std::string msg = e.what();  // "config: dim: ..." -> "--dim ..."
    const std::string prefix = "config: ";
    if (msg.rfind(prefix, 0) == 0) {
      msg = msg.substr(prefix.size());
      const size_t colon = msg.find(':');
      std::string field = msg.substr(0, colon);
      std::replace(field.begin(), field.end(), '_', '-');
      msg = "--" + field + msg.substr(colon + 1);
    }
    throw std::invalid_argument(msg);
  }
  // Fix the tables' sizes now, so a later change of context (eval --seq) keeps them.
  if (cfg.model.uses_cope() && !cfg.model.npos) cfg.model.npos = cfg.model.cope_npos();
  if (cfg.model.uses_rel() && !cfg.model.rel_cap) cfg.model.rel_cap = cfg.model.rel_positions();
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

std::vector<EvalMetrics> train(RunConfig cfg, const TrainOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.out.empty()) throw std::invalid_argument("--out DIR is required");
  const fs::path dir(opt.out);
  const std::string last_path = (dir / "last.safetensors").string(), best_path = (dir / "best.safetensors").string();
  if (fs::exists(dir) && !fs::is_directory(dir)) throw std::invalid_argument("--out " + opt.out + ": exists and is not a folder");

  TensorFile resumed;
  if (opt.resume) {
    if (!fs::exists(last_path)) throw std::invalid_argument("--resume: " + last_path + " does not exist (nothing to resume)");
    resumed = open_checkpoint(last_path);
    // The run keeps its configuration; only the length of the run and its logging may change.
    RunConfig stored = config_of(resumed, last_path);
    const nlohmann::json want = to_json(cfg), have = to_json(stored);
    static const std::set<std::string> kFree = {"steps", "eval-every", "log-every"};
    for (const std::string& name : opt.given)
      if (!kFree.count(name) && have.contains(name) && want[name] != have[name])
        throw std::invalid_argument("--resume: --" + name + " " + want[name].dump() + " differs from the run's " +
                                    have[name].dump() + " (a resumed run keeps its configuration; only --steps, "
                                    "--eval-every and --log-every may change)");
    const RunConfig asked = cfg;
    cfg = stored;
    restore_vocab(cfg, resumed, last_path);
    if (opt.given.count("steps")) cfg.steps = asked.steps;
    if (opt.given.count("eval-every")) cfg.eval_every = asked.eval_every;
    if (opt.given.count("log-every")) cfg.log_every = asked.log_every;
  } else if (fs::exists(last_path) || fs::exists(best_path)) {
    throw std::invalid_argument("--out " + opt.out + " already holds a run; pass --resume to continue it, or choose another folder");
  }

  if (cfg.task.name == "text") {  // the windows are the model's context
    if (cfg.model.seq == 0) cfg.model.seq = 128;
    cfg.task.context = cfg.model.seq;
  } else if (!cfg.task.val.empty()) {
    throw std::invalid_argument("--val applies to --task text");
  }
  std::unique_ptr<Task> task = make_task(cfg.task);
  resolve(cfg, *task);
  cfg.task.vocab.clear();  // stored in the checkpoint's metadata, not in its configuration
  Transformer model(cfg.model, uint64_t(cfg.seed));
  AdamW adam(model.named_parameters(), cfg.optim);
  RunState st;
  st.data_rng = Generator(uint64_t(cfg.seed) ^ 0xda7a5eedULL);

  if (opt.resume) {
    for (auto& [name, p] : model.named_parameters()) restore(resumed, name, p.value(), last_path);
    for (size_t k = 0; k < adam.params().size(); ++k) {
      restore(resumed, "optim.m." + adam.params()[k].first, adam.m()[k], last_path);
      restore(resumed, "optim.v." + adam.params()[k].first, adam.v()[k], last_path);
    }
    st.step = meta_int(resumed, "step", last_path);
    adam.set_steps_taken(meta_int(resumed, "optim_steps", last_path));
    st.best_error = meta_real(resumed, "best_error", last_path);
    st.best_loss = meta_real(resumed, "best_loss", last_path);
    st.best_step = meta_int(resumed, "best_step", last_path);
    try {
      st.data_rng.set_state(resumed.meta("rng_data"));
      model.dropout_rng.set_state(resumed.meta("rng_dropout"));
    } catch (const std::invalid_argument&) {
      throw CheckpointError(last_path + ": the stored generator states are corrupt");
    }
    if (st.step >= cfg.steps)
      throw std::invalid_argument("--resume: the run is already at step " + std::to_string(st.step) + " of --steps " +
                                  std::to_string(cfg.steps) + "; pass a larger --steps to train further");
  }

  // The fixed evaluation sets: "valid" chooses the best checkpoint, the task's splits are reported.
  std::vector<std::string> split_names{"valid"};
  for (const std::string& s : task->splits())
    if (s != "valid") split_names.push_back(s);
  std::vector<std::vector<Example>> sets;
  for (const std::string& s : split_names) sets.push_back(task->eval_set(s));
  const int64_t eval_batch = std::max<int64_t>(cfg.batch, 64);

  fs::create_directories(dir);
  {  // the configuration, for people (checkpoints carry their own copy)
    std::ofstream cj(dir / "config.json");
    cj << to_json(cfg).dump(2) << "\n";
  }
  std::ofstream metrics(dir / "metrics.jsonl", opt.resume ? std::ios::app : std::ios::trunc);
  if (!metrics) throw std::runtime_error((dir / "metrics.jsonl").string() + ": cannot be written");

  const int64_t log_every = cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, cfg.steps / 20);
  Progress progress(err, st.step, cfg.steps, log_every);
  progress.message("minicope: training " + cfg.model.pe + " on " + task->name() + " (" +
                   std::to_string(model.parameter_count()) + " parameters, context " + std::to_string(cfg.model.seq) +
                   ", " + std::to_string(cfg.steps) + " steps) into " + opt.out);
  std::vector<EvalMetrics> best_metrics;
  int64_t tokens = 0;
  const int64_t first = st.step;
  int64_t saved_step = opt.resume ? st.step : -1;  // the step of the last checkpoint on disk
  const auto save_last = [&] {
    save_run(last_path, cfg, *task, model, adam, st);
    saved_step = st.step;
  };
  // A step whose loss or gradients are not finite stops the run; the checkpoint on disk
  // is the last good one (it is never overwritten by a bad step).
  const auto stop_bad = [&](const std::string& what, const std::string& culprit) {
    throw std::runtime_error("step " + std::to_string(st.step + 1) + ": " + what +
                             (culprit.empty() ? "" : " (" + culprit + ")") + "; training stopped; " +
                             (saved_step >= 0 ? "the last good checkpoint is " + last_path + " (step " +
                                                    std::to_string(saved_step) + ")"
                                              : std::string("no checkpoint was written yet")) +
                             " (try a lower --lr or --clip)");
  };
  StopSignals signals;
  double last_loss = 0.0;
  while (st.step < cfg.steps) {
    std::vector<Example> examples;
    for (int64_t i = 0; i < cfg.batch; ++i) examples.push_back(task->sample(st.data_rng));
    const TokenBatch b = make_batch(examples);
    model.zero_grad();
    Var loss = cross_entropy(model.forward(b.inputs), b.targets, b.mask);
    last_loss = loss.item();
    if (!std::isfinite(last_loss))
      stop_bad(std::string("the loss is ") + (std::isnan(last_loss) ? "NaN" : "infinite"), first_non_finite(model, false));
    loss.backward();
    const double norm = adam.clip_gradients();
    if (!std::isfinite(norm)) stop_bad("a gradient is not finite", first_non_finite(model, true));
    const double lr = learning_rate(cfg.optim, st.step, cfg.steps);
    adam.step(lr);
    ++st.step;
    tokens += b.inputs.numel();
    const double tps = double(tokens) / std::max(1e-9, progress.seconds());
    progress.step(st.step, last_loss, tps);
    if (st.step % log_every == 0)
      metrics << nlohmann::json{{"step", st.step}, {"loss", last_loss}, {"lr", lr}, {"grad_norm", norm}, {"tokens_per_s", tps}}.dump()
              << "\n" << std::flush;

    const bool stopping = opt.stop_after > 0 && st.step - first >= opt.stop_after;
    if (st.step % cfg.eval_every == 0 || st.step == cfg.steps) {
      std::vector<EvalMetrics> ms;
      for (size_t s = 0; s < sets.size(); ++s) ms.push_back(evaluate(model, split_names[s], sets[s], eval_batch));
      for (EvalMetrics& m : ms) m.unit = task->unit();
      for (const EvalMetrics& m : ms) metrics << metrics_line(*task, m, st.step) << "\n";
      metrics << std::flush;
      std::string summary = "  eval @" + std::to_string(st.step) + ":";
      for (const EvalMetrics& m : ms) {
        char b2[64];
        if (task->is_text()) std::snprintf(b2, sizeof b2, " %s loss %.4f", m.split.c_str(), m.loss);
        else std::snprintf(b2, sizeof b2, " %s %.2f%%", m.split.c_str(), 100 * m.error_rate);
        summary += b2;
      }
      const EvalMetrics& valid = ms[0];
      // text: the lowest loss; tasks: the lowest error, then the lowest loss
      const double err_v = task->is_text() ? valid.loss : valid.error_rate;
      const bool better = err_v < st.best_error || (err_v == st.best_error && valid.loss < st.best_loss);
      if (better) {
        st.best_error = err_v, st.best_loss = valid.loss, st.best_step = st.step;
        best_metrics.assign(task->is_text() ? ms.begin() : ms.begin() + 1, ms.end());
        save_run(best_path, cfg, *task, model, adam, st);
        summary += "  (best)";
      }
      progress.message(summary);
      save_last();
    } else if (stopping || g_signal) {
      save_last();
    }
    if (g_signal) {
      const int sig = g_signal;
      progress.message(std::string("minicope: ") + (sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)") +
                       " at step " + std::to_string(st.step) + " of " + std::to_string(cfg.steps) + "; saved " +
                       last_path + "; continue with: minicope train --out " + opt.out + " --resume");
      throw Interrupted(sig);
    }
    if (stopping && st.step < cfg.steps) {
      progress.message("minicope: stopped after " + std::to_string(opt.stop_after) + " steps at step " +
                       std::to_string(st.step) + "; continue with --resume");
      return {};
    }
  }
  progress.message("minicope: done in " + duration(progress.seconds()) + "; best checkpoint: step " +
                   std::to_string(st.best_step) + " (" + best_path + ")");
  if (best_metrics.empty()) {  // resumed past the best: evaluate the stored best checkpoint
    LoadedRun best = load_run(best_path);
    for (const std::string& s : task->splits()) {
      best_metrics.push_back(evaluate(*best.model, s, task->eval_set(s), eval_batch));
      best_metrics.back().unit = task->unit();
    }
  }
  print_metrics(out, *task, best_metrics, opt.json, st.best_step);
  return best_metrics;
}

LoadedRun load_run_flag(const std::string* ckpt, int64_t seq, bool with_task) {
  if (!ckpt) throw UsageError("--ckpt DIR is required");
  if (ckpt->empty()) throw UsageError("--ckpt must not be empty");
  try {
    return load_run(*ckpt, seq, with_task);
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    if (msg.rfind("--seq", 0) == 0) throw UsageError(msg);
    throw std::runtime_error(msg);  // a missing or unusable checkpoint is not a usage error
  }
}

LoadedRun load_run(const std::string& path, int64_t seq, bool with_task) {
  std::string file = path;
  if (fs::is_directory(path)) {
    file = (fs::path(path) / "best.safetensors").string();
    if (!fs::exists(file)) file = (fs::path(path) / "last.safetensors").string();
    if (!fs::exists(file)) throw std::invalid_argument(path + ": holds no best.safetensors or last.safetensors");
  }
  LoadedRun r;
  r.file = open_checkpoint(file);
  r.cfg = config_of(r.file, file);
  restore_vocab(r.cfg, r.file, file);
  if (seq > 0) {
    if (r.cfg.task.name != "text") throw std::invalid_argument("--seq applies to text runs (a synthetic task's sequences are fixed)");
    if (r.cfg.model.pe == "abs" && seq > r.cfg.model.seq)
      throw std::invalid_argument("--seq " + std::to_string(seq) + ": abs position embeddings cover only " +
                                  std::to_string(r.cfg.model.seq) + " positions (rel, rope and cope run longer)");
  }
  if (r.cfg.task.name == "text") r.cfg.task.context = seq > 0 ? seq : r.cfg.model.seq;
  try {
    r.cfg.model.validate();
  } catch (const std::exception& e) {
    throw CheckpointError(file + ": the stored configuration is unusable: " + e.what());
  }
  if (int64_t(r.cfg.task.vocab.size()) != r.cfg.model.vocab)
    throw CheckpointError(file + ": the stored vocabulary has " + std::to_string(r.cfg.task.vocab.size()) +
                          " tokens, the model " + std::to_string(r.cfg.model.vocab));
  if (with_task) r.task = make_task(r.cfg.task);  // may throw for missing data files: the caller reports them
  if (r.task && int64_t(r.task->vocab().size()) != r.cfg.model.vocab)
    throw CheckpointError(file + ": the stored vocabulary has " + std::to_string(r.cfg.model.vocab) + " tokens, the task " +
                          std::to_string(r.task->vocab().size()));
  r.model = std::make_unique<Transformer>(r.cfg.model, uint64_t(r.cfg.seed));
  for (auto& [name, p] : r.model->named_parameters()) restore(r.file, name, p.value(), file);
  r.step = meta_int(r.file, "step", file);
  return r;
}

}  // namespace mc
