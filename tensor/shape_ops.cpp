// shape_ops.cpp — concatenation and slicing along an axis (copies, not views).
#include <cstring>

#include "tensor/ops.h"

namespace mc {

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw ShapeError("concat: no tensors to concatenate");
  const Tensor& first = xs[0];
  axis = normalize_axis(axis, first.dim(), "concat");
  Shape out = first.shape();
  out[static_cast<size_t>(axis)] = 0;
  for (const Tensor& x : xs) {
    bool ok = x.dim() == first.dim() && x.dtype() == first.dtype();
    for (int64_t d = 0; ok && d < x.dim(); ++d)
      if (d != axis && x.size(d) != first.size(d)) ok = false;
    if (!ok)
      throw ShapeError("concat: shape " + shape_str(x.shape()) + " (" + dtype_name(x.dtype()) + ") does not fit " +
                       shape_str(first.shape()) + " (" + dtype_name(first.dtype()) + ") along axis " + std::to_string(axis));
    out[static_cast<size_t>(axis)] += x.size(axis);
  }
  Tensor y(out, first.dtype());
  const AxisSplit sp = axis_split(out, axis);
  const int64_t inner_bytes = sp.inner * static_cast<int64_t>(dtype_size(first.dtype()));  // one slot of the axis
  const int64_t out_row = sp.n * inner_bytes;
  int64_t offset = 0;  // bytes into each output row where this input goes
  for (const Tensor& x : xs) {
    const int64_t chunk = x.size(axis) * inner_bytes;
    auto* dst = static_cast<char*>(y.raw());
    const auto* src = static_cast<const char*>(x.raw());
    for (int64_t o = 0; o < sp.outer && chunk > 0; ++o) std::memcpy(dst + o * out_row + offset, src + o * chunk, size_t(chunk));
    offset += chunk;
  }
  return y;
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end) {
  axis = normalize_axis(axis, x.dim(), "slice");
  const AxisSplit sp = axis_split(x.shape(), axis);
  const int64_t n = sp.n;
  if (start < 0 || end < start || end > n)
    throw ShapeError("slice: range [" + std::to_string(start) + ", " + std::to_string(end) + ") does not fit axis " +
                     std::to_string(axis) + " of shape " + shape_str(x.shape()));
  Shape out = x.shape();
  out[static_cast<size_t>(axis)] = end - start;
  Tensor y(out, x.dtype());
  const int64_t inner_bytes = sp.inner * static_cast<int64_t>(dtype_size(x.dtype()));  // one slot of the axis
  const int64_t chunk = (end - start) * inner_bytes;
  for (int64_t o = 0; o < sp.outer && chunk > 0; ++o)
    std::memcpy(static_cast<char*>(y.raw()) + o * chunk,
                static_cast<const char*>(x.raw()) + o * n * inner_bytes + start * inner_bytes, size_t(chunk));
  return y;
}

void slice_add_(Tensor& dst, int64_t axis, int64_t start, const Tensor& src) {
  axis = normalize_axis(axis, dst.dim(), "slice_add");
  const int64_t len = src.dim() == dst.dim() ? src.size(axis) : -1;
  Shape want = dst.shape();
  if (len >= 0) want[static_cast<size_t>(axis)] = len;
  if (len < 0 || src.shape() != want || start < 0 || start + len > dst.size(axis) || src.dtype() != dst.dtype())
    throw ShapeError("slice_add: src " + shape_str(src.shape()) + " does not fit dst " + shape_str(dst.shape()) +
                     " at offset " + std::to_string(start) + " of axis " + std::to_string(axis));
  const auto [outer, n, inner] = axis_split(dst.shape(), axis);
  dispatch_float(dst.dtype(), "slice_add", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < len * inner; ++i) d[(o * n + start) * inner + i] += s[o * len * inner + i];
  });
}

}  // namespace mc
