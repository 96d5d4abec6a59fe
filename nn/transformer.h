// transformer.h — a decoder-only transformer whose attention takes any position
// encoding (docs/model.md states every choice made here).
//
//   ids [B,L] -> token embedding (+ absolute position embedding under abs) -> dropout
//   -> layers x Block -> final LayerNorm (pre-norm only) -> output projection -> logits [B,L,V]
//   pre-norm block:  x = x + drop(attn(ln1(x)));  x = x + drop(mlp(ln2(x)))
//   post-norm block: x = ln1(x + drop(attn(x)));  x = ln2(x + drop(mlp(x)))
#pragma once
#include <memory>
#include <vector>

#include "nn/attention.h"
#include "nn/config.h"
#include "nn/layers.h"

namespace mc {

// Keys, values and gate keys of every token so far, per layer: [B,len,C] each.
struct KVCache {
  struct Layer { Tensor k, v, gate_k; };
  std::vector<Layer> layers;
  int64_t len = 0;  // tokens cached
};

class CausalSelfAttention : public Module {
 public:
  // shared_e: the CoPE table of an earlier layer when cfg.shared (else a new one is made).
  CausalSelfAttention(const ModelConfig& cfg, int64_t layer, const Var* shared_e, Generator& gen, DType dtype);
  // [B,L,C] -> [B,L,C]; starts [B,L] i64 or undefined (Transformer::forward)
  // attn_dropout: on the weights, this call (0: none), its mask drawn from dropout_seed.
  Var forward(const Var& x, const Tensor& starts, bool composed, AttentionTrace* trace, double attn_dropout = 0.0,
              uint64_t dropout_seed = 0) const;
  Var forward_cached(const Var& x, KVCache::Layer& cache) const;          // [B,n,C] new tokens
  AttentionSpec spec;
  Linear q, k, v, out;
  std::unique_ptr<Linear> gate_k;  // sep_key only
  Var e;  // [D, npos], CoPE position embeddings, start at zero (cope layers)
  Var r;  // [D, nrel], relative position embeddings (rel layers)
};

class Block : public Module {
 public:
  Block(const ModelConfig& cfg, int64_t layer, const Var* shared_e, Generator& gen, DType dtype);
  Var forward(const Var& x, const Tensor& starts, Generator& drop, bool composed, AttentionTrace* trace) const;
  Var forward_cached(const Var& x, KVCache::Layer& cache) const;
  LayerNorm ln1, ln2;
  CausalSelfAttention attn;
  MLP mlp;
  bool post_norm;
  double drop_p, attn_drop_p;
};

class Transformer : public Module {
 public:
  // Validates cfg (throws ConfigError) and initialises every weight from `seed`.
  Transformer(const ModelConfig& cfg, uint64_t seed, DType dtype = DType::f32);

  // ids [B,L] i64 -> logits [B,L,vocab]. Dropout draws from dropout_rng when training.
  // traces, when given, receives each layer's attention weights and CoPE positions.
  Var forward(const Tensor& ids, std::vector<AttentionTrace>* traces = nullptr);
  // A packed batch (tasks/task.h, pack_batch): starts [B,L] i64, starts[b,t] the column of
  // the first token of the example holding token t (0 <= starts[b,t] <= t, a step
  // function along the row; undefined: every row is one sequence). No token attends across
  // an example, and positions restart at each: the absolute embedding takes t - starts[b,t],
  // as do rope and CoPE in the attention. Each example's logits are then those of the
  // example alone in a padded batch, up to rounding.
  Var forward(const Tensor& ids, const Tensor& starts, std::vector<AttentionTrace>* traces = nullptr);

  // Decoding: feeds the n new tokens ids [B,n] after the cache's tokens, appends their
  // keys and values to the cache, and returns their logits [B,n,vocab]. No gradients,
  // no dropout. The result is the last n rows of forward() on the whole sequence up to
  // rounding, not bit for bit: the same arithmetic, but products of other shapes, which
  // OpenBLAS may round differently. tests/test_transformer.cpp measures at most 4.6e-7
  // of the largest logit in f32 (9e-7 absolute) and 5e-16 in f64, and holds every pe and
  // CoPE option to 2e-6 and 1e-12.
  Tensor forward_cached(const Tensor& ids, KVCache& cache);

  const ModelConfig& config() const { return cfg_; }
  // Use the composed (primitive-op) attention instead of the fused kernel: for tests.
  void use_composed_attention(bool on) { composed_ = on; }
  Generator dropout_rng;

 private:
  ModelConfig cfg_;
  Generator init_rng_;  // draws the initial weights (declared before the layers it initialises)
  bool composed_ = false;
  Embedding tok_;
  std::unique_ptr<Embedding> pos_;  // abs only
  std::vector<std::unique_ptr<Block>> blocks_;
  std::unique_ptr<LayerNorm> ln_f_;  // pre-norm only
  std::unique_ptr<Linear> head_;     // untied only
};

}  // namespace mc
