// optim.h — AdamW with decoupled weight decay, the learning-rate schedule, and
// clipping by the global gradient norm.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"

namespace mc {

struct OptimConfig {
  double lr = 3e-3;
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-8;
  double weight_decay = 0.1;   // decoupled; not on biases, norms or position embeddings
  double clip = 1.0;           // global gradient norm; 0 turns clipping off
  int64_t warmup = 100;        // linear warm-up steps
  std::string schedule = "cosine";  // after warm-up: cosine, linear or constant
  double min_lr_ratio = 0.1;   // the decay ends at lr * min_lr_ratio
};

// The learning rate of step s (from 0) of `total`.
double learning_rate(const OptimConfig& c, int64_t s, int64_t total);

class AdamW {
 public:
  // decays[k]: whether params[k] takes weight decay (a model's Module::decay_flags()).
  AdamW(std::vector<std::pair<std::string, Var>> params, std::vector<bool> decays, const OptimConfig& cfg);
  // Scales the gradients so that their global norm is at most cfg.clip, and returns
  // the norm before scaling (summed in a fixed order: thread-count independent).
  double clip_gradients();
  // One update with learning rate lr. Parameters without a gradient are left alone.
  void step(double lr);

  int64_t steps_taken() const { return t_; }
  // State for checkpoints: the moments m and v per parameter, in params order.
  std::vector<Tensor>& m() { return m_; }
  std::vector<Tensor>& v() { return v_; }
  void set_steps_taken(int64_t t) { t_ = t; }
  const std::vector<std::pair<std::string, Var>>& params() const { return params_; }

 private:
  std::vector<std::pair<std::string, Var>> params_;
  std::vector<bool> decay_;
  std::vector<Tensor> m_, v_;
  OptimConfig cfg_;
  int64_t t_ = 0;
};

}  // namespace mc
