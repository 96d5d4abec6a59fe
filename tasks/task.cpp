// tasks.cpp — Flip-Flop, Selective Copy and Counting.
#include "io/files.h"
#include "io/hash.h"
#include "tasks/task.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

namespace mc {

namespace {

// Seeds of the fixed evaluation splits: constants, so every run sees the same sets.
uint64_t split_seed(const std::string& task, const std::string& split) {
  // FNV-1a of "task/split" from a basis a digit short of FNV's own (1469598103934665603,
  // not ...6037): kept, as it fixes the evaluation sets every run so far was scored on.
  const std::string name = task + "/" + split;
  return fnv1a64(name.data(), name.size(), 1469598103934665603ULL);
}

// A task option out of range: the setting named, as a flag and a config key.
void require(bool ok, const char* setting, const std::string& what) {
  if (!ok) throw SettingError(setting, what);
}

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

// ---- Flip-Flop (Liu et al. 2023) -------------------------------------------------------
// Tokens w r i 0 1. A sequence is length/2 instruction/bit pairs; the first instruction
// is w, the last r, the others w, r or i with p(i) = p_i, p(w) = p(r) = (1 - p_i)/2. The
// bit after w or i is uniform; the bit after r repeats the bit of the latest w. Only the
// bits after r are scored.
class FlipFlop : public Task {
 public:
  enum : int64_t { W = 0, R = 1, I = 2, ZERO = 3, ONE = 4 };
  explicit FlipFlop(const TaskOptions& o) : opt_(o) {
    require(o.length >= 4 && o.length % 2 == 0, "length", "flipflop: --length must be even and at least 4, got " + std::to_string(o.length));
    if (!(o.p_ignore >= 0 && o.p_ignore < 1)) throw std::invalid_argument("flipflop: p_ignore must be in [0, 1)");  // not a setting
    name_ = "flipflop";
    vocab_ = {"w", "r", "i", "0", "1"};
  }
  int64_t context() const override { return opt_.length - 1; }
  Example sample(Generator& g) const override { return generate(g, opt_.p_ignore); }
  std::vector<std::string> splits() const override { return {"test", "sparse", "dense"}; }
  int64_t eval_tokens() const override { return 4 * opt_.eval_size * opt_.length; }
  int64_t eval_examples() const override { return 4 * opt_.eval_size; }
  std::vector<Example> eval_set(const std::string& split) const override {
    double p;
    if (split == "test" || split == "valid") p = opt_.p_ignore;
    else if (split == "sparse") p = 0.98;
    else if (split == "dense") p = 0.1;
    else throw std::invalid_argument("flipflop has no split '" + split + "' (test, sparse, dense)");
    Generator g(split_seed(name_ + std::to_string(opt_.length), split));
    std::vector<Example> out;
    for (int64_t n = 0; n < opt_.eval_size; ++n) out.push_back(generate(g, p));
    return out;
  }

 private:
  Example generate(Generator& g, double p_i) const {
    Example e;
    const int64_t pairs = opt_.length / 2;
    int64_t memory = 0;
    for (int64_t k = 0; k < pairs; ++k) {
      int64_t op;
      if (k == 0) op = W;
      else if (k == pairs - 1) op = R;
      else {
        const double u = g.uniform();
        op = u < p_i ? I : u < p_i + (1 - p_i) / 2 ? W : R;
      }
      const int64_t bit = op == R ? memory : static_cast<int64_t>(g.below(2));
      if (op == W) memory = bit;
      e.tokens.push_back(op);
      e.tokens.push_back(ZERO + bit);
    }
    e.scored.assign(e.tokens.size() - 1, 0);
    for (size_t t = 0; t + 1 < e.tokens.size(); ++t) e.scored[t] = e.tokens[t] == R ? 1 : 0;
    return e;
  }
  TaskOptions opt_;
};

// ---- Selective Copy (Gu and Dao 2023) -------------------------------------------------------
// Tokens: "." (noise), "|" (separator), then `symbols` data tokens. data_tokens data
// tokens stand at random positions among noise_tokens noise tokens; after the separator
// the model writes the data tokens in order. The copied tokens are scored.
class SelCopy : public Task {
 public:
  explicit SelCopy(const TaskOptions& o) : opt_(o) {
    require(o.data_tokens >= 1, "data-tokens", "selcopy: --data-tokens must be at least 1");
    require(o.noise_tokens >= 2, "noise-tokens", "selcopy: --noise-tokens must be at least 2 (dense uses half)");
    require(o.symbols >= 1 && o.symbols <= 26, "symbols", "selcopy: --symbols must be between 1 and 26");
    name_ = "selcopy";
    vocab_ = {".", "|"};
    for (int64_t s = 0; s < o.symbols; ++s) vocab_.push_back(std::string(1, char('A' + s)));
  }
  int64_t context() const override { return total(2 * opt_.noise_tokens) - 1; }  // the sparse split is longest
  Example sample(Generator& g) const override { return generate(g, opt_.noise_tokens); }
  std::vector<std::string> splits() const override { return {"test", "dense", "sparse"}; }
  int64_t eval_tokens() const override {  // valid, test, dense, sparse
    return opt_.eval_size * (2 * total(opt_.noise_tokens) + total(opt_.noise_tokens / 2) + total(2 * opt_.noise_tokens));
  }
  int64_t eval_examples() const override { return 4 * opt_.eval_size; }
  std::vector<Example> eval_set(const std::string& split) const override {
    int64_t noise;
    if (split == "test" || split == "valid") noise = opt_.noise_tokens;
    else if (split == "dense") noise = opt_.noise_tokens / 2;
    else if (split == "sparse") noise = 2 * opt_.noise_tokens;
    else throw std::invalid_argument("selcopy has no split '" + split + "' (test, dense, sparse)");
    Generator g(split_seed(name_ + std::to_string(opt_.data_tokens) + "/" + std::to_string(opt_.noise_tokens), split));
    std::vector<Example> out;
    for (int64_t n = 0; n < opt_.eval_size; ++n) out.push_back(generate(g, noise));
    return out;
  }

