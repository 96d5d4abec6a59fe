// dtype.h — the runtime element types and the one place that turns a runtime dtype
// into a compile-time type.
//
// Floating kernels are written once as templates over T and instantiated for float
// and double through dispatch_float(); a gradient check in f64 therefore runs the very
// code that trains in f32. i64 exists only for index tensors (gather, embeddings).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace mc {

enum class DType : uint8_t { f32, f64, i64 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
  }
  return "?";
}

inline size_t dtype_size(DType d) { return d == DType::f32 ? 4 : 8; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }

// Calls f(T{}) with T = float or double. `op` names the caller in the error message.
template <class F>
decltype(auto) dispatch_float(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: break;
  }
  throw std::invalid_argument(std::string(op) + ": expected a floating dtype (f32 or f64), got " + dtype_name(d));
}

}  // namespace mc
