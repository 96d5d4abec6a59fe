// trainer.cpp — the training loop (trainer.h).
//
// train() reads as the steps of a run: check the folder, build (or restore) the model,
// prepare the folder, then loop: one optimizer step, log it, evaluate and save when it
// is time, stop when asked. The Run below holds what those steps share; each of its
// functions is one step.
//
// Data-parallel runs (docs/distributed.md): every rank runs all of it. Rank 0 owns the
// run folder: it alone reads and writes it and prints; the others get what they need
// from it through the collectives.
#include "train/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>

#include "dist/grad_sync.h"
#include "dist/ranks.h"
#include "io/files.h"
#include "io/hash.h"
#include "train/data_parallel.h"
#include "train/memory.h"
#include "train/progress.h"
#include "train/run_checkpoint.h"
#include "train/run_folder.h"
#include "train/trace.h"

namespace mc {

namespace fs = std::filesystem;

namespace {

// ---- what the steps use ------------------------------------------------------------------

// The first parameter (grads: the first gradient) holding a NaN or an infinity, as
// "parameter 'NAME' holds NaN", or "" when all are finite.
std::string first_non_finite(const Module& model, bool grads) {
  for (const auto& [name, p] : model.named_parameters()) {
    const Tensor& t = grads ? p.grad() : p.value();
    if (!t.defined()) continue;
    for (double x : t.to_vector())
      if (!std::isfinite(x))
        return std::string(grads ? "the gradient of '" : "parameter '") + name + "' holds " +
               (std::isnan(x) ? "NaN" : x > 0 ? "+inf" : "-inf");
  }
  return "";
}

// All predictions of some examples: the tokens a step trains on, the real inputs of its
// batch, padding not counted (tokens/s).
int64_t prediction_count(std::span<const Example> xs) {
  int64_t n = 0;
  for (const Example& x : xs) n += int64_t(x.scored.size());
  return n;
}

// A resumed run keeps its configuration; only the length of the run and its logging
// may change. `cfg` (what was asked) becomes the stored configuration.
void keep_stored_config(RunConfig& cfg, const TensorFile& resumed, const std::string& path, const std::set<std::string>& given) {
  const RunConfig stored = stored_config(resumed, path, /*with_vocab=*/false);
  nlohmann::json want = to_json(cfg);
  const nlohmann::json have = to_json(stored);
  static const std::set<std::string> kFree = {"steps", "eval-every", "log-every"};
  if (want.value("init-scheme", "") == "auto")  // what auto means for the stored run's task
    want["init-scheme"] = auto_init_scheme(stored.task.name);
  for (const std::string& name : given)
    if (!kFree.count(name) && have.contains(name) && want[name] != have[name])
      throw SettingError(name, "--resume: --" + name + " " + want[name].dump() + " differs from the run's " +
                                   have[name].dump() + " (a resumed run keeps its configuration; only --steps, "
                                   "--eval-every and --log-every may change)");
  const RunConfig asked = cfg;
  cfg = stored_config(resumed, path);  // now with its vocabulary
  if (given.count("steps")) cfg.steps = asked.steps;
  if (given.count("eval-every")) cfg.eval_every = asked.eval_every;
  if (given.count("log-every")) cfg.log_every = asked.log_every;
}

// What one optimizer step reports.
struct StepResult {
  double loss = 0, grad_norm = 0, lr = 0;
  int stop_signal = 0;  // SIGINT or SIGTERM caught (on any rank), else 0
};

// ---- the run -------------------------------------------------------------------------------

class Run {
 public:
  Run(RunConfig cfg, const TrainOptions& opt, std::ostream& err)
      : comm_(Comm::world()), root_(comm_.rank() == 0), cfg_(std::move(cfg)), opt_(opt), err_(err),
        last_path_((fs::path(opt.out) / "last.safetensors").string()),
        best_path_((fs::path(opt.out) / "best.safetensors").string()), folder_(opt.out, opt.resume) {}

  // 1. Rank 0 checks and locks the run folder and reads the checkpoint to resume; every
  // rank gets it. Nothing is written until prepare_folder.
  void check_folder() {
    on_every_rank(comm_, [&] {
      if (opt_.out.empty()) throw SettingError("out", "--out DIR is required");
      if (root_) folder_.check();
    });
    if (opt_.resume) resumed_bytes_ = read_on_rank0(comm_, last_path_);
  }

