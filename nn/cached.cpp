// cached.cpp — incremental decoding with a key/value cache.
//
// What is cached: every layer's keys, values and (sep-key) gate keys, as projected
// (before rope). What is recomputed for each new query: everything that depends on the
// query — its scores against all cached keys, and for CoPE its gates over all cached
// keys, their reverse cumulative sum (the positions) and the interpolated position
// logits. A new token changes the positions of every earlier key as seen from the new
// query, but not as seen from the old queries, so old rows never need recomputing.
//
// The arithmetic is the fused kernel's own: the per-row pieces of nn/attention_rows.h
// (rope, gates, positions, interpolation, logits, softmax, in f32 with fast_expf), on
// the same rope table, between the same BLAS products — here [n, len] at once, there in
// causal blocks of 64 query rows. Where OpenBLAS computes an element of those products
// the same way in both shapes (the tests' small cases) the rows come out bit for bit
// as the fused kernel's; elsewhere they agree to rounding. The whole model's cached
// logits differ from forward() by a little more, since its linear layers multiply
// [B n, C] here and [B L, C] there (nn/transformer.h states the measured bound).
#include <cmath>

#include "nn/attention_rows.h"
#include "nn/transformer.h"
#include "tensor/blas.h"

namespace mc {

namespace {

// One (batch, head) of attention_cached: the n newest queries against len cached keys.
template <class T>
struct CachedHead {
  const AttentionSpec& spec;
  int64_t n, len, C, D, npos, nrel;
  T c;
  const T *q, *k, *v, *src, *e, *r;  // q [B,n,C]; k, v, src [B,len,C]; e [D,npos]; r [D,nrel]
  const T *cosv, *sinv;              // rope_cos_sin's [len, D/2] tables (rope)
  T* y;                              // [B,n,C]

  // Per-task buffers: [n, len] matrices, the [n, npos] and [n, nrel] tables, rotated
  // keys [len, D] and queries [n, D].
  struct Scratch {
    std::vector<T> kr, qr, s, gl, g, pe, z, zr;
    explicit Scratch(const CachedHead& hd)
        : kr(size_t(hd.spec.rope ? hd.len * hd.D : 0)), qr(size_t(hd.spec.rope ? hd.n * hd.D : 0)),
          s(size_t(hd.n * hd.len)), gl(size_t(hd.spec.cope ? hd.n * hd.len : 0)), g(gl.size()), pe(gl.size()),
          z(size_t(hd.n * hd.npos)), zr(size_t(hd.n * hd.nrel)) {}
  };

  // Head h of batch element b: the steps of the fused kernel's forward, in its order,
  // with the products as whole [n, len] gemm calls (the fused kernel's causal blocks
  // are [64, i1] pieces of the same products) and the per-row steps between them.
  void run(int64_t b, int64_t h, Scratch& sc) const {
    const int64_t okv = b * len * C + h * D, oq = b * n * C + h * D;  // the head's first elements
    const T *Q = q + oq, *Qs = Q, *Ks = k + okv;  // the q and k of the content logit
    int64_t ldq = C, ldk = C;
    if (spec.rope) {  // step "rope": the cached keys at 0..len-1, the queries at len-n..len-1
      const int64_t half = D / 2;
      rows::rope_rotate_rows(Ks, C, len, cosv, sinv, half, sc.kr.data(), D);
      rows::rope_rotate_rows(Q, C, n, cosv + (len - n) * half, sinv + (len - n) * half, half, sc.qr.data(), D);
      Qs = sc.qr.data(), Ks = sc.kr.data(), ldq = ldk = D;
    }
    T* s = sc.s.data();
    gemm<T>(false, true, n, len, D, T(1), Qs, ldq, Ks, ldk, T(0), s, len);  // step "scores": s = q k^T
    if (spec.cope) cope(Q, okv, sc);
    if (spec.rel) {  // step "rel": s[i,j] += q_i·r[min(p-j, nrel-1)]
      gemm<T>(false, false, n, nrel, D, T(1), Q, C, r, nrel, T(0), sc.zr.data(), nrel);
      rows::add_rel_rows(s, sc.zr.data(), n, len, len - n, nrel);
    }
    // steps "logits" and "softmax" over j <= p, in place
    rows::softmax_rows(s, spec.cope ? sc.pe.data() : nullptr, n, len, len - n, c, spec.nodiv, s);
    gemm<T>(false, false, n, D, len, T(1), s, len, v + okv, C, T(0), y + oq, C);  // step "output": y = a v
  }

