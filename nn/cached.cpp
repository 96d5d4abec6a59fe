// cached.cpp — incremental decoding with a key/value cache.
//
// What is cached: every layer's keys, values and (sep-key) gate keys, as projected
// (before rope). What is recomputed for each new query: everything that depends on the
// query — its scores against all cached keys, and for CoPE its gates over all cached
// keys, their reverse cumulative sum (the positions) and the interpolated position
// logits. A new token changes the positions of every earlier key as seen from the new
// query, but not as seen from the old queries, so old rows never need recomputing.
#include <cmath>

#include "nn/transformer.h"

namespace mc {

namespace {

template <class T>
T dot(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Rotary position t applied to one head vector x (D values) into out.
template <class T>
void rotate(const T* x, int64_t D, int64_t t, double base, T* out) {
  const int64_t half = D / 2;
  for (int64_t d = 0; d < half; ++d) {
    const double theta = double(t) * std::pow(base, -2.0 * double(d) / double(D));
    const T cs = T(std::cos(theta)), sn = T(std::sin(theta));
    out[d] = x[d] * cs - x[d + half] * sn;
    out[d + half] = x[d] * sn + x[d + half] * cs;
  }
}

}  // namespace

Tensor attention_cached(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gate_k, const Tensor& e,
                        const Tensor& r, const AttentionSpec& spec) {
  const int64_t B = q.size(0), n = q.size(1), C = q.size(2), len = k.size(1), H = spec.heads, D = C / H;
  if (k.shape() != Shape{B, len, C} || v.shape() != k.shape() || n > len)
    throw ShapeError("attention_cached: q " + shape_str(q.shape()) + " does not fit the cache " + shape_str(k.shape()));
  Tensor y({B, n, C}, q.dtype());
  dispatch_float(q.dtype(), "attention_cached", [&](auto tag) {
    using T = decltype(tag);
    const T c = T(1.0 / std::sqrt(double(D)));
    const T *Q = q.data<T>(), *K = k.data<T>(), *V = v.data<T>();
    const T* src = spec.gates == GateSource::sep_key ? gate_k.data<T>() : spec.gates == GateSource::value ? V : K;
    const T* E = spec.cope ? e.data<T>() : nullptr;
    const T* R = spec.rel ? r.data<T>() : nullptr;
    const int64_t npos = spec.npos, nrel = spec.rel ? r.size(1) : 0;
    T* Y = y.data<T>();
    parallel_for(B * H, 1, n * len * D, [&](int64_t t0, int64_t t1) {
      const auto ulen = static_cast<size_t>(len), ud = static_cast<size_t>(D);
      std::vector<T> logit(ulen), g(ulen), z(static_cast<size_t>(std::max<int64_t>(npos, 1))), qr(ud), kr(ud);
      for (int64_t bh = t0; bh < t1; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        for (int64_t i = 0; i < n; ++i) {
          const int64_t p = len - n + i;  // the query's position
          const T* qi = Q + (b * n + i) * C + h * D;
          auto key = [&](const T* base, int64_t j) { return base + (b * len + j) * C + h * D; };
          if (spec.rope) rotate(qi, D, p, spec.rope_base, qr.data());
          for (int64_t j = 0; j <= p; ++j) {  // scores (rotated q, k under rope)
            if (spec.rope) {
              rotate(key(K, j), D, j, spec.rope_base, kr.data());
              logit[size_t(j)] = dot(qr.data(), kr.data(), D);
            } else {
              logit[size_t(j)] = dot(qi, key(K, j), D);
            }
            if (spec.rel) {  // + q·r[min(p-j, nrel-1)]
              const int64_t col = std::min(p - j, nrel - 1);
              T s = 0;
              for (int64_t d = 0; d < D; ++d) s += qi[d] * R[d * nrel + col];
              logit[size_t(j)] += s;
            }
          }
          if (spec.cope) {
            for (int64_t m = 0; m < npos; ++m) {  // z = q e
              T s = 0;
              for (int64_t d = 0; d < D; ++d) s += qi[d] * E[d * npos + m];
              z[size_t(m)] = s;
            }
            T raw = 0;
            for (int64_t j = p; j >= 0; --j) {  // gates, positions, lerp
              const T x = c * dot(qi, key(src, j), D);
              raw += x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
              const T pos = std::min(raw, T(npos - 1));
              const int64_t lo = int64_t(std::floor(pos)), hi = int64_t(std::ceil(pos));
              const T w = pos - T(lo), pe = (1 - w) * z[size_t(lo)] + w * z[size_t(hi)];
              logit[size_t(j)] = spec.nodiv ? c * logit[size_t(j)] + pe : c * (logit[size_t(j)] + pe);
            }
          } else {
            for (int64_t j = 0; j <= p; ++j) logit[size_t(j)] *= c;
          }
          T mx = logit[0];
          for (int64_t j = 1; j <= p; ++j) mx = std::max(mx, logit[size_t(j)]);
          T sum = 0;
          for (int64_t j = 0; j <= p; ++j) sum += (g[size_t(j)] = std::exp(logit[size_t(j)] - mx));
          T* yi = Y + (b * n + i) * C + h * D;
          std::fill_n(yi, D, T(0));
          for (int64_t j = 0; j <= p; ++j) {
            const T a = g[size_t(j)] / sum;
            const T* vj = key(V, j);
            for (int64_t d = 0; d < D; ++d) yi[d] += a * vj[d];
          }
        }
      }
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
