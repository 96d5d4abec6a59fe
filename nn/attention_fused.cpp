// attention_fused.cpp — the fused attention kernel and its hand-written backward pass.
//
// One task per (batch, head). A head's q, k, v are read in place from the [B, L, C]
// inputs as L x D matrices with row stride C (no transposes, no copies), and its
// gradients are added in place the same way, so tasks write disjoint memory. The
// gradients of e and r, which every head shares, are summed after the parallel part,
// in (batch, head) order, so the result does not depend on the thread count.
//
// Naming: L is the context length (T is the element type), D the head size,
// c = 1/sqrt(D). Each step below carries the name docs/cope.md gives it.
#include <cmath>

#include "nn/attention.h"
#include "tensor/blas.h"
#include "tensor/fast_math.h"

namespace mc {

namespace {

constexpr int64_t kBlock = 64;  // query rows per causal block

// Calls f(i0, i1) for query blocks; block [i0, i1) needs keys [0, i1) only.
template <class F>
void causal_blocks(int64_t L, F&& f) {
  for (int64_t i0 = 0; i0 < L; i0 += kBlock) f(i0, std::min(L, i0 + kBlock));
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

// Everything the forward pass leaves for the backward pass.
struct Saved {
  Tensor probs;  // [B,H,L,L] attention weights a, zero above the diagonal
  Tensor gates;  // [B,H,L,L] g (cope)
  Tensor z;      // [B,H,L,npos] q·e (cope)
  Tensor cos, sin;  // [L, D/2] (rope)
};

template <class T>
struct Kernel {
  const AttentionSpec& spec;
  int64_t B, L, C, H, D, npos, nrel;
  T c;
  const T *q, *k, *v, *gk, *e, *r, *cosv, *sinv;

  const T* src() const { return spec.gates == GateSource::sep_key ? gk : spec.gates == GateSource::value ? v : k; }
  int64_t off(int64_t b, int64_t h) const { return b * L * C + h * D; }  // a head's first element in [B,L,C]

  // rope: out (L x D, contiguous) = x (row stride C) rotated by position.
  void rope_rows(const T* x, T* out) const {
    const int64_t half = D / 2;
    for (int64_t t = 0; t < L; ++t)
      for (int64_t d = 0; d < half; ++d) {
        const T cs = cosv[t * half + d], sn = sinv[t * half + d], x1 = x[t * C + d], x2 = x[t * C + d + half];
        out[t * D + d] = x1 * cs - x2 * sn;
        out[t * D + d + half] = x1 * sn + x2 * cs;
      }
  }
  // the adjoint of rope_rows: dx (row stride C) += R^T g, g contiguous L x D.
  void rope_rows_backward(const T* g, T* dx) const {
    const int64_t half = D / 2;
    for (int64_t t = 0; t < L; ++t)
      for (int64_t d = 0; d < half; ++d) {
        const T cs = cosv[t * half + d], sn = sinv[t * half + d], g1 = g[t * D + d], g2 = g[t * D + d + half];
        dx[t * C + d] += g1 * cs + g2 * sn;
        dx[t * C + d + half] += -g1 * sn + g2 * cs;
      }
  }

  // steps "positions" and "clamp" for query i: walks j = i..0 accumulating the gates
  // (the reverse cumulative sum) and calls f(j, raw, lo, hi, w) with raw the unclamped
  // position, lo/hi the floor and ceiling of the clamped one and w its fractional part.
  // Forward and backward both walk through here, so they see the same bits.
  template <class F>
  void for_positions(const T* g, int64_t i, F&& f) const {
    T raw = 0;
    for (int64_t j = i; j >= 0; --j) {
      raw += g[i * L + j];
      const T p = std::min(raw, static_cast<T>(npos - 1));
      const int64_t lo = static_cast<int64_t>(std::floor(p)), hi = static_cast<int64_t>(std::ceil(p));
      f(j, raw, lo, hi, p - static_cast<T>(lo));
    }
  }

  // s = qs ks^T on the causal blocks (qs, ks with row stride ld).
  void scores(const T* qs, const T* ks, int64_t ld, T* s) const {
    causal_blocks(L, [&](int64_t i0, int64_t i1) {
      gemm<T>(false, true, i1 - i0, i1, D, T(1), qs + i0 * ld, ld, ks, ld, T(0), s + i0 * L, L);
    });
  }

  // ---- forward for one (b, h) -------------------------------------------------------------
  void forward(int64_t b, int64_t h, T* y, Saved& sv) const {
    const int64_t bh = b * H + h, o = off(b, h);
    const T *Q = q + o, *K = k + o, *V = v + o;
    std::vector<T> qr, kr, s(size_t(L * L)), g_logits, pe;
    const T *Qs = Q, *Ks = K;  // the q and k of the content logit
    int64_t lds = C;
    if (spec.rope) {  // step "rope": rotate q and k
      qr.resize(size_t(L * D));
      kr.resize(size_t(L * D));
      rope_rows(Q, qr.data());
      rope_rows(K, kr.data());
      Qs = qr.data(), Ks = kr.data(), lds = D;
    }
    scores(Qs, Ks, lds, s.data());  // step "scores": s = q k^T

    if (spec.cope) {
      // step "gates": g = sigmoid(c q·src); with gates from keys and no rope, q·k is s itself.
      const T* gl = s.data();
      if (spec.gates != GateSource::key || spec.rope) {
        g_logits.resize(size_t(L * L));
        scores(Q, src() + o, C, g_logits.data());
        gl = g_logits.data();
      }
      T* g = sv.gates.data<T>() + bh * L * L;
      T* z = sv.z.data<T>() + bh * L * npos;
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j <= i; ++j) g[i * L + j] = stable_sigmoid(c * gl[i * L + j]);
      // step "table": z = q e   (L x npos)
      gemm<T>(false, false, L, npos, D, T(1), Q, C, e, npos, T(0), z, npos);
      // steps "positions" (reverse cumsum, clamp) and "lerp"
      pe.assign(size_t(L * L), T(0));
      for (int64_t i = 0; i < L; ++i)
        for_positions(g, i, [&](int64_t j, T, int64_t lo, int64_t hi, T w) {
          pe[size_t(i * L + j)] = (1 - w) * z[i * npos + lo] + w * z[i * npos + hi];
        });
    }
    if (spec.rel) {  // step "rel": s[i,j] += q_i·r[min(i-j, nrel-1)]
      std::vector<T> zr(size_t(L * nrel));
      gemm<T>(false, false, L, nrel, D, T(1), Q, C, r, nrel, T(0), zr.data(), nrel);
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j <= i; ++j) s[size_t(i * L + j)] += zr[size_t(i * nrel + std::min(i - j, nrel - 1))];
    }
    // steps "logits" and "softmax" over j <= i
    T* a = sv.probs.data<T>() + bh * L * L;
    for (int64_t i = 0; i < L; ++i) {
      T* row = a + i * L;
      for (int64_t j = 0; j <= i; ++j) {
        const T sij = s[size_t(i * L + j)], pij = spec.cope ? pe[size_t(i * L + j)] : T(0);
        row[j] = spec.nodiv ? c * sij + pij : c * (sij + pij);
      }
      T m = row[0];
      for (int64_t j = 1; j <= i; ++j) m = std::max(m, row[j]);
      T sum = 0;
      for (int64_t j = 0; j <= i; ++j) row[j] = exp_of(row[j] - m);
      for (int64_t j = 0; j <= i; ++j) sum += row[j];
      for (int64_t j = 0; j <= i; ++j) row[j] /= sum;
      for (int64_t j = i + 1; j < L; ++j) row[j] = 0;
    }
    // step "output": y = a v
    causal_blocks(L, [&](int64_t i0, int64_t i1) {
      gemm<T>(false, false, i1 - i0, D, i1, T(1), a + i0 * L, L, V, C, T(0), y + o + i0 * C, C);
    });
  }

