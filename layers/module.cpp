// module.cpp — parameter registry, device moves and the training flag.
#include "layers/module.h"

#include <stdexcept>

namespace mhc {

void Module::register_parameter(const std::string& name, Tensor* t, Decay decay) {
  if (!t->defined()) throw std::logic_error("register_parameter: '" + name + "' is undefined");
  if (!t->requires_grad()) t->set_requires_grad(true);
  params_.push_back({name, t, decay == Decay::matrices && t->dim() >= 2});
}

void Module::register_buffer(const std::string& name, Tensor* t) { buffers_.push_back({name, t}); }

void Module::register_child(const std::string& name, Module* child) { children_.emplace_back(name, child); }

void Module::collect(const std::string& prefix, bool params, std::vector<NamedTensor>& out) const {
  for (const auto& p : params ? params_ : buffers_) out.push_back({prefix + p.name, p.tensor, p.weight_decay});
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, out);
}

std::vector<NamedTensor> Module::parameters() const {
  std::vector<NamedTensor> out;
  collect("", true, out);
  return out;
}

std::vector<NamedTensor> Module::buffers() const {
  std::vector<NamedTensor> out;
  collect("", false, out);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.tensor->numel();
  return n;
}

void Module::to(Device device) {
  for (const auto& p : parameters()) *p.tensor = p.tensor->detach().to(device).set_requires_grad(true);
  for (const auto& b : buffers()) *b.tensor = b.tensor->to(device);
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

}  // namespace mhc
