// test_train.cpp — the training loop: AdamW and the schedule by hand, exact resume,
// a tiny model that learns, evaluation of packed chunks, and the error contract of
// `train` and `eval`.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/cli_util.h"
#include "cli/cli.h"
#include "io/safetensors.h"
#include "train/evaluate.h"
#include "train/run_checkpoint.h"
#include "train/trainer.h"

using namespace mc;
namespace fs = std::filesystem;

namespace {

using Run = CliRun;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("minicope_test_" + name);
  fs::remove_all(d);
  return d;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A tiny flip-flop run: the flags every test here shares.
std::vector<std::string> tiny(const fs::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"train", "--out", out.string(), "--length", "16", "--layers", "1", "--dim", "16",
                                "--heads", "2", "--batch", "8", "--eval-size", "20", "--threads", "1"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}


}  // namespace

TEST_CASE("AdamW: one step by hand; no decay on vectors and position tables") {
  OptimConfig c;
  c.lr = 0.1;
  c.weight_decay = 0.5;
  Var w(Tensor::from({1.0, -2.0, 3.0, 4.0}, {2, 2}, DType::f64), true), b(Tensor::from({1.0, 1.0}, {2}, DType::f64), true);
  AdamW opt({{"lin.weight", w}, {"lin.bias", b}}, {true, false}, c);
  w.grad() = Tensor::from({0.5, -0.5, 0.0, 2.0}, {2, 2}, DType::f64);
  b.grad() = Tensor::from({1.0, -1.0}, {2}, DType::f64);
  opt.step(0.1);
  // step 1: m = (1-b1) g, v = (1-b2) g^2, bias-corrected m/sqrt(v) = sign(g) (0 for g = 0)
  // w <- w (1 - lr wd) - lr sign(g);  bias: no decay
  const auto wv = w.value().to_vector(), bv = b.value().to_vector();
  CHECK(wv[0] == doctest::Approx(1.0 * 0.95 - 0.1 * 0.5 / (0.5 + 1e-8 * std::sqrt(1 - 0.99) / 0.1 * 0 + 1e-8)).epsilon(1e-6));
  CHECK(wv[1] == doctest::Approx(-2.0 * 0.95 + 0.1).epsilon(1e-6));
  CHECK(wv[2] == doctest::Approx(3.0 * 0.95).epsilon(1e-9));
  CHECK(bv[0] == doctest::Approx(1.0 - 0.1).epsilon(1e-6));
  CHECK(bv[1] == doctest::Approx(1.0 + 0.1).epsilon(1e-6));
  CHECK_THROWS_AS(AdamW({{"a", w}}, {}, c), std::invalid_argument);  // a mark for every parameter
}

