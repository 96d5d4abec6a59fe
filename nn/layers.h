// layers.h — the building blocks: Linear, Embedding, LayerNorm, MLP.
#pragma once
#include "autograd/ops.h"
#include "nn/module.h"

namespace mc {

// How a Linear draws its first weights (docs/model.md, "Initialisation"):
//   normal(std)  weight N(0, std), bias 0 (GPT-2's scheme, minicope's default);
//   fan_in()     weight and bias uniform(+-1/sqrt(in)) (what stock PyTorch's nn.Linear draws).
struct LinearInit {
  double std = 0.02;
  bool uniform_fan_in = false;
  static LinearInit normal(double s) { return {s, false}; }
  static LinearInit fan_in() { return {0.0, true}; }
};

// y = x W^T + b, W [out, in] (PyTorch's layout, so weights load there unchanged).
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, LinearInit init, Generator& gen, DType dtype);
  Var forward(const Var& x) const;  // [..., in] -> [..., out]
  Var weight, bias;                 // bias undefined when there is none
};

class Embedding : public Module {
 public:
  // decay: token embeddings take weight decay; a table of positions does not.
  Embedding(int64_t count, int64_t dim, double init_std, Generator& gen, DType dtype, Decay decay);
  Var forward(const Tensor& ids) const;  // [...] i64 -> [..., dim]
  Var weight;                            // [count, dim]
};

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps, DType dtype);
  Var forward(const Var& x) const { return layer_norm(x, weight, bias, eps); }
  Var weight, bias;  // gamma (ones), beta (zeros)
  double eps;
};

enum class Activation { gelu_tanh, gelu_erf, relu };

// fc2(act(fc1(x))), hidden width `hidden`; act is GELU (either form) or ReLU.
class MLP : public Module {
 public:
  MLP(int64_t dim, int64_t hidden, Activation act, LinearInit fc1_init, LinearInit fc2_init, Generator& gen, DType dtype);
  Var forward(const Var& x) const;
  Linear fc1, fc2;
  Activation act;
};

}  // namespace mc
