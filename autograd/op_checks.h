// op_checks.h — argument checks shared by the op files: one place that words
// the errors users see for mismatched devices, dtypes and shapes.
#pragma once
#include <string>

#include "autograd/tensor.h"

namespace mhc {

inline void check_defined(const char* op, const Tensor& t) {
  if (!t.defined()) throw std::invalid_argument(std::string(op) + ": an input tensor is undefined");
}

inline void check_floating(const char* op, const Tensor& t) {
  check_defined(op, t);
  if (!is_floating(t.dtype()))
    throw std::invalid_argument(std::string(op) + ": expected a floating tensor, got " + t.describe());
}

inline void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  if (a.device() != b.device())
    throw std::invalid_argument(std::string(op) + ": tensors on different devices (" + a.describe() + " and " +
                                b.describe() + "); move one with .to(device)");
}

inline void check_same(const char* op, const Tensor& a, const Tensor& b) {
  check_same_device(op, a, b);
  if (a.dtype() != b.dtype())
    throw std::invalid_argument(std::string(op) + ": dtype mismatch (" + a.describe() + " and " + b.describe() +
                                "); convert one with .to(dtype)");
}

inline void check_index(const char* op, const Tensor& idx, const Tensor& data) {
  check_defined(op, idx);
  if (idx.dtype() != DType::i32)
    throw std::invalid_argument(std::string(op) + ": indices must be i32, got " + idx.describe());
  if (idx.device() != data.device())
    throw std::invalid_argument(std::string(op) + ": indices on " + device_name(idx.device()) + " but data on " +
                                device_name(data.device()));
}

inline Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }

}  // namespace mhc
