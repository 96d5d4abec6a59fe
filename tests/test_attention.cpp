// test_attention.cpp — the fused attention kernel: against the composed form, against
// the official formulation's reference values, and CoPE's special points (the clamp,
// integer positions, saturated gates), plus the hand example of docs/cope.md; the
// cached form against the fused one; the per-row pieces of nn/attention_rows.h.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/attention.h"
#include "nn/attention_rows.h"
#include "nn/checks.h"

using namespace mc;

namespace {

using Variant = AttentionVariant;
std::vector<Variant> variants(int64_t heads, int64_t npos) { return attention_variants(heads, npos); }

// Outputs and gradients of sum(y * R) for one form, on fresh leaves of dtype dt.
std::vector<Tensor> run(bool fused, const AttentionCase& c, const AttentionSpec& spec, DType dt) {
  std::vector<Var> vars;
  for (const Tensor& t : c.tensors) vars.emplace_back(t.to(dt), true);
  const AttentionInputs in = c.as_inputs(vars);
  Var y = fused ? attention_fused(in, spec) : attention_composed(in, spec);
  Generator g(99);
  Var R(Tensor::normal(y.shape(), 0, 1, g, dt));
  sum(mul(y, R)).backward();
  std::vector<Tensor> out{y.value()};
  for (const Var& v : vars) out.push_back(v.grad());
  return out;
}

double scaled_diff(const Tensor& a, const Tensor& b) {
  double scale = 1.0;
  for (double x : b.to_vector()) scale = std::max(scale, std::fabs(x));
  return max_abs_diff(a, b) / scale;
}

}  // namespace

TEST_CASE("fused and composed attention agree: outputs and every gradient") {
  struct Size { int64_t B, H, L, D, npos; };
  const Size sizes[] = {{2, 2, 5, 4, 6}, {1, 1, 1, 2, 2}, {2, 3, 7, 4, 3}, {1, 2, 70, 4, 71}, {3, 1, 9, 6, 4},
                        {1, 1, 150, 4, 40}};  // three blocks of query rows, positions clamped
  for (const Size& z : sizes)
    for (const Variant& v : variants(z.H, z.npos)) {
      const AttentionCase c = make_attention_case(v.spec, z.B, z.L, z.D, 7, 0.0, true);
      for (DType dt : {DType::f64, DType::f32}) {
        const auto fused = run(true, c, v.spec, dt), composed = run(false, c, v.spec, dt);
        REQUIRE(fused.size() == composed.size());
        for (size_t i = 0; i < fused.size(); ++i) {
          INFO(v.name << " B" << z.B << " H" << z.H << " L" << z.L << " D" << z.D << " npos" << z.npos << " "
                      << dtype_name(dt) << " tensor " << i);
          CHECK(scaled_diff(fused[i], composed[i]) < (dt == DType::f64 ? 1e-12 : 1e-5));
        }
      }
    }
}

TEST_CASE("the scratch each thread keeps between calls changes no bit of a later call") {
  // Each variant small, in turn; then each again right after a large call of the same
  // variant, which leaves the kept buffers full of its own values: the same bits as the
  // first time, in f64 and f32. A read of a scratch value that the call had not written
  // would see the large call's values the second time.
  const std::vector<Variant> small = variants(2, 9), large = variants(2, 140);
  for (DType dt : {DType::f64, DType::f32}) {
    std::vector<std::vector<Tensor>> first;
    std::vector<AttentionCase> cases;
    for (const Variant& v : small) {
      cases.push_back(make_attention_case(v.spec, 2, 8, 4, 11, 0.0, true));
      first.push_back(run(true, cases.back(), v.spec, dt));
    }
    for (size_t n = 0; n < small.size(); ++n) {
      run(true, make_attention_case(large[n].spec, 2, 139, 4, 12, 0.0, true), large[n].spec, dt);
      const auto again = run(true, cases[n], small[n].spec, dt);
      for (size_t i = 0; i < again.size(); ++i) {
        INFO(small[n].name << " " << dtype_name(dt) << " tensor " << i);
        CHECK(max_abs_diff(again[i], first[n][i]) == 0.0);
      }
    }
  }
}

