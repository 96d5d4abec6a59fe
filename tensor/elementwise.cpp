// elementwise.cpp — pointwise math, broadcasting arithmetic, in-place accumulation.
#include <cmath>
#include <cstring>
#include <numbers>

#include "tensor/ops.h"

namespace mc {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align at the right: dimension i of out is dimension i - (rank - size) of each input.
    const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (size_t k = 0; k < s.size(); ++k) {
    const size_t d = s.size() - 1 - k;             // dimension of s, from the right
    const size_t od = out.size() - 1 - k;          // the output dimension it aligns with
    st[od] = s[d] == 1 ? 0 : stride;
    stride *= s[d];
  }
  return st;
}

// ---- unary ------------------------------------------------------------------------------
Tensor neg(const Tensor& x) { return map_unary(x, [](auto v) { return -v; }, "neg"); }
Tensor exp(const Tensor& x) { return map_unary(x, [](auto v) { return std::exp(v); }, "exp"); }
Tensor log(const Tensor& x) { return map_unary(x, [](auto v) { return std::log(v); }, "log"); }
Tensor sqrt(const Tensor& x) { return map_unary(x, [](auto v) { return std::sqrt(v); }, "sqrt"); }
Tensor tanh(const Tensor& x) { return map_unary(x, [](auto v) { return std::tanh(v); }, "tanh"); }
Tensor relu(const Tensor& x) {
  // v > 0 ? v : 0 keeps NaN as NaN (NaN > 0 is false, but we want NaN to show): use !(v <= 0).
  return map_unary(x, [](auto v) { return !(v <= 0) ? v : decltype(v)(0); }, "relu");
}
Tensor sigmoid(const Tensor& x) {
  // Two branches so exp never overflows: for v < 0, 1/(1+e^-v) = e^v/(1+e^v).
  return map_unary(x, [](auto v) {
    using T = decltype(v);
    if (v >= 0) return T(1) / (T(1) + std::exp(-v));
    const T e = std::exp(v);
    return e / (T(1) + e);
  }, "sigmoid");
}
Tensor gelu_tanh(const Tensor& x) {
  return map_unary(x, [](auto v) {
    using T = decltype(v);
    const T c = static_cast<T>(0.7978845608028654);  // sqrt(2/pi)
    return T(0.5) * v * (T(1) + std::tanh(c * (v + T(0.044715) * v * v * v)));
  }, "gelu_tanh");
}
Tensor gelu_erf(const Tensor& x) {
  return map_unary(x, [](auto v) {
    using T = decltype(v);
    return T(0.5) * v * (T(1) + std::erf(v * static_cast<T>(std::numbers::sqrt2 / 2)));
  }, "gelu_erf");
}
Tensor pow(const Tensor& x, double exponent) {
  return map_unary(x, [exponent](auto v) { return std::pow(v, static_cast<decltype(v)>(exponent)); }, "pow");
}
Tensor add_scalar(const Tensor& x, double c) {
  return map_unary(x, [c](auto v) { return v + static_cast<decltype(v)>(c); }, "add_scalar");
}
Tensor mul_scalar(const Tensor& x, double c) {
  return map_unary(x, [c](auto v) { return v * static_cast<decltype(v)>(c); }, "mul_scalar");
}

// ---- binary with broadcasting ------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) { return map_binary(a, b, [](auto u, auto v) { return u + v; }, "add"); }
Tensor sub(const Tensor& a, const Tensor& b) { return map_binary(a, b, [](auto u, auto v) { return u - v; }, "sub"); }
Tensor mul(const Tensor& a, const Tensor& b) { return map_binary(a, b, [](auto u, auto v) { return u * v; }, "mul"); }
Tensor div(const Tensor& a, const Tensor& b) { return map_binary(a, b, [](auto u, auto v) { return u / v; }, "div"); }

// ---- in place ------------------------------------------------------------------------------------
static void check_same(const Tensor& a, const Tensor& b, const char* op) {
  if (a.shape() != b.shape())
    throw ShapeError(std::string(op) + ": shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  if (a.dtype() != b.dtype())
    throw ShapeError(std::string(op) + ": dtypes differ: " + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
}

void axpy_(Tensor& dst, double alpha, const Tensor& src) {
  check_same(dst, src, "axpy_");
  dispatch_float(dst.dtype(), "axpy_", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const T a = static_cast<T>(alpha);
    parallel_for(dst.numel(), grain_for(2), 2, [&](int64_t i0, int64_t i1) {
      if (alpha == 1.0)
        for (int64_t i = i0; i < i1; ++i) d[i] += s[i];
      else
        for (int64_t i = i0; i < i1; ++i) d[i] += a * s[i];
    });
  });
}

void add_(Tensor& dst, const Tensor& src) { axpy_(dst, 1.0, src); }

void scale_(Tensor& dst, double alpha) {
  dispatch_float(dst.dtype(), "scale_", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T a = static_cast<T>(alpha);
    parallel_for(dst.numel(), grain_for(1), 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) d[i] *= a;
    });
  });
}

// ---- comparisons -----------------------------------------------------------------------------------
double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw ShapeError("max_abs_diff: shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  const auto va = a.to_vector(), vb = b.to_vector();
  double m = 0.0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::fabs(va[i] - vb[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

bool all_finite(const Tensor& x) {
  return dispatch_float(x.dtype(), "all_finite", [&](auto tag) {
    const auto* p = x.data<decltype(tag)>();
    for (int64_t i = 0; i < x.numel(); ++i)
      if (!std::isfinite(p[i])) return false;
    return true;
  });
}

}  // namespace mc
