// test_tensor.cpp — every tensor kernel against values worked out by hand, in both dtypes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tensor/ops.h"
#include "tensor/random.h"

using namespace mc;

namespace {
void check_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  const auto got = t.to_vector();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK_MESSAGE(got[i] == doctest::Approx(want[i]).epsilon(tol), "element " << i);
}
const DType kFloat[] = {DType::f32, DType::f64};
}  // namespace

TEST_CASE("creation") {
  for (DType d : kFloat) {
    CHECK(Tensor::zeros({2, 3}, d).to_vector() == std::vector<double>(6, 0.0));
    CHECK(Tensor::ones({4}, d).to_vector() == std::vector<double>(4, 1.0));
    CHECK(Tensor::full({2}, 2.5, d).to_vector() == std::vector<double>{2.5, 2.5});
    check_values(Tensor::arange(4, d), {0, 1, 2, 3});
    CHECK(Tensor::scalar(3, d).dim() == 0);
    CHECK(Tensor::scalar(3, d).numel() == 1);
    CHECK(Tensor::scalar(3, d).item() == 3);
    CHECK(Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}, d).at({1, 0}) == 4);
    CHECK(Tensor::zeros({0, 3}, d).numel() == 0);
  }
  CHECK_THROWS_AS(Tensor::from({1, 2, 3}, {2, 2}), ShapeError);
  CHECK_THROWS_AS(Tensor::zeros({-1}), ShapeError);
}

TEST_CASE("random numbers are seeded and have the right moments") {
  Generator a(42), b(42), c(43);
  Tensor ua = Tensor::uniform({1000}, -1, 1, a), ub = Tensor::uniform({1000}, -1, 1, b), uc = Tensor::uniform({1000}, -1, 1, c);
  CHECK(bitwise_equal(ua, ub));
  CHECK_FALSE(bitwise_equal(ua, uc));
  Generator g(1);
  Tensor n = Tensor::normal({20000}, 2.0, 3.0, g, DType::f64);
  const double m = mean(n).item();
  const double var = mean(pow(add_scalar(n, -m), 2.0)).item();
  CHECK(m == doctest::Approx(2.0).epsilon(0.05));       // 3 / sqrt(20000) = 0.02 standard error
  CHECK(std::sqrt(var) == doctest::Approx(3.0).epsilon(0.03));
  for (double v : ua.to_vector()) CHECK((v >= -1 && v < 1));
  // State round trip: a restored generator continues the same stream.
  Generator s(9);
  s.normal();  // leaves a spare normal behind
  const std::string st = s.state();
  Generator t(0);
  t.set_state(st);
  CHECK(s.normal() == t.normal());
  CHECK(s.next_u64() == t.next_u64());
  for (int i = 0; i < 100; ++i) CHECK(s.below(7) < 7);
}

TEST_CASE("reshape is a view and infers -1") {
  Tensor x = Tensor::arange(6);
  Tensor y = x.reshape({2, -1});
  CHECK(y.shape() == Shape{2, 3});
  CHECK(y.same_storage(x));
  CHECK(Tensor::scalar(5).reshape({1, 1}).shape() == Shape{1, 1});
  CHECK_THROWS_WITH_AS(x.reshape({}), "reshape: cannot reshape [6] to []", ShapeError);
  CHECK_THROWS_AS(x.reshape({4, -1}), ShapeError);
  CHECK_THROWS_AS(x.reshape({-1, -1}), ShapeError);
  CHECK(Tensor::zeros({0, 3}).reshape({3, 0}).numel() == 0);
  Tensor c = x.clone();
  c.fill_(1);
  CHECK(x.at({1}) == 1);  // the clone is independent
  CHECK(x.to(DType::f64).dtype() == DType::f64);
}