  // 2. Every rank builds the same task, model and optimizer (the same work, so the same
  // outcome; the agreement is a safety net for a rank that cannot read its data).
  void build() {
    on_every_rank(comm_, [&] {
      TensorFile resumed;
      if (opt_.resume) {
        resumed = check_run_file(parse_safetensors(resumed_bytes_, last_path_), last_path_);
        resumed_bytes_ = std::string();
        keep_stored_config(cfg_, resumed, last_path_, opt_.given);
      }
      resolve_settings();
      model_ = std::make_unique<Transformer>(cfg_.model, uint64_t(cfg_.seed));
      adam_ = std::make_unique<AdamW>(model_->named_parameters(), model_->decay_flags(), cfg_.optim);
      st_.data_rng = Generator(uint64_t(cfg_.seed) ^ 0xda7a5eedULL);
      if (opt_.resume) restore(resumed);
      else if (!opt_.init.empty()) restore_weights(load_safetensors(opt_.init), opt_.init, *model_);  // --init
    });
    check_same_tokens(comm_, *task_);  // before any gradient is summed over models that might differ
    // Each rank draws its own dropout masks (rank 0 keeps the stored stream, so one rank
    // trains exactly as before); weights stay identical because gradients are summed.
    Generator& dropout = model_->dropout_rng;
    if (comm_.rank() > 0) dropout.seed(fnv1a64(dropout.state().data(), dropout.state().size()) + uint64_t(comm_.rank()));
    // The fixed evaluation sets: "valid" chooses the best checkpoint, the task's splits are reported.
    split_names_ = {"valid"};
    for (const std::string& s : task_->splits())
      if (s != "valid") split_names_.push_back(s);
    for (const std::string& s : split_names_) sets_.push_back(task_->eval_set(s));
  }

  // 3. The run will start: rank 0 makes the folder ready, opens metrics.jsonl and
  // writes config.json; the first line says what is being trained.
  void prepare_folder() {
    on_every_rank(comm_, [&] {
      if (root_) folder_.prepare(cfg_, metrics_);
      if (root_ && opt_.trace) {  // the weights before the first step, then a line per step
        save_run((fs::path(opt_.out) / "init.safetensors").string(), cfg_, *task_, *model_, *adam_, st_);
        trace_ = std::make_unique<StepTrace>(opt_.out);
      }
    });
    log_every_ = cfg_.log_every > 0 ? cfg_.log_every : std::max<int64_t>(1, cfg_.steps / 20);
    first_ = st_.step;
    saved_step_ = opt_.resume ? st_.step : -1;
    progress_ = std::make_unique<Progress>(err_, st_.step, cfg_.steps, log_every_);
    progress_->message("minicope: training " + cfg_.model.pe + " on " + task_->name() + " (" +
                       std::to_string(model_->parameter_count()) + " parameters, context " +
                       std::to_string(cfg_.model.seq) + ", " + std::to_string(cfg_.steps) + " steps" +
                       (comm_.distributed() ? ", " + std::to_string(comm_.size()) + " ranks" : "") + ", about " +
                       format_bytes(memory_.total()) + " of memory) into " + opt_.out +
                       (opt_.init.empty() || opt_.resume ? "" : ", from the weights in " + opt_.init));
  }

  // 4. The loop. Returns false when it stopped early (--stop-after).
  bool loop() {
    // Held to the end of train(): a first SIGINT during the final evaluation is caught
    // and ignored (the run is over and saved), a second one ends the program.
    signals_.emplace();
    comm_.watch_stop_flag(StopSignals::flag());  // a signal while waiting for the others: see watch_stop_flag
    grad_sync_ = std::make_unique<GradSync>(comm_, model_->named_parameters(), opt_.bucket_bytes, opt_.overlap);
    try {
      while (st_.step < cfg_.steps) {
        StepResult r = step();
        log(r);
        if (!comm_.distributed()) r.stop_signal = StopSignals::caught();  // one rank: a signal during the step counts now
        const bool stopping = opt_.stop_after > 0 && st_.step - first_ >= opt_.stop_after;
        if (st_.step % cfg_.eval_every == 0 || st_.step == cfg_.steps) evaluate_and_save();
        else if (stopping || r.stop_signal) save_last();
        if (r.stop_signal) stop_on_signal(r.stop_signal);
        if (stopping && st_.step < cfg_.steps) {
          progress_->message("minicope: stopped after " + std::to_string(opt_.stop_after) + " steps at step " +
                             std::to_string(st_.step) + "; continue with --resume");
          return false;
        }
      }
    } catch (const RankLost& e) {
      save_after_lost_rank(e);
    }
    return true;
  }

