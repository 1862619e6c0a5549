// tape.cpp — the backward engine. See tape.h for the algorithm.
#include "autograd/tape.h"

#include <stdexcept>
#include <string>

#include "autograd/op_profile.h"
#include "autograd/ops.h"

namespace mhc {

namespace {
thread_local bool g_grad_enabled = true;
thread_local LeafDoneFn g_leaf_done;
uint64_t g_epoch = 0;

void attach(Tensor& out, const char* op, std::vector<std::shared_ptr<TensorImpl>> inputs, BackwardFn fn) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(fn);
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
  OpProfile::recorded(op);  // bench_train_step --profile: this op's forward ends here
}

// Adds g into a running sum. Running sums are never modified in place (a
// backward function may hand the same tensor to several inputs), except a
// leaf's .grad, which is its own storage.
void accumulate(TensorImpl& target, const Tensor& g, const char* op) {
  if (g.shape() != target.shape)
    throw std::logic_error(std::string("backward of ") + op + ": gradient shape " + g.shape().str() +
                           " does not match input shape " + target.shape.str());
  if (g.dtype() != target.dtype)
    throw std::logic_error(std::string("backward of ") + op + ": gradient dtype " + dtype_name(g.dtype()) +
                           " does not match input dtype " + dtype_name(target.dtype));
  const bool leaf = target.grad_fn == nullptr;
  std::shared_ptr<TensorImpl>& slot = leaf ? target.grad : target.pending;
  if (!slot) {
    // A leaf's .grad must own its memory: it is accumulated into in place.
    slot = leaf ? g.clone().impl_ptr() : g.impl_ptr();
  } else if (leaf) {
    add_(Tensor(slot), g);
  } else {
    slot = (Tensor(slot) + g).impl_ptr();
  }
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
LeafDoneScope::LeafDoneScope(LeafDoneFn fn) : previous_(std::move(g_leaf_done)) { g_leaf_done = std::move(fn); }
LeafDoneScope::~LeafDoneScope() { g_leaf_done = std::move(previous_); }

bool needs_recording(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->requires_grad()) return true;
  return false;
}

bool needs_recording(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

void record(Tensor& out, const char* op, std::initializer_list<const Tensor*> inputs, BackwardFn fn) {
  if (!needs_recording(inputs)) return;
  std::vector<std::shared_ptr<TensorImpl>> ins;
  ins.reserve(inputs.size());
  for (const Tensor* t : inputs) ins.push_back(t->requires_grad() ? t->impl_ptr() : nullptr);
  attach(out, op, std::move(ins), std::move(fn));
}

void record(Tensor& out, const char* op, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (!needs_recording(inputs)) return;
  std::vector<std::shared_ptr<TensorImpl>> ins;
  ins.reserve(inputs.size());
  for (const Tensor& t : inputs) ins.push_back(t.requires_grad() ? t.impl_ptr() : nullptr);
  attach(out, op, std::move(ins), std::move(fn));
}

std::vector<std::shared_ptr<TensorImpl>> topological_order(const Tensor& root) {
  // Iterative depth-first search, post-order: a tensor is listed after every
  // tensor it was computed from. An explicit stack, so depth is unlimited.
  const uint64_t epoch = ++g_epoch;
  struct Frame {
    std::shared_ptr<TensorImpl> impl;
    size_t next_input = 0;
  };
  std::vector<Frame> stack;
  std::vector<std::shared_ptr<TensorImpl>> order;
  auto push = [&](const std::shared_ptr<TensorImpl>& t) {
    if (t->grad_fn && t->grad_fn->released)
      throw std::logic_error(std::string("backward through a graph that has already been freed (op ") + t->grad_fn->op +
                             "): each forward pass can be differentiated once; "
                             "run the forward again before calling backward a second time");
    t->visit_epoch = epoch;
    stack.push_back({t, 0});
  };
  push(root.impl_ptr());
  while (!stack.empty()) {
    Frame& f = stack.back();
    Node* node = f.impl->grad_fn.get();
    if (node && f.next_input < node->inputs.size()) {
      const std::shared_ptr<TensorImpl>& in = node->inputs[f.next_input++];
      if (in && in->visit_epoch != epoch) push(in);
      continue;
    }
    order.push_back(std::move(f.impl));
    stack.pop_back();
  }
  return order;
}

void run_backward(const Tensor& root, const Tensor& seed) {
  if (!root.defined()) throw std::invalid_argument("backward() on an undefined tensor");
  if (!root.requires_grad())
    throw std::invalid_argument(
        "backward() on a tensor that does not require grad: no input of "
        "the computation had requires_grad set");
  Tensor seed_grad = seed;
  if (!seed_grad.defined()) {
    if (root.numel() != 1)
      throw std::invalid_argument("backward() on a non-scalar tensor of shape " + root.shape().str() +
                                  " needs a seed gradient of that shape (only one-element "
                                  "tensors get the implicit seed 1)");
    seed_grad = Tensor::ones(root.shape(), root.dtype(), root.device());
  } else if (seed_grad.shape() != root.shape()) {
    throw std::invalid_argument("backward(): seed gradient shape " + seed_grad.shape().str() +
                                " does not match the tensor's shape " + root.shape().str());
  }
  NoGradGuard no_grad;  // backward functions are not themselves recorded

  // 1. Topological order (tensors after everything they depend on).
  std::vector<std::shared_ptr<TensorImpl>> order = topological_order(root);

  OpProfile::backward_begins();  // bench_train_step --profile: the first node's backward starts here

  // 2. Reverse sweep.
  root.impl().pending = seed_grad.impl_ptr();
  if (!root.impl().grad_fn) {  // the root is itself a leaf
    Tensor g(root.impl().pending);
    root.impl().pending.reset();
    accumulate(root.impl(), g, "backward seed");
    if (g_leaf_done) g_leaf_done(root.impl());
    return;
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl& t = **it;
    Node* node = t.grad_fn.get();
    if (!node) {  // a leaf: its .grad is already summed
      if (g_leaf_done) g_leaf_done(t);
      continue;
    }
    Tensor g(t.pending);
    t.pending.reset();
    if (g.defined()) {
      std::vector<Tensor> grads = node->backward(g, *node);
      if (grads.size() != node->inputs.size())
        throw std::logic_error(std::string("backward of ") + node->op + " returned " + std::to_string(grads.size()) +
                               " gradients for " + std::to_string(node->inputs.size()) + " inputs");
      OpProfile::backward_done(node->op);  // bench_train_step --profile: this node's backward ends here
      for (size_t i = 0; i < grads.size(); ++i)
        if (node->inputs[i] && grads[i].defined()) accumulate(*node->inputs[i], grads[i], node->op);
    }
    // 3. Release: saved tensors go now; a second backward will report it.
    node->backward = nullptr;
    node->released = true;
  }
  // Inputs of released nodes are dropped last (the order list kept them alive).
  for (auto& impl : order)
    if (impl->grad_fn) impl->grad_fn->inputs.clear();
}

}  // namespace mhc
