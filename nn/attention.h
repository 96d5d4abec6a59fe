// attention.h — causal multi-head self-attention with every position encoding, in
// three forms that compute the same function:
//
//   attention_fused     one autograd node: a hand-written kernel and backward pass,
//                       parallel over (batch, head), in blocks of query rows with BLAS
//                       for q·k, q·e, a·v, only the causal half computed, in memory
//                       linear in the context (the backward pass recomputes the rows
//                       from the saved softmax statistics). This is the one that trains.
//   attention_cached    the fused kernel's forward for the newest queries against a
//                       key/value cache (decoding; no gradients).
//   attention_composed  the same formula written with primitive autograd ops
//                       (transpose, matmul, sigmoid, cumsum, clamp, gather, softmax).
//                       Short and obviously right; the tests hold the fused form to it.
//
// The fused and cached forms make every step between the products with the per-row
// pieces of nn/attention_rows.h; the composed form shares their rope table and
// interpolation rule (docs/model.md, "Attention: three forms, one set of rows").
//
// Per head (q, k, v the head's vectors, D its size, c = 1/sqrt(D)), for keys j <= i:
//   s[i,j]   = q_i·k_j                          (q, k rotated first under rope)
//   rel[i,j] = q_i·r[min(i-j, nrel-1)]          (rel; r is D x nrel, per layer)
//   g[i,j]   = sigmoid(c q_i·src_j)             (cope; src = k, gate keys or v, unrotated)
//   p[i,j]   = min(sum_{t=j..i} g[i,t], npos-1)
//   z[i,n]   = q_i·e[n]                         (e is D x npos, shared by the heads)
//   pe[i,j]  = (1-w) z[i,floor p] + w z[i,ceil p],  w = p - floor p
//   logit    = c (s + rel + pe)                 or  c (s + rel) + pe  with nodiv
//   y_i      = sum_j softmax_j(logit[i,:]) v_j      (with dropout: weights j masked, / (1-p))
// docs/cope.md derives the backward pass step by step.
#pragma once
#include "autograd/ops.h"

namespace mc {

enum class GateSource { key, sep_key, value };

struct AttentionSpec {
  int64_t heads = 1;
  bool cope = false;
  int64_t npos = 0;                      // CoPE positions 0..npos-1 (>= 1)
  GateSource gates = GateSource::key;    // what the CoPE gates compare the query with
  bool nodiv = false;                    // add CoPE logits after the 1/sqrt(D) scale
  bool rel = false;                      // add relative logits q_i·r[min(i-j, nrel-1)]
  bool rope = false;                     // rotate q and k (rotary, halves paired)
  double rope_base = 10000.0;
};

struct AttentionInputs {
  Var q, k, v;  // [B,T,C], C = heads * D; head h owns columns [h D, (h+1) D)
  Var gate_k;   // [B,T,C], the separate gate keys (gates == sep_key)
  Var e;        // [D, npos], CoPE position embeddings (cope)
  Var r;        // [D, nrel], relative position embeddings (rel)
  // [B,L] i64, or undefined (each row one sequence): starts[b,t] is the index in row b of
  // the first token of the example holding token t — a packed row holds several
  // examples. 0 <= starts[b,t] <= t, and it only steps: starts[b,t] is starts[b,t-1]
  // or t. Query t sees keys starts[b,t]..t: no score, gate or position crosses an
  // example, and rope rotates by the position in the example, t - starts[b,t].
  Tensor starts = {};
  // Dropout on the attention weights, this call only (0 in evaluation): weight (b,h,i,j)
  // is kept, scaled by 1/(1-dropout), with probability 1 - dropout, decided by a hash
  // of (dropout_seed, b, h, i, j) (rows::dropout_keep) that the backward pass and the
  // composed form draw again, so no mask is stored.
  double dropout = 0.0;
  uint64_t dropout_seed = 0;
};

// What a caller may ask to see (plots, tests): both [B,H,T,T], zero above the diagonal.
struct AttentionTrace {
  Tensor probs;      // the attention weights
  Tensor positions;  // the CoPE positions p (cope only)
};

Var attention_fused(const AttentionInputs& in, const AttentionSpec& spec, AttentionTrace* trace = nullptr);
Var attention_composed(const AttentionInputs& in, const AttentionSpec& spec);

// Incremental decoding (no gradients): the queries of the n newest tokens, q [B,n,C],
// against every key so far, k/v/gate_k [B,len,C] (len >= n; the new tokens are the last
// n). Query i sits at position len-n+i and sees keys 0..len-n+i. It computes what
// attention_fused computes for those rows of the full sequence, with the same per-row
// code: the CoPE gates and positions of a new query are computed afresh over all
// cached keys (a position depends on the query), while keys, values and gate keys are
// cached. The products are [n, len] gemm calls where the fused kernel's are causal
// blocks, so the rows are the fused kernel's bits where OpenBLAS rounds both shapes
// alike (tests/test_attention.cpp's cases) and agree to rounding elsewhere.
Tensor attention_cached(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gate_k, const Tensor& e,
                        const Tensor& r, const AttentionSpec& spec);

// Checks shapes and options; throws ShapeError naming what does not fit.
void check_attention(const AttentionInputs& in, const AttentionSpec& spec);
// Checks that starts is a [B,L] i64 table of example starts (AttentionInputs::starts).
void check_starts(const Tensor& starts, int64_t B, int64_t L);

// Rotary angles: position t, pair d (of D/2): theta = t * base^(-2d/D).
// x'[d] = x[d] cos - x[d+D/2] sin;  x'[d+D/2] = x[d] sin + x[d+D/2] cos.
Tensor rope_cos_sin(int64_t T, int64_t D, double base, DType dtype, bool sin);

}  // namespace mc