  // 5. The end: the metrics of the best checkpoint, printed.
  std::vector<EvalMetrics> finish(std::ostream& out) {
    progress_->message("minicope: done in " + duration(progress_->seconds()) + "; best checkpoint: step " +
                       std::to_string(st_.best_step) + " (" + best_path_ + ")" +
                       (comm_.distributed() ? "; " + sync_summary(*grad_sync_, progress_->seconds()) : ""));
    if (best_metrics_.empty()) best_metrics_ = evaluate_stored_best();  // resumed past the best
    print_metrics(out, *task_, best_metrics_, opt_.json, st_.best_step);
    return best_metrics_;
  }

 private:
  // The settings as this run will use them: checked against the task and the machine.
  void resolve_settings() {
    check_settings_apply(cfg_, opt_.given);  // e.g. --tokenizer with a synthetic task
    if (cfg_.task.name == "text") {  // the windows are the model's context
      if (cfg_.model.seq == 0) cfg_.model.seq = 128;
      cfg_.task.context = cfg_.model.seq;
    }
    if (cfg_.task.cut_left) {  // counting: programs are cut to the model's context
      if (cfg_.model.seq == 0) throw SettingError("cut-left", "--cut-left cuts programs to --seq: give --seq");
      cfg_.task.context = cfg_.model.seq;
    }
    if (cfg_.batch < comm_.size())
      throw SettingError("batch", "--batch " + std::to_string(cfg_.batch) + " is smaller than the " +
                                      std::to_string(comm_.size()) + " ranks (each rank takes a share of every batch)");
    task_ = opt_.resume ? stored_task(cfg_, last_path_) : make_task(cfg_.task);
    resolve(cfg_, *task_);
    if (cfg_.epochs > 0 && !opt_.resume) resolve_epochs();
    cfg_.task.vocab.clear();  // stored in the checkpoint's metadata, not in its configuration
    // before the model and the sets are allocated; the ranks on this machine share it
    memory_ = estimate_training_memory(cfg_, *task_);
    if (opt_.memory_check) check_training_memory(memory_, cfg_, launch_from_env().local_size);
  }

  // --epochs: the run is that many passes over the task's fixed training set.
  void resolve_epochs() {
    const int64_t n = int64_t(task_->training_set().size());
    if (n == 0)
      throw SettingError("epochs", "--epochs needs a fixed training set (counting with --data); " + task_->name() +
                                       " draws its examples anew");
    if (opt_.given.count("steps"))
      throw SettingError("epochs", "--epochs sets the number of steps; give --steps or --epochs, not both");
    cfg_.steps = (cfg_.epochs * n + cfg_.batch - 1) / cfg_.batch;
  }

  // Example n of an --epochs run (n = step * batch + i): pass n / N over the training set
  // reads it in an order shuffled from the seed and the pass (the same on every rank and
  // after a resume).
  const Example& epoch_example(int64_t n) {
    const std::span<const Example> set = task_->training_set();
    const int64_t N = int64_t(set.size()), pass = n / N;
    if (pass != order_pass_) order_ = epoch_order(N, uint64_t(cfg_.seed), pass), order_pass_ = pass;
    return set[size_t(order_[size_t(n % N)])];
  }

  void restore(const TensorFile& resumed) {
    restore_run(resumed, last_path_, *model_, *adam_, st_);
    if (st_.step >= cfg_.steps)
      throw SettingError("steps", "--resume: the run is already at step " + std::to_string(st_.step) + " of --steps " +
                                      std::to_string(cfg_.steps) + "; pass a larger --steps to train further");
  }

  // One optimizer step on one batch. Every rank draws the whole global batch (the same
  // data generator everywhere: the run is the same whatever the number of ranks) and
  // trains on its share of it.
  StepResult step() {
    data_rng_before_ = st_.data_rng, dropout_rng_before_ = model_->dropout_rng, mid_step_ = true;
    std::vector<Example> examples;
    for (int64_t i = 0; i < cfg_.batch; ++i)
      examples.push_back(cfg_.epochs > 0 ? epoch_example(st_.step * cfg_.batch + i) : task_->sample(st_.data_rng));
    const auto [lo, hi] = shard(int64_t(examples.size()), comm_);
    const std::span<const Example> mine = std::span<const Example>(examples).subspan(size_t(lo), size_t(hi - lo));
    // uneven examples (Counting) packed into rows of the context, others padded: the same
    // scored predictions either way, so the same mean loss (tasks/task.h, smallest_batch)
    const TokenBatch b = smallest_batch(mine, cfg_.model.seq);
    model_->zero_grad();
    Var loss = cross_entropy(model_->forward(b.inputs, b.starts), b.targets, b.mask);
    const std::string step_name = "step " + std::to_string(st_.step + 1);
    StepResult r = sum_loss(loss, examples, mine, step_name);
    if (!std::isfinite(r.loss))
      stop_bad(std::string("the loss is ") + (std::isnan(r.loss) ? "NaN" : "infinite"), first_non_finite(*model_, false));
    loss.backward(grad_sync_->leaf_done());
    grad_sync_->finish(step_name);
    r.grad_norm = adam_->clip_gradients();
    if (!std::isfinite(r.grad_norm)) stop_bad("a gradient is not finite", first_non_finite(*model_, true));
    r.lr = learning_rate(cfg_.optim, st_.step, cfg_.steps);
    adam_->step(r.lr);
    ++st_.step;
    mid_step_ = false;
    if (trace_) trace_->write(st_.step, b, r.loss, r.grad_norm, r.lr);  // one rank (cmd_train): b is the batch
    tokens_ += prediction_count(examples);
    return r;
  }

