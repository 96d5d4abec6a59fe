// run_config.cpp — the table of settings, --config files, and the JSON a checkpoint stores (run_config.h).
#include "config/run_config.h"

#include "io/files.h"
#include "io/strings.h"
#include "tasks/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace mc {

std::string auto_init_scheme(const std::string& task) { return task == "text" ? "gpt2" : "pytorch"; }

RunConfig::RunConfig() {
  // The defaults train CoPE on Flip-Flop in about 70 s on 2 cores (docs/tasks.md).
  model.layers = 2;
  model.dim = 64;
  model.heads = 4;
  model.pe = "cope";
  model.seq = 0;  // 0: the context the task needs
  model.init_scheme = "auto";  // resolve(): pytorch for the synthetic tasks, gpt2 for text
}

namespace {

// An integer in [lo, hi]; one of 2^63 or more is reported as written, not wrapped.
int64_t checked_int(const nlohmann::json& v, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) throw std::invalid_argument("expects an integer, got " + v.dump());
  const bool too_big = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX);
  const int64_t x = too_big ? INT64_MAX : v.get<int64_t>();
  if (too_big || x < lo || x > hi)
    throw std::invalid_argument("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + v.dump());
  return x;
}

Setting int_setting(std::string group, std::string name, std::string help, int64_t lo, int64_t hi,
                    std::function<int64_t&(RunConfig&)> ref) {
  Setting s{name, std::move(help), "int", nullptr, nullptr, std::move(group)};
  s.set = [=](RunConfig& c, const nlohmann::json& v) { ref(c) = checked_int(v, lo, hi); };
  s.get = [=](const RunConfig& c) { return nlohmann::json(ref(const_cast<RunConfig&>(c))); };
  return s;
}

Setting opt_int_setting(std::string group, std::string name, std::string help, int64_t lo, int64_t hi,
                        std::function<std::optional<int64_t>&(RunConfig&)> ref) {
  Setting s{name, std::move(help), "int", nullptr, nullptr, std::move(group)};
  s.set = [=](RunConfig& c, const nlohmann::json& v) {
    if (v.is_null()) { ref(c).reset(); return; }
    ref(c) = checked_int(v, lo, hi);
  };
  s.get = [=](const RunConfig& c) {
    const auto& o = ref(const_cast<RunConfig&>(c));
    return o ? nlohmann::json(*o) : nlohmann::json(nullptr);
  };
  return s;
}

Setting real_setting(std::string group, std::string name, std::string help, double lo, double hi, bool hi_open,
                     std::function<double&(RunConfig&)> ref) {
  Setting s{name, std::move(help), "number", nullptr, nullptr, std::move(group)};
  s.set = [=](RunConfig& c, const nlohmann::json& v) {
    if (!v.is_number()) throw std::invalid_argument("expects a number, got " + v.dump());
    const double x = v.get<double>();
    std::ostringstream range;
    range << "[" << lo << ", " << hi << (hi_open ? ")" : "]");
    if (!std::isfinite(x) || x < lo || x > hi || (hi_open && x == hi))
      throw std::invalid_argument("must be in " + range.str() + ", got " + v.dump());
    ref(c) = x;
  };
  s.get = [=](const RunConfig& c) { return nlohmann::json(ref(const_cast<RunConfig&>(c))); };
  return s;
}

Setting bool_setting(std::string group, std::string name, std::string help, std::function<bool&(RunConfig&)> ref) {
  Setting s{name, std::move(help), "bool", nullptr, nullptr, std::move(group)};
  s.set = [=](RunConfig& c, const nlohmann::json& v) {
    if (!v.is_boolean()) throw std::invalid_argument("expects true or false, got " + v.dump());
    ref(c) = v.get<bool>();
  };
  s.get = [=](const RunConfig& c) { return nlohmann::json(ref(const_cast<RunConfig&>(c))); };
  return s;
}

