// attention_fused.cpp — the fused attention kernel and its hand-written backward pass,
// in memory linear in the context length.
//
// One task per (batch, head). A head's q, k, v are read in place from the [B, L, C]
// inputs as L x D matrices with row stride C (no transposes, no copies), and its
// gradients are added in place the same way, so tasks write disjoint memory. The
// gradients of e and r, which every head shares, are summed per task and then over the
// tasks in (batch, head) order, so the result does not depend on the thread count.
//
// Memory. A task walks its queries in blocks of kBlock rows. A block [i0, i1) sees keys
// [k0, i1) only (k0 = the first key its first query sees: 0, or where its example starts
// in a packed row), and everything between the products — scores, gates, positions,
// interpolated position logits, softmax — lives in the task's [kBlock, L] scratch rows
// for that block only. The forward pass keeps the output and two numbers per query row
// (the softmax's max and sum); the backward pass recomputes each block's rows from q, k,
// v, e, r and those numbers, with the same code in the same order, so it sees the
// forward pass's bits. Nothing of size B·H·L·L (or B·H·L·npos) is ever stored: a step's
// attention memory is O(B·H·L) plus O(threads · kBlock · L) scratch (each thread keeps
// its own between calls, nn/attention_scratch.h). CoPE's reverse
// cumulative sum, and its backward (a forward cumulative sum), run inside a row, which a
// block holds whole; docs/cope.md ("Linear memory") derives the blocked backward pass.
//
// The products (scores, the tables z = q e and q r, the output a v and their adjoints)
// are BLAS calls on the block; everything between them is a per-row piece of
// nn/attention_rows.h, which the cached form (nn/cached.cpp) runs too.
//
// Naming: L is the context length (T is the element type), D the head size,
// c = 1/sqrt(D). Each step below carries the name docs/cope.md gives it.
#include <cmath>

#include "nn/attention.h"
#include "nn/attention_rows.h"
#include "nn/attention_scratch.h"
#include "tensor/blas.h"

namespace mc {

namespace {

constexpr int64_t kBlock = 64;  // query rows per block

// Everything the forward pass leaves for the backward pass, O(B·H·L).
struct Saved {
  Tensor stats;     // [B,H,L,2]: each query row's softmax max and sum (rows::RowStats)
  Tensor cos, sin;  // [L, D/2] (rope)
};

// A block of queries [i0, i1) and the keys [k0, i1) they see between them.
struct QueryBlock {
  int64_t i0, i1, k0;
  int64_t rows() const { return i1 - i0; }
  int64_t keys() const { return i1 - k0; }
};

// A query row of a block: its keys are columns [first, first + n) of the block's rows,
// and it is query number n - 1 of its example (the i of the per-row pieces).
struct RowSpan {
  int64_t first, n;
  int64_t local() const { return n - 1; }
};

using attention_detail::Scratch;  // a task's rows and tables (nn/attention_scratch.h)

template <class T>
struct Kernel {
  const AttentionSpec& spec;
  int64_t B, L, C, H, D, npos, nrel;
  T c;
  const T *q, *k, *v, *gk, *e, *r, *cosv, *sinv;
  const int64_t* starts;  // [B,L] or null
  double drop;            // attention dropout of this call (AttentionInputs::dropout), 0: none
  uint64_t seed;          // and its seed

  const T* src() const { return spec.gates == GateSource::sep_key ? gk : spec.gates == GateSource::value ? v : k; }
  int64_t off(int64_t b, int64_t h) const { return b * L * C + h * D; }  // a head's first element in [B,L,C]
  int64_t first_key(int64_t b, int64_t i) const { return starts ? starts[b * L + i] : 0; }
  // gates from unrotated keys: their logits q·k are the scores themselves
  bool gates_are_scores() const { return spec.gates == GateSource::key && !spec.rope; }
  // The columns of z = q e and zr = q r a block can reach: a query that sees n keys has
  // positions at most n (n gates of at most 1) and distances at most n - 1.
  int64_t z_cols(const QueryBlock& bl) const { return std::min(npos, bl.keys() + 1); }
  int64_t zr_cols(const QueryBlock& bl) const { return std::min(nrel, bl.keys()); }

