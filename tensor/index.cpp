// index.cpp — gather / scatter_add (element by element along an axis) and
// index_select / index_add (whole slices: embedding lookups and their gradient).
//
// The adjoints write with +=, and several indices may name the same slot. To stay
// deterministic each block owns a disjoint set of destination slots and visits the
// indices in order.
#include <algorithm>

#include "tensor/ops.h"

namespace mc {

namespace {

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw ShapeError(std::string(op) + ": dtypes differ: " + dtype_name(a.dtype()) + shape_str(a.shape()) + " and " +
                     dtype_name(b.dtype()) + shape_str(b.shape()));
}

void check_index_dtype(const Tensor& index, const char* op) {
  if (index.dtype() != DType::i64)
    throw ShapeError(std::string(op) + ": index must be i64, got " + dtype_name(index.dtype()));
}

[[noreturn]] void out_of_range(const char* op, int64_t value, int64_t n, const Shape& s) {
  throw ShapeError(std::string(op) + ": index " + std::to_string(value) + " is out of range [0, " + std::to_string(n) +
                   ") for shape " + shape_str(s));
}

// gather and scatter_add index x by `index`, which matches x in every axis but `axis`.
void check_gather_shapes(const Tensor& x, int64_t axis, const Tensor& index, const char* op) {
  check_index_dtype(index, op);
  bool ok = index.dim() == x.dim();
  for (int64_t d = 0; ok && d < x.dim(); ++d)
    if (d != axis && index.size(d) != x.size(d)) ok = false;
  if (!ok)
    throw ShapeError(std::string(op) + ": index shape " + shape_str(index.shape()) + " must match " +
                     shape_str(x.shape()) + " in every axis but " + std::to_string(axis));
}

// The walk gather and scatter_add share: for every element `at` of an index tensor
// split as `is` around the axis, the element of the indexed tensor (split as `xs`) it
// names, (o, index[at], i). Outer blocks run in parallel, each in order; an index out
// of range throws.
template <class Fn>
void for_each_index(const AxisSplit& is, const int64_t* ip, const AxisSplit& xs, const char* op, const Shape& shape, Fn fn) {
  parallel_for(is.outer, grain_for(is.n * is.inner), is.n * is.inner, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t k = 0; k < is.n; ++k)
        for (int64_t i = 0; i < is.inner; ++i) {
          const int64_t at = (o * is.n + k) * is.inner + i, j = ip[at];
          if (j < 0 || j >= xs.n) out_of_range(op, j, xs.n, shape);
          fn(at, (o * xs.n + j) * xs.inner + i);
        }
  });
}

}  // namespace

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  axis = normalize_axis(axis, x.dim(), "gather");
  check_gather_shapes(x, axis, index, "gather");
  Tensor y(index.shape(), x.dtype());
  const AxisSplit xs = axis_split(x.shape(), axis), is = axis_split(index.shape(), axis);
  dispatch_float(x.dtype(), "gather", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    const int64_t* ip = index.data<int64_t>();
    T* yp = y.data<T>();
    for_each_index(is, ip, xs, "gather", x.shape(), [&](int64_t at, int64_t from) { yp[at] = xp[from]; });
  });
  return y;
}

void scatter_add_(Tensor& dst, int64_t axis, const Tensor& index, const Tensor& src) {
  axis = normalize_axis(axis, dst.dim(), "scatter_add");
  check_gather_shapes(dst, axis, index, "scatter_add");
  check_same_dtype(dst, src, "scatter_add");
  if (src.shape() != index.shape())
    throw ShapeError("scatter_add: src shape " + shape_str(src.shape()) + " differs from index shape " +
                     shape_str(index.shape()));
  const AxisSplit ds = axis_split(dst.shape(), axis), is = axis_split(index.shape(), axis);
  dispatch_float(dst.dtype(), "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    T* dp = dst.data<T>();
    const int64_t* ip = index.data<int64_t>();
    const T* sp = src.data<T>();
    // Block o owns dst[o, :, :]; inside it, k runs in order.
    for_each_index(is, ip, ds, "scatter_add", dst.shape(), [&](int64_t at, int64_t to) { dp[to] += sp[at]; });
  });
}

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& idx) {
  axis = normalize_axis(axis, x.dim(), "index_select");
  check_index_dtype(idx, "index_select");
  if (idx.dim() != 1) throw ShapeError("index_select: idx must be 1-D, got shape " + shape_str(idx.shape()));
  Shape out = x.shape();
  out[static_cast<size_t>(axis)] = idx.numel();
  Tensor y(out, x.dtype());
  const AxisSplit xs = axis_split(x.shape(), axis);
  const int64_t m = idx.numel();
  const int64_t* ip = idx.data<int64_t>();
  for (int64_t k = 0; k < m; ++k)
    if (ip[k] < 0 || ip[k] >= xs.n) out_of_range("index_select", ip[k], xs.n, x.shape());
  dispatch_float(x.dtype(), "index_select", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(xs.outer * m, grain_for(xs.inner), xs.inner, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t o = j / m, k = j % m;
        std::copy_n(xp + (o * xs.n + ip[k]) * xs.inner, xs.inner, yp + j * xs.inner);
      }
    });
  });
  return y;
}

void index_add_(Tensor& dst, int64_t axis, const Tensor& idx, const Tensor& src) {
  axis = normalize_axis(axis, dst.dim(), "index_add");
  check_index_dtype(idx, "index_add");
  if (idx.dim() != 1) throw ShapeError("index_add: idx must be 1-D, got shape " + shape_str(idx.shape()));
  Shape want = dst.shape();
  want[static_cast<size_t>(axis)] = idx.numel();
  if (src.shape() != want)
    throw ShapeError("index_add: src shape " + shape_str(src.shape()) + " should be " + shape_str(want) + " for dst " +
                     shape_str(dst.shape()) + " and " + std::to_string(idx.numel()) + " indices");
  check_same_dtype(dst, src, "index_add");
  const AxisSplit ds = axis_split(dst.shape(), axis);
  const int64_t m = idx.numel();
  const int64_t* ip = idx.data<int64_t>();
  for (int64_t k = 0; k < m; ++k)
    if (ip[k] < 0 || ip[k] >= ds.n) out_of_range("index_add", ip[k], ds.n, dst.shape());
  constexpr int64_t kColBlock = 64;  // columns of a slice per block: each block owns them
  const int64_t col_blocks = (ds.inner + kColBlock - 1) / kColBlock;
  dispatch_float(dst.dtype(), "index_add", [&](auto tag) {
    using T = decltype(tag);
    T* dp = dst.data<T>();
    const T* sp = src.data<T>();
    parallel_for(ds.outer * col_blocks, 1, m * kColBlock, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t o = b / col_blocks, c0 = (b % col_blocks) * kColBlock, c1 = std::min(ds.inner, c0 + kColBlock);
        for (int64_t k = 0; k < m; ++k) {
          T* d = dp + (o * ds.n + ip[k]) * ds.inner;
          const T* s = sp + (o * m + k) * ds.inner;
          for (int64_t c = c0; c < c1; ++c) d[c] += s[c];
        }
      }
    });
  });
}

}  // namespace mc
