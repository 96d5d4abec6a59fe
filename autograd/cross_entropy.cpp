// cross_entropy.cpp — fused log-softmax + negative log-likelihood with a row mask.
//
// Shapes: logits [N, V] (leading dimensions flattened), targets [N] i64, mask [N].
//
// forward, per row i with t = targets[i]:
//   lse_i  = log sum_v e^logits[i,v]
//   nll_i  = lse_i - logits[i,t]
//   loss   = sum_i m_i nll_i / M,   M = sum_i m_i   (loss = 0 when M = 0)
// backward:
//   dlogits[i,v] += gloss * m_i / M * (softmax[i,v] - [v == t])
// Fusing saves the [N, V] log-probabilities a composed version would keep, and the
// gradient is one pass over the logits.
#include <cmath>

#include "autograd/ops.h"

namespace mc {

Var cross_entropy(const Var& logits, const Tensor& targets, const std::optional<Tensor>& mask) {
  const Tensor& L = logits.value();
  if (L.dim() < 1 || targets.dtype() != DType::i64 || targets.numel() * (L.dim() ? L.size(-1) : 0) != L.numel() ||
      Shape(L.shape().begin(), L.shape().end() - 1) != targets.shape())
    throw ShapeError("cross_entropy: logits " + shape_str(L.shape()) + " need i64 targets of shape [...] matching all "
                     "but the last axis, got " + dtype_name(targets.dtype()) + shape_str(targets.shape()));
  if (mask && (mask->shape() != targets.shape() || mask->dtype() != L.dtype()))
    throw ShapeError("cross_entropy: mask " + shape_str(mask->shape()) + " (" + dtype_name(mask->dtype()) +
                     ") must have the targets' shape " + shape_str(targets.shape()) + " and the logits' dtype");
  const int64_t V = L.size(-1), N = targets.numel();
  const int64_t* tp = targets.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    if (tp[i] < 0 || tp[i] >= V)
      throw ShapeError("cross_entropy: target " + std::to_string(tp[i]) + " at row " + std::to_string(i) +
                       " is out of range [0, " + std::to_string(V) + ")");

  Tensor lse({N}, DType::f64);  // kept for the backward pass
  double weight_sum = 0.0, loss_sum = 0.0;
  dispatch_float(L.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* lp = L.data<T>();
    const T* mp = mask ? mask->data<T>() : nullptr;
    double* lsep = lse.data<double>();
    std::vector<double> nll(static_cast<size_t>(N));
    parallel_for(N, grain_for(4 * V), 4 * V, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = lp + r * V;
        double m = row[0];
        for (int64_t v = 1; v < V; ++v) m = std::max(m, static_cast<double>(row[v]));
        double s = 0.0;
        for (int64_t v = 0; v < V; ++v) s += std::exp(row[v] - m);
        lsep[r] = m + std::log(s);
        nll[static_cast<size_t>(r)] = lsep[r] - row[tp[r]];
      }
    });
    for (int64_t r = 0; r < N; ++r) {  // in order: the same sum on any thread count
      const double w = mp ? static_cast<double>(mp[r]) : 1.0;
      weight_sum += w;
      if (w != 0.0) loss_sum += w * nll[static_cast<size_t>(r)];
    }
  });
  const double loss = weight_sum == 0.0 ? 0.0 : loss_sum / weight_sum;

  return record("cross_entropy", Tensor::scalar(loss, L.dtype()), {logits},
                [logits, targets = targets.clone(), mask = mask ? std::optional<Tensor>(mask->clone()) : std::nullopt, lse,
                 weight_sum, N, V](const Tensor& gloss) {
    if (weight_sum == 0.0 || !logits.requires_grad()) return;  // no row counted: the loss is constant
    dispatch_float(gloss.dtype(), "cross_entropy_backward", [&](auto tag) {
      using T = decltype(tag);
      const T* lp = logits.value().data<T>();
      const T* mp = mask ? mask->data<T>() : nullptr;
      const int64_t* tgt = targets.data<int64_t>();
      const double* lsep = lse.data<double>();
      T* d = logits.grad_buffer().data<T>();
      const double g = gloss.item() / weight_sum;
      parallel_for(N, grain_for(2 * V), 2 * V, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const double w = g * (mp ? static_cast<double>(mp[r]) : 1.0);
          if (w == 0.0) continue;
          // so: dlogits[r,v] += w * (softmax[r,v] - [v == t])
          for (int64_t v = 0; v < V; ++v) d[r * V + v] += static_cast<T>(w * std::exp(lp[r * V + v] - lsep[r]));
          d[r * V + tgt[r]] -= static_cast<T>(w);
        }
      });
    });
  });
}

}  // namespace mc
