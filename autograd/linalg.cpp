// linalg.cpp — matrix product: forward beside backward.
#include "autograd/ops.h"

namespace mc {

Var matmul(const Var& a, const Var& b, bool ta, bool tb) {
  // forward: C = op(A) op(B)    (op(X) = X, or X^T when its flag is set)
  return record("matmul", matmul(a.value(), b.value(), ta, tb), {a, b}, [a, b, ta, tb](const Tensor& gC) {
    // so: d op(A) = gC op(B)^T  and  d op(B) = op(A)^T gC; undoing each op gives the
    // four cases below. matmul_acc adds into the gradient (beta = 1) and, when one
    // side is shared by every batch, sums the batch products into it.
    const Tensor &A = a.value(), &B = b.value();
    if (a.requires_grad()) {
      Tensor& gA = const_cast<Var&>(a).grad_buffer();
      if (!ta) matmul_acc(gA, gC, B, false, !tb);  // dA   = gC op(B)^T
      else     matmul_acc(gA, B, gC, tb, true);    // dA^T = gC op(B)^T  =>  dA = op(B) gC^T
    }
    if (b.requires_grad()) {
      Tensor& gB = const_cast<Var&>(b).grad_buffer();
      if (!tb) matmul_acc(gB, A, gC, !ta, false);  // dB   = op(A)^T gC
      else     matmul_acc(gB, gC, A, true, ta);    // dB^T = op(A)^T gC  =>  dB = gC^T op(A)
    }
  });
}

}  // namespace mc