  // The loss of the whole batch. Several ranks: the mean over all its scored predictions
  // is this rank's mean weighted by its share of them (its gradient is then this rank's
  // share of the one-process gradient); the same sum agrees on a stop signal.
  StepResult sum_loss(Var& loss, std::span<const Example> all, std::span<const Example> mine, const std::string& step_name) {
    StepResult r;
    if (!comm_.distributed()) {
      r.loss = loss.item();
      return r;
    }
    loss = loss * loss_share(all, mine);
    const int sig = StopSignals::caught();
    double control[3] = {loss.item(), sig == SIGINT ? 1.0 : 0.0, sig == SIGTERM ? 1.0 : 0.0};
    comm_.sum(control, 3, "summing the loss of " + step_name);
    r.loss = control[0];
    r.stop_signal = control[1] > 0 ? SIGINT : control[2] > 0 ? SIGTERM : 0;
    return r;
  }

  // The progress line, and every log_every steps a line of metrics.jsonl.
  void log(const StepResult& r) {
    const double tps = double(tokens_) / std::max(1e-9, progress_->seconds());
    progress_->step(st_.step, r.loss, tps);
    if (root_ && st_.step % log_every_ == 0)
      metrics_ << nlohmann::json{{"step", st_.step}, {"loss", r.loss}, {"lr", r.lr}, {"grad_norm", r.grad_norm},
                                 {"tokens_per_s", tps}}.dump()
               << "\n" << std::flush;
  }

  std::vector<EvalMetrics> evaluate_all(Transformer& m) {
    const int64_t eval_batch = std::max<int64_t>(cfg_.batch, 64);
    std::vector<EvalMetrics> ms;
    for (size_t s = 0; s < split_names_.size(); ++s) {
      ms.push_back(evaluate(m, split_names_[s], sets_[s], eval_batch, &comm_));
      ms.back().text = task_->scored_text(split_names_[s]);
    }
    return ms;
  }

  // Evaluates every split, logs it, keeps the best checkpoint (text: the lowest valid
  // loss; tasks: the lowest valid error, then the lowest loss) and saves.
  void evaluate_and_save() {
    check_same_weights(comm_, *model_, "step " + std::to_string(st_.step));
    const std::vector<EvalMetrics> ms = evaluate_all(*model_);
    if (root_) {
      for (const EvalMetrics& m : ms) metrics_ << metrics_line(*task_, m, st_.step) << "\n";
      metrics_ << std::flush;
    }
    std::string summary = "  eval @" + std::to_string(st_.step) + ":";
    for (const EvalMetrics& m : ms) {
      char b[64];
      if (task_->is_text()) std::snprintf(b, sizeof b, " %s loss %.4f", m.split.c_str(), m.loss);
      else std::snprintf(b, sizeof b, " %s %.2f%%", m.split.c_str(), 100 * m.error_rate);
      summary += b;
    }
    const EvalMetrics& valid = ms[0];
    const double err_v = task_->is_text() ? valid.loss : valid.error_rate;
    const bool better = err_v < st_.best_error || (err_v == st_.best_error && valid.loss < st_.best_loss);
    if (better) {
      st_.best_error = err_v, st_.best_loss = valid.loss, st_.best_step = st_.step;
      best_metrics_.assign(task_->is_text() ? ms.begin() : ms.begin() + 1, ms.end());
      summary += "  (best)";
    }
    progress_->message(summary);
    // last first: when a save fails, best never runs ahead of last
    save_last();
    if (better && root_) save_run(best_path_, cfg_, *task_, *model_, *adam_, st_);
  }

  void save_last() {
    if (root_) save_run(last_path_, cfg_, *task_, *model_, *adam_, st_);
    saved_step_ = st_.step;
  }

