// ops_reduce.cpp — sum, mean and max over axes; sum_to (un-broadcasting).
#include <algorithm>

#include "autograd/op_checks.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

namespace {

// Sorted, unique, non-negative axes.
std::vector<int> normalize_axes(std::vector<int> axes, int ndim, const char* op) {
  for (int& a : axes) a = normalize_dim(a, ndim, op);
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

// Sums contiguous x over the sorted axes, keeping them as size-1 dims.
// Adjacent axes are reduced in one pass; each pass is (outer, reduce, inner).
Tensor sum_keepdim_forward(Tensor x, const std::vector<int>& axes) {
  size_t i = axes.size();
  while (i > 0) {
    size_t j = i - 1;  // [axes[j], axes[i-1]] is a run of adjacent axes
    while (j > 0 && axes[j - 1] == axes[j] - 1) --j;
    const int first = axes[j], last = axes[i - 1];
    const Shape& sh = x.shape();
    int64_t outer = 1, reduce = 1, inner = 1;
    for (int d = 0; d < sh.size(); ++d) {
      if (d < first)
        outer *= sh[d];
      else if (d <= last)
        reduce *= sh[d];
      else
        inner *= sh[d];
    }
    Shape out_shape = sh;
    for (int d = first; d <= last; ++d) out_shape[d] = 1;
    Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
    backend_of(x).sum(x.dtype(), x.data_ptr(), y.data_ptr(), outer, reduce, inner);
    x = y;
    i = j;
  }
  return x;
}

}  // namespace

Tensor sum(const Tensor& x_in, std::vector<int> axes_in, bool keepdim) {
  check_floating("sum", x_in);
  const std::vector<int> axes = normalize_axes(std::move(axes_in), x_in.dim(), "sum");
  Tensor x = x_in.contiguous();
  Tensor kept;
  {
    NoGradGuard no_grad;
    kept = sum_keepdim_forward(x, axes);
  }
  const Shape keep_shape = kept.shape();
  Shape out_shape;
  for (int d = 0; d < x.dim(); ++d)
    if (keepdim || !std::binary_search(axes.begin(), axes.end(), d)) out_shape.push_back(keep_shape[d]);
  Tensor out = kept.detach();
  out.impl().shape = out_shape;
  out.impl().strides = contiguous_strides(out_shape);
  record(out, "sum", {&x}, [keep_shape, in_shape = x.shape()](const Tensor& g, const Node&) {
    return std::vector<Tensor>{g.reshape(keep_shape).expand(in_shape)};
  });
  return out;
}

Tensor sum(const Tensor& x) {
  std::vector<int> all(x.dim());
  for (int d = 0; d < x.dim(); ++d) all[d] = d;
  return sum(x, all, false);
}

Tensor mean(const Tensor& x, std::vector<int> axes_in, bool keepdim) {
  const std::vector<int> axes = normalize_axes(axes_in, x.dim(), "mean");
  int64_t count = 1;
  for (int a : axes) count *= x.shape()[a];
  return sum(x, axes, keepdim) * (count ? 1.0 / static_cast<double>(count) : 0.0);
}

Tensor mean(const Tensor& x) { return sum(x) * (x.numel() ? 1.0 / static_cast<double>(x.numel()) : 0.0); }

Tensor max(const Tensor& x, int axis, bool keepdim) {
  check_floating("max", x);
  axis = normalize_dim(axis, x.dim(), "max");
  // Move the axis last, take the top-1 entry (lowest index wins ties), drop the axis.
  std::vector<int> order;
  for (int d = 0; d < x.dim(); ++d)
    if (d != axis) order.push_back(d);
  order.push_back(axis);
  Tensor values = topk(x.permute(order), 1).first.squeeze(-1);
  return keepdim ? values.unsqueeze(axis) : values;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int lead = g.dim() - shape.size();
  if (lead < 0) throw_shape_error("sum_to", "cannot sum " + g.shape().str() + " to " + shape.str());
  std::vector<int> axes;
  for (int d = 0; d < g.dim(); ++d) {
    if (d < lead) {
      axes.push_back(d);
    } else if (shape[d - lead] == 1 && g.shape()[d] != 1) {
      axes.push_back(d);
    } else if (shape[d - lead] != g.shape()[d]) {
      throw_shape_error("sum_to", "cannot sum " + g.shape().str() + " to " + shape.str());
    }
  }
  return sum(g, axes, true).reshape(shape);
}

}  // namespace mhc