TEST_CASE("unary elementwise ops") {
  for (DType d : kFloat) {
    Tensor x = Tensor::from({-2, -0.5, 0, 1.5}, {4}, d);
    check_values(neg(x), {2, 0.5, 0, -1.5});
    check_values(relu(x), {0, 0, 0, 1.5});
    check_values(exp(x), {std::exp(-2.0), std::exp(-0.5), 1, std::exp(1.5)});
    check_values(tanh(x), {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(1.5)});
    check_values(sigmoid(x), {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5, 1 / (1 + std::exp(-1.5))});
    // gelu(1.5) by hand: erf form 1.5 * Phi(1.5) = 1.5 * 0.9331928 = 1.3997892
    check_values(gelu_erf(x), {-0.0455003, -0.1542688, 0, 1.3997892}, 1e-5);
    // tanh form: 0.5 * 1.5 * (1 + tanh(0.7978846 * (1.5 + 0.044715 * 3.375))) = 1.3995715
    check_values(gelu_tanh(x).reshape({4}), {-0.0454023, -0.1542860, 0, 1.3995716}, 1e-5);
    check_values(add_scalar(x, 1), {-1, 0.5, 1, 2.5});
    check_values(mul_scalar(x, 2), {-4, -1, 0, 3});
    Tensor p = Tensor::from({0.25, 1, 4}, {3}, d);
    check_values(sqrt(p), {0.5, 1, 2});
    check_values(log(p), {std::log(0.25), 0, std::log(4.0)});
    check_values(pow(p, 1.5), {0.125, 1, 8});
    check_values(pow(p, -1), {4, 1, 0.25});
    // sigmoid stays finite for large inputs in both directions
    check_values(sigmoid(Tensor::from({-1000, 1000}, {2}, d)), {0, 1});
  }
  // NaN goes through relu instead of becoming 0
  Tensor nan = Tensor::from({std::numeric_limits<double>::quiet_NaN()}, {1});
  CHECK(std::isnan(relu(nan).item()));
  CHECK_THROWS_WITH(exp(Tensor::indices({1}, {1})), "exp: expected a floating dtype (f32 or f64), got i64");
}

TEST_CASE("binary ops broadcast like NumPy") {
  for (DType d : kFloat) {
    Tensor a = Tensor::from({1, 2, 3}, {3, 1}, d), b = Tensor::from({10, 20, 30, 40}, {1, 4}, d);
    Tensor s = add(a, b);
    CHECK(s.shape() == Shape{3, 4});
    check_values(s, {11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43});
    check_values(sub(a, b), {-9, -19, -29, -39, -8, -18, -28, -38, -7, -17, -27, -37});
    check_values(mul(a, b), {10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90, 120});
    check_values(div(b, Tensor::from({2}, {1}, d)), {5, 10, 15, 20});
    // a row vector over a [2,3,4] tensor, a scalar, size-1 and empty dimensions
    Tensor x = Tensor::arange(24, d).reshape({2, 3, 4});
    Tensor row = Tensor::from({100, 200, 300, 400}, {4}, d);
    Tensor xr = add(x, row);
    CHECK(xr.shape() == Shape{2, 3, 4});
    CHECK(xr.at({1, 2, 3}) == 23 + 400);
    CHECK(mul(Tensor::scalar(2, d), x).at({1, 1, 1}) == 34);
    CHECK(add(Tensor::ones({1, 1}, d), Tensor::ones({1}, d)).shape() == Shape{1, 1});
    CHECK(add(Tensor::ones({0, 3}, d), Tensor::ones({1, 3}, d)).shape() == Shape{0, 3});
    CHECK(add(Tensor::ones({2, 1, 3}, d), Tensor::ones({4, 1}, d)).shape() == Shape{2, 4, 3});
  }
  CHECK_THROWS_WITH_AS(add(Tensor::ones({2, 3}), Tensor::ones({4})), "add: shapes [2,3] and [4] do not broadcast", ShapeError);
  CHECK_THROWS_WITH_AS(mul(Tensor::ones({2}), Tensor::ones({2}, DType::f64)), "mul: dtypes differ (f32 and f64)", ShapeError);
  CHECK(broadcast_shapes({5, 1, 3}, {4, 1}, "t") == Shape{5, 4, 3});
}

TEST_CASE("in-place accumulation") {
  Tensor a = Tensor::from({1, 2}, {2}), b = Tensor::from({10, 20}, {2});
  add_(a, b);
  check_values(a, {11, 22});
  axpy_(a, -0.5, b);
  check_values(a, {6, 12});
  scale_(a, 2);
  check_values(a, {12, 24});
  CHECK_THROWS_WITH_AS(add_(a, Tensor::ones({3})), "axpy_: shapes differ: [2] and [3]", ShapeError);
}