  [[noreturn]] void stop_on_signal(int sig) {
    comm_.mark_failure_agreed();
    progress_->message(std::string("minicope: ") + (sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)") +
                       " at step " + std::to_string(st_.step) + " of " + std::to_string(cfg_.steps) + "; saved " +
                       last_path_ + "; continue with: minicope train --out " + opt_.out + " --resume");
    throw Interrupted(sig);
  }

  // A step whose loss or gradients are not finite stops the run; the checkpoint on disk
  // is the last good one (it is never overwritten by a bad step). Every rank sees the
  // same summed loss and gradients, so all stop together.
  [[noreturn]] void stop_bad(const std::string& what, const std::string& culprit) {
    comm_.mark_failure_agreed();
    throw std::runtime_error("step " + std::to_string(st_.step + 1) + ": " + what +
                             (culprit.empty() ? "" : " (" + culprit + ")") + "; training stopped; " +
                             (saved_step_ >= 0 ? "the last good checkpoint is " + last_path_ + " (step " +
                                                     std::to_string(saved_step_) + ")"
                                               : std::string("no checkpoint was written yet")) +
                             " (try a lower --lr or --clip)");
  }

  // Another rank was lost mid-run. Rank 0 still holds a whole state: that of the last
  // finished step (weights and moments change only in adam.step), once the generators
  // are put back to where that step left them. It saves it, and says so, before it stops.
  [[noreturn]] void save_after_lost_rank(const RankLost& e) {
    if (!root_) throw;  // (called from the handler: rethrows e)
    if (mid_step_) st_.data_rng = data_rng_before_, model_->dropout_rng = dropout_rng_before_;
    std::string saved;
    if (st_.step > saved_step_) {
      try {
        save_last();
        saved = "; saved step " + std::to_string(st_.step) + " to " + last_path_;
      } catch (const std::exception& se) {
        saved = std::string("; saving the last step failed too: ") + se.what();
      }
    } else if (saved_step_ >= 0) {
      saved = "; the last checkpoint is " + last_path_ + " (step " + std::to_string(saved_step_) + ")";
    }
    throw RankLost(e.what() + saved + (saved_step_ >= 0 ? "; continue with: minicope train --out " + opt_.out + " --resume" : ""));
  }

  // The metrics of the stored best checkpoint, on the reported splits.
  std::vector<EvalMetrics> evaluate_stored_best() {
    const std::string bytes = read_on_rank0(comm_, best_path_);
    LoadedRun best;
    on_every_rank(comm_, [&] {
      best = run_from_file(check_run_file(parse_safetensors(bytes, best_path_), best_path_), best_path_, 0, false);
    });
    split_names_ = task_->splits();
    sets_.clear();
    for (const std::string& s : split_names_) sets_.push_back(task_->eval_set(s));
    return evaluate_all(*best.model);
  }

  Comm& comm_;
  const bool root_;
  RunConfig cfg_;
  const TrainOptions& opt_;
  std::ostream& err_;
  const std::string last_path_, best_path_;
  RunFolder folder_;
  std::string resumed_bytes_;
  std::unique_ptr<Task> task_;
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<AdamW> adam_;
  RunState st_;
  MemoryEstimate memory_;
  std::vector<std::string> split_names_;
  std::vector<std::vector<Example>> sets_;
  std::ofstream metrics_;
  std::unique_ptr<Progress> progress_;
  std::optional<StopSignals> signals_;
  std::unique_ptr<GradSync> grad_sync_;
  std::vector<EvalMetrics> best_metrics_;
  int64_t log_every_ = 1, first_ = 0, tokens_ = 0;
  int64_t saved_step_ = -1;  // the step of the last checkpoint on disk
  // The state before the step in progress, for a lost rank (save_after_lost_rank).
  Generator data_rng_before_, dropout_rng_before_;
  bool mid_step_ = false;
  std::unique_ptr<StepTrace> trace_;  // --trace
  std::vector<int64_t> order_;  // --epochs: the shuffled order of the current pass
  int64_t order_pass_ = -1;
};

}  // namespace

std::vector<EvalMetrics> train(RunConfig cfg, const TrainOptions& opt, std::ostream& out, std::ostream& err) {
  Run run(std::move(cfg), opt, err);
  run.check_folder();    // a run to resume, or none; locked; nothing written
  run.build();           // task, model, optimizer, evaluation sets (resumed: the stored state)
  run.prepare_folder();  // everything checked: the folder, metrics.jsonl, config.json
  if (!run.loop()) return {};
  return run.finish(out);
}

}  // namespace mc