 private:
  int64_t total(int64_t noise) const { return opt_.data_tokens + noise + 1 + opt_.data_tokens; }
  Example generate(Generator& g, int64_t noise) const {
    const int64_t n = opt_.data_tokens, span = n + noise;
    // choose n of the span positions for the data (a partial Fisher-Yates shuffle)
    std::vector<int64_t> slots(static_cast<size_t>(span));
    for (int64_t i = 0; i < span; ++i) slots[size_t(i)] = i;
    for (int64_t i = 0; i < n; ++i) std::swap(slots[size_t(i)], slots[size_t(i + int64_t(g.below(uint64_t(span - i))))]);
    std::sort(slots.begin(), slots.begin() + n);
    Example e;
    e.tokens.assign(size_t(span), 0);
    std::vector<int64_t> data;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t tok = 2 + int64_t(g.below(uint64_t(opt_.symbols)));
      e.tokens[size_t(slots[size_t(i)])] = tok;
      data.push_back(tok);
    }
    e.tokens.push_back(1);  // separator
    for (int64_t tok : data) e.tokens.push_back(tok);
    e.scored.assign(e.tokens.size() - 1, 0);
    for (int64_t i = 0; i < n; ++i) e.scored[size_t(span + i)] = 1;  // the separator predicts the first, ...
    return e;
  }
  TaskOptions opt_;
};

// ---- Counting (the CoPE paper's official generator) ------------------------------------------
// A program of 3..max_steps statements over `vars` variables, then "print x", and the
// answer is x's value. Statements, drawn with weights: "pass;" 50, "x ++;" 7 (only on a
// variable already set, and only while its value stays <= 10), "x = 0 ;" 1. Word tokens
// (split on white space, as the official files are); only the answer is scored.
class Counting : public Task {
 public:
  explicit Counting(const TaskOptions& o) : opt_(o) {
    name_ = "counting";
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
    if (!files_.empty()) return file_context_;
    return 4 * opt_.max_steps + 3 - 1;  // statements of at most 4 words, "print x", the answer
  }
  Example sample(Generator& g) const override {
    if (!files_.empty()) {
      const auto& train = files_.at("train");
      return train[size_t(g.below(train.size()))];
    }
    return encode(generate(g));
  }
  std::vector<std::string> splits() const override { return {"valid", "test"}; }
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
  // The longest of a few batches drawn (from a generator of its own), with a margin.
  int64_t batch_length(int64_t batch) const override {
    Generator g(0x5eedULL);
    int64_t longest = 0;
    for (int64_t n = 0; n < std::min<int64_t>(8 * batch, 512); ++n)
      longest = std::max(longest, int64_t(sample(g).tokens.size()) - 1);
    return std::min(context(), longest + longest / 8);
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
    const size_t answer_at = e.tokens.size();
    for (const std::string& w : split_words(r.answer)) e.tokens.push_back(index_.at(w));
    e.scored.assign(e.tokens.size() - 1, 0);
    for (size_t t = answer_at; t < e.tokens.size(); ++t) e.scored[t - 1] = 1;
    return e;
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

std::string Task::describe(const Example& e) const {
  std::string s;
  for (int64_t t : e.tokens) s += (s.empty() ? "" : " ") + vocab_.at(size_t(t));
  return s;
}

std::string size_flags(const std::string& task) {
  if (task == "flipflop") return "--length";
  if (task == "selcopy") return "--data-tokens or --noise-tokens";
  if (task == "counting") return "--max-steps";
  return "--seq";
}

std::unique_ptr<Task> make_task(const TaskOptions& opt) {
  if (opt.eval_size < 1) throw SettingError("eval-size", "--eval-size must be at least 1");
  if (opt.name == "flipflop") return std::make_unique<FlipFlop>(opt);
  if (opt.name == "selcopy") return std::make_unique<SelCopy>(opt);
  if (opt.name == "counting") return std::make_unique<Counting>(opt);
  if (opt.name == "text") return make_text_task(opt);
  throw SettingError("task", "unknown task '" + opt.name + "' (flipflop, selcopy, counting, text)");
}

TokenBatch make_batch(std::span<const Example> examples, int64_t length) {
  const int64_t B = int64_t(examples.size());
  int64_t L = length;
  if (L == 0)
    for (const Example& e : examples) L = std::max(L, int64_t(e.tokens.size()) - 1);
  TokenBatch b{Tensor::zeros({B, L}, DType::i64), Tensor::zeros({B, L}, DType::i64), Tensor::zeros({B, L})};
  int64_t* in = b.inputs.data<int64_t>();
  int64_t* tg = b.targets.data<int64_t>();
  float* m = b.mask.data<float>();
  for (int64_t i = 0; i < B; ++i) {
    const Example& e = examples[size_t(i)];
    const int64_t n = int64_t(e.tokens.size()) - 1;
    if (n > L) throw std::invalid_argument("make_batch: an example of " + std::to_string(n) + " inputs exceeds the length " + std::to_string(L));
    for (int64_t t = 0; t < n; ++t) {
      in[i * L + t] = e.tokens[size_t(t)];
      tg[i * L + t] = e.tokens[size_t(t + 1)];
      m[i * L + t] = e.scored[size_t(t)] ? 1.0f : 0.0f;
    }
  }
  return b;
}

}  // namespace mc
