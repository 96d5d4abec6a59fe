// text.cpp — language modelling on a text file (--task text).
//
// Training examples are windows of context + 1 tokens at uniformly random offsets of
// the training text. The held-out text ("valid") is read whole, in windows of
// context + 1 tokens whose starts are context/2 apart; each window scores only the
// tokens the previous window did not (its second half), the first window scores all.
// So every held-out token after the first is predicted exactly once, each (but those
// of the first half-window) with between context/2 and context tokens before it.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "io/files.h"
#include "tasks/makers.h"
#include "tasks/subword.h"
#include "tasks/tokenizer.h"

namespace mc {

namespace {

// The text of --data or --val (`setting`: "data" or "val").
std::string read_text(const std::string& path, const std::string& setting) {
  if (path.empty()) throw SettingError(setting, "the text task needs --" + setting + " FILE");
  std::string text = read_whole_file(path, "a text file");
  if (text.empty()) throw FileError(path, path + ": is empty");
  return text;
}

class TextTask : public Task {
 public:
  explicit TextTask(const TaskOptions& o) : opt_(o) {
    name_ = "text";
    if (o.context < 1) throw SettingError("seq", "text: the context must be at least 1 token");
    std::string train = read_text(o.data, "data");
    std::string held;
    size_t held_at = 0;  // where the held-out text starts in its file
    if (!o.val.empty()) held = read_text(o.val, "val");
    if (o.tokenizer != "byte")  // char and word tokens are for text; a NUL byte says the file is not
      for (const auto& [name, text] : {std::pair{&o.data, &train}, std::pair{&o.val, &held}})
        if (const size_t at = text->find('\0'); at != std::string::npos)
          throw FileError(*name, *name + ": a NUL byte at offset " + std::to_string(at) +
                                   ": binary data, not text (--tokenizer byte reads any bytes)");
    if (o.val.empty()) {
      // the last 10% of the file, cut at a character (char) or white-space (word) boundary
      size_t cut = train.size() - train.size() / 10;
      while (cut < train.size() && (static_cast<unsigned char>(train[cut]) & 0xc0) == 0x80) ++cut;
      if (o.tokenizer == "word")
        while (cut < train.size() && !std::isspace(static_cast<unsigned char>(train[cut]))) ++cut;
      held = train.substr(cut);
      held_at = cut;
      train.resize(cut);
      if (held.empty()) throw FileError(o.data, o.data + ": too short to hold out its last 10% (pass --val FILE)");
    }
    if (is_subword(o.tokenizer))  // SentencePiece reads UTF-8 (the held-out text may be --data's last 10%)
      for (const auto& [name, text, offset] : {std::tuple{&o.data, &train, size_t(0)}, std::tuple{o.val.empty() ? &o.data : &o.val, &held, held_at}})
        if (const size_t at = invalid_utf8_at(*text); at != std::string::npos)
          throw FileError(*name, *name + ": not UTF-8 (byte offset " + std::to_string(offset + at) + "); --tokenizer " +
                                   o.tokenizer + " reads UTF-8 text, --tokenizer byte any bytes");
    if (!o.vocab.empty()) {
      tok_ = Tokenizer::from_tokens(o.tokenizer, o.vocab, o.tokenizer_model);  // stored: its faults are the file's
    } else {
      try {
        tok_ = Tokenizer::train(o.tokenizer, train, o.vocab_size, o.min_count);
      } catch (const SubwordTextError& e) {  // the text's fault
        throw FileError(o.data, o.data + ": " + e.what());
      } catch (const std::invalid_argument& e) {  // a vocabulary size this text does not allow
        throw SettingError("vocab-size", e.what());
      }
    }
    vocab_ = tok_.tokens();
    tokenizer_model_ = tok_.model();
    train_ids_ = tok_.encode(train);
    held_ids_ = tok_.encode(held);
    // what the scored tokens predict: the held-out text but its first token's
    held_size_ = text_size(std::string_view(held).substr(tok_.first_token_bytes(held)));
    held_size_.unknown = std::count(held_ids_.begin() + std::min<size_t>(1, held_ids_.size()), held_ids_.end(), tok_.unk());
    if (!o.evaluate_only && int64_t(train_ids_.size()) < o.context + 1)
      throw FileError(o.data, (o.val.empty() ? o.data + " (its first 90%)" : o.data) + ": " +
                               std::to_string(train_ids_.size()) + " tokens, fewer than one context window (" +
                               std::to_string(o.context + 1) + "; lower --seq or use a longer file)");
    if (held_ids_.size() < 2)
      throw FileError(o.val.empty() ? o.data : o.val, (o.val.empty() ? o.data + " (its last 10%)" : o.val) + ": fewer than 2 tokens to evaluate on");
  }
  int64_t context() const override { return opt_.context; }
  bool is_text() const override { return true; }
  TextSize scored_text(const std::string& split) const override {
    if (split != "valid") throw std::invalid_argument("text has one split, 'valid' (the held-out text), not '" + split + "'");
    return held_size_;
  }
  const Tokenizer& tokenizer() const { return tok_; }
  Example sample(Generator& g) const override {
    const int64_t n = opt_.context + 1;
    const int64_t at = int64_t(g.below(uint64_t(int64_t(train_ids_.size()) - n + 1)));
    Example e;
    e.tokens.assign(train_ids_.begin() + at, train_ids_.begin() + at + n);
    e.scored.assign(size_t(n - 1), 1);
    return e;
  }
  std::vector<std::string> splits() const override { return {"valid"}; }
  // windows of context + 1 tokens, context / 2 apart: each held-out token about twice
  int64_t eval_tokens() const override { return 2 * int64_t(held_ids_.size()) + opt_.context + 1; }
  int64_t eval_examples() const override { return int64_t(held_ids_.size()) / std::max<int64_t>(1, opt_.context / 2) + 1; }
  std::vector<Example> eval_set(const std::string& split) const override {
    if (split != "valid") throw std::invalid_argument("text has one split, 'valid' (the held-out text), not '" + split + "'");
    const int64_t n = int64_t(held_ids_.size()), L = opt_.context, stride = std::max<int64_t>(1, L / 2);
    std::vector<Example> out;
    int64_t scored_to = 0;  // held-out tokens [1, scored_to] already predicted
    for (int64_t start = 0; scored_to < n - 1; start += stride) {
      const int64_t end = std::min(n, start + L + 1);
      Example e;
      e.tokens.assign(held_ids_.begin() + start, held_ids_.begin() + end);
      e.scored.assign(e.tokens.size() - 1, 0);
      for (int64_t t = start; t < end - 1; ++t)
        if (t + 1 > scored_to) e.scored[size_t(t - start)] = 1;  // predicts token t+1
      scored_to = end - 1;
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  TaskOptions opt_;
  Tokenizer tok_;
  std::vector<int64_t> train_ids_, held_ids_;
  TextSize held_size_;  // of the held-out text the scored tokens predict (all but the first token's)

  static TextSize text_size(std::string_view t) { return {int64_t(utf8_chars(t).size()), int64_t(t.size()), 0}; }
};

}  // namespace

std::unique_ptr<Task> make_text_task(const TaskOptions& opt) { return std::make_unique<TextTask>(opt); }

}  // namespace mc
