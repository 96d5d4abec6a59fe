// attention_rows.h — the per-row pieces of causal attention, shared by its forms.
//
// A query row i sees keys 0..i: n = i + 1 of them. The fused kernel
// (nn/attention_fused.cpp) runs these on the rows of a whole head, the cached form
// (nn/cached.cpp) on the rows of the new queries against the key cache; both call
// gemm for the products between them (scores, the tables q e and q r, the output a v).
// So the two forms make every step — rope, gates, positions, interpolation, logits,
// softmax — with the same code, and from the same inputs get the same bits.
//
// The composed form (nn/attention_composed.cpp) is made of autograd ops on whole
// tensors and cannot call a per-row function; it shares the rope table
// (rope_cos_sin) and the interpolation points (lerp_point).
//
// Row pointers point at element 0 of the row (key 0, or column 0 of a table). The names
// of steps are those of docs/cope.md. Each backward piece names the forward piece it
// differentiates, and reads nothing that piece did not leave (or recomputes it in the
// same order, as walk_positions does).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tensor/fast_math.h"

namespace mc::rows {

// ---- scalar pieces ------------------------------------------------------------------------

// Attention dropout's mask without storing it: weight (bh, i, j) of a call's [B·H, L, L]
// weights survives with probability 1 - p, by a hash of (seed, bh, i, j) (SplitMix64's
// finaliser), so the backward pass and the composed form can draw the same mask again.
inline bool dropout_keep(uint64_t seed, int64_t bh, int64_t i, int64_t j, int64_t L, double p) {
  uint64_t x = seed + 0x9e3779b97f4a7c15ULL * (uint64_t((bh * L + i) * L + j) + 1);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return double(x >> 11) * 0x1.0p-53 >= p;  // a uniform draw in [0, 1), 53 bits
}

// Applies that mask to n weights of row i (keys j0 .. j0+n-1): kept ones times `scale`
// = 1/(1-p), dropped ones 0; from `in` into `out` (which may be `in`).
template <class T>
void dropout_row(const T* in, int64_t n, uint64_t seed, int64_t bh, int64_t i, int64_t j0, int64_t L, double p,
                 T scale, T* out) {
  for (int64_t j = 0; j < n; ++j) out[j] = dropout_keep(seed, bh, i, j0 + j, L, p) ? in[j] * scale : T(0);
}

// exp: in f32 the vectorisable fast_expf (tensor/fast_math.h); in f64, as gradient
// checks need, libm's.
template <class T>
T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) return fast_expf(x);
  else return std::exp(x);
}

template <class T>
T stable_sigmoid(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return T(1) / (T(1) + fast_expf(-x));  // fast_expf saturates instead of overflowing
  } else {
    if (x >= 0) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
}

// ---- step "rope" --------------------------------------------------------------------------

// out [2 half] = x [2 half] rotated by one position; cs, sn: that position's row [half]
// of rope_cos_sin. x'[d] = x[d] cos - x[d+half] sin;  x'[d+half] = x[d] sin + x[d+half] cos.
template <class T>
void rope_rotate(const T* x, const T* cs, const T* sn, int64_t half, T* out) {
  for (int64_t d = 0; d < half; ++d) {
    const T c = cs[d], s = sn[d], x1 = x[d], x2 = x[d + half];
    out[d] = x1 * c - x2 * s;
    out[d + half] = x1 * s + x2 * c;
  }
}

// differentiates rope_rotate: dx [2 half] += R^T g (the rotation back).
template <class T>
void rope_rotate_backward(const T* g, const T* cs, const T* sn, int64_t half, T* dx) {
  for (int64_t d = 0; d < half; ++d) {
    const T c = cs[d], s = sn[d], g1 = g[d], g2 = g[d + half];
    dx[d] += g1 * c + g2 * s;
    dx[d + half] += -g1 * s + g2 * c;
  }
}

// rope_rotate on rows 0..rows-1 of x (row stride ldx, row t at position t) into out
// (row stride ldo); cosv, sinv: rope_cos_sin's [>= rows, half] tables.
template <class T>
void rope_rotate_rows(const T* x, int64_t ldx, int64_t rows, const T* cosv, const T* sinv, int64_t half, T* out,
                      int64_t ldo) {
  for (int64_t t = 0; t < rows; ++t) rope_rotate(x + t * ldx, cosv + t * half, sinv + t * half, half, out + t * ldo);
}

