// dropout.cpp — seeded inverted dropout: forward beside backward.
#include "autograd/ops.h"

namespace mc {

Var dropout(const Var& x, double p, Generator& gen, bool training) {
  if (!(p >= 0.0 && p < 1.0)) throw std::invalid_argument("dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0) return x;
  // The keep mask is drawn in element order from gen, so the same seed drops the same
  // elements whatever the thread count.
  Tensor mask(x.shape(), x.dtype());
  const double scale = 1.0 / (1.0 - p);
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    T* m = mask.data<T>();
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() < p ? T(0) : static_cast<T>(scale);
  });
  // forward: y = x * m,  m[i] = 0 (dropped, probability p) or 1/(1-p) (kept)
  return record("dropout", mul(x.value(), mask), {x}, [x, mask](const Tensor& gy) {
    // so: dx += gy * m
    accumulate(x, mul(gy, mask));
  });
}

}  // namespace mc
