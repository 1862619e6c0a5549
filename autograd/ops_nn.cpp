// ops_nn.cpp — softmax, cross-entropy, RMSNorm and causal attention.
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "autograd/op_checks.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

namespace {

Tensor softmax_impl(const Tensor& x_in, int axis, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_floating(name, x_in);
  axis = normalize_dim(axis, x_in.dim(), name);
  Tensor x = x_in.contiguous();
  int64_t outer, dim, inner;
  split_at_axis(x.shape(), axis, outer, dim, inner);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_of(x).softmax(x.dtype(), x.data_ptr(), y.data_ptr(), outer, dim, inner, log);
  record(y, name, {&x}, [y = y.detach(), outer, dim, inner, log](const Tensor& g_in, const Node&) {
    Tensor g = g_in.contiguous();
    Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
    backend_of(y).softmax_backward(y.dtype(), y.data_ptr(), g.data_ptr(), gx.data_ptr(), outer, dim, inner, log);
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int axis) { return softmax_impl(x, axis, true); }

Tensor cross_entropy_rows(const Tensor& logits_in, const Tensor& targets, int32_t ignore_index) {
  check_floating("cross_entropy", logits_in);
  check_index("cross_entropy", targets, logits_in);
  const int64_t V = logits_in.size(-1);
  const int64_t rows = logits_in.numel() / std::max<int64_t>(V, 1);
  Shape row_shape(logits_in.shape().begin(), logits_in.shape().end() - 1);
  if (targets.shape() != row_shape)
    throw_shape_error("cross_entropy", "targets of shape " + targets.shape().str() + " do not match logits " +
                                           logits_in.shape().str() + " (expected " + row_shape.str() + ")");
  Tensor logits = logits_in.contiguous();
  Tensor tg = targets.contiguous();
  Tensor loss = Tensor::empty(row_shape, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty(row_shape, stat_dtype(logits.dtype()), logits.device());
  backend_of(logits).cross_entropy(logits.dtype(), logits.data_ptr(), static_cast<const int32_t*>(tg.data_ptr()),
                                   loss.data_ptr(), lse.data_ptr(), rows, V, ignore_index);
  record(loss, "cross_entropy", {&logits},
         [x = logits.detach(), tg, lse, rows, V, ignore_index](const Tensor& g_in, const Node&) {
           Tensor g = g_in.contiguous();
           Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
           backend_of(x).cross_entropy_backward(x.dtype(), x.data_ptr(), static_cast<const int32_t*>(tg.data_ptr()),
                                                lse.data_ptr(), g.data_ptr(), gx.data_ptr(), rows, V, ignore_index);
           return std::vector<Tensor>{gx};
         });
  return loss;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int32_t ignore_index) {
  Tensor rows = cross_entropy_rows(logits, targets, ignore_index);
  // Mean over the targets that count, with the count taken on the device (no
  // host round trip in the middle of a step); an all-ignored batch gives 0.
  Tensor t = targets.contiguous();
  Tensor count = Tensor::empty({}, DType::f32, t.device());
  backend_of(t).count_not_equal(static_cast<const int32_t*>(t.data_ptr()), t.numel(), ignore_index,
                                static_cast<float*>(count.data_ptr()));
  return sum(rows) / count.to(rows.dtype());
}

Tensor rms_norm(const Tensor& x_in, const Tensor& weight, double eps) {
  check_floating("rms_norm", x_in);
  const int64_t C = x_in.size(-1);
  if (weight.defined()) {
    check_same("rms_norm", x_in, weight);
    if (weight.dim() != 1 || weight.size(0) != C)
      throw_shape_error("rms_norm", "weight of shape " + weight.shape().str() + " does not match the last axis of " +
                                        x_in.shape().str());
  }
  Tensor x = x_in.contiguous();
  const int64_t rows = x.numel() / std::max<int64_t>(C, 1);
  Shape row_shape(x.shape().begin(), x.shape().end() - 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor rstd = Tensor::empty(row_shape, stat_dtype(x.dtype()), x.device());
  Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  backend_of(x).rms_norm(x.dtype(), x.data_ptr(), w.defined() ? w.data_ptr() : nullptr, y.data_ptr(), rstd.data_ptr(),
                         rows, C, static_cast<float>(eps));
  record(y, "rms_norm", {&x, &w},
         [x = x.detach(), w = w.defined() ? w.detach() : Tensor(), rstd, rows, C](const Tensor& g_in, const Node& n) {
           Tensor g = g_in.contiguous();
           Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
           Tensor gw = n.needs_grad(1) ? Tensor::empty(w.shape(), w.dtype(), w.device()) : Tensor();
           backend_of(x).rms_norm_backward(x.dtype(), x.data_ptr(), w.defined() ? w.data_ptr() : nullptr,
                                           rstd.data_ptr(), g.data_ptr(), gx.data_ptr(),
                                           gw.defined() ? gw.data_ptr() : nullptr, rows, C);
           return std::vector<Tensor>{gx, gw};
         });
  return y;
}

namespace {
// The (T, T) additive causal mask: 0 on and below the diagonal, −∞ above.
// Built once per (T, dtype, device) and reused, so a warm step allocates nothing.
const Tensor& causal_mask(int64_t T, DType dtype, Device device) {
  static std::map<std::tuple<int64_t, DType, Device>, Tensor> cache;
  auto key = std::make_tuple(T, dtype, device);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::vector<double> m(T * T, 0.0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = i + 1; j < T; ++j) m[i * T + j] = -std::numeric_limits<double>::infinity();
  return cache.emplace(key, Tensor::from_vector(m, Shape{T, T}, dtype, device)).first->second;
}
}  // namespace

// The composed path: scores, mask, softmax, dropout, weighted sum, each a
// recorded op; the reference the fused kernels are tested against.
Tensor causal_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, double dropout_p, uint64_t seed) {
  const int64_t T = q.size(1), D = q.size(3);
  Tensor qh = q.transpose(1, 2), kh = k.transpose(1, 2), vh = v.transpose(1, 2);  // (B, H, T, D) views
  // scores = q kᵀ / √D + mask;  p = softmax(scores);  out = p v
  Tensor scores = matmul(qh, kh.transpose(-1, -2)) * (1.0 / std::sqrt(static_cast<double>(D)));
  scores = scores + causal_mask(T, q.dtype(), q.device());
  Tensor p = softmax(scores, -1);
  if (dropout_p > 0) p = dropout(p, dropout_p, seed);
  return matmul(p, vh).transpose(1, 2).contiguous();
}

Tensor causal_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, double dropout_p,
                        uint64_t dropout_seed) {
  check_same("causal_attention", q_in, k_in);
  check_same("causal_attention", q_in, v_in);
  check_floating("causal_attention", q_in);
  if (q_in.dim() != 4 || k_in.shape() != q_in.shape() || v_in.shape() != q_in.shape())
    throw_shape_error("causal_attention", "q, k, v must all be (B, T, H, D); got " + q_in.shape().str() + ", " +
                                              k_in.shape().str() + ", " + v_in.shape().str());
  if (dropout_p < 0 || dropout_p >= 1)
    throw std::invalid_argument("causal_attention: dropout " + std::to_string(dropout_p) + " is outside [0, 1)");
  Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), D = q.size(3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  Tensor out = Tensor::empty(q.shape(), q.dtype(), q.device());
  Tensor lse = Tensor::empty({B, H, T}, stat_dtype(q.dtype()), q.device());
  const float p = static_cast<float>(dropout_p);
  backend_of(q).attention(q.dtype(), q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(), B, T, H,
                          D, scale, p, dropout_seed);
  record(out, "causal_attention", {&q, &k, &v},
         [q = q.detach(), k = k.detach(), v = v.detach(), o = out.detach(), lse, B, T, H, D, scale, p, dropout_seed](
             const Tensor& g_in, const Node&) {
           Tensor g = g_in.contiguous();
           Tensor gq = Tensor::empty(q.shape(), q.dtype(), q.device());
           Tensor gk = Tensor::empty(q.shape(), q.dtype(), q.device());
           Tensor gv = Tensor::empty(q.shape(), q.dtype(), q.device());
           backend_of(q).attention_backward(q.dtype(), q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(),
                                            lse.data_ptr(), g.data_ptr(), gq.data_ptr(), gk.data_ptr(), gv.data_ptr(),
                                            B, T, H, D, scale, p, dropout_seed);
           return std::vector<Tensor>{gq, gk, gv};
         });
  return out;
}

Tensor rope(const Tensor& x_in, const Tensor& cos, const Tensor& sin) {
  check_floating("rope", x_in);
  if (x_in.dim() != 4 || x_in.size(3) % 2 != 0)
    throw_shape_error("rope", "x must be (B, T, H, D) with D even, got " + x_in.shape().str());
  const int64_t B = x_in.size(0), T = x_in.size(1), H = x_in.size(2), D = x_in.size(3);
  if (cos.dtype() != DType::f32 || sin.dtype() != DType::f32 || cos.device() != x_in.device() ||
      sin.device() != x_in.device() || cos.dim() != 2 || cos.size(0) < T || cos.size(1) != D / 2 ||
      sin.shape() != cos.shape())
    throw_shape_error("rope", "cos/sin tables must be f32 (≥ T, D/2) on the same device; got " + cos.describe() +
                                  " for x " + x_in.describe());
  Tensor x = x_in.contiguous();
  Tensor c = cos.contiguous(), s = sin.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_of(x).rope(x.dtype(), x.data_ptr(), static_cast<const float*>(c.data_ptr()),
                     static_cast<const float*>(s.data_ptr()), y.data_ptr(), B, T, H, D, false);
  record(y, "rope", {&x}, [c, s, B, T, H, D](const Tensor& g_in, const Node&) {
    // A rotation's adjoint is the rotation by the opposite angle.
    Tensor g = g_in.contiguous();
    Tensor gx = Tensor::empty(g.shape(), g.dtype(), g.device());
    backend_of(g).rope(g.dtype(), g.data_ptr(), static_cast<const float*>(c.data_ptr()),
                       static_cast<const float*>(s.data_ptr()), gx.data_ptr(), B, T, H, D, true);
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace mhc
