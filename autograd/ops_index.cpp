// ops_index.cpp — embedding, concat, top-k and index select / add: the ops
// MoE dispatch and token embedding are built from.
#include "autograd/op_checks.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

namespace {
const int32_t* ids_ptr(const Tensor& t) { return static_cast<const int32_t*>(t.data_ptr()); }
}  // namespace

Tensor index_select(const Tensor& x_in, int dim, const Tensor& idx_in) {
  check_floating("index_select", x_in);
  check_index("index_select", idx_in, x_in);
  if (idx_in.dim() != 1) throw_shape_error("index_select", "indices must be 1-D, got " + idx_in.shape().str());
  dim = normalize_dim(dim, x_in.dim(), "index_select");
  Tensor x = x_in.contiguous();
  Tensor idx = idx_in.contiguous();
  int64_t outer, size, inner;
  split_at_axis(x.shape(), dim, outer, size, inner);
  Shape out_shape = x.shape();
  out_shape[dim] = idx.numel();
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  backend_of(x).gather(x.dtype(), x.data_ptr(), ids_ptr(idx), y.data_ptr(), outer, size, inner, idx.numel());
  record(y, "index_select", {&x}, [in_shape = x.shape(), dim, idx](const Tensor& g, const Node&) {
    return std::vector<Tensor>{index_add(Tensor::zeros(in_shape, g.dtype(), g.device()), dim, idx, g)};
  });
  return y;
}

Tensor index_add(const Tensor& base, int dim, const Tensor& idx_in, const Tensor& src_in) {
  check_same("index_add", base, src_in);
  check_floating("index_add", base);
  check_index("index_add", idx_in, base);
  if (idx_in.dim() != 1) throw_shape_error("index_add", "indices must be 1-D, got " + idx_in.shape().str());
  dim = normalize_dim(dim, base.dim(), "index_add");
  Shape expect = base.shape();
  expect[dim] = idx_in.numel();
  if (src_in.shape() != expect)
    throw_shape_error("index_add", "source of shape " + src_in.shape().str() + " does not fit base " +
                                       base.shape().str() + " with " + std::to_string(idx_in.numel()) +
                                       " indices along axis " + std::to_string(dim) + " (expected " + expect.str() +
                                       ")");
  Tensor src = src_in.contiguous();
  Tensor idx = idx_in.contiguous();
  Tensor out;
  {
    NoGradGuard no_grad;
    out = base.clone();
  }
  int64_t outer, size, inner;
  split_at_axis(out.shape(), dim, outer, size, inner);
  backend_of(out).index_add(out.dtype(), out.data_ptr(), ids_ptr(idx), src.data_ptr(), outer, size, inner, idx.numel());
  record(out, "index_add", {&base, &src}, [dim, idx](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs_grad(0) ? g : Tensor(), n.needs_grad(1) ? index_select(g, dim, idx) : Tensor()};
  });
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  check_floating("embedding", weight);
  check_index("embedding", ids, weight);
  if (weight.dim() != 2) throw_shape_error("embedding", "weight must be (V, C), got " + weight.shape().str());
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  return index_select(weight, 0, ids.reshape({-1})).reshape(out_shape);
}

Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  if (tensors.empty()) throw std::invalid_argument("concat: no tensors given");
  const Tensor& first = tensors[0];
  axis = normalize_dim(axis, first.dim(), "concat");
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (const Tensor& t : tensors) {
    check_same("concat", first, t);
    bool fits = t.dim() == first.dim();
    for (int d = 0; fits && d < t.dim(); ++d)
      if (d != axis && t.shape()[d] != first.shape()[d]) fits = false;
    if (!fits)
      throw_shape_error("concat", "shape " + t.shape().str() + " does not match " + first.shape().str() +
                                      " outside axis " + std::to_string(axis));
    out_shape[axis] += t.shape()[axis];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  std::vector<int64_t> offsets;
  int64_t off = 0;
  {
    NoGradGuard no_grad;
    for (const Tensor& t : tensors) {
      offsets.push_back(off);
      Tensor window = out.slice(axis, off, off + t.shape()[axis]);
      backend_of(t).copy_strided(t.dtype(), t.data_ptr(), t.layout(), window.data_ptr(), window.layout());
      off += t.shape()[axis];
    }
  }
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.shape()[axis]);
  record(out, "concat", tensors, [axis, offsets, sizes](const Tensor& g, const Node& n) {
    std::vector<Tensor> grads(offsets.size());
    for (size_t i = 0; i < offsets.size(); ++i)
      if (n.needs_grad(i)) grads[i] = g.slice(axis, offsets[i], offsets[i] + sizes[i]);
    return grads;
  });
  return out;
}

