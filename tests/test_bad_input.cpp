// test_bad_input.cpp — the catalogue of bad input (docs/reliability.md): every setting
// with an empty, wrong-type and out-of-range value, the other commands' flags, config
// files, damaged checkpoints (cut at every section boundary, flipped bytes, lying
// headers, wrong dtypes and shapes) and data files. Each must end in one
// `minicope: error:` line that names the flag or file, a non-zero exit, and no output
// file left behind.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/cli_util.h"
#include "io/safetensors.h"
#include "config/run_config.h"
#include "io/safetensors.h"
#include "train/run_checkpoint.h"
#include "train/trainer.h"

using namespace mc;
namespace fs = std::filesystem;

namespace {

// Fails with one line holding `want`; counts the case. Each test case sets g_cases to 0
// and checks at its end that it tried every case it lists (a loop that silently ran
// no case would otherwise pass).
int g_cases = 0;
void expect_error(const std::vector<std::string>& args, const std::string& want, int code = -1) {
  ++g_cases;
  const CliRun r = cli(args);
  std::string cmd;
  for (const auto& a : args) cmd += a + " ";
  INFO("minicope " << cmd << "-> " << r.err);
  CHECK(r.code != 0);
  if (code >= 0) CHECK(r.code == code);
  CHECK(one_error_line(r));
  CHECK(r.err.find(want) != std::string::npos);
}

// A finished tiny flip-flop run, made once.
const fs::path& tiny_run() {
  static const fs::path d = [] {
    const fs::path p = empty_test_dir("bad_input_run");
    const CliRun r = cli({"train", "--out", (p / "run").string(), "--length", "16", "--layers", "1", "--dim", "16", "--heads",
                          "2", "--batch", "4", "--steps", "2", "--eval-size", "8", "--threads", "1"});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    return p / "run";
  }();
  return d;
}

// The safetensors header of `bytes` as JSON, and a file made of a new header and old data.
nlohmann::json header_of(const std::string& bytes, uint64_t* n_out) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[size_t(i)])) << (8 * i);
  *n_out = n;
  return nlohmann::json::parse(bytes.substr(8, n));
}
std::string with_header(const nlohmann::json& h, const std::string& data) {
  const std::string text = h.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((uint64_t(text.size()) >> (8 * i)) & 0xff);
  return out + text + data;
}

}  // namespace

TEST_CASE("every setting: empty, wrong-type and out-of-range values, as flags and in config files") {
  g_cases = 0;
  const fs::path d = empty_test_dir("bad_input_flags");
  // --out names a file: a value wrongly accepted ends at --out, never in a training run
  const std::string out = (d / "a-file").string();
  write_text(out, "not a folder");
  int tried = 0;
  for (const Setting& s : settings()) {
    std::vector<std::string> bad;
    if (s.kind == "int") bad = {"", "abc", "1.5", "-1", "99999999999999999999", "-99999999999999999999"};
    if (s.kind == "int" && s.name != "seed") bad.push_back("1000000000000000000");
    if (s.kind == "number") bad = {"", "abc", "nan", "inf", "1e999", "-1", "0x"};
    if (s.kind == "bool") bad = {"maybe", "2", "yes"};  // an empty value means true (--tied alone)
    if (s.kind == "choice") bad = {"", "nonesuch", " cope"};
    for (const std::string& v : bad) {
      if (s.kind == "bool")  // a true/false flag takes its value after '='
        expect_error({"train", "--out", out, "--" + s.name + "=" + v}, "--" + s.name, 2);
      else
        expect_error({"train", "--out", out, "--" + s.name, v}, "--" + s.name, 2);
      ++tried;
    }
    // the same setting with a wrong JSON type in a config file
    if (s.kind != "string") {
      const fs::path cfg = d / ("bad-" + s.name + ".json");
      write_text(cfg, "{\"" + s.name + "\": " + (s.kind == "bool" || s.kind == "choice" ? "[1]" : "\"seven\"") + "}");
      expect_error({"train", "--out", out, "--config", cfg.string()}, cfg.string() + ": " + s.name, 1);
      ++tried;
    }
  }
  CHECK(tried > 150);
  CHECK(g_cases == tried);
  CHECK(file_text(out) == "not a folder");
}

