// optimizer.h — AdamW (decoupled weight decay, Loshchilov & Hutter) over a
// model's parameters, with global-norm gradient clipping. Weight decay
// applies to weight matrices only (NamedTensor::weight_decay, set when a
// module registers the parameter): not to norms, biases, gates, the mHC α /
// b terms or HC's A_r. Moments m, v live on the parameters'
// device, in f32, and are part of checkpoints. One step updates every
// parameter in one Backend::adamw_multi call.
#pragma once
#include <vector>

#include "layers/module.h"

namespace mhc {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-8, weight_decay = 0.1;
};

class AdamW {
 public:
  AdamW(std::vector<NamedTensor> params, const AdamWConfig& config);

  // The global L2 norm of all gradients (one device→host read). Parameters
  // without a gradient this step count as zero.
  double grad_norm() const;
  // One update at learning rate lr; gradients are multiplied by grad_scale
  // first (the clipping factor). Parameters without a gradient are skipped.
  void step(double lr, double grad_scale = 1.0);
  void zero_grad();

  int64_t steps_taken() const { return t_; }
  void set_steps_taken(int64_t t) { t_ = t; }
  // Moments by parameter name ("<name>.m", "<name>.v"), for checkpoints.
  std::vector<NamedTensor> state();

 private:
  std::vector<NamedTensor> params_;
  std::vector<Tensor> m_, v_;
  AdamWConfig cfg_;
  int64_t t_ = 0;
  std::vector<std::string> state_names_;
  std::vector<Tensor> grads_;      // step(): the contiguous gradients of this step
  std::vector<AdamWTensor> list_;  // step(): what adamw_multi updates
};

}  // namespace mhc
