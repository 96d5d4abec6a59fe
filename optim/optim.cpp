// optim.cpp — AdamW, the schedule and clipping (optim.h).
#include "optim/optim.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "tensor/parallel.h"

namespace mc {

double learning_rate(const OptimConfig& c, int64_t s, int64_t total) {
  if (s < c.warmup) return c.lr * static_cast<double>(s + 1) / static_cast<double>(c.warmup);
  if (c.schedule == "constant" || total <= c.warmup) return c.lr;
  const double progress = std::min(1.0, static_cast<double>(s - c.warmup) / static_cast<double>(total - c.warmup));
  const double floor = c.lr * c.min_lr_ratio;
  if (c.schedule == "linear") return c.lr - (c.lr - floor) * progress;
  return floor + (c.lr - floor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));  // cosine
}

AdamW::AdamW(std::vector<std::pair<std::string, Var>> params, std::vector<bool> decays, const OptimConfig& cfg)
    : params_(std::move(params)), decay_(std::move(decays)), cfg_(cfg) {
  if (decay_.size() != params_.size())
    throw std::invalid_argument("AdamW: " + std::to_string(decay_.size()) + " weight-decay marks for " +
                                std::to_string(params_.size()) + " parameters");
  for (const auto& [name, p] : params_) {
    m_.push_back(Tensor::zeros(p.shape(), p.dtype()));
    v_.push_back(Tensor::zeros(p.shape(), p.dtype()));
  }
}

double AdamW::clip_gradients() {
  double sq = 0.0;
  for (const auto& named : params_) {
    const Var& p = named.second;  // (a plain reference: clang 14 cannot capture structured bindings)
    if (!p.grad().defined()) continue;
    sq += dispatch_float(p.dtype(), "clip", [&](auto tag) {
      const auto* g = p.grad().template data<decltype(tag)>();
      return deterministic_sum(p.numel(), 4096, [g](int64_t i) { return static_cast<double>(g[i]) * g[i]; });
    });
  }
  const double norm = std::sqrt(sq);
  if (cfg_.clip > 0 && norm > cfg_.clip) {
    const double scale = cfg_.clip / (norm + 1e-6);
    for (auto& [name, p] : params_)
      if (p.grad().defined()) scale_(p.grad(), scale);
  }
  return norm;
}

void AdamW::step(double lr) {
  ++t_;
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
  for (size_t k = 0; k < params_.size(); ++k) {
    Var& p = params_[k].second;
    if (!p.grad().defined()) continue;
    const double wd = decay_[k] ? cfg_.weight_decay : 0.0;
    dispatch_float(p.dtype(), "adamw", [&](auto tag) {
      using T = decltype(tag);
      T* w = p.value().template data<T>();
      const T* g = p.grad().template data<T>();
      T* m = m_[k].template data<T>();
      T* v = v_[k].template data<T>();
      const T b1 = T(cfg_.beta1), b2 = T(cfg_.beta2), eps = T(cfg_.eps), step = T(lr / bc1), shrink = T(1.0 - lr * wd);
      const T inv_bc2 = T(1.0 / bc2);
      parallel_for(p.numel(), grain_for(16), 16, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          // decoupled weight decay, then the Adam step on the bias-corrected moments
          m[i] = b1 * m[i] + (1 - b1) * g[i];
          v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
          w[i] = w[i] * shrink - step * m[i] / (std::sqrt(v[i] * inv_bc2) + eps);
        }
      });
    });
  }
}

}  // namespace mc
