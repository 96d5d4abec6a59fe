// grad_sync.cpp — bucketed, overlapped gradient sums (see grad_sync.h).
#include "dist/grad_sync.h"

#include <chrono>
#include <cstring>

namespace mc {

GradSync::GradSync(Comm& comm, std::vector<std::pair<std::string, Var>> params, int64_t bucket_bytes, bool overlap)
    : comm_(comm), params_(std::move(params)), bucket_of_(params_.size()), done_(params_.size()), overlap_(overlap) {
  // Reverse registration order; a new bucket when the dtype changes or the bucket is full.
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& v = params_[k].second.value();
    index_[params_[k].second.impl().get()] = k;
    const bool fits = !buckets_.empty() && buckets_.back().dtype == v.dtype() &&
                      (buckets_.back().elements + v.numel()) * int64_t(dtype_size(v.dtype())) <= bucket_bytes;
    if (!fits) {
      buckets_.emplace_back();
      buckets_.back().dtype = v.dtype();
    }
    Bucket& b = buckets_.back();
    b.offset.push_back(b.params.empty() ? 0 : b.offset.back() + params_[b.params.back()].second.numel());
    b.params.push_back(k);
    b.elements = b.offset.back() + v.numel();
    bucket_of_[k] = buckets_.size() - 1;
  }
  // After the gradients, one more element per parameter: 1 where this rank has a
  // gradient for it. Summed, it says whether any rank had one.
  for (Bucket& b : buckets_) b.flat = Tensor::zeros({b.elements + int64_t(b.params.size())}, b.dtype);
}

std::function<void(VarImpl*)> GradSync::leaf_done() {
  if (!overlap_ || !comm_.distributed()) return nullptr;
  return [this](VarImpl* leaf) {
    auto it = index_.find(leaf);
    if (it != index_.end()) ready(it->second);
  };
}

void GradSync::ready(size_t param) {
  if (done_[param]) return;
  done_[param] = true;
  ++buckets_[bucket_of_[param]].ready;
  // Start buckets strictly in order: every rank must issue the same sums in the same order.
  while (next_ < buckets_.size() && buckets_[next_].ready == buckets_[next_].params.size()) start(buckets_[next_++]);
  comm_.poll();  // let the sums already started move on while backward continues
}

namespace {
// flat[at] = x, in the bucket's dtype.
void put(Tensor& flat, int64_t at, double x) {
  if (flat.dtype() == DType::f32) flat.data<float>()[at] = float(x);
  else flat.data<double>()[at] = x;
}
}  // namespace

// Packs the bucket's gradients (zeros for a parameter no gradient reached) and the
// has-a-gradient flags, and starts its sum.
void GradSync::start(Bucket& b) {
  char* flat = static_cast<char*>(b.flat.raw());
  const size_t elem = dtype_size(b.dtype);
  for (size_t i = 0; i < b.params.size(); ++i) {
    const Var& p = params_[b.params[i]].second;
    char* dst = flat + size_t(b.offset[i]) * elem;
    if (p.grad().defined()) std::memcpy(dst, p.grad().raw(), p.grad().nbytes());
    else std::memset(dst, 0, size_t(p.numel()) * elem);
    put(b.flat, b.elements + int64_t(i), p.grad().defined() ? 1.0 : 0.0);
  }
  comm_.start_sum(b.flat.raw(), b.flat.numel(), b.dtype);
}

void GradSync::finish(const std::string& what) {
  if (!comm_.distributed()) return;
  const auto t0 = std::chrono::steady_clock::now();
  while (next_ < buckets_.size()) start(buckets_[next_++]);
  comm_.wait_all("summing the gradients of " + what);
  for (Bucket& b : buckets_) {
    const char* flat = static_cast<const char*>(b.flat.raw());
    const size_t elem = dtype_size(b.dtype);
    for (size_t i = 0; i < b.params.size(); ++i) {
      Var& p = params_[b.params[i]].second;
      const char* src = flat + size_t(b.offset[i]) * elem;
      const size_t bytes = size_t(p.numel()) * elem;
      // No rank had a gradient: leave it undefined everywhere, as one process would
      // (AdamW skips such a parameter). Else every rank takes the sum.
      if (b.flat.at({b.elements + int64_t(i)}) == 0.0) {
        p.grad() = Tensor();
        continue;
      }
      // A new buffer rather than the old one: a backward may have handed over a tensor
      // it shares with something else.
      Tensor sum(p.shape(), p.dtype());
      std::memcpy(sum.raw(), src, bytes);
      p.grad() = sum;
    }
    b.ready = 0;
  }
  std::fill(done_.begin(), done_.end(), false);
  next_ = 0;
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace mc
