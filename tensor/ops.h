// ops.h — every tensor kernel minicope has. None of them records gradients; the
// differentiable versions live in autograd/ and call these.
//
// Shapes in comments: [M,K] is a 2-D tensor, [...] any leading dimensions.
#pragma once
#include <vector>

#include "tensor/map.h"
#include "tensor/tensor.h"

namespace mc {

// ---- elementwise, same shape in and out -------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu_tanh(const Tensor& x);  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
Tensor gelu_erf(const Tensor& x);   // 0.5 x (1 + erf(x / sqrt(2)))
Tensor pow(const Tensor& x, double exponent);
Tensor add_scalar(const Tensor& x, double c);
Tensor mul_scalar(const Tensor& x, double c);

// ---- elementwise with NumPy broadcasting ----------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

// ---- in place (same shape; used to accumulate gradients) ----------------------------------
void add_(Tensor& dst, const Tensor& src);                // dst += src
void axpy_(Tensor& dst, double alpha, const Tensor& src);  // dst += alpha * src
void scale_(Tensor& dst, double alpha);                   // dst *= alpha

// ---- reductions --------------------------------------------------------------------------
// Sums accumulate in double in a fixed order (see parallel.h), whatever the dtype.
Tensor sum(const Tensor& x);                                   // shape []
Tensor sum(const Tensor& x, int64_t axis, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t axis, bool keepdim = false);
Tensor max(const Tensor& x);  // NaN if any element is NaN; throws on an empty tensor
struct MaxResult { Tensor values, indices; };  // indices: i64, the first maximum
MaxResult max(const Tensor& x, int64_t axis, bool keepdim = false);
// Sums a broadcast result back to `shape` (the adjoint of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- matrix products through OpenBLAS --------------------------------------------------------
// C = op(A) op(B), op(X) = X or X^T on the last two axes. 2-D: [M,K]x[K,N] -> [M,N].
// Batched: [...,M,K]x[...,K,N] -> [...,M,N]; the batch dimensions must be equal, or one
// side is 2-D and is used for every batch.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// C = beta C + alpha op(A) op(B), in place. C may have fewer batches than A/B: when C is
// 2-D and A or B is batched, the batch products are summed into C in batch order
// (the adjoint of using one matrix for every batch).
void matmul_acc(Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha = 1.0,
                double beta = 1.0);

// ---- softmax over the last axis ------------------------------------------------------------
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);

// ---- indexing (index tensors are i64) ---------------------------------------------------------
// gather: y has index's shape; y[..i..] = x[..i.. with axis coordinate index[..i..]].
// index must match x in every dimension but axis.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
// scatter_add_: dst[..i.. with axis coordinate index[..i..]] += src[..i..] (adjoint of gather).
void scatter_add_(Tensor& dst, int64_t axis, const Tensor& index, const Tensor& src);
// index_select: whole slices; idx is 1-D, y.shape[axis] = idx.numel(). Embedding lookup:
// index_select(table [V,C], 0, ids [N]) -> [N,C].
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& idx);
// index_add_: dst.slice(axis, idx[k]) += src.slice(axis, k), in k order (adjoint of index_select).
void index_add_(Tensor& dst, int64_t axis, const Tensor& idx, const Tensor& src);

// ---- concatenation and slicing along an axis -------------------------------------------------
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end);  // [start, end)
void slice_add_(Tensor& dst, int64_t axis, int64_t start, const Tensor& src);  // adjoint of slice

// ---- layout and scans ------------------------------------------------------------------------
// transpose: swaps two axes (a copy): y[.., j, .., i, ..] = x[.., i, .., j, ..].
Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1);
// cumsum along an axis; reverse sums from the end: y[k] = sum_{t >= k} x[t].
Tensor cumsum(const Tensor& x, int64_t axis, bool reverse = false);
// clamp to [lo, hi] (either bound may be +-inf); NaN stays NaN.
Tensor clamp(const Tensor& x, double lo, double hi);
// floor / ceil as i64 indices (for gathers at fractional positions).
Tensor floor_index(const Tensor& x);
Tensor ceil_index(const Tensor& x);
// floor as a tensor of the same dtype.
Tensor floor(const Tensor& x);

// ---- comparisons for tests and checks ----------------------------------------------------------
double max_abs_diff(const Tensor& a, const Tensor& b);
bool bitwise_equal(const Tensor& a, const Tensor& b);
bool all_finite(const Tensor& x);

}  // namespace mc
