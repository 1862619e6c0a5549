// elementwise.cpp — CPU fill, copies, casts, unary and binary maps, dropout.
#include <omp.h>

#include <cmath>
#include <cstring>

#include "kernels/counter_rng.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/strided_plan.h"

namespace mhc {

using cpu::erf_fast;
using cpu::exp_fast;
using cpu::kElementChunk;
using cpu::kParallelGrain;
using cpu::sigmoid_fast;
using cpu::tanh_fast;

namespace {

template <class scalar_t>
scalar_t* typed(void* p) {
  return static_cast<scalar_t*>(p);
}
template <class scalar_t>
const scalar_t* typed(const void* p) {
  return static_cast<const scalar_t*>(p);
}

// Copies one strided view into another, element by element, using an
// unsigned integer of the element's width (dtype does not matter for a copy).
template <class U>
void copy_strided_impl(const U* x, const Layout& lx, U* y, const Layout& ly) {
  const Strides* s[2] = {&lx.strides, &ly.strides};
  auto plan = make_plan<2>(lx.shape, s);
  const int64_t rows = plan.rows(), inner = plan.inner();
  const int64_t sx = plan.ndim ? plan.stride[0][plan.ndim - 1] : 0;
  const int64_t sy = plan.ndim ? plan.stride[1][plan.ndim - 1] : 0;
#pragma omp parallel for schedule(static) if (rows * inner > kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off[2];
    plan.row_offsets(r, off);
    const U* xr = x + off[0];
    U* yr = y + off[1];
    if (sx == 1 && sy == 1) {
      std::memcpy(yr, xr, inner * sizeof(U));
    } else {
      for (int64_t i = 0; i < inner; ++i) yr[i * sy] = xr[i * sx];
    }
  }
}

// op(x), with the op fixed at compile time so each loop below is a
// straight-line body the compiler vectorises.
template <UnaryOp OP, class scalar_t>
inline scalar_t unary_fn(scalar_t x) {
  if constexpr (OP == UnaryOp::Neg)
    return -x;
  else if constexpr (OP == UnaryOp::Exp)
    return exp_fast(x);
  else if constexpr (OP == UnaryOp::Log)
    return std::log(x);
  else if constexpr (OP == UnaryOp::Sigmoid)
    return sigmoid_fast(x);
  else if constexpr (OP == UnaryOp::Tanh)
    return tanh_fast(x);
  else if constexpr (OP == UnaryOp::Silu)
    return x * sigmoid_fast(x);
  else if constexpr (OP == UnaryOp::Gelu)
    return scalar_t(0.5) * x * (scalar_t(1) + erf_fast(x * scalar_t(0.70710678118654752440)));
  else if constexpr (OP == UnaryOp::Sqrt)
    return std::sqrt(x);
  else if constexpr (OP == UnaryOp::Square)
    return x * x;
  else if constexpr (OP == UnaryOp::Relu)
    return x > scalar_t(0) ? x : scalar_t(0);
  else {
    static_assert(OP == UnaryOp::Abs, "a UnaryOp of MHC_UNARY_OPS without its formula here");
    return std::abs(x);
  }
}

// d op(x) / dx, written with y = op(x) where that is cheaper.
template <UnaryOp OP, class scalar_t>
inline scalar_t unary_grad(scalar_t x, scalar_t y) {
  if constexpr (OP == UnaryOp::Neg)
    return scalar_t(-1);
  else if constexpr (OP == UnaryOp::Exp)
    return y;
  else if constexpr (OP == UnaryOp::Log)
    return scalar_t(1) / x;
  else if constexpr (OP == UnaryOp::Sigmoid)
    return y * (scalar_t(1) - y);
  else if constexpr (OP == UnaryOp::Tanh)
    return scalar_t(1) - y * y;
  else if constexpr (OP == UnaryOp::Silu) {
    const scalar_t s = sigmoid_fast(x);
    return s * (scalar_t(1) + x * (scalar_t(1) - s));
  } else if constexpr (OP == UnaryOp::Gelu) {
    const scalar_t cdf = scalar_t(0.5) * (scalar_t(1) + erf_fast(x * scalar_t(0.70710678118654752440)));
    const scalar_t pdf = exp_fast(scalar_t(-0.5) * x * x) * scalar_t(0.39894228040143267794);
    return cdf + x * pdf;
  } else if constexpr (OP == UnaryOp::Sqrt)
    return scalar_t(0.5) / y;
  else if constexpr (OP == UnaryOp::Square)
    return scalar_t(2) * x;
  else if constexpr (OP == UnaryOp::Relu)
    return x > scalar_t(0) ? scalar_t(1) : scalar_t(0);
  else {
    static_assert(OP == UnaryOp::Abs, "a UnaryOp of MHC_UNARY_OPS without its formula here");
    return x > scalar_t(0) ? scalar_t(1) : (x < scalar_t(0) ? scalar_t(-1) : scalar_t(0));
  }
}

// Runs body(std::integral_constant<UnaryOp, op>) so each op gets its own
// loop with the switch resolved at compile time (and the loop vectorised).
template <class Body>
void with_unary_op(UnaryOp op, Body&& body) {
  switch (op) {
#define MHC_UNARY_CASE(name, text) \
  case UnaryOp::name: return body(std::integral_constant<UnaryOp, UnaryOp::name>{});
    MHC_UNARY_OPS(MHC_UNARY_CASE)
#undef MHC_UNARY_CASE
  }
}

template <class scalar_t>
inline scalar_t binary_fn(BinaryOp op, scalar_t a, scalar_t b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Max: return a > b ? a : b;
    case BinaryOp::Min: return a < b ? a : b;
  }
  return a;
}

