// linalg.cpp — matrix product: forward beside backward.
#include "autograd/ops.h"

namespace mc {

Var matmul(const Var& a, const Var& b, bool ta, bool tb) {
  // forward: C = op(A) op(B)    (op(X) = X, or X^T when its flag is set)
  return record("matmul", matmul(a.value(), b.value(), ta, tb), {a, b}, [a, b, ta, tb](const Tensor& gC) {
    // so: d op(A) = gC op(B)^T  and  d op(B) = op(A)^T gC; undoing each op gives the
    // four cases below. matmul_acc adds into the gradient (beta = 1) and, when one
    // side is shared by every batch, sums the batch products into it.
    // A gradient created here is written (beta = 0) rather than zeroed and added to.
    const Tensor &A = a.value(), &B = b.value();
    bool fresh = false;
    if (a.requires_grad()) {
      Tensor& gA = a.grad_buffer(&fresh);
      const double beta = fresh ? 0.0 : 1.0;
      if (!ta) matmul_acc(gA, gC, B, false, !tb, 1.0, beta);  // dA   = gC op(B)^T
      else     matmul_acc(gA, B, gC, tb, true, 1.0, beta);    // dA^T = gC op(B)^T  =>  dA = op(B) gC^T
    }
    if (b.requires_grad()) {
      Tensor& gB = b.grad_buffer(&fresh);
      const double beta = fresh ? 0.0 : 1.0;
      if (!tb) matmul_acc(gB, A, gC, !ta, false, 1.0, beta);  // dB   = op(A)^T gC
      else     matmul_acc(gB, gC, A, true, ta, 1.0, beta);    // dB^T = op(A)^T gC  =>  dB = gC^T op(A)
    }
  });
}

}  // namespace mc
