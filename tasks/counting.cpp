// counting.cpp — the Counting task (the CoPE paper's official generator), and its JSONL files.
#include "tasks/counting.h"
#include "tasks/makers.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "io/files.h"

namespace mc {

namespace {

int64_t word_count(const std::string& text) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    n += !space && !in_word;
    in_word = !space;
  }
  return n;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// A program of 3..max_steps statements over `vars` variables, then "print x", and the
// answer is x's value. Statements, drawn with weights: "pass;" 50, "x ++;" 7 (only on a
// variable already set, and only while its value stays <= 10), "x = 0 ;" 1. Word tokens
// (split on white space, as the official files are); only the answer is scored.
class Counting : public Task {
 public:
  explicit Counting(const TaskOptions& o) : opt_(o) {
    name_ = "counting";
    // the question ("print x") and a one-word answer must fit, with one statement word
    require(!o.cut_left || o.context >= 4, "seq",
            "counting: --cut-left needs --seq of at least 4 (the question, the answer and some program), got " +
                std::to_string(o.context));
    if (!o.data.empty()) {
      load(o.data);
      return;
    }
    require(o.vars >= 1 && o.vars <= 26, "vars", "counting: --vars must be between 1 and 26, got " + std::to_string(o.vars));
    require(o.max_steps >= 3, "max-steps", "counting: --max-steps must be at least 3, got " + std::to_string(o.max_steps));
    std::vector<std::string> words = {"<pad>", "pass;", "++;", "=", ";", "print"};
    for (int64_t v = 0; v < o.vars; ++v) words.push_back(std::string(1, char('a' + v)));
    for (int v = 0; v <= kMaxValue; ++v) words.push_back(std::to_string(v));
    set_vocab(words);
  }
  int64_t context() const override {
    // statements of at most 4 words, "print x", the answer
    const int64_t longest = files_.empty() ? 4 * opt_.max_steps + 3 - 1 : file_context_;
    return opt_.cut_left ? std::min(longest, opt_.context) : longest;
  }
  std::span<const Example> training_set() const override {
    return files_.empty() ? std::span<const Example>() : std::span<const Example>(files_.at("train"));
  }
  Example sample(Generator& g) const override {
    if (!files_.empty()) {
      const auto& train = files_.at("train");
      return train[size_t(g.below(train.size()))];
    }
    return encode(generate(g));
  }
  std::vector<std::string> splits() const override { return {"valid", "test"}; }
  std::string shortcut() const override { return "count every ++ after the last = 0 of any variable"; }
  int64_t eval_tokens() const override {
    if (files_.empty()) return 2 * opt_.eval_size * (context() + 1);
    int64_t n = 0;
    for (const char* split : {"valid", "test"})
      for (const Example& e : files_.at(split)) n += int64_t(e.tokens.size());
    return n;
  }
  int64_t eval_examples() const override {
    return files_.empty() ? 2 * opt_.eval_size : int64_t(files_.at("valid").size() + files_.at("test").size());
  }
  // The largest of a few batches drawn (from a generator of its own), as smallest_batch
  // makes them, with a margin of an eighth.
  BatchShape batch_shape(int64_t batch, int64_t row_length) const override {
    Generator g(0x5eedULL);
    BatchShape largest{0, 0, false, /*varies=*/true};
    for (int64_t drawn = 0; drawn < std::min<int64_t>(8 * batch, 512); drawn += batch) {
      std::vector<int64_t> lengths;
      for (int64_t i = 0; i < batch; ++i) lengths.push_back(int64_t(sample(g).tokens.size()) - 1);
      const BatchShape s = smallest_shape(lengths, row_length);
      if (s.rows * s.length > largest.rows * largest.length) largest.rows = s.rows, largest.length = s.length, largest.packed = s.packed;
    }
    if (largest.packed) largest.rows = std::min(batch, largest.rows + (largest.rows + 7) / 8);
    else largest.length = std::min(context(), largest.length + largest.length / 8);
    return largest;
  }
  std::vector<Example> eval_set(const std::string& split) const override {
    if (split != "valid" && split != "test") throw std::invalid_argument("counting has no split '" + split + "' (valid, test)");
    if (!files_.empty()) return files_.at(split);
    Generator g(split_seed("counting" + std::to_string(opt_.vars) + "/" + std::to_string(opt_.max_steps), split));
    std::vector<Example> out;
    for (int64_t n = 0; n < opt_.eval_size; ++n) out.push_back(encode(generate(g)));
    return out;
  }