  // The block of queries from i0: kBlock rows, or fewer where a new example starts in a
  // packed row, so that no row of a block is multiplied against keys of an earlier
  // example it cannot see (a block that straddled a boundary would compute them and
  // throw them away). Its first row sees the most keys (starts only step up).
  QueryBlock block(int64_t b, int64_t i0) const {
    if (i0 >= L) return {L, L, L};  // past the last row: the end of the walk
    int64_t i1 = std::min(L, i0 + kBlock);
    if (starts)
      for (int64_t i = i0 + 1; i < i1; ++i)
        if (starts[b * L + i] != starts[b * L + i0]) i1 = i;
    return {i0, i1, first_key(b, i0)};
  }
  RowSpan span(int64_t b, const QueryBlock& bl, int64_t row) const {
    const int64_t i = bl.i0 + row, f = first_key(b, i);
    return {f - bl.k0, i - f + 1};
  }

  // Sizes a (kept) scratch for this call: [kBlock, L] rows, the tables, nothing unused.
  void fit(Scratch<T>& sc) const {
    const size_t rows = size_t(std::min(kBlock, L) * L), cope_rows = spec.cope ? rows : 0, rope = spec.rope ? size_t(L * D) : 0;
    for (auto* m : {&sc.s, &sc.d}) m->resize(rows);
    sc.ad.resize(drop > 0 ? rows : 0);
    for (auto* m : {&sc.gl, &sc.g, &sc.pe, &sc.dgl}) m->resize(cope_rows);
    for (auto* m : {&sc.z, &sc.dz}) m->resize(spec.cope ? size_t(kBlock * npos) : 0);
    sc.de.resize(spec.cope ? size_t(D * npos) : 0);
    for (auto* m : {&sc.zr, &sc.dzr}) m->resize(spec.rel ? size_t(kBlock * nrel) : 0);
    sc.dr.resize(spec.rel ? size_t(D * nrel) : 0);
    for (auto* m : {&sc.qr, &sc.kr, &sc.dqr, &sc.dkr}) m->resize(rope);
  }
  // Runs work(scratch) on this thread's kept scratch, fitted to this call.
  template <class Work>
  void with_scratch(const Work& work) const {
    attention_detail::with_thread_scratch<T>([this](Scratch<T>& sc) { fit(sc); }, work);
  }

  // step "rope": out (L x D, contiguous) = x (row stride C), row t rotated by its
  // position in its example, t - starts[t].
  void rope_rows(int64_t b, const T* x, T* out) const {
    const int64_t half = D / 2;
    for (int64_t t = 0; t < L; ++t) {
      const int64_t p = t - first_key(b, t);
      rows::rope_rotate(x + t * C, cosv + p * half, sinv + p * half, half, out + t * D);
    }
  }
  // differentiates rope_rows: dx (row stride C) += R^T g, g contiguous L x D.
  void rope_rows_backward(int64_t b, const T* g, T* dx) const {
    const int64_t half = D / 2;
    for (int64_t t = 0; t < L; ++t) {
      const int64_t p = t - first_key(b, t);
      rows::rope_rotate_backward(g + t * D, cosv + p * half, sinv + p * half, half, dx + t * C);
    }
  }

  // ---- one block's rows, forward ----------------------------------------------------------

