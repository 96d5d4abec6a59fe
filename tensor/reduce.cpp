// reduce.cpp — sum, mean and max, over everything or along one axis.
//
// Along an axis the tensor is read as [outer, n, inner] (axis_split; n the reduced
// axis); each output element (o, i) is owned by one block and summed over k = 0..n-1
// in order, in double, so results do not depend on the thread count.
#include <cmath>
#include <limits>

#include "tensor/ops.h"

namespace mc {

namespace {

// The shape of a reduction along `axis`: s without that axis, or with it as 1 (keepdim).
Shape reduced_shape(const Shape& s, int64_t axis, bool keepdim) {
  Shape out = s;
  if (keepdim) out[static_cast<size_t>(axis)] = 1;
  else out.erase(out.begin() + axis);
  return out;
}

constexpr int64_t kSumBlock = 4096;  // fixed block of the all-elements sum (see parallel.h)

}  // namespace

Tensor sum(const Tensor& x) {
  return dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    const double s = deterministic_sum(x.numel(), kSumBlock, [p](int64_t i) { return static_cast<double>(p[i]); });
    return Tensor::scalar(s, x.dtype());
  });
}

Tensor mean(const Tensor& x) {
  Tensor s = sum(x);
  scale_(s, 1.0 / static_cast<double>(x.numel()));  // 0/0 = NaN for an empty tensor, as in NumPy
  return s;
}

Tensor sum(const Tensor& x, int64_t axis, bool keepdim) {
  axis = normalize_axis(axis, x.dim(), "sum");
  const AxisSplit v = axis_split(x.shape(), axis);
  Tensor y(reduced_shape(x.shape(), axis, keepdim), x.dtype());
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(v.outer, grain_for(v.n * v.inner), v.n * v.inner, [&](int64_t o0, int64_t o1) {
      std::vector<double> acc(static_cast<size_t>(v.inner));
      for (int64_t o = o0; o < o1; ++o) {
        std::fill(acc.begin(), acc.end(), 0.0);
        const T* row = xp + o * v.n * v.inner;
        for (int64_t k = 0; k < v.n; ++k)
          for (int64_t i = 0; i < v.inner; ++i) acc[static_cast<size_t>(i)] += static_cast<double>(row[k * v.inner + i]);
        for (int64_t i = 0; i < v.inner; ++i) yp[o * v.inner + i] = static_cast<T>(acc[static_cast<size_t>(i)]);
      }
    });
  });
  return y;
}

Tensor mean(const Tensor& x, int64_t axis, bool keepdim) {
  Tensor s = sum(x, axis, keepdim);
  scale_(s, 1.0 / static_cast<double>(x.size(axis)));
  return s;
}

Tensor max(const Tensor& x) {
  if (x.numel() == 0) throw ShapeError("max: empty tensor of shape " + shape_str(x.shape()) + " has no maximum");
  return dispatch_float(x.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    T best = p[0];
    for (int64_t i = 1; i < x.numel() && !std::isnan(best); ++i)
      if (!(p[i] <= best)) best = p[i];  // also takes a NaN
    return Tensor::scalar(static_cast<double>(best), x.dtype());
  });
}

MaxResult max(const Tensor& x, int64_t axis, bool keepdim) {
  axis = normalize_axis(axis, x.dim(), "max");
  if (x.size(axis) == 0) throw ShapeError("max: axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) + " is empty");
  const AxisSplit v = axis_split(x.shape(), axis);
  const Shape out = reduced_shape(x.shape(), axis, keepdim);
  MaxResult r{Tensor(out, x.dtype()), Tensor(out, DType::i64)};
  dispatch_float(x.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* vp = r.values.data<T>();
    int64_t* ip = r.indices.data<int64_t>();
    parallel_for(v.outer * v.inner, grain_for(v.n), v.n, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t o = j / v.inner, i = j % v.inner;
        const T* col = xp + o * v.n * v.inner + i;
        T best = col[0];
        int64_t arg = 0;
        for (int64_t k = 1; k < v.n && !std::isnan(best); ++k)
          if (!(col[k * v.inner] <= best)) best = col[k * v.inner], arg = k;
        vp[j] = best;
        ip[j] = arg;
      }
    });
  });
  return r;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  // Check that `shape` broadcasts to x's shape, then sum each stretched dimension.
  if (broadcast_shapes(shape, x.shape(), "sum_to") != x.shape())
    throw ShapeError("sum_to: shape " + shape_str(shape) + " does not broadcast to " + shape_str(x.shape()));
  Tensor y = x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  for (int64_t d = 0; d < lead; ++d) y = sum(y, 0, false);  // leading dimensions shape lacks
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
    if (shape[static_cast<size_t>(d)] == 1 && y.size(d) != 1) y = sum(y, d, true);
  return y.reshape(shape);
}

}  // namespace mc
