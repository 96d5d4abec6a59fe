// test_subword.cpp — BPE and unigram tokens (SentencePiece): round trips, the stored
// model, vocabulary sizes the text does not allow, bits per character and per byte.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/base64.h"
#include "io/safetensors.h"
#include "tasks/subword.h"
#include "tasks/tokenizer.h"
#include "tests/cli_util.h"
#include "train/run_checkpoint.h"

using namespace mc;
namespace fs = std::filesystem;

namespace {

// A text with what trips subword tokenizers: runs of spaces, leading and trailing
// spaces, tabs, empty lines, multi-byte characters, and SentencePiece's own ▁.
// Words made of syllables drawn by a fixed linear congruential sequence, so that
// unigram has enough distinct substrings for a few hundred pieces.
std::string awkward_text() {
  const char* syllables[] = {"ka", "ro", "mi", "te", "su", "na", "lo", "ve", "qui", "zo", "ré", "東"};
  uint64_t x = 12345;
  auto draw = [&](uint64_t n) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return (x >> 33) % n;
  };
  std::string t;
  for (int line = 0; line < 120; ++line) {
    t += line % 3 == 0 ? "  " : line % 3 == 1 ? "\t" : "";
    for (uint64_t w = 0, words = 3 + draw(8); w < words; ++w) {
      for (uint64_t k = 0, n = 1 + draw(3); k < n; ++k) t += syllables[draw(12)];
      t += draw(7) == 0 ? "   " : draw(9) == 0 ? "\t\t" : draw(11) == 0 ? " ▁" : " ";
    }
    t += "naïve café — fox.\n";
    if (line % 10 == 0) t += "\n";
  }
  return t;
}

}  // namespace

TEST_CASE("bpe and unigram round-trip spaces, tabs, newlines, UTF-8 and U+2581 exactly, in fewer tokens than chars") {
  const std::string text = awkward_text();
  for (const std::string kind : {"bpe", "unigram"}) {
    INFO(kind);
    const Tokenizer t = Tokenizer::train(kind, text, 150);
    CHECK(t.size() == 150);
    CHECK(t.tokens()[0] == "<unk>");
    CHECK(!t.model().empty());
    const std::vector<int64_t> ids = t.encode(text);
    CHECK(t.decode(ids) == text);
    CHECK(3 * ids.size() < 2 * utf8_chars(text).size());  // pieces longer than a character, on average
    std::string joined;  // pieces printed one at a time (sample) give the same text
    int64_t prev = -1;
    for (int64_t id : ids) joined += t.piece(id, prev), prev = id;
    CHECK(joined == text);
    // a character the training text lacks is <unk>; the rest still round-trips
    const std::vector<int64_t> z = t.encode("fox Z fox");
    CHECK(std::count(z.begin(), z.end(), t.unk()) == 1);
    CHECK(t.decode(z) == "fox <unk> fox");
    CHECK(t.decode(t.encode("Z")) == "<unk>");
    // rebuilt from what a checkpoint stores, it encodes the same
    const Tokenizer again = Tokenizer::from_tokens(kind, t.tokens(), t.model());
    CHECK(again.encode(text) == ids);
  }
}

TEST_CASE("subword training is deterministic (each MPI rank trains its own) and the default vocabulary is 1024") {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "word" + std::to_string(i % 997) + " and w" + std::to_string(i * 7 % 113) + "\n";
  const Tokenizer a = Tokenizer::train("bpe", text), b = Tokenizer::train("bpe", text);
  CHECK(a.size() == kDefaultSubwordVocab);
  CHECK(a.model() == b.model());
  CHECK(a.tokens() == b.tokens());
}

