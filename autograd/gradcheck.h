// gradcheck.h — checks a function's analytic gradient against finite differences.
//
// For f(x_1, ..., x_n) -> y of any shape:
//  1. The inputs are converted to f64, and y is scalarised by a fixed random
//     projection: L = sum(y * r), r ~ N(0, 1). One backward pass then checks every
//     output at once (an error in any y[i] shows up in dL/dx unless r[i] happens to be 0).
//  2. Analytic: dL/dx_k by backward().
//  3. Numeric: central differences (L(x + h e_j) - L(x - h e_j)) / 2h for every element
//     j of every input, under NoGradGuard.
//  4. Accumulation: the inputs' gradients are preset to random values G and backward()
//     runs again on a fresh graph: the result must be G + dL/dx (backward adds into a
//     gradient; an op that overwrote it would fail here).
//
// The error of input k is a relative error over its whole gradient:
//   err_k = ||analytic - numeric||_2 / max(||analytic||_2, ||numeric||_2, floor)
//   floor = 1e-3 * max(1, ||numeric gradient of all inputs||_2)
// and the check passes when max_k err_k <= tol and the accumulation error is below 1e-10.
// Why these numbers (docs/autograd.md): in f64 with h = 1e-5 the central difference
// has a truncation error ~h^2 |f'''| ~ 1e-10 and a rounding error ~1e-16 S / h ~ 1e-11 S
// (S the size of the terms of L), so a correct gradient lands between 1e-10 and 1e-7,
// and a wrong one (a missing term, a wrong sign, an off-by-one) lands far above 1e-6.
// The floor keeps an input whose true gradient is zero from turning rounding noise
// into a large relative error.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/var.h"

namespace mc {

struct GradcheckOptions {
  double step = 1e-5;       // h of the central difference
  double tolerance = 1e-6;  // on the relative error
  double floor = 1e-3;      // the smallest denominator of the relative error
  uint64_t seed = 0x5eed;   // of the projection r and the preset gradients
  std::vector<std::string> names;  // the inputs' names in reports ("x", "weight"); default "input k"
  int worst = 5;            // elements a failing input lists
};

// One element of a failing input: where it is, and the two gradients there.
struct GradcheckElement {
  std::vector<int64_t> index;  // into the input's shape
  double analytic = 0.0;       // backward's dL/dx there
  double numeric = 0.0;        // the central difference's
};

// What the check found for one input.
struct GradcheckInput {
  std::string name;               // options.names[k], or "input k"
  Shape shape;
  double rel_err = 0.0;           // err_k above
  double accumulate_err = 0.0;    // max |second - (preset + first)| over its elements
  // empty when it passed; else "wrong value" (backward's gradient differs from the finite
  // differences), "overwritten" (a second backward replaced the gradient already there
  // instead of adding to it: `=` where `+=` belongs), or "wrong accumulation" (it added
  // something else). A wrong value and an accumulation fault are listed together.
  std::vector<std::string> faults;
  std::vector<GradcheckElement> worst;  // wrong value: the elements with the largest |analytic - numeric|
  // an accumulation fault: its worst element, the gradient preset there, what the second
  // backward should have left (preset + analytic) and what it left
  std::vector<int64_t> accumulate_index;
  double preset = 0.0, expected = 0.0, accumulated = 0.0;
  bool pass() const { return faults.empty(); }
};

struct GradcheckResult {
  bool pass = false;
  double max_rel_err = 0.0;             // the largest err_k
  std::vector<double> rel_err;          // err_k per input
  double accumulate_err = 0.0;          // max |second - (preset + first)|
  std::vector<GradcheckInput> inputs;   // per input, in order
  std::vector<std::string> ops;         // the op names on the checked graph
  double tolerance = 0.0;               // the options it ran with
  std::string message;                  // a one-line summary of what failed, if anything
};

// A report a person can act on: each failing input, its fault, its worst elements
// (index: analytic vs numeric) and the ops on the graph; "gradcheck passed ..." otherwise.
// Test helpers print it as the failure message (autograd/gradcheck_doctest.h).
std::string gradcheck_report(const GradcheckResult& r);

using VarFunction = std::function<Var(const std::vector<Var>&)>;

// Checks f at `inputs` (any dtype; they are converted to f64). Non-differentiable
// arguments (indices, masks) belong in f's closure.
GradcheckResult gradcheck(const VarFunction& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

// ---- the registry: one entry per checked case of every differentiable op ------------------
struct OpCheck {
  std::string op;    // the op's name, as its Node records it ("matmul")
  std::string name;  // this case ("matmul[A^T B]")
  std::function<GradcheckResult()> run;
};
// Every case minicope checks; `minicope gradcheck` and the test suite both run these.
// The autograd ops' cases are built in; higher layers add theirs with add_op_check
// (nn adds the attention kernel and whole transformers: register_nn_checks()).
const std::vector<OpCheck>& op_checks();
void add_op_check(OpCheck check);

}  // namespace mc
