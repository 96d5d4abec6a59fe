// test_autograd.cpp — the tape: backward by hand-worked examples, accumulation,
// no-grad, detach, requires-grad propagation, and the fused ops' forward values.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"

using namespace mc;

namespace {
Var leaf(std::initializer_list<double> v, const Shape& s, DType d = DType::f64) { return Var(Tensor::from(v, s, d), true); }
void check_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-9) {
  const auto got = t.to_vector();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK_MESSAGE(got[i] == doctest::Approx(want[i]).epsilon(tol), "element " << i);
}
}  // namespace

TEST_CASE("a worked example: L = sum(x * w + x^2)") {
  // dL/dx = w + 2x, dL/dw = x
  Var x = leaf({1, 2, 3}, {3}), w = leaf({4, 5, 6}, {3});
  Var L = sum(add(mul(x, w), pow(x, 2)));
  CHECK(L.item() == 4 + 10 + 18 + 1 + 4 + 9);
  L.backward();
  check_values(x.grad(), {6, 9, 12});
  check_values(w.grad(), {1, 2, 3});
}

TEST_CASE("gradients accumulate across uses and across backward calls") {
  Var x = leaf({2}, {1});
  Var y = mul(x, x);                // dy/dx = 2x = 4
  Var L = sum(add(y, mul_scalar(x, 3)));  // + 3
  L.backward();
  check_values(x.grad(), {7});
  sum(mul_scalar(x, 10)).backward();  // a second backward adds 10
  check_values(x.grad(), {17});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("broadcasting gradients are summed back to the input shape") {
  Var a = leaf({1, 2, 3}, {3, 1}), b = leaf({10, 20, 30, 40}, {1, 4});
  sum(mul(a, b)).backward();
  check_values(a.grad(), {100, 100, 100});  // each a[i] meets every b[j]
  check_values(b.grad(), {6, 6, 6, 6});
  CHECK(a.grad().shape() == Shape{3, 1});
}

TEST_CASE("requires_grad propagates, no_grad records nothing, detach cuts the graph") {
  Var x = leaf({1, 2}, {2});
  Var c(Tensor::from({3, 4}, {2}, DType::f64));  // a constant
  CHECK_FALSE(c.requires_grad());
  CHECK(mul(x, c).requires_grad());
  CHECK_FALSE(mul(c, c).requires_grad());
  CHECK(mul(c, c).is_leaf());
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    Var y = mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.node() == nullptr);
  }
  CHECK(grad_enabled());
  Var d = mul(x, x).detach();
  CHECK_FALSE(d.requires_grad());
  Var L = sum(add(mul(d, x), x));  // d is a constant: dL/dx = d + 1
  L.backward();
  check_values(x.grad(), {2, 5});
  // the constant received nothing
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("intermediate gradients are freed unless retained") {
  Var x = leaf({1, 2}, {2});
  Var h = mul_scalar(x, 2);
  Var k = mul_scalar(x, 3).retain_grad();
  sum(mul(h, k)).backward();
  CHECK_FALSE(h.grad().defined());
  check_values(k.grad(), {2, 4});  // dL/dk = h
  check_values(x.grad(), {12, 24});  // d(6 x^2)/dx
}

TEST_CASE("a gradient handed to several Vars is shared copy-on-write, never written through") {
  // add's backward hands the same gy to u and to v (intermediates: shared, not copied);
  // both then receive a second gradient, which must make a new sum, not write into gy.
  Var x = leaf({1, 2}, {2});
  Var u = mul_scalar(x, 2).retain_grad(), v = mul_scalar(x, 3).retain_grad();
  Var s = add(u, v).retain_grad();
  // (the second term first: backward reaches s, which shares gy with u and v, before
  // the first term adds 5 and 7 to them)
  sum(add(add(mul_scalar(u, 5), mul_scalar(v, 7)), mul(s, s))).backward();
  // s = 5x: dL/ds = 2s = {10, 20}; dL/du = 2s + 5, dL/dv = 2s + 7
  check_values(s.grad(), {10, 20});
  check_values(u.grad(), {15, 25});
  check_values(v.grad(), {17, 27});
  check_values(x.grad(), {2 * 15 + 3 * 17, 2 * 25 + 3 * 27});
  // a leaf owns its gradient: writing to it in place leaves the others alone
  x.grad_buffer().fill_(0);
  check_values(u.grad(), {15, 25});
}

TEST_CASE("backward needs a scalar that requires a gradient") {
  Var x = leaf({1, 2}, {2});
  CHECK_THROWS_WITH_AS(mul(x, x).backward(), doctest::Contains("backward: needs a loss with one element, got shape [2]"),
                       ShapeError);
  Var c(Tensor::scalar(1.0));
  CHECK_THROWS_AS(c.backward(), std::logic_error);
}