TEST_CASE("config files: unknown keys, trailing garbage, not an object, empty, binary, missing, a folder") {
  g_cases = 0;
  const fs::path d = empty_test_dir("bad_input_config");
  const std::string out = (d / "a-file").string();
  write_text(out, "x");
  const std::vector<std::pair<std::string, std::string>> files = {
      {"{\"lr\": 0.001, \"learning_rate\": 1}", "unknown setting 'learning_rate'"},
      {"{\"lr\": 0.001} trailing", "not valid JSON"},
      {"{\"lr\": 0.001}}", "not valid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {"", "not valid JSON"},
      {std::string("\x00\x01\x02\xff\xfe", 5), "not valid JSON"},
      {"{\"lr\": 0.001,}", "not valid JSON"},
      {"{\"steps\": 10, \"steps\": 20}", "the setting 'steps' is given twice"},
      {"{\"lr\": 7E77777}", "a number out of range"},  // found by fuzzing (fuzz/regressions/config)
  };
  int k = 0;
  for (const auto& [text, want] : files) {
    const fs::path f = d / (std::to_string(k++) + ".json");
    write_text(f, text);
    expect_error({"train", "--out", out, "--config", f.string()}, f.string());
    expect_error({"train", "--out", out, "--config", f.string()}, want);
  }
  expect_error({"train", "--out", out, "--config", (d / "missing.json").string()}, (d / "missing.json").string());
  expect_error({"train", "--out", out, "--config", d.string()}, d.string());
  CHECK(g_cases == int(2 * files.size() + 2));
}

TEST_CASE("the other commands' flags: empty, wrong-type, out of range") {
  g_cases = 0;
  const std::string run = tiny_run().string();
  const std::string svg = (tiny_run().parent_path() / "x.svg").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"eval", "--ckpt", run, "--threads", "0"}, "--threads"},
      {{"eval", "--ckpt", run, "--threads", ""}, "--threads"},
      {{"eval", "--ckpt", run, "--threads", "two"}, "--threads"},
      {{"eval", "--ckpt", run, "--batch", "0"}, "--batch"},
      {{"eval", "--ckpt", run, "--batch", "-3"}, "--batch"},
      {{"eval", "--ckpt", run, "--seq", "1.5"}, "--seq"},
      {{"eval", "--ckpt", run, "--seq", "64"}, "--seq applies to text runs"},
      {{"eval", "--ckpt", run, "--split", "nope"}, "--split"},
      {{"eval", "--ckpt", ""}, "--ckpt must not be empty"},
      {{"eval"}, "--ckpt"},
      {{"sample", "--ckpt", run}, "sample needs a text run"},
      {{"sample", "--ckpt", run, "--temperature", "hot"}, "--temperature"},
      {{"sample", "--ckpt", run, "--temperature", "-1"}, "--temperature"},
      {{"sample", "--ckpt", run, "--tokens", "-1"}, "--tokens"},
      {{"sample", "--ckpt", run, "--top-k", "x"}, "--top-k"},
      {{"bench", "--steps", "0"}, "--steps"},
      {{"bench", "--layers", "many"}, "--layers"},
      {{"bench", "--pe", "fourier"}, "fourier"},
      {{"gradcheck", "--op", "no_such_op"}, "no_such_op"},
      {{"plot", "attention", "--ckpt", run, "--layer", "-1", "--out", svg}, "--layer"},
      {{"plot", "attention", "--ckpt", run, "--head", "", "--out", svg}, "--head"},
      {{"plot", "attention", "--ckpt", run, "--example", "1e3", "--out", svg}, "--example"},
      {{"plot", "curves", run, "--out", ""}, "--out"},
      {{"report", run}, "holds no finished runs"},
      {{"train", "--no-such-flag"}, "no-such-flag"},
      {{"train", "--rank-timeout", "0"}, "--rank-timeout"},
      {{"train", "--rank-timeout", "soon"}, "--rank-timeout"},
      {{"train", "--bucket-kb", ""}, "--bucket-kb"},
      {{"train", "--bucket-kb", "0"}, "--bucket-kb"},
      {{"train", "--overlap=maybe"}, "--overlap"},
      {{"eval", "--ckpt", run, "--rank-timeout", "-5"}, "--rank-timeout"},
      {{"frobnicate"}, "unknown command"},
  };
  for (const auto& [args, want] : cases) expect_error(args, want);
  CHECK(g_cases == int(cases.size()));
  CHECK_FALSE(fs::exists(svg));
}

