// tape.h — reverse-mode automatic differentiation.
//
// Every op that produces a tensor from inputs needing gradients records a
// Node: the op's name, its inputs, and a backward function that maps the
// gradient of the output to gradients of the inputs. The nodes, linked
// through their inputs, form the tape of the forward pass.
//
// backward(root):
//   1. walk the tape from the root with an explicit stack (no recursion) and
//      list the tensors in topological order (a tensor after all it depends on);
//   2. visit them in reverse: call each node's backward with the gradient
//      summed so far for its output, and add each returned gradient into the
//      input's running sum — or, for a leaf, into its .grad (which keeps
//      accumulating across backward calls until zero_grad);
//   3. release each node as soon as it has run: its saved tensors are freed,
//      and a second backward through it is an error.
// A leaf comes before everything computed from it in the order, so when the
// reverse sweep reaches a leaf its gradient for this pass is complete: a
// LeafDoneScope hears of it then (data-parallel training starts reducing it).
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "autograd/tensor.h"

namespace mhc {

struct Node;
// Given the gradient of the node's output, returns one gradient per input,
// in order (an undefined Tensor where an input gets none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out, const Node& node)>;

struct Node {
  const char* op = "";
  std::vector<std::shared_ptr<TensorImpl>> inputs;  // null where the input needs no gradient
  BackwardFn backward;
  bool released = false;
  bool needs_grad(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
};

// Gradient recording is on by default; NoGradGuard turns it off in a scope
// (evaluation, sampling, the optimizer step, and backward functions themselves).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op with these inputs must be recorded.
bool needs_recording(std::initializer_list<const Tensor*> inputs);
bool needs_recording(const std::vector<Tensor>& inputs);

// Attaches a node to `out` (which becomes a non-leaf that requires grad).
void record(Tensor& out, const char* op, std::initializer_list<const Tensor*> inputs, BackwardFn fn);
void record(Tensor& out, const char* op, const std::vector<Tensor>& inputs, BackwardFn fn);

// Every tensor `root` depends on through the tape, each listed after all the
// tensors it was computed from (root last). Leaves are included.
std::vector<std::shared_ptr<TensorImpl>> topological_order(const Tensor& root);

// While a LeafDoneScope lives, backward calls `fn` for every leaf it reaches,
// right after the last gradient of this pass was added into the leaf's .grad
// (which may be undefined: a leaf that got no gradient). Scopes nest; the
// innermost one hears.
using LeafDoneFn = std::function<void(TensorImpl& leaf)>;
class LeafDoneScope {
 public:
  explicit LeafDoneScope(LeafDoneFn fn);
  ~LeafDoneScope();
  LeafDoneScope(const LeafDoneScope&) = delete;
  LeafDoneScope& operator=(const LeafDoneScope&) = delete;

 private:
  LeafDoneFn previous_;
};

// The engine; Tensor::backward calls it.
void run_backward(const Tensor& root, const Tensor& seed);

}  // namespace mhc
