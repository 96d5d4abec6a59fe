// index.cpp — gather, scatter_add, index_select and embedding: forward beside backward.
#include "autograd/ops.h"

namespace mc {

// Index tensors are copied into the closures: a caller refilling its index buffer
// between forward and backward must not change the gradient.

Var gather(const Var& x, int64_t axis, const Tensor& index) {
  // forward: y[..i..] = x[..i.. with axis coordinate index[..i..]]
  return record("gather", gather(x.value(), axis, index), {x}, [x, axis, index = index.clone()](const Tensor& gy) {
    // so: dx[..i.. with axis coordinate index[..i..]] += gy[..i..]   (a scatter-add)
    if (!x.requires_grad()) return;
    scatter_add_(x.grad_buffer(), axis, index, gy);
  });
}

Var scatter_add(const Var& self, int64_t axis, const Tensor& index, const Var& src) {
  // forward: y = self;  y[..i.. with axis coordinate index[..i..]] += src[..i..]
  Tensor y = self.value().clone();
  scatter_add_(y, axis, index, src.value());
  return record("scatter_add", y, {self, src}, [self, src, axis, index = index.clone()](const Tensor& gy) {
    // so: dself += gy;  dsrc[..i..] += gy[..i.. with axis coordinate index[..i..]]  (a gather)
    accumulate(self, gy);
    if (src.requires_grad()) accumulate(src, gather(gy, axis, index));
  });
}

Var index_select(const Var& x, int64_t axis, const Tensor& idx) {
  // forward: y.slice(axis, k) = x.slice(axis, idx[k])
  return record("index_select", index_select(x.value(), axis, idx), {x}, [x, axis, idx = idx.clone()](const Tensor& gy) {
    // so: dx.slice(axis, idx[k]) += gy.slice(axis, k), for k in order
    if (!x.requires_grad()) return;
    index_add_(x.grad_buffer(), axis, idx, gy);
  });
}

Var embedding(const Var& table, const Tensor& ids) {
  if (table.value().dim() != 2) throw ShapeError("embedding: table must be [V,C], got " + shape_str(table.shape()));
  if (ids.dtype() != DType::i64)
    throw ShapeError("embedding: ids must be i64, got " + std::string(dtype_name(ids.dtype())) + shape_str(ids.shape()));
  const Tensor flat = ids.reshape({-1}).clone();
  Shape out = ids.shape();
  out.push_back(table.size(1));
  // forward: y[n, :] = table[ids[n], :]
  return record("embedding", index_select(table.value(), 0, flat).reshape(out), {table}, [table, flat](const Tensor& gy) {
    // so: dtable[ids[n], :] += gy[n, :], for n in order
    if (!table.requires_grad()) return;
    index_add_(table.grad_buffer(), 0, flat, gy.reshape({flat.numel(), table.size(1)}));
  });
}

}  // namespace mc