// differentiates rope_rotate_rows: dx (row stride ldx) += the rows of g (row stride ldg) rotated back.
template <class T>
void rope_rotate_rows_backward(const T* g, int64_t ldg, int64_t rows, const T* cosv, const T* sinv, int64_t half, T* dx,
                               int64_t ldx) {
  for (int64_t t = 0; t < rows; ++t)
    rope_rotate_backward(g + t * ldg, cosv + t * half, sinv + t * half, half, dx + t * ldx);
}

// ---- step "rel" ---------------------------------------------------------------------------

// s [i+1] += zr[min(i-j, nrel-1)], zr [nrel] = q_i · r (distances past the cap share the last).
template <class T>
void add_rel_row(T* s, const T* zr, int64_t i, int64_t nrel) {
  for (int64_t j = 0; j <= i; ++j) s[j] += zr[std::min(i - j, nrel - 1)];
}

// differentiates add_rel_row, where the row's logit is c s: dzr [nrel] += c dlogit [i+1].
template <class T>
void add_rel_row_backward(const T* dlogit, int64_t i, int64_t nrel, T c, T* dzr) {
  for (int64_t j = 0; j <= i; ++j) dzr[std::min(i - j, nrel - 1)] += c * dlogit[j];
}

// ---- CoPE: steps "gates", "positions", "clamp", "lerp" ------------------------------------

// step "gates": g [n] = sigmoid(c gl), gl [n] the gate logits q_i · src_j.
template <class T>
void cope_gates_row(const T* gl, int64_t n, T c, T* g) {
  for (int64_t j = 0; j < n; ++j) g[j] = stable_sigmoid(c * gl[j]);
}

// step "clamp": p = min(raw, npos-1) (the gates are positive, so p >= 0 already).
template <class T>
T clamp_position(T raw, int64_t npos) {
  return std::min(raw, static_cast<T>(npos - 1));
}

// step "lerp"'s rule, the one every form uses: the embedding at position p is
// (1-w) z[lo] + w z[hi] with lo = floor p, hi = ceil p, w = p - lo.
template <class T>
struct LerpPoint {
  int64_t lo, hi;
  T w;
};
template <class T>
LerpPoint<T> lerp_point(T p) {
  const int64_t lo = static_cast<int64_t>(std::floor(p)), hi = static_cast<int64_t>(std::ceil(p));
  return {lo, hi, p - static_cast<T>(lo)};
}

// steps "positions" and "clamp" for query i: walks j = i..0 adding up the gates g [i+1]
// (the reverse cumulative sum) and calls f(j, raw, LerpPoint of the clamped position),
// raw the unclamped position. The forward and backward passes both walk through here,
// so the backward pass sees the forward pass's bits.
template <class T, class F>
void walk_positions(const T* g, int64_t i, int64_t npos, F&& f) {
  T raw = 0;
  for (int64_t j = i; j >= 0; --j) {
    raw += g[j];
    f(j, raw, lerp_point(clamp_position(raw, npos)));
  }
}

// steps "positions", "clamp", "lerp": pe [i+1] = (1-w) z[lo] + w z[hi] at each key's
// position; g [i+1] the gates, z [npos] = q_i · e.
template <class T>
void position_logits_row(const T* g, const T* z, int64_t i, int64_t npos, T* pe) {
  walk_positions(g, i, npos, [&](int64_t j, T, const LerpPoint<T>& p) { pe[j] = (1 - p.w) * z[p.lo] + p.w * z[p.hi]; });
}

// differentiates position_logits_row (steps "lerp" and "clamp"), recomputing the
// positions exactly as it did. dpe = pe_scale dlogit (the pe term of step "logits").
//   dz [npos] += (1-w) dpe at lo, w dpe at hi;
//   dp [i+1] = dpe (z[hi] - z[lo]) where raw <= npos-1, exactly 0 where it was clamped.
template <class T>
void position_logits_row_backward(const T* g, const T* z, const T* dlogit, int64_t i, int64_t npos, T pe_scale, T* dz,
                                  T* dp) {
  walk_positions(g, i, npos, [&](int64_t j, T raw, const LerpPoint<T>& p) {
    const T dpe = pe_scale * dlogit[j];
    dz[p.lo] += (1 - p.w) * dpe;
    dz[p.hi] += p.w * dpe;
    dp[j] = raw <= static_cast<T>(npos - 1) ? dpe * (z[p.hi] - z[p.lo]) : T(0);
  });
}

// differentiates walk_positions' sum raw[j] = sum_{t=j..i} g[t] (step "positions"):
// dg[t] = sum_{j<=t} dp[j], a forward cumulative sum; in place, d [n] from dp to dg.
template <class T>
void positions_row_backward(T* d, int64_t n) {
  T run = 0;
  for (int64_t t = 0; t < n; ++t) d[t] = run += d[t];
}

