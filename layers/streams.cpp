// streams.cpp
#include "layers/streams.h"

#include <stdexcept>

#include "autograd/ops.h"

namespace mhc {

Tensor expand_streams(const Tensor& x, int64_t n) {
  if (x.dim() != 3) throw std::invalid_argument("expand_streams: expects (B, T, C), got " + x.shape().str());
  if (n < 1) throw std::invalid_argument("expand_streams: needs at least 1 stream");
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  return x.unsqueeze(2).expand({B, T, n, C}).contiguous();
}

StreamCollapse::StreamCollapse(int64_t streams, int64_t width, CollapseMode mode, double norm_eps)
    : n_(streams), C_(width), mode_(mode), eps_(norm_eps) {
  if (mode_ == CollapseMode::Learned) {
    phi_head = Tensor::zeros({n_ * C_, n_});
    s = Tensor::full({1}, 0.01);
    b_head = Tensor::zeros({n_});
    register_parameter("phi_head", &phi_head);
    register_parameter("s", &s);
    register_parameter("b_head", &b_head);
  }
}

Tensor StreamCollapse::forward(const Tensor& x) const {
  if (x.dim() != 4 || x.size(2) != n_ || x.size(3) != C_)
    throw std::invalid_argument("StreamCollapse: expects (B, T, " + std::to_string(n_) + ", " + std::to_string(C_) +
                                "), got " + x.shape().str());
  const int64_t B = x.size(0), T = x.size(1);
  if (n_ == 1) return x.reshape({B, T, C_});
  if (mode_ == CollapseMode::Sum) return sum(x, {2});
  const DType ct = x.dtype() == DType::f64 ? DType::f64 : DType::f32;
  Tensor v = rms_norm(x.to(ct).reshape({B, T, n_ * C_}), Tensor(), eps_);
  Tensor w = sigmoid(matmul(v, phi_head.to(ct)) * s.to(ct) + b_head.to(ct));  // (B, T, n)
  return matmul(w.to(x.dtype()).unsqueeze(-2), x).reshape({B, T, C_});        // Σ_j w_j x_j
}

}  // namespace mhc
