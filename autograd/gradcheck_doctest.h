// gradcheck_doctest.h — gradient checks as doctest assertions, for your own tests.
//
//   #include <doctest/doctest.h>
//   #include "autograd/gradcheck_doctest.h"
//   TEST_CASE("my op") {
//     MC_CHECK_GRADIENT([](const std::vector<mc::Var>& v) { return my_op(v[0], v[1]); }, {x, w});
//   }
//
// The arguments are those of mc::gradcheck (a function, its inputs, optionally
// GradcheckOptions). On failure the assertion's message is gradcheck_report(): each
// failing input, its fault (wrong value, overwritten, wrong accumulation), its worst
// elements with their analytic and numeric gradients (docs/gradcheck.md reads one).
// MC_REQUIRE_GRADIENT stops the test case there, as REQUIRE does.
#pragma once
#include "autograd/gradcheck.h"

#define MC_GRADCHECK_ASSERT_(kind, ...)                                   \
  do {                                                                    \
    const ::mc::GradcheckResult mc_gradcheck_result_ = ::mc::gradcheck(__VA_ARGS__); \
    kind(mc_gradcheck_result_.pass, ::mc::gradcheck_report(mc_gradcheck_result_));   \
  } while (0)
#define MC_CHECK_GRADIENT(...) MC_GRADCHECK_ASSERT_(CHECK_MESSAGE, __VA_ARGS__)
#define MC_REQUIRE_GRADIENT(...) MC_GRADCHECK_ASSERT_(REQUIRE_MESSAGE, __VA_ARGS__)