// differentiates cope_gates_row (step "gates"): dgl = dg g (1-g) c; in place, d [n] from dg to dgl.
template <class T>
void cope_gates_row_backward(const T* g, int64_t n, T c, T* d) {
  for (int64_t t = 0; t < n; ++t) d[t] = d[t] * g[t] * (1 - g[t]) * c;
}

// ---- steps "logits" and "softmax" ---------------------------------------------------------

// step "logits": out [n] = c (s + pe), or c s + pe with nodiv; pe null: no CoPE term.
// out may be s.
template <class T>
void logits_row(const T* s, const T* pe, int64_t n, T c, bool nodiv, T* out) {
  for (int64_t j = 0; j < n; ++j) {
    const T sj = s[j], pj = pe ? pe[j] : T(0);
    out[j] = nodiv ? c * sj + pj : c * (sj + pj);
  }
}

// What step "softmax" leaves of a row for the backward pass: its largest logit and the
// sum of exp(logit - max).
template <class T>
struct RowStats {
  T max, sum;
};

// step "softmax", in place over row [n]: exp(x - max) / sum; returns the row's stats.
template <class T>
RowStats<T> softmax_row(T* row, int64_t n) {
  T m = row[0];
  for (int64_t j = 1; j < n; ++j) m = std::max(m, row[j]);
  T sum = 0;
  for (int64_t j = 0; j < n; ++j) row[j] = exp_of(row[j] - m);
  for (int64_t j = 0; j < n; ++j) sum += row[j];
  for (int64_t j = 0; j < n; ++j) row[j] /= sum;
  return {m, sum};
}

// step "softmax" again from the stats it returned: the same operations on the same
// logits, so the same bits, without the two reductions.
template <class T>
void softmax_row_replay(T* row, int64_t n, RowStats<T> st) {
  for (int64_t j = 0; j < n; ++j) row[j] = exp_of(row[j] - st.max);
  for (int64_t j = 0; j < n; ++j) row[j] /= st.sum;
}

// differentiates softmax_row: d [n] from da to dlogit, in place, with a [n] its output:
// dlogit[j] = a[j] (da[j] - sum_j' a[j'] da[j']).
template <class T>
void softmax_row_backward(const T* a, T* d, int64_t n) {
  T dot = 0;
  for (int64_t j = 0; j < n; ++j) dot += a[j] * d[j];
  for (int64_t j = 0; j < n; ++j) d[j] = a[j] * (d[j] - dot);
}

// ---- a block of query rows --------------------------------------------------------------
// Rows r = 0..nrows-1 of [nrows, ld] matrices are queries at positions p0 + r, each
// seeing keys 0..p0+r: the fused kernel's whole head is nrows = ld = L, p0 = 0; the
// cached form's n new queries against len keys are nrows = n, ld = len, p0 = len - n.

// steps "gates" to "lerp" on each row: g = sigmoid(c gl), pe from the positions.
// z [nrows, npos] = q e.
template <class T>
void cope_rows(const T* gl, const T* z, int64_t nrows, int64_t ld, int64_t p0, int64_t npos, T c, T* g, T* pe) {
  for (int64_t r = 0; r < nrows; ++r) {
    cope_gates_row(gl + r * ld, p0 + r + 1, c, g + r * ld);
    position_logits_row(g + r * ld, z + r * npos, p0 + r, npos, pe + r * ld);
  }
}

// step "rel" on each row: s += zr[min(i-j, nrel-1)], zr [nrows, nrel] = q r.
template <class T>
void add_rel_rows(T* s, const T* zr, int64_t nrows, int64_t ld, int64_t p0, int64_t nrel) {
  for (int64_t r = 0; r < nrows; ++r) add_rel_row(s + r * ld, zr + r * nrel, p0 + r, nrel);
}

// steps "logits" and "softmax" on each row: a = softmax(logits(s, pe)) over the keys
// seen, zero past them. pe null: no CoPE term. a may be s.
template <class T>
void softmax_rows(const T* s, const T* pe, int64_t nrows, int64_t ld, int64_t p0, T c, bool nodiv, T* a) {
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t m = p0 + r + 1;
    T* row = a + r * ld;
    logits_row(s + r * ld, pe ? pe + r * ld : nullptr, m, c, nodiv, row);
    softmax_row(row, m);
    std::fill(row + m, row + ld, T(0));
  }
}

}  // namespace mc::rows
