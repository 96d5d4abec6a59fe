// tensor.cpp — storage, creation, reshape and element access.
#include "tensor/tensor.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "tensor/random.h"

namespace mc {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw ShapeError(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for a tensor of rank " +
                     std::to_string(rank));
  return a;
}

AxisSplit axis_split(const Shape& s, int64_t axis) {
  AxisSplit v;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    (d < axis ? v.outer : d == axis ? v.n : v.inner) *= s[static_cast<size_t>(d)];
  return v;
}

// Storage is 64-byte aligned (a cache line, and what AVX-512 loads like best).
//
// Freed blocks of 16 KiB and more are kept for the next tensor of about that size. A
// training step allocates the same shapes every step, so after the first step its
// buffers come from here: without it, every large buffer was fresh memory from the
// kernel, zeroed page by page on first touch (about 7% of a G1 step, and 16% of a
// packed Counting step, in the profiles of docs/benchmarks.md). A request takes the
// smallest kept block of at least its size and at most a quarter more, so batches
// whose shapes vary a little from step to step (packed rows: a few more or fewer rows)
// reuse each other's blocks. The cache holds at most a quarter of the machine's memory
// (at least 2 GiB): a step's whole working set, for the big batches of long programs.
// Contents are never relied on: a new tensor is uninitialised.
namespace {
class BlockCache {
 public:
  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive statics
    return *cache;
  }
  // A block of at least `bytes`; *size is set to its real size (what give() takes back).
  void* take(size_t bytes, size_t* size) {
    *size = bytes;
    if (bytes >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 4) {
        void* p = it->second;
        *size = it->first;
        cached_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void give(void* p, size_t bytes) {
    if (bytes >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + bytes <= max_cached_) {
        free_.emplace(bytes, p);
        cached_ += bytes;
        return;
      }
    }
    std::free(p);
  }

 private:
  static constexpr size_t kMinCached = size_t(16) << 10;
  static size_t max_cached() {  // beyond this, freed blocks go back to the system
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const size_t quarter = pages > 0 && page > 0 ? size_t(pages) * size_t(page) / 4 : 0;
    return std::max(size_t(2) << 30, quarter);
  }
  std::mutex mu_;
  std::multimap<size_t, void*> free_;  // size -> block
  size_t cached_ = 0;
  const size_t max_cached_ = max_cached();
};
}  // namespace

static std::shared_ptr<void> allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(64, ((bytes + 63) / 64) * 64);
  size_t size = 0;
  void* p = BlockCache::instance().take(rounded, &size);
  return std::shared_ptr<void>(p, [size](void* q) { BlockCache::instance().give(q, size); });
}

Tensor::Tensor(Shape shape, DType dtype) : shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_)
    if (d < 0) throw ShapeError("Tensor: negative dimension in shape " + shape_str(shape_));
  numel_ = shape_numel(shape_);
  data_ = allocate(nbytes());
}

void Tensor::check_dtype(DType want) const {
  if (!data_) throw std::logic_error("Tensor: access to an undefined tensor");
  if (want != dtype_)
    throw ShapeError(std::string("Tensor::data: tensor holds ") + dtype_name(dtype_) + ", asked for " +
                     dtype_name(want));
}

int64_t Tensor::size(int64_t axis) const { return shape_[static_cast<size_t>(normalize_axis(axis, dim(), "size"))]; }

Tensor Tensor::zeros(const Shape& s, DType d) { return full(s, 0.0, d); }
Tensor Tensor::ones(const Shape& s, DType d) { return full(s, 1.0, d); }
Tensor Tensor::scalar(double value, DType d) { return full({}, value, d); }

Tensor Tensor::full(const Shape& s, double value, DType d) {
  Tensor t(s, d);
  t.fill_(value);
  return t;
}

Tensor& Tensor::fill_(double value) {
  if (dtype_ == DType::i64) {
    std::fill_n(data<int64_t>(), numel_, static_cast<int64_t>(value));
  } else {
    dispatch_float(dtype_, "fill_", [&](auto tag) {
      using T = decltype(tag);
      std::fill_n(data<T>(), numel_, static_cast<T>(value));
    });
  }
  return *this;
}

