// softmax.cpp — softmax and log-softmax over the last axis: forward beside backward.
#include <cmath>

#include "autograd/ops.h"

namespace mc {

namespace {
// For each row: out[j] = f(gy row, y row, j, s), s = sum_j row_term(gy[j], y[j]).
template <class RowTerm, class Out>
Tensor rowwise_backward(const Tensor& gy, const Tensor& y, RowTerm row_term, Out out) {
  Tensor gx(y.shape(), y.dtype());
  const int64_t n = y.size(-1), rows = n ? y.numel() / n : 0;
  dispatch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *g = gy.data<T>(), *yp = y.data<T>();
    T* d = gx.data<T>();
    parallel_for(rows, grain_for(4 * n), 4 * n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T *gr = g + r * n, *yr = yp + r * n;
        double s = 0.0;
        for (int64_t j = 0; j < n; ++j) s += static_cast<double>(row_term(gr[j], yr[j]));
        for (int64_t j = 0; j < n; ++j) d[r * n + j] = static_cast<T>(out(gr[j], yr[j], static_cast<T>(s)));
      }
    });
  });
  return gx;
}
}  // namespace

Var softmax(const Var& x) {
  // forward: y[j] = e^x[j] / sum_k e^x[k]
  Tensor y = softmax(x.value());
  return record("softmax", y, {x}, [x, y](const Tensor& gy) {
    // so: dx[j] += y[j] (gy[j] - sum_k gy[k] y[k])
    accumulate(x, rowwise_backward(gy, y, [](auto g, auto v) { return g * v; },
                                   [](auto g, auto v, auto s) { return v * (g - s); }));
  });
}

Var log_softmax(const Var& x) {
  // forward: y[j] = x[j] - log sum_k e^x[k]
  Tensor y = log_softmax(x.value());
  return record("log_softmax", y, {x}, [x, y](const Tensor& gy) {
    // so: dx[j] += gy[j] - e^y[j] sum_k gy[k]       (e^y is the softmax)
    accumulate(x, rowwise_backward(gy, y, [](auto g, auto) { return g; },
                                   [](auto g, auto v, auto s) { return g - std::exp(v) * s; }));
  });
}

}  // namespace mc
