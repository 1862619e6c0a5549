// tensor.h — the Tensor: a strided view (shape, strides, offset) of a
// device allocation, tagged with a dtype and a device, plus the autograd
// fields (requires_grad, grad, and the tape node that produced it).
//
// Views (reshape when possible, transpose, permute, slice, expand, squeeze,
// unsqueeze) share storage and cost no copy; contiguous() copies only when the
// layout needs it. Every operation that makes a new tensor from others is
// recorded on the tape (autograd/tape.h) when gradients are wanted.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "autograd/random.h"
#include "kernels/backend.h"
#include "kernels/dtype.h"
#include "kernels/layout.h"

namespace mhc {

// One allocation on one device; returns its block to the device's caching
// allocator when the last tensor viewing it goes away.
class Storage {
 public:
  Storage(Device device, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

struct Node;  // autograd/tape.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  Device device = Device::cpu;

  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;     // accumulated gradient (leaves)
  std::shared_ptr<Node> grad_fn;        // the node that produced this tensor (null for leaves)
  std::shared_ptr<TensorImpl> pending;  // gradient being summed during one backward pass
  uint64_t visit_epoch = 0;             // topological-sort bookkeeping
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu);
  // Copies host values (converted to dtype) into a new tensor.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32,
                            Device device = Device::cpu);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape, DType dtype = DType::f32,
                            Device device = Device::cpu);
  static Tensor from_ints(const std::vector<int32_t>& values, const Shape& shape, Device device = Device::cpu);
  static Tensor arange(int64_t n, DType dtype = DType::f32, Device device = Device::cpu);
  // Normal(0, stddev) and Uniform[lo, hi) drawn on the host from rng, then moved.
  static Tensor randn(const Shape& shape, Rng& rng, double stddev = 1.0, DType dtype = DType::f32,
                      Device device = Device::cpu);
  static Tensor uniform(const Shape& shape, Rng& rng, double lo, double hi, DType dtype = DType::f32,
                        Device device = Device::cpu);

  // ---- metadata -------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int dim() const { return impl().shape.size(); }
  int64_t size(int d) const;  // negative d counts from the end
  int64_t numel() const { return impl().shape.product(); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().device; }
  bool is_contiguous() const;
  Layout layout() const { return {shape(), strides()}; }
  std::string describe() const;  // "f32 cpu (2, 3)"

  // ---- raw data ---------------------------------------------------------------
  void* data_ptr() const;  // first element, on the tensor's device
  template <class T>
  T* data() const;  // host pointer; checks device and dtype
  // Values converted to T, copied to the host (any device, any layout).
  template <class T>
  std::vector<T> to_vector() const;
  double item() const;  // the single value of a one-element tensor

  // ---- conversions (recorded) -------------------------------------------------
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor contiguous() const;
  Tensor clone() const;

  // ---- views (recorded) ---------------------------------------------------------
  Tensor reshape(Shape shape) const;  // one entry may be -1; copies only if no view exists
  Tensor transpose(int a, int b) const;
  Tensor permute(const std::vector<int>& order) const;
  Tensor slice(int dim, int64_t start, int64_t end) const;
  Tensor expand(const Shape& shape) const;  // size-1 (or missing leading) dims broadcast
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;
  Tensor select(int dim, int64_t index) const;  // slice of length 1, dim removed

  // ---- autograd -------------------------------------------------------------------
  bool requires_grad() const { return defined() && impl().requires_grad; }
  Tensor& set_requires_grad(bool on);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const { return Tensor(impl().grad); }
  void zero_grad() const;  // drops the accumulated gradient
  // Reverse-mode sweep from this tensor. A scalar gets the seed 1; any other
  // shape needs a seed gradient of its own shape.
  void backward(const Tensor& seed = Tensor()) const;
  Tensor detach() const;  // same storage, no history

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Operator sugar for the recorded ops in autograd/ops.h.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
inline Tensor operator+(double s, const Tensor& a) { return a + s; }
inline Tensor operator*(double s, const Tensor& a) { return a * s; }
Tensor operator-(const Tensor& a);

// Helpers shared by ops.
int normalize_dim(int dim, int ndim, const char* op);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that read `t` as if it had shape `target` (broadcast dims get stride 0).
Layout broadcast_layout(const Tensor& t, const Shape& target);
[[noreturn]] void throw_shape_error(const char* op, const std::string& what);

}  // namespace mhc