Tensor Tensor::arange(int64_t n, DType d) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<double>(i);
  return from(v, {n}, d);
}

Tensor Tensor::uniform(const Shape& s, double lo, double hi, Generator& g, DType d) {
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = g.uniform(lo, hi);
  return from(v, s, d);
}

Tensor Tensor::normal(const Shape& s, double mean, double stddev, Generator& g, DType d) {
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = mean + stddev * g.normal();
  return from(v, s, d);
}

Tensor Tensor::from(std::span<const double> values, const Shape& s, DType d) {
  Tensor t(s, d);
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw ShapeError("Tensor::from: " + std::to_string(values.size()) + " values do not fill shape " + shape_str(s));
  if (d == DType::i64) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = static_cast<int64_t>(values[static_cast<size_t>(i)]);
    return t;
  }
  dispatch_float(d, "Tensor::from", [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(values[static_cast<size_t>(i)]);
  });
  return t;
}

Tensor Tensor::from(std::initializer_list<double> values, const Shape& s, DType d) {
  return from(std::span<const double>(values.begin(), values.size()), s, d);
}

Tensor Tensor::indices(std::span<const int64_t> values, const Shape& s) {
  Tensor t(s, DType::i64);
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw ShapeError("Tensor::indices: " + std::to_string(values.size()) + " values do not fill shape " + shape_str(s));
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

Tensor Tensor::indices(std::initializer_list<int64_t> values, const Shape& s) {
  return indices(std::span<const int64_t>(values.begin(), values.size()), s);
}

Tensor Tensor::reshape(Shape s) const {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw ShapeError("reshape: more than one -1 in " + shape_str(s));
      infer = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      throw ShapeError("reshape: negative dimension in " + shape_str(s));
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel_ % known != 0)
      throw ShapeError("reshape: cannot reshape " + shape_str(shape_) + " to " + shape_str(s));
    s[static_cast<size_t>(infer)] = numel_ / known;
  }
  if (shape_numel(s) != numel_) throw ShapeError("reshape: cannot reshape " + shape_str(shape_) + " to " + shape_str(s));
  Tensor v = *this;
  v.shape_ = std::move(s);
  return v;
}

Tensor Tensor::clone() const {
  Tensor t(shape_, dtype_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::to(DType d) const {
  if (d == dtype_) return clone();
  return from(to_vector(), shape_, d);
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> v(static_cast<size_t>(numel_));
  if (dtype_ == DType::i64) {
    for (int64_t i = 0; i < numel_; ++i) v[static_cast<size_t>(i)] = static_cast<double>(data<int64_t>()[i]);
    return v;
  }
  dispatch_float(dtype_, "to_vector", [&](auto tag) {
    using T = decltype(tag);
    const T* p = data<T>();
    for (int64_t i = 0; i < numel_; ++i) v[static_cast<size_t>(i)] = static_cast<double>(p[i]);
  });
  return v;
}

double Tensor::item() const {
  if (numel_ != 1) throw ShapeError("item: tensor of shape " + shape_str(shape_) + " has " + std::to_string(numel_) + " elements, not 1");
  return to_vector()[0];
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  if (static_cast<int64_t>(index.size()) != dim())
    throw ShapeError("at: " + std::to_string(index.size()) + " indices for a tensor of shape " + shape_str(shape_));
  int64_t flat = 0, k = 0;
  for (int64_t i : index) {
    const int64_t n = shape_[static_cast<size_t>(k++)];
    if (i < 0 || i >= n) throw ShapeError("at: index out of range for shape " + shape_str(shape_));
    flat = flat * n + i;
  }
  if (dtype_ == DType::i64) return static_cast<double>(data<int64_t>()[flat]);
  return dispatch_float(dtype_, "at", [&](auto tag) { return static_cast<double>(data<decltype(tag)>()[flat]); });
}

std::string Tensor::str() const {
  std::ostringstream os;
  os << dtype_name(dtype_) << shape_str(shape_) << " {";
  auto v = to_vector();
  for (size_t i = 0; i < v.size() && i < 64; ++i) os << (i ? ", " : "") << v[i];
  if (v.size() > 64) os << ", ...";
  os << "}";
  return os.str();
}

}  // namespace mc