TEST_CASE("clipping by the global norm, and the schedule") {
  Var a(Tensor::zeros({2}, DType::f64), true), b(Tensor::zeros({1}, DType::f64), true);
  OptimConfig c;
  c.clip = 1.0;
  AdamW opt({{"a", a}, {"b", b}}, {false, false}, c);
  a.grad() = Tensor::from({3.0, 0.0}, {2}, DType::f64);
  b.grad() = Tensor::from({4.0}, {1}, DType::f64);
  CHECK(opt.clip_gradients() == doctest::Approx(5.0));
  CHECK(a.grad().at({0}) == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(b.grad().at({0}) == doctest::Approx(0.8).epsilon(1e-5));
  c.lr = 1.0;
  c.warmup = 10;
  c.min_lr_ratio = 0.1;
  CHECK(learning_rate(c, 0, 110) == doctest::Approx(0.1));
  CHECK(learning_rate(c, 9, 110) == doctest::Approx(1.0));
  CHECK(learning_rate(c, 60, 110) == doctest::Approx(0.55));  // cosine midpoint
  CHECK(learning_rate(c, 110, 110) == doctest::Approx(0.1));
  c.schedule = "linear";
  CHECK(learning_rate(c, 60, 110) == doctest::Approx(0.55));
  CHECK(learning_rate(c, 35, 110) == doctest::Approx(0.775));
  c.schedule = "constant";
  CHECK(learning_rate(c, 100, 110) == 1.0);
}

TEST_CASE("resume is exact: N steps, stop, resume to N+M equals N+M straight") {
  const fs::path straight = fresh_dir("straight"), split = fresh_dir("split");
  const std::vector<std::string> common = {"--steps", "12", "--eval-every", "6", "--dropout", "0.1", "--warmup", "3"};
  REQUIRE(cli(tiny(straight, common)).code == 0);
  auto first = tiny(split, common);
  first.insert(first.end(), {"--stop-after", "5"});
  REQUIRE(cli(first).code == 0);
  auto second = tiny(split, common);
  second.push_back("--resume");
  const Run r = cli(second);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const TensorFile a = load_safetensors((straight / "last.safetensors").string()),
                   b = load_safetensors((split / "last.safetensors").string());
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].first);
    CHECK(bitwise_equal(a.tensors[i].second, b.tensors[i].second));
  }
  CHECK(a.metadata.at("rng_data") == b.metadata.at("rng_data"));
  // and with a constant schedule, a finished run of N steps extends to N+M exactly
  const fs::path whole = fresh_dir("whole"), grown = fresh_dir("grown");
  const std::vector<std::string> flat = {"--schedule", "constant", "--warmup", "0", "--eval-every", "4"};
  auto w = tiny(whole, flat);
  w.insert(w.end(), {"--steps", "8"});
  REQUIRE(cli(w).code == 0);
  auto g1 = tiny(grown, flat);
  g1.insert(g1.end(), {"--steps", "4"});
  REQUIRE(cli(g1).code == 0);
  auto g2 = tiny(grown, flat);
  g2.insert(g2.end(), {"--steps", "8", "--resume"});
  REQUIRE(cli(g2).code == 0);
  CHECK(bitwise_equal(load_safetensors((whole / "last.safetensors").string()).at("blocks.0.attn.cope_e"),
                      load_safetensors((grown / "last.safetensors").string()).at("blocks.0.attn.cope_e")));
}

TEST_CASE("--init starts from the given weights; --trace writes the weights it started from") {
  // seed 2's first weights, then a seed-1 run (seed 1's data) started from them
  const fs::path a = fresh_dir("init-a"), b = fresh_dir("init-b");
  REQUIRE(cli(tiny(a, {"--steps", "2", "--seed", "2", "--trace"})).code == 0);
  const std::string from = (a / "init.safetensors").string();
  REQUIRE(cli(tiny(b, {"--steps", "2", "--seed", "1", "--trace", "--init", from})).code == 0);
  const TensorFile wa = load_safetensors(from), wb = load_safetensors((b / "init.safetensors").string());
  int64_t params = 0;
  for (const auto& [name, t] : wa.tensors) {
    if (name.rfind("optim.", 0) == 0) continue;
    CHECK_MESSAGE(wb.at(name).to_vector() == t.to_vector(), name);
    ++params;
  }
  CHECK(params > 10);
  // and the trace holds one line per step, the first at step 1
  std::ifstream tr(b / "trace.jsonl");
  std::string first, line;
  std::getline(tr, first);
  int lines = 1;
  while (std::getline(tr, line)) ++lines;
  CHECK(lines == 2);
  CHECK(first.find("\"step\":1,") != std::string::npos);
  CHECK(first.find("\"inputs\":[") != std::string::npos);
}

TEST_CASE("a fixed-seed run gives the same checkpoint on 1 and 2 threads") {
  std::vector<std::string> files;
  for (const char* threads : {"1", "2"}) {
    const fs::path d = fresh_dir(std::string("threads") + threads);
    // context 80: the attention kernel's query blocks of 64 split; dropout on
    const std::vector<std::string> args = {"train", "--out", d.string(), "--length", "16", "--seq", "80", "--layers", "2",
                                           "--dim", "32", "--heads", "2", "--batch", "4", "--eval-size", "20", "--steps", "6",
                                           "--eval-every", "3", "--dropout", "0.1", "--threads", threads};
    REQUIRE(cli(args).code == 0);
    files.push_back(bytes_of(d / "last.safetensors"));
  }
  CHECK(files[0] == files[1]);
}

