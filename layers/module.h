// module.h — the base of every layer: named parameters (with dotted paths
// through child modules), buffers that move with the module, and the
// training flag that switches dropout.
//
// A module owns its tensors as plain members and registers pointers to them
// in its constructor, so `parameters()` can list them for the optimizer and
// checkpoints, and `to(device)` can move them. Modules are neither copied nor
// moved after construction (the registered pointers would dangle).
#pragma once
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace mhc {

struct NamedTensor {
  std::string name;  // e.g. "blocks.0.attn_site.phi"
  Tensor* tensor;
  bool weight_decay = false;  // AdamW decays it: weight matrices, not norms, biases, gates or mixing coefficients
};

// Whether AdamW's weight decay applies to a parameter (see register_parameter).
enum class Decay { matrices, never };

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  std::vector<NamedTensor> parameters() const;  // trainable (requires_grad) tensors
  std::vector<NamedTensor> buffers() const;     // non-trainable state (e.g. RoPE tables)
  int64_t parameter_count() const;

  // Moves parameters and buffers to a device; parameters stay trainable leaves.
  void to(Device device);
  void train(bool on);
  bool training() const { return training_; }

 protected:
  // Decay::matrices: decayed when it has ≥ 2 dims (weight matrices).
  // Decay::never: for 2-D parameters that are not weights, e.g. the HC / mHC
  // mixing matrices and biases, which decay would pull away from their init.
  void register_parameter(const std::string& name, Tensor* t, Decay decay = Decay::matrices);
  void register_buffer(const std::string& name, Tensor* t);
  void register_child(const std::string& name, Module* child);

 private:
  void collect(const std::string& prefix, bool params, std::vector<NamedTensor>& out) const;
  std::vector<NamedTensor> params_, buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

}  // namespace mhc