TEST_CASE("reductions") {
  for (DType d : kFloat) {
    Tensor x = Tensor::from({1, 5, 2, 7, 3, 4}, {2, 3}, d);
    CHECK(sum(x).item() == 22);
    CHECK(sum(x).dim() == 0);
    CHECK(mean(x).item() == doctest::Approx(22.0 / 6));
    check_values(sum(x, 0), {8, 8, 6});
    check_values(sum(x, 1), {8, 14});
    CHECK(sum(x, -1, true).shape() == Shape{2, 1});
    check_values(mean(x, 1), {8.0 / 3, 14.0 / 3});
    CHECK(max(x).item() == 7);
    MaxResult m = max(x, 1);
    check_values(m.values, {5, 7});
    CHECK(m.indices.to_vector() == std::vector<double>{1, 0});
    MaxResult m0 = max(x, 0, true);
    CHECK(m0.values.shape() == Shape{1, 3});
    check_values(m0.values, {7, 5, 4});
    CHECK(m0.indices.to_vector() == std::vector<double>{1, 0, 1});
    // ties: the first maximum wins
    CHECK(max(Tensor::from({3, 3, 1}, {3}, d), 0).indices.item() == 0);
    // empty: a sum of nothing is 0; a max of nothing is an error
    CHECK(sum(Tensor::zeros({0, 3}, d)).item() == 0);
    check_values(sum(Tensor::zeros({0, 3}, d), 0), {0, 0, 0});
    CHECK_THROWS_AS(max(Tensor::zeros({0}, d)), ShapeError);
    // sum_to undoes broadcasting
    Tensor big = Tensor::ones({2, 3, 4}, d);
    check_values(sum_to(big, {3, 1}), {8, 8, 8});
    CHECK(sum_to(big, {}).item() == 24);
  }
  CHECK(std::isnan(max(Tensor::from({1, NAN, 3}, {3})).item()));
  CHECK_THROWS_WITH_AS(sum(Tensor::ones({2}), 1), "sum: axis 1 is out of range for a tensor of rank 1", ShapeError);
}

TEST_CASE("matmul: every transpose flag, non-square, batched, shared, empty") {
  for (DType d : kFloat) {
    // A [2,3], B [3,2] by hand: [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    Tensor A = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}, d), B = Tensor::from({7, 8, 9, 10, 11, 12}, {3, 2}, d);
    check_values(matmul(A, B), {58, 64, 139, 154});
    Tensor At = Tensor::from({1, 4, 2, 5, 3, 6}, {3, 2}, d), Bt = Tensor::from({7, 9, 11, 8, 10, 12}, {2, 3}, d);
    check_values(matmul(At, B, true, false), {58, 64, 139, 154});
    check_values(matmul(A, Bt, false, true), {58, 64, 139, 154});
    check_values(matmul(At, Bt, true, true), {58, 64, 139, 154});
    // batched: the second batch is 2x the first
    Tensor A2 = concat({A.reshape({1, 2, 3}), mul_scalar(A, 2).reshape({1, 2, 3})}, 0);
    Tensor C2 = matmul(A2, B);  // B shared by both batches
    CHECK(C2.shape() == Shape{2, 2, 2});
    check_values(C2, {58, 64, 139, 154, 116, 128, 278, 308});
    Tensor B2 = concat({B.reshape({1, 3, 2}), B.reshape({1, 3, 2})}, 0);
    check_values(matmul(A2, B2), {58, 64, 139, 154, 116, 128, 278, 308});
    // accumulate: C = 2 C + A B, and the batch-summing form (C 2-D, A batched)
    Tensor C = Tensor::ones({2, 2}, d);
    matmul_acc(C, A, B, false, false, 1.0, 2.0);
    check_values(C, {60, 66, 141, 156});
    Tensor S = Tensor::zeros({2, 2}, d);
    matmul_acc(S, A2, B, false, false, 1.0, 0.0);
    check_values(S, {174, 192, 417, 462});
    // empty: K = 0 gives zeros, M = 0 gives an empty result
    check_values(matmul(Tensor::zeros({2, 0}, d), Tensor::zeros({0, 3}, d)), {0, 0, 0, 0, 0, 0});
    CHECK(matmul(Tensor::zeros({0, 4}, d), Tensor::zeros({4, 3}, d)).shape() == Shape{0, 3});
    // a non-square product big enough to be split into row blocks, against a plain loop
    Generator g(5);
    Tensor P = Tensor::normal({150, 37}, 0, 1, g, d), Q = Tensor::normal({37, 29}, 0, 1, g, d);
    Tensor R = matmul(P, Q);
    const auto p = P.to_vector(), q = Q.to_vector(), rr = R.to_vector();
    double worst = 0;
    for (int i = 0; i < 150; ++i)
      for (int j = 0; j < 29; ++j) {
        double s = 0;
        for (int k = 0; k < 37; ++k) s += p[size_t(i * 37 + k)] * q[size_t(k * 29 + j)];
        worst = std::max(worst, std::fabs(s - rr[size_t(i * 29 + j)]));
      }
    CHECK(worst < (d == DType::f32 ? 1e-4 : 1e-12));
  }
  CHECK_THROWS_WITH_AS(matmul(Tensor::ones({2, 3}), Tensor::ones({2, 3})),
                       "matmul: inner dimensions differ: [2,3] x [2,3] -> [2,3]", ShapeError);
  CHECK_THROWS_AS(matmul(Tensor::ones({2, 2, 3}), Tensor::ones({3, 3, 2})), ShapeError);
  CHECK_THROWS_AS(matmul(Tensor::ones({3}), Tensor::ones({3, 2})), ShapeError);
}