  // ---- backward for one (b, h) ------------------------------------------------------------
  // gy: [B,L,C]. dq.. may be null (no gradient wanted). dz_all / dzr_all collect the
  // per-head gradients of z and zr for the shared e and r (summed afterwards).
  void backward(int64_t b, int64_t h, const T* gy, const Saved& sv, T* dq, T* dk, T* dv, T* dgk, T* dz_all,
                T* dzr_all) const {
    const int64_t bh = b * H + h, o = off(b, h);
    const T *Q = q + o, *K = k + o, *V = v + o, *dY = gy + o;
    const T* a = sv.probs.data<T>() + bh * L * L;
    std::vector<T> da(size_t(L * L));
    // step "output" back: da = dy v^T;  dv += a^T dy
    causal_blocks(L, [&](int64_t i0, int64_t i1) {
      gemm<T>(false, true, i1 - i0, i1, D, T(1), dY + i0 * C, C, V, C, T(0), da.data() + i0 * L, L);
      if (dv) gemm<T>(true, false, i1, D, i1 - i0, T(1), a + i0 * L, L, dY + i0 * C, C, T(1), dv + o, C);
    });
    // step "softmax" back: dlogit[i,j] = a[i,j] (da[i,j] - sum_j' a[i,j'] da[i,j']), in place
    for (int64_t i = 0; i < L; ++i) {
      T* row = da.data() + i * L;
      T dot = 0;
      for (int64_t j = 0; j <= i; ++j) dot += a[i * L + j] * row[j];
      for (int64_t j = 0; j <= i; ++j) row[j] = a[i * L + j] * (row[j] - dot);
      for (int64_t j = i + 1; j < L; ++j) row[j] = 0;
    }
    const T* dlogit = da.data();
    // step "logits" back: ds = c dlogit; drel = c dlogit; dpe = c dlogit (or dlogit with nodiv)
    const T pe_scale = spec.nodiv ? T(1) : c;

    if (spec.cope) {
      const T* g = sv.gates.data<T>() + bh * L * L;
      const T* z = sv.z.data<T>() + bh * L * npos;
      T* dz = dz_all + bh * L * npos;
      std::fill_n(dz, L * npos, T(0));
      std::vector<T> dgl(size_t(L * L), T(0));
      for (int64_t i = 0; i < L; ++i) {
        // step "lerp" back, recomputing p exactly as the forward pass did:
        //   dz[i,floor p] += (1-w) dpe;  dz[i,ceil p] += w dpe;  dp = dpe (z[i,ceil p] - z[i,floor p])
        // step "clamp" back: dp_raw = dp where the raw position was <= npos-1, else 0
        for_positions(g, i, [&](int64_t j, T raw, int64_t lo, int64_t hi, T w) {
          const T dpe = pe_scale * dlogit[i * L + j];
          dz[i * npos + lo] += (1 - w) * dpe;
          dz[i * npos + hi] += w * dpe;
          dgl[size_t(i * L + j)] = raw <= static_cast<T>(npos - 1) ? dpe * (z[i * npos + hi] - z[i * npos + lo]) : T(0);
        });
        // step "positions" back: p[i,j] = sum_{t=j..i} g[i,t], so dg[i,t] = sum_{j<=t} dp[i,j]
        // (a forward cumulative sum); step "gates" back: dgate_logit = dg g (1-g) c
        T run = 0;
        for (int64_t t = 0; t <= i; ++t) {
          run += dgl[size_t(i * L + t)];
          const T gt = g[i * L + t];
          dgl[size_t(i * L + t)] = run * gt * (1 - gt) * c;
        }
      }
      // gate logits were q·src: dq += dgl src;  dsrc += dgl^T q
      T* dsrc = spec.gates == GateSource::sep_key ? dgk : spec.gates == GateSource::value ? dv : dk;
      const T* S = src() + o;
      causal_blocks(L, [&](int64_t i0, int64_t i1) {
        if (dq) gemm<T>(false, false, i1 - i0, D, i1, T(1), dgl.data() + i0 * L, L, S, C, T(1), dq + o + i0 * C, C);
        if (dsrc) gemm<T>(true, false, i1, D, i1 - i0, T(1), dgl.data() + i0 * L, L, Q + i0 * C, C, T(1), dsrc + o, C);
      });
      // step "table" back: z = q e, so dq += dz e^T (de += q^T dz is summed later)
      if (dq) gemm<T>(false, true, L, D, npos, T(1), dz, npos, e, npos, T(1), dq + o, C);
    }
    if (spec.rel) {
      // step "rel" back: dzr[i, min(i-j, nrel-1)] += c dlogit[i,j];  dq += dzr r^T
      T* dzr = dzr_all + bh * L * nrel;
      std::fill_n(dzr, L * nrel, T(0));
      for (int64_t i = 0; i < L; ++i)
        for (int64_t j = 0; j <= i; ++j) dzr[i * nrel + std::min(i - j, nrel - 1)] += c * dlogit[i * L + j];
      if (dq) gemm<T>(false, true, L, D, nrel, T(1), dzr, nrel, r, nrel, T(1), dq + o, C);
    }
    // step "scores" back: s = qs ks^T, ds = c dlogit: dqs += ds ks;  dks += ds^T qs
    if (!spec.rope) {
      causal_blocks(L, [&](int64_t i0, int64_t i1) {
        if (dq) gemm<T>(false, false, i1 - i0, D, i1, c, dlogit + i0 * L, L, K, C, T(1), dq + o + i0 * C, C);
        if (dk) gemm<T>(true, false, i1, D, i1 - i0, c, dlogit + i0 * L, L, Q + i0 * C, C, T(1), dk + o, C);
      });
    } else {
      // step "rope" back: the gradients of the rotated q and k are rotated back
      std::vector<T> qr(size_t(L * D)), kr(size_t(L * D)), dqr(size_t(L * D), T(0)), dkr(size_t(L * D), T(0));
      rope_rows(Q, qr.data());
      rope_rows(K, kr.data());
      causal_blocks(L, [&](int64_t i0, int64_t i1) {
        gemm<T>(false, false, i1 - i0, D, i1, c, dlogit + i0 * L, L, kr.data(), D, T(1), dqr.data() + i0 * D, D);
        gemm<T>(true, false, i1, D, i1 - i0, c, dlogit + i0 * L, L, qr.data() + i0 * D, D, T(1), dkr.data(), D);
      });
      if (dq) rope_rows_backward(dqr.data(), dq + o);
      if (dk) rope_rows_backward(dkr.data(), dk + o);
    }
  }
};

// The kernel's view of the inputs, for element type T.
template <class T>
Kernel<T> make_kernel(const AttentionInputs& in, const AttentionSpec& spec, const Saved& sv) {
  auto ptr = [](const Var& x) { return x.defined() ? x.value().template data<T>() : nullptr; };
  const int64_t B = in.q.size(0), L = in.q.size(1), C = in.q.size(2), H = spec.heads, D = C / H;
  return Kernel<T>{spec, B, L, C, H, D, spec.cope ? spec.npos : 0, spec.rel ? in.r.size(1) : 0,
                   static_cast<T>(1.0 / std::sqrt(static_cast<double>(D))), ptr(in.q), ptr(in.k), ptr(in.v),
                   spec.cope && spec.gates == GateSource::sep_key ? ptr(in.gate_k) : nullptr,
                   spec.cope ? ptr(in.e) : nullptr, spec.rel ? ptr(in.r) : nullptr,
                   spec.rope ? sv.cos.template data<T>() : nullptr, spec.rope ? sv.sin.template data<T>() : nullptr};
}

}  // namespace

