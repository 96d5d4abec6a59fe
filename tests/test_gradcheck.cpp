// test_gradcheck.cpp — every registered op against finite differences (the registry
// that `minicope gradcheck` runs), and the checker itself: it must catch wrong gradients.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/checks.h"

using namespace mc;

TEST_CASE("every registered op passes its gradient check in f64") {
  register_nn_checks();  // the attention kernel under every encoding, whole transformers
  REQUIRE(op_checks().size() > 100);
  for (const OpCheck& c : op_checks()) {
    const GradcheckResult r = c.run();
    INFO(c.name << ": " << r.message);
    CHECK(r.pass);
    CHECK(r.max_rel_err < 1e-6);
    CHECK(r.accumulate_err < 1e-10);
    // the check really exercised the op it is named after (a transformer: its attention)
    const std::string node = c.op == "transformer" ? "attention" : c.op;
    CHECK(std::find(r.ops.begin(), r.ops.end(), node) != r.ops.end());
  }
}

TEST_CASE("every differentiable op declared in autograd/ops.h has a registered check") {
  std::ifstream in(std::string(MINICOPE_SOURCE_DIR) + "/autograd/ops.h");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::set<std::string> declared;  // every line "Var NAME(" declares an op
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("Var ", 0) == 0 && line.find('(') != std::string::npos) declared.insert(line.substr(4, line.find('(') - 4));
  REQUIRE(declared.size() > 25);
  std::set<std::string> checked;
  for (const OpCheck& c : op_checks()) checked.insert(c.op);
  for (const std::string& op : declared) CHECK_MESSAGE(checked.count(op), "no gradient check for " << op);
}

namespace {
// sigmoid with a deliberately wrong backward: the checker must reject it.
Var bad_sigmoid(const Var& x, double slope_error) {
  Tensor y = sigmoid(x.value());
  return record("bad_sigmoid", y, {x}, [x, y, slope_error](const Tensor& gy) {
    accumulate(x, map_binary(gy, y, [slope_error](auto g, auto v) { return g * v * (1 - v) * (1 + slope_error); }));
  });
}
// a backward that overwrites instead of adding
Var overwriting_square(const Var& x) {
  return record("overwriting_square", mul(x.value(), x.value()), {x}, [x](const Tensor& gy) {
    Tensor& g = x.grad_buffer();
    g = mul(mul_scalar(x.value(), 2), gy);
  });
}
// a backward that forgets the contribution of one output element
Var forgetful_exp(const Var& x) {
  Tensor y = exp(x.value());
  return record("forgetful_exp", y, {x}, [x, y](const Tensor& gy) {
    Tensor g = mul(gy, y);
    g.data<double>()[g.numel() - 1] = 0;
    accumulate(x, g);
  });
}
}  // namespace

TEST_CASE("the checker catches wrong gradients") {
  Generator gen(1);
  const std::vector<Tensor> x = {Tensor::uniform({3, 4}, -1, 1, gen, DType::f64)};
  auto ok = gradcheck([](const std::vector<Var>& v) { return bad_sigmoid(v[0], 0.0); }, x);
  CHECK(ok.pass);
  CHECK(ok.max_rel_err < 1e-8);
  auto off = gradcheck([](const std::vector<Var>& v) { return bad_sigmoid(v[0], 1e-4); }, x);
  CHECK_FALSE(off.pass);  // a 0.01% slope error is found
  CHECK(off.max_rel_err > 1e-5);
  auto over = gradcheck([](const std::vector<Var>& v) { return overwriting_square(v[0]); }, x);
  CHECK_FALSE(over.pass);
  CHECK(over.max_rel_err < 1e-6);  // the gradient itself is right...
  CHECK(over.accumulate_err > 1e-3);  // ...but it overwrote what was there
  auto forgot = gradcheck([](const std::vector<Var>& v) { return forgetful_exp(v[0]); }, x);
  CHECK_FALSE(forgot.pass);
}

TEST_CASE("the checker converts f32 inputs to f64 and reports per-input errors") {
  Generator gen(2);
  const std::vector<Tensor> in = {Tensor::uniform({2, 3}, -1, 1, gen), Tensor::uniform({3, 2}, -1, 1, gen)};
  auto r = gradcheck([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, in);
  CHECK(r.pass);
  CHECK(r.rel_err.size() == 2);
}
