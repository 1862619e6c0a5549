// tensor.cpp — creation, metadata, host transfer, conversions and views.
#include "autograd/tensor.h"

#include <algorithm>
#include <stdexcept>

#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

// ---- storage ------------------------------------------------------------------

Storage::Storage(Device device, size_t bytes) : bytes_(bytes), device_(device) {
  data_ = backend_for(device).allocate(bytes);
}

Storage::~Storage() { backend_for(device_).deallocate(data_, bytes_); }

// ---- helpers ----------------------------------------------------------------------

void throw_shape_error(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

int normalize_dim(int dim, int ndim, const char* op) {
  const int d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= ndim)
    throw_shape_error(op, "axis " + std::to_string(dim) + " is out of range for a tensor with " + std::to_string(ndim) +
                              " dimensions");
  return d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int n = std::max(a.size(), b.size());
  Shape out;
  out.resize(n);
  for (int i = 0; i < n; ++i) {
    const int ia = a.size() - n + i, ib = b.size() - n + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw_shape_error(op, "shapes " + a.str() + " and " + b.str() + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Layout broadcast_layout(const Tensor& t, const Shape& target) {
  Layout l;
  l.shape = target;
  l.strides.resize(target.size());
  const int off = target.size() - t.dim();
  for (int i = 0; i < target.size(); ++i) {
    const int j = i - off;
    l.strides[i] = (j < 0 || t.shape()[j] == 1) ? 0 : t.strides()[j];
  }
  return l;
}

namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device) {
  for (int i = 0; i < shape.size(); ++i)
    if (shape[i] < 0) throw_shape_error("empty", "negative size in shape " + shape.str());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(device, shape.product() * dtype_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->device = device;
  return impl;
}

// A new tensor sharing `base`'s storage with another shape/strides/offset.
Tensor make_view(const Tensor& base, const Shape& shape, const Strides& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl().storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->device = base.device();
  return Tensor(impl);
}

// Strides that view a tensor of (shape, strides) as new_shape without a copy,
// or false when no such view exists. Each run of input dims that is
// contiguous in memory may be re-split freely.
bool view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape, Strides& out) {
  out.resize(new_shape.size());
  if (shape.product() == 0) {
    out = contiguous_strides(new_shape);
    return true;
  }
  int view_d = new_shape.size() - 1;
  int64_t chunk_base_stride = strides.size() ? strides.back() : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = shape.size() - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    const bool chunk_ends = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride);
    if (chunk_ends) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

}  // namespace

// ---- creation -----------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) { return Tensor(make_impl(shape, dtype, device)); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  backend_for(device).fill(dtype, t.data_ptr(), t.numel(), value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full(Shape{}, value, dtype, device); }

namespace {
template <class Src>
Tensor from_host_values(const std::vector<Src>& values, const Shape& shape, DType dtype, Device device) {
  if (static_cast<int64_t>(values.size()) != shape.product())
    throw_shape_error("from_vector", std::to_string(values.size()) + " values cannot fill shape " + shape.str());
  Tensor t = Tensor::empty(shape, dtype, device);
  const int64_t n = t.numel();
  auto upload = [&](const auto& host) {
    backend_for(device).copy_from_host(t.data_ptr(), host.data(), n * dtype_size(dtype));
  };
  switch (dtype) {
    case DType::f32: upload(std::vector<float>(values.begin(), values.end())); break;
    case DType::f64: upload(std::vector<double>(values.begin(), values.end())); break;
    case DType::i32: upload(std::vector<int32_t>(values.begin(), values.end())); break;
    case DType::bf16: {
      std::vector<bf16> h(n);
      for (int64_t i = 0; i < n; ++i) h[i] = bf16::from_float(static_cast<float>(values[i]));
      upload(h);
      break;
    }
  }
  return t;
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  return from_host_values(values, shape, dtype, device);
}
Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, DType dtype, Device device) {
  return from_host_values(values, shape, dtype, device);
}
Tensor Tensor::from_ints(const std::vector<int32_t>& values, const Shape& shape, Device device) {
  return from_host_values(values, shape, DType::i32, device);
}

Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return from_vector(v, Shape{n}, dtype, device);
}

Tensor Tensor::randn(const Shape& shape, Rng& rng, double stddev, DType dtype, Device device) {
  std::vector<double> v(shape.product());
  for (auto& x : v) x = rng.normal() * stddev;
  return from_vector(v, shape, dtype, device);
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, double lo, double hi, DType dtype, Device device) {
  std::vector<double> v(shape.product());
  for (auto& x : v) x = lo + (hi - lo) * rng.uniform();
  return from_vector(v, shape, dtype, device);
}

// ---- metadata and raw data -------------------------------------------------------------

TensorImpl& Tensor::impl() const {
  if (!impl_) throw std::logic_error("use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int d) const { return shape()[normalize_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const { return layout().is_contiguous(); }

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype())) + " " + device_name(device()) + " " + shape().str();
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * dtype_size(impl().dtype);
}