TEST_CASE("checkpoints: cut at every section boundary, every header byte flipped, lying headers") {
  g_cases = 0;
  const fs::path d = tiny_run().parent_path();
  const std::string good = file_text(tiny_run() / "last.safetensors");
  const fs::path bad = d / "bad.safetensors";
  uint64_t n = 0;
  const nlohmann::json h = header_of(good, &n);
  const std::string data = good.substr(8 + n);
  const auto must_fail_to_load = [&](const std::string& bytes, const std::string& what) {
    ++g_cases;
    write_text(bad, bytes);
    std::string msg;
    try {
      load_run(bad.string());
    } catch (const std::exception& e) {
      msg = e.what();
    }
    INFO(what);
    CHECK_MESSAGE(msg.rfind(bad.string() + ": ", 0) == 0, msg);
  };

  // every boundary: in the length, after it, in and at the end of the header, and each
  // tensor's first and last byte
  std::vector<size_t> cuts = {0, 1, 4, 7, 8, 9, 8 + n / 2, 8 + n - 1, 8 + n};
  for (auto it = h.begin(); it != h.end(); ++it)
    if (it.key() != "__metadata__") {
      const uint64_t b = it.value()["data_offsets"][0], e = it.value()["data_offsets"][1];
      for (uint64_t at : {b, b + 1, e - 1}) cuts.push_back(size_t(8 + n + at));
    }
  int cut_cases = 0;
  for (size_t cut : cuts)
    if (cut < good.size()) must_fail_to_load(good.substr(0, cut), "cut at " + std::to_string(cut)), ++cut_cases;
  CHECK(cuts.size() > 30);

  // every byte of the length, every 7th of the header and every 509th of the data,
  // each with one bit flipped (the bit moves along, so all eight positions occur)
  int flips = 0;
  for (size_t at = 0; at < good.size(); at += at < 8 ? 1 : at < 8 + n ? 7 : 509) {
    std::string f = good;
    f[at] = char(f[at] ^ (1 << (at % 8)));
    must_fail_to_load(f, "byte " + std::to_string(at) + " bit " + std::to_string(at % 8));
    ++flips;
  }
  CHECK(flips > 3000);

  // lying headers: a length past the end, offsets past the end, overlapping, wrong dtype
  std::string longer = good;
  longer[3] = char(0x10);
  must_fail_to_load(longer, "header length past the end");
  const std::string first = h.begin().key() == "__metadata__" ? std::next(h.begin()).key() : h.begin().key();
  nlohmann::json past = h;
  past[first]["data_offsets"][1] = uint64_t(data.size()) + 4;
  must_fail_to_load(with_header(past, data), "offsets past the end");
  nlohmann::json overlap = h;
  for (auto it = overlap.begin(); it != overlap.end(); ++it)
    if (it.key() != "__metadata__" && it.key() != first) {
      it.value()["data_offsets"] = h[first]["data_offsets"];
      it.value()["shape"] = h[first]["shape"];
      break;
    }
  must_fail_to_load(with_header(overlap, data), "overlapping tensors");
  nlohmann::json f16 = h;
  f16[first]["dtype"] = "F16";
  must_fail_to_load(with_header(f16, data), "an unsupported dtype");
  nlohmann::json neg = h;
  neg[first]["shape"] = {-4, 4};
  must_fail_to_load(with_header(neg, data), "a negative dimension");
  must_fail_to_load(with_header(nlohmann::json::array(), data), "a header that is a list");

  // whole files with the wrong dtype or shape for their configuration (checksums valid)
  TensorFile tf = load_safetensors((tiny_run() / "last.safetensors").string());
  TensorFile wrong_dtype = tf, wrong_shape = tf;
  wrong_dtype.tensors[0].second = wrong_dtype.tensors[0].second.to(DType::f64);
  save_safetensors(bad.string(), wrong_dtype);
  expect_error({"eval", "--ckpt", bad.string()}, "the configuration needs f32", 1);
  wrong_shape.tensors[0].second = Tensor::zeros({3, 5});
  save_safetensors(bad.string(), wrong_shape);
  expect_error({"eval", "--ckpt", bad.string()}, "the configuration needs", 1);
  // and through the command line: one line naming the file
  write_text(bad, good.substr(0, good.size() / 2));
  expect_error({"eval", "--ckpt", bad.string()}, bad.string(), 1);
  expect_error({"plot", "attention", "--ckpt", bad.string(), "--out", (d / "p.svg").string()}, bad.string(), 1);
  CHECK_FALSE(fs::exists(d / "p.svg"));
  CHECK(g_cases == cut_cases + flips + 6 + 4);  // the cuts, the flips, 6 lying headers, 4 commands
  MESSAGE("checkpoint cases: " << cuts.size() << " cuts, " << flips << " flipped bytes");
}