  // Steps "scores" to "logits" for block bl of head (b, h): sc.s [rows, keys] the
  // logits of each row over its span (and garbage outside it); for CoPE also sc.g the
  // gates and sc.z [rows, z_cols] the table q e. The backward pass calls this again.
  void logits_block(int64_t b, int64_t h, const QueryBlock& bl, Scratch<T>& sc) const {
    const int64_t o = off(b, h), nr = bl.rows(), nk = bl.keys();
    const T* Q = q + o + bl.i0 * C;
    const T *Qs = Q, *Ks = k + o + bl.k0 * C;  // the q and k of the content logit
    int64_t lds = C;
    if (spec.rope) Qs = sc.qr.data() + bl.i0 * D, Ks = sc.kr.data() + bl.k0 * D, lds = D;
    T* s = sc.s.data();
    gemm<T>(false, true, nr, nk, D, T(1), Qs, lds, Ks, lds, T(0), s, nk);  // step "scores": s = q k^T

    if (spec.cope) {
      // step "gates": g = sigmoid(c q·src); with gates from unrotated keys, q·k is s itself
      const T* gl = s;
      if (!gates_are_scores()) {
        gemm<T>(false, true, nr, nk, D, T(1), Q, C, src() + o + bl.k0 * C, C, T(0), sc.gl.data(), nk);
        gl = sc.gl.data();
      }
      const int64_t nz = z_cols(bl);
      gemm<T>(false, false, nr, nz, D, T(1), Q, C, e, npos, T(0), sc.z.data(), nz);  // step "table": z = q e
      for (int64_t row = 0; row < nr; ++row) {  // steps "gates", "positions", "clamp", "lerp"
        const RowSpan sp = span(b, bl, row);
        const int64_t at = row * nk + sp.first;
        rows::cope_gates_row(gl + at, sp.n, c, sc.g.data() + at);
        rows::position_logits_row(sc.g.data() + at, sc.z.data() + row * nz, sp.local(), npos, sc.pe.data() + at);
      }
    }
    if (spec.rel) {  // step "rel": s[i,j] += q_i·r[min(i-j, nrel-1)]
      const int64_t nzr = zr_cols(bl);
      gemm<T>(false, false, nr, nzr, D, T(1), Q, C, r, nrel, T(0), sc.zr.data(), nzr);
      for (int64_t row = 0; row < nr; ++row) {
        const RowSpan sp = span(b, bl, row);
        rows::add_rel_row(s + row * nk + sp.first, sc.zr.data() + row * nzr, sp.local(), nrel);
      }
    }
    for (int64_t row = 0; row < nr; ++row) {  // step "logits", in place
      const RowSpan sp = span(b, bl, row);
      T* x = s + row * nk + sp.first;
      rows::logits_row(x, spec.cope ? sc.pe.data() + row * nk + sp.first : nullptr, sp.n, c, spec.nodiv, x);
    }
  }

  // step "dropout": row `row` of block weights `a` (in its span) masked and scaled into
  // `out` (which may be `a`), as rows::dropout_keep draws the mask for this call.
  void dropout_block_row(int64_t b, int64_t h, const QueryBlock& bl, int64_t row, const RowSpan& sp, const T* a,
                         T* out) const {
    const int64_t at = row * bl.keys() + sp.first;
    rows::dropout_row(a + at, sp.n, seed, b * H + h, bl.i0 + row, bl.k0 + sp.first, L, drop, T(1.0 / (1.0 - drop)),
                      out + at);
  }

  // Zeroes row `row` of a [rows, keys] block outside its span.
  static void zero_outside(T* m, int64_t nk, int64_t row, const RowSpan& sp) {
    std::fill(m + row * nk, m + row * nk + sp.first, T(0));
    std::fill(m + row * nk + sp.first + sp.n, m + (row + 1) * nk, T(0));
  }

