// checks.cpp — the nn entries of the gradient-check registry.
#include "nn/checks.h"

#include <cmath>
#include <mutex>

#include "nn/transformer.h"

namespace mc {

AttentionInputs AttentionCase::as_inputs(const std::vector<Var>& v) const {
  auto pick = [&](int i) { return i >= 0 ? v.at(size_t(i)) : Var(); };
  return AttentionInputs{v.at(0), v.at(1), v.at(2), pick(gate_k), pick(e), pick(r), starts, dropout, dropout_seed};
}

AttentionCase make_attention_case(const AttentionSpec& spec, int64_t B, int64_t L, int64_t D, uint64_t seed,
                                  double margin, bool allow_clamp, const Tensor& starts) {
  const int64_t C = spec.heads * D;
  for (uint64_t attempt = 0;; ++attempt) {
    Generator g(seed + attempt * 7919);
    AttentionCase c;
    c.starts = starts;
    for (int i = 0; i < 3; ++i) c.tensors.push_back(Tensor::normal({B, L, C}, 0.0, 1.0, g, DType::f64));
    if (spec.cope && spec.gates == GateSource::sep_key) {
      c.gate_k = int(c.tensors.size());
      c.tensors.push_back(Tensor::normal({B, L, C}, 0.0, 1.0, g, DType::f64));
    }
    if (spec.cope) {  // random, not zero as in training: the gradient through the gates needs z to vary
      c.e = int(c.tensors.size());
      c.tensors.push_back(Tensor::normal({D, spec.npos}, 0.0, 1.0, g, DType::f64));
    }
    if (spec.rel) {
      c.r = int(c.tensors.size());
      c.tensors.push_back(Tensor::normal({D, std::max<int64_t>(2, L - 2)}, 0.0, 1.0, g, DType::f64));
    }
    if (!spec.cope) return c;
    // Keep the case only if every position is clear of integers and of the clamp.
    std::vector<Var> vars;
    for (const Tensor& t : c.tensors) vars.emplace_back(t);
    AttentionTrace trace;
    NoGradGuard no_grad;
    attention_fused(c.as_inputs(vars), spec, &trace);
    // recompute the unclamped positions from the clamped ones is impossible; check p itself
    const auto p = trace.positions.to_vector();
    bool ok = true;
    for (int64_t n = 0; n < B * spec.heads && ok; ++n)
      for (int64_t i = 0; i < L && ok; ++i)
        for (int64_t j = starts.defined() ? starts.data<int64_t>()[(n / spec.heads) * L + i] : 0; j <= i && ok; ++j) {
          const double x = p[size_t((n * L + i) * L + j)];
          const bool clamped = x >= double(spec.npos - 1);
          if (clamped && allow_clamp) continue;
          ok = std::fabs(x - std::round(x)) >= margin && std::fabs(x - double(spec.npos - 1)) >= margin;
        }
    if (ok || attempt > 1000) return c;
  }
}

std::vector<AttentionVariant> attention_variants(int64_t heads, int64_t npos) {
  AttentionSpec base;
  base.heads = heads;
  base.npos = npos;
  std::vector<AttentionVariant> out;
  auto add = [&](std::string name, auto tweak) {
    AttentionSpec s = base;
    tweak(s);
    out.push_back({std::move(name), s});
  };
  add("none", [](AttentionSpec&) {});
  add("rel", [](AttentionSpec& s) { s.rel = true; });
  add("rope", [](AttentionSpec& s) { s.rope = true; });
  add("cope", [](AttentionSpec& s) { s.cope = true; });
  add("cope+rel", [](AttentionSpec& s) { s.cope = true, s.rel = true; });
  add("cope+rope", [](AttentionSpec& s) { s.cope = true, s.rope = true; });
  add("cope,sep_key", [](AttentionSpec& s) { s.cope = true, s.gates = GateSource::sep_key; });
  add("cope,val_gates", [](AttentionSpec& s) { s.cope = true, s.gates = GateSource::value; });
  add("cope,nodiv", [](AttentionSpec& s) { s.cope = true, s.nodiv = true; });
  add("cope+rope,sep_key,nodiv", [](AttentionSpec& s) {
    s.cope = true, s.rope = true, s.gates = GateSource::sep_key, s.nodiv = true;
  });
  return out;
}

ModelConfig small_check_config(const std::string& pe) {
  ModelConfig cfg;
  cfg.vocab = 5;
  cfg.seq = 6;
  cfg.layers = 2;
  cfg.dim = 8;
  cfg.heads = 2;
  cfg.pe = pe;
  return cfg;
}

namespace {

// Whole-transformer cases: every pe, and the options that live above the kernel.
std::vector<std::pair<std::string, ModelConfig>> model_variants() {
  std::vector<std::pair<std::string, ModelConfig>> out;
  for (const std::string& pe : position_encodings()) out.emplace_back(pe, small_check_config(pe));
  auto with = [&](const std::string& name, const std::string& pe, auto tweak) {
    ModelConfig c = small_check_config(pe);
    tweak(c);
    out.emplace_back(name, c);
  };
  with("cope,sep_key", "cope", [](ModelConfig& c) { c.sep_key = true; });
  with("cope,val_gates", "cope", [](ModelConfig& c) { c.val_gates = true; });
  with("cope,nodiv", "cope", [](ModelConfig& c) { c.nodiv = true; });
  with("cope,shared", "cope", [](ModelConfig& c) { c.shared = true; });
  with("cope+rel,every=2", "cope+rel", [](ModelConfig& c) { c.every = 2; });
  with("cope,post_norm,tied", "cope", [](ModelConfig& c) { c.post_norm = true, c.tied = true; });
  with("rope,gelu_erf", "rope", [](ModelConfig& c) { c.gelu = "erf"; });
  with("cope,relu,post_norm", "cope", [](ModelConfig& c) { c.activation = "relu", c.post_norm = true; });
  return out;
}

GradcheckResult check_model(const ModelConfig& cfg) {
  auto model = std::make_shared<Transformer>(cfg, 1, DType::f64);
  // Random parameters (not the training initialisation: CoPE tables start at zero there,
  // which would hide the gradient through the gates).
  Generator g(17);
  std::vector<Tensor> params;
  for (const Var& p : model->parameters()) params.push_back(Tensor::normal(p.shape(), 0.0, 0.5, g, DType::f64));
  const int64_t B = 2, L = cfg.seq;
  std::vector<int64_t> ids(size_t(B * L));
  for (auto& id : ids) id = static_cast<int64_t>(g.below(uint64_t(cfg.vocab)));
  const Tensor tokens = Tensor::indices(ids, {B, L});
  return gradcheck([model, tokens](const std::vector<Var>& v) {
    model->set_parameters(v);
    return model->forward(tokens);
  }, params);
}

}  // namespace

void register_nn_checks() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<AttentionVariant> kernel_cases = attention_variants(2, 6);
    AttentionSpec small_npos = kernel_cases[3].spec;  // cope with npos below the context (clamping)
    small_npos.npos = 3;
    kernel_cases.push_back({"cope,npos=3", small_npos});
    // Packed rows: row 0 holds examples of 2 and 3 tokens, row 1 of 1, 3 and 1.
    const Tensor packed = Tensor::indices({0, 0, 2, 2, 2, 0, 1, 1, 1, 4}, {2, 5});
    for (const AttentionVariant& a : kernel_cases)
      for (const bool pack : {false, true}) {
        add_op_check({"attention", "attention[" + a.name + (pack ? ",packed" : "") + "]", [a, pack, packed] {
                        const AttentionCase c = make_attention_case(a.spec, 2, 5, 4, 1234, 1e-3, false, pack ? packed : Tensor());
                        return gradcheck(
                            [a, c](const std::vector<Var>& v) { return attention_fused(c.as_inputs(v), a.spec); }, c.tensors);
                      }});
      }
    // Attention dropout: a fixed mask (one seed), so the function is differentiable.
    for (const int variant : {3, 5, 2})  // cope, cope+rope, rope
      for (const bool pack : {false, true}) {
        const AttentionVariant a = kernel_cases[size_t(variant)];
        add_op_check({"attention", "attention[" + a.name + ",attn_dropout" + (pack ? ",packed" : "") + "]", [a, pack, packed] {
                        AttentionCase c = make_attention_case(a.spec, 2, 5, 4, 1234, 1e-3, false, pack ? packed : Tensor());
                        c.dropout = 0.3, c.dropout_seed = 99;
                        return gradcheck(
                            [a, c](const std::vector<Var>& v) { return attention_fused(c.as_inputs(v), a.spec); }, c.tensors);
                      }});
      }
    for (const auto& [name, cfg] : model_variants())
      add_op_check({"transformer", "transformer[" + name + "]", [cfg = cfg] { return check_model(cfg); }});
  });
}

}  // namespace mc
