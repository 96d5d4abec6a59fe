#include "nn/layers.h"

#include <cmath>

namespace mc {

namespace {
// A [shape] tensor drawn by `init` for a layer of fan-in `in` (the bias when is_bias).
Tensor draw(const Shape& shape, int64_t in, LinearInit init, bool is_bias, Generator& gen, DType dtype) {
  if (init.uniform_fan_in) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    return Tensor::uniform(shape, -bound, bound, gen, dtype);
  }
  return is_bias ? Tensor::zeros(shape, dtype) : Tensor::normal(shape, 0.0, init.std, gen, dtype);
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool has_bias, LinearInit init, Generator& gen, DType dtype)
    : weight(draw({out, in}, in, init, false, gen, dtype), true) {
  register_parameter("weight", weight, Decay::yes);
  if (has_bias) {
    bias = Var(draw({out}, in, init, true, gen, dtype), true);
    register_parameter("bias", bias, Decay::no);
  }
}

Var Linear::forward(const Var& x) const {
  const int64_t in = weight.size(1);
  if (x.value().dim() < 1 || x.size(-1) != in)
    throw ShapeError("linear: input " + shape_str(x.shape()) + " does not end in " + std::to_string(in));
  Shape out = x.shape();
  out.back() = weight.size(0);
  // One 2-D product over all leading positions, W^T by a BLAS flag (no copy).
  Var y = matmul(reshape(x, {-1, in}), weight, false, true);
  if (bias.defined()) y = add(y, bias);
  return reshape(y, out);
}

Embedding::Embedding(int64_t count, int64_t dim, double init_std, Generator& gen, DType dtype, Decay decay)
    : weight(Tensor::normal({count, dim}, 0.0, init_std, gen, dtype), true) {
  register_parameter("weight", weight, decay);
}

Var Embedding::forward(const Tensor& ids) const { return embedding(weight, ids); }

LayerNorm::LayerNorm(int64_t dim, double eps_, DType dtype)
    : weight(Tensor::ones({dim}, dtype), true), bias(Tensor::zeros({dim}, dtype), true), eps(eps_) {
  register_parameter("weight", weight, Decay::no);
  register_parameter("bias", bias, Decay::no);
}

MLP::MLP(int64_t dim, int64_t hidden, Activation activation, LinearInit fc1_init, LinearInit fc2_init, Generator& gen,
         DType dtype)
    : fc1(dim, hidden, true, fc1_init, gen, dtype), fc2(hidden, dim, true, fc2_init, gen, dtype), act(activation) {
  register_module("fc1", fc1);
  register_module("fc2", fc2);
}

Var MLP::forward(const Var& x) const {
  Var h = fc1.forward(x);
  return fc2.forward(act == Activation::relu ? relu(h) : act == Activation::gelu_erf ? gelu_erf(h) : gelu_tanh(h));
}

}  // namespace mc