  // One block forward: y rows [i0, i1) and their softmax stats; the trace if asked.
  void forward_block(int64_t b, int64_t h, const QueryBlock& bl, Scratch<T>& sc, T* y, T* stats,
                     AttentionTrace* trace) const {
    const int64_t o = off(b, h), bh = b * H + h, nk = bl.keys();
    logits_block(b, h, bl, sc);
    T* a = sc.s.data();
    for (int64_t row = 0; row < bl.rows(); ++row) {  // step "softmax" over each row's span
      const RowSpan sp = span(b, bl, row);
      const rows::RowStats<T> st = rows::softmax_row(a + row * nk + sp.first, sp.n);
      T* out = stats + (bh * L + bl.i0 + row) * 2;
      out[0] = st.max, out[1] = st.sum;
      zero_outside(a, nk, row, sp);
    }
    if (trace) record_trace(b, h, bl, sc, *trace);  // the weights before dropout
    if (drop > 0)
      for (int64_t row = 0; row < bl.rows(); ++row) dropout_block_row(b, h, bl, row, span(b, bl, row), a, a);
    // step "output": y = a v (a after dropout)
    gemm<T>(false, false, bl.rows(), D, nk, T(1), a, nk, v + o + bl.k0 * C, C, T(0), y + o + bl.i0 * C, C);
  }

  // Copies a block's weights (and CoPE positions, clamped as step "clamp" formed them)
  // into the [B,H,L,L] trace.
  void record_trace(int64_t b, int64_t h, const QueryBlock& bl, const Scratch<T>& sc, AttentionTrace& tr) const {
    const int64_t nk = bl.keys(), bh = b * H + h;
    for (int64_t row = 0; row < bl.rows(); ++row) {
      const int64_t base = (bh * L + bl.i0 + row) * L + bl.k0;
      T* probs = tr.probs.data<T>() + base;
      std::copy(sc.s.data() + row * nk, sc.s.data() + (row + 1) * nk, probs);
      if (!spec.cope) continue;
      const RowSpan sp = span(b, bl, row);
      T* pos = tr.positions.data<T>() + base + sp.first;
      rows::walk_positions(sc.g.data() + row * nk + sp.first, sp.local(), npos,
                           [&](int64_t j, T raw, const rows::LerpPoint<T>&) { pos[j] = rows::clamp_position(raw, npos); });
    }
  }

  void forward(int64_t b, int64_t h, Scratch<T>& sc, T* y, T* stats, AttentionTrace* trace) const {
    if (spec.rope) {  // step "rope": rotate the head's q and k once
      rope_rows(b, q + off(b, h), sc.qr.data());
      rope_rows(b, k + off(b, h), sc.kr.data());
    }
    for (QueryBlock bl = block(b, 0); bl.i0 < L; bl = block(b, bl.i1)) forward_block(b, h, bl, sc, y, stats, trace);
  }

  // ---- one block's rows, backward ---------------------------------------------------------

  // The gradients a task writes: the head's rows of dq, dk, dv, dgk (null: not wanted).
  struct Grads {
    T *dq, *dk, *dv, *dgk;
  };

  // differentiates the CoPE part of logits_block for one block: dz, the gate logits'
  // gradient sc.dgl [rows, keys] (zero outside the spans), dq and de from the table.
  // dlogit: the softmax's input gradient; pe_scale: dpe / dlogit.
  void cope_backward_block(int64_t b, int64_t h, const QueryBlock& bl, Scratch<T>& sc, const T* dlogit, T pe_scale,
                           const Grads& gr) const {
    const int64_t o = off(b, h), nr = bl.rows(), nk = bl.keys(), nz = z_cols(bl);
    T* dgl = sc.dgl.data();
    std::fill_n(sc.dz.data(), nr * nz, T(0));
    for (int64_t row = 0; row < nr; ++row) {
      const RowSpan sp = span(b, bl, row);
      const int64_t at = row * nk + sp.first;
      // steps "lerp" and "clamp" back: dz, and dp (0 where clamped)
      rows::position_logits_row_backward(sc.g.data() + at, sc.z.data() + row * nz, dlogit + at, sp.local(), npos,
                                         pe_scale, sc.dz.data() + row * nz, dgl + at);
      rows::positions_row_backward(dgl + at, sp.n);                   // step "positions" back: dp -> dg
      rows::cope_gates_row_backward(sc.g.data() + at, sp.n, c, dgl + at);  // step "gates" back: dg -> dgate_logit
      zero_outside(dgl, nk, row, sp);
    }
    // The gate logits were q·src: dq += dgl src;  dsrc += dgl^T q. With gates from
    // unrotated keys, the scores' backward (backward_block) takes dgl in with its own.
    const T* Q = q + o + bl.i0 * C;
    if (!gates_are_scores()) {
      T* dsrc = spec.gates == GateSource::sep_key ? gr.dgk : spec.gates == GateSource::value ? gr.dv : gr.dk;
      const T* S = src() + o + bl.k0 * C;
      if (gr.dq) gemm<T>(false, false, nr, D, nk, T(1), dgl, nk, S, C, T(1), gr.dq + o + bl.i0 * C, C);
      if (dsrc) gemm<T>(true, false, nk, D, nr, T(1), dgl, nk, Q, C, T(1), dsrc + o + bl.k0 * C, C);
    }
    // step "table" back: z = q e, so dq += dz e^T and de += q^T dz (this task's share)
    if (gr.dq) gemm<T>(false, true, nr, D, nz, T(1), sc.dz.data(), nz, e, npos, T(1), gr.dq + o + bl.i0 * C, C);
    gemm<T>(true, false, D, nz, nr, T(1), Q, C, sc.dz.data(), nz, T(1), sc.de.data(), npos);
  }

