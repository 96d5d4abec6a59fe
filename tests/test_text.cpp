// test_text.cpp — tokenizers, the text task, cached decoding and longer contexts.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nn/checks.h"
#include "nn/transformer.h"
#include "tests/cli_util.h"
#include "cli/cli.h"
#include "tasks/task.h"
#include "tasks/tokenizer.h"
#include "io/safetensors.h"
#include "train/run_checkpoint.h"
#include "train/trainer.h"

using namespace mc;
namespace fs = std::filesystem;

namespace {
using Run = CliRun;
fs::path temp(const std::string& name) { return fs::temp_directory_path() / ("minicope_text_" + name); }
}  // namespace

TEST_CASE("byte tokenizer round-trips any bytes, NUL and invalid UTF-8 included") {
  std::string raw;
  for (int i = 0; i < 256; ++i) raw.push_back(char(i));
  raw += std::string("\0\0\xff\xfe\xc3(", 6);
  const Tokenizer t = Tokenizer::train("byte", "");
  CHECK(t.size() == 256);
  const auto ids = t.encode(raw);
  CHECK(ids.size() == raw.size());
  CHECK(t.decode(ids) == raw);
}

TEST_CASE("char tokenizer: multi-byte UTF-8 characters are single tokens and round-trip") {
  const std::string text = "naïve café — 東京 🙂 ok\n";
  const Tokenizer t = Tokenizer::train("char", text);
  const auto ids = t.encode(text);
  CHECK(ids.size() == 21);  // code points, not bytes
  CHECK(t.decode(ids) == text);
  CHECK(t.encode("🙂").size() == 1);
  CHECK(t.decode(t.encode("x")) == "<unk>");  // not in the training text
  // invalid UTF-8 bytes are characters of their own: still a round trip
  const std::string bad("a\xff" "b\xc3", 4);
  const Tokenizer tb = Tokenizer::train("char", bad);
  CHECK(tb.decode(tb.encode(bad)) == bad);
  CHECK(utf8_chars(bad).size() == 4);
}

TEST_CASE("UTF-8 as RFC 3629 defines it: overlong forms, surrogates and code points past U+10FFFF are invalid bytes") {
  struct Case { std::string bytes; size_t chars; bool valid; };
  const std::vector<Case> cases = {
      {"a\xc3\xa9", 2, true},                     // é
      {"\xe6\x9d\xb1", 1, true},                  // 東
      {"\xf0\x9f\x99\x82", 1, true},             // 🙂
      {"\xf4\x8f\xbf\xbf", 1, true},             // U+10FFFF, the last code point
      {"\xed\x9f\xbf", 1, true},                  // U+D7FF, just below the surrogates
      {"\xc0\xaf", 2, false},                     // overlong '/'
      {"\xc1\xbf", 2, false},                     // overlong
      {"\xe0\x80\xaf", 3, false},                 // overlong 3-byte '/'
      {"\xf0\x80\x80\xaf", 4, false},            // overlong 4-byte '/'
      {"\xed\xa0\x80", 3, false},                 // U+D800, a surrogate
      {"\xed\xbf\xbf", 3, false},                 // U+DFFF
      {"\xf4\x90\x80\x80", 4, false},            // U+110000
      {"\xf5\x80\x80\x80", 4, false},            // past any code point
      {"\x80", 1, false},                         // a lone continuation byte
      {"\xe6\x9d", 2, false},                     // cut short
  };
  for (const Case& c : cases) {
    INFO(doctest::toString(c.bytes.size()) << " bytes, first 0x" << std::hex << int(static_cast<unsigned char>(c.bytes[0])));
    CHECK(utf8_chars(c.bytes).size() == c.chars);
    CHECK(is_valid_utf8(c.bytes) == c.valid);
    const Tokenizer t = Tokenizer::train("char", c.bytes);
    CHECK(t.decode(t.encode(c.bytes)) == c.bytes);  // invalid or not, the round trip holds
  }
}

