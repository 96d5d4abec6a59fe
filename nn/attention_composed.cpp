// attention_composed.cpp — the same attention as attention_fused, written with
// primitive autograd ops, one line per formula line of attention.h. Slow (it
// materialises every [B,H,L,L] intermediate) and obviously right: the tests hold the
// fused kernel to it, output and gradients.
#include <cmath>
#include <limits>

#include "nn/attention.h"

namespace mc {

namespace {

// [B,L,C] -> [B,H,L,D]
Var split_heads(const Var& x, int64_t H) {
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2) / H;
  return transpose(reshape(x, {B, L, H, D}), 1, 2);
}

// rope on [B,H,L,D]: x' = [x1 cos - x2 sin, x1 sin + x2 cos] with x1, x2 the two halves
Var rope(const Var& x, const Tensor& cos, const Tensor& sin) {
  const int64_t D = x.size(-1);
  Var x1 = slice(x, -1, 0, D / 2), x2 = slice(x, -1, D / 2, D);
  Var c(cos), s(sin);
  return concat({sub(mul(x1, c), mul(x2, s)), add(mul(x1, s), mul(x2, c))}, -1);
}

}  // namespace

Var attention_composed(const AttentionInputs& in, const AttentionSpec& spec) {
  check_attention(in, spec);
  const int64_t B = in.q.size(0), L = in.q.size(1), C = in.q.size(2), H = spec.heads, D = C / H;
  const DType dt = in.q.dtype();
  const double c = 1.0 / std::sqrt(static_cast<double>(D));

  // mask[i,j] = 1 for j <= i; minus_inf[i,j] = -inf for j > i (added to the logits)
  std::vector<double> keep(size_t(L * L)), blocked(size_t(L * L));
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < L; ++j) {
      keep[size_t(i * L + j)] = j <= i ? 1.0 : 0.0;
      blocked[size_t(i * L + j)] = j <= i ? 0.0 : -std::numeric_limits<double>::infinity();
    }
  const Var mask(Tensor::from(keep, {L, L}, dt)), minus_inf(Tensor::from(blocked, {L, L}, dt));

  Var q = split_heads(in.q, H), k = split_heads(in.k, H), v = split_heads(in.v, H);  // [B,H,L,D]
  Var qs = q, ks = k;
  if (spec.rope) {
    const Tensor cs = rope_cos_sin(L, D, spec.rope_base, dt, false), sn = rope_cos_sin(L, D, spec.rope_base, dt, true);
    qs = rope(q, cs, sn);
    ks = rope(k, cs, sn);
  }
  Var s = matmul(qs, ks, false, true);  // s = q k^T    [B,H,L,L]

  if (spec.rel) {
    // rel[i,j] = (q r)[i, min(i-j, nrel-1)]
    const int64_t nrel = in.r.size(1);
    Tensor idx({B, H, L, L}, DType::i64);
    int64_t* ip = idx.data<int64_t>();
    for (int64_t n = 0; n < B * H; ++n)
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j < L; ++j) ip[(n * L + i) * L + j] = j <= i ? std::min(i - j, nrel - 1) : 0;
    s = add(s, gather(matmul(q, in.r), -1, idx));
  }

  Var logits = mul_scalar(s, c);
  if (spec.cope) {
    Var src = spec.gates == GateSource::sep_key ? split_heads(in.gate_k, H) : spec.gates == GateSource::value ? v : k;
    Var g = mul(sigmoid(mul_scalar(matmul(q, src, false, true), c)), mask);            // gates
    Var p = clamp(cumsum(g, -1, /*reverse=*/true), 0.0, static_cast<double>(spec.npos - 1));  // positions
    Var z = matmul(q, in.e);                                                         // [B,H,L,npos]
    const Tensor lo = floor_index(p.value()), hi = ceil_index(p.value());
    Var w = sub(p, Var(floor(p.value())));                                           // p - floor p
    Var pe = add(mul(gather(z, -1, lo), add_scalar(neg(w), 1.0)), mul(gather(z, -1, hi), w));
    logits = spec.nodiv ? add(logits, pe) : add(logits, mul_scalar(pe, c));
  }
  Var a = softmax(add(logits, minus_inf));
  Var y = matmul(a, v);                                               // [B,H,L,D]
  return reshape(transpose(y, 1, 2), {B, L, C});
}

}  // namespace mc
