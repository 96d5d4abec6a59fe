// reduce.cpp — sum, mean, max: forward beside backward.
#include "autograd/ops.h"

namespace mc {

namespace {
// The shape a reduction along `axis` has with keepdim, so gy can be broadcast back.
Shape keepdim_shape(const Shape& s, int64_t axis) {
  Shape k = s;
  k[static_cast<size_t>(axis)] = 1;
  return k;
}
}  // namespace

Var sum(const Var& x) {
  // forward: y = sum_i x[i]
  return record("sum", sum(x.value()), {x}, [x](const Tensor& gy) {
    // so: dx[i] += gy (a scalar stretched over x)
    accumulate(x, gy);
  });
}

Var sum(const Var& x, int64_t axis, bool keepdim) {
  axis = normalize_axis(axis, x.value().dim(), "sum");
  // forward: y[o,i] = sum_k x[o,k,i]
  return record("sum", sum(x.value(), axis, keepdim), {x}, [x, axis](const Tensor& gy) {
    // so: dx[o,k,i] += gy[o,i]
    accumulate(x, gy.reshape(keepdim_shape(x.shape(), axis)));
  });
}

Var mean(const Var& x) {
  const double n = static_cast<double>(x.numel());
  // forward: y = sum_i x[i] / n
  return record("mean", mean(x.value()), {x}, [x, n](const Tensor& gy) {
    // so: dx[i] += gy / n
    accumulate(x, mul_scalar(gy, 1.0 / n));
  });
}

Var mean(const Var& x, int64_t axis, bool keepdim) {
  axis = normalize_axis(axis, x.value().dim(), "mean");
  const double n = static_cast<double>(x.size(axis));
  // forward: y[o,i] = sum_k x[o,k,i] / n
  return record("mean", mean(x.value(), axis, keepdim), {x}, [x, axis, n](const Tensor& gy) {
    // so: dx[o,k,i] += gy[o,i] / n
    accumulate(x, mul_scalar(gy, 1.0 / n).reshape(keepdim_shape(x.shape(), axis)));
  });
}

Var max(const Var& x) {
  // forward: y = x[a], a = the first index of the largest element
  MaxResult m = max(x.value().reshape({-1}), 0, true);
  return record("max", m.values.reshape({}), {x}, [x, idx = m.indices](const Tensor& gy) {
    // so: dx[a] += gy, other elements get nothing
    if (!x.requires_grad()) return;
    Tensor& g = x.grad_buffer();
    Tensor flat = g.reshape({-1});
    scatter_add_(flat, 0, idx, gy.reshape({1}));
  });
}

Var max(const Var& x, int64_t axis, bool keepdim) {
  axis = normalize_axis(axis, x.value().dim(), "max");
  // forward: y[o,i] = x[o, a[o,i], i], a = the first index of the largest along the axis
  MaxResult m = max(x.value(), axis, true);
  Shape dropped = x.shape();
  dropped.erase(dropped.begin() + axis);
  Tensor values = keepdim ? m.values : m.values.reshape(dropped);
  return record("max", values, {x}, [x, axis, idx = m.indices](const Tensor& gy) {
    // so: dx[o, a[o,i], i] += gy[o,i]
    if (!x.requires_grad()) return;
    Tensor& g = x.grad_buffer();
    scatter_add_(g, axis, idx, gy.reshape(idx.shape()));
  });
}

}  // namespace mc