TEST_CASE("word pieces joined one at a time give the decoded text (what sample prints)") {
  const Tokenizer t = Tokenizer::train("word", "the cat sat\nthe dog ran\n");
  const std::vector<int64_t> ids = t.encode("the cat sat\nthe dog ran\n");
  std::string printed;
  int64_t prev = -1;
  for (int64_t id : ids) printed += t.piece(id, prev), prev = id;
  CHECK(printed == t.decode(ids));
  CHECK(printed == "the cat sat\nthe dog ran\n");
}

TEST_CASE("word tokenizer: white space, <eol>, <unk> by count and by vocabulary size") {
  const std::string text = "the cat the dog\nthe cat sat\n";
  const Tokenizer all = Tokenizer::train("word", text);
  CHECK(all.decode(all.encode(text)) == "the cat the dog\nthe cat sat\n");
  const Tokenizer common = Tokenizer::train("word", text, 0, 2);  // words seen twice or more
  CHECK(common.decode(common.encode("the dog sat")) == "the <unk> <unk>");
  const Tokenizer small = Tokenizer::train("word", text, 3);  // <unk> + the 2 most frequent
  CHECK(small.size() == 3);
  CHECK(small.tokens()[1] == "the");
  CHECK_THROWS_AS(Tokenizer::train("morse", text), std::invalid_argument);
}

TEST_CASE("cached decoding gives the logits of a full forward pass at every step, for every pe") {
  for (const std::string& pe : position_encodings()) {
    ModelConfig cfg = small_check_config(pe);
    cfg.seq = 9;
    Transformer m(cfg, 2, DType::f64);
    Generator g(5);
    std::vector<Var> ps;  // random weights, so CoPE's table is not zero
    for (const Var& p : m.parameters()) ps.emplace_back(Tensor::normal(p.shape(), 0, 0.5, g, DType::f64));
    m.set_parameters(ps);
    m.eval();
    std::vector<int64_t> seq(9);
    for (auto& t : seq) t = int64_t(g.below(5));
    const Tensor full = m.forward(Tensor::indices(seq, {1, 9})).value();  // [1,9,5]
    KVCache cache;
    // a 3-token prompt, then one token at a time
    Tensor logits = m.forward_cached(Tensor::indices(std::vector<int64_t>(seq.begin(), seq.begin() + 3), {1, 3}), cache);
    INFO(pe);
    CHECK(max_abs_diff(logits, slice(full, 1, 0, 3)) < 1e-10);
    for (int64_t t = 3; t < 9; ++t) {
      logits = m.forward_cached(Tensor::indices({seq[size_t(t)]}, {1, 1}), cache);
      CHECK(max_abs_diff(logits, slice(full, 1, t, t + 1)) < 1e-10);
    }
    CHECK(cache.len == 9);
    if (std::string(pe) == "abs") CHECK_THROWS_AS(m.forward_cached(Tensor::indices({0}, {1, 1}), cache), ShapeError);
  }
}