Tensor rope_cos_sin(int64_t L, int64_t D, double base, DType dtype, bool want_sin) {
  const int64_t half = D / 2;
  std::vector<double> v(size_t(L * half));
  for (int64_t t = 0; t < L; ++t)
    for (int64_t d = 0; d < half; ++d) {
      const double theta = static_cast<double>(t) * std::pow(base, -2.0 * static_cast<double>(d) / static_cast<double>(D));
      v[size_t(t * half + d)] = want_sin ? std::sin(theta) : std::cos(theta);
    }
  return Tensor::from(v, {L, half}, dtype);
}

void check_attention(const AttentionInputs& in, const AttentionSpec& spec) {
  auto fail = [](const std::string& why) { throw ShapeError("attention: " + why); };
  if (!in.q.defined() || !in.k.defined() || !in.v.defined()) fail("q, k and v are required");
  const Shape& s = in.q.shape();
  if (s.size() != 3) fail("q must be [B,L,C], got " + shape_str(s));
  if (in.k.shape() != s || in.v.shape() != s)
    fail("q, k, v shapes differ: " + shape_str(s) + ", " + shape_str(in.k.shape()) + ", " + shape_str(in.v.shape()));
  if (spec.heads < 1 || s[2] % spec.heads != 0)
    fail("width " + std::to_string(s[2]) + " is not divisible by " + std::to_string(spec.heads) + " heads");
  const int64_t D = s[2] / spec.heads;
  const DType dt = in.q.dtype();
  auto same_dtype = [&](const Var& x, const char* name) {
    if (x.dtype() != dt) fail(std::string(name) + " is " + dtype_name(x.dtype()) + ", q is " + dtype_name(dt));
  };
  same_dtype(in.k, "k");
  same_dtype(in.v, "v");
  if (spec.cope) {
    if (spec.npos < 1) fail("npos must be at least 1, got " + std::to_string(spec.npos));
    if (!in.e.defined() || in.e.shape() != Shape{D, spec.npos})
      fail("cope needs e of shape [" + std::to_string(D) + "," + std::to_string(spec.npos) + "]" +
           (in.e.defined() ? ", got " + shape_str(in.e.shape()) : ""));
    same_dtype(in.e, "e");
    if (spec.gates == GateSource::sep_key) {
      if (!in.gate_k.defined() || in.gate_k.shape() != s)
        fail("gates from separate keys need gate_k of shape " + shape_str(s));
      same_dtype(in.gate_k, "gate_k");
    }
  }
  if (spec.rel) {
    if (!in.r.defined() || in.r.shape().size() != 2 || in.r.size(0) != D || in.r.size(1) < 1)
      fail("rel needs r of shape [" + std::to_string(D) + ",nrel] with nrel >= 1" +
           (in.r.defined() ? ", got " + shape_str(in.r.shape()) : ""));
    same_dtype(in.r, "r");
  }
  if (spec.rope && D % 2 != 0) fail("rope needs an even head size, got " + std::to_string(D));
}