  // differentiates the rel part of logits_block: dzr, then dq and dr.
  void rel_backward_block(int64_t b, int64_t h, const QueryBlock& bl, Scratch<T>& sc, const T* dlogit,
                          const Grads& gr) const {
    const int64_t o = off(b, h), nr = bl.rows(), nk = bl.keys(), nzr = zr_cols(bl);
    std::fill_n(sc.dzr.data(), nr * nzr, T(0));
    for (int64_t row = 0; row < nr; ++row) {  // step "rel" back: dzr[i, min(i-j, nrel-1)] += c dlogit[i,j]
      const RowSpan sp = span(b, bl, row);
      rows::add_rel_row_backward(dlogit + row * nk + sp.first, sp.local(), nrel, c, sc.dzr.data() + row * nzr);
    }
    const T* Q = q + o + bl.i0 * C;
    if (gr.dq) gemm<T>(false, true, nr, D, nzr, T(1), sc.dzr.data(), nzr, r, nrel, T(1), gr.dq + o + bl.i0 * C, C);
    gemm<T>(true, false, D, nzr, nr, T(1), Q, C, sc.dzr.data(), nzr, T(1), sc.dr.data(), nrel);
  }

  // One block backward. gy: [B,L,C] the output's gradient; stats: the forward's.
  void backward_block(int64_t b, int64_t h, const QueryBlock& bl, Scratch<T>& sc, const T* gy, const T* stats,
                      const Grads& gr) const {
    const int64_t o = off(b, h), bh = b * H + h, nr = bl.rows(), nk = bl.keys();
    const T *Q = q + o + bl.i0 * C, *K = k + o + bl.k0 * C, *V = v + o + bl.k0 * C, *dY = gy + o + bl.i0 * C;
    // the forward's rows again: logits, then the weights a from the saved stats
    logits_block(b, h, bl, sc);
    T* a = sc.s.data();
    for (int64_t row = 0; row < nr; ++row) {
      const RowSpan sp = span(b, bl, row);
      const T* st = stats + (bh * L + bl.i0 + row) * 2;
      rows::softmax_row_replay(a + row * nk + sp.first, sp.n, rows::RowStats<T>{st[0], st[1]});
      zero_outside(a, nk, row, sp);
    }
    // step "output" back: da = dy v^T;  dv += a^T dy
    T* d = sc.d.data();
    gemm<T>(false, true, nr, nk, D, T(1), dY, C, V, C, T(0), d, nk);
    const T* kept = a;  // the weights y was made from
    if (drop > 0) {     // step "dropout" back: y came from the masked a, so da is masked too
      for (int64_t row = 0; row < nr; ++row) {
        const RowSpan sp = span(b, bl, row);
        dropout_block_row(b, h, bl, row, sp, a, sc.ad.data());
        zero_outside(sc.ad.data(), nk, row, sp);
        dropout_block_row(b, h, bl, row, sp, d, d);
      }
      kept = sc.ad.data();
    }
    if (gr.dv) gemm<T>(true, false, nk, D, nr, T(1), kept, nk, dY, C, T(1), gr.dv + o + bl.k0 * C, C);
    // step "softmax" back: dlogit = a (da - a·da), in place
    for (int64_t row = 0; row < nr; ++row) {
      const RowSpan sp = span(b, bl, row);
      rows::softmax_row_backward(a + row * nk + sp.first, d + row * nk + sp.first, sp.n);
      zero_outside(d, nk, row, sp);
    }
    const T* dlogit = d;
    // step "logits" back: ds = c dlogit; drel = c dlogit; dpe = c dlogit (or dlogit with nodiv)
    if (spec.cope) cope_backward_block(b, h, bl, sc, dlogit, spec.nodiv ? T(1) : c, gr);
    if (spec.rel) rel_backward_block(b, h, bl, sc, dlogit, gr);
    // step "scores" back: s = qs ks^T, ds = c dlogit: dqs += ds ks;  dks += ds^T qs.
    // With gates from unrotated keys the gate logits' gradient joins it: d(q·k) = ds + dgl.
    const T* ds = d;
    T alpha = c;
    if (spec.cope && gates_are_scores()) {
      T* sum = sc.dgl.data();
      for (int64_t n = 0; n < nr * nk; ++n) sum[n] += c * d[n];
      ds = sum, alpha = T(1);
    }
    if (!spec.rope) {
      if (gr.dq) gemm<T>(false, false, nr, D, nk, alpha, ds, nk, K, C, T(1), gr.dq + o + bl.i0 * C, C);
      if (gr.dk) gemm<T>(true, false, nk, D, nr, alpha, ds, nk, Q, C, T(1), gr.dk + o + bl.k0 * C, C);
    } else {  // the gradients of the rotated q and k, rotated back after the last block
      gemm<T>(false, false, nr, D, nk, alpha, ds, nk, sc.kr.data() + bl.k0 * D, D, T(1), sc.dqr.data() + bl.i0 * D, D);
      gemm<T>(true, false, nk, D, nr, alpha, ds, nk, sc.qr.data() + bl.i0 * D, D, T(1), sc.dkr.data() + bl.k0 * D, D);
    }
  }

