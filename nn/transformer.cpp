#include "nn/transformer.h"

#include <cmath>

namespace mc {

namespace {
constexpr double kInitStd = 0.02;  // GPT-2's initialisation

// init "gpt2": every Linear weight N(0, 0.02), biases 0, embeddings N(0, 0.02).
// init "pytorch": what stock nn.Linear / nn.Embedding draw (docs/model.md).
bool pytorch_init(const ModelConfig& cfg) { return cfg.init_scheme == "pytorch"; }
LinearInit linear_init(const ModelConfig& cfg) {
  return pytorch_init(cfg) ? LinearInit::fan_in() : LinearInit::normal(kInitStd);
}
double embedding_std(const ModelConfig& cfg) { return pytorch_init(cfg) ? 1.0 : kInitStd; }

// Residual output projections start smaller under pre-norm, so the residual stream's
// variance does not grow with depth (GPT-2; the CoPE code does the same). PyTorch's
// stock init has no such scaling.
LinearInit out_init(const ModelConfig& cfg) {
  if (pytorch_init(cfg) || cfg.post_norm) return linear_init(cfg);
  return LinearInit::normal(kInitStd / std::sqrt(2.0 * static_cast<double>(cfg.layers)));
}

AttentionSpec make_spec(const ModelConfig& cfg, int64_t layer) {
  AttentionSpec s;
  s.heads = cfg.heads;
  s.cope = cfg.layer_uses_cope(layer);
  s.npos = cfg.cope_npos();
  s.gates = cfg.sep_key ? GateSource::sep_key : cfg.val_gates ? GateSource::value : GateSource::key;
  s.nodiv = cfg.nodiv;
  // cope+rel with `every`: rel on every layer (the official code adds it to CoPE layers too)
  s.rel = cfg.uses_rel();
  s.rope = cfg.uses_rope();
  s.rope_base = cfg.rope_base;
  return s;
}
}  // namespace

CausalSelfAttention::CausalSelfAttention(const ModelConfig& cfg, int64_t layer, const Var* shared_e, Generator& gen,
                                         DType dtype)
    : spec(make_spec(cfg, layer)),
      q(cfg.dim, cfg.dim, true, linear_init(cfg), gen, dtype),
      k(cfg.dim, cfg.dim, true, linear_init(cfg), gen, dtype),
      v(cfg.dim, cfg.dim, true, linear_init(cfg), gen, dtype),
      out(cfg.dim, cfg.dim, true, out_init(cfg), gen, dtype) {
  register_module("q", q);
  register_module("k", k);
  register_module("v", v);
  register_module("out", out);
  const int64_t D = cfg.head_dim();
  if (spec.cope) {
    if (spec.gates == GateSource::sep_key) {
      gate_k = std::make_unique<Linear>(cfg.dim, cfg.dim, true, linear_init(cfg), gen, dtype);
      register_module("gate_k", *gate_k);
    }
    e = shared_e ? *shared_e : Var(Tensor::zeros({D, spec.npos}, dtype), true);
    register_parameter("cope_e", e, Decay::no);  // position embeddings: no weight decay
  }
  if (spec.rel) {
    r = Var(Tensor::normal({D, cfg.rel_positions()}, 0.0, 1.0 / std::sqrt(static_cast<double>(D)), gen, dtype), true);
    register_parameter("rel_r", r, Decay::no);
  }
}

Var CausalSelfAttention::forward(const Var& x, const Tensor& starts, bool composed, AttentionTrace* trace,
                                 double attn_dropout, uint64_t dropout_seed) const {
  AttentionInputs in{q.forward(x), k.forward(x), v.forward(x), gate_k ? gate_k->forward(x) : Var(), e, r,
                     starts, attn_dropout, dropout_seed};
  Var y = composed ? attention_composed(in, spec) : attention_fused(in, spec, trace);
  return out.forward(y);
}

Block::Block(const ModelConfig& cfg, int64_t layer, const Var* shared_e, Generator& gen, DType dtype)
    : ln1(cfg.dim, cfg.ln_eps, dtype),
      ln2(cfg.dim, cfg.ln_eps, dtype),
      attn(cfg, layer, shared_e, gen, dtype),
      mlp(cfg.dim, cfg.mlp_ratio * cfg.dim, cfg.activation == "relu" ? Activation::relu
                                            : cfg.gelu == "erf"       ? Activation::gelu_erf
                                                                      : Activation::gelu_tanh,
          linear_init(cfg), out_init(cfg), gen, dtype),
      post_norm(cfg.post_norm),
      drop_p(cfg.dropout),
      attn_drop_p(cfg.attn_dropout) {
  register_module("ln1", ln1);
  register_module("attn", attn);
  register_module("ln2", ln2);
  register_module("mlp", mlp);
}

Var Block::forward(const Var& x, const Tensor& starts, Generator& drop, bool composed, AttentionTrace* trace) const {
  const bool on = training();
  // attention dropout's seed is drawn only when it is on, so runs without it keep their streams
  const double pa = on ? attn_drop_p : 0.0;
  const uint64_t seed = pa > 0 ? drop.next_u64() : 0;
  if (post_norm) {
    Var h = ln1.forward(add(x, dropout(attn.forward(x, starts, composed, trace, pa, seed), drop_p, drop, on)));
    return ln2.forward(add(h, dropout(mlp.forward(h), drop_p, drop, on)));
  }
  Var h = add(x, dropout(attn.forward(ln1.forward(x), starts, composed, trace, pa, seed), drop_p, drop, on));
  return add(h, dropout(mlp.forward(ln2.forward(h)), drop_p, drop, on));
}

Transformer::Transformer(const ModelConfig& cfg, uint64_t seed, DType dtype)
    : dropout_rng(seed ^ 0x9e3779b97f4a7c15ULL),  // its own stream: dropout does not shift the weights
      cfg_((cfg.validate(), cfg)),
      init_rng_(seed),
      tok_(cfg.vocab, cfg.dim, embedding_std(cfg), init_rng_, dtype, Decay::yes) {
  register_module("tok_emb", tok_);
  if (cfg_.pe == "abs") {
    pos_ = std::make_unique<Embedding>(cfg_.seq, cfg_.dim, embedding_std(cfg_), init_rng_, dtype, Decay::no);
    register_module("pos_emb", *pos_);
  }
  const Var* shared_e = nullptr;
  for (int64_t l = 0; l < cfg_.layers; ++l) {
    blocks_.push_back(std::make_unique<Block>(cfg_, l, shared_e, init_rng_, dtype));
    register_module("blocks." + std::to_string(l), *blocks_.back());
    // shared: every CoPE layer uses the table of the first one
    if (cfg_.shared && !shared_e && blocks_.back()->attn.e.defined()) shared_e = &blocks_.back()->attn.e;
  }
  if (!cfg_.post_norm) {
    ln_f_ = std::make_unique<LayerNorm>(cfg_.dim, cfg_.ln_eps, dtype);
    register_module("ln_f", *ln_f_);
  }
  if (!cfg_.tied) {
    head_ = std::make_unique<Linear>(cfg_.dim, cfg_.vocab, false, linear_init(cfg_), init_rng_, dtype);
    register_module("head", *head_);
  }
}

namespace {

// The position of every token within its example, t - starts[b,t]: [B,L] i64. Throws
// ShapeError for starts that are not a [B,L] table of example starts (check_starts).
Tensor positions_in_examples(const Tensor& starts, int64_t B, int64_t L) {
  check_starts(starts, B, L);
  const int64_t* s = starts.data<int64_t>();
  std::vector<int64_t> at(size_t(B * L));
  for (int64_t i = 0; i < B * L; ++i) at[size_t(i)] = i % L - s[i];
  return Tensor::indices(at, {B, L});
}

}  // namespace

Var Transformer::forward(const Tensor& ids, std::vector<AttentionTrace>* traces) { return forward(ids, Tensor(), traces); }

Var Transformer::forward(const Tensor& ids, const Tensor& starts, std::vector<AttentionTrace>* traces) {
  if (ids.dim() != 2 || ids.dtype() != DType::i64)
    throw ShapeError("transformer: ids must be [B,L] i64, got " + std::string(dtype_name(ids.dtype())) + shape_str(ids.shape()));
  const int64_t B = ids.size(0), L = ids.size(1);
  if (pos_ && L > cfg_.seq)
    throw ShapeError("transformer: abs position embeddings cover " + std::to_string(cfg_.seq) +
                     " positions; the input has " + std::to_string(L) + " (use rel, rope or cope for longer contexts)");
  // [B,L] i64 positions within the examples (checked here, before any layer runs)
  const Tensor positions = starts.defined() ? positions_in_examples(starts, B, L) : Tensor();
  Var x = tok_.forward(ids);  // [B,L,C]
  if (pos_ && positions.defined()) {
    x = add(x, pos_->forward(positions));  // [B,L,C]: positions restart at each example
  } else if (pos_) {
    std::vector<int64_t> at(static_cast<size_t>(L));
    for (int64_t t = 0; t < L; ++t) at[static_cast<size_t>(t)] = t;
    x = add(x, pos_->forward(Tensor::indices(at, {L})));  // [L,C] broadcast over the batch
  }
  x = dropout(x, cfg_.dropout, dropout_rng, training());
  if (traces) traces->assign(blocks_.size(), AttentionTrace{});
  for (size_t l = 0; l < blocks_.size(); ++l)
    x = blocks_[l]->forward(x, starts, dropout_rng, composed_, traces ? &(*traces)[l] : nullptr);  // [B,L,C]
  if (ln_f_) x = ln_f_->forward(x);
  return head_ ? head_->forward(x) : matmul(x, tok_.weight, false, true);  // tied: x E^T -> [B,L,V]
}

}  // namespace mc