TEST_CASE("attention dropout: fused and composed draw the same mask; it drops about p of the weights") {
  struct Size { int64_t B, H, L, D, npos; };
  for (const Size& z : {Size{2, 2, 5, 4, 6}, Size{1, 2, 70, 4, 71}, Size{1, 1, 150, 4, 40}})
    for (const Variant& v : variants(z.H, z.npos)) {
      AttentionCase c = make_attention_case(v.spec, z.B, z.L, z.D, 7, 0.0, true);
      const auto plain = run(true, c, v.spec, DType::f64);
      c.dropout = 0.25, c.dropout_seed = 5;
      const auto fused = run(true, c, v.spec, DType::f64), composed = run(false, c, v.spec, DType::f64);
      REQUIRE(fused.size() == composed.size());
      for (size_t i = 0; i < fused.size(); ++i) {
        INFO(v.name << " L" << z.L << " tensor " << i);
        CHECK(scaled_diff(fused[i], composed[i]) < 1e-12);
      }
      CHECK(scaled_diff(fused[0], plain[0]) > 1e-3);  // the mask does something
      c.dropout_seed = 6;                             // another seed, another mask
      CHECK(scaled_diff(run(true, c, v.spec, DType::f64)[0], fused[0]) > 1e-3);
    }
  // the mask keeps 1 - p of the weights, independently of where they are
  int64_t kept = 0, n = 0;
  for (int64_t bh = 0; bh < 4; ++bh)
    for (int64_t i = 0; i < 100; ++i)
      for (int64_t j = 0; j <= i; ++j) kept += rows::dropout_keep(3, bh, i, j, 100, 0.3), ++n;
  CHECK(double(kept) / double(n) == doctest::Approx(0.7).epsilon(0.02));
  AttentionCase c = make_attention_case(variants(2, 6)[3].spec, 2, 5, 4, 7);
  c.dropout = 1.0;
  std::vector<Var> vars;
  for (const Tensor& t : c.tensors) vars.emplace_back(t);
  CHECK_THROWS_WITH(attention_fused(c.as_inputs(vars), variants(2, 6)[3].spec), doctest::Contains("dropout must be in [0, 1)"));
}

TEST_CASE("a packed row computes what its examples compute alone, under every encoding and option") {
  // One row of 150 tokens: examples of 70, 53 and 19 tokens (the first and second cross
  // the kernel's 64-row blocks), then 8 tokens of padding, an example of its own. npos 30
  // clamps the long examples' positions.
  const std::vector<int64_t> lengths{70, 53, 19, 8};
  const int64_t L = 150, D = 4;
  std::vector<int64_t> st;
  for (int64_t n : lengths)
    for (int64_t t = 0; t < n; ++t) st.push_back(int64_t(st.size()) - t);
  const Tensor starts = Tensor::indices(st, {1, L});
  for (const Variant& v : variants(2, 30)) {
    const AttentionCase packed = make_attention_case(v.spec, 1, L, D, 5, 0.0, true, starts);
    const auto whole = run(true, packed, v.spec, DType::f64);  // y, then the gradient of each input
    int64_t at = 0;
    std::vector<Tensor> shared_sum(whole.size());  // e and r: the examples' gradients add up
    for (int64_t n : lengths) {
      AttentionCase alone = packed;
      alone.starts = Tensor();
      for (int i = 0; i < 3 || i == alone.gate_k; ++i)
        alone.tensors[size_t(i)] = slice(Var(packed.tensors[size_t(i)]), 1, at, at + n).value();
      // sum(y * R) with R the packed run's weights on these rows
      std::vector<Var> vars;
      for (const Tensor& t : alone.tensors) vars.emplace_back(t, true);
      Var y = attention_fused(alone.as_inputs(vars), v.spec);
      Generator g(99);
      const Tensor R = slice(Var(Tensor::normal(whole[0].shape(), 0, 1, g, DType::f64)), 1, at, at + n).value();
      sum(mul(y, Var(R))).backward();
      INFO(v.name << ", the example at " << at << " of " << n << " tokens");
      CHECK(scaled_diff(slice(Var(whole[0]), 1, at, at + n).value(), y.value()) < 1e-12);
      for (size_t i = 0; i < vars.size(); ++i) {
        if (int(i) < 3 || int(i) == alone.gate_k) {
          CHECK(scaled_diff(slice(Var(whole[i + 1]), 1, at, at + n).value(), vars[i].grad()) < 1e-12);
        } else {
          shared_sum[i + 1] = shared_sum[i + 1].defined() ? add(Var(shared_sum[i + 1]), Var(vars[i].grad())).value()
                                                          : vars[i].grad();
        }
      }
      at += n;
    }
    for (size_t i = 1; i < whole.size(); ++i)
      if (shared_sum[i].defined()) {
        INFO(v.name << ": the gradient of the shared table " << i - 1);
        CHECK(scaled_diff(whole[i], shared_sum[i]) < 1e-12);
      }
  }
}

