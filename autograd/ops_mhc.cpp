// ops_mhc.cpp — the fused mHC ops and selective recompute; see ops_mhc.h.
#include "autograd/ops_mhc.h"

#include <stdexcept>

#include "autograd/op_checks.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

namespace {

struct SiteShape {
  int64_t M, n, C, P;
};

SiteShape site_shape(const Tensor& x, const char* op) {
  if (x.dim() != 4) throw_shape_error(op, "expects a (B, T, n, C) stream state, got " + x.shape().str());
  const int64_t n = x.size(2);
  return {x.size(0) * x.size(1), n, x.size(3), 2 * n + n * n};
}

void check_coeffs(const Tensor& coeffs, const Tensor& x, const SiteShape& s, DType ct, const char* op) {
  check_same_device(op, coeffs, x);
  if (coeffs.dtype() != ct || coeffs.numel() != s.M * s.P)
    throw_shape_error(op, "coefficients " + coeffs.describe() + " do not fit " + std::to_string(s.M) + " tokens of " +
                              std::to_string(s.P) + " in " + dtype_name(ct));
}

const void* ptr(const Tensor& t) { return t.data_ptr(); }

}  // namespace

bool fused_mhc_preferred(const Tensor& x) { return backend_of(x).prefers_fused_mhc(); }

// ---- recompute ----------------------------------------------------------------------

RecomputeGroup::RecomputeGroup(const Tensor& x_start) : x0_(x_start.contiguous().detach()) {}  // kernels read it raw

void RecomputeGroup::keep(int index, const Tensor& y, const Tensor& coeffs) {
  if (static_cast<int>(ys_.size()) <= index) {
    ys_.resize(index + 1);
    coeffs_.resize(index + 1);
  }
  ys_[index] = y.detach();
  coeffs_[index] = coeffs.detach();
}

void RecomputeGroup::add_intermediate(const Tensor& x) { intermediates_.push_back(x); }

void RecomputeGroup::release() {
  // The states stay in the graph (their nodes route gradients) but their
  // memory goes: only this group can produce their values again.
  for (Tensor& x : intermediates_) x.impl().storage.reset();
  intermediates_.clear();
}

Tensor RecomputeGroup::state(int index) {
  if (index == 0) return x0_;
  if (cache_.empty()) {
    // Rebuild x_1 .. x_{L-1}: x_{i+1} = H_res x_i + H_postᵀ y_i, the same
    // kernel on the same inputs as the forward, so bit-identical values.
    NoGradGuard no_grad;
    cache_.push_back(x0_);
    const int64_t n = x0_.size(2), C = x0_.size(3), M = x0_.size(0) * x0_.size(1);
    for (size_t i = 0; i + 1 < ys_.size(); ++i) {
      Tensor next = Tensor::empty(x0_.shape(), x0_.dtype(), x0_.device());
      backend_of(x0_).mhc_post(x0_.dtype(), ptr(cache_.back()), ptr(ys_[i]), ptr(coeffs_[i]), next.data_ptr(), M, n, C);
      cache_.push_back(next);
    }
  }
  if (index >= static_cast<int>(cache_.size()))
    throw std::logic_error("RecomputeGroup: state " + std::to_string(index) + " was never kept");
  return cache_[index];
}

// ---- (a)+(b)+(c) coefficients -----------------------------------------------------------

Tensor mhc_coefficients(const Tensor& x_in, const Tensor& phi_in, const Tensor& alpha_in, const Tensor& bias_in,
                        int iters, bool sigmoid_gates, double eps, const RecomputeHandle& rc) {
  const char* op = "mhc_coefficients";
  check_floating(op, x_in);
  const SiteShape s = site_shape(x_in, op);
  const DType dt = x_in.dtype(), ct = stat_dtype(dt);
  const int64_t K = s.n * s.C;
  if (phi_in.shape() != Shape{K, s.P} || alpha_in.numel() != s.P || bias_in.numel() != s.P)
    throw_shape_error(op, "φ " + phi_in.shape().str() + ", α " + alpha_in.shape().str() + ", b " +
                              bias_in.shape().str() + " do not fit n = " + std::to_string(s.n) +
                              ", C = " + std::to_string(s.C));
  for (const Tensor* p : {&phi_in, &alpha_in, &bias_in}) check_same_device(op, *p, x_in);
  Tensor x = x_in.contiguous();
  Tensor phi = phi_in.to(ct).contiguous(), alpha = alpha_in.to(ct).contiguous(), bias = bias_in.to(ct).contiguous();
  Tensor q = Tensor::empty({s.M, s.P}, ct, x.device()), rstd = Tensor::empty({s.M}, ct, x.device());
  Backend& be = backend_of(x);
  be.mhc_project(dt, ptr(x), ptr(phi), q.data_ptr(), rstd.data_ptr(), s.M, K, s.P, static_cast<float>(eps));
  Shape out_shape{x.size(0), x.size(1), s.P};
  Tensor coeffs = Tensor::empty(out_shape, ct, x.device());
  // The gates see only coefficient tensors: their dtype argument is ct, not dt.
  be.mhc_gates(ct, ptr(q), ptr(alpha), ptr(bias), coeffs.data_ptr(), s.M, s.n, iters, sigmoid_gates);
  Tensor saved_x = rc ? Tensor() : x.detach();
  record(coeffs, op, {&x, &phi, &alpha, &bias},
         [s, K, iters, sigmoid_gates, saved_x, rc, phi = phi.detach(), alpha = alpha.detach(), bias = bias.detach(), q,
          rstd](const Tensor& g_in, const Node& node) {
           Tensor g = g_in.contiguous();
           Tensor x = rc ? rc.group->state(rc.index) : saved_x;
           const DType dt = x.dtype(), ct = q.dtype();
           Backend& be = backend_of(x);
           Tensor gh = Tensor::empty({s.M, s.P}, ct, x.device());  // ∂L/∂h̃, h̃ = α ⊙ q + b
           be.mhc_gates_backward(ct, ptr(q), ptr(alpha), ptr(bias), ptr(g), gh.data_ptr(), s.M, s.n, iters,
                                 sigmoid_gates);
           Tensor g_alpha = node.needs_grad(2) ? sum(gh * q, {0}) : Tensor();
           Tensor g_bias = node.needs_grad(3) ? sum(gh, {0}) : Tensor();
           Tensor gq = gh * alpha;  // (M, P)
           Tensor gx, gphi;
           if (node.needs_grad(0)) {
             gx = Tensor::empty(x.shape(), dt, x.device());
             be.mhc_project_backward(dt, ptr(x), ptr(phi), ptr(q), ptr(rstd), ptr(gq), gx.data_ptr(), s.M, K, s.P);
           }
           if (node.needs_grad(1)) {
             // ∂L/∂φ = Σ_tokens rstd · v ⊗ gq, one product over all tokens, in the
             // coefficient dtype: f32 inputs (bf16 streams are widened exactly) and
             // f32 accumulation, like every other coefficient gradient.
             Tensor gqr = gq * rstd.unsqueeze(-1);                            // (M, P)
             gphi = matmul(x.to(ct).reshape({s.M, K}).transpose(0, 1), gqr);  // (K, P)
           }
           return std::vector<Tensor>{gx, gphi, g_alpha, g_bias};
         });
  return coeffs;
}