std::pair<Tensor, Tensor> topk(const Tensor& x_in, int64_t k) {
  check_floating("topk", x_in);
  const int64_t cols = x_in.size(-1);
  if (k < 1 || k > cols)
    throw std::invalid_argument("topk: k = " + std::to_string(k) + " must be in [1, " + std::to_string(cols) +
                                "] for a last axis of size " + std::to_string(cols));
  Tensor x = x_in.contiguous();
  const int64_t rows = x.numel() / cols;
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 1] = k;
  Tensor values = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(out_shape, DType::i32, x.device());
  backend_of(x).topk(x.dtype(), x.data_ptr(), values.data_ptr(), static_cast<int32_t*>(indices.data_ptr()), rows, cols,
                     k);
  record(values, "topk", {&x}, [in_shape = x.shape(), indices, rows, cols, k](const Tensor& g_in, const Node&) {
    Tensor g = g_in.contiguous();
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    backend_of(g).scatter_add_last(g.dtype(), gx.data_ptr(), ids_ptr(indices), g.data_ptr(), rows, cols, k);
    return std::vector<Tensor>{gx};
  });
  return {values, indices};
}

Tensor gather_last(const Tensor& x_in, const Tensor& idx_in) {
  check_floating("gather_last", x_in);
  check_index("gather_last", idx_in, x_in);
  Shape lead_x(x_in.shape().begin(), x_in.shape().end() - 1), lead_i(idx_in.shape().begin(), idx_in.shape().end() - 1);
  if (lead_x != lead_i)
    throw_shape_error("gather_last", "indices " + idx_in.shape().str() + " and data " + x_in.shape().str() +
                                         " differ before the last axis");
  Tensor x = x_in.contiguous();
  Tensor idx = idx_in.contiguous();
  const int64_t cols = x.size(-1), k = idx.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  Tensor y = Tensor::empty(idx.shape(), x.dtype(), x.device());
  backend_of(x).gather_last(x.dtype(), x.data_ptr(), ids_ptr(idx), y.data_ptr(), rows, cols, k);
  record(y, "gather_last", {&x}, [in_shape = x.shape(), idx, rows, cols, k](const Tensor& g_in, const Node&) {
    Tensor g = g_in.contiguous();
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    backend_of(g).scatter_add_last(g.dtype(), gx.data_ptr(), ids_ptr(idx), g.data_ptr(), rows, cols, k);
    return std::vector<Tensor>{gx};
  });
  return y;
}

MoePlan moe_dispatch(const Tensor& expert_of_in, int64_t num_experts) {
  check_defined("moe_dispatch", expert_of_in);
  if (expert_of_in.dtype() != DType::i32 || expert_of_in.dim() != 2)
    throw std::invalid_argument("moe_dispatch: expects (N, k) i32 expert ids, got " + expert_of_in.describe());
  Tensor expert_of = expert_of_in.contiguous();
  const int64_t N = expert_of.size(0), k = expert_of.size(1);
  MoePlan plan;
  plan.order = Tensor::empty({N * k}, DType::i32, expert_of.device());
  plan.token = Tensor::empty({N * k}, DType::i32, expert_of.device());
  Tensor offsets = Tensor::empty({num_experts + 1}, DType::i32, expert_of.device());
  backend_of(expert_of).moe_dispatch(
      ids_ptr(expert_of), N, k, num_experts, static_cast<int32_t*>(plan.order.data_ptr()),
      static_cast<int32_t*>(plan.token.data_ptr()), static_cast<int32_t*>(offsets.data_ptr()));
  for (int32_t o : offsets.to_vector<int32_t>()) plan.offsets.push_back(o);
  return plan;
}

}  // namespace mhc