TEST_CASE("a tiny model learns flip-flop within seconds, on every seed tried") {
  // Not a threshold tuned to one seed: on 8 seeds this run's test loss lay between
  // 0.003 and 0.25 and its read error between 0% and 9% with GPT-2's initialisation, and
  // between 0.002 and 0.10 (read error 0% to 3.7%) with PyTorch's, the task's default
  // since 2026-12-04 (init-scheme auto, which this run uses). A model that has not learnt
  // to read the latest write can do no better than ln 2 per read (the bit is 0 or 1).
  std::vector<double> read_errors;
  for (int64_t seed : {1, 2, 3}) {
    const fs::path d = fresh_dir("learns" + std::to_string(seed));
    RunConfig cfg;
    cfg.task.length = 16;
    cfg.task.eval_size = 200;
    cfg.model.layers = 2;
    cfg.model.dim = 32;
    cfg.model.heads = 2;
    cfg.steps = 300;
    cfg.batch = 32;
    cfg.eval_every = 300;
    cfg.optim.lr = 3e-3;
    cfg.optim.warmup = 30;
    cfg.seed = seed;
    TrainOptions opt;
    opt.out = d.string();
    std::ostringstream out, err;
    const auto m = train(cfg, opt, out, err);
    REQUIRE(m.size() == 3);
    REQUIRE(m[0].split == "test");
    INFO("seed " << seed << ": test loss " << m[0].loss << ", read error " << m[0].token_error_rate);
    CHECK(m[0].loss < 0.5 * std::log(2.0));
    read_errors.push_back(m[0].token_error_rate);
  }
  std::sort(read_errors.begin(), read_errors.end());
  CHECK(read_errors[1] < 0.15);  // the median of three; chance is 50%
}

TEST_CASE("train and eval refuse bad input with one line, and leave a checkpoint intact") {
  const std::string official = std::string(MINICOPE_SOURCE_DIR) + "/tests/data/counting_official";
  const fs::path d = fresh_dir("errors");
  REQUIRE(cli(tiny(d, {"--steps", "2"})).code == 0);
  const fs::path last = d / "last.safetensors";
  const std::string before = bytes_of(last);
  struct Case { std::vector<std::string> args; int code; const char* text; };
  const std::vector<Case> cases = {
      {tiny(fresh_dir("e1"), {"--steps", "0"}), 2, "--steps must be between 1"},
      {tiny(fresh_dir("e2"), {"--eval-every", "-1"}), 2, "--eval-every must be between 1"},
      {tiny(fresh_dir("e3"), {"--lr", "abc"}), 2, "--lr expects a number, got 'abc'"},
      {tiny(fresh_dir("e4"), {"--seq", "8"}), 2, "--seq 8 is shorter than the flipflop task needs"},
      {tiny(fresh_dir("e5"), {"--pe", "alibi"}), 2, "--pe expects one of"},
      {{"train", "--out", fresh_dir("e6").string(), "--dim", "10", "--heads", "3"}, 2, "--dim 10 is not divisible by heads (3)"},
      {tiny(fresh_dir("e7"), {"--pe", "abs", "--nodiv"}), 2, "--nodiv is a CoPE option"},
      {tiny(d, {"--steps", "4"}), 2, "already holds a run (last.safetensors); pass --resume"},
      {tiny(d, {"--steps", "4", "--resume", "--lr", "0.5"}), 2, "--resume: --lr 0.5 differs from the run's"},
      {tiny(d, {"--resume"}), 2, "the run is already at step 2"},
      {tiny(d, {"--resume", "--trace"}), 2, "--trace records a run from its first step"},
      {tiny(d, {"--resume", "--init", (d / "last.safetensors").string()}), 2, "--init gives a new run its first weights"},
      {tiny(fresh_dir("e13"), {"--init", (d / "nothing.safetensors").string()}), 1, "nothing.safetensors: cannot be read"},
      {tiny(fresh_dir("e14"), {"--pe", "abs", "--init", last.string()}), 1, "has no tensor 'pos_emb.weight'"},
      {{"train", "--task", "counting", "--data", "/nonexistent/folder", "--out", fresh_dir("e8").string()}, 1, "not a folder"},
      {{"train", "--config", "/nonexistent.json", "--out", fresh_dir("e9").string()}, 1, "config /nonexistent.json: cannot be read"},
      {{"eval", "--ckpt", (d / "nothing.safetensors").string()}, 1, "cannot be read"},
      {{"eval", "--ckpt", d.string(), "--split", "nope"}, 2, "flipflop has no split 'nope'"},
      {{"eval"}, 2, "--ckpt DIR is required"},
      {tiny(fresh_dir("e11"), {"--epochs", "2"}), 2, "--epochs needs a fixed training set"},
      {{"train", "--task", "counting", "--data", official, "--epochs", "2", "--steps", "5", "--out", fresh_dir("e12").string()},
       2, "give --steps or --epochs, not both"},
      {{"train", "--task", "counting", "--cut-left", "--out", fresh_dir("e13").string()}, 2, "--cut-left cuts programs to --seq: give --seq"},
      {tiny(fresh_dir("e14"), {"--cut-left"}), 2, "--cut-left applies to --task counting"},
      {tiny(fresh_dir("e15"), {"--activation", "tanh"}), 2, "--activation expects one of"},
      {tiny(fresh_dir("e16"), {"--attn-dropout", "1"}), 2, "--attn-dropout"},
  };
  for (const Case& c : cases) {
    const Run r = cli(c.args);
    INFO(c.args[0] << " " << c.args.back() << " -> " << r.err);
    CHECK(r.code == c.code);
    CHECK(one_error_line(r));
    CHECK(r.err.find(c.text) != std::string::npos);
  }
  CHECK(bytes_of(last) == before);
  // a config file: unknown keys, wrong types, trailing garbage
  const fs::path cfg = fs::temp_directory_path() / "minicope_bad_config.json";
  for (auto [text, want] : {std::pair{R"({"lr": 0.1, "colour": "red"})", "unknown setting 'colour'"},
                            {R"({"lr": "fast"})", "lr expects a number"}, {R"({"lr": 0.1} garbage)", "not valid JSON"},
                            {R"([1, 2])", "expected a JSON object"}}) {
    std::ofstream(cfg) << text;
    const Run r = cli(tiny(fresh_dir("e10"), {"--config", cfg.string()}));
    INFO(text << " -> " << r.err);
    CHECK(r.code != 0);
    CHECK(one_error_line(r));
    CHECK(r.err.find(want) != std::string::npos);
  }
}

