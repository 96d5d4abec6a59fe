// test_gradcheck.cpp — every registered op against finite differences (the registry
// that `minicope gradcheck` runs), and the checker itself: it must catch wrong gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "autograd/gradcheck.h"
#include "autograd/gradcheck_doctest.h"
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

TEST_CASE("a failed check says which input, which elements, and what kind of fault") {
  Generator gen(1);
  const std::vector<Tensor> x = {Tensor::uniform({3, 4}, -1, 1, gen, DType::f64)};
  GradcheckOptions named;
  named.names = {"x"};
  // forgetful_exp drops the last element's gradient: the worst element is [2,3], analytic 0
  auto forgot = gradcheck([](const std::vector<Var>& v) { return forgetful_exp(v[0]); }, x, named);
  REQUIRE(forgot.inputs.size() == 1);
  const GradcheckInput& in = forgot.inputs[0];
  CHECK(in.name == "x");
  CHECK(in.faults == std::vector<std::string>{"wrong value"});
  REQUIRE(in.worst.size() == 5);
  CHECK(in.worst[0].index == std::vector<int64_t>{2, 3});
  CHECK(in.worst[0].analytic == 0.0);
  CHECK(std::fabs(in.worst[0].numeric) > 1e-3);  // exp(x) times the projection's weight there
  // only that element is wrong: the next worst differ by rounding alone
  CHECK(std::fabs(in.worst[1].analytic - in.worst[1].numeric) < 1e-8);
  const std::string report = gradcheck_report(forgot);
  CHECK(report.find("a gradient never sent") != std::string::npos);
  CHECK(report.find("gradcheck FAILED on 1 of 1 inputs") != std::string::npos);
  CHECK(report.find("x [3,4]: wrong value") != std::string::npos);
  CHECK(report.find("[2,3]") != std::string::npos);
  CHECK(report.find("forgetful_exp") != std::string::npos);  // the ops on the graph
  CHECK(forgot.message.find("x [3,4]: wrong value") == 0);

  // an overwriting backward: right values, "overwritten", the element and what it held
  auto over = gradcheck([](const std::vector<Var>& v) { return overwriting_square(v[0]); }, x);
  REQUIRE(over.inputs.size() == 1);
  CHECK(over.inputs[0].name == "input 0");
  CHECK(over.inputs[0].faults == std::vector<std::string>{"overwritten"});
  CHECK(over.inputs[0].worst.empty());
  CHECK(over.inputs[0].accumulated == doctest::Approx(over.inputs[0].expected - over.inputs[0].preset));
  CHECK(gradcheck_report(over).find("= where += belongs") != std::string::npos);

  // two inputs, one wrong: the report lists the good one as ok
  auto pair = gradcheck([](const std::vector<Var>& v) { return add(forgetful_exp(v[0]), v[1]); },
                        {x[0], Tensor::uniform({3, 4}, -1, 1, gen, DType::f64)});
  REQUIRE(pair.inputs.size() == 2);
  CHECK_FALSE(pair.inputs[0].pass());
  CHECK(pair.inputs[1].pass());
  CHECK(gradcheck_report(pair).find("input 1 [3,4]: ok") != std::string::npos);
  CHECK(gradcheck_report(gradcheck([](const std::vector<Var>& v) { return exp(v[0]); }, x)).rfind("gradcheck passed", 0) == 0);
}

TEST_CASE("MC_CHECK_GRADIENT: a gradient check as a doctest assertion") {
  Generator gen(3);
  const Tensor a = Tensor::uniform({2, 3}, -1, 1, gen, DType::f64), b = Tensor::uniform({3, 2}, -1, 1, gen, DType::f64);
  MC_CHECK_GRADIENT([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, {a, b});
  GradcheckOptions loose;
  loose.tolerance = 1e-4;
  MC_REQUIRE_GRADIENT([](const std::vector<Var>& v) { return bad_sigmoid(v[0], 1e-6); }, {a}, loose);
}

TEST_CASE("the checker converts f32 inputs to f64 and reports per-input errors") {
  Generator gen(2);
  const std::vector<Tensor> in = {Tensor::uniform({2, 3}, -1, 1, gen), Tensor::uniform({3, 2}, -1, 1, gen)};
  auto r = gradcheck([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, in);
  CHECK(r.pass);
  CHECK(r.rel_err.size() == 2);
}