Setting choice_setting(std::string group, std::string name, std::string help, std::vector<std::string> choices,
                       std::function<std::string&(RunConfig&)> ref) {
  const std::string list = join(choices, ", ");
  Setting s{name, help + " (" + list + ")", "choice", nullptr, nullptr, std::move(group)};
  s.set = [=](RunConfig& c, const nlohmann::json& v) {
    if (!v.is_string()) throw std::invalid_argument("expects one of " + list + ", got " + v.dump());
    const std::string x = v.get<std::string>();
    if (std::find(choices.begin(), choices.end(), x) == choices.end())
      throw std::invalid_argument("expects one of " + list + ", got '" + x + "'");
    ref(c) = x;
  };
  s.get = [=](const RunConfig& c) { return nlohmann::json(ref(const_cast<RunConfig&>(c))); };
  return s;
}

Setting string_setting(std::string group, std::string name, std::string help, std::function<std::string&(RunConfig&)> ref) {
  Setting s{name, std::move(help), "string", nullptr, nullptr, std::move(group)};
  s.set = [=](RunConfig& c, const nlohmann::json& v) {
    if (!v.is_string()) throw std::invalid_argument("expects a string, got " + v.dump());
    if (!is_valid_utf8(v.get<std::string>()))  // it is stored in JSON, which holds only UTF-8
      throw std::invalid_argument("is not valid UTF-8 (a path minicope stores must be)");
    ref(c) = v.get<std::string>();
  };
  s.get = [=](const RunConfig& c) { return nlohmann::json(ref(const_cast<RunConfig&>(c))); };
  return s;
}

