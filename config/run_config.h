// run_config.h — everything a training run is: task, model, optimiser, loop.
//
// Every field is a "setting" with one name used both as a command-line flag (--lr) and
// as a key of a --config JSON file ("lr"). Defaults, then the config file, then the
// flags: the last one wins. The whole RunConfig is stored in each checkpoint.
#pragma once
#include <functional>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/errors.h"
#include "nn/config.h"
#include "optim/optim.h"
#include "tasks/task.h"

namespace mc {

struct RunConfig {
  TaskOptions task;
  ModelConfig model;  // vocab comes from the task; seq too unless set
  OptimConfig optim;
  int64_t steps = 3000;
  int64_t batch = 32;
  int64_t epochs = 0;  // passes over a fixed training set (0: examples drawn with replacement)
  int64_t eval_every = 250;
  int64_t log_every = 0;  // 0: about 20 lines per run
  int64_t seed = 1;
  RunConfig();
};

struct Setting {
  std::string name;  // flag and config key
  std::string help;
  std::string kind;  // "int", "number", "bool", "string", or "choice"
  std::function<void(RunConfig&, const nlohmann::json&)> set;  // validates; throws std::invalid_argument
  std::function<nlohmann::json(const RunConfig&)> get;
  std::string group;  // task, model, optim, run
  // The tasks it applies to (empty: every task); given for another, it is refused.
  std::vector<std::string> tasks = {};
  std::vector<std::string> tokenizers = {};  // it applies only with these tokenizers (empty: any)
};
const std::vector<Setting>& settings();

// What init-scheme "auto" (the default) means for a task: "gpt2" for text, "pytorch"
// for the synthetic tasks (docs/model.md, "Initialisation").
std::string auto_init_scheme(const std::string& task);

// Refuses settings that were given (by flag or config file) a value other than their
// default but do not apply to the task or tokenizer of `c`: "--tokenizer applies to
// --task text, not flipflop". (A default is let through: config.json lists them all.)
void check_settings_apply(const RunConfig& c, const std::set<std::string>& given);

// Applies one value; `origin` ("--lr" or "config run.json: lr") starts the error message.
void apply_setting(RunConfig& c, const Setting& s, const nlohmann::json& value, const std::string& origin);  // throws SettingError
// Applies a JSON object of settings (a --config file); unknown keys and wrong types are errors.
// Returns the keys it applied.
std::vector<std::string> apply_config_file(RunConfig& c, const std::string& path);
// The same from the file's text; `path` names it in messages.
std::vector<std::string> apply_config_text(RunConfig& c, const std::string& text, const std::string& path);
// A flag's text as the JSON value of its setting's kind ("3" -> 3, "true" -> true).
nlohmann::json parse_flag_value(const Setting& s, const std::string& text);

// Every setting by name: what config.json holds, and what --config reads back.
nlohmann::json settings_json(const RunConfig& c);
// The settings plus "model-vocab" (the vocabulary size the task chose): the form a
// checkpoint stores, which run_config_from_json reads.
nlohmann::json to_json(const RunConfig& c);
// A model configuration error as the flags name it: SettingError("dim", "--dim 30 is
// not divisible by ...").
SettingError setting_error(const ConfigError& e);

RunConfig run_config_from_json(const nlohmann::json& j);  // throws std::invalid_argument or SettingError

}  // namespace mc