TEST_CASE("attention refuses starts that do not describe packed examples") {
  const AttentionSpec spec = variants(1, 4)[3].spec;  // cope
  const AttentionCase c = make_attention_case(spec, 1, 4, 2, 3);
  std::vector<Var> vars;
  for (const Tensor& t : c.tensors) vars.emplace_back(t);
  auto with = [&](const Tensor& starts) {
    AttentionInputs in = c.as_inputs(vars);
    in.starts = starts;
    return in;
  };
  CHECK_NOTHROW(attention_fused(with(Tensor::indices({0, 0, 2, 3}, {1, 4})), spec));
  CHECK_THROWS_AS(attention_fused(with(Tensor::indices({0, 0, 1, 1}, {1, 4})), spec), ShapeError);  // 1 is neither 2 nor 0
  CHECK_THROWS_AS(attention_fused(with(Tensor::indices({1, 1, 2, 3}, {1, 4})), spec), ShapeError);  // past its token
  CHECK_THROWS_AS(attention_fused(with(Tensor::indices({0, 0, 2}, {1, 3})), spec), ShapeError);     // wrong shape
  CHECK_THROWS_AS(attention_fused(with(Tensor::zeros({1, 4})), spec), ShapeError);                   // not i64
}

TEST_CASE("gradcheck: the fused kernel under every encoding and option, several sizes") {
  for (auto [B, H, L, D, npos] : {std::array<int64_t, 5>{1, 1, 1, 2, 2}, {2, 2, 4, 2, 3}, {1, 2, 6, 4, 7}})
    for (const Variant& v : variants(H, npos)) {
      const AttentionCase c = make_attention_case(v.spec, B, L, D, 31);
      const auto r = gradcheck([&](const std::vector<Var>& x) { return attention_fused(c.as_inputs(x), v.spec); }, c.tensors);
      INFO(v.name << " L" << L << ": " << r.message);
      CHECK(r.pass);
    }
}

TEST_CASE("with every gate 1, CoPE positions count the keys from j to i") {
  // q = k = a large constant: q·k / sqrt(D) = 800, and sigmoid(800) is exactly 1.0.
  const int64_t L = 6, D = 4;
  AttentionSpec spec;
  spec.cope = true;
  spec.npos = L + 1;
  Var q(Tensor::full({1, L, D}, 20.0, DType::f64)), v(Tensor::ones({1, L, D}, DType::f64)),
      e(Tensor::zeros({D, L + 1}, DType::f64));
  AttentionTrace trace;
  attention_fused({q, q, v, Var(), e, Var()}, spec, &trace);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < L; ++j) CHECK(trace.positions.at({0, 0, i, j}) == (j <= i ? double(i - j + 1) : 0.0));
}

TEST_CASE("the gradient through a clamped position is exactly zero") {
  // One head, D = 2, three tokens, gates from separate keys. Every gate logit of query 2
  // is c q2·gk = 2/sqrt(2), so g = 0.804: p[2,2] = 0.804, p[2,1] = 1.608, p[2,0] = 2.41.
  // With npos = 2 (clamp at 1) p[2,1] and p[2,0] are clamped, so the output of query 2
  // cannot depend on g[2,0] and g[2,1]: the gradients of gate keys 0 and 1 (which only
  // reach query 2's output through those gates) are exactly zero.
  AttentionSpec spec;
  spec.cope = true;
  spec.gates = GateSource::sep_key;
  Var q(Tensor::from({0.3, -0.2, 0.1, 0.4, 1, 1}, {1, 3, 2}, DType::f64), true);
  Var k(Tensor::from({0.5, -1, 0.2, 0.7, -0.3, 0.9}, {1, 3, 2}, DType::f64), true);
  Var v(Tensor::from({1, 2, -1, 0.5, 0.3, -0.7}, {1, 3, 2}, DType::f64), true);
  Var e(Tensor::from({0.1, 0.9, -0.4, 0.6, 1.3, -0.8}, {2, 3}, DType::f64), true);
  Var gk(Tensor::ones({1, 3, 2}, DType::f64), true);
  auto grad_of_last_query = [&](int64_t npos) {
    spec.npos = npos;
    gk.zero_grad();
    Var ev = npos == 2 ? Var(slice(e.value(), 1, 0, 2), true) : e;
    Var y = attention_fused({q, k, v, gk, ev, Var()}, spec);
    sum(slice(y, 1, 2, 3)).backward();  // only query 2's output
    return gk.grad().to_vector();
  };
  const auto clamped = grad_of_last_query(2);
  for (int i = 0; i < 4; ++i) CHECK(clamped[size_t(i)] == 0.0);  // gate keys 0 and 1: exactly zero
  CHECK(std::fabs(clamped[4]) + std::fabs(clamped[5]) > 1e-3);    // gate key 2 (p[2,2] not clamped)
  const auto free = grad_of_last_query(3);                         // clamp at 2: p[2,0] = 2.41 still clamped
  CHECK(free[0] == 0.0);
  CHECK(std::fabs(free[2]) > 1e-4);  // gate key 1: p[2,1] = 1.608 < 2 now counts
}

