// elementwise.cpp — pointwise ops and broadcasting arithmetic, forward beside backward.
//
// Notation: x input, y output, gy the gradient arriving at y; "dx +=" adds into x's
// gradient (accumulate() sums a broadcast gradient back to the input's shape).
#include <cmath>
#include <numbers>

#include "autograd/ops.h"
#include "tensor/fast_math.h"

namespace mc {

Var neg(const Var& x) {
  // forward: y = -x
  return record("neg", neg(x.value()), {x}, [x](const Tensor& gy) {
    // so: dx += -gy
    accumulate(x, neg(gy));
  });
}

Var exp(const Var& x) {
  // forward: y = e^x
  Tensor y = exp(x.value());
  return record("exp", y, {x}, [x, y](const Tensor& gy) {
    // so: dx += gy * y
    accumulate(x, mul(gy, y));
  });
}

Var log(const Var& x) {
  // forward: y = ln x
  return record("log", log(x.value()), {x}, [x](const Tensor& gy) {
    // so: dx += gy / x
    accumulate(x, div(gy, x.value()));
  });
}

Var sqrt(const Var& x) {
  // forward: y = sqrt(x)
  Tensor y = sqrt(x.value());
  return record("sqrt", y, {x}, [x, y](const Tensor& gy) {
    // so: dx += gy / (2 y)
    accumulate(x, map_binary(gy, y, [](auto g, auto v) { return g / (2 * v); }));
  });
}

Var tanh(const Var& x) {
  // forward: y = tanh(x)
  Tensor y = tanh(x.value());
  return record("tanh", y, {x}, [x, y](const Tensor& gy) {
    // so: dx += gy * (1 - y^2)
    accumulate(x, map_binary(gy, y, [](auto g, auto v) { return g * (1 - v * v); }));
  });
}

Var sigmoid(const Var& x) {
  // forward: y = 1 / (1 + e^-x)
  Tensor y = sigmoid(x.value());
  return record("sigmoid", y, {x}, [x, y](const Tensor& gy) {
    // so: dx += gy * y (1 - y)
    accumulate(x, map_binary(gy, y, [](auto g, auto v) { return g * v * (1 - v); }));
  });
}

Var relu(const Var& x) {
  // forward: y = max(x, 0)
  return record("relu", relu(x.value()), {x}, [x](const Tensor& gy) {
    // so: dx += gy where x > 0 (the subgradient at 0 is taken as 0)
    accumulate(x, map_binary(gy, x.value(), [](auto g, auto v) { return v > 0 ? g : decltype(g)(0); }));
  });
}

Var gelu_tanh(const Var& x) {
  // forward: u = c (x + a x^3),  t = tanh u,  y = x/2 (1 + t),  c = sqrt(2/pi), a = 0.044715
  // One pass writes y and t; t is kept for the backward pass (tanh is most of GELU's
  // cost). In f32 tanh is fast_tanhf (tensor/fast_math.h), vectorised; f64 uses std::tanh.
  Tensor y(x.shape(), x.dtype()), t(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "gelu_tanh", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.value().data<T>();
    T *yp = y.data<T>(), *tp = t.data<T>();
    const T c = static_cast<T>(0.7978845608028654), a = static_cast<T>(0.044715);
    parallel_for(x.numel(), grain_for(16), 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T v = xp[i], u = c * (v + a * v * v * v);
        T th;
        if constexpr (std::is_same_v<T, float>) th = fast_tanhf(u);
        else th = std::tanh(u);
        tp[i] = th;
        yp[i] = T(0.5) * v * (1 + th);
      }
    });
  });
  return record("gelu_tanh", y, {x}, [x, t](const Tensor& gy) {
    // so: dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 a x^2)
    accumulate(x, map_ternary(gy, x.value(), t, [](auto g, auto v, auto th) {
      using T = decltype(v);
      const T c = static_cast<T>(0.7978845608028654), a = static_cast<T>(0.044715);
      return g * (T(0.5) * (1 + th) + T(0.5) * v * (1 - th * th) * c * (1 + 3 * a * v * v));
    }, "gelu_tanh_backward"));
  });
}

Var gelu_erf(const Var& x) {
  // forward: y = x Phi(x) = x/2 (1 + erf(x / sqrt 2))
  return record("gelu_erf", gelu_erf(x.value()), {x}, [x](const Tensor& gy) {
    // so: dy/dx = Phi(x) + x phi(x),  phi(x) = e^(-x^2/2) / sqrt(2 pi)
    accumulate(x, map_binary(gy, x.value(), [](auto g, auto v) {
      using T = decltype(v);
      const T Phi = T(0.5) * (1 + std::erf(v * static_cast<T>(std::numbers::sqrt2 / 2)));
      const T phi = std::exp(-v * v / 2) * static_cast<T>(0.3989422804014327);  // 1/sqrt(2 pi)
      return g * (Phi + v * phi);
    }));
  });
}

Var pow(const Var& x, double p) {
  // forward: y = x^p
  return record("pow", pow(x.value(), p), {x}, [x, p](const Tensor& gy) {
    // so: dx += gy * p x^(p-1)
    accumulate(x, map_binary(gy, x.value(), [p](auto g, auto v) {
      using T = decltype(v);
      return g * static_cast<T>(p) * std::pow(v, static_cast<T>(p - 1));
    }));
  });
}

Var add_scalar(const Var& x, double c) {
  // forward: y = x + c
  return record("add_scalar", add_scalar(x.value(), c), {x}, [x](const Tensor& gy) {
    // so: dx += gy
    accumulate(x, gy);
  });
}

Var mul_scalar(const Var& x, double c) {
  // forward: y = c x
  return record("mul_scalar", mul_scalar(x.value(), c), {x}, [x, c](const Tensor& gy) {
    // so: dx += c gy
    accumulate(x, mul_scalar(gy, c));
  });
}

Var add(const Var& a, const Var& b) {
  // forward: y = a + b (broadcast)
  return record("add", add(a.value(), b.value()), {a, b}, [a, b](const Tensor& gy) {
    // so: da += sum_to(gy, a.shape);  db += sum_to(gy, b.shape)
    accumulate(a, gy);
    accumulate(b, gy);
  });
}

Var sub(const Var& a, const Var& b) {
  // forward: y = a - b
  return record("sub", sub(a.value(), b.value()), {a, b}, [a, b](const Tensor& gy) {
    // so: da += gy;  db += -gy
    accumulate(a, gy);
    if (b.requires_grad()) accumulate(b, neg(gy));
  });
}

Var mul(const Var& a, const Var& b) {
  // forward: y = a * b
  return record("mul", mul(a.value(), b.value()), {a, b}, [a, b](const Tensor& gy) {
    // so: da += gy * b;  db += gy * a
    if (a.requires_grad()) accumulate(a, mul(gy, b.value()));
    if (b.requires_grad()) accumulate(b, mul(gy, a.value()));
  });
}

Var div(const Var& a, const Var& b) {
  // forward: y = a / b
  Tensor y = div(a.value(), b.value());
  return record("div", y, {a, b}, [a, b, y](const Tensor& gy) {
    // so: da += gy / b;  db += -gy * a / b^2 = -gy * y / b
    if (a.requires_grad()) accumulate(a, div(gy, b.value()));
    if (b.requires_grad()) accumulate(b, neg(div(mul(gy, y), b.value())));
  });
}

}  // namespace mc