  // steps "gates", "table", "positions", "clamp", "lerp" for the n queries Q (row
  // stride C): sc.pe [n, len]. sc.s holds the scores before rel, which are the gate
  // logits when the gates come from unrotated keys.
  void cope(const T* Q, int64_t okv, Scratch& sc) const {
    const T* gl = sc.s.data();
    if (spec.gates != GateSource::key || spec.rope) {
      gemm<T>(false, true, n, len, D, T(1), Q, C, src + okv, C, T(0), sc.gl.data(), len);
      gl = sc.gl.data();
    }
    gemm<T>(false, false, n, npos, D, T(1), Q, C, e, npos, T(0), sc.z.data(), npos);  // step "table": z = q e
    rows::cope_rows(gl, sc.z.data(), n, len, len - n, npos, c, sc.g.data(), sc.pe.data());
  }
};

}  // namespace

Tensor attention_cached(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gate_k, const Tensor& e,
                        const Tensor& r, const AttentionSpec& spec) {
  const int64_t B = q.size(0), n = q.size(1), C = q.size(2), len = k.size(1), H = spec.heads, D = C / H;
  if (k.shape() != Shape{B, len, C} || v.shape() != k.shape() || n > len)
    throw ShapeError("attention_cached: q " + shape_str(q.shape()) + " does not fit the cache " + shape_str(k.shape()));
  Tensor y({B, n, C}, q.dtype());
  Tensor cosv, sinv;  // the fused kernel's rope table, rows 0..len-1
  if (spec.rope) {
    cosv = rope_cos_sin(len, D, spec.rope_base, q.dtype(), false);
    sinv = rope_cos_sin(len, D, spec.rope_base, q.dtype(), true);
  }
  dispatch_float(q.dtype(), "attention_cached", [&](auto tag) {
    using T = decltype(tag);
    const T* V = v.data<T>();
    const T* src = !spec.cope                            ? nullptr
                   : spec.gates == GateSource::sep_key  ? gate_k.data<T>()
                   : spec.gates == GateSource::value    ? V
                                                        : k.data<T>();
    const CachedHead<T> head{spec, n, len, C, D, spec.cope ? spec.npos : 0, spec.rel ? r.size(1) : 0,
                             T(1.0 / std::sqrt(double(D))), q.data<T>(), k.data<T>(), V, src,
                             spec.cope ? e.data<T>() : nullptr, spec.rel ? r.data<T>() : nullptr,
                             spec.rope ? cosv.data<T>() : nullptr, spec.rope ? sinv.data<T>() : nullptr, y.data<T>()};
    parallel_for(B * H, 1, n * len * D, [&](int64_t t0, int64_t t1) {
      typename CachedHead<T>::Scratch sc(head);
      for (int64_t bh = t0; bh < t1; ++bh) head.run(bh / H, bh % H, sc);
    });
  });
  return y;
}

namespace {
Tensor append(const Tensor& cache, const Tensor& fresh) {
  return cache.defined() ? concat({cache, fresh}, 1) : fresh.clone();
}
}  // namespace

Var CausalSelfAttention::forward_cached(const Var& x, KVCache::Layer& cache) const {
  Var qv = q.forward(x), kv = k.forward(x), vv = v.forward(x);
  cache.k = append(cache.k, kv.value());
  cache.v = append(cache.v, vv.value());
  if (gate_k) cache.gate_k = append(cache.gate_k, gate_k->forward(x).value());
  const Tensor y = attention_cached(qv.value(), cache.k, cache.v, cache.gate_k, e.defined() ? e.value() : Tensor(),
                                    r.defined() ? r.value() : Tensor(), spec);
  return out.forward(Var(y));
}

Var Block::forward_cached(const Var& x, KVCache::Layer& cache) const {
  if (post_norm) {
    Var h = ln1.forward(add(x, attn.forward_cached(x, cache)));
    return ln2.forward(add(h, mlp.forward(h)));
  }
  Var h = add(x, attn.forward_cached(ln1.forward(x), cache));
  return add(h, mlp.forward(ln2.forward(h)));
}

Tensor Transformer::forward_cached(const Tensor& ids, KVCache& cache) {
  NoGradGuard no_grad;
  if (ids.dim() != 2 || ids.dtype() != DType::i64)
    throw ShapeError("transformer: ids must be [B,n] i64, got " + std::string(dtype_name(ids.dtype())) + shape_str(ids.shape()));
  const int64_t n = ids.size(1), start = cache.len;
  if (pos_ && start + n > cfg_.seq)
    throw ShapeError("transformer: abs position embeddings cover " + std::to_string(cfg_.seq) + " positions; the context would reach " +
                     std::to_string(start + n));
  if (cache.layers.empty()) cache.layers.resize(blocks_.size());
  Var x = tok_.forward(ids);
  if (pos_) {
    std::vector<int64_t> at(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) at[size_t(t)] = start + t;
    x = add(x, pos_->forward(Tensor::indices(at, {n})));
  }
  for (size_t l = 0; l < blocks_.size(); ++l) x = blocks_[l]->forward_cached(x, cache.layers[l]);
  cache.len += n;
  if (ln_f_) x = ln_f_->forward(x);
  return (head_ ? head_->forward(x) : matmul(x, tok_.weight, false, true)).value();
}

}  // namespace mc