TEST_CASE("--epochs reads a fixed training set in passes, each shuffled anew") {
  for (int64_t n : {1, 2, 7, 100}) {
    for (int64_t pass : {0, 1}) {
      std::vector<int64_t> order = epoch_order(n, 3, pass);
      CHECK(epoch_order(n, 3, pass) == order);  // deterministic
      std::sort(order.begin(), order.end());
      for (int64_t i = 0; i < n; ++i) CHECK(order[size_t(i)] == i);  // a permutation
    }
  }
  CHECK(epoch_order(100, 3, 0) != epoch_order(100, 3, 1));  // a new order each pass
  CHECK(epoch_order(100, 3, 0) != epoch_order(100, 4, 0));  // and each seed
  // the official files hold 3 training programs: 3 passes in batches of 2 are 5 steps,
  // and the run resumes exactly (the order does not depend on where a run stopped)
  const std::string official = std::string(MINICOPE_SOURCE_DIR) + "/tests/data/counting_official";
  auto args = [&](const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", "--task", "counting", "--data", official, "--epochs", "3", "--batch", "2",
                                  "--layers", "1", "--dim", "8", "--heads", "2", "--threads", "1", "--out", out.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const fs::path straight = fresh_dir("epochs1"), resumed = fresh_dir("epochs2");
  REQUIRE(cli(args(straight, {})).code == 0);
  CHECK(bytes_of(straight / "config.json").find("\"steps\": 5") != std::string::npos);
  REQUIRE(cli(args(resumed, {"--stop-after", "1"})).code == 0);
  REQUIRE(cli({"train", "--resume", "--out", resumed.string(), "--threads", "1"}).code == 0);
  CHECK(bytes_of(straight / "last.safetensors") == bytes_of(resumed / "last.safetensors"));
}

TEST_CASE("a config file sets the run, and flags override it") {
  const fs::path cfg = fs::temp_directory_path() / "minicope_good_config.json", d = fresh_dir("configured");
  std::ofstream(cfg) << R"({"steps": 3, "lr": 0.002, "pe": "rope", "tied": true})";
  const Run r = cli(tiny(d, {"--config", cfg.string(), "--lr", "0.004"}));
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::ifstream in(d / "config.json");
  const auto j = nlohmann::json::parse(in);
  CHECK(j["steps"] == 3);
  CHECK(j["pe"] == "rope");
  CHECK(j["tied"] == true);
  CHECK(j["lr"] == 0.004);  // the flag wins
  // config.json is a config file: given back, it trains the same run, bit for bit
  const fs::path again = fresh_dir("configured_again");
  const Run r2 = cli({"train", "--config", (d / "config.json").string(), "--out", again.string()});
  INFO(r2.err);
  REQUIRE(r2.code == 0);
  CHECK(bytes_of(again / "last.safetensors") == bytes_of(d / "last.safetensors"));
}

TEST_CASE("init-scheme auto: the task chooses, a given scheme is kept, old checkpoints mean gpt2") {
  const fs::path corpus = fs::temp_directory_path() / "minicope_auto_init.txt";
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 100; ++i) out << "line " << i << " of a corpus.\n";
  }
  for (const auto& [task, want] : std::vector<std::pair<std::string, std::string>>{
           {"flipflop", "pytorch"}, {"selcopy", "pytorch"}, {"counting", "pytorch"}, {"text", "gpt2"}}) {
    CAPTURE(task);
    RunConfig c;
    CHECK(c.model.init_scheme == "auto");
    c.task.name = task;
    if (task == "text") c.task.data = corpus.string(), c.task.context = 16, c.model.seq = 16;
    resolve(c, *make_task(c.task));
    CHECK(c.model.init_scheme == want);
    RunConfig given;  // a scheme the user chose is never replaced
    given.task = c.task;
    given.model.seq = c.model.seq;
    given.model.init_scheme = want == "gpt2" ? "pytorch" : "gpt2";
    resolve(given, *make_task(given.task));
    CHECK(given.model.init_scheme == (want == "gpt2" ? "pytorch" : "gpt2"));
  }
  // a model is never built from an unresolved scheme
  ModelConfig m;
  m.vocab = 4, m.seq = 8, m.init_scheme = "auto";
  CHECK_THROWS_WITH_AS(m.validate(), doctest::Contains("'auto' must be resolved"), ConfigError);
  // a configuration stored before the setting existed drew GPT-2's weights
  nlohmann::json old = settings_json(RunConfig{});
  old.erase("init-scheme");
  old["model-vocab"] = 4;
  CHECK(run_config_from_json(old).model.init_scheme == "gpt2");
  // a run folder records the resolved scheme, so its config.json trains the same run
  const fs::path d = fresh_dir("auto_init");
  const Run r = cli(tiny(d, {"--steps", "1"}));
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::ifstream in(d / "config.json");
  CHECK(nlohmann::json::parse(in)["init-scheme"] == "pytorch");
  // a resume may say auto (what it resolves to for this task is what the run drew), not another scheme
  const Run same = cli({"train", "--out", d.string(), "--resume", "--steps", "2", "--init-scheme", "auto"});
  INFO(same.err);
  CHECK(same.code == 0);
  const Run other = cli({"train", "--out", d.string(), "--resume", "--steps", "3", "--init-scheme", "gpt2"});
  CHECK(other.code != 0);
  CHECK(other.err.find("--init-scheme \"gpt2\" differs from the run's \"pytorch\"") != std::string::npos);
}

