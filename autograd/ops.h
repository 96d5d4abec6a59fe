// ops.h — differentiable ops on Vars. Each has the name of the tensor kernel it wraps;
// its forward and backward sit side by side in the matching .cpp file.
#pragma once
#include <optional>

#include "autograd/var.h"
#include "tensor/random.h"

namespace mc {

// ---- elementwise (elementwise.cpp) ------------------------------------------------------
Var neg(const Var& x);
Var exp(const Var& x);
Var log(const Var& x);
Var sqrt(const Var& x);
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var relu(const Var& x);
Var gelu_tanh(const Var& x);
Var gelu_erf(const Var& x);
Var pow(const Var& x, double exponent);
Var add_scalar(const Var& x, double c);
Var mul_scalar(const Var& x, double c);
Var add(const Var& a, const Var& b);  // NumPy broadcasting, as the tensor ops
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);

inline Var operator-(const Var& x) { return neg(x); }
inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator+(const Var& a, double c) { return add_scalar(a, c); }
inline Var operator*(const Var& a, double c) { return mul_scalar(a, c); }
inline Var operator*(double c, const Var& a) { return mul_scalar(a, c); }

// ---- reductions (reduce.cpp) -----------------------------------------------------------------
Var sum(const Var& x);
Var sum(const Var& x, int64_t axis, bool keepdim = false);
Var mean(const Var& x);
Var mean(const Var& x, int64_t axis, bool keepdim = false);
Var max(const Var& x);  // the gradient goes to the first maximum
Var max(const Var& x, int64_t axis, bool keepdim = false);

// ---- products, softmax (linalg.cpp, softmax.cpp) -------------------------------------------
Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
Var softmax(const Var& x);
Var log_softmax(const Var& x);

// ---- shape and indexing (shape.cpp, index.cpp) ---------------------------------------------------
Var reshape(const Var& x, Shape s);
Var concat(const std::vector<Var>& xs, int64_t axis);
Var slice(const Var& x, int64_t axis, int64_t start, int64_t end);
Var gather(const Var& x, int64_t axis, const Tensor& index);
Var scatter_add(const Var& self, int64_t axis, const Tensor& index, const Var& src);
Var index_select(const Var& x, int64_t axis, const Tensor& idx);
// embedding(table [V,C], ids [...] i64) -> [..., C]
Var embedding(const Var& table, const Tensor& ids);

// ---- layout and scans (layout.cpp) --------------------------------------------------------------
Var transpose(const Var& x, int64_t axis0, int64_t axis1);
Var cumsum(const Var& x, int64_t axis, bool reverse = false);
// clamp: the gradient is zero where x lies outside [lo, hi] (it passes at the bounds).
Var clamp(const Var& x, double lo, double hi);

// ---- fused ops with hand-written backward passes --------------------------------------------
// layer_norm.cpp: y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.
// x [..., C], gamma [C], beta [C]; var is the biased variance (divides by C).
Var layer_norm(const Var& x, const Var& gamma, const Var& beta, double eps = 1e-5);

// dropout.cpp: in training, zeroes each element with probability p (drawn from gen)
// and scales the rest by 1/(1-p); with training false or p == 0 it returns x itself.
Var dropout(const Var& x, double p, Generator& gen, bool training = true);

// cross_entropy.cpp: mean over counted rows of -log softmax(logits)[target].
// logits [..., V]; targets [...] (i64 in [0, V)); mask [...] (same dtype as logits,
// a weight per row, usually 0 or 1) or none. loss = sum_i m_i nll_i / sum_i m_i, and 0
// when no row counts (sum_i m_i == 0).
Var cross_entropy(const Var& logits, const Tensor& targets, const std::optional<Tensor>& mask = std::nullopt);

}  // namespace mc