TEST_CASE("a long chain does not overflow the stack, in backward or in teardown") {
  Var x = leaf({1}, {1});
  Var y = x;
  for (int i = 0; i < 100000; ++i) y = add_scalar(y, 1e-6);
  sum(y).backward();
  check_values(x.grad(), {1});
  // a chain whose nodes list the same input twice
  Var z = x;
  for (int i = 0; i < 100000; ++i) z = mul_scalar(add(z, z), 0.5);
  CHECK(z.item() == doctest::Approx(1.0));
}

TEST_CASE("backward(leaf_done) reports each leaf once, when its gradient is final") {
  Generator g(3);
  const Var x(Tensor::normal({4, 3}, 0, 1, g, DType::f64));  // an input: no gradient
  Var w1(Tensor::normal({3, 5}, 0, 1, g, DType::f64), true);
  Var w2(Tensor::normal({5, 2}, 0, 1, g, DType::f64), true);
  Var unused(Tensor::normal({2}, 0, 1, g, DType::f64), true);
  // w1 is read at the bottom (the first matmul) and twice at the top (w1 * w1).
  const auto loss_of = [&] { return sum(tanh(matmul(tanh(matmul(x, w1)), w2))) + sum(mul(w1, w1)); };
  loss_of().backward();
  const Tensor want1 = w1.grad().clone(), want2 = w2.grad().clone();
  w1.zero_grad(), w2.zero_grad();

  std::vector<VarImpl*> reported;
  std::vector<Tensor> at_report;  // each leaf's gradient at the moment it was reported
  loss_of().backward([&](VarImpl* leaf) {
    reported.push_back(leaf);
    at_report.push_back(leaf->grad.clone());
  });
  REQUIRE(reported.size() == 2);  // not x (no gradient), not `unused` (none reaches it)
  CHECK(reported[0] == w2.impl().get());  // w2 is done before backward reaches the first matmul
  CHECK(reported[1] == w1.impl().get());
  check_values(at_report[0], want2.to_vector(), 1e-15);
  check_values(at_report[1], want1.to_vector(), 1e-15);
  check_values(w1.grad(), want1.to_vector(), 1e-15);
  CHECK_FALSE(unused.grad().defined());
}

TEST_CASE("topological order puts inputs first") {
  Var x = leaf({1}, {1});
  Var a = exp(x), b = mul(a, x), L = sum(b);
  auto order = topological_order(L);
  REQUIRE(order.size() == 4);
  CHECK(order.front() == x.impl().get());
  CHECK(order.back() == L.impl().get());
}

TEST_CASE("shape mismatches name the op and both shapes") {
  Var a = leaf({1, 2, 3}, {3}), b = leaf({1, 2}, {2});
  CHECK_THROWS_WITH_AS(add(a, b), "add: shapes [3] and [2] do not broadcast", ShapeError);
  CHECK_THROWS_WITH_AS(matmul(a, b), "matmul: expected matrices (rank >= 2), got [3] x [2]", ShapeError);
  CHECK_THROWS_WITH_AS(layer_norm(Var(Tensor::ones({2, 4})), Var(Tensor::ones({3})), Var(Tensor::ones({4}))),
                       "layer_norm: x [2,4] needs gamma and beta of shape [4], got [3] and [4]", ShapeError);
  CHECK_THROWS_WITH_AS(cross_entropy(Var(Tensor::ones({2, 4})), Tensor::indices({0, 1, 2}, {3})),
                       doctest::Contains("cross_entropy: logits [2,4] need i64 targets"), ShapeError);
  CHECK_THROWS_WITH_AS(cross_entropy(Var(Tensor::ones({2, 4})), Tensor::indices({0, 4}, {2})),
                       "cross_entropy: target 4 at row 1 is out of range [0, 4)", ShapeError);
}

TEST_CASE("layer_norm forward by hand") {
  for (DType d : {DType::f32, DType::f64}) {
    // row [1,2,3,4]: mean 2.5, variance 1.25; row [2,2,2,2]: variance 0 -> xhat = 0
    Var x(Tensor::from({1, 2, 3, 4, 2, 2, 2, 2}, {2, 4}, d)), g(Tensor::from({1, 2, 1, 1}, {4}, d)),
        b(Tensor::from({0, 0, 1, 0}, {4}, d));
    Var y = layer_norm(x, g, b, 0.0 + 1e-5);
    const double r = 1 / std::sqrt(1.25 + 1e-5);
    check_values(y.value(), {-1.5 * r, -0.5 * r * 2, 0.5 * r + 1, 1.5 * r, 0, 0, 1, 0}, 1e-5);
  }
}

TEST_CASE("cross_entropy forward by hand, with and without a mask") {
  // row 0 logits [0, ln 3] target 1: p = 3/4, nll = ln(4/3); row 1 [0, 0] target 0: nll = ln 2
  Var z(Tensor::from({0, std::log(3.0), 0, 0}, {2, 2}, DType::f64), true);
  Tensor t = Tensor::indices({1, 0}, {2});
  CHECK(cross_entropy(z, t).item() == doctest::Approx((std::log(4.0 / 3) + std::log(2.0)) / 2));
  Tensor only_second = Tensor::from({0, 1}, {2}, DType::f64);
  Var L = cross_entropy(z, t, only_second);
  CHECK(L.item() == doctest::Approx(std::log(2.0)));
  L.backward();
  check_values(z.grad(), {0, 0, -0.5, 0.5});  // softmax - onehot on the counted row only
  // nothing counted: loss 0, gradient 0
  Var z2(Tensor::ones({2, 2}, DType::f64), true);
  Var L0 = cross_entropy(z2, t, Tensor::zeros({2}, DType::f64));
  CHECK(L0.item() == 0);
  L0.backward();
  CHECK_FALSE(z2.grad().defined());
}

