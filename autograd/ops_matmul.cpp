// ops_matmul.cpp — batched matrix product with broadcasting of batch dims.
//
// Transposed views cost nothing: a matrix whose last two strides say it is
// stored column-major is passed to the backend as "transposed", so the
// backward products g·Bᵀ and Aᵀ·g never copy.
#include "autograd/op_checks.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

namespace {

// How the last two dims of t (rows × cols) sit in memory, in BLAS terms.
struct MatrixLayout {
  int64_t ld = 0;
  bool trans = false;
};

bool matrix_layout(const Tensor& t, MatrixLayout& out) {
  const int64_t rows = t.size(-2), cols = t.size(-1);
  const int64_t sr = t.strides()[t.dim() - 2], sc = t.strides()[t.dim() - 1];
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1))) {
    out = {rows == 1 ? std::max<int64_t>(cols, 1) : sr, false};
    return true;
  }
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1))) {
    out = {cols == 1 ? std::max<int64_t>(rows, 1) : sc, true};
    return true;
  }
  return false;
}

// One stride that steps through all batch dims of t (shape batch + (r, c)),
// or false when the batch dims cannot be flattened without a copy.
bool batch_stride(const Tensor& t, int nbatch, int64_t& stride) {
  stride = 0;
  bool have_inner = false;
  int64_t inner_stride = 0, inner_size = 0;
  for (int d = nbatch - 1; d >= 0; --d) {
    const int64_t size = t.shape()[d], st = t.strides()[d];
    if (size == 1) continue;
    if (!have_inner)
      stride = st;
    else if (st != inner_stride * inner_size)
      return false;
    have_inner = true;
    inner_stride = st;
    inner_size = size;
  }
  return true;
}

// The product itself, on tensors already broadcast to batch + (M, K) and batch + (K, N).
Tensor batched_product(Tensor a, Tensor b, const Shape& batch) {
  const int nb = batch.size();
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  MatrixLayout la, lb;
  int64_t sa = 0, sb = 0;
  if (!matrix_layout(a, la) || !batch_stride(a, nb, sa)) {
    a = a.contiguous();
    matrix_layout(a, la);
    batch_stride(a, nb, sa);
  }
  if (!matrix_layout(b, lb) || !batch_stride(b, nb, sb)) {
    b = b.contiguous();
    matrix_layout(b, lb);
    batch_stride(b, nb, sb);
  }
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  GemmArgs g;
  g.dtype = a.dtype();
  g.batch = batch.product();
  g.M = M;
  g.N = N;
  g.K = K;
  g.a = a.data_ptr();
  g.lda = la.ld;
  g.trans_a = la.trans;
  g.stride_a = sa;
  g.b = b.data_ptr();
  g.ldb = lb.ld;
  g.trans_b = lb.trans;
  g.stride_b = sb;
  g.c = out.data_ptr();
  g.ldc = N;
  g.stride_c = M * N;
  backend_of(a).gemm(g);
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same("matmul", a, b);
  check_floating("matmul", a);
  if (a.dim() < 2 || b.dim() < 2)
    throw_shape_error("matmul", "needs at least 2-D operands, got " + a.shape().str() + " and " + b.shape().str());
  const int64_t K = a.size(-1);
  if (b.size(-2) != K)
    throw_shape_error("matmul", "inner dimensions differ: " + a.shape().str() + " @ " + b.shape().str());

  // (..., M, K) @ (K, N): one product with all leading dims folded into M.
  if (b.dim() == 2 && a.dim() > 2) {
    Shape out_shape = a.shape();
    out_shape[out_shape.size() - 1] = b.size(-1);
    return matmul(a.reshape({-1, K}), b).reshape(out_shape);
  }

  Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Tensor out;
  {
    NoGradGuard no_grad;
    Shape sa = batch, sb = batch;
    sa.push_back(a.size(-2));
    sa.push_back(K);
    sb.push_back(K);
    sb.push_back(b.size(-1));
    out = batched_product(a.expand(sa), b.expand(sb), batch);
  }
  record(out, "matmul", {&a, &b}, [a = a.detach(), b = b.detach()](const Tensor& g, const Node& n) {
    Tensor ga, gb;
    if (n.needs_grad(0)) ga = sum_to(matmul(g, b.transpose(-1, -2)), a.shape());
    if (n.needs_grad(1)) gb = sum_to(matmul(a.transpose(-1, -2), g), b.shape());
    return std::vector<Tensor>{ga, gb};
  });
  return out;
}

}  // namespace mhc