TEST_CASE("subword errors: vocabulary sizes the text does not allow, text that is not UTF-8, a stored model that does not fit") {
  const std::string text = awkward_text();
  auto message = [&](const std::string& kind, int64_t vocab) {
    try {
      Tokenizer::train(kind, text, vocab);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("bpe", 10).find("--vocab-size 10: too few bpe tokens for the training text (at least") != std::string::npos);
  CHECK(message("unigram", 4).find("too few unigram tokens") != std::string::npos);
  CHECK(message("unigram", 100000).find("--vocab-size 100000: more unigram tokens than the training text allows (at most") !=
        std::string::npos);
  CHECK(message("bpe", 2).find("newline, tab, U+2581 and U+2585 take 4") != std::string::npos);
  CHECK_THROWS_WITH_AS(Tokenizer::train("bpe", "ok \xff ok"), doctest::Contains("not UTF-8 (byte offset 3)"), std::invalid_argument);

  const Tokenizer t = Tokenizer::train("bpe", text, 120);
  CHECK_THROWS_WITH_AS(Tokenizer::from_tokens("bpe", t.tokens()), doctest::Contains("needs its SentencePiece model"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tokenizer::from_tokens("bpe", t.tokens(), "not a model"), doctest::Contains("not a SentencePiece model"),
                       std::invalid_argument);
  std::vector<std::string> other = t.tokens();
  other[5] += "x";
  CHECK_THROWS_WITH_AS(Tokenizer::from_tokens("bpe", other, t.model()), doctest::Contains("is not the SentencePiece model's"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tokenizer::from_tokens("char", {"<unk>", "a"}, t.model()), doctest::Contains("has no SentencePiece model"),
                       std::invalid_argument);
}

TEST_CASE("base64 round-trips every byte and refuses what is not base64") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(char(i));
  for (size_t n : {0, 1, 2, 3, 4, 5, 255, 256}) CHECK(base64_decode(base64_encode(all.substr(0, n))) == all.substr(0, n));
  CHECK(base64_encode("Man") == "TWFu");
  CHECK(base64_encode("Ma") == "TWE=");
  CHECK(base64_encode("M") == "TQ==");
  for (const char* bad : {"TWF", "TW=u", "T!Fu", "TQ==TWFu"}) CHECK_THROWS_AS(base64_decode(bad), std::invalid_argument);
}

TEST_CASE("a bpe run stores its model: eval and sample need no other file; bits per char and byte are the summed loss over the text") {
  const fs::path dir = empty_test_dir("subword_run"), data = dir / "text.txt", out = dir / "run";
  write_text(data, awkward_text());
  const std::vector<std::string> model = {"--seq", "32", "--layers", "1", "--dim", "16", "--heads", "2", "--batch", "4"};
  std::vector<std::string> args = {"train", "--task", "text", "--data", data.string(), "--tokenizer", "bpe",
                                   "--vocab-size", "150", "--steps", "3", "--out", out.string()};
  args.insert(args.end(), model.begin(), model.end());
  const CliRun r = cli(args);
  INFO(r.err);
  REQUIRE(r.code == 0);

  const CliRun e = cli({"eval", "--ckpt", out.string(), "--json"});
  REQUIRE(e.code == 0);
  const nlohmann::json j = nlohmann::json::parse(e.out);
  // the held-out text is the last 10% (cut at a character): its characters but the first token's
  const std::string text = awkward_text();
  size_t cut = text.size() - text.size() / 10;
  while ((static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) ++cut;
  const std::string held = text.substr(cut);
  const LoadedRun run = load_run(out.string());
  const Tokenizer tok = Tokenizer::from_tokens("bpe", run.cfg.task.vocab, run.cfg.task.tokenizer_model);
  const std::string first = tok.piece(tok.encode(held)[0], -1);
  CHECK(j["bytes"].get<int64_t>() == int64_t(held.size() - first.size()));
  CHECK(j["chars"].get<int64_t>() == int64_t(utf8_chars(held).size() - utf8_chars(first).size()));
  CHECK(j["tokens"].get<int64_t>() == int64_t(tok.encode(held).size()) - 1);
  const double bits = j["loss"].get<double>() * j["tokens"].get<double>() / std::log(2.0);
  CHECK(j["bits_per_byte"].get<double>() == doctest::Approx(bits / j["bytes"].get<double>()).epsilon(1e-12));
  CHECK(j["bits_per_char"].get<double>() == doctest::Approx(bits / j["chars"].get<double>()).epsilon(1e-12));
  CHECK(j["bits_per_char"].get<double>() > j["bits_per_byte"].get<double>());  // the text has multi-byte characters

  fs::remove(data);  // sample reads nothing but the checkpoint
  const CliRun s = cli({"sample", "--ckpt", out.string(), "--prompt", "naïve café", "--tokens", "5", "--seed", "3"});
  INFO(s.err);
  CHECK(s.code == 0);
  CHECK(s.out.rfind("naïve café", 0) == 0);
}

TEST_CASE("a char run's bits per character are its loss / ln 2, and a corrupt stored subword model is one error line") {
  const fs::path dir = empty_test_dir("subword_char"), data = dir / "text.txt", out = dir / "run", bpe = dir / "bpe";
  write_text(data, awkward_text());
  const std::vector<std::string> common = {"--task", "text", "--data", data.string(), "--seq", "32", "--layers", "1",
                                           "--dim", "16", "--heads", "2", "--batch", "4", "--steps", "2"};
  std::vector<std::string> args = {"train", "--out", out.string()};
  args.insert(args.end(), common.begin(), common.end());
  REQUIRE(cli(args).code == 0);
  const CliRun e = cli({"eval", "--ckpt", out.string(), "--json"});
  REQUIRE(e.code == 0);
  const nlohmann::json j = nlohmann::json::parse(e.out);
  CHECK(j["chars"] == j["tokens"]);
  CHECK(j["bits_per_char"].get<double>() == doctest::Approx(j["loss"].get<double>() / std::log(2.0)).epsilon(1e-12));

  args = {"train", "--out", bpe.string(), "--tokenizer", "unigram", "--vocab-size", "120"};
  args.insert(args.end(), common.begin(), common.end());
  REQUIRE(cli(args).code == 0);
  const fs::path ckpt = bpe / "last.safetensors";
  const std::string original = file_text(ckpt);
  struct Case { std::string value, says; };
  for (const Case& c : {Case{"@@not base64@@", "the stored tokenizer model is corrupt (base64"},
                        Case{base64_encode("garbage bytes"), "the stored tokenizer is unusable (not a SentencePiece model"}}) {
    TensorFile f = load_safetensors(ckpt.string());
    f.metadata["tokenizer_model"] = c.value;
    save_safetensors(ckpt.string(), f);
    for (const char* cmd : {"eval", "sample"}) {
      const CliRun bad = cli({cmd, "--ckpt", ckpt.string()});
      INFO(cmd << ": " << bad.err);
      CHECK(bad.code != 0);
      CHECK(one_error_line(bad));
      CHECK(bad.err.find(c.says) != std::string::npos);
    }
    write_text(ckpt, original);
  }
  TensorFile f = load_safetensors(ckpt.string());  // a subword run without its model
  f.metadata.erase("tokenizer_model");
  save_safetensors(ckpt.string(), f);
  const CliRun missing = cli({"eval", "--ckpt", ckpt.string()});
  CHECK(one_error_line(missing));
  CHECK(missing.err.find("needs its SentencePiece model") != std::string::npos);
}

TEST_CASE("train refuses subword runs on text that is not UTF-8, naming the file, and leaves nothing behind") {
  const fs::path dir = empty_test_dir("subword_utf8"), good = dir / "good.txt", bad_end = dir / "bad_end.txt";
  const std::string text = awkward_text();
  write_text(good, text);
  write_text(bad_end, text + "\xff\n");  // in the last 10%, the held-out part
  struct Case { std::vector<std::string> files; std::string named; };
  for (const Case& c : {Case{{"--data", bad_end.string()}, bad_end.string()},
                        Case{{"--data", good.string(), "--val", bad_end.string()}, bad_end.string()}}) {
    std::vector<std::string> args = {"train", "--task", "text", "--tokenizer", "bpe", "--vocab-size", "120", "--steps", "1",
                                     "--out", (dir / "run").string()};
    args.insert(args.end(), c.files.begin(), c.files.end());
    const CliRun r = cli(args);
    INFO(r.err);
    CHECK(r.code != 0);
    CHECK(one_error_line(r));
    CHECK(r.err.find("minicope: error: " + c.named + ": not UTF-8 (byte offset " + std::to_string(text.size())) == 0);
    CHECK_FALSE(fs::exists(dir / "run" / "last.safetensors"));
  }
}

TEST_CASE("what SentencePiece itself would drop: U+2585, lines past its length limit, text with nothing to learn") {
  // U+2585 is SentencePiece's unknown mark (its trainer skips lines holding it), and the
  // trainer skips lines past max_sentence_length: both are cut out before it sees them
  std::string text = awkward_text() + "a line with \xe2\x96\x85 and the only Q\n";
  std::string tail;
  for (int i = 0; i < 3000; ++i) tail += "kamiro tesuna ";
  text += tail + "and then a Y at its end\n";  // one line of 42 kB
  const Tokenizer t = Tokenizer::train("bpe", text, 300);
  CHECK(t.decode(t.encode(text)) == text);
  for (const char* s : {"Q", "Y", "\xe2\x96\x85"}) {
    INFO(s);
    const std::vector<int64_t> ids = t.encode(s);
    REQUIRE(ids.size() == 1);
    CHECK(ids[0] != t.unk());
  }
  CHECK(t.encode("").empty());
  CHECK(t.first_token_bytes("") == 0);
  CHECK(t.decode(t.encode("\n\t\xe2\x96\x81\xe2\x96\x85\n")) == "\n\t\xe2\x96\x81\xe2\x96\x85\n");
  CHECK_THROWS_WITH_AS(Tokenizer::train("bpe", "\n\t\n\xe2\x96\x81\n"), doctest::Contains("nothing for SentencePiece to learn from"),
                       SubwordTextError);
}

TEST_CASE("the first held-out token's text is what it stands for: a run of unknown characters, a word, a piece") {
  const Tokenizer bpe = Tokenizer::train("bpe", awkward_text(), 150);
  CHECK(bpe.encode("ZZZ fox").front() == bpe.unk());  // one <unk> for the run
  CHECK(bpe.first_token_bytes("ZZZ fox") == 3);
  CHECK(bpe.first_token_bytes("\tfox") == 1);
  CHECK(bpe.first_token_bytes("\xe2\x96\x81" "fox") == 3);
  const std::string piece = bpe.piece(bpe.encode("naïve")[0], -1);
  CHECK(bpe.first_token_bytes("naïve") == piece.size());
  const Tokenizer word = Tokenizer::train("word", "the cat\nsat\n");
  CHECK(word.first_token_bytes("  zebra cat") == 7);  // an unknown word: the whole word
  CHECK(word.first_token_bytes(" \nthe") == 2);
  CHECK(Tokenizer::train("char", "ab").first_token_bytes("é") == 2);
  CHECK(Tokenizer::train("byte", "").first_token_bytes("é") == 1);
}

TEST_CASE("bits per character over held-out text that starts with unknown characters, the same at every --seq") {
  const fs::path dir = empty_test_dir("subword_unk"), data = dir / "text.txt", val = dir / "val.txt", out = dir / "run";
  write_text(data, awkward_text());
  const std::string held = "ZZZ naïve café — fox.\n  kamiro tesuna ZZ lo\n";
  write_text(val, held);
  REQUIRE(cli({"train", "--task", "text", "--data", data.string(), "--val", val.string(), "--tokenizer", "bpe", "--vocab-size",
               "150", "--seq", "16", "--layers", "1", "--dim", "16", "--heads", "2", "--batch", "4", "--steps", "2", "--out",
               out.string()}).code == 0);
  for (const char* seq : {"16", "48"}) {
    const CliRun e = cli({"eval", "--ckpt", out.string(), "--seq", seq, "--json"});
    INFO(e.err);
    REQUIRE(e.code == 0);
    const nlohmann::json j = nlohmann::json::parse(e.out);
    CHECK(j["bytes"].get<int64_t>() == int64_t(held.size()) - 3);  // all but the first token's "ZZZ"
    CHECK(j["chars"].get<int64_t>() == int64_t(utf8_chars(held).size()) - 3);
    CHECK(j["unk_tokens"].get<int64_t>() == 1);  // "ZZ" (the first "ZZZ" is not predicted)
  }
  const CliRun bad = cli({"sample", "--ckpt", out.string(), "--prompt", "ok \xff"});
  CHECK(one_error_line(bad));
  CHECK(bad.err.find("--prompt is not UTF-8") != std::string::npos);
}
