// cmd_train.cpp — `minicope train` and `minicope eval`.
#include <chrono>
#include <ctime>
#include <cxxopts.hpp>
#include <fstream>
#include <iostream>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "dist/comm.h"
#include "io/files.h"
#include "train/evaluate.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "dist/ranks.h"
#include "train/run_checkpoint.h"
#include "train/trainer.h"

namespace mc {

namespace {

// Adds every setting as a flag (values as text; parse_flag_value checks them).
void add_setting_flags(cxxopts::Options& options) {
  for (const char* group : {"task", "model", "optim", "run"})
    for (const Setting& s : settings()) {
      if (s.group != group) continue;
      auto value = cxxopts::value<std::string>();
      if (s.kind == "bool") value->implicit_value("true");
      const nlohmann::json d = s.get(RunConfig());
      std::string help = s.help;
      if (!d.is_null() && !(d.is_string() && d.get<std::string>().empty()) && !(s.name == "seq" && d == 0) &&
          !(s.name == "log-every" && d == 0))
        help += " [default: " + (d.is_string() ? d.get<std::string>() : d.dump()) + "]";
      options.add_options(group)(s.name, help, value);
    }
}

// Defaults, then --config FILE, then the flags; records which settings were given.
RunConfig gather(const cxxopts::ParseResult& r, std::set<std::string>& given) {
  RunConfig cfg;
  if (r.count("config")) {
    const std::string path = r["config"].as<std::string>();
    for (const std::string& key : apply_config_file(cfg, path)) given.insert(key);
  }
  for (const Setting& s : settings())
    if (r.count(s.name)) {
      apply_setting(cfg, s, parse_flag_value(s, r[s.name].as<std::string>()), "--" + s.name);
      given.insert(s.name);
    }
  return cfg;
}

std::string default_out(const RunConfig& cfg) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string pe = cfg.model.pe;
  std::replace(pe.begin(), pe.end(), '+', '-');
  return "runs/" + cfg.task.name + "-" + pe + "-" + stamp;
}

// The flags of a run on several ranks (mpirun), for train and eval.
void add_rank_flags(cxxopts::Options& options, bool training) {
  options.add_options("ranks")("rank-timeout", "mpirun: seconds to wait for the other ranks before giving up [default: 300]",
                               cxxopts::value<std::string>());
  if (training)
    options.add_options("ranks")("bucket-kb", "mpirun: gradients are summed in buckets of about N KiB [default: 1024]",
                                 cxxopts::value<std::string>())(
        "overlap", "mpirun: sum each bucket while backward computes the rest [default: true]",
        cxxopts::value<std::string>()->implicit_value("true"));
}

// Joins the other ranks when mpirun started this process (initialising MPI), and
// shares this machine's cores among its ranks unless --threads says otherwise.
Comm& join_ranks(ParsedArgs& p) {
  const auto& r = *p.result;
  const int64_t timeout = r.count("rank-timeout") ? flag_int(r, "rank-timeout", 1, 7 * 24 * 3600) : 300;
  Comm& comm = Comm::world();
  comm.set_timeout(double(timeout));
  if (comm.distributed() && !p.threads) {
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    const int each = std::max(1, cores / launch_from_env().local_size);
    p.threads = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, size_t(each));
  }
  return comm;
}

}  // namespace

int cmd_train(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("minicope train",
                           "Trains a transformer on a task (flipflop, selcopy, counting, or your text), evaluating\n"
                           "on every split as it goes.\n"
                           "Settings come from the defaults, then --config FILE (a JSON object whose keys are the\n"
                           "flag names without --), then the flags. The run folder gets last.safetensors,\n"
                           "best.safetensors (chosen on the valid split), metrics.jsonl and config.json.");
  options.add_options()("config", "JSON file of settings", cxxopts::value<std::string>())(
      "out", "run folder (default: runs/TASK-PE-TIME)", cxxopts::value<std::string>())(
      "resume", "continue the run in --out from its last checkpoint")(
      "stop-after", "stop after N steps of this invocation, with a checkpoint", cxxopts::value<std::string>())(
      "json", "print the final evaluation as JSON lines")(
      "trace", "also write the initial weights (init.safetensors) and each step's batch, loss, gradient norm and "
               "learning rate (trace.jsonl) into --out, to replay elsewhere (bench/trajectory.py); for short runs")(
      "init", "start from the weights in FILE (safetensors, tensors named as docs/model.md) instead of the seeded "
              "initialisation; the data and dropout still follow --seed",
      cxxopts::value<std::string>())(
      "memory-check", "refuse a run whose estimated memory exceeds what is available [default: true]",
      cxxopts::value<std::string>()->implicit_value("true"));
  add_setting_flags(options);
  add_rank_flags(options, true);
  ParsedArgs p = parse_args(options, args);
  if (p.help) {
    out << options.help({"", "task", "model", "optim", "run", "ranks", "common"});
    return 0;
  }
  const auto& r = *p.result;
  // Under mpirun the ranks join here; from now on a failure on any rank is agreed, and
  // reported once (dist/ranks.h). A rank may miss a file the others have.
  Comm& comm = join_ranks(p);
  TrainOptions opt;
  RunConfig cfg;
  on_every_rank(comm, [&] {
    if (r.count("bucket-kb")) opt.bucket_bytes = flag_int(r, "bucket-kb", 1, int64_t(1) << 21) * 1024;
    if (r.count("overlap")) opt.overlap = flag_bool(r, "overlap");
    cfg = gather(r, opt.given);
    if (r.count("memory-check")) opt.memory_check = flag_bool(r, "memory-check");
    opt.resume = r.count("resume") > 0;
    opt.json = r.count("json") > 0;
    if (r.count("stop-after")) opt.stop_after = flag_int(r, "stop-after", 1, int64_t(1) << 40);
    opt.trace = r.count("trace") > 0;
    if (r.count("init")) opt.init = r["init"].as<std::string>();
    if (!opt.init.empty() && opt.resume) throw UsageError("--init gives a new run its first weights; a resumed run has its own");
    if (opt.trace && opt.resume) throw UsageError("--trace records a run from its first step; it cannot be used with --resume");
    if (opt.trace && comm.size() > 1) throw UsageError("--trace records a run on one process; run it without mpirun");
    if (r.count("out")) opt.out = r["out"].as<std::string>();
    else if (opt.resume) throw UsageError("--resume needs --out DIR, the run to continue");
    else opt.out = default_out(cfg);
    if (opt.out.empty()) throw UsageError("--out must not be empty");
  });
  opt.out = comm.broadcast(opt.out, 0, "agreeing on the run folder");  // a default name holds rank 0's clock
  train(cfg, opt, out, err);
  return 0;
}