TEST_CASE("the output is continuous across an integer position") {
  // Scale the gate keys so that p[1,0] = g[1,0] + g[1,1] crosses 1.0, and compare the
  // outputs just below and just above the crossing.
  AttentionSpec spec;
  spec.cope = true;
  spec.npos = 3;
  spec.gates = GateSource::sep_key;
  const Var q(Tensor::from({0.4, 0.1, 0.2, 0.3}, {1, 2, 2}, DType::f64)), k(Tensor::from({1, 0, 0, 1}, {1, 2, 2}, DType::f64)),
      v(Tensor::from({1, -1, 2, 0.5}, {1, 2, 2}, DType::f64)), e(Tensor::from({0.5, -1, 2, 1, 0.3, -0.6}, {2, 3}, DType::f64));
  auto at = [&](double scale, double* p10) {
    Var gk(Tensor::from({scale, scale, scale, scale}, {1, 2, 2}, DType::f64));
    AttentionTrace tr;
    Var y = attention_fused({q, k, v, gk, e, Var()}, spec, &tr);
    if (p10) *p10 = tr.positions.at({0, 0, 1, 0});
    return y.value();
  };
  double lo = -5, hi = 5, p = 0;  // p[1,0] rises with the scale: bisect for p = 1
  for (int it = 0; it < 200; ++it) {
    const double mid = (lo + hi) / 2;
    at(mid, &p);
    (p < 1.0 ? lo : hi) = mid;
  }
  double p_below = 0, p_above = 0;
  const Tensor below = at(lo, &p_below), above = at(hi, &p_above);
  CHECK(p_below < 1.0);
  CHECK(p_above >= 1.0);
  CHECK(max_abs_diff(below, above) < 1e-12);
  // and away from the crossing the output does move: the check above is not vacuous
  CHECK(max_abs_diff(at(lo - 0.5, nullptr), above) > 1e-4);
}

TEST_CASE("the hand example of docs/cope.md") {
  // 3 tokens, one head of size 2, npos 4, gates from keys; dy = 1 on y[2][0] only.
  AttentionSpec spec;
  spec.cope = true;
  spec.npos = 4;
  Var q(Tensor::from({1, 0, 0.5, 1, 1, 1}, {1, 3, 2}, DType::f64), true);
  Var k(Tensor::from({1, 0, 0, 1, 1, -1}, {1, 3, 2}, DType::f64), true);
  Var v(Tensor::from({1, 0, 0, 1, 1, 1}, {1, 3, 2}, DType::f64), true);
  Var e(Tensor::from({0, 1, 2, 3, 0, -1, 0, 1}, {2, 4}, DType::f64), true);
  AttentionTrace tr;
  Var y = attention_fused({q, k, v, Var(), e, Var()}, spec, &tr);
  auto near = [](const Tensor& t, std::vector<double> want) {
    const auto got = t.to_vector();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
  };
  near(tr.positions.reshape({9}), {0.669762, 0, 0, 1.257241, 0.669762, 0, 1.839523, 1.169762, 0.5});
  near(tr.probs.reshape({9}), {1, 0, 0, 0.450793, 0.549207, 0, 0.650092, 0.252126, 0.097782});
  near(y.value(), {1, 0, 0.4507934102688173, 0.5492065897311827, 0.7478742174422502, 0.34990795098564603});
  sum(mul(y, Var(Tensor::from({0, 0, 0, 0, 1, 0}, {1, 3, 2}, DType::f64)))).backward();
  near(q.grad(), {0, 0, 0, 0, 0.22936877456138333, -0.06667186245195718});
  near(k.grad(), {0.1521509804465945, 0.1521509804465945, -0.13878376905966835, -0.13878376905966835,
                  0.011269238940847023, 0.011269238940847023});
  near(v.grad(), {0.650092049014354, 0, 0.2521257825577498, 0, 0.09778216842789622, 0});
  near(e.grad(), {0.008716295187308144, -0.0833811455485582, 0.07466485036125001, 0, 0.008716295187308144,
                  -0.0833811455485582, 0.07466485036125001, 0});
}