namespace {
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::f32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::f64;
  else if constexpr (std::is_same_v<T, bf16>)
    return DType::bf16;
  else
    return DType::i32;
}
}  // namespace

template <class T>
T* Tensor::data() const {
  if (device() != Device::cpu)
    throw std::invalid_argument("data<T>(): the tensor lives on " + std::string(device_name(device())) +
                                "; copy it with .to(Device::cpu) first");
  if (dtype() != dtype_of<T>())
    throw std::invalid_argument(std::string("data<T>(): the tensor holds ") + dtype_name(dtype()) + ", not " +
                                dtype_name(dtype_of<T>()));
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int32_t* Tensor::data<int32_t>() const;
template bf16* Tensor::data<bf16>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  NoGradGuard no_grad;
  Tensor c = contiguous();
  const int64_t n = c.numel();
  std::vector<T> out(n);
  auto download = [&](auto& host) {
    backend_for(c.device()).copy_to_host(host.data(), c.data_ptr(), n * dtype_size(c.dtype()));
  };
  switch (c.dtype()) {
    case DType::f32: {
      std::vector<float> h(n);
      download(h);
      std::copy(h.begin(), h.end(), out.begin());
      break;
    }
    case DType::f64: {
      std::vector<double> h(n);
      download(h);
      std::copy(h.begin(), h.end(), out.begin());
      break;
    }
    case DType::i32: {
      std::vector<int32_t> h(n);
      download(h);
      std::copy(h.begin(), h.end(), out.begin());
      break;
    }
    case DType::bf16: {
      std::vector<bf16> h(n);
      download(h);
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(h[i].to_float());
      break;
    }
  }
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;

double Tensor::item() const {
  if (numel() != 1) throw std::invalid_argument("item(): the tensor has shape " + shape().str() + ", not one element");
  return to_vector<double>()[0];
}

// ---- conversions --------------------------------------------------------------------------

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape(), dtype(), device());
  backend_for(device()).copy_strided(dtype(), data_ptr(), layout(), out.data_ptr(), out.layout());
  record(out, "contiguous", {this}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  backend_for(device()).copy_strided(dtype(), data_ptr(), layout(), out.data_ptr(), out.layout());
  record(out, "clone", {this}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor src;
  {
    NoGradGuard no_grad;
    src = contiguous();
  }
  Tensor out = empty(shape(), dtype(), target);
  const size_t bytes = numel() * dtype_size(dtype());
  if (device() == Device::cpu) {
    backend_for(target).copy_from_host(out.data_ptr(), src.data_ptr(), bytes);
  } else if (target == Device::cpu) {
    backend_for(device()).copy_to_host(out.data_ptr(), src.data_ptr(), bytes);
  } else {
    throw std::invalid_argument("to(): unsupported device pair");
  }
  const Device from = device();
  record(out, "to_device", {this}, [from](const Tensor& g, const Node&) { return std::vector<Tensor>{g.to(from)}; });
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor src;
  {
    NoGradGuard no_grad;
    src = contiguous();
  }
  Tensor out = empty(shape(), target, device());
  backend_for(device()).cast(dtype(), src.data_ptr(), target, out.data_ptr(), numel());
  if (is_floating(target) && is_floating(dtype())) {
    const DType from = dtype();
    record(out, "cast", {this}, [from](const Tensor& g, const Node&) { return std::vector<Tensor>{g.to(from)}; });
  }
  return out;
}

// ---- views ------------------------------------------------------------------------------------

Tensor Tensor::reshape(Shape new_shape) const {
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < new_shape.size(); ++i) {
    if (new_shape[i] == -1) {
      if (infer >= 0) throw_shape_error("reshape", "more than one -1 in " + new_shape.str());
      infer = i;
    } else {
      known *= new_shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw_shape_error("reshape", "cannot infer -1 in " + new_shape.str() + " for " + shape().str());
    new_shape[infer] = numel() / known;
  }
  if (new_shape.product() != numel())
    throw_shape_error("reshape", "cannot reshape " + shape().str() + " (" + std::to_string(numel()) + " elements) to " +
                                     new_shape.str());
  Strides st;
  if (is_contiguous())
    st = contiguous_strides(new_shape);
  else if (!view_strides(shape(), strides(), new_shape, st))
    return contiguous().reshape(new_shape);
  Tensor out = make_view(*this, new_shape, st, offset());
  const Shape in_shape = shape();
  record(out, "reshape", {this},
         [in_shape](const Tensor& g, const Node&) { return std::vector<Tensor>{g.reshape(in_shape)}; });
  return out;
}

Tensor Tensor::transpose(int a, int b) const {
  a = normalize_dim(a, dim(), "transpose");
  b = normalize_dim(b, dim(), "transpose");
  Shape sh = shape();
  Strides st = strides();
  std::swap(sh[a], sh[b]);
  std::swap(st[a], st[b]);
  Tensor out = make_view(*this, sh, st, offset());
  record(out, "transpose", {this},
         [a, b](const Tensor& g, const Node&) { return std::vector<Tensor>{g.transpose(a, b)}; });
  return out;
}

Tensor Tensor::permute(const std::vector<int>& order) const {
  if (static_cast<int>(order.size()) != dim())
    throw_shape_error("permute", "order has " + std::to_string(order.size()) + " entries for " + std::to_string(dim()) +
                                     " dimensions");
  Shape sh;
  Strides st;
  std::vector<int> inverse(dim(), -1);
  for (int i = 0; i < dim(); ++i) {
    const int d = normalize_dim(order[i], dim(), "permute");
    if (inverse[d] != -1) throw_shape_error("permute", "axis " + std::to_string(d) + " appears twice");
    inverse[d] = i;
    sh.push_back(shape()[d]);
    st.push_back(strides()[d]);
  }
  Tensor out = make_view(*this, sh, st, offset());
  record(out, "permute", {this},
         [inverse](const Tensor& g, const Node&) { return std::vector<Tensor>{g.permute(inverse)}; });
  return out;
}

Tensor Tensor::slice(int d, int64_t start, int64_t end) const {
  d = normalize_dim(d, dim(), "slice");
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0 || end > n || start > end)
    throw_shape_error("slice", "range [" + std::to_string(start) + ", " + std::to_string(end) + ") does not fit axis " +
                                   std::to_string(d) + " of size " + std::to_string(n));
  Shape sh = shape();
  sh[d] = end - start;
  Tensor out = make_view(*this, sh, strides(), offset() + start * strides()[d]);
  const Shape in_shape = shape();
  record(out, "slice", {this}, [in_shape, d, start, end](const Tensor& g, const Node&) {
    // The gradient of a slice is zero outside it.
    Tensor full = Tensor::zeros(in_shape, g.dtype(), g.device());
    Tensor window = full.slice(d, start, end);
    backend_for(g.device()).copy_strided(g.dtype(), g.data_ptr(), g.layout(), window.data_ptr(), window.layout());
    return std::vector<Tensor>{full};
  });
  return out;
}