TEST_CASE("a byte run stores its 256 tokens and loads them back, bytes 0x80-0xFF included") {
  const fs::path data = temp("bytes.bin"), out = temp("byte_run");
  fs::remove_all(out);
  std::string bytes;
  for (int r = 0; r < 8; ++r)
    for (int b = 0; b < 256; ++b) bytes.push_back(char((b * 7 + r) & 0xff));
  std::ofstream(data, std::ios::binary) << bytes;
  const Run r = cli({"train", "--task", "text", "--data", data.string(), "--tokenizer", "byte", "--seq", "16", "--layers", "1",
                     "--dim", "16", "--heads", "2", "--batch", "4", "--steps", "2", "--out", out.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const LoadedRun run = load_run(out.string());
  REQUIRE(run.cfg.task.vocab.size() == 256);
  for (int b = 0; b < 256; ++b) CHECK(run.cfg.task.vocab[size_t(b)] == std::string(1, char(b)));
  // and a char run on invalid UTF-8 keeps its invalid bytes as tokens
  const fs::path bad = temp("bad.txt"), out2 = temp("bad_run");
  fs::remove_all(out2);
  std::ofstream(bad, std::ios::binary) << std::string(300, 'a') + "\xff\xc0\xaf" + std::string(300, 'b');
  REQUIRE(cli({"train", "--task", "text", "--data", bad.string(), "--seq", "16", "--layers", "1", "--dim", "16", "--heads",
               "2", "--batch", "4", "--steps", "2", "--out", out2.string()}).code == 0);
  const LoadedRun run2 = load_run(out2.string());
  CHECK(std::count(run2.cfg.task.vocab.begin(), run2.cfg.task.vocab.end(), std::string("\xff")) == 1);
  CHECK(std::count(run2.cfg.task.vocab.begin(), run2.cfg.task.vocab.end(), std::string("\xc0")) == 1);
}

TEST_CASE("text errors: empty, too short, a folder, unreadable") {
  const fs::path empty = temp("empty.txt"), tiny = temp("tiny.txt");
  std::ofstream(empty).close();
  std::ofstream(tiny) << "hello there";
  struct Case { std::vector<std::string> args; const char* text; };
  const std::vector<Case> cases = {
      {{"--data", empty.string()}, "is empty"},
      {{"--data", tiny.string()}, "fewer than one context window"},
      {{"--data", fs::temp_directory_path().string()}, "is a folder, expected a text file"},
      {{"--data", "/nonexistent/file.txt"}, "cannot be read"},
      {{"--data", tiny.string(), "--seq", "4", "--val", empty.string()}, "is empty"},
      {{}, "the text task needs --data FILE"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"train", "--task", "text", "--out", temp("out").string(), "--steps", "1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const Run r = cli(args);
    INFO(r.err);
    CHECK(r.code != 0);
    CHECK(r.err.rfind("minicope: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(c.text) != std::string::npos);
    CHECK_FALSE(fs::exists(temp("out") / "last.safetensors"));
  }
}

TEST_CASE("held-out windows predict every token once; eval past the training context") {
  const fs::path f = temp("corpus.txt");
  {
    std::ofstream out(f);
    for (int i = 0; i < 200; ++i) out << "line " << i << " of a small corpus, with words and commas.\n";
  }
  TaskOptions o;
  o.name = "text";
  o.data = f.string();
  o.context = 16;
  auto task = make_task(o);
  int64_t scored = 0;
  for (const Example& e : task->eval_set("valid"))
    for (uint8_t s : e.scored) scored += s;
  // the held-out text is the last 10%: every token but the first is predicted once
  const std::string text = [&] { std::ifstream in(f); std::stringstream ss; ss << in.rdbuf(); return ss.str(); }();
  CHECK(scored == int64_t(utf8_chars(text.substr(text.size() - text.size() / 10)).size()) - 1);

  for (const char* pe : {"rel", "rope", "cope", "abs"}) {
    const fs::path out = temp(std::string("long_") + pe);
    fs::remove_all(out);
    const std::string tag = std::string(pe);
    REQUIRE(cli({"train", "--task", "text", "--data", f.string(), "--seq", "16", "--pe", pe, "--layers", "1", "--dim", "16",
                 "--heads", "2", "--steps", "3", "--out", out.string()}).code == 0);
    const Run r = cli({"eval", "--ckpt", out.string(), "--seq", "48", "--json"});
    INFO(pe << ": " << r.err);
    if (tag == "abs") {
      CHECK(r.code == 2);
      CHECK(r.err.find("abs position embeddings cover only 16 positions") != std::string::npos);
    } else {
      CHECK(r.code == 0);
      CHECK(r.out.find("\"ppl\"") != std::string::npos);
    }
  }
}

