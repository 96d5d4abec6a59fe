// trainer.cpp — the training loop, evaluation, checkpoints of a run.
#include "train/trainer.h"

#include "dist/grad_sync.h"
#include "train/cli.h"
#include "train/files.h"
#include "train/memory.h"
#include "train/run_folder.h"
#include "train/ranks.h"
#include "train/tokenizer.h"

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
// 2: with checksums. 3: the model's vocabulary size as "model-vocab" in the stored
// configuration (2 had it under "vocab-size", over the word cap), and vocabulary
// entries that are not UTF-8 as lists of byte values. Version 2 files are still read.
constexpr const char* kFormatVersion = "3";
constexpr const char* kOldFormatVersion = "2";

// ---- checkpoints ---------------------------------------------------------------------------
// Tensors: every parameter under its module name, then "optim.m.NAME" and "optim.v.NAME".
// Metadata: format, format_version, config (JSON), step, optim_steps, rng_data,
// rng_dropout, best_error, best_loss, best_step, task, vocab (JSON list, see
// vocab_json), and the checksums that save_safetensors adds.
struct RunState {
  int64_t step = 0;
  double best_error = INFINITY, best_loss = INFINITY;
  int64_t best_step = -1;
  Generator data_rng;
};

// The vocabulary as a JSON list. A JSON string holds only UTF-8, so a token that is not
// well-formed UTF-8 (a byte token 0x80..0xFF, or a char token that is an invalid byte
// of the training text) is stored as the list of its byte values: ["a", [255], ...].
nlohmann::json vocab_json(const std::vector<std::string>& vocab) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& t : vocab) {
    if (is_valid_utf8(t)) {
      list.push_back(t);
    } else {
      nlohmann::json bytes = nlohmann::json::array();
      for (char c : t) bytes.push_back(int(static_cast<unsigned char>(c)));
      list.push_back(bytes);
    }
  }
  return list;
}

// The inverse of vocab_json; throws std::invalid_argument.
std::vector<std::string> vocab_from_json(const nlohmann::json& list) {
  if (!list.is_array()) throw std::invalid_argument("not a JSON list");
  std::vector<std::string> vocab;
  for (const nlohmann::json& t : list) {
    if (t.is_string()) {
      vocab.push_back(t.get<std::string>());
      continue;
    }
    if (!t.is_array() || t.empty()) throw std::invalid_argument("an entry is neither a string nor a list of bytes");
    std::string bytes;
    for (const nlohmann::json& b : t) {
      if (!b.is_number_unsigned() || b.get<uint64_t>() > 255) throw std::invalid_argument("a byte value is not in 0..255");
      bytes.push_back(char(b.get<uint64_t>()));
    }
    vocab.push_back(bytes);
  }
  return vocab;
}

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
                {"vocab", vocab_json(task.vocab()).dump()},
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

// A run checkpoint's checks on a parsed file: format, version, checksums.
TensorFile check_run_file(TensorFile f, const std::string& path) {
  auto fmt = f.metadata.find("format");
  if (fmt == f.metadata.end() || fmt->second != kFormat)
    throw CheckpointError(path + ": not a minicope run checkpoint (no format '" + kFormat + "' in its metadata)");
  const std::string& ver = f.meta("format_version");
  if (ver != kFormatVersion && ver != kOldFormatVersion)
    throw CheckpointError(path + ": checkpoint format version " + ver + "; this minicope reads versions " +
                          kOldFormatVersion + " and " + kFormatVersion);
  if (!f.checksummed) throw CheckpointError(path + ": has no checksums (a minicope run checkpoint always has them)");
  return f;
}

TensorFile open_checkpoint(const std::string& path) { return check_run_file(load_safetensors(path), path); }