Tensor Tensor::expand(const Shape& target) const {
  if (target.size() < dim())
    throw_shape_error("expand", "cannot expand " + shape().str() + " to fewer dimensions " + target.str());
  Shape sh = target;
  Strides st;
  st.resize(target.size());
  const int off = target.size() - dim();
  for (int i = 0; i < target.size(); ++i) {
    const int j = i - off;
    if (j < 0) {
      if (sh[i] < 0) throw_shape_error("expand", "-1 is not allowed for a new leading axis");
      st[i] = 0;
      continue;
    }
    if (sh[i] == -1) sh[i] = shape()[j];
    if (shape()[j] == sh[i]) {
      st[i] = strides()[j];
    } else if (shape()[j] == 1) {
      st[i] = 0;
    } else {
      throw_shape_error("expand", "cannot expand " + shape().str() + " to " + target.str());
    }
  }
  Tensor out = make_view(*this, sh, st, offset());
  const Shape in_shape = shape();
  record(out, "expand", {this},
         [in_shape](const Tensor& g, const Node&) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
  return out;
}

Tensor Tensor::unsqueeze(int d) const {
  if (d < 0) d += dim() + 1;
  if (d < 0 || d > dim()) throw_shape_error("unsqueeze", "axis out of range");
  Shape sh = shape();
  sh.insert(d, 1);
  return reshape(sh);
}

Tensor Tensor::squeeze(int d) const {
  d = normalize_dim(d, dim(), "squeeze");
  if (shape()[d] != 1)
    throw_shape_error("squeeze", "axis " + std::to_string(d) + " of " + shape().str() + " is not of size 1");
  Shape sh = shape();
  sh.erase(d);
  return reshape(sh);
}

Tensor Tensor::select(int d, int64_t index) const {
  d = normalize_dim(d, dim(), "select");
  return slice(d, index, index + 1).squeeze(d);
}

// ---- autograd ------------------------------------------------------------------------------------

Tensor& Tensor::set_requires_grad(bool on) {
  if (on && !is_floating(dtype()))
    throw std::invalid_argument(std::string("requires_grad needs a floating dtype, not ") + dtype_name(dtype()));
  if (!is_leaf()) throw std::invalid_argument("set_requires_grad: only leaf tensors can change it; use detach() first");
  impl().requires_grad = on;
  return *this;
}

void Tensor::zero_grad() const { impl().grad.reset(); }

void Tensor::backward(const Tensor& seed) const { run_backward(*this, seed); }

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

// ---- operators --------------------------------------------------------------------------------------

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double s) { return affine(a, 1.0, s); }
Tensor operator-(const Tensor& a, double s) { return affine(a, 1.0, -s); }
Tensor operator*(const Tensor& a, double s) { return affine(a, s, 0.0); }
Tensor operator/(const Tensor& a, double s) { return affine(a, 1.0 / s, 0.0); }
Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace mhc