TEST_CASE("attention refuses inputs that do not fit") {
  AttentionSpec spec;
  spec.heads = 3;
  Var x(Tensor::ones({1, 2, 4}));
  CHECK_THROWS_WITH_AS(attention_fused({x, x, x, Var(), Var(), Var()}, spec),
                       "attention: width 4 is not divisible by 3 heads", ShapeError);
  spec.heads = 2;
  spec.cope = true;
  spec.npos = 3;
  CHECK_THROWS_WITH_AS(attention_fused({x, x, x, Var(), Var(), Var()}, spec), "attention: cope needs e of shape [2,3]",
                       ShapeError);
  spec.npos = 0;
  CHECK_THROWS_AS(attention_fused({x, x, x, Var(), Var(Tensor::ones({2, 1})), Var()}, spec), ShapeError);
}

TEST_CASE("the cached form computes the fused kernel's rows, under every encoding and option") {
  // q of the n newest tokens against the whole sequence's k, v, gate keys: the last n
  // rows of attention_fused. L = 70 spans two causal blocks; npos 3 clamps.
  struct Size { int64_t B, H, L, D, npos; };
  const Size sizes[] = {{2, 2, 5, 4, 6}, {1, 1, 1, 2, 2}, {2, 3, 9, 4, 3}, {1, 2, 70, 4, 71}};
  double worst[2] = {0, 0};
  for (const Size& z : sizes)
    for (const Variant& v : variants(z.H, z.npos)) {
      const AttentionCase c = make_attention_case(v.spec, z.B, z.L, z.D, 7, 0.0, true);
      for (DType dt : {DType::f64, DType::f32}) {
        std::vector<Var> vars;
        for (const Tensor& t : c.tensors) vars.emplace_back(t.to(dt));
        const AttentionInputs in = c.as_inputs(vars);
        const Tensor full = attention_fused(in, v.spec).value();
        auto value = [](const Var& x) { return x.defined() ? x.value() : Tensor(); };
        for (int64_t n : {z.L, int64_t(1), std::min<int64_t>(3, z.L)}) {
          const Tensor y = attention_cached(slice(in.q.value(), 1, z.L - n, z.L), in.k.value(), in.v.value(), value(in.gate_k),
                                            value(in.e), value(in.r), v.spec);
          const double d = scaled_diff(y, slice(full, 1, z.L - n, z.L));
          worst[dt == DType::f32] = std::max(worst[dt == DType::f32], d);
          INFO(v.name << " B" << z.B << " H" << z.H << " L" << z.L << " D" << z.D << " npos" << z.npos << " n" << n << " "
                      << dtype_name(dt));
          CHECK(d < (dt == DType::f64 ? 1e-13 : 1e-5));
        }
      }
    }
  std::printf("attention_cached vs attention_fused, scaled max diff: f64 %.3g, f32 %.3g\n", worst[0], worst[1]);
}

namespace {
std::vector<double> random_vector(size_t n, Generator& g) { return Tensor::normal({int64_t(n)}, 0, 1, g, DType::f64).to_vector(); }
double dot_of(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t n = 0; n < a.size(); ++n) s += a[n] * b[n];
  return s;
}
}  // namespace

