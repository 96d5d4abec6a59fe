// tensor.h — the Tensor: a shape, a runtime dtype and contiguous row-major storage.
//
// A Tensor is a cheap handle: copying it shares the storage (like a shared_ptr).
// reshape() returns a view of the same storage, the only view there is; every other
// op allocates its result. Use clone() for an independent copy.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace mc {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[3,1,4]"
int64_t shape_numel(const Shape& s);

// Thrown for a shape, axis, index or dtype that does not fit the op. The message
// starts with the op's name and gives the shapes involved.
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

class Generator;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  Tensor(Shape shape, DType dtype);  // uninitialised storage

  // ---- creation -------------------------------------------------------------
  static Tensor zeros(const Shape& s, DType d = DType::f32);
  static Tensor ones(const Shape& s, DType d = DType::f32);
  static Tensor full(const Shape& s, double value, DType d = DType::f32);
  static Tensor scalar(double value, DType d = DType::f32);  // shape []
  static Tensor arange(int64_t n, DType d = DType::f32);     // [0, 1, ..., n-1]
  static Tensor uniform(const Shape& s, double lo, double hi, Generator& g, DType d = DType::f32);
  static Tensor normal(const Shape& s, double mean, double stddev, Generator& g, DType d = DType::f32);
  // Copies values (converted to dtype d) from a buffer of numel(s) doubles.
  static Tensor from(std::span<const double> values, const Shape& s, DType d = DType::f32);
  static Tensor from(std::initializer_list<double> values, const Shape& s, DType d = DType::f32);
  static Tensor indices(std::span<const int64_t> values, const Shape& s);  // i64
  static Tensor indices(std::initializer_list<int64_t> values, const Shape& s);

  // ---- properties ------------------------------------------------------------
  bool defined() const { return data_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  template <class T> T* data() { check_dtype(dtype_of<T>()); return static_cast<T*>(data_.get()); }
  template <class T> const T* data() const { check_dtype(dtype_of<T>()); return static_cast<const T*>(data_.get()); }
  void* raw() { return data_.get(); }
  const void* raw() const { return data_.get(); }

  // ---- shape ---------------------------------------------------------------------
  // A view with a new shape of the same numel; one entry may be -1 (inferred).
  Tensor reshape(Shape s) const;
  Tensor clone() const;
  Tensor to(DType d) const;  // converted copy (a plain clone when d == dtype())

  // ---- element access (tests, small tensors; not for kernels) --------------------------
  std::vector<double> to_vector() const;  // every element, as double
  double item() const;                    // the one element of a numel-1 tensor
  double at(std::initializer_list<int64_t> index) const;
  std::string str() const;                // "f32[2,2] {1, 2, 3, 4}"

  // ---- in place --------------------------------------------------------------------------
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }

  bool same_storage(const Tensor& o) const { return data_ == o.data_; }
  // Another handle (a copy, a reshape view) holds this tensor's storage.
  bool storage_shared() const { return data_.use_count() > 1; }

 private:
  void check_dtype(DType want) const;
  std::shared_ptr<void> data_;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::f32;
};

// Normalises a possibly negative axis for a tensor of rank `rank`; throws naming `op`.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);

// A row-major shape read as [outer, n, inner] around one axis: outer is the product of
// the sizes before it, n its own size, inner the product of the sizes after it. Element
// (o, k, i) is at (o * n + k) * inner + i. `axis` is already normalised (0 <= axis < rank).
struct AxisSplit { int64_t outer = 1, n = 1, inner = 1; };
AxisSplit axis_split(const Shape& s, int64_t axis);

}  // namespace mc