TEST_CASE("dropout is seeded, scales by 1/(1-p), and is the identity in eval mode") {
  Var x(Tensor::ones({1000}, DType::f64), true);
  Generator g1(3), g2(3);
  Var a = dropout(x, 0.25, g1), b = dropout(x, 0.25, g2);
  CHECK(bitwise_equal(a.value(), b.value()));
  int zeros = 0;
  for (double v : a.value().to_vector()) {
    CHECK((v == 0 || v == doctest::Approx(1 / 0.75)));
    zeros += v == 0;
  }
  CHECK(zeros > 200);  // 250 expected; 13.7 standard deviations
  CHECK(zeros < 300);
  Generator g3(3);
  CHECK(dropout(x, 0.25, g3, false).impl() == x.impl());
  CHECK_THROWS_AS(dropout(x, 1.0, g3), std::invalid_argument);
}

TEST_CASE("embedding looks up rows and adds gradients of repeated ids") {
  Var table(Tensor::from({1, 2, 3, 4, 5, 6}, {3, 2}, DType::f64), true);
  Tensor ids = Tensor::indices({2, 0, 2}, {1, 3});
  Var e = embedding(table, ids);
  CHECK(e.shape() == Shape{1, 3, 2});
  check_values(e.value(), {5, 6, 1, 2, 5, 6});
  sum(e).backward();
  check_values(table.grad(), {1, 1, 0, 0, 2, 2});
}

TEST_CASE("max sends the gradient to the first maximum") {
  Var x = leaf({1, 5, 5, 2}, {2, 2});
  sum(max(x, 1)).backward();
  check_values(x.grad(), {0, 1, 1, 0});
  Var y = leaf({3, 7, 7}, {3});
  max(y).backward();
  check_values(y.grad(), {0, 1, 0});
}

TEST_CASE("empty inputs: forward shapes and zero-sized gradients") {
  Var a(Tensor::zeros({3, 0}, DType::f64), true), b(Tensor::zeros({0, 2}, DType::f64), true);
  Var c = matmul(a, b);  // K = 0: a [3,2] of zeros
  CHECK(c.shape() == Shape{3, 2});
  check_values(c.value(), {0, 0, 0, 0, 0, 0});
  sum(c).backward();
  CHECK(a.grad().shape() == Shape{3, 0});
  CHECK(b.grad().shape() == Shape{0, 2});
  Var e(Tensor::zeros({0, 3}, DType::f64), true);
  Var s = sum(e, 0);
  check_values(s.value(), {0, 0, 0});
  sum(s).backward();
  CHECK(e.grad().shape() == Shape{0, 3});
  // zero batches with a shared right side
  Var p(Tensor::zeros({0, 2, 3}, DType::f64), true), q(Tensor::ones({3, 4}, DType::f64), true);
  Var r = matmul(p, q);
  CHECK(r.shape() == Shape{0, 2, 4});
  sum(r).backward();
  check_values(q.grad(), std::vector<double>(12, 0.0));
  CHECK(matmul(Tensor::ones({2, 3}), Tensor::zeros({0, 3, 4})).shape() == Shape{0, 2, 4});
}

TEST_CASE("dtype mismatches name the op") {
  Var x(Tensor::ones({2, 4}, DType::f64)), g(Tensor::ones({4})), b(Tensor::zeros({4}));
  CHECK_THROWS_WITH_AS(layer_norm(x, g, b), "layer_norm: dtypes differ: x f64, gamma f32, beta f32", ShapeError);
  Tensor dst = Tensor::zeros({3, 2});
  CHECK_THROWS_WITH_AS(index_add_(dst, 0, Tensor::indices({0}, {1}), Tensor::ones({1, 2}, DType::f64)),
                       "index_add: dtypes differ: f32[3,2] and f64[1,2]", ShapeError);
  CHECK_THROWS_WITH_AS(embedding(Var(Tensor::ones({3, 2})), Tensor::zeros({2})), "embedding: ids must be i64, got f32[2]",
                       ShapeError);
}

TEST_CASE("saved indices are copies: refilling the caller's buffer does not change the gradient") {
  Var table(Tensor::zeros({3, 1}, DType::f64), true);
  Tensor ids = Tensor::indices({0, 0}, {2});
  Var e = embedding(table, ids);
  ids.data<int64_t>()[1] = 2;  // the caller reuses its buffer before backward
  sum(e).backward();
  check_values(table.grad(), {2, 0, 0});
}