TEST_CASE("a forged text checkpoint: a token listed twice, a byte list out of range; each names the file") {
  const fs::path d = empty_test_dir("bad_input_forged");
  write_text(d / "text.txt", std::string(400, 'a') + std::string(400, 'b') + "\n");
  const CliRun r = cli({"train", "--task", "text", "--data", (d / "text.txt").string(), "--seq", "8", "--layers", "1",
                        "--dim", "8", "--heads", "1", "--batch", "2", "--steps", "1", "--out", (d / "run").string()});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const TensorFile good = load_safetensors((d / "run" / "last.safetensors").string());
  const fs::path forged = d / "forged.safetensors";
  for (const auto& [vocab, want] : {std::pair{std::string(R"(["<unk>", "a", "a"])"), "lists 'a' twice"},
                                    {R"(["<unk>", "a", [256]])", "a byte value is not in 0..255"},
                                    {R"(["<unk>", "a", []])", "neither a string nor a list of bytes"}}) {
    TensorFile f = good;
    f.metadata["vocab"] = vocab;  // save_safetensors writes fresh checksums: only the content is wrong
    save_safetensors(forged.string(), f);
    for (const char* cmd : {"eval", "sample"}) {
      const CliRun e = cli({cmd, "--ckpt", forged.string()});
      INFO(std::string(cmd) << " " << vocab << " -> " << e.err);
      CHECK(e.code == 1);
      CHECK(one_error_line(e));
      CHECK(e.err.find(forged.string() + ": the stored vocabulary is unusable") != std::string::npos);
      CHECK(e.err.find(want) != std::string::npos);
    }
  }
}

TEST_CASE("data files: empty, binary, missing, a folder; counting JSONL with bad lines") {
  g_cases = 0;
  const fs::path d = empty_test_dir("bad_input_data");
  const std::string out = (d / "out").string();
  const auto text_run = [&](const fs::path& data, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"train", "--task", "text", "--data", data.string(), "--out", out, "--seq", "8",
                                  "--layers", "1", "--dim", "8", "--heads", "1", "--steps", "1", "--threads", "1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  write_text(d / "empty.txt", "");
  expect_error(text_run(d / "empty.txt"), (d / "empty.txt").string());
  write_text(d / "nul.txt", std::string("abc\0def ghi jkl mno pqr stu vwx yz", 34));
  expect_error(text_run(d / "nul.txt"), "NUL byte");
  expect_error(text_run(d / "missing.txt"), (d / "missing.txt").string());
  expect_error(text_run(d), d.string());
  write_text(d / "good.txt", std::string(200, 'a') + "\n");
  expect_error(text_run(d / "good.txt", {"--val", (d / "missing.txt").string()}), "missing.txt");
  expect_error(text_run(d / "good.txt", {"--val", (d / "nul.txt").string()}), "NUL byte");
  CHECK_FALSE(fs::exists(out));

  // counting: --data is a folder of train/valid/test.jsonl
  const fs::path c = d / "counting";
  fs::create_directories(c);
  const std::string good = "{\"context\": \"a = 0 ; a ++;\", \"question\": \"print a\", \"answer\": \"1\"}\n";
  const auto counting = [&] {
    return std::vector<std::string>{"train", "--task", "counting", "--data", c.string(), "--out", out, "--steps", "1", "--threads", "1"};
  };
  expect_error(counting(), "train.jsonl");  // the files are missing
  for (const char* f : {"train.jsonl", "valid.jsonl", "test.jsonl"}) write_text(c / f, good);
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"", "train.jsonl: no examples"},
      {good + "{\"context\": 1}\n", "train.jsonl:2:"},
      {good + "not json\n", "train.jsonl:2: not valid JSON"},
      {good + "[]\n", "train.jsonl:2:"},
      {good + "{\"context\": \"a ++;\", \"question\": \"print a\"}\n", "train.jsonl:2:"},
      {std::string("\xff\xfe\x00\x01", 4), "train.jsonl:1:"},
  };
  for (const auto& [text, want] : lines) {
    write_text(c / "train.jsonl", text);
    expect_error(counting(), want);
  }
  fs::remove(c / "train.jsonl");
  fs::create_directories(c / "train.jsonl");
  expect_error(counting(), "train.jsonl");
  CHECK_FALSE(fs::exists(out));
  CHECK(g_cases == 6 + 1 + int(lines.size()) + 1);  // text files, missing JSONL, bad lines, a folder
}