  static constexpr int kMaxValue = 10;

 private:
  void set_vocab(const std::vector<std::string>& words) {
    vocab_ = words;
    for (size_t i = 0; i < words.size(); ++i) index_[words[i]] = int64_t(i);
  }
  Example encode(const CountingRecord& r) const {
    Example e;
    for (const std::string* part : {&r.context, &r.question})
      for (const std::string& w : split_words(*part)) e.tokens.push_back(index_.at(w));
    size_t answer_at = e.tokens.size();
    for (const std::string& w : split_words(r.answer)) e.tokens.push_back(index_.at(w));
    // cut_left: keep the last context + 1 tokens — the end of the program, the question
    // and the answer (context >= the question and answer's length, checked in the constructor)
    if (opt_.cut_left && int64_t(e.tokens.size()) > opt_.context + 1) {
      const size_t drop = e.tokens.size() - size_t(opt_.context + 1);
      e.tokens.erase(e.tokens.begin(), e.tokens.begin() + int64_t(drop));
      answer_at -= drop;
    }
    e.scored.assign(e.tokens.size() - 1, 0);
    for (size_t t = answer_at; t < e.tokens.size(); ++t) e.scored[t - 1] = 1;
    e.shortcut_right = shortcut_right(e.tokens, answer_at);
    return e;
  }
  // The variable-blind shortcut on a program whose answer starts at answer_at: the
  // number of "++;" after the last "=" of the input (of any variable; all of them when
  // the input holds no "="), as a word. 1 when that is the answer, else 0; -1 when the
  // vocabulary has no "++;" or "=" (a data file of another format).
  int8_t shortcut_right(const std::vector<int64_t>& tokens, size_t answer_at) const {
    const auto inc = index_.find("++;"), set = index_.find("=");
    if (inc == index_.end() || set == index_.end()) return -1;
    int64_t count = 0;
    for (size_t t = 0; t < answer_at; ++t) count = tokens[t] == set->second ? 0 : count + (tokens[t] == inc->second);
    const auto guess = index_.find(std::to_string(count));
    return guess != index_.end() && tokens.size() == answer_at + 1 && tokens[answer_at] == guess->second;
  }
  // One program, as the official generator draws it (failed draws are retried).
  CountingRecord generate(Generator& g) const {
    for (int attempt = 0; attempt < 1000; ++attempt) {
      const int64_t steps = 3 + int64_t(g.below(uint64_t(opt_.max_steps - 2)));
      std::map<int64_t, int> value;  // variables set so far
      std::string context;
      bool ok = true;
      for (int64_t s = 0; s < steps && ok; ++s) {
        std::string stmt;
        for (int trial = 0; trial < 100 && stmt.empty(); ++trial) {
          const uint64_t u = g.below(58);  // weights: set 1, pass 50, increment 7
          if (u < 1) {
            const int64_t v = int64_t(g.below(uint64_t(opt_.vars)));
            value[v] = 0;
            stmt = var(v) + " = 0 ;";
          } else if (u < 51) {
            stmt = "pass;";
          } else if (!value.empty()) {
            auto it = std::next(value.begin(), int64_t(g.below(value.size())));
            if (it->second + 1 <= kMaxValue) {
              ++it->second;
              stmt = var(it->first) + " ++;";
            }
          }
        }
        if (stmt.empty()) ok = false;
        else context += (context.empty() ? "" : " ") + stmt;
      }
      if (!ok || value.empty()) continue;
      auto it = std::next(value.begin(), int64_t(g.below(value.size())));
      return {context, "print " + var(it->first), std::to_string(it->second)};
    }
    throw std::runtime_error("counting: could not generate a program in 1000 attempts");
  }
  static std::string var(int64_t v) { return std::string(1, char('a' + v)); }