// ---- (d) pre ------------------------------------------------------------------------------

Tensor mhc_pre(const Tensor& x_in, const Tensor& coeffs_in, const RecomputeHandle& rc) {
  const char* op = "mhc_pre";
  check_floating(op, x_in);
  const SiteShape s = site_shape(x_in, op);
  const DType dt = x_in.dtype(), ct = stat_dtype(dt);
  check_coeffs(coeffs_in, x_in, s, ct, op);
  Tensor x = x_in.contiguous(), coeffs = coeffs_in.contiguous();
  Tensor h = Tensor::empty({x.size(0), x.size(1), s.C}, dt, x.device());
  backend_of(x).mhc_pre(dt, ptr(x), ptr(coeffs), h.data_ptr(), s.M, s.n, s.C);
  Tensor saved_x = rc ? Tensor() : x.detach();
  record(h, op, {&x, &coeffs}, [s, saved_x, rc, coeffs = coeffs.detach()](const Tensor& g_in, const Node&) {
    Tensor g = g_in.contiguous();
    Tensor x = rc ? rc.group->state(rc.index) : saved_x;
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    Tensor gc = Tensor::empty(coeffs.shape(), coeffs.dtype(), coeffs.device());
    backend_of(x).mhc_pre_backward(x.dtype(), ptr(x), ptr(coeffs), ptr(g), gx.data_ptr(), gc.data_ptr(), s.M, s.n, s.C);
    return std::vector<Tensor>{gx, gc};
  });
  return h;
}

// ---- (e) post and the residual merge --------------------------------------------------------

Tensor mhc_post(const Tensor& x_in, const Tensor& y_in, const Tensor& coeffs_in, const RecomputeHandle& rc) {
  const char* op = "mhc_post";
  check_same(op, x_in, y_in);
  check_floating(op, x_in);
  const SiteShape s = site_shape(x_in, op);
  const DType dt = x_in.dtype(), ct = stat_dtype(dt);
  check_coeffs(coeffs_in, x_in, s, ct, op);
  if (y_in.numel() != s.M * s.C) throw_shape_error(op, "sub-block output " + y_in.shape().str() + " does not fit");
  Tensor x = x_in.contiguous(), y = y_in.contiguous(), coeffs = coeffs_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  backend_of(x).mhc_post(dt, ptr(x), ptr(y), ptr(coeffs), out.data_ptr(), s.M, s.n, s.C);
  if (rc) rc.group->keep(rc.index, y, coeffs);
  Tensor saved_x = rc ? Tensor() : x.detach();
  record(out, op, {&x, &y, &coeffs},
         [s, saved_x, rc, y = y.detach(), coeffs = coeffs.detach()](const Tensor& g_in, const Node&) {
           Tensor g = g_in.contiguous();
           Tensor x = rc ? rc.group->state(rc.index) : saved_x;
           Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
           Tensor gy = Tensor::empty(y.shape(), y.dtype(), y.device());
           Tensor gc = Tensor::empty(coeffs.shape(), coeffs.dtype(), coeffs.device());
           backend_of(x).mhc_post_backward(x.dtype(), ptr(x), ptr(y), ptr(coeffs), ptr(g), gx.data_ptr(), gy.data_ptr(),
                                           gc.data_ptr(), s.M, s.n, s.C);
           return std::vector<Tensor>{gx, gy, gc};
         });
  return out;
}

}  // namespace mhc