// The inner loop of a binary map with the op fixed at compile time, so the
// compiler can vectorise it.
template <class scalar_t, BinaryOp OP>
void binary_rows(const scalar_t* a, const scalar_t* b, scalar_t* out, const StridedPlan<2>& plan) {
  const int64_t rows = plan.rows(), inner = plan.inner();
  const int64_t sa = plan.ndim ? plan.stride[0][plan.ndim - 1] : 0;
  const int64_t sb = plan.ndim ? plan.stride[1][plan.ndim - 1] : 0;
#pragma omp parallel for schedule(static) if (rows * inner > kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off[2];
    plan.row_offsets(r, off);
    const scalar_t* ar = a + off[0];
    const scalar_t* br = b + off[1];
    scalar_t* o = out + r * inner;
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_fn(OP, ar[i], br[i]);
    } else if (sa == 1 && sb == 0) {
      const scalar_t bv = br[0];
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_fn(OP, ar[i], bv);
    } else if (sa == 0 && sb == 1) {
      const scalar_t av = ar[0];
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_fn(OP, av, br[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_fn(OP, ar[i * sa], br[i * sb]);
    }
  }
}

template <class scalar_t>
void binary_dispatch(BinaryOp op, const scalar_t* a, const scalar_t* b, scalar_t* out, const StridedPlan<2>& plan) {
  switch (op) {
    case BinaryOp::Add: return binary_rows<scalar_t, BinaryOp::Add>(a, b, out, plan);
    case BinaryOp::Sub: return binary_rows<scalar_t, BinaryOp::Sub>(a, b, out, plan);
    case BinaryOp::Mul: return binary_rows<scalar_t, BinaryOp::Mul>(a, b, out, plan);
    case BinaryOp::Div: return binary_rows<scalar_t, BinaryOp::Div>(a, b, out, plan);
    case BinaryOp::Max: return binary_rows<scalar_t, BinaryOp::Max>(a, b, out, plan);
    case BinaryOp::Min: return binary_rows<scalar_t, BinaryOp::Min>(a, b, out, plan);
  }
}

template <class From, class To>
inline To convert(From v) {
  if constexpr (std::is_same_v<From, To>) {
    return v;
  } else if constexpr (std::is_same_v<To, bf16>) {
    return bf16::from_float(static_cast<float>(v));
  } else if constexpr (std::is_same_v<From, bf16>) {
    return static_cast<To>(v.to_float());
  } else {
    return static_cast<To>(v);
  }
}

template <class From, class To>
void cast_impl(const From* x, To* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = convert<From, To>(x[i]);
}