std::vector<Setting> build() {
  constexpr int64_t kBig = int64_t(1) << 30;
  using R = RunConfig;
  std::vector<Setting> v;
  // task
  v.push_back(choice_setting("task", "task", "the task", {"flipflop", "selcopy", "counting", "text"}, [](R& c) -> std::string& { return c.task.name; }));
  v.push_back(string_setting("task", "data", "text: the training text; counting: a folder of train/valid/test.jsonl in the official format", [](R& c) -> std::string& { return c.task.data; }));
  v.push_back(string_setting("task", "val", "text: the held-out text (default: the last 10% of --data)", [](R& c) -> std::string& { return c.task.val; }));
  v.push_back(choice_setting("task", "tokenizer", "text: tokens (bpe, unigram: SentencePiece subwords learned from --data)", {"byte", "char", "word", "bpe", "unigram"}, [](R& c) -> std::string& { return c.task.tokenizer; }));
  v.push_back(int_setting("task", "vocab-size", "text: word tokens: keep at most this many, <unk> and <eol> included (0: all; else at least 2); bpe, unigram: this many (0: 1024)", 0, 1 << 24, [](R& c) -> int64_t& { return c.task.vocab_size; }));
  v.push_back(int_setting("task", "min-count", "text, word tokens: keep words seen at least this often", 1, 1 << 30, [](R& c) -> int64_t& { return c.task.min_count; }));
  v.push_back(int_setting("task", "eval-size", "examples per evaluation split", 1, 1 << 20, [](R& c) -> int64_t& { return c.task.eval_size; }));
  v.push_back(int_setting("task", "length", "flipflop: tokens per sequence (even)", 4, 1 << 20, [](R& c) -> int64_t& { return c.task.length; }));
  v.push_back(int_setting("task", "data-tokens", "selcopy: tokens to copy", 1, 1 << 16, [](R& c) -> int64_t& { return c.task.data_tokens; }));
  v.push_back(int_setting("task", "noise-tokens", "selcopy: noise tokens in distribution (dense: half, sparse: twice)", 2, 1 << 20, [](R& c) -> int64_t& { return c.task.noise_tokens; }));
  v.push_back(int_setting("task", "symbols", "selcopy: distinct data tokens", 1, 26, [](R& c) -> int64_t& { return c.task.symbols; }));
  v.push_back(int_setting("task", "vars", "counting: variables", 1, 26, [](R& c) -> int64_t& { return c.task.vars; }));
  v.push_back(int_setting("task", "max-steps", "counting: at most this many statements", 3, 1 << 16, [](R& c) -> int64_t& { return c.task.max_steps; }));
  v.push_back(bool_setting("task", "cut-left", "counting: cut programs longer than --seq from the left, keeping the question and answer", [](R& c) -> bool& { return c.task.cut_left; }));
  // model
  v.push_back(choice_setting("model", "pe", "position encoding", position_encodings(), [](R& c) -> std::string& { return c.model.pe; }));
  v.push_back(opt_int_setting("model", "npos", "CoPE positions (default: context + 1)", 1, kBig, [](R& c) -> std::optional<int64_t>& { return c.model.npos; }));
  v.push_back(bool_setting("model", "sep-key", "CoPE gates from a separate key projection", [](R& c) -> bool& { return c.model.sep_key; }));
  v.push_back(bool_setting("model", "val-gates", "CoPE gates from the values", [](R& c) -> bool& { return c.model.val_gates; }));
  v.push_back(bool_setting("model", "nodiv", "CoPE logits added after the 1/sqrt(d) scale", [](R& c) -> bool& { return c.model.nodiv; }));
  v.push_back(bool_setting("model", "shared", "one CoPE table for all layers", [](R& c) -> bool& { return c.model.shared; }));
  v.push_back(int_setting("model", "every", "CoPE only every K-th layer, rel elsewhere (cope+rel)", 1, 1 << 10, [](R& c) -> int64_t& { return c.model.every; }));
  v.push_back(opt_int_setting("model", "rel-cap", "rel: embeddings before distances share the last (default: context)", 1, kBig, [](R& c) -> std::optional<int64_t>& { return c.model.rel_cap; }));
  v.push_back(int_setting("model", "layers", "transformer layers", 1, 1 << 10, [](R& c) -> int64_t& { return c.model.layers; }));
  v.push_back(int_setting("model", "dim", "model width", 1, 1 << 16, [](R& c) -> int64_t& { return c.model.dim; }));
  v.push_back(int_setting("model", "heads", "attention heads (must divide dim)", 1, 1 << 10, [](R& c) -> int64_t& { return c.model.heads; }));
  v.push_back(int_setting("model", "seq", "context length (0: what the task needs; text: 128)", 0, kMaxContext, [](R& c) -> int64_t& { return c.model.seq; }));
  v.push_back(real_setting("model", "dropout", "dropout probability (embeddings, each residual branch)", 0, 1, true, [](R& c) -> double& { return c.model.dropout; }));
  v.push_back(real_setting("model", "attn-dropout", "dropout probability on the attention weights", 0, 1, true, [](R& c) -> double& { return c.model.attn_dropout; }));
  v.push_back(bool_setting("model", "post-norm", "LayerNorm after each residual add", [](R& c) -> bool& { return c.model.post_norm; }));
  v.push_back(bool_setting("model", "tied", "tie the output projection to the token embedding", [](R& c) -> bool& { return c.model.tied; }));
  v.push_back(choice_setting("model", "activation", "the MLP's activation", {"gelu", "relu"}, [](R& c) -> std::string& { return c.model.activation; }));
  v.push_back(choice_setting("model", "gelu", "GELU form", {"tanh", "erf"}, [](R& c) -> std::string& { return c.model.gelu; }));
  v.push_back(choice_setting("model", "init-scheme", "how the first weights are drawn: gpt2 (N(0, 0.02), biases 0), pytorch (stock nn.Linear uniform, nn.Embedding N(0, 1)), or auto: pytorch for flipflop, selcopy and counting, gpt2 for text (docs/model.md)", {"auto", "gpt2", "pytorch"}, [](R& c) -> std::string& { return c.model.init_scheme; }));
  // optimiser
  v.push_back(real_setting("optim", "lr", "peak learning rate", 0, 10, false, [](R& c) -> double& { return c.optim.lr; }));
  v.push_back(int_setting("optim", "warmup", "linear warm-up steps", 0, kBig, [](R& c) -> int64_t& { return c.optim.warmup; }));
  v.push_back(choice_setting("optim", "schedule", "decay after warm-up", {"cosine", "linear", "constant"}, [](R& c) -> std::string& { return c.optim.schedule; }));
  v.push_back(real_setting("optim", "min-lr-ratio", "final learning rate as a fraction of --lr", 0, 1, false, [](R& c) -> double& { return c.optim.min_lr_ratio; }));
  v.push_back(real_setting("optim", "weight-decay", "decoupled weight decay (not on biases, norms, position embeddings)", 0, 10, false, [](R& c) -> double& { return c.optim.weight_decay; }));
  v.push_back(real_setting("optim", "clip", "clip the global gradient norm (0: off)", 0, 1e9, false, [](R& c) -> double& { return c.optim.clip; }));
  v.push_back(real_setting("optim", "beta1", "Adam beta1", 0, 1, true, [](R& c) -> double& { return c.optim.beta1; }));
  v.push_back(real_setting("optim", "beta2", "Adam beta2", 0, 1, true, [](R& c) -> double& { return c.optim.beta2; }));
  // loop
  v.push_back(int_setting("run", "steps", "training steps", 1, kBig, [](R& c) -> int64_t& { return c.steps; }));
  v.push_back(int_setting("run", "batch", "sequences per step", 1, 1 << 20, [](R& c) -> int64_t& { return c.batch; }));
  v.push_back(int_setting("run", "epochs", "passes over a fixed training set (counting --data), each shuffled anew; sets --steps (0: draw with replacement)", 0, 1 << 20, [](R& c) -> int64_t& { return c.epochs; }));
  v.push_back(int_setting("run", "eval-every", "evaluate every N steps (and at the end)", 1, kBig, [](R& c) -> int64_t& { return c.eval_every; }));
  v.push_back(int_setting("run", "log-every", "log the loss every N steps (0: about 20 times)", 0, kBig, [](R& c) -> int64_t& { return c.log_every; }));
  v.push_back(int_setting("run", "seed", "seed of the weights, the data and dropout", 0, INT64_MAX, [](R& c) -> int64_t& { return c.seed; }));
  // The settings of one task (or tokenizer) only.
  const std::vector<std::pair<std::string, std::vector<std::string>>> only = {
      {"data", {"text", "counting"}}, {"val", {"text"}},           {"tokenizer", {"text"}},
      {"vocab-size", {"text"}},       {"min-count", {"text"}},     {"length", {"flipflop"}},
      {"data-tokens", {"selcopy"}},   {"noise-tokens", {"selcopy"}}, {"symbols", {"selcopy"}},
      {"vars", {"counting"}},         {"max-steps", {"counting"}},   {"cut-left", {"counting"}}};
  for (Setting& s : v) {
    for (const auto& [name, tasks] : only)
      if (s.name == name) s.tasks = tasks;
    if (s.name == "vocab-size") s.tokenizers = {"word", "bpe", "unigram"};
    if (s.name == "min-count") s.tokenizers = {"word"};
  }
  return v;
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> s = build();
  return s;
}

