// map.h — elementwise kernels as templates over a generic lambda.
//
// map_unary(x, f) and map_binary(a, b, f) call f with the element type T of the
// inputs (float or double), so one lambda such as [](auto v) { return v > 0 ? v : 0; }
// is compiled for both dtypes. map_binary broadcasts as NumPy does: shapes are aligned
// at the right, and a dimension of size 1 stretches to match the other.
#pragma once
#include <string>

#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace mc {

// The shape two shapes broadcast to; throws ShapeError naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides of `s` (row-major) when it is read as if it had shape `out`: dimensions
// missing or of size 1 (and stretched) get stride 0.
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out);

template <class F>
Tensor map_unary(const Tensor& x, F f, const char* op = "map_unary") {
  Tensor y(x.shape(), x.dtype());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(x.numel(), grain_for(4), 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) yp[i] = static_cast<T>(f(xp[i]));
    });
  });
  return y;
}

// Visits every element of the broadcast of a and b; body(out_index, a_index, b_index).
// Rows of the last output dimension are the unit of parallel work.
template <class Body>
void broadcast_visit(const Shape& out, const Shape& as, const Shape& bs, Body&& body) {
  const int64_t n = shape_numel(out);
  if (n == 0) return;
  const int64_t rank = static_cast<int64_t>(out.size());
  if (as == out && bs == out) {  // the common case: no broadcasting at all
    parallel_for(n, grain_for(4), 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) body(i, i, i);
    });
    return;
  }
  const auto sa = broadcast_strides(as, out), sb = broadcast_strides(bs, out);
  const int64_t inner = rank ? out[static_cast<size_t>(rank - 1)] : 1;
  const int64_t ia = rank ? sa[static_cast<size_t>(rank - 1)] : 0;
  const int64_t ib = rank ? sb[static_cast<size_t>(rank - 1)] : 0;
  const int64_t rows = n / inner;
  parallel_for(rows, grain_for(4 * inner), 4 * inner, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa = 0, ob = 0, rem = r;  // offsets of this row in a and b
      for (int64_t d = rank - 2; d >= 0; --d) {
        const int64_t c = rem % out[static_cast<size_t>(d)];
        rem /= out[static_cast<size_t>(d)];
        oa += c * sa[static_cast<size_t>(d)];
        ob += c * sb[static_cast<size_t>(d)];
      }
      for (int64_t j = 0; j < inner; ++j) body(r * inner + j, oa + j * ia, ob + j * ib);
    }
  });
}

template <class F>
Tensor map_binary(const Tensor& a, const Tensor& b, F f, const char* op = "map_binary") {
  if (a.dtype() != b.dtype())
    throw ShapeError(std::string(op) + ": dtypes differ (" + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()) + ")");
  Tensor y(broadcast_shapes(a.shape(), b.shape(), op), a.dtype());
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* ap = a.data<T>();
    const T* bp = b.data<T>();
    T* yp = y.data<T>();
    broadcast_visit(y.shape(), a.shape(), b.shape(),
                    [&](int64_t o, int64_t i, int64_t j) { yp[o] = static_cast<T>(f(ap[i], bp[j])); });
  });
  return y;
}

// Three inputs of the same shape (no broadcasting): y[i] = f(a[i], b[i], c[i]).
template <class F>
Tensor map_ternary(const Tensor& a, const Tensor& b, const Tensor& c, F f, const char* op = "map_ternary") {
  if (a.shape() != b.shape() || a.shape() != c.shape())
    throw ShapeError(std::string(op) + ": shapes differ: " + shape_str(a.shape()) + ", " + shape_str(b.shape()) + ", " +
                     shape_str(c.shape()));
  Tensor y(a.shape(), a.dtype());
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T *ap = a.data<T>(), *bp = b.data<T>(), *cp = c.data<T>();
    T* yp = y.data<T>();
    parallel_for(a.numel(), grain_for(4), 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) yp[i] = static_cast<T>(f(ap[i], bp[i], cp[i]));
    });
  });
  return y;
}

}  // namespace mc