template <class From>
void cast_from(const From* x, DType to, void* y, int64_t n) {
  switch (to) {
    case DType::f32: return cast_impl(x, typed<float>(y), n);
    case DType::f64: return cast_impl(x, typed<double>(y), n);
    case DType::bf16: return cast_impl(x, typed<bf16>(y), n);
    case DType::i32: return cast_impl(x, typed<int32_t>(y), n);
  }
}

}  // namespace

void CpuBackend::fill(DType t, void* y, int64_t n, double value) {
  auto run = [&](auto* p, auto v) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) p[i] = v;
  };
  switch (t) {
    case DType::f32: return run(typed<float>(y), static_cast<float>(value));
    case DType::f64: return run(typed<double>(y), value);
    case DType::bf16: return run(typed<bf16>(y), bf16::from_float(static_cast<float>(value)));
    case DType::i32: return run(typed<int32_t>(y), static_cast<int32_t>(value));
  }
}

void CpuBackend::copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly) {
  switch (dtype_size(t)) {
    case 2: return copy_strided_impl(typed<uint16_t>(x), lx, typed<uint16_t>(y), ly);
    case 4: return copy_strided_impl(typed<uint32_t>(x), lx, typed<uint32_t>(y), ly);
    case 8: return copy_strided_impl(typed<uint64_t>(x), lx, typed<uint64_t>(y), ly);
  }
}

void CpuBackend::cast(DType from, const void* x, DType to, void* y, int64_t n) {
  switch (from) {
    case DType::f32: return cast_from(typed<float>(x), to, y, n);
    case DType::f64: return cast_from(typed<double>(x), to, y, n);
    case DType::bf16: return cast_from(typed<bf16>(x), to, y, n);
    case DType::i32: return cast_from(typed<int32_t>(x), to, y, n);
  }
}

void CpuBackend::unary(UnaryOp op, DType t, const void* x, void* y, int64_t n) {
  dispatch_float(t, unary_op_name(op), [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = typed<scalar_t>(x);
    scalar_t* yp = typed<scalar_t>(y);
    with_unary_op(op, [&](auto op_c) {
#pragma omp parallel for schedule(static, kElementChunk) if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) yp[i] = unary_fn<decltype(op_c)::value>(xp[i]);
    });
  });
}

void CpuBackend::unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy, void* gx,
                                int64_t n) {
  dispatch_float(t, unary_op_name(op), [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = typed<scalar_t>(x);
    const scalar_t* yp = typed<scalar_t>(y);
    const scalar_t* gp = typed<scalar_t>(gy);
    scalar_t* out = typed<scalar_t>(gx);
    with_unary_op(op, [&](auto op_c) {
#pragma omp parallel for schedule(static, kElementChunk) if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) out[i] = gp[i] * unary_grad<decltype(op_c)::value>(xp[i], yp[i]);
    });
  });
}

void CpuBackend::affine(DType t, const void* x, void* y, int64_t n, double scale, double shift) {
  dispatch_float(t, "affine", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = typed<scalar_t>(x);
    scalar_t* yp = typed<scalar_t>(y);
    const scalar_t a = static_cast<scalar_t>(scale), b = static_cast<scalar_t>(shift);
#pragma omp parallel for schedule(static, kElementChunk) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) yp[i] = a * xp[i] + b;
  });
}

void CpuBackend::binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b, const Layout& lb,
                        void* out, const Shape& out_shape) {
  dispatch_float(t, binary_op_name(op), [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const Strides* s[2] = {&la.strides, &lb.strides};
    auto plan = make_plan<2>(out_shape, s);
    binary_dispatch(op, typed<scalar_t>(a), typed<scalar_t>(b), typed<scalar_t>(out), plan);
  });
}

void CpuBackend::dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed) {
  dispatch_float(t, "dropout", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = typed<scalar_t>(x);
    scalar_t* yp = typed<scalar_t>(y);
    const scalar_t keep_scale = scalar_t(1) / (scalar_t(1) - static_cast<scalar_t>(p));
#pragma omp parallel for schedule(static, kElementChunk) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i)
      yp[i] = dropout_keep(seed, static_cast<uint64_t>(i), p) ? xp[i] * keep_scale : scalar_t(0);
  });
}

}  // namespace mhc