TEST_CASE("softmax and log-softmax over the last axis") {
  for (DType d : kFloat) {
    Tensor x = Tensor::from({0, std::log(2.0), std::log(5.0), 1, 1, 1}, {2, 3}, d);
    check_values(softmax(x), {0.125, 0.25, 0.625, 1.0 / 3, 1.0 / 3, 1.0 / 3});
    check_values(log_softmax(x), {std::log(0.125), std::log(0.25), std::log(0.625), -std::log(3.0), -std::log(3.0), -std::log(3.0)});
    // shift invariance and no overflow with huge logits
    check_values(softmax(Tensor::from({1000, 1000}, {2}, d)), {0.5, 0.5});
    check_values(log_softmax(Tensor::from({1000, 0}, {2}, d)), {0, -1000});
  }
}

TEST_CASE("gather, scatter_add, index_select, index_add") {
  for (DType d : kFloat) {
    Tensor x = Tensor::from({10, 11, 12, 20, 21, 22}, {2, 3}, d);
    Tensor idx = Tensor::indices({2, 0, 1, 1}, {2, 2});
    check_values(gather(x, 1, idx), {12, 10, 21, 21});
    Tensor dst = Tensor::zeros({2, 3}, d);
    scatter_add_(dst, 1, idx, Tensor::from({1, 2, 3, 4}, {2, 2}, d));
    check_values(dst, {2, 0, 1, 0, 7, 0});  // repeated index 1 in row 2: 3 + 4
    Tensor rows = index_select(x, 0, Tensor::indices({1, 1, 0}, {3}));
    check_values(rows, {20, 21, 22, 20, 21, 22, 10, 11, 12});
    check_values(index_select(x, 1, Tensor::indices({2}, {1})), {12, 22});
    Tensor acc = Tensor::zeros({2, 3}, d);
    index_add_(acc, 0, Tensor::indices({1, 1, 0}, {3}), rows);
    check_values(acc, {10, 11, 12, 40, 42, 44});
  }
  Tensor x = Tensor::ones({2, 3});
  CHECK_THROWS_WITH_AS(gather(x, 1, Tensor::indices({3}, {1, 1})),
                       "gather: index shape [1,1] must match [2,3] in every axis but 1", ShapeError);
  CHECK_THROWS_WITH_AS(gather(x, 1, Tensor::indices({0, 3}, {2, 1})), "gather: index 3 is out of range [0, 3) for shape [2,3]",
                       ShapeError);
  CHECK_THROWS_AS(index_select(x, 0, Tensor::indices({-1}, {1})), ShapeError);
  CHECK_THROWS_AS(index_select(x, 0, Tensor::from({0}, {1})), ShapeError);  // f32 indices
}