void check_settings_apply(const RunConfig& c, const std::set<std::string>& given) {
  const RunConfig defaults;
  for (const Setting& s : settings()) {
    // A default value is no choice at all (a config.json of any run lists every setting).
    if (!given.count(s.name) || s.get(c) == s.get(defaults)) continue;
    if (!s.tasks.empty() && std::find(s.tasks.begin(), s.tasks.end(), c.task.name) == s.tasks.end()) {
      throw SettingError(s.name, "--" + s.name + " applies to --task " + join(s.tasks, " or ") + ", not " + c.task.name);
    }
    if (!s.tokenizers.empty() && std::find(s.tokenizers.begin(), s.tokenizers.end(), c.task.tokenizer) == s.tokenizers.end())
      throw SettingError(s.name, "--" + s.name + " applies to --tokenizer " + join(s.tokenizers, ", ") + ", not " + c.task.tokenizer);
  }
  if (given.count("vocab-size") && c.task.vocab_size == 1)
    throw SettingError("vocab-size", "--vocab-size 1 would leave only <unk>; give at least 2 (or 0 for every word, or 1024 subwords)");
}

void apply_setting(RunConfig& c, const Setting& s, const nlohmann::json& value, const std::string& origin) {
  try {
    s.set(c, value);
  } catch (const std::invalid_argument& e) {  // the setter's reason
    throw SettingError(s.name, origin + " " + e.what());
  }
}

std::vector<std::string> apply_config_file(RunConfig& c, const std::string& path) {
  return apply_config_text(c, read_whole_file(path, "a JSON file", "config "), path);
}