Var attention_fused(const AttentionInputs& in, const AttentionSpec& spec, AttentionTrace* trace) {
  check_attention(in, spec);
  const int64_t B = in.q.size(0), L = in.q.size(1), C = in.q.size(2), H = spec.heads, D = C / H;
  const int64_t npos = spec.cope ? spec.npos : 0, nrel = spec.rel ? in.r.size(1) : 0;
  const DType dt = in.q.dtype();
  Tensor y({B, L, C}, dt);
  Saved sv;
  sv.probs = Tensor({B, H, L, L}, dt);
  if (spec.cope) {
    sv.gates = Tensor::zeros({B, H, L, L}, dt);
    sv.z = Tensor({B, H, L, npos}, dt);
  }
  if (spec.rope) {
    sv.cos = rope_cos_sin(L, D, spec.rope_base, dt, false);
    sv.sin = rope_cos_sin(L, D, spec.rope_base, dt, true);
  }

  dispatch_float(dt, "attention", [&](auto tag) {
    using T = decltype(tag);
    const Kernel<T> kern = make_kernel<T>(in, spec, sv);
    T* yp = y.data<T>();
    parallel_for(B * H, 1, L * L * D * 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) kern.forward(t / H, t % H, yp, sv);
    });
  });

  if (trace) {
    trace->probs = sv.probs.clone();
    if (spec.cope) {
      // positions: the clamped reverse cumulative sum of the gates, as the kernel formed it
      trace->positions = clamp(cumsum(sv.gates, -1, true), 0.0, static_cast<double>(spec.npos - 1));
    }
  }

  std::vector<Var> inputs{in.q, in.k, in.v};
  if (spec.cope) inputs.push_back(in.e);
  if (spec.cope && spec.gates == GateSource::sep_key) inputs.push_back(in.gate_k);
  if (spec.rel) inputs.push_back(in.r);
  return record("attention", y, inputs, [in, spec, sv, B, L, C, H, D, npos, nrel](const Tensor& gy) {
    dispatch_float(gy.dtype(), "attention_backward", [&](auto tag) {
      using T = decltype(tag);
      const Kernel<T> kern = make_kernel<T>(in, spec, sv);
      auto grad = [](const Var& x) { return x.defined() && x.requires_grad() ? const_cast<Var&>(x).grad_buffer().template data<T>() : nullptr; };
      T *dq = grad(in.q), *dk = grad(in.k), *dv = grad(in.v);
      T* dgk = spec.cope && spec.gates == GateSource::sep_key ? grad(in.gate_k) : nullptr;
      std::vector<T> dz(size_t(B * H * L * npos)), dzr(size_t(B * H * L * nrel));
      const T* g = gy.data<T>();
      parallel_for(B * H, 1, L * L * D * 8, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) kern.backward(t / H, t % H, g, sv, dq, dk, dv, dgk, dz.data(), dzr.data());
      });
      // The shared tables: de += sum_{b,h} q_bh^T dz_bh, dr likewise, in (b, h) order.
      T* de = spec.cope ? grad(in.e) : nullptr;
      T* dr = spec.rel ? grad(in.r) : nullptr;
      for (int64_t bh = 0; bh < B * H; ++bh) {
        const T* Q = kern.q + kern.off(bh / H, bh % H);
        if (de) gemm<T>(true, false, D, npos, L, T(1), Q, C, dz.data() + bh * L * npos, npos, T(1), de, npos);
        if (dr) gemm<T>(true, false, D, nrel, L, T(1), Q, C, dzr.data() + bh * L * nrel, nrel, T(1), dr, nrel);
      }
    });
  });
}

}  // namespace mc
