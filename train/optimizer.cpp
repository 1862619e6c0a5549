// optimizer.cpp
#include "train/optimizer.h"

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

AdamW::AdamW(std::vector<NamedTensor> params, const AdamWConfig& config) : params_(std::move(params)), cfg_(config) {
  for (const auto& p : params_) {
    if (p.tensor->dtype() != DType::f32)
      throw std::invalid_argument("AdamW: parameter " + p.name + " is " + dtype_name(p.tensor->dtype()) +
                                  "; master weights must be f32");
    if (p.tensor->device() != params_[0].tensor->device())
      throw std::invalid_argument("AdamW: parameter " + p.name + " is on " + device_name(p.tensor->device()) + " but " +
                                  params_[0].name + " on " + device_name(params_[0].tensor->device()) +
                                  "; one optimizer updates the parameters of one device");
    m_.push_back(Tensor::zeros(p.tensor->shape(), DType::f32, p.tensor->device()));
    v_.push_back(Tensor::zeros(p.tensor->shape(), DType::f32, p.tensor->device()));
    state_names_.push_back(p.name + ".m");
    state_names_.push_back(p.name + ".v");
  }
}

double AdamW::grad_norm() const {
  NoGradGuard no_grad;
  Tensor total;
  for (const auto& p : params_) {
    Tensor g = p.tensor->grad();
    if (!g.defined()) continue;
    Tensor sq = sum(square(g));
    total = total.defined() ? total + sq : sq;
  }
  return total.defined() ? std::sqrt(total.item()) : 0.0;
}

void AdamW::step(double lr, double grad_scale) {
  NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
  const AdamWHyper h{static_cast<float>(lr),        static_cast<float>(cfg_.beta1), static_cast<float>(cfg_.beta2),
                     static_cast<float>(cfg_.eps),  static_cast<float>(bc1),        static_cast<float>(bc2),
                     static_cast<float>(grad_scale)};
  // Every parameter with a gradient, in one backend call (one launch, or a few, on CUDA).
  grads_.clear();
  list_.clear();
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = *params_[i].tensor;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    grads_.push_back(g.contiguous());  // kept alive until the update has run
    const double wd = params_[i].weight_decay ? cfg_.weight_decay : 0.0;
    list_.push_back({static_cast<float*>(p.data_ptr()), static_cast<const float*>(grads_.back().data_ptr()),
                     static_cast<float*>(m_[i].data_ptr()), static_cast<float*>(v_[i].data_ptr()), nullptr, p.numel(),
                     static_cast<float>(wd)});
  }
  if (!list_.empty())
    backend_for(params_[0].tensor->device()).adamw_multi(list_.data(), static_cast<int64_t>(list_.size()), h);
  grads_.clear();
}

void AdamW::zero_grad() {
  for (const auto& p : params_) p.tensor->zero_grad();
}

std::vector<NamedTensor> AdamW::state() {
  std::vector<NamedTensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.push_back({state_names_[2 * i], &m_[i]});
    out.push_back({state_names_[2 * i + 1], &v_[i]});
  }
  return out;
}

}  // namespace mhc
