// test_swish.cpp — the op's gradient against finite differences, with doctest.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "autograd/gradcheck_doctest.h"  // MC_CHECK_GRADIENT: gradcheck as an assertion
#include "autograd/ops.h"
#include "swish.h"
#include "tensor/random.h"

using mc::Tensor;
using mc::Var;

namespace {
// Inputs away from 0 would do too; gradcheck converts them to f64 either way.
std::vector<Tensor> inputs(uint64_t seed) {
  mc::Generator g(seed);
  return {Tensor::uniform({4, 3}, -2, 2, g, mc::DType::f64), Tensor::uniform({3}, 0.2, 2, g, mc::DType::f64)};
}
mc::GradcheckOptions named() {
  mc::GradcheckOptions o;
  o.names = {"x", "beta"};  // reports then say "beta [3]" rather than "input 1 [3]"
  return o;
}
}  // namespace

TEST_CASE("swish: the forward is x sigmoid(beta x)") {
  const auto in = inputs(1);
  const Var y = custom::swish(Var(in[0]), Var(in[1]));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t c = 0; c < 3; ++c) {
      const double x = in[0].at({i, c}), b = in[1].at({c});
      CHECK(y.value().at({i, c}) == doctest::Approx(x / (1 + std::exp(-b * x))));
    }
  CHECK_THROWS_AS(custom::swish(Var(in[0]), Var(in[0])), mc::ShapeError);
}

TEST_CASE("swish: its backward matches finite differences, and adds into gradients") {
  for (uint64_t seed : {1, 2, 3}) {
    CAPTURE(seed);
    MC_CHECK_GRADIENT([](const std::vector<Var>& v) { return custom::swish(v[0], v[1]); }, inputs(seed), named());
  }
  // inside a larger expression: the op composes with minicope's own
  MC_CHECK_GRADIENT([](const std::vector<Var>& v) { return mc::tanh(custom::swish(mc::mul(v[0], v[0]), v[1])); },
                    inputs(4), named());
}

TEST_CASE("swish: the check tells a wrong backward apart, by input") {
  // Without the assertion macro: the result itself says which input is wrong.
  const mc::GradcheckResult r =
      mc::gradcheck([](const std::vector<Var>& v) { return custom::swish_wrong(v[0], v[1]); }, inputs(1), named());
  CHECK_FALSE(r.pass);
  REQUIRE(r.inputs.size() == 2);
  CHECK(r.inputs[0].pass());  // x's gradient is right
  CHECK(r.inputs[1].faults == std::vector<std::string>{"wrong value"});
  CHECK(r.inputs[1].rel_err > 1e-2);
}

TEST_CASE("swish_wrong: deliberately wrong, so this assertion fails with the report") {
  // Run on its own by ctest (wrong_backward_is_caught, wrong_backward_report): it must
  // fail, and print what docs/gradcheck.md reads.
  MC_CHECK_GRADIENT([](const std::vector<Var>& v) { return custom::swish_wrong(v[0], v[1]); }, inputs(1), named());
}