  void backward(int64_t b, int64_t h, Scratch<T>& sc, const T* gy, const T* stats, const Grads& gr) const {
    if (spec.rope) {
      rope_rows(b, q + off(b, h), sc.qr.data());
      rope_rows(b, k + off(b, h), sc.kr.data());
      std::fill(sc.dqr.begin(), sc.dqr.end(), T(0));
      std::fill(sc.dkr.begin(), sc.dkr.end(), T(0));
    }
    for (QueryBlock bl = block(b, 0); bl.i0 < L; bl = block(b, bl.i1)) backward_block(b, h, bl, sc, gy, stats, gr);
    if (spec.rope) {  // step "rope" back: the gradients of the rotated q and k are rotated back
      if (gr.dq) rope_rows_backward(b, sc.dqr.data(), gr.dq + off(b, h));
      if (gr.dk) rope_rows_backward(b, sc.dkr.data(), gr.dk + off(b, h));
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
                   spec.rope ? sv.cos.template data<T>() : nullptr, spec.rope ? sv.sin.template data<T>() : nullptr,
                   in.starts.defined() ? in.starts.data<int64_t>() : nullptr, in.dropout, in.dropout_seed};
}

// x's gradient buffer, or null where x takes no gradient.
template <class T>
T* grad_of(const Var& x) {
  return x.defined() && x.requires_grad() ? x.grad_buffer().template data<T>() : nullptr;
}

// The backward pass of attention_fused, gy [B,L,C]: every (batch, head) in parallel,
// each with its own share of de and dr, then the shares summed in (b, h) order.
template <class T>
void backward_all(const AttentionInputs& in, const AttentionSpec& spec, const Saved& sv, const Tensor& gy) {
  const Kernel<T> kern = make_kernel<T>(in, spec, sv);
  const int64_t BH = kern.B * kern.H, L = kern.L, D = kern.D;
  typename Kernel<T>::Grads gr{grad_of<T>(in.q), grad_of<T>(in.k), grad_of<T>(in.v),
                               spec.cope && spec.gates == GateSource::sep_key ? grad_of<T>(in.gate_k) : nullptr};
  std::vector<Scratch<T>> shares(static_cast<size_t>(BH));  // de and dr per task; the rest per chunk
  parallel_for(BH, 1, L * L * D * 10, [&](int64_t t0, int64_t t1) {
    kern.with_scratch([&](Scratch<T>& sc) {
      for (int64_t t = t0; t < t1; ++t) {
        std::fill(sc.de.begin(), sc.de.end(), T(0));
        std::fill(sc.dr.begin(), sc.dr.end(), T(0));
        kern.backward(t / kern.H, t % kern.H, sc, gy.data<T>(), sv.stats.data<T>(), gr);
        shares[size_t(t)].de = sc.de, shares[size_t(t)].dr = sc.dr;
      }
    });
  });
  // a shared table's gradient: the tasks' shares added in task order
  const auto sum_shares = [&](std::vector<T> Scratch<T>::*share, T* grad) {
    for (size_t t = 0; grad && t < shares.size(); ++t)
      for (size_t n = 0; n < (shares[t].*share).size(); ++n) grad[n] += (shares[t].*share)[n];
  };
  sum_shares(&Scratch<T>::de, spec.cope ? grad_of<T>(in.e) : nullptr);
  sum_shares(&Scratch<T>::dr, spec.rel ? grad_of<T>(in.r) : nullptr);
}

}  // namespace

Var attention_fused(const AttentionInputs& in, const AttentionSpec& spec, AttentionTrace* trace) {
  check_attention(in, spec);
  const int64_t B = in.q.size(0), L = in.q.size(1), C = in.q.size(2), H = spec.heads, D = C / H;
  const DType dt = in.q.dtype();
  Tensor y({B, L, C}, dt);
  Saved sv;
  sv.stats = Tensor({B, H, L, 2}, dt);
  if (spec.rope) {
    sv.cos = rope_cos_sin(L, D, spec.rope_base, dt, false);
    sv.sin = rope_cos_sin(L, D, spec.rope_base, dt, true);
  }
  if (trace) {
    trace->probs = Tensor::zeros({B, H, L, L}, dt);
    if (spec.cope) trace->positions = Tensor::zeros({B, H, L, L}, dt);
  }

  dispatch_float(dt, "attention", [&](auto tag) {
    using T = decltype(tag);
    const Kernel<T> kern = make_kernel<T>(in, spec, sv);
    parallel_for(B * H, 1, L * L * D * 4, [&](int64_t t0, int64_t t1) {
      kern.with_scratch([&](Scratch<T>& sc) {
        for (int64_t t = t0; t < t1; ++t) kern.forward(t / H, t % H, sc, y.data<T>(), sv.stats.data<T>(), trace);
      });
    });
  });

  std::vector<Var> inputs{in.q, in.k, in.v};
  if (spec.cope) inputs.push_back(in.e);
  if (spec.cope && spec.gates == GateSource::sep_key) inputs.push_back(in.gate_k);
  if (spec.rel) inputs.push_back(in.r);
  return record("attention", y, inputs, [in, spec, sv](const Tensor& gy) {
    dispatch_float(gy.dtype(), "attention_backward", [&](auto tag) { backward_all<decltype(tag)>(in, spec, sv, gy); });
  });
}

}  // namespace mc
