// softmax.cpp — softmax and log-softmax over the last axis, one row per work item.
#include <cmath>

#include "tensor/ops.h"

namespace mc {

namespace {

// Applies row(x_row, y_row, n) to every row of the last axis.
template <class Row>
Tensor rowwise(const Tensor& x, const char* op, Row row) {
  if (x.dim() == 0) throw ShapeError(std::string(op) + ": needs at least one axis, got a scalar");
  Tensor y(x.shape(), x.dtype());
  const int64_t n = x.size(-1);
  if (x.numel() == 0) return y;
  const int64_t rows = x.numel() / n;
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(rows, grain_for(8 * n), 8 * n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) row(xp + r * n, yp + r * n, n);
    });
  });
  return y;
}

// max of a row; with a NaN anywhere the result is NaN (and so is the whole row's output).
template <class T>
T row_max(const T* x, int64_t n) {
  T m = x[0];
  for (int64_t j = 1; j < n; ++j)
    if (!(x[j] <= m)) m = x[j];
  return m;
}

}  // namespace

Tensor softmax(const Tensor& x) {
  return rowwise(x, "softmax", [](const auto* xr, auto* yr, int64_t n) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(xr)>>;
    const T m = row_max(xr, n);
    double s = 0.0;
    for (int64_t j = 0; j < n; ++j) s += static_cast<double>(yr[j] = std::exp(xr[j] - m));
    const T inv = static_cast<T>(1.0 / s);
    for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
  });
}

Tensor log_softmax(const Tensor& x) {
  return rowwise(x, "log_softmax", [](const auto* xr, auto* yr, int64_t n) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(xr)>>;
    const T m = row_max(xr, n);
    double s = 0.0;
    for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(xr[j] - m));
    const T lse = m + static_cast<T>(std::log(s));
    for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] - lse;
  });
}

}  // namespace mc