RunConfig config_of(const TensorFile& f, const std::string& path) {
  try {
    return run_config_from_json(nlohmann::json::parse(f.meta("config")));
  } catch (const CheckpointError&) {
    throw;
  } catch (const nlohmann::json::exception&) {
    throw CheckpointError(path + ": the stored configuration is not valid JSON");
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
    cfg.task.vocab = vocab_from_json(nlohmann::json::parse(f.meta("vocab")));
  } catch (const nlohmann::json::exception&) {
    throw CheckpointError(path + ": the stored vocabulary is not valid JSON");
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(path + ": the stored vocabulary is unusable (" + e.what() + ")");
  }
}

// ---- data parallelism ----------------------------------------------------------------------
// The share [lo, hi) of n items that this rank takes: contiguous, sizes differing by at most one.
std::pair<int64_t, int64_t> shard(int64_t n, const Comm& comm) {
  const int64_t r = comm.rank(), p = comm.size();
  return {n * r / p, n * (r + 1) / p};
}

// Scored predictions (the loss's denominator) and all predictions of some examples.
int64_t scored_count(std::span<const Example> xs) {
  int64_t n = 0;
  for (const Example& x : xs)
    for (uint8_t s : x.scored) n += s != 0;
  return n;
}
int64_t prediction_count(std::span<const Example> xs) {
  int64_t n = 0;
  for (const Example& x : xs) n += int64_t(x.scored.size());
  return n;
}

// Checks that every rank holds the same weights (a hash of their bytes), which the
// summed gradients guarantee; a difference is a bug, reported instead of trained on.
void check_same_weights(Comm& comm, const Module& model, const std::string& when) {
  if (!comm.distributed()) return;
  uint64_t h = fnv1a64(nullptr, 0);
  for (const auto& [name, p] : model.named_parameters()) h = fnv1a64(p.value().raw(), p.value().nbytes(), h);
  // Each rank's hash as two exact 32-bit halves in its own slots of a summed vector.
  std::vector<double> all(2 * size_t(comm.size()), 0.0);
  all[2 * size_t(comm.rank())] = double(h >> 32);
  all[2 * size_t(comm.rank()) + 1] = double(h & 0xffffffffULL);
  comm.sum(all.data(), int64_t(all.size()), "comparing the weights after " + when);
  for (int r = 1; r < comm.size(); ++r)
    if (all[2 * size_t(r)] != all[0] || all[2 * size_t(r) + 1] != all[1]) {
      comm.mark_failure_agreed();
      throw std::runtime_error("after " + when + ": the weights of rank " + std::to_string(r) +
                               " differ from rank 0's (a bug in the gradient sum; please report it)");
    }
}

// The bytes of rank 0's file `path` (a checkpoint in its run folder), on every rank.
// A failure to read it is agreed: rank 0 reports it, every rank stops.
std::string read_on_rank0(Comm& comm, const std::string& path) {
  std::string bytes;
  on_every_rank(comm, [&] {
    if (comm.rank() == 0) bytes = read_whole_file<CheckpointError>(path, "a .safetensors file");
  });
  return comm.broadcast(std::move(bytes), 0, "sending " + path + " from rank 0");
}

// "gradient sums: 4 buckets, 1.2 s waiting (3% of the run)".
std::string sync_summary(const GradSync& sync, double seconds) {
  char b[128];
  std::snprintf(b, sizeof b, "gradient sums: %zu bucket%s, %.1f s waiting (%.1f%% of the run)", sync.buckets(),
                sync.buckets() == 1 ? "" : "s", sync.wait_seconds(), 100.0 * sync.wait_seconds() / std::max(1e-9, seconds));
  return b;
}

}  // namespace

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