TEST_CASE("damaged checkpoints: truncated, corrupted, wrong version") {
  const fs::path d = fresh_dir("damaged");
  REQUIRE(cli(tiny(d, {"--steps", "2"})).code == 0);
  const std::string good = bytes_of(d / "last.safetensors");
  const fs::path bad = d / "bad.safetensors";
  auto eval_of = [&](const std::string& content) {
    std::ofstream(bad, std::ios::binary) << content;
    return cli({"eval", "--ckpt", bad.string()});
  };
  // truncated at many points: header length, inside the header, inside the data
  for (size_t cut : {size_t(0), size_t(5), size_t(8), size_t(20), good.size() / 2, good.size() - 1}) {
    const Run r = eval_of(good.substr(0, cut));
    INFO("cut at " << cut << ": " << r.err);
    CHECK(r.code == 1);
    CHECK(one_error_line(r));
    CHECK(r.err.find(bad.string()) != std::string::npos);
  }
  // a corrupted header
  std::string flipped = good;
  flipped[8] = '#';  // the header's opening brace
  CHECK(eval_of(flipped).err.find("not valid JSON") != std::string::npos);
  // a header length pointing past the end
  std::string huge = good;
  huge[5] = char(0x7f);
  CHECK(eval_of(huge).code == 1);
  // a flipped byte in the metadata or in a tensor: the checksums catch it
  std::string meta_flip = good;
  const size_t step_at = meta_flip.find("\"optim_steps\":\"");
  REQUIRE(step_at != std::string::npos);
  meta_flip[step_at + 15] ^= 1;
  Run r = eval_of(meta_flip);
  CHECK(r.err.find("damaged: the metadata does not match its checksum") != std::string::npos);
  std::string data_flip = good;
  data_flip[good.size() - 3] ^= 0x10;
  r = eval_of(data_flip);
  CHECK(one_error_line(r));
  CHECK(r.err.find("does not match its checksum") != std::string::npos);
  // wrong version (checksums recomputed, so only the version is wrong)
  TensorFile f = load_safetensors((d / "last.safetensors").string());
  f.metadata["format_version"] = "9";
  save_safetensors(bad.string(), f);
  r = cli({"eval", "--ckpt", bad.string()});
  CHECK(r.err.find("checkpoint format version 9; this minicope reads versions 2 and 3") != std::string::npos);
  // no checksums at all: refused as a run checkpoint
  {
    std::string no_sums = good;
    const size_t k = no_sums.find("\"checksums\"");
    REQUIRE(k != std::string::npos);
    no_sums.replace(k + 1, 9, "checksumz");
    r = eval_of(no_sums);
    CHECK(one_error_line(r));
    CHECK(r.err.find("has no checksums") != std::string::npos);
  }
  // resuming from a damaged last checkpoint fails cleanly and leaves it as it was
  const std::string damaged = good.substr(0, good.size() / 3);
  std::ofstream(d / "last.safetensors", std::ios::binary) << damaged;
  const Run res = cli(tiny(d, {"--steps", "4", "--resume"}));
  CHECK(res.code == 1);
  CHECK(one_error_line(res));
  CHECK(bytes_of(d / "last.safetensors") == damaged);
  std::ofstream(d / "last.safetensors", std::ios::binary) << good;
  // and the good one evaluates
  const Run ok = cli({"eval", "--ckpt", d.string(), "--json"});
  CHECK(ok.code == 0);
  CHECK(std::count(ok.out.begin(), ok.out.end(), '\n') == 3);
}