std::vector<std::string> apply_config_text(RunConfig& c, const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = parse_json_no_duplicates(text);  // rejects trailing garbage
  } catch (const DuplicateKey& e) {
    throw FileError(path, "config " + path + ": the setting " + quoted(e.key) + " is given twice");
  } catch (const nlohmann::json::parse_error& e) {
    throw FileError(path, "config " + path + ": not valid JSON (byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {  // found by fuzzing: 7E77777 overflows a double
    throw FileError(path, "config " + path + ": not valid JSON (a number out of range)");
  }
  if (!j.is_object()) throw FileError(path, "config " + path + ": expected a JSON object of settings");
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& all = settings();
    auto s = std::find_if(all.begin(), all.end(), [&](const Setting& x) { return x.name == it.key(); });
    if (s == all.end()) throw FileError(path, "config " + path + ": unknown setting " + quoted(it.key()) + " (the names are the flags of 'minicope train --help', without --)");
    try {
      apply_setting(c, *s, it.value(), "config " + path + ": " + it.key());
    } catch (const SettingError& e) {  // a value in the file: the file is what to fix
      throw FileError(path, e.what());
    }
    keys.push_back(it.key());
  }
  return keys;
}

nlohmann::json parse_flag_value(const Setting& s, const std::string& text) {
  if (s.kind == "string" || s.kind == "choice") return text;
  if (s.kind == "bool") {
    if (text == "true" || text == "1" || text.empty()) return true;
    if (text == "false" || text == "0") return false;
    throw SettingError(s.name, "--" + s.name + " expects true or false, got '" + text + "'");
  }
  size_t used = 0;
  // stoll and stod skip leading white space; " 5" is refused as "5 " is
  const bool spaced = !text.empty() && std::isspace(static_cast<unsigned char>(text[0]));
  if (!spaced) try {
      if (s.kind == "int") {
        const long long v = std::stoll(text, &used);
        if (used == text.size()) return int64_t(v);
      } else {
        const double v = std::stod(text, &used);
        if (used == text.size()) return v;
      }
    } catch (const std::exception&) {
    }
  throw SettingError(s.name, "--" + s.name + " expects " + (s.kind == "int" ? "an integer" : "a number") + ", got '" + text + "'");
}

nlohmann::json settings_json(const RunConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const Setting& s : settings()) j[s.name] = s.get(c);
  return j;
}

nlohmann::json to_json(const RunConfig& c) {
  nlohmann::json j = settings_json(c);
  j["model-vocab"] = c.model.vocab;  // set by the task rather than by the user
  return j;
}

SettingError setting_error(const ConfigError& e) {
  const auto flag = [](std::string field) {
    std::replace(field.begin(), field.end(), '_', '-');
    return "--" + field;
  };
  const std::string name = flag(e.field).substr(2);
  if (!e.other.empty()) return SettingError(name, flag(e.field) + " cannot be combined with " + flag(e.other) + " (" + e.why + ")");
  return SettingError(name, flag(e.field) + " " + e.why);
}

RunConfig run_config_from_json(const nlohmann::json& j) {
  RunConfig c;
  if (!j.is_object()) throw std::invalid_argument("the stored configuration is not a JSON object");
  for (const Setting& s : settings())
    if (j.contains(s.name)) apply_setting(c, s, j[s.name], "stored setting " + s.name + ":");
  // Stored before init-scheme existed: every run then drew GPT-2's weights.
  if (!j.contains("init-scheme")) c.model.init_scheme = "gpt2";
  if (j.contains("model-vocab")) {
    if (!j["model-vocab"].is_number_integer()) throw std::invalid_argument("the stored model-vocab is not an integer");
    c.model.vocab = j["model-vocab"];
  } else {  // format 2 stored the model's vocabulary under vocab-size, over the word cap
    if (!j.contains("vocab-size") || !j["vocab-size"].is_number_integer())
      throw std::invalid_argument("the stored configuration has no model-vocab");
    c.model.vocab = j["vocab-size"];
    c.task.vocab_size = 0;
  }
  return c;
}

}  // namespace mc
