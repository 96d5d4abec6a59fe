// shape.cpp — reshape, concatenation and slicing: forward beside backward.
#include "autograd/ops.h"

namespace mc {

Var reshape(const Var& x, Shape s) {
  // forward: y = x read with another shape (a view)
  return record("reshape", x.value().reshape(std::move(s)), {x}, [x](const Tensor& gy) {
    // so: dx += gy read with x's shape
    accumulate(x, gy.reshape(x.shape()));
  });
}

Var concat(const std::vector<Var>& xs, int64_t axis) {
  std::vector<Tensor> values;
  for (const Var& x : xs) values.push_back(x.value());
  Tensor y = concat(values, axis);
  axis = normalize_axis(axis, y.dim(), "concat");
  // forward: y = [x0 | x1 | ...] along axis
  return record("concat", y, xs, [xs, axis](const Tensor& gy) {
    // so: dx_i += the slice of gy that x_i filled
    int64_t at = 0;
    for (const Var& x : xs) {
      const int64_t len = x.size(axis);
      if (x.requires_grad()) accumulate(x, slice(gy, axis, at, at + len));
      at += len;
    }
  });
}

Var slice(const Var& x, int64_t axis, int64_t start, int64_t end) {
  Tensor y = slice(x.value(), axis, start, end);
  axis = normalize_axis(axis, x.value().dim(), "slice");
  // forward: y = x[..., start:end, ...] along axis
  return record("slice", y, {x}, [x, axis, start](const Tensor& gy) {
    // so: dx[..., start:end, ...] += gy
    if (!x.requires_grad()) return;
    slice_add_(x.grad_buffer(), axis, start, gy);
  });
}

}  // namespace mc