TEST_CASE("a non-finite loss stops the run, names the step and the bad parameter, keeps the checkpoint") {
  const fs::path d = fresh_dir("nan");
  REQUIRE(cli(tiny(d, {"--steps", "3", "--eval-every", "3"})).code == 0);
  // poison one weight of the stored run (the checksums are recomputed: the file is whole)
  TensorFile f = load_safetensors((d / "last.safetensors").string());
  bool poisoned = false;
  for (auto& [name, t] : f.tensors)
    if (name == "blocks.0.mlp.fc1.weight") {
      t.data<float>()[7] = NAN;
      poisoned = true;
    }
  REQUIRE(poisoned);
  save_safetensors((d / "last.safetensors").string(), f);
  const std::string before = bytes_of(d / "last.safetensors");
  const Run r = cli(tiny(d, {"--steps", "6", "--resume"}));
  CHECK(r.code == 1);
  // progress lines come first; the error is the one last line
  const size_t at = r.err.find("minicope: error: ");
  REQUIRE(at != std::string::npos);
  CHECK(r.err.find('\n', at) == r.err.size() - 1);
  CHECK_MESSAGE(r.err.find("step 4: the loss is NaN (parameter 'blocks.0.mlp.fc1.weight' holds NaN); training stopped; "
                           "the last good checkpoint is " + (d / "last.safetensors").string() + " (step 3)") != std::string::npos,
                r.err);
  CHECK(bytes_of(d / "last.safetensors") == before);
}

