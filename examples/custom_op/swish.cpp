// swish.cpp — forward beside backward, as minicope's own ops are written.
//
// Notation: gy is the gradient arriving at y; "dx +=" adds into x's gradient. With
// s = sigmoid(beta x):
//   dy/dx    = s + beta x s (1 - s)
//   dy/dbeta = x^2 s (1 - s)          (summed over the N rows beta was broadcast to)
#include "swish.h"

#include "tensor/map.h"
#include "tensor/ops.h"

namespace custom {

namespace {
mc::Var swish_impl(const mc::Var& x, const mc::Var& beta, bool wrong) {
  if (x.value().dim() != 2 || beta.value().dim() != 1 || beta.size(0) != x.size(1))
    throw mc::ShapeError("swish: x must be [N, C] and beta [C], got " + mc::shape_str(x.shape()) + " and " +
                         mc::shape_str(beta.shape()));
  // forward: s = sigmoid(beta x); y = x s
  const mc::Tensor s = mc::sigmoid(mc::mul(x.value(), beta.value()));
  const mc::Tensor y = mc::mul(x.value(), s);
  // record() puts one node on the tape: its inputs, and the backward below. It runs only
  // if something needs a gradient, and must *add* into the inputs' gradients.
  return mc::record(wrong ? "swish_wrong" : "swish", y, {x, beta}, [x, beta, s, wrong](const mc::Tensor& gy) {
    const mc::Tensor& xv = x.value();
    // so: dx += gy (s + beta x s (1 - s))       (y = x s: product rule, ds/dx = beta s (1 - s))
    const mc::Tensor t = mc::map_binary(s, mc::mul(beta.value(), xv), [](auto si, auto bx) { return si + bx * si * (1 - si); });
    mc::accumulate(x, mc::mul(gy, t));
    // so: dbeta += sum over rows of gy x^2 s (1 - s)   (accumulate sums [N, C] back to [C])
    const mc::Tensor ds = mc::map_binary(gy, s, [](auto g, auto si) { return g * si * (1 - si); });
    mc::accumulate(beta, wrong ? mc::mul(ds, xv) : mc::mul(ds, mc::mul(xv, xv)));
  });
}
}  // namespace

mc::Var swish(const mc::Var& x, const mc::Var& beta) { return swish_impl(x, beta, false); }
mc::Var swish_wrong(const mc::Var& x, const mc::Var& beta) { return swish_impl(x, beta, true); }

}  // namespace custom
