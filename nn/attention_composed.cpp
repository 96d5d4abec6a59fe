// attention_composed.cpp — the same attention as attention_fused, written with
// primitive autograd ops, one line per formula line of attention.h. Slow (it
// materialises every [B,H,L,L] intermediate) and obviously right: the tests hold the
// fused kernel to it, output and gradients.
//
// Why composed and not per-row: every line here is an autograd op on whole [B,H,L,L]
// tensors, whose gradients the autograd engine derives; the per-row pieces of
// nn/attention_rows.h that the fused and cached forms share have hand-written adjoints
// instead, so calling them here would make this form check those pieces against
// themselves. What it does share is what carries no gradient: the rope table
// (rope_cos_sin) and the interpolation points (rows::lerp_point).
#include <cmath>
#include <limits>

#include "nn/attention.h"
#include "nn/attention_rows.h"

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

// The interpolation points of positions p (any shape) by rows::lerp_point, the rule of
// the fused and cached forms: lo and hi as i64 indices for gathers, and lo as a
// constant of p's dtype, so that w = p - lo stays an autograd op (its gradient is step
// "lerp"'s dp = dw; lo and hi, integers, have none). A non-finite position is refused,
// as floor_index refuses one.
struct LerpPoints {
  Tensor lo, hi, lo_value;
};
LerpPoints lerp_points(const Tensor& p) {
  const std::vector<double> pv = p.to_vector();
  std::vector<int64_t> lo(pv.size()), hi(pv.size());
  std::vector<double> lo_value(pv.size());
  for (size_t n = 0; n < pv.size(); ++n) {
    if (!std::isfinite(pv[n])) throw ShapeError("attention: non-finite CoPE position at element " + std::to_string(n));
    const rows::LerpPoint<double> pt = rows::lerp_point(pv[n]);
    lo[n] = pt.lo, hi[n] = pt.hi, lo_value[n] = static_cast<double>(pt.lo);
  }
  return {Tensor::indices(lo, p.shape()), Tensor::indices(hi, p.shape()), Tensor::from(lo_value, p.shape(), p.dtype())};
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
    const LerpPoints at = lerp_points(p.value());                                   // lo, hi
    Var w = sub(p, Var(at.lo_value));                                                // p - lo
    Var pe = add(mul(gather(z, -1, at.lo), add_scalar(neg(w), 1.0)), mul(gather(z, -1, at.hi), w));
    logits = spec.nodiv ? add(logits, pe) : add(logits, mul_scalar(pe, c));
  }
  Var a = softmax(add(logits, minus_inf));
  if (in.dropout > 0) {  // the fused kernel's mask (rows::dropout_keep), as a tensor
    std::vector<double> m(size_t(B * H * L * L));
    for (int64_t n = 0; n < B * H; ++n)
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j < L; ++j)
          m[size_t((n * L + i) * L + j)] = rows::dropout_keep(in.dropout_seed, n, i, j, L, in.dropout) ? 1.0 / (1.0 - in.dropout) : 0.0;
    a = mul(a, Var(Tensor::from(m, {B, H, L, L}, dt)));
  }
  Var y = matmul(a, v);                                               // [B,H,L,D]
  return reshape(transpose(y, 1, 2), {B, L, C});
}

}  // namespace mc