TEST_CASE("a failed save names the file and leaves the previous checkpoint as it was") {
  const fs::path d = fresh_dir("nosave");
  REQUIRE(cli(tiny(d, {"--steps", "2"})).code == 0);
  TensorFile f = load_safetensors((d / "last.safetensors").string());
  // a path whose folder does not exist cannot be created
  const std::string target = (d / "missing" / "x.safetensors").string();
  CHECK_THROWS_WITH_AS(save_safetensors(target, f), doctest::Contains("x.safetensors.tmp: cannot create"), std::runtime_error);
  CHECK_THROWS_WITH_AS(save_safetensors(target, f), doctest::Contains("was left as it was"), std::runtime_error);
}

// Evaluation packs its chunks of uneven examples (tasks/task.h, smallest_batch) and maps
// each prediction back to its example: the numbers are those of one example at a time.
TEST_CASE("evaluation of packed chunks gives the numbers of unpacked ones (Counting, f64)") {
  TaskOptions o;
  o.name = "counting";
  o.max_steps = 32;  // long enough that the shortcut fails on some programs
  o.eval_size = 40;
  const auto task = make_task(o);
  const std::vector<Example> set = task->eval_set("valid");
  for (const char* pe : {"abs", "cope"}) {
    ModelConfig c;
    c.vocab = int64_t(task->vocab().size()), c.seq = task->context(), c.layers = 1, c.dim = 8, c.heads = 2, c.pe = pe;
    Transformer m(c, 1, DType::f64);
    Generator g(9);
    std::vector<Var> ps;  // random weights, so CoPE's table is not zero
    for (const Var& p : m.parameters()) ps.emplace_back(Tensor::normal(p.shape(), 0, 0.5, g, DType::f64));
    m.set_parameters(ps);
    REQUIRE(smallest_batch(std::span<const Example>(set).first(16), c.seq).starts.defined());  // chunks of 16 pack
    const EvalMetrics one = evaluate(m, "valid", set, 1), packed = evaluate(m, "valid", set, 16);
    INFO(std::string(pe));
    CHECK(std::fabs(one.loss - packed.loss) < 1e-10);
    CHECK(one.error_rate == packed.error_rate);
    CHECK(one.token_error_rate == packed.token_error_rate);
    CHECK((one.examples == 40 && packed.examples == 40 && one.scored == packed.scored));
    // the shortcut's error, and the model's error on the examples the shortcut gets wrong:
    // the same as evaluating those examples alone
    std::vector<Example> binding;
    int64_t shortcut_wrong = 0;
    for (const Example& e : set) {
      REQUIRE(e.shortcut_right >= 0);
      if (e.shortcut_right == 0) binding.push_back(e), ++shortcut_wrong;
    }
    REQUIRE(!binding.empty());
    CHECK(packed.shortcut_examples == 40);
    CHECK(packed.shortcut_error_rate == doctest::Approx(double(shortcut_wrong) / 40));
    CHECK(packed.binding_examples == shortcut_wrong);
    CHECK(packed.binding_error_rate == doctest::Approx(evaluate(m, "binding", binding, 16).error_rate));
    CHECK(one.binding_error_rate == packed.binding_error_rate);
    const std::string line = metrics_line(*task, packed, 0);
    CHECK(line.find("\"shortcut_error_rate\"") != std::string::npos);
    CHECK(line.find("\"binding_error_rate\"") != std::string::npos);
  }
}