TEST_CASE("attention_rows: the linear pieces' backward passes are their adjoints") {
  // For a linear map J and its backward piece J^T: <J x, g> = <x, J^T g>.
  Generator gen(3);
  const int64_t half = 3, i = 6, nrel = 4, n = i + 1;
  // rope_rotate / rope_rotate_backward, at angles of position 5
  const Tensor cs = rope_cos_sin(6, 2 * half, 10000.0, DType::f64, false), sn = rope_cos_sin(6, 2 * half, 10000.0, DType::f64, true);
  const double *c5 = cs.data<double>() + 5 * half, *s5 = sn.data<double>() + 5 * half;
  std::vector<double> x = random_vector(2 * half, gen), g = random_vector(2 * half, gen), rx(2 * half), rtg(2 * half, 0.0);
  rows::rope_rotate(x.data(), c5, s5, half, rx.data());
  rows::rope_rotate_backward(g.data(), c5, s5, half, rtg.data());
  CHECK(dot_of(rx, g) == doctest::Approx(dot_of(x, rtg)).epsilon(1e-14));
  CHECK(dot_of(rx, rx) == doctest::Approx(dot_of(x, x)).epsilon(1e-14));  // a rotation keeps the length
  // add_rel_row / add_rel_row_backward (c = 1): s[j] += zr[min(i-j, nrel-1)]
  std::vector<double> zr = random_vector(nrel, gen), gs = random_vector(n, gen), s(n, 0.0), dzr(nrel, 0.0);
  rows::add_rel_row(s.data(), zr.data(), i, nrel);
  rows::add_rel_row_backward(gs.data(), i, nrel, 1.0, dzr.data());
  CHECK(dot_of(s, gs) == doctest::Approx(dot_of(zr, dzr)).epsilon(1e-14));
  CHECK(s[0] == zr[nrel - 1]);  // distances past the cap share the last column
  CHECK(s[i] == zr[0]);
  // the reverse cumulative sum of walk_positions (npos large: no clamp) / positions_row_backward
  std::vector<double> gates = random_vector(n, gen), raw(n), dp = random_vector(n, gen), dg = dp;
  rows::walk_positions(gates.data(), i, 1000, [&](int64_t j, double r, const rows::LerpPoint<double>&) { raw[size_t(j)] = r; });
  rows::positions_row_backward(dg.data(), n);
  CHECK(dot_of(raw, dp) == doctest::Approx(dot_of(gates, dg)).epsilon(1e-14));
}

TEST_CASE("attention_rows: positions, interpolation, softmax") {
  // gates 0.5 each: key j sits at (i-j+1)/2, clamped at npos-1 = 2
  const double g[6] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
  const double z[3] = {10, 20, 40};
  double pe[6];
  rows::position_logits_row(g, z, 5, 3, pe);
  // positions of j = 5..0: 0.5, 1, 1.5, 2, 2.5 -> 2, 3 -> 2
  CHECK(pe[5] == 15.0);
  CHECK(pe[4] == 20.0);  // integer: lo = hi = 1, w = 0
  CHECK(pe[3] == 30.0);
  CHECK(pe[2] == 40.0);
  CHECK(pe[1] == 40.0);
  CHECK(pe[0] == 40.0);
  const auto at = rows::lerp_point(1.25);
  CHECK((at.lo == 1 && at.hi == 2 && at.w == 0.25));
  // the gradient through the clamped keys (j = 0, 1) is exactly zero, through the others not
  double dz[3] = {0, 0, 0}, dp[6];
  const double dlogit[6] = {1, 1, 1, 1, 1, 1};
  rows::position_logits_row_backward(g, z, dlogit, 5, 3, 1.0, dz, dp);
  CHECK(dp[0] == 0.0);   // clamped (raw 3)
  CHECK(dp[1] == 0.0);   // clamped (raw 2.5)
  CHECK(dp[2] == 0.0);   // raw 2 = npos-1, not clamped, but lo = hi: z[2] - z[2]
  CHECK(dp[3] == 20.0);  // z[2] - z[1]
  CHECK(dp[4] == 0.0);   // an integer position: lo = hi
  CHECK(dp[5] == 10.0);  // z[1] - z[0]
  CHECK(dz[0] + dz[1] + dz[2] == 6.0);  // each key's (1-w) + w = 1
  // softmax_row: sums to 1, shift-invariant, and softmax_row_backward of a constant is 0
  for (float shift : {0.0f, 100.0f}) {
    float row[4] = {1 + shift, 2 + shift, 3 + shift, 4 + shift};
    rows::softmax_row(row, 4);
    CHECK(row[0] + row[1] + row[2] + row[3] == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(row[3] / row[2] == doctest::Approx(std::exp(1.0)).epsilon(1e-5));
    float d[4] = {2, 2, 2, 2};
    rows::softmax_row_backward(row, d, 4);
    for (float x : d) CHECK(std::fabs(x) < 1e-6f);
  }
}
