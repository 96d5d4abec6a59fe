// layer_norm.cpp — fused layer normalisation over the last axis, with its backward
// derived by hand (one pass over each row instead of a dozen elementwise ops).
//
// Shapes: x [N, C] (any leading dimensions are flattened into N), gamma [C], beta [C].
//
// forward, per row:
//   mu   = sum_c x[c] / C
//   var  = sum_c (x[c] - mu)^2 / C
//   rstd = 1 / sqrt(var + eps)
//   xhat[c] = (x[c] - mu) * rstd
//   y[c]    = xhat[c] * gamma[c] + beta[c]
//
// backward, per row (g = gy[c] * gamma[c], the gradient reaching xhat):
//   dbeta[c]  += gy[c]
//   dgamma[c] += gy[c] * xhat[c]
//   dx[c]     += rstd * (g[c] - mean_c(g) - xhat[c] * mean_c(g * xhat))
// The last line is the chain rule through mu and rstd: a shift of every x leaves xhat
// unchanged (hence - mean g) and a scaling of the row is undone by rstd (hence the
// xhat * mean(g xhat) term). docs/autograd.md works it out.
#include <cmath>

#include "autograd/ops.h"

namespace mc {

namespace {
constexpr int64_t kRowBlock = 32;  // rows per block of the dgamma/dbeta partial sums
}

Var layer_norm(const Var& x, const Var& gamma, const Var& beta, double eps) {
  const int64_t C = x.value().dim() ? x.size(-1) : 0;
  if (x.value().dim() == 0 || gamma.shape() != Shape{C} || beta.shape() != Shape{C})
    throw ShapeError("layer_norm: x " + shape_str(x.shape()) + " needs gamma and beta of shape [" + std::to_string(C) +
                     "], got " + shape_str(gamma.shape()) + " and " + shape_str(beta.shape()));
  if (gamma.dtype() != x.dtype() || beta.dtype() != x.dtype())
    throw ShapeError(std::string("layer_norm: dtypes differ: x ") + dtype_name(x.dtype()) + ", gamma " +
                     dtype_name(gamma.dtype()) + ", beta " + dtype_name(beta.dtype()));
  const int64_t N = C ? x.numel() / C : 0;
  Tensor y(x.shape(), x.dtype()), xhat(x.shape(), x.dtype()), rstd({N}, x.dtype());
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const T *xp = x.value().data<T>(), *gp = gamma.value().data<T>(), *bp = beta.value().data<T>();
    T *yp = y.data<T>(), *hp = xhat.data<T>(), *rp = rstd.data<T>();
    parallel_for(N, grain_for(8 * C), 8 * C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * C;
        double mu = 0.0, var = 0.0;
        for (int64_t c = 0; c < C; ++c) mu += xr[c];
        mu /= static_cast<double>(C);
        for (int64_t c = 0; c < C; ++c) var += (xr[c] - mu) * (xr[c] - mu);
        var /= static_cast<double>(C);
        const T rs = static_cast<T>(1.0 / std::sqrt(var + eps));
        rp[r] = rs;
        for (int64_t c = 0; c < C; ++c) {
          const T h = (xr[c] - static_cast<T>(mu)) * rs;
          hp[r * C + c] = h;
          yp[r * C + c] = h * gp[c] + bp[c];
        }
      }
    });
  });

  return record("layer_norm", y, {x, gamma, beta}, [x, gamma, beta, xhat, rstd, N, C](const Tensor& gy) {
    dispatch_float(gy.dtype(), "layer_norm_backward", [&](auto tag) {
      using T = decltype(tag);
      const T *g = gy.data<T>(), *hp = xhat.data<T>(), *rp = rstd.data<T>(), *gp = gamma.value().data<T>();
      // dx: rows are independent.
      if (x.requires_grad()) {
        T* dx = x.grad_buffer().data<T>();
        parallel_for(N, grain_for(6 * C), 6 * C, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const T *gr = g + r * C, *hr = hp + r * C;
            double mean_g = 0.0, mean_gh = 0.0;  // mean(g), mean(g * xhat), g = gy * gamma
            for (int64_t c = 0; c < C; ++c) {
              mean_g += gr[c] * gp[c];
              mean_gh += gr[c] * gp[c] * hr[c];
            }
            mean_g /= static_cast<double>(C);
            mean_gh /= static_cast<double>(C);
            for (int64_t c = 0; c < C; ++c)
              dx[r * C + c] += rp[r] * (gr[c] * gp[c] - static_cast<T>(mean_g) - hr[c] * static_cast<T>(mean_gh));
          }
        });
      }
      // dgamma, dbeta: sums over rows, in fixed row blocks then in block order.
      if (gamma.requires_grad() || beta.requires_grad()) {
        const int64_t nblocks = (N + kRowBlock - 1) / kRowBlock;
        std::vector<double> part(static_cast<size_t>(nblocks * 2 * C), 0.0);
        parallel_for(nblocks, 1, kRowBlock * C * 2, [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            double* dg = part.data() + b * 2 * C;
            double* db = dg + C;
            for (int64_t r = b * kRowBlock; r < std::min(N, (b + 1) * kRowBlock); ++r)
              for (int64_t c = 0; c < C; ++c) {
                dg[c] += g[r * C + c] * hp[r * C + c];
                db[c] += g[r * C + c];
              }
          }
        });
        Tensor* dgamma = gamma.requires_grad() ? &gamma.grad_buffer() : nullptr;
        Tensor* dbeta = beta.requires_grad() ? &beta.grad_buffer() : nullptr;
        for (int64_t c = 0; c < C; ++c) {
          double sg = 0.0, sb = 0.0;
          for (int64_t b = 0; b < nblocks; ++b) {
            sg += part[static_cast<size_t>(b * 2 * C + c)];
            sb += part[static_cast<size_t>(b * 2 * C + C + c)];
          }
          if (dgamma) dgamma->data<T>()[c] += static_cast<T>(sg);
          if (dbeta) dbeta->data<T>()[c] += static_cast<T>(sb);
        }
      }
    });
  });
}

}  // namespace mc
