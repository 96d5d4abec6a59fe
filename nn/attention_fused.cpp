// attention_fused.cpp — the fused attention kernel and its hand-written backward pass.
//
// One task per (batch, head). A head's q, k, v are read in place from the [B, L, C]
// inputs as L x D matrices with row stride C (no transposes, no copies), and its
// gradients are added in place the same way, so tasks write disjoint memory. The
// gradients of e and r, which every head shares, are summed after the parallel part,
// in (batch, head) order, so the result does not depend on the thread count.
//
// The products (scores, the tables z = q e and q r, the output a v and their adjoints)
// are BLAS calls on the causal blocks; everything between them is a per-row piece of
// nn/attention_rows.h, which the cached form (nn/cached.cpp) runs too.
//
// Naming: L is the context length (T is the element type), D the head size,
// c = 1/sqrt(D). Each step below carries the name docs/cope.md gives it.
#include <cmath>

#include "nn/attention.h"
#include "nn/attention_rows.h"
#include "tensor/blas.h"

namespace mc {

namespace {

constexpr int64_t kBlock = 64;  // query rows per causal block

// Calls f(i0, i1) for query blocks; block [i0, i1) needs keys [0, i1) only.
template <class F>
void causal_blocks(int64_t L, F&& f) {
  for (int64_t i0 = 0; i0 < L; i0 += kBlock) f(i0, std::min(L, i0 + kBlock));
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

  // step "rope": out (L x D, contiguous) = x (row stride C) rotated by position.
  void rope_rows(const T* x, T* out) const { rows::rope_rotate_rows(x, C, L, cosv, sinv, D / 2, out, D); }
  // differentiates rope_rows: dx (row stride C) += R^T g, g contiguous L x D.
  void rope_rows_backward(const T* g, T* dx) const {
    rows::rope_rotate_rows_backward(g, D, L, cosv, sinv, D / 2, dx, C);
  }

  // s = qs ks^T on the causal blocks (qs, ks with row stride ld).
  void scores(const T* qs, const T* ks, int64_t ld, T* s) const {
    causal_blocks(L, [&](int64_t i0, int64_t i1) {
      gemm<T>(false, true, i1 - i0, i1, D, T(1), qs + i0 * ld, ld, ks, ld, T(0), s + i0 * L, L);
    });
  }

  // ---- forward for one (b, h) -------------------------------------------------------------

  // steps "gates", "table", "positions", "clamp", "lerp": fills g [L,L] and z [L,npos]
  // (saved) and pe [L,L]. s: the scores before rel, which are the gate logits when the
  // gates come from unrotated keys.
  void cope_forward(const T* Q, int64_t o, const std::vector<T>& s, T* g, T* z, std::vector<T>& pe) const {
    // step "gates": g = sigmoid(c q·src); with gates from keys and no rope, q·k is s itself.
    const T* gl = s.data();
    std::vector<T> g_logits;
    if (spec.gates != GateSource::key || spec.rope) {
      g_logits.resize(size_t(L * L));
      scores(Q, src() + o, C, g_logits.data());
      gl = g_logits.data();
    }
    // step "table": z = q e   (L x npos)
    gemm<T>(false, false, L, npos, D, T(1), Q, C, e, npos, T(0), z, npos);
    pe.assign(size_t(L * L), T(0));
    rows::cope_rows(gl, z, L, L, 0, npos, c, g, pe.data());
  }

  void forward(int64_t b, int64_t h, T* y, Saved& sv) const {
    const int64_t bh = b * H + h, o = off(b, h);
    const T *Q = q + o, *K = k + o, *V = v + o;
    std::vector<T> qr, kr, s(size_t(L * L)), pe;
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

    if (spec.cope) cope_forward(Q, o, s, sv.gates.data<T>() + bh * L * L, sv.z.data<T>() + bh * L * npos, pe);
    if (spec.rel) {  // step "rel": s[i,j] += q_i·r[min(i-j, nrel-1)]
      std::vector<T> zr(size_t(L * nrel));
      gemm<T>(false, false, L, nrel, D, T(1), Q, C, r, nrel, T(0), zr.data(), nrel);
      rows::add_rel_rows(s.data(), zr.data(), L, L, 0, nrel);
    }
    // steps "logits" and "softmax" over j <= i
    T* a = sv.probs.data<T>() + bh * L * L;
    rows::softmax_rows(s.data(), spec.cope ? pe.data() : nullptr, L, L, 0, c, spec.nodiv, a);
    // step "output": y = a v
    causal_blocks(L, [&](int64_t i0, int64_t i1) {
      gemm<T>(false, false, i1 - i0, D, i1, T(1), a + i0 * L, L, V, C, T(0), y + o + i0 * C, C);
    });
  }

  // ---- backward for one (b, h) ------------------------------------------------------------

  // differentiates cope_forward: dz [L,npos] (this head's, for the shared de) and
  // dq, dsrc. dlogit: the softmax's input gradient; pe_scale: dpe / dlogit.
  void cope_backward(const T* Q, int64_t o, const Saved& sv, int64_t bh, const T* dlogit, T pe_scale, T* dq, T* dsrc,
                     T* dz) const {
    const T* g = sv.gates.data<T>() + bh * L * L;
    const T* z = sv.z.data<T>() + bh * L * npos;
    std::fill_n(dz, L * npos, T(0));
    std::vector<T> dgl(size_t(L * L), T(0));
    for (int64_t i = 0; i < L; ++i) {
      T* d = dgl.data() + i * L;
      // steps "lerp" and "clamp" back: dz, and dp (0 where clamped)
      rows::position_logits_row_backward(g + i * L, z + i * npos, dlogit + i * L, i, npos, pe_scale, dz + i * npos, d);
      rows::positions_row_backward(d, i + 1);              // step "positions" back: dp -> dg
      rows::cope_gates_row_backward(g + i * L, i + 1, c, d);  // step "gates" back: dg -> dgate_logit
    }
    // gate logits were q·src: dq += dgl src;  dsrc += dgl^T q
    const T* S = src() + o;
    causal_blocks(L, [&](int64_t i0, int64_t i1) {
      if (dq) gemm<T>(false, false, i1 - i0, D, i1, T(1), dgl.data() + i0 * L, L, S, C, T(1), dq + o + i0 * C, C);
      if (dsrc) gemm<T>(true, false, i1, D, i1 - i0, T(1), dgl.data() + i0 * L, L, Q + i0 * C, C, T(1), dsrc + o, C);
    });
    // step "table" back: z = q e, so dq += dz e^T (de += q^T dz is summed later)
    if (dq) gemm<T>(false, true, L, D, npos, T(1), dz, npos, e, npos, T(1), dq + o, C);
  }

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
    // step "softmax" back: dlogit = a (da - a·da), in place
    for (int64_t i = 0; i < L; ++i) {
      T* row = da.data() + i * L;
      rows::softmax_row_backward(a + i * L, row, i + 1);
      std::fill(row + i + 1, row + L, T(0));
    }
    const T* dlogit = da.data();
    // step "logits" back: ds = c dlogit; drel = c dlogit; dpe = c dlogit (or dlogit with nodiv)
    const T pe_scale = spec.nodiv ? T(1) : c;

    if (spec.cope) {
      T* dsrc = spec.gates == GateSource::sep_key ? dgk : spec.gates == GateSource::value ? dv : dk;
      cope_backward(Q, o, sv, bh, dlogit, pe_scale, dq, dsrc, dz_all + bh * L * npos);
    }
    if (spec.rel) {
      // step "rel" back: dzr[i, min(i-j, nrel-1)] += c dlogit[i,j];  dq += dzr r^T
      T* dzr = dzr_all + bh * L * nrel;
      std::fill_n(dzr, L * nrel, T(0));
      for (int64_t i = 0; i < L; ++i) rows::add_rel_row_backward(dlogit + i * L, i, nrel, c, dzr + i * nrel);
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

// x's gradient buffer, or null where x takes no gradient.
template <class T>
T* grad_of(const Var& x) {
  return x.defined() && x.requires_grad() ? x.grad_buffer().template data<T>() : nullptr;
}

// The backward pass of attention_fused, gy [B,L,C]: every (batch, head) in parallel, then
// the shared tables' gradients, de += sum_{b,h} q_bh^T dz_bh and dr likewise, in (b, h)
// order.
template <class T>
void backward_all(const AttentionInputs& in, const AttentionSpec& spec, const Saved& sv, const Tensor& gy) {
  const Kernel<T> kern = make_kernel<T>(in, spec, sv);
  const int64_t B = kern.B, L = kern.L, C = kern.C, H = kern.H, D = kern.D, npos = kern.npos, nrel = kern.nrel;
  T *dq = grad_of<T>(in.q), *dk = grad_of<T>(in.k), *dv = grad_of<T>(in.v);
  T* dgk = spec.cope && spec.gates == GateSource::sep_key ? grad_of<T>(in.gate_k) : nullptr;
  std::vector<T> dz(size_t(B * H * L * npos)), dzr(size_t(B * H * L * nrel));
  const T* g = gy.data<T>();
  parallel_for(B * H, 1, L * L * D * 8, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) kern.backward(t / H, t % H, g, sv, dq, dk, dv, dgk, dz.data(), dzr.data());
  });
  T* de = spec.cope ? grad_of<T>(in.e) : nullptr;
  T* dr = spec.rel ? grad_of<T>(in.r) : nullptr;
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const T* Q = kern.q + kern.off(bh / H, bh % H);
    if (de) gemm<T>(true, false, D, npos, L, T(1), Q, C, dz.data() + bh * L * npos, npos, T(1), de, npos);
    if (dr) gemm<T>(true, false, D, nrel, L, T(1), Q, C, dzr.data() + bh * L * nrel, nrel, T(1), dr, nrel);
  }
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
  const int64_t npos = spec.cope ? spec.npos : 0;
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
  return record("attention", y, inputs, [in, spec, sv](const Tensor& gy) {
    dispatch_float(gy.dtype(), "attention_backward", [&](auto tag) { backward_all<decltype(tag)>(in, spec, sv, gy); });
  });
}

}  // namespace mc
