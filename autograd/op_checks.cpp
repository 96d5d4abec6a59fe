// op_checks.cpp — the registry of gradient checks: every differentiable op, each with
// the cases that exercise its corners (broadcasting, size-1 and empty dimensions,
// transpose flags, repeated indices). `minicope gradcheck` and tests/test_gradcheck.cpp
// run this same list, so an op missing here is missing from both.
#include <cmath>
#include <span>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

namespace mc {

namespace {

// Random f64 inputs from a per-case seed, uniform in [lo, hi).
Tensor rnd(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  return Tensor::uniform(s, lo, hi, g, DType::f64);
}

// Uniform in +-[lo, hi): away from 0, for ops with a kink or a pole there.
Tensor away_from_zero(const Shape& s, uint64_t seed, double lo = 0.2, double hi = 1.5) {
  Generator g(seed);
  Tensor t = Tensor::uniform(s, lo, hi, g, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (g.uniform() < 0.5) p[i] = -p[i];
  return t;
}

struct Registry {
  std::vector<OpCheck> checks;
  void add(std::string op, std::string name, VarFunction f, std::vector<Tensor> inputs) {
    checks.push_back({op, std::move(name), [f = std::move(f), inputs = std::move(inputs)] { return gradcheck(f, inputs); }});
  }
  void unary(const std::string& op, Var (*fn)(const Var&), Tensor x) {
    add(op, op, [fn](const std::vector<Var>& v) { return fn(v[0]); }, {std::move(x)});
  }
};

Registry build() {
  Registry r;
  // ---- elementwise, unary ----
  r.unary("neg", neg, rnd({3, 4}, 1));
  r.unary("exp", exp, rnd({3, 4}, 2));
  r.unary("log", log, rnd({3, 4}, 3, 0.2, 3.0));
  r.unary("sqrt", sqrt, rnd({3, 4}, 4, 0.2, 3.0));
  r.unary("tanh", tanh, rnd({3, 4}, 5, -2.0, 2.0));
  r.unary("sigmoid", sigmoid, rnd({3, 4}, 6, -4.0, 4.0));
  r.unary("relu", relu, away_from_zero({3, 4}, 7));
  r.unary("gelu_tanh", gelu_tanh, rnd({3, 4}, 8, -3.0, 3.0));
  r.unary("gelu_erf", gelu_erf, rnd({3, 4}, 9, -3.0, 3.0));
  for (double p : {3.0, 0.5, -1.5})
    r.add("pow", "pow[p=" + std::to_string(p).substr(0, 4) + "]",
          [p](const std::vector<Var>& v) { return pow(v[0], p); }, {rnd({3, 4}, 10, 0.3, 2.0)});
  r.add("add_scalar", "add_scalar", [](const std::vector<Var>& v) { return add_scalar(v[0], 2.5); }, {rnd({2, 3}, 11)});
  r.add("mul_scalar", "mul_scalar", [](const std::vector<Var>& v) { return mul_scalar(v[0], -1.5); }, {rnd({2, 3}, 12)});

  // ---- elementwise, binary with broadcasting ----
  struct BinaryOp { const char* name; Var (*fn)(const Var&, const Var&); };
  const BinaryOp binaries[] = {{"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}};
  const std::pair<Shape, Shape> shape_pairs[] = {
      {{2, 3}, {2, 3}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {4}}, {{}, {2, 3}}, {{1, 1}, {1}}, {{0, 3}, {1, 3}}, {{2, 1, 3}, {4, 1}}};
  uint64_t seed = 100;
  for (const auto& op : binaries)
    for (const auto& [sa, sb] : shape_pairs) {
      Tensor b = std::string(op.name) == "div" ? away_from_zero(sb, seed + 1, 0.5, 2.0) : rnd(sb, seed + 1);
      r.add(op.name, std::string(op.name) + shape_str(sa) + shape_str(sb), [fn = op.fn](const std::vector<Var>& v) { return fn(v[0], v[1]); },
            {rnd(sa, seed), b});
      seed += 2;
    }
  // An input used twice: its gradient is the sum of both uses.
  r.add("mul", "mul[x*x]", [](const std::vector<Var>& v) { return mul(v[0], v[0]); }, {rnd({2, 3}, 150)});

  // ---- reductions ----
  r.add("sum", "sum[all]", [](const std::vector<Var>& v) { return sum(v[0]); }, {rnd({3, 4}, 20)});
  r.add("mean", "mean[all]", [](const std::vector<Var>& v) { return mean(v[0]); }, {rnd({3, 4}, 21)});
  r.add("max", "max[all]", [](const std::vector<Var>& v) { return max(v[0]); }, {rnd({3, 4}, 22)});
  for (int64_t axis : {0, 1, -1})
    for (bool keep : {false, true}) {
      const std::string tag = "[axis=" + std::to_string(axis) + (keep ? ",keepdim]" : "]");
      r.add("sum", "sum" + tag, [=](const std::vector<Var>& v) { return sum(v[0], axis, keep); }, {rnd({2, 3, 4}, 23)});
      r.add("mean", "mean" + tag, [=](const std::vector<Var>& v) { return mean(v[0], axis, keep); }, {rnd({2, 3, 4}, 24)});
      r.add("max", "max" + tag, [=](const std::vector<Var>& v) { return max(v[0], axis, keep); }, {rnd({2, 3, 4}, 25)});
    }

  // ---- matrix products: every transpose flag, non-square, batched, shared, empty ----
  const int64_t M = 3, K = 4, N = 5;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const std::string tag = std::string("[") + (ta ? "A^T" : "A") + " " + (tb ? "B^T" : "B");
      const Shape sa = ta ? Shape{K, M} : Shape{M, K}, sb = tb ? Shape{N, K} : Shape{K, N};
      auto f = [ta, tb](const std::vector<Var>& v) { return matmul(v[0], v[1], ta, tb); };
      r.add("matmul", "matmul" + tag + "]", f, {rnd(sa, 30), rnd(sb, 31)});
      Shape ba = sa, bb = sb;
      ba.insert(ba.begin(), 2);
      bb.insert(bb.begin(), 2);
      r.add("matmul", "matmul" + tag + ", batched]", f, {rnd(ba, 32), rnd(bb, 33)});
      r.add("matmul", "matmul" + tag + ", shared B]", f, {rnd(ba, 34), rnd(sb, 35)});
      r.add("matmul", "matmul" + tag + ", shared A]", f, {rnd(sa, 36), rnd(bb, 37)});
    }
  auto mm = [](const std::vector<Var>& v) { return matmul(v[0], v[1]); };
  // empty products: B's gradient must come out zero (nothing was multiplied)
  r.add("matmul", "matmul[M=0]", mm, {rnd({0, 4}, 40), rnd({4, 2}, 41)});
  r.add("matmul", "matmul[0 batches, shared B]", mm, {rnd({0, 2, 3}, 38), rnd({3, 4}, 39)});
  r.add("matmul", "matmul[1x1]", mm, {rnd({1, 1}, 42), rnd({1, 1}, 43)});

  // ---- softmax ----
  r.add("softmax", "softmax", [](const std::vector<Var>& v) { return softmax(v[0]); }, {rnd({2, 3, 5}, 50, -2, 2)});
  r.add("log_softmax", "log_softmax", [](const std::vector<Var>& v) { return log_softmax(v[0]); }, {rnd({2, 3, 5}, 51, -2, 2)});
  r.add("softmax", "softmax[n=1]", [](const std::vector<Var>& v) { return softmax(v[0]); }, {rnd({3, 1}, 52)});

  // ---- shape ----
  r.add("reshape", "reshape", [](const std::vector<Var>& v) { return mul(reshape(v[0], {4, -1}), reshape(v[0], {4, 3})); },
        {rnd({2, 6}, 60)});
  for (int64_t axis : {0, 1})
    r.add("concat", "concat[axis=" + std::to_string(axis) + "]",
          [axis](const std::vector<Var>& v) { return concat({v[0], v[1], v[2]}, axis); },
          {rnd({2, 3}, 61), rnd({2, 3}, 62), rnd({2, 3}, 63)});
  r.add("slice", "slice[axis=1]", [](const std::vector<Var>& v) { return slice(v[0], 1, 1, 3); }, {rnd({2, 4, 3}, 64)});
  r.add("slice", "slice[empty]", [](const std::vector<Var>& v) { return slice(v[0], 0, 1, 1); }, {rnd({2, 3}, 65)});

  // ---- layout and scans ----
  for (const auto& axes : {std::pair<int64_t, int64_t>{0, 1}, {1, 2}, {0, 2}, {-1, -2}}) {
    const int64_t a0 = axes.first, a1 = axes.second;  // (clang 14 cannot capture structured bindings)
    r.add("transpose", "transpose[" + std::to_string(a0) + "," + std::to_string(a1) + "]",
          [a0, a1](const std::vector<Var>& v) { return transpose(v[0], a0, a1); }, {rnd({2, 3, 4}, 66)});
  }
  for (bool rev : {false, true})
    for (int64_t axis : {0, 2})
      r.add("cumsum", std::string("cumsum[axis=") + std::to_string(axis) + (rev ? ",reverse]" : "]"),
            [axis, rev](const std::vector<Var>& v) { return cumsum(v[0], axis, rev); }, {rnd({3, 2, 4}, 67)});
  {
    // values spread over [-2, 2], clamped to [-1, 0.5]; none within 0.05 of a bound
    Tensor x = rnd({4, 5}, 68, -2, 2);
    for (double& v : std::span(x.data<double>(), size_t(x.numel())))
      if (std::fabs(v + 1) < 0.05 || std::fabs(v - 0.5) < 0.05) v += 0.12;
    r.add("clamp", "clamp", [](const std::vector<Var>& v) { return clamp(v[0], -1.0, 0.5); }, {x});
  }

  // ---- indexing (with repeated indices, whose gradients must add up) ----
  const Tensor gidx = Tensor::indices({0, 2, 2, 1, 0, 0}, {2, 3});
  r.add("gather", "gather[axis=1]", [gidx](const std::vector<Var>& v) { return gather(v[0], 1, gidx); }, {rnd({2, 4}, 70)});
  const Tensor sidx = Tensor::indices({1, 1, 0, 3, 0, 3}, {2, 3});
  r.add("scatter_add", "scatter_add[axis=1]",
        [sidx](const std::vector<Var>& v) { return scatter_add(v[0], 1, sidx, v[1]); }, {rnd({2, 4}, 71), rnd({2, 3}, 72)});
  const Tensor iidx = Tensor::indices({2, 0, 2, 1}, {4});
  r.add("index_select", "index_select[axis=1]",
        [iidx](const std::vector<Var>& v) { return index_select(v[0], 1, iidx); }, {rnd({2, 3, 2}, 73)});
  const Tensor ids = Tensor::indices({4, 0, 4, 2, 1, 4}, {2, 3});
  r.add("embedding", "embedding", [ids](const std::vector<Var>& v) { return embedding(v[0], ids); }, {rnd({5, 4}, 74)});

  // ---- fused ops ----
  r.add("layer_norm", "layer_norm[4x6]",
        [](const std::vector<Var>& v) { return layer_norm(v[0], v[1], v[2]); },
        {rnd({4, 6}, 80, -2, 2), rnd({6}, 81, 0.5, 1.5), rnd({6}, 82)});
  r.add("layer_norm", "layer_norm[2x3x5]",
        [](const std::vector<Var>& v) { return layer_norm(v[0], v[1], v[2], 1e-3); },
        {rnd({2, 3, 5}, 83, -2, 2), rnd({5}, 84, 0.5, 1.5), rnd({5}, 85)});
  r.add("dropout", "dropout[p=0.3]",
        [](const std::vector<Var>& v) {
          Generator g(7);  // the same mask on every call of f
          return dropout(v[0], 0.3, g, true);
        },
        {rnd({4, 5}, 86)});
  const Tensor targets = Tensor::indices({0, 4, 2, 2, 1, 3}, {2, 3});
  r.add("cross_entropy", "cross_entropy",
        [targets](const std::vector<Var>& v) { return cross_entropy(v[0], targets); }, {rnd({2, 3, 5}, 87, -2, 2)});
  const Tensor mask = Tensor::from({1, 0, 1, 0, 0, 1}, {2, 3}, DType::f64);
  r.add("cross_entropy", "cross_entropy[masked]",
        [targets, mask](const std::vector<Var>& v) { return cross_entropy(v[0], targets, mask); },
        {rnd({2, 3, 5}, 88, -2, 2)});
  return r;
}

}  // namespace

namespace {
std::vector<OpCheck>& registry() {
  static std::vector<OpCheck> checks = build().checks;
  return checks;
}
}  // namespace

const std::vector<OpCheck>& op_checks() { return registry(); }
void add_op_check(OpCheck check) { registry().push_back(std::move(check)); }

}  // namespace mc