namespace {

// eval --errors FILE: a new file (an existing one is never replaced: it may be anything),
// for a task scored per example, from one process (a rank sees only its share).
std::string errors_flag(const std::string& path, const Task& task, const Comm& comm) {
  if (task.is_text())
    throw UsageError("--errors: a text run is scored by its loss, not per example; there are no wrong examples to list");
  if (comm.distributed()) throw UsageError("--errors: run eval as one process (not under mpirun) to list wrong examples");
  std::error_code ec;
  const auto type = std::filesystem::symlink_status(path, ec).type();
  if (type == std::filesystem::file_type::none) throw UsageError("--errors " + path + ": cannot be used (" + ec.message() + ")");
  if (type != std::filesystem::file_type::not_found)
    throw UsageError("--errors " + path + " exists; eval writes a new file and replaces none");
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (!folder.empty() && !std::filesystem::is_directory(folder, ec))
    throw UsageError("--errors " + path + ": there is no folder " + folder.string() + " to write it in");
  return path;
}

// One line of --errors: where the example is, its tokens, and each wrong prediction:
// the position of the token wanted, k (how many scored predictions come before it in the
// example), the token wanted and the token predicted (docs/tasks.md).
std::string wrong_example_line(const Task& task, const std::string& split, const Example& e, const WrongExample& w) {
  nlohmann::json predictions = nlohmann::json::array();
  for (const WrongPrediction& p : w.wrong)
    predictions.push_back({{"at", p.at}, {"k", p.k}, {"want", task.vocab().at(size_t(p.want))}, {"got", task.vocab().at(size_t(p.got))}});
  nlohmann::json j{{"split", split},    {"example", w.example},        {"scored", w.scored},
                   {"wrong", w.wrong.size()}, {"predictions", predictions}};
  if (e.shortcut_right >= 0) j["shortcut_right"] = e.shortcut_right == 1;
  j["text"] = task.describe(e);
  return j.dump();
}

}  // namespace

int cmd_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("minicope eval",
                           "Evaluates a checkpoint on its task's splits (the best checkpoint of a run folder, or a\n"
                           ".safetensors file).");
  options.add_options()("ckpt", "run folder or .safetensors file", cxxopts::value<std::string>())(
      "split", "only this split", cxxopts::value<std::string>())(
      "seq", "text: evaluate with windows of N tokens (may exceed the training context; not abs)",
      cxxopts::value<std::string>())("batch", "sequences per forward pass (default 64)",
                                                                 cxxopts::value<std::string>())(
      "json", "one JSON object per split")(
      "errors", "write every example the model gets wrong to FILE, a JSON line each: its tokens and wrong predictions (a new file; not for text)",
      cxxopts::value<std::string>());
  add_rank_flags(options, false);
  ParsedArgs p = parse_args(options, args);
  if (p.help) {
    out << options.help();
    return 0;
  }
  const auto& r = *p.result;
  Comm& comm = join_ranks(p);  // under mpirun: failures from here on are agreed (dist/ranks.h)
  int64_t batch = 64;
  LoadedRun run;
  std::vector<std::string> splits;
  std::string errors_path;  // --errors: where the wrong examples go
  on_every_rank(comm, [&] {  // under mpirun each rank reads the checkpoint (and the task's data) itself
    if (r.count("batch")) batch = flag_int(r, "batch", 1, 1 << 20);
    const std::string ckpt = r.count("ckpt") ? r["ckpt"].as<std::string>() : "";
    run = load_run_flag(r.count("ckpt") ? &ckpt : nullptr, r.count("seq") ? flag_int(r, "seq", 1, kMaxContext) : 0, true);
    splits = run.task->splits();
    if (r.count("split")) splits = {split_flag(*run.task, r["split"].as<std::string>())};
    if (r.count("errors")) errors_path = errors_flag(r["errors"].as<std::string>(), *run.task, comm);
  });
  std::vector<EvalMetrics> ms;
  std::string errors;  // the JSON lines of --errors
  int64_t listed = 0;
  for (const std::string& s : splits) {
    const std::vector<Example> set = run.task->eval_set(s);
    std::vector<WrongExample> wrong;
    ms.push_back(evaluate(*run.model, s, set, batch, &comm, errors_path.empty() ? nullptr : &wrong));
    ms.back().text = run.task->scored_text(s);
    for (const WrongExample& w : wrong) errors += wrong_example_line(*run.task, s, set[size_t(w.example)], w) + "\n";
    listed += int64_t(wrong.size());
  }
  (void)err;
  print_metrics(out, *run.task, ms, r.count("json") > 0, run.step);
  if (!errors_path.empty()) {
    write_file_atomically(errors_path, errors);
    if (!r.count("json")) out << "wrote " << errors_path << ": " << listed << " wrong examples\n";
  }
  return 0;
}

}  // namespace mc
