// layout.cpp — transpose, cumulative sum, clamp: forward beside backward.
#include "autograd/ops.h"

namespace mc {

Var transpose(const Var& x, int64_t a0, int64_t a1) {
  // forward: y = x with axes a0 and a1 swapped
  return record("transpose", transpose(x.value(), a0, a1), {x}, [x, a0, a1](const Tensor& gy) {
    // so: dx += gy with the same axes swapped back
    accumulate(x, transpose(gy, a0, a1));
  });
}

Var cumsum(const Var& x, int64_t axis, bool reverse) {
  // forward: y[k] = sum_{t <= k} x[t]        (reverse: sum_{t >= k} x[t])
  return record("cumsum", cumsum(x.value(), axis, reverse), {x}, [x, axis, reverse](const Tensor& gy) {
    // so: dx[t] += sum_{k >= t} gy[k]          (reverse: sum_{k <= t} gy[k])
    // the adjoint of a cumulative sum is the cumulative sum in the other direction
    accumulate(x, cumsum(gy, axis, !reverse));
  });
}

Var clamp(const Var& x, double lo, double hi) {
  // forward: y = min(max(x, lo), hi)
  return record("clamp", clamp(x.value(), lo, hi), {x}, [x, lo, hi](const Tensor& gy) {
    // so: dx += gy where lo <= x <= hi, 0 where x was clamped
    accumulate(x, map_binary(gy, x.value(), [lo, hi](auto g, auto v) {
      using T = decltype(v);
      return v >= static_cast<T>(lo) && v <= static_cast<T>(hi) ? g : T(0);
    }));
  });
}

}  // namespace mc