TEST_CASE("concat and slice") {
  for (DType d : kFloat) {
    Tensor a = Tensor::from({1, 2, 3, 4}, {2, 2}, d), b = Tensor::from({5, 6}, {2, 1}, d);
    Tensor c = concat({a, b}, 1);
    CHECK(c.shape() == Shape{2, 3});
    check_values(c, {1, 2, 5, 3, 4, 6});
    check_values(concat({a, a}, 0), {1, 2, 3, 4, 1, 2, 3, 4});
    check_values(slice(c, 1, 1, 3), {2, 5, 4, 6});
    check_values(slice(c, 0, 1, 2), {3, 4, 6});
    CHECK(slice(c, 1, 2, 2).shape() == Shape{2, 0});
    Tensor z = Tensor::zeros({2, 3}, d);
    slice_add_(z, 1, 1, Tensor::ones({2, 2}, d));
    slice_add_(z, 1, 2, Tensor::ones({2, 1}, d));
    check_values(z, {0, 1, 2, 0, 1, 2});
    CHECK(concat({Tensor::zeros({0, 2}, d), a}, 0).shape() == Shape{2, 2});
  }
  CHECK_THROWS_WITH_AS(concat({Tensor::ones({2, 2}), Tensor::ones({3, 1})}, 1),
                       "concat: shape [3,1] (f32) does not fit [2,2] (f32) along axis 1", ShapeError);
  CHECK_THROWS_WITH_AS(slice(Tensor::ones({2, 3}), 1, 2, 4), "slice: range [2, 4) does not fit axis 1 of shape [2,3]", ShapeError);
}

TEST_CASE("transpose, cumsum, clamp, floor and ceil") {
  for (DType d : kFloat) {
    Tensor x = Tensor::arange(6, d).reshape({2, 3});
    Tensor t = transpose(x, 0, 1);
    CHECK(t.shape() == Shape{3, 2});
    check_values(t, {0, 3, 1, 4, 2, 5});
    Tensor y = Tensor::arange(24, d).reshape({2, 3, 4});
    Tensor yt = transpose(y, 0, 2);  // [4,3,2]
    CHECK(yt.shape() == Shape{4, 3, 2});
    CHECK(yt.at({3, 1, 0}) == y.at({0, 1, 3}));
    CHECK(yt.at({2, 2, 1}) == y.at({1, 2, 2}));
    check_values(cumsum(x, 1), {0, 1, 3, 3, 7, 12});
    check_values(cumsum(x, 1, true), {3, 3, 2, 12, 9, 5});
    check_values(cumsum(x, 0), {0, 1, 2, 3, 5, 7});
    Tensor c = Tensor::from({-2, -0.5, 0.3, 4}, {4}, d);
    check_values(clamp(c, -1, 1), {-1, -0.5, 0.3, 1});
    check_values(floor(c), {-2, -1, 0, 4});
    CHECK(floor_index(c).to_vector() == std::vector<double>{-2, -1, 0, 4});
    CHECK(ceil_index(c).to_vector() == std::vector<double>{-2, 0, 1, 4});
  }
  CHECK_THROWS_AS(clamp(Tensor::ones({1}), 1, 0), ShapeError);
  CHECK_THROWS_AS(floor_index(Tensor::from({NAN}, {1})), ShapeError);
}

#include "tensor/fast_math.h"

TEST_CASE("fast_expf and fast_tanhf: accuracy over the float range, NaN and infinities") {
  double worst_exp = 0, worst_tanh = 0;
  for (double x = -90; x < 90; x += 1e-3) {
    const float f = static_cast<float>(x);
    if (f > -87 && f < 88) {
      const double e = std::exp(double(f));
      worst_exp = std::max(worst_exp, std::fabs(double(fast_expf(f)) - e) / e);
    }
    worst_tanh = std::max(worst_tanh, std::fabs(double(fast_tanhf(f)) - std::tanh(double(f))));
  }
  CHECK(worst_exp < 2.5e-7);   // about 2 ulp
  CHECK(worst_tanh < 2e-7);
  CHECK(std::isnan(fast_tanhf(NAN)));
  CHECK(std::isnan(fast_expf(NAN)));
  CHECK(fast_tanhf(INFINITY) == 1.0f);
  CHECK(fast_tanhf(-INFINITY) == -1.0f);
  CHECK(fast_tanhf(0.0f) == 0.0f);
}
