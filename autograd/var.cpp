// var.cpp — the tape: recording, topological order, backward.
#include "autograd/var.h"

#include <unordered_map>
#include <unordered_set>

namespace mc {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

VarImpl::~VarImpl() {
  // Destroying the last Var of a graph destroys its Node, whose inputs are destroyed
  // in turn: done naively that recursion is as deep as the graph is long, and a chain
  // of 100k ops overflows the stack. Instead, nodes are unlinked onto an explicit stack.
  if (!node) return;
  std::vector<std::shared_ptr<Node>> nodes;
  nodes.push_back(std::move(node));
  while (!nodes.empty()) {
    std::shared_ptr<Node> n = std::move(nodes.back());
    nodes.pop_back();
    if (n.use_count() != 1) continue;  // still owned elsewhere
    n->backward = nullptr;             // drop the closure's copies of the inputs first
    // Release the inputs one handle at a time: an input listed twice (mul(x, x)) is
    // unique only once its first handle is gone, and then its node is taken over here.
    std::vector<std::shared_ptr<VarImpl>> inputs = std::move(n->inputs);
    while (!inputs.empty()) {
      std::shared_ptr<VarImpl> in = std::move(inputs.back());
      inputs.pop_back();
      if (in && in.use_count() == 1 && in->node) nodes.push_back(std::move(in->node));
    }  // `in` dies here with its node already moved out: no recursion
  }
}

Var::Var(Tensor value, bool requires_grad) : impl_(std::make_shared<VarImpl>()) {
  impl_->value = std::move(value);
  set_requires_grad(requires_grad);
}

Var& Var::set_requires_grad(bool on) {
  if (on && impl_->value.dtype() == DType::i64)
    throw ShapeError("set_requires_grad: an i64 (index) tensor cannot have a gradient");
  impl_->requires_grad = on;
  return *this;
}

namespace {
// An intermediate's gradient may share its storage with the tensor it was first given
// (accumulate): copy it before anything writes to it.
void unshare(VarImpl& v) {
  if (v.node && v.grad.defined() && v.grad.storage_shared()) v.grad = v.grad.clone();
}
}  // namespace

Tensor& Var::grad_buffer() const {
  if (!impl_->grad.defined()) impl_->grad = Tensor::zeros(shape(), dtype());
  unshare(*impl_);
  return impl_->grad;
}

Tensor& Var::grad_buffer(bool* fresh) const {
  *fresh = !impl_->grad.defined();
  if (*fresh) impl_->grad = Tensor(shape(), dtype());
  unshare(*impl_);
  return impl_->grad;
}

Var record(const char* op, Tensor value, std::vector<Var> inputs, std::function<void(const Tensor&)> backward) {
  bool needs = false;
  if (grad_enabled())
    for (const Var& v : inputs) needs = needs || (v.defined() && v.requires_grad());
  Var out(std::move(value), false);
  if (!needs) return out;
  auto node = std::make_shared<Node>();
  node->op = op;
  for (const Var& v : inputs)
    if (v.defined()) node->inputs.push_back(v.impl());
  node->backward = std::move(backward);
  out.impl()->node = std::move(node);
  out.impl()->requires_grad = true;
  return out;
}

namespace {
// `owned`: nothing but the caller's temporary holds g's storage.
void accumulate_into(const Var& v, const Tensor& g, bool owned) {
  if (!v.requires_grad()) return;
  VarImpl& impl = *v.impl();
  const bool intermediate = impl.node != nullptr;
  if (!impl.grad.defined() && g.shape() == v.shape()) {  // the first gradient: g itself, or a copy
    impl.grad = owned || intermediate ? g : g.clone();
    return;
  }
  if (intermediate && impl.grad.storage_shared() && g.shape() == impl.grad.shape()) {
    impl.grad = add(impl.grad, g);  // copy on write: a new sum, the shared tensor untouched
    return;
  }
  Tensor& buf = v.grad_buffer();
  if (g.shape() == buf.shape()) {
    add_(buf, g);
  } else if (broadcast_shapes(g.shape(), buf.shape(), "accumulate") == buf.shape()) {
    // g is smaller: stretch it over the gradient.
    dispatch_float(buf.dtype(), "accumulate", [&](auto tag) {
      using T = decltype(tag);
      T* d = buf.data<T>();
      const T* s = g.data<T>();
      broadcast_visit(buf.shape(), buf.shape(), g.shape(), [&](int64_t o, int64_t, int64_t j) { d[o] += s[j]; });
    });
  } else {
    add_(buf, sum_to(g, buf.shape()));  // g is a broadcast of v: sum it back
  }
}
}  // namespace

void accumulate(const Var& v, const Tensor& g) { accumulate_into(v, g, false); }
void accumulate(const Var& v, Tensor&& g) { accumulate_into(v, g, !g.storage_shared()); }

std::vector<VarImpl*> topological_order(const Var& root) {
  // Iterative depth-first search (a long chain of ops must not overflow the stack).
  std::vector<VarImpl*> order;
  std::unordered_set<VarImpl*> seen;
  std::vector<std::pair<VarImpl*, size_t>> stack;  // (var, next input to visit)
  stack.emplace_back(root.impl().get(), 0);
  seen.insert(root.impl().get());
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    const Node* n = v->node.get();
    if (n && next < n->inputs.size()) {
      VarImpl* in = n->inputs[next++].get();
      if (seen.insert(in).second) stack.emplace_back(in, 0);
    } else {
      order.push_back(v);
      stack.pop_back();
    }
  }
  return order;  // every Var appears after all of its inputs
}

void Var::backward() const { backward(nullptr); }

void Var::backward(const std::function<void(VarImpl* leaf)>& leaf_done) const {
  if (numel() != 1)
    throw ShapeError("backward: needs a loss with one element, got shape " + shape_str(shape()) +
                     " (reduce it, e.g. with sum, first)");
  if (!requires_grad()) throw std::logic_error("backward: the loss does not require a gradient (nothing to differentiate)");
  NoGradGuard no_grad;  // backward functions compute with plain tensors; record nothing
  Tensor& seed = grad_buffer();
  add_(seed, Tensor::ones(shape(), dtype()));
  const std::vector<VarImpl*> order = topological_order(*this);
  // For leaf_done: how many uses of each leaf (an input listed twice counts twice) have
  // yet to run their backward. The last one makes the leaf's gradient final.
  std::unordered_map<VarImpl*, int64_t> uses_left;
  if (leaf_done)
    for (VarImpl* v : order)
      if (v->node)
        for (const auto& in : v->node->inputs)
          if (!in->node && in->requires_grad) ++uses_left[in.get()];
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VarImpl* v = *it;
    if (!v->node) continue;  // a leaf: reported by the last op that reads it
    if (v->grad.defined()) {  // else no gradient reached it
      v->node->backward(v->grad);
      // An intermediate gradient is not needed once passed on: free its memory.
      if (!v->retains_grad && v != impl_.get()) v->grad = Tensor();
    }
    if (leaf_done)
      for (const auto& in : v->node->inputs) {
        auto left = uses_left.find(in.get());
        if (left != uses_left.end() && --left->second == 0 && in->grad.defined()) leaf_done(in.get());
      }
  }
}

}  // namespace mc