TEST_CASE("evaluation lists exactly the examples it counts wrong, with their wrong predictions") {
  TaskOptions o;
  o.name = "counting";
  o.max_steps = 32;
  o.eval_size = 40;
  const auto task = make_task(o);
  const std::vector<Example> set = task->eval_set("valid");
  ModelConfig c;
  c.vocab = int64_t(task->vocab().size()), c.seq = task->context(), c.layers = 1, c.dim = 8, c.heads = 2, c.pe = "cope";
  Transformer m(c, 1, DType::f64);
  Generator g(9);
  std::vector<Var> ps;  // random weights: some examples right, most wrong
  for (const Var& p : m.parameters()) ps.emplace_back(Tensor::normal(p.shape(), 0, 0.5, g, DType::f64));
  m.set_parameters(ps);
  std::vector<WrongExample> wrong;
  const EvalMetrics all = evaluate(m, "valid", set, 16, nullptr, &wrong);  // packed chunks
  REQUIRE(int64_t(wrong.size()) == int64_t(std::lround(all.error_rate * 40)));
  REQUIRE(!wrong.empty());
  REQUIRE(wrong.size() < set.size());
  int64_t wrong_tokens = 0;
  size_t next = 0;  // wrong[] is in the set's order
  for (int64_t i = 0; i < int64_t(set.size()); ++i) {
    // each example alone: wrong exactly when listed, and the same predictions wrong
    std::vector<WrongExample> alone;
    const EvalMetrics one = evaluate(m, "one", {set[size_t(i)]}, 1, nullptr, &alone);
    const bool listed = next < wrong.size() && wrong[next].example == i;
    INFO("example " << i);
    CHECK(one.error_rate == (listed ? 1.0 : 0.0));
    if (!listed) continue;
    const WrongExample& w = wrong[next++];
    REQUIRE(alone.size() == 1);
    CHECK(alone[0].wrong.size() == w.wrong.size());
    CHECK(w.scored == one.scored);
    const Example& e = set[size_t(i)];
    for (size_t j = 0; j < w.wrong.size(); ++j) {
      const WrongPrediction& p = w.wrong[j];
      CHECK(p.at == alone[0].wrong[j].at);
      CHECK(p.got == alone[0].wrong[j].got);
      CHECK(e.scored.at(size_t(p.at - 1)) == 1);  // a scored prediction: of tokens[at] from tokens[..at-1]
      CHECK(p.want == e.tokens.at(size_t(p.at)));
      CHECK(p.got != p.want);
      // k: the scored predictions before it in the example
      CHECK(p.k == std::count(e.scored.begin(), e.scored.begin() + (p.at - 1), uint8_t(1)));
    }
    wrong_tokens += int64_t(w.wrong.size());
  }
  CHECK(next == wrong.size());
  CHECK(wrong_tokens == int64_t(std::lround(all.token_error_rate * double(all.scored))));
}

TEST_CASE("eval --errors writes the wrong examples as JSON lines, into a new file only") {
  const fs::path d = fresh_dir("errors");
  REQUIRE(cli(tiny(d, {"--steps", "3", "--eval-every", "3"})).code == 0);
  const fs::path file = d / "wrong.jsonl";
  const Run r = cli({"eval", "--ckpt", d.string(), "--split", "test", "--json", "--errors", file.string()});
  REQUIRE(r.code == 0);
  const nlohmann::json metrics = nlohmann::json::parse(r.out);  // --json: stdout is the metrics alone
  std::ifstream in(file);
  std::string line;
  int64_t lines = 0;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    ++lines;
    CHECK(j["split"] == "test");
    std::vector<std::string> tokens;  // the example's tokens, from its text
    std::istringstream words(j["text"].get<std::string>());
    for (std::string t; words >> t;) tokens.push_back(t);
    REQUIRE(j["wrong"].get<size_t>() == j["predictions"].size());
    for (const auto& p : j["predictions"]) {
      CHECK(tokens.at(p["at"].get<size_t>()) == p["want"].get<std::string>());
      CHECK(p["got"] != p["want"]);
    }
    CHECK(j["scored"].get<int64_t>() >= j["wrong"].get<int64_t>());
  }
  // after 3 steps the tiny model is wrong on most test sequences, and the file lists each
  CHECK(lines > 0);
  CHECK(lines == std::lround(metrics["error_rate"].get<double>() * 20));
  // an existing file is never replaced, whatever it holds; a folder neither
  const std::string before = bytes_of(file);
  Run again = cli({"eval", "--ckpt", d.string(), "--errors", file.string()});
  CHECK(again.code == 2);
  CHECK(one_error_line(again));
  CHECK(again.err.find("exists; eval writes a new file and replaces none") != std::string::npos);
  CHECK(bytes_of(file) == before);
  again = cli({"eval", "--ckpt", d.string(), "--errors", d.string()});
  CHECK(again.code == 2);
  CHECK(again.err.find("exists") != std::string::npos);
  // a folder that is not there is refused before anything is evaluated
  again = cli({"eval", "--ckpt", d.string(), "--errors", (d / "no" / "x.jsonl").string()});
  CHECK(again.code == 2);
  CHECK(one_error_line(again));
  CHECK(again.out.empty());
  CHECK(again.err.find("there is no folder") != std::string::npos);
}
