#include "nn/config.h"

#include <algorithm>

namespace mc {

namespace {
[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw ConfigError(field, why);
}
std::string str(int64_t v) { return std::to_string(v); }
}  // namespace

void ModelConfig::validate() const {
  if (vocab < 1) bad("vocab", "must be at least 1, got " + str(vocab));
  if (seq < 1) bad("seq", "must be at least 1, got " + str(seq));
  if (layers < 1) bad("layers", "must be at least 1, got " + str(layers));
  if (dim < 1) bad("dim", "must be at least 1, got " + str(dim));
  if (heads < 1) bad("heads", "must be at least 1, got " + str(heads));
  if (dim % heads != 0) bad("dim", str(dim) + " is not divisible by heads (" + str(heads) + ")");
  if (mlp_ratio < 1) bad("mlp_ratio", "must be at least 1, got " + str(mlp_ratio));
  if (!(dropout >= 0.0 && dropout < 1.0)) bad("dropout", "must be in [0, 1), got " + std::to_string(dropout));
  if (!(attn_dropout >= 0.0 && attn_dropout < 1.0)) bad("attn_dropout", "must be in [0, 1), got " + std::to_string(attn_dropout));
  if (activation != "gelu" && activation != "relu") bad("activation", "must be gelu or relu, got '" + activation + "'");
  if (gelu != "tanh" && gelu != "erf") bad("gelu", "must be tanh or erf, got '" + gelu + "'");
  if (init_scheme == "auto")  // a run setting (config/run_config.h), chosen by the task before a model is built
    bad("init_scheme", "'auto' must be resolved to gpt2 or pytorch before a model is built");
  if (init_scheme != "gpt2" && init_scheme != "pytorch")
    bad("init_scheme", "must be gpt2 or pytorch, got '" + init_scheme + "'");
  if (!(ln_eps > 0.0)) bad("ln_eps", "must be positive");
  const std::vector<std::string>& all = position_encodings();
  if (std::find(all.begin(), all.end(), pe) == all.end()) {
    std::string list;  // (nn/ sits beside io/, whose join it cannot use)
    for (const std::string& p : all) list += (list.empty() ? "" : ", ") + p;
    bad("pe", "unknown position encoding '" + pe + "' (" + list + ")");
  }
  if (uses_rope() && head_dim() % 2 != 0) bad("heads", "rope needs an even head size, got dim/heads = " + str(head_dim()));
  if (!(rope_base > 1.0)) bad("rope_base", "must be above 1");
  if (npos && *npos < 1) bad("npos", "must be at least 1, got " + str(*npos));
  if (npos && !uses_cope()) bad("npos", "is a CoPE option; pe is '" + pe + "'");
  if (rel_cap && *rel_cap < 1) bad("rel_cap", "must be at least 1, got " + str(*rel_cap));
  if (rel_cap && !uses_rel()) bad("rel_cap", "needs pe rel or cope+rel; pe is '" + pe + "'");
  for (auto [flag, name] : {std::pair{sep_key, "sep_key"}, {val_gates, "val_gates"}, {nodiv, "nodiv"}, {shared, "shared"}})
    if (flag && !uses_cope()) bad(name, "is a CoPE option; pe is '" + pe + "'");
  if (sep_key && val_gates)
    throw ConfigError("val_gates", "the gates come from one source", "sep_key");
  if (every < 1) bad("every", "must be at least 1, got " + str(every));
  if (every > 1 && pe != "cope+rel") bad("every", "CoPE every K layers needs pe cope+rel (rel on the other layers)");
  if (every > layers) bad("every", str(every) + " is more than layers (" + str(layers) + "): no layer would use CoPE");
}

}  // namespace mc