std::string flag_message(const ConfigError& e) {
  const auto flag = [](std::string field) {
    std::replace(field.begin(), field.end(), '_', '-');
    return "--" + field;
  };
  if (!e.other.empty()) return flag(e.field) + " cannot be combined with " + flag(e.other) + " (" + e.why + ")";
  return flag(e.field) + " " + e.why;
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
    throw std::invalid_argument(flag_message(e));
  }
  if (task.context() > kMaxContext)
    throw std::invalid_argument(task.name() + ": sequences of " + std::to_string(task.context() + 1) +
                                " tokens are longer than minicope takes (" + std::to_string(kMaxContext) +
                                " tokens of context; lower " + size_flags(task.name()) + ")");
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
  // Data-parallel runs (docs/distributed.md): every rank runs this function. Rank 0 owns
  // the run folder: it alone reads and writes it and prints; the others get what they
  // need from it through the collectives.
  Comm& comm = Comm::world();
  const bool root = comm.rank() == 0;
  const fs::path dir(opt.out);
  const std::string last_path = (dir / "last.safetensors").string(), best_path = (dir / "best.safetensors").string();

  // 1. Rank 0 checks and locks the run folder and reads the checkpoint to resume; every
  // rank gets it. Nothing is written until step 3.
  RunFolder folder(opt.out, opt.resume);
  on_every_rank(comm, [&] {
    if (opt.out.empty()) throw std::invalid_argument("--out DIR is required");
    if (root) folder.check();
  });
  std::string resumed_bytes = opt.resume ? read_on_rank0(comm, last_path) : std::string();

  // 2. Every rank builds the same task, model and optimizer (the same work, so the same
  // outcome; the agreement is a safety net for a rank that cannot read its data).
  TensorFile resumed;
  std::unique_ptr<Task> task;
  std::unique_ptr<Transformer> model_ptr;
  std::unique_ptr<AdamW> adam_ptr;
  RunState st;
  MemoryEstimate memory;
  on_every_rank(comm, [&] {
    if (opt.resume) {
      resumed = check_run_file(parse_safetensors(resumed_bytes, last_path), last_path);
      resumed_bytes = std::string();
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
    }
    check_settings_apply(cfg, opt.given);  // e.g. --tokenizer with a synthetic task
    if (cfg.task.name == "text") {  // the windows are the model's context
      if (cfg.model.seq == 0) cfg.model.seq = 128;
      cfg.task.context = cfg.model.seq;
    }
    if (cfg.batch < comm.size())
      throw std::invalid_argument("--batch " + std::to_string(cfg.batch) + " is smaller than the " +
                                  std::to_string(comm.size()) + " ranks (each rank takes a share of every batch)");
    task = make_task(cfg.task);
    resolve(cfg, *task);
    cfg.task.vocab.clear();  // stored in the checkpoint's metadata, not in its configuration
    // before the model and the sets are allocated; the ranks on this machine share it
    memory = estimate_training_memory(cfg, *task);
    if (opt.memory_check) check_training_memory(memory, cfg, launch_from_env().local_size);
    model_ptr = std::make_unique<Transformer>(cfg.model, uint64_t(cfg.seed));
    adam_ptr = std::make_unique<AdamW>(model_ptr->named_parameters(), cfg.optim);
    st.data_rng = Generator(uint64_t(cfg.seed) ^ 0xda7a5eedULL);
    if (!opt.resume) return;
    for (auto& [name, p] : model_ptr->named_parameters()) restore(resumed, name, p.value(), last_path);
    for (size_t k = 0; k < adam_ptr->params().size(); ++k) {
      restore(resumed, "optim.m." + adam_ptr->params()[k].first, adam_ptr->m()[k], last_path);
      restore(resumed, "optim.v." + adam_ptr->params()[k].first, adam_ptr->v()[k], last_path);
    }
    st.step = meta_int(resumed, "step", last_path);
    adam_ptr->set_steps_taken(meta_int(resumed, "optim_steps", last_path));
    st.best_error = meta_real(resumed, "best_error", last_path);
    st.best_loss = meta_real(resumed, "best_loss", last_path);
    st.best_step = meta_int(resumed, "best_step", last_path);
    try {
      st.data_rng.set_state(resumed.meta("rng_data"));
      model_ptr->dropout_rng.set_state(resumed.meta("rng_dropout"));
    } catch (const std::invalid_argument&) {
      throw CheckpointError(last_path + ": the stored generator states are corrupt");
    }
    if (st.step >= cfg.steps)
      throw std::invalid_argument("--resume: the run is already at step " + std::to_string(st.step) + " of --steps " +
                                  std::to_string(cfg.steps) + "; pass a larger --steps to train further");
  });
  Transformer& model = *model_ptr;
  AdamW& adam = *adam_ptr;
  resumed = TensorFile();
  // Each rank draws its own dropout masks (rank 0 keeps the stored stream, so one rank
  // trains exactly as before); weights stay identical because gradients are summed.
  if (comm.rank() > 0) model.dropout_rng.seed(fnv1a64(model.dropout_rng.state().data(), model.dropout_rng.state().size()) +
                                              uint64_t(comm.rank()));

  // The fixed evaluation sets: "valid" chooses the best checkpoint, the task's splits are reported.
  std::vector<std::string> split_names{"valid"};
  for (const std::string& s : task->splits())
    if (s != "valid") split_names.push_back(s);
  std::vector<std::vector<Example>> sets;
  for (const std::string& s : split_names) sets.push_back(task->eval_set(s));
  const int64_t eval_batch = std::max<int64_t>(cfg.batch, 64);
  const auto evaluate_all = [&](Transformer& m, const std::vector<std::string>& names) {
    std::vector<EvalMetrics> ms;
    for (size_t s = 0; s < names.size(); ++s) {
      ms.push_back(evaluate(m, names[s], sets[s], eval_batch, &comm));
      ms.back().unit = task->unit();
    }
    return ms;
  };

  // 3. The run will start: rank 0 makes the folder ready, opens metrics.jsonl and writes config.json.
  std::ofstream metrics;
  on_every_rank(comm, [&] {
    if (root) folder.prepare(cfg, metrics);
  });

  const int64_t log_every = cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, cfg.steps / 20);
  Progress progress(err, st.step, cfg.steps, log_every);
  progress.message("minicope: training " + cfg.model.pe + " on " + task->name() + " (" +
                   std::to_string(model.parameter_count()) + " parameters, context " + std::to_string(cfg.model.seq) +
                   ", " + std::to_string(cfg.steps) + " steps" +
                   (comm.distributed() ? ", " + std::to_string(comm.size()) + " ranks" : "") + ", about " +
                   format_bytes(memory.total()) + " of memory) into " + opt.out);
  std::vector<EvalMetrics> best_metrics;
  int64_t tokens = 0;
  const int64_t first = st.step;
  int64_t saved_step = opt.resume ? st.step : -1;  // the step of the last checkpoint on disk
  const auto save_last = [&] {
    if (root) save_run(last_path, cfg, *task, model, adam, st);
    saved_step = st.step;
  };
  // A step whose loss or gradients are not finite stops the run; the checkpoint on disk
  // is the last good one (it is never overwritten by a bad step). Every rank sees the
  // same summed loss and gradients, so all stop together.
  const auto stop_bad = [&](const std::string& what, const std::string& culprit) {
    comm.mark_failure_agreed();
    throw std::runtime_error("step " + std::to_string(st.step + 1) + ": " + what +
                             (culprit.empty() ? "" : " (" + culprit + ")") + "; training stopped; " +
                             (saved_step >= 0 ? "the last good checkpoint is " + last_path + " (step " +
                                                    std::to_string(saved_step) + ")"
                                              : std::string("no checkpoint was written yet")) +
                             " (try a lower --lr or --clip)");
  };
  StopSignals signals;
  comm.watch_stop_flag(&g_signal);  // a signal while waiting for the others: see watch_stop_flag
  GradSync grad_sync(comm, model.named_parameters(), opt.bucket_bytes, opt.overlap);
  double last_loss = 0.0;
  // When another rank is lost mid-run, rank 0 still holds a whole state: that of the
  // last finished step (weights and moments change only in adam.step), once the
  // generators are put back to where that step left them. It saves it before it stops.
  Generator data_rng_before = st.data_rng, dropout_rng_before = model.dropout_rng;
  bool mid_step = false;
  try {
    while (st.step < cfg.steps) {
      data_rng_before = st.data_rng, dropout_rng_before = model.dropout_rng, mid_step = true;
      // Every rank draws the whole global batch (the same data generator everywhere: the
      // run is the same whatever the number of ranks) and trains on its share of it.
      std::vector<Example> examples;
      for (int64_t i = 0; i < cfg.batch; ++i) examples.push_back(task->sample(st.data_rng));
      const auto [lo, hi] = shard(int64_t(examples.size()), comm);
      const std::span<const Example> mine = std::span<const Example>(examples).subspan(size_t(lo), size_t(hi - lo));
      const TokenBatch b = make_batch(mine);
      model.zero_grad();
      Var loss = cross_entropy(model.forward(b.inputs), b.targets, b.mask);
      const std::string step_name = "step " + std::to_string(st.step + 1);
      int stop_signal = g_signal;
      if (comm.distributed()) {
        // The loss of the whole batch is the mean over all its scored predictions: this
        // rank's mean, weighted by its share of them. Its gradient is then this rank's share
        // of the one-process gradient. The sum also agrees on a stop signal.
        const int64_t scored_all = scored_count(examples);
        const double share = scored_all ? double(scored_count(mine)) / double(scored_all) : 0.0;
        loss = loss * share;
        double control[3] = {loss.item(), g_signal == SIGINT ? 1.0 : 0.0, g_signal == SIGTERM ? 1.0 : 0.0};
        comm.sum(control, 3, "summing the loss of " + step_name);
        last_loss = control[0];
        stop_signal = control[1] > 0 ? SIGINT : control[2] > 0 ? SIGTERM : 0;
      } else {
        last_loss = loss.item();
      }
      if (!std::isfinite(last_loss))
        stop_bad(std::string("the loss is ") + (std::isnan(last_loss) ? "NaN" : "infinite"), first_non_finite(model, false));
      loss.backward(grad_sync.leaf_done());
      grad_sync.finish(step_name);
      const double norm = adam.clip_gradients();
      if (!std::isfinite(norm)) stop_bad("a gradient is not finite", first_non_finite(model, true));
      const double lr = learning_rate(cfg.optim, st.step, cfg.steps);
      adam.step(lr);
      ++st.step;
      mid_step = false;
      tokens += prediction_count(examples);
      const double tps = double(tokens) / std::max(1e-9, progress.seconds());
      progress.step(st.step, last_loss, tps);
      if (root && st.step % log_every == 0)
        metrics << nlohmann::json{{"step", st.step}, {"loss", last_loss}, {"lr", lr}, {"grad_norm", norm},
                                  {"tokens_per_s", tps}}.dump()
                << "\n" << std::flush;
      if (!comm.distributed()) stop_signal = g_signal;  // one rank: a signal during the step counts now

      const bool stopping = opt.stop_after > 0 && st.step - first >= opt.stop_after;
      if (st.step % cfg.eval_every == 0 || st.step == cfg.steps) {
        check_same_weights(comm, model, step_name);
        std::vector<EvalMetrics> ms = evaluate_all(model, split_names);
        if (root) {
          for (const EvalMetrics& m : ms) metrics << metrics_line(*task, m, st.step) << "\n";
          metrics << std::flush;
        }
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
          summary += "  (best)";
        }
        progress.message(summary);
        // last first: when a save fails, best never runs ahead of last
        save_last();
        if (better && root) save_run(best_path, cfg, *task, model, adam, st);
      } else if (stopping || stop_signal) {
        save_last();
      }
      if (stop_signal) {
        comm.mark_failure_agreed();
        progress.message(std::string("minicope: ") + (stop_signal == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)") +
                         " at step " + std::to_string(st.step) + " of " + std::to_string(cfg.steps) + "; saved " +
                         last_path + "; continue with: minicope train --out " + opt.out + " --resume");
        throw Interrupted(stop_signal);
      }
      if (stopping && st.step < cfg.steps) {
        progress.message("minicope: stopped after " + std::to_string(opt.stop_after) + " steps at step " +
                         std::to_string(st.step) + "; continue with --resume");
        return {};
      }
    }
  } catch (const RankLost& e) {
    if (!root) throw;
    if (mid_step) st.data_rng = data_rng_before, model.dropout_rng = dropout_rng_before;
    std::string saved;
    if (st.step > saved_step) {
      try {
        save_last();
        saved = "; saved step " + std::to_string(st.step) + " to " + last_path;
      } catch (const std::exception& se) {
        saved = std::string("; saving the last step failed too: ") + se.what();
      }
    } else if (saved_step >= 0) {
      saved = "; the last checkpoint is " + last_path + " (step " + std::to_string(saved_step) + ")";
    }
    throw RankLost(e.what() + saved + (saved_step >= 0 ? "; continue with: minicope train --out " + opt.out + " --resume" : ""));
  }
  progress.message("minicope: done in " + duration(progress.seconds()) + "; best checkpoint: step " +
                   std::to_string(st.best_step) + " (" + best_path + ")" +
                   (comm.distributed() ? "; " + sync_summary(grad_sync, progress.seconds()) : ""));
  if (best_metrics.empty()) {  // resumed past the best: evaluate the stored best checkpoint
    const std::string bytes = read_on_rank0(comm, best_path);
    LoadedRun best;
    on_every_rank(comm, [&] {
      best = run_from_file(check_run_file(parse_safetensors(bytes, best_path), best_path), best_path, 0, false);
    });
    split_names = task->splits();
    sets.clear();
    for (const std::string& s : split_names) sets.push_back(task->eval_set(s));
    best_metrics = evaluate_all(*best.model, split_names);
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
  std::error_code ec;  // (a symbolic link loop is then "cannot be read", below)
  if (fs::is_directory(path, ec)) {
    file = (fs::path(path) / "best.safetensors").string();
    if (!fs::exists(fs::symlink_status(file, ec))) file = (fs::path(path) / "last.safetensors").string();
    if (!fs::exists(fs::symlink_status(file, ec))) throw std::invalid_argument(path + ": holds no best.safetensors or last.safetensors");
  }
  return run_from_file(open_checkpoint(file), file, seq, with_task);
}

