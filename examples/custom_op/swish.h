// swish.h — a new differentiable op, defined outside minicope.
//
//   y = x * sigmoid(beta * x)        x [N, C], beta [C] (one slope per channel)
//
// (Swish with a learned slope: beta = 1 is SiLU, large beta approaches ReLU.)
#pragma once
#include "autograd/var.h"

namespace custom {

mc::Var swish(const mc::Var& x, const mc::Var& beta);

// The same op with a mistake in its backward (beta's gradient lacks a factor x), for
// the test that shows the gradient check catching it.
mc::Var swish_wrong(const mc::Var& x, const mc::Var& beta);

}  // namespace custom