  void load(const std::string& dir) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(dir))
      throw FileError(dir, dir + ": not a folder (--data for counting is a folder with train.jsonl, valid.jsonl, test.jsonl)");
    std::map<std::string, std::vector<CountingRecord>> records;
    std::set<std::string> words;
    for (const char* split : {"train", "valid", "test"}) {
      const std::string path = (fs::path(dir) / (std::string(split) + ".jsonl")).string();
      records[split] = read_counting_jsonl(path);
      if (records[split].empty()) throw FileError(path, path + ": no examples");
      for (const auto& r : records[split]) {
        // counted before the words are copied out: one huge line must not take the memory
        const int64_t n = word_count(r.context) + word_count(r.question) + word_count(r.answer);
        if (n - 1 > kMaxContext)
          throw FileError(path, path + ":" + std::to_string(r.line) + ": a program of " + std::to_string(n) +
                                   " tokens, longer than minicope takes (" + std::to_string(kMaxContext) +
                                   " tokens of context)");
        for (const std::string* part : {&r.context, &r.question, &r.answer})
          for (const std::string& w : split_words(*part)) words.insert(w);
      }
    }
    std::vector<std::string> vocab{"<pad>"};
    words.erase("<pad>");
    vocab.insert(vocab.end(), words.begin(), words.end());
    set_vocab(vocab);
    for (auto& [split, recs] : records) {
      auto& out = files_[split];
      for (const auto& r : recs) {
        out.push_back(encode(r));
        file_context_ = std::max(file_context_, int64_t(out.back().tokens.size()) - 1);
      }
    }
  }
  TaskOptions opt_;
  std::map<std::string, int64_t> index_;
  std::map<std::string, std::vector<Example>> files_;
  int64_t file_context_ = 0;
};

}  // namespace

std::unique_ptr<Task> make_counting(const TaskOptions& opt) { return std::make_unique<Counting>(opt); }

std::vector<CountingRecord> read_counting_jsonl(const std::string& path) {
  return parse_counting_jsonl(read_whole_file(path, "a JSONL file"), path);
}

std::vector<CountingRecord> parse_counting_jsonl(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::vector<CountingRecord> out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines
    auto where = [&] { return path + ":" + std::to_string(n) + ": "; };
    // Its words, counted in the raw line (JSON escapes can only add white space, and the
    // keys are a few words): a program far past any context is refused before parsing.
    if (const int64_t words = word_count(line); words > kMaxContext + 16)
      throw FileError(path, where() + "a program of about " + std::to_string(words) +
                               " tokens, longer than minicope takes (" + std::to_string(kMaxContext) + " tokens of context)");
    nlohmann::json j;
    try {
      j = parse_json_no_duplicates(line);
    } catch (const DuplicateKey& e) {
      throw FileError(path, where() + e.what());
    } catch (const nlohmann::json::exception&) {
      throw FileError(path, where() + "not valid JSON");
    }
    CountingRecord r;
    r.line = n;
    for (auto [key, field] : {std::pair{"context", &r.context}, {"question", &r.question}, {"answer", &r.answer}}) {
      if (!j.is_object() || !j.contains(key) || !j[key].is_string())
        throw FileError(path, where() + "expected an object with string fields context, question and answer (" +
                                 key + " is missing or not a string)");
      *field = j[key].get<std::string>();
    }
    if (r.answer.find_first_not_of(" \t") == std::string::npos) throw FileError(path, where() + "the answer is empty");
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace mc