LoadedRun run_from_file(TensorFile f, const std::string& file, int64_t seq, bool with_task) {
  LoadedRun r;
  r.file = std::move(f);
  r.cfg = config_of(r.file, file);
  restore_vocab(r.cfg, r.file, file);
  if (seq > 0) {
    if (r.cfg.task.name != "text") throw std::invalid_argument("--seq applies to text runs (a synthetic task's sequences are fixed)");
    if (r.cfg.model.pe == "abs" && seq > r.cfg.model.seq)
      throw std::invalid_argument("--seq " + std::to_string(seq) + ": abs position embeddings cover only " +
                                  std::to_string(r.cfg.model.seq) + " positions (rel, rope and cope run longer)");
  }
  if (r.cfg.task.name == "text") r.cfg.task.context = seq > 0 ? seq : r.cfg.model.seq;
  r.cfg.task.evaluate_only = true;  // a loaded run is evaluated (or sampled), not trained
  try {
    r.cfg.model.validate();
  } catch (const std::exception& e) {
    throw CheckpointError(file + ": the stored configuration is unusable: " + e.what());
  }
  if (int64_t(r.cfg.task.vocab.size()) != r.cfg.model.vocab)
    throw CheckpointError(file + ": the stored vocabulary has " + std::to_string(r.cfg.task.vocab.size()) +
                          " tokens, the model " + std::to_string(r.cfg.model.vocab));
  if (r.cfg.task.name == "text") {  // a forged or damaged token list is the file's fault: name it
    try {
      Tokenizer::from_tokens(r.cfg.task.tokenizer, r.cfg.task.vocab);
    } catch (const std::invalid_argument& e) {
      throw CheckpointError(file + ": the stored vocabulary is unusable (" + e.what() + ")");
    }
  }
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
