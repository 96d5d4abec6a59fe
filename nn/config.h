// config.h — one struct describes the whole architecture (docs/model.md explains
// every field and default).
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mc {

// Every position encoding, in the order tables and help list them: none, abs, rel, rope,
// cope, cope+rel, cope+rope (docs/model.md describes each).
inline const std::vector<std::string>& position_encodings() {
  static const std::vector<std::string> all = {"none", "abs", "rel", "rope", "cope", "cope+rel", "cope+rope"};
  return all;
}

// A configuration that does not make sense: what() is "config: FIELD: WHY", and the
// parts are kept, so a program can name its own flag for the field (train names
// dim's as --dim). `other` is the second field of a combination that does not fit.
struct ConfigError : std::invalid_argument {
  ConfigError(std::string field_, std::string why_, std::string other_ = "")
      : std::invalid_argument("config: " + field_ + ": " +
                              (other_.empty() ? why_ : "cannot be combined with " + other_ + " (" + why_ + ")")),
        field(std::move(field_)), why(std::move(why_)), other(std::move(other_)) {}
  std::string field, why, other;
};

struct ModelConfig {
  int64_t vocab = 0;      // tokens in the vocabulary
  int64_t seq = 64;       // training context length (abs table size; default npos and rel cap)
  int64_t layers = 2;
  int64_t dim = 64;       // model width C
  int64_t heads = 4;      // C must divide by heads; head size D = C / heads
  int64_t mlp_ratio = 4;  // MLP hidden width = mlp_ratio * C
  double dropout = 0.0;   // on the embedding output and each residual branch
  double attn_dropout = 0.0;  // on the attention weights (the official CoPE code's dropout does this too)
  bool post_norm = false; // LayerNorm after each residual add (the paper's counting runs)
  bool tied = false;      // output projection shares the token embedding
  std::string activation = "gelu";  // the MLP's: "gelu" or "relu" (the official CoPE code's simpledec)
  std::string gelu = "tanh";        // GELU's form: "tanh" or "erf"
  std::string init_scheme = "gpt2"; // first weights: "gpt2" (N(0, 0.02)) or "pytorch" (stock nn.Linear/Embedding);
                                    // a run's default, "auto", is resolved by its task first
  double ln_eps = 1e-5;

  // Position encoding: one of position_encodings() above.
  std::string pe = "cope";
  std::optional<int64_t> npos;     // CoPE positions (>= 1); unset means seq + 1
  bool sep_key = false;    // CoPE gates from a separate key projection
  bool val_gates = false;  // CoPE gates from the values
  bool nodiv = false;      // CoPE logits added after the 1/sqrt(D) scale
  bool shared = false;     // one CoPE table for all layers
  int64_t every = 1;       // CoPE only on layers every-1, 2*every-1, ...; rel elsewhere (needs cope+rel)
  std::optional<int64_t> rel_cap;  // rel embeddings; distances >= rel_cap-1 share the last; unset means seq
  double rope_base = 10000.0;

  bool uses_cope() const { return pe.rfind("cope", 0) == 0; }
  bool uses_rel() const { return pe == "rel" || pe == "cope+rel"; }
  bool uses_rope() const { return pe == "rope" || pe == "cope+rope"; }
  int64_t cope_npos() const { return npos ? *npos : seq + 1; }
  int64_t rel_positions() const { return rel_cap ? *rel_cap : seq; }
  int64_t head_dim() const { return dim / heads; }
  // Whether layer l (from 0) uses CoPE (with `every`, the others use rel only).
  bool layer_uses_cope(int64_t l) const { return uses_cope() && (l + 1) % every == 0; }

  // Throws ConfigError naming the first field that does not fit.
  void validate() const;
};

}  // namespace mc
