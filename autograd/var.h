// var.h — a Var is a value that remembers how it was made, so its gradient can flow back.
//
// Every differentiable op computes its output Tensor and, when some input needs a
// gradient, records one Node: the inputs, and a backward function that receives the
// gradient of the output and *adds* the gradients of the inputs (+=, never =), so a
// Var used twice gets the sum of both uses. backward(loss) walks the Nodes from the
// loss in reverse topological order. docs/autograd.md follows one example through it.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/ops.h"

namespace mc {

struct VarImpl;

struct Node {
  const char* op = "";                          // "mul", "layer_norm", ...
  std::vector<std::shared_ptr<VarImpl>> inputs;  // the Vars the op read (graph edges)
  std::function<void(const Tensor& grad_out)> backward;
};

struct VarImpl {
  Tensor value;
  Tensor grad;                 // undefined until a gradient arrives
  bool requires_grad = false;
  bool retains_grad = false;   // keep the gradient of a non-leaf after backward()
  std::shared_ptr<Node> node;  // null for a leaf (a parameter, an input)
  VarImpl() = default;
  VarImpl(const VarImpl&) = delete;
  VarImpl& operator=(const VarImpl&) = delete;
  ~VarImpl();  // tears a long graph down iteratively (no recursion per node)
};

class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const { return impl_->value; }
  Tensor& value() { return impl_->value; }
  const Shape& shape() const { return impl_->value.shape(); }
  DType dtype() const { return impl_->value.dtype(); }
  int64_t numel() const { return impl_->value.numel(); }
  int64_t size(int64_t axis) const { return impl_->value.size(axis); }
  double item() const { return impl_->value.item(); }

  bool requires_grad() const { return impl_->requires_grad; }
  Var& set_requires_grad(bool on);
  bool is_leaf() const { return impl_->node == nullptr; }
  const Node* node() const { return impl_->node.get(); }

  // The gradient, or an undefined Tensor if none has arrived.
  const Tensor& grad() const { return impl_->grad; }
  Tensor& grad() { return impl_->grad; }
  // The gradient buffer, created as zeros on first use: backward functions add into it.
  // These are const because a Var is a handle: accumulating into the node's gradient
  // does not change the handle (backward closures hold their inputs as const Vars).
  Tensor& grad_buffer() const;
  // The gradient buffer for a backward function that will overwrite it when it is new:
  // *fresh says whether it was just created (uninitialised) or already holds a gradient
  // to add to. Saves zeroing a buffer only to add a product to it.
  Tensor& grad_buffer(bool* fresh) const;
  void zero_grad() { impl_->grad = Tensor(); }
  Var& retain_grad() { impl_->retains_grad = true; return *this; }

  // The same value, cut from the graph: no gradient flows through it.
  Var detach() const { return Var(impl_->value, false); }

  // Backpropagates from this Var, which must hold one element: its gradient is seeded
  // with 1 (added to any gradient it already has).
  void backward() const;
  // The same, calling leaf_done(leaf) as soon as a leaf's gradient is final (the last op
  // that reads it has run its backward), while backward goes on with the rest. Data-
  // parallel training starts summing those gradients across processes from there
  // (dist/grad_sync.h). Leaves that no gradient reaches are not reported.
  void backward(const std::function<void(VarImpl* leaf)>& leaf_done) const;

  const std::shared_ptr<VarImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<VarImpl> impl_;
};

// ---- recording ------------------------------------------------------------------------

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

// While alive, ops record nothing and their outputs do not require gradients
// (evaluation, sampling, the finite differences of a gradient check).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
 private:
  bool previous_;
};

// Wraps an op's output. When grad is enabled and some input requires a gradient, the
// output requires one too and gets a Node with `backward`; otherwise it is a plain
// constant and `backward` is dropped.
Var record(const char* op, Tensor value, std::vector<Var> inputs, std::function<void(const Tensor&)> backward);

// Adds g into v's gradient if v requires one. g may have v's shape, or broadcast to it
// (it is stretched), or be a broadcast of it (it is summed back with sum_to).
//
// The first gradient of a Var is not copied where that is safe: a fresh result passed as
// a temporary (accumulate(x, mul(gy, y))) is adopted, and an intermediate (non-leaf) Var
// may share the caller's tensor (accumulate(x, gy)): its gradient is only read by its
// own backward and added to here, and a shared gradient is copied before it is written
// (copy on write, also in grad_buffer). A leaf (a parameter, which optimisers update in
// place) always owns its gradient. So: do not modify a tensor after passing it here.
void accumulate(const Var& v, const Tensor& g);
void accumulate(const Var& v, Tensor&& g);

// All Nodes reachable from `root`, inputs before outputs (for backward and for tools).
std::vector<VarImpl*> topological_order(const Var& root);

}  // namespace mc
