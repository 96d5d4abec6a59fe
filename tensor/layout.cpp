// layout.cpp — transpose (a copy that swaps two axes), cumulative sums along an axis,
// clamp and floor/ceil.
#include <cmath>
#include <cstring>

#include "tensor/ops.h"

namespace mc {

Tensor transpose(const Tensor& x, int64_t a0, int64_t a1) {
  a0 = normalize_axis(a0, x.dim(), "transpose");
  a1 = normalize_axis(a1, x.dim(), "transpose");
  if (a0 == a1) return x.clone();
  Shape out = x.shape();
  std::swap(out[static_cast<size_t>(a0)], out[static_cast<size_t>(a1)]);
  Tensor y(out, x.dtype());
  if (x.numel() == 0) return y;
  // Strides of x, permuted into y's axis order: y's element at coordinates c reads x at
  // sum_d c[d] * xs[d].
  const int64_t rank = x.dim();
  std::vector<int64_t> st(static_cast<size_t>(rank));
  int64_t s = 1;
  for (int64_t d = rank - 1; d >= 0; --d) st[static_cast<size_t>(d)] = s, s *= x.size(d);
  std::swap(st[static_cast<size_t>(a0)], st[static_cast<size_t>(a1)]);
  const int64_t inner = out.back(), rows = y.numel() / inner, inner_stride = st.back();
  const size_t es = dtype_size(x.dtype());
  const auto* xp = static_cast<const char*>(x.raw());
  auto* yp = static_cast<char*>(y.raw());
  parallel_for(rows, grain_for(inner), inner, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t off = 0, rem = r;
      for (int64_t d = rank - 2; d >= 0; --d) {
        off += (rem % out[static_cast<size_t>(d)]) * st[static_cast<size_t>(d)];
        rem /= out[static_cast<size_t>(d)];
      }
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(yp + (r * inner + j) * es, xp + (off + j * inner_stride) * es, es);
    }
  });
  return y;
}

Tensor cumsum(const Tensor& x, int64_t axis, bool reverse) {
  axis = normalize_axis(axis, x.dim(), "cumsum");
  const auto [outer, n, inner] = axis_split(x.shape(), axis);
  Tensor y(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "cumsum", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    // Each (o, i) column is scanned by one block, in one fixed direction.
    parallel_for(outer * inner, grain_for(n), n, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t base = (c / inner) * n * inner + c % inner;
        T acc = 0;
        for (int64_t t = 0; t < n; ++t) {
          const int64_t k = reverse ? n - 1 - t : t;
          acc += xp[base + k * inner];
          yp[base + k * inner] = acc;
        }
      }
    });
  });
  return y;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  if (lo > hi) throw ShapeError("clamp: lower bound " + std::to_string(lo) + " is above upper bound " + std::to_string(hi));
  return map_unary(x, [lo, hi](auto v) {
    using T = decltype(v);
    return v < static_cast<T>(lo) ? static_cast<T>(lo) : v > static_cast<T>(hi) ? static_cast<T>(hi) : v;
  }, "clamp");
}

Tensor floor(const Tensor& x) { return map_unary(x, [](auto v) { return std::floor(v); }, "floor"); }

static Tensor to_index(const Tensor& x, const char* op, bool up) {
  Tensor y(x.shape(), DType::i64);
  int64_t* yp = y.data<int64_t>();
  dispatch_float(x.dtype(), op, [&](auto tag) {
    const auto* xp = x.data<decltype(tag)>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (!std::isfinite(xp[i])) throw ShapeError(std::string(op) + ": non-finite value at element " + std::to_string(i));
      yp[i] = static_cast<int64_t>(up ? std::ceil(xp[i]) : std::floor(xp[i]));
    }
  });
  return y;
}
Tensor floor_index(const Tensor& x) { return to_index(x, "floor_index", false); }
Tensor ceil_index(const Tensor& x) { return to_index(x, "ceil_index", true); }

}  // namespace mc
