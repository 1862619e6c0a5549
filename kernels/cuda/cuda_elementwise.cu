// cuda_elementwise.cu — fill, strided copies, casts, unary and binary maps,
// affine and dropout on the GPU.
//
// Thread mapping: elementwise work is a flat index range [0, n). Each thread
// of a grid-stride loop handles four consecutive elements with one aligned
// vector load and store (16 bytes of f32, 8 of bf16) when every pointer is
// aligned for it, then the last n % 4 elements one by one. Consecutive
// threads touch consecutive memory, so every warp access is coalesced. The
// grid is capped (kMaxBlocks) and the loop covers the rest. No shared memory.
//
// Strided operands (binary with broadcasting, copy_strided): on the host the
// shape is collapsed by kernels/strided_plan.h (size-1 dims dropped,
// neighbours that are contiguous in every operand merged), and the
// small plan — at most 8 sizes and 8 strides per operand — is passed to the
// kernel by value. Each thread turns its flat output index into per-operand
// offsets by div/mod over the collapsed dims (32-bit arithmetic when the
// element count allows, which is much cheaper on the GPU).
//
// The unary formulas match kernels/cpu/elementwise.cpp, written with CUDA's
// accurate expf / tanhf / erff (GELU is the exact erf form). Dropout draws
// mhc::counter_uniform(seed, i), the same function the CPU calls, so both
// devices zero exactly the same elements.
#include <cstring>

#include "kernels/counter_rng.h"
#include "kernels/cuda/cuda_helpers.cuh"
#include "kernels/cuda/cuda_profile.h"
#include "kernels/strided_plan.h"

namespace mhc {

using namespace cuda;

namespace {

// ---- generic vectorised maps ------------------------------------------------------------

// y[i] = f(x[i], i) with f on floats; kVec: 4 elements per load.
template <bool kVec, class TIn, class TOut, class F>
__global__ void map1_kernel(const TIn* x, TOut* y, int64_t n, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if constexpr (kVec) {
    const int64_t n4 = n / 4;
    for (int64_t i = tid; i < n4; i += stride) {
      float v[4], r[4];
      load4(x + 4 * i, v);
#pragma unroll
      for (int e = 0; e < 4; ++e) r[e] = f(v[e], 4 * i + e);
      store4(y + 4 * i, r);
    }
    done = 4 * n4;
  }
  for (int64_t i = done + tid; i < n; i += stride) y[i] = from_float<TOut>(f(to_float(x[i]), i));
}

// out[i] = f(a[i], b[i], c[i]) (c may be unused: pass a again).
template <bool kVec, class T, class F>
__global__ void map3_kernel(const T* a, const T* b, const T* c, T* out, int64_t n, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if constexpr (kVec) {
    const int64_t n4 = n / 4;
    for (int64_t i = tid; i < n4; i += stride) {
      float va[4], vb[4], vc[4], r[4];
      load4(a + 4 * i, va);
      load4(b + 4 * i, vb);
      load4(c + 4 * i, vc);
#pragma unroll
      for (int e = 0; e < 4; ++e) r[e] = f(va[e], vb[e], vc[e]);
      store4(out + 4 * i, r);
    }
    done = 4 * n4;
  }
  for (int64_t i = done + tid; i < n; i += stride)
    out[i] = from_float<T>(f(to_float(a[i]), to_float(b[i]), to_float(c[i])));
}

template <class TIn, class TOut, class F>
void launch_map1(const TIn* x, TOut* y, int64_t n, F f) {
  if (n <= 0) return;
  const bool vec = aligned_to(x, 4 * sizeof(TIn)) && aligned_to(y, 4 * sizeof(TOut));
  const unsigned grid = grid_for(ceil_div(n, 4), kThreads);
  if (vec)
    map1_kernel<true><<<grid, kThreads>>>(x, y, n, f);
  else
    map1_kernel<false><<<grid, kThreads>>>(x, y, n, f);
  MHC_CUDA_CHECK_LAUNCH();
}

template <class T, class F>
void launch_map3(const T* a, const T* b, const T* c, T* out, int64_t n, F f) {
  if (n <= 0) return;
  const size_t al = 4 * sizeof(T);
  const bool vec = aligned_to(a, al) && aligned_to(b, al) && aligned_to(c, al) && aligned_to(out, al);
  const unsigned grid = grid_for(ceil_div(n, 4), kThreads);
  if (vec)
    map3_kernel<true><<<grid, kThreads>>>(a, b, c, out, n, f);
  else
    map3_kernel<false><<<grid, kThreads>>>(a, b, c, out, n, f);
  MHC_CUDA_CHECK_LAUNCH();
}

// ---- the op formulas -----------------------------------------------------------------------

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

template <UnaryOp OP>
__device__ __forceinline__ float unary_value(float x) {
  if constexpr (OP == UnaryOp::Neg)
    return -x;
  else if constexpr (OP == UnaryOp::Exp)
    return expf(x);
  else if constexpr (OP == UnaryOp::Log)
    return logf(x);
  else if constexpr (OP == UnaryOp::Sigmoid)
    return sigmoidf(x);
  else if constexpr (OP == UnaryOp::Tanh)
    return tanhf(x);
  else if constexpr (OP == UnaryOp::Silu)
    return x * sigmoidf(x);
  else if constexpr (OP == UnaryOp::Gelu)
    return 0.5f * x * (1.f + erff(x * kInvSqrt2));
  else if constexpr (OP == UnaryOp::Sqrt)
    return sqrtf(x);
  else if constexpr (OP == UnaryOp::Square)
    return x * x;
  else if constexpr (OP == UnaryOp::Relu)
    return x > 0.f ? x : 0.f;
  else {
    static_assert(OP == UnaryOp::Abs, "a UnaryOp of MHC_UNARY_OPS without its formula here");
    return fabsf(x);
  }
}

// d op(x)/dx, using y = op(x) where that is cheaper.
template <UnaryOp OP>
__device__ __forceinline__ float unary_grad(float x, float y) {
  if constexpr (OP == UnaryOp::Neg)
    return -1.f;
  else if constexpr (OP == UnaryOp::Exp)
    return y;
  else if constexpr (OP == UnaryOp::Log)
    return 1.f / x;
  else if constexpr (OP == UnaryOp::Sigmoid)
    return y * (1.f - y);
  else if constexpr (OP == UnaryOp::Tanh)
    return 1.f - y * y;
  else if constexpr (OP == UnaryOp::Silu) {
    const float s = sigmoidf(x);
    return s * (1.f + x * (1.f - s));
  } else if constexpr (OP == UnaryOp::Gelu) {
    const float cdf = 0.5f * (1.f + erff(x * kInvSqrt2));
    const float pdf = expf(-0.5f * x * x) * kInvSqrt2Pi;
    return cdf + x * pdf;
  } else if constexpr (OP == UnaryOp::Sqrt)
    return 0.5f / y;
  else if constexpr (OP == UnaryOp::Square)
    return 2.f * x;
  else if constexpr (OP == UnaryOp::Relu)
    return x > 0.f ? 1.f : 0.f;
  else {
    static_assert(OP == UnaryOp::Abs, "a UnaryOp of MHC_UNARY_OPS without its formula here");
    return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
  }
}

template <UnaryOp OP>
struct UnaryForward {
  __device__ float operator()(float x, int64_t) const { return unary_value<OP>(x); }
};
template <UnaryOp OP>
struct UnaryBackward {
  __device__ float operator()(float x, float y, float gy) const { return gy * unary_grad<OP>(x, y); }
};

template <BinaryOp OP>
__device__ __forceinline__ float binary_value(float a, float b) {
  if constexpr (OP == BinaryOp::Add)
    return a + b;
  else if constexpr (OP == BinaryOp::Sub)
    return a - b;
  else if constexpr (OP == BinaryOp::Mul)
    return a * b;
  else if constexpr (OP == BinaryOp::Div)
    return a / b;
  else if constexpr (OP == BinaryOp::Max)
    return a > b ? a : b;
  else
    return a < b ? a : b;  // Min
}
template <BinaryOp OP>
struct BinaryContiguous {
  __device__ float operator()(float a, float b, float) const { return binary_value<OP>(a, b); }
};

struct AffineFn {
  float scale, shift;
  __device__ float operator()(float x, int64_t) const { return scale * x + shift; }
};

struct DropoutFn {
  float p, keep_scale;
  uint64_t seed;
  __device__ float operator()(float x, int64_t i) const {
    return dropout_keep(seed, static_cast<uint64_t>(i), p) ? x * keep_scale : 0.f;
  }
};

// Runs body(std::integral_constant<UnaryOp, op>{}) so each op gets its own kernel.
template <class Body>
void with_unary_op(UnaryOp op, Body&& body) {
  switch (op) {
#define MHC_UNARY_CASE(name, text) \
  case UnaryOp::name: body(std::integral_constant<UnaryOp, UnaryOp::name>{}); return;
    MHC_UNARY_OPS(MHC_UNARY_CASE)
#undef MHC_UNARY_CASE
  }
}

template <class Body>
void with_binary_op(BinaryOp op, Body&& body) {
  switch (op) {
#define MHC_BINARY_CASE(name, text) \
  case BinaryOp::name: body(std::integral_constant<BinaryOp, BinaryOp::name>{}); return;
    MHC_BINARY_OPS(MHC_BINARY_CASE)
#undef MHC_BINARY_CASE
  }
}

// ---- strided plans ---------------------------------------------------------------------------

// Offsets (in elements) of flat index `lin` in every operand. I: the index
// type for the div/mod (uint32_t when the count fits, else uint64_t).
template <class I, int K>
__device__ __forceinline__ void plan_offsets(const StridedPlan<K>& p, I lin, int64_t (&off)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const I size = static_cast<I>(p.shape[d]);
    const I i = lin % size;
    lin /= size;
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] += static_cast<int64_t>(i) * p.stride[k][d];
  }
}

template <class I, class U>
__global__ void copy_strided_kernel(const U* x, U* y, int64_t n, StridedPlan<2> plan) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t off[2];
    plan_offsets<I>(plan, static_cast<I>(i), off);
    y[off[1]] = x[off[0]];
  }
}

template <BinaryOp OP, class I, class T>
__global__ void binary_strided_kernel(const T* a, const T* b, T* out, int64_t n, StridedPlan<2> plan) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t off[2];
    plan_offsets<I>(plan, static_cast<I>(i), off);
    out[i] = from_float<T>(binary_value<OP>(to_float(a[off[0]]), to_float(b[off[1]])));
  }
}

template <class U>
void copy_strided_typed(const U* x, const Layout& lx, U* y, const Layout& ly) {
  const int64_t n = lx.numel();
  if (n == 0) return;
  if (lx.is_contiguous() && ly.is_contiguous()) {
    MHC_CUDA_CHECK(cudaMemcpyAsync(y, x, n * sizeof(U), cudaMemcpyDeviceToDevice, nullptr));
    return;
  }
  const Strides* s[2] = {&lx.strides, &ly.strides};
  const StridedPlan<2> plan = make_plan<2>(lx.shape, s);
  const unsigned grid = grid_for(n, kThreads);
  if (n <= 0xffffffffLL)
    copy_strided_kernel<uint32_t><<<grid, kThreads>>>(x, y, n, plan);
  else
    copy_strided_kernel<uint64_t><<<grid, kThreads>>>(x, y, n, plan);
  MHC_CUDA_CHECK_LAUNCH();
}

// ---- fill and cast ---------------------------------------------------------------------------

template <class U>
__global__ void fill_kernel(U* y, int64_t n, U bits) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = bits;
}

template <class U>
void fill_bits(void* y, int64_t n, U bits) {
  if (bits == U(0)) {  // all-zero bytes (0.0, +0 of any dtype): a memset
    MHC_CUDA_CHECK(cudaMemsetAsync(y, 0, n * sizeof(U), nullptr));
    return;
  }
  fill_kernel<<<grid_for(n, kThreads), kThreads>>>(static_cast<U*>(y), n, bits);
  MHC_CUDA_CHECK_LAUNCH();
}

// One element converted the way the CPU's cast does: through f32 whenever
// bf16 is involved (f64 -> bf16 rounds twice, exactly like the CPU).
template <class To, class From>
__device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<From, To>) {
    return v;
  } else if constexpr (std::is_same_v<To, bfloat>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<From, bfloat>) {
    return static_cast<To>(__bfloat162float(v));
  } else {
    return static_cast<To>(v);
  }
}

template <class From, class To>
__global__ void cast_kernel(const From* x, To* y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = convert<To>(x[i]);
}

// Calls f(type{}) with the C++ device type of any dtype.
template <class F>
void dispatch_any(DType t, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::bf16: f(bfloat{}); return;
    case DType::i32: f(int32_t{}); return;
  }
}

}  // namespace

void CudaBackend::fill(DType t, void* y, int64_t n, double value) {
  cuda_contract::fill(t, y, n, value);
  MHC_CUDA_PROFILE("fill");
  if (n <= 0) return;
  switch (t) {
    case DType::f32: {
      const float v = static_cast<float>(value);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      return fill_bits<uint32_t>(y, n, bits);
    }
    case DType::f64: {
      uint64_t bits;
      std::memcpy(&bits, &value, 8);
      return fill_bits<uint64_t>(y, n, bits);
    }
    case DType::bf16: return fill_bits<uint16_t>(y, n, bf16::from_float(static_cast<float>(value)).bits);
    case DType::i32: {
      const int32_t v = static_cast<int32_t>(value);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      return fill_bits<uint32_t>(y, n, bits);
    }
  }
}

void CudaBackend::copy_strided(DType t, const void* x, const Layout& lx, void* y, const Layout& ly) {
  cuda_contract::copy_strided(t, x, lx, y, ly);
  MHC_CUDA_PROFILE("copy_strided");
  switch (dtype_size(t)) {
    case 2: return copy_strided_typed(static_cast<const uint16_t*>(x), lx, static_cast<uint16_t*>(y), ly);
    case 4: return copy_strided_typed(static_cast<const uint32_t*>(x), lx, static_cast<uint32_t*>(y), ly);
    case 8: return copy_strided_typed(static_cast<const uint64_t*>(x), lx, static_cast<uint64_t*>(y), ly);
  }
}

void CudaBackend::cast(DType from, const void* x, DType to, void* y, int64_t n) {
  cuda_contract::cast(from, x, to, y, n);
  MHC_CUDA_PROFILE("cast");
  if (n <= 0) return;
  if (from == to) {
    if (x != y) MHC_CUDA_CHECK(cudaMemcpyAsync(y, x, n * dtype_size(from), cudaMemcpyDeviceToDevice, nullptr));
    return;
  }
  dispatch_any(from, [&](auto from_tag) {
    using From = decltype(from_tag);
    dispatch_any(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      cast_kernel<<<grid_for(n, kThreads), kThreads>>>(static_cast<const From*>(x), static_cast<To*>(y), n);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::unary(UnaryOp op, DType t, const void* x, void* y, int64_t n) {
  cuda_contract::unary(op, t, x, y, n);
  MHC_CUDA_PROFILE(unary_op_name(op));
  dispatch_f32_bf16(t, unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    with_unary_op(op, [&](auto op_c) {
      launch_map1(static_cast<const T*>(x), static_cast<T*>(y), n, UnaryForward<decltype(op_c)::value>{});
    });
  });
}

void CudaBackend::unary_backward(UnaryOp op, DType t, const void* x, const void* y, const void* gy, void* gx,
                                 int64_t n) {
  cuda_contract::unary_backward(op, t, x, y, gy, gx, n);
  MHC_CUDA_PROFILE("unary_backward");
  dispatch_f32_bf16(t, unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    with_unary_op(op, [&](auto op_c) {
      launch_map3(static_cast<const T*>(x), static_cast<const T*>(y), static_cast<const T*>(gy), static_cast<T*>(gx), n,
                  UnaryBackward<decltype(op_c)::value>{});
    });
  });
}

void CudaBackend::affine(DType t, const void* x, void* y, int64_t n, double scale, double shift) {
  cuda_contract::affine(t, x, y, n, scale, shift);
  MHC_CUDA_PROFILE("affine");
  dispatch_f32_bf16(t, "affine", [&](auto tag) {
    using T = decltype(tag);
    launch_map1(static_cast<const T*>(x), static_cast<T*>(y), n,
                AffineFn{static_cast<float>(scale), static_cast<float>(shift)});
  });
}

void CudaBackend::binary(BinaryOp op, DType t, const void* a, const Layout& la, const void* b, const Layout& lb,
                         void* out, const Shape& out_shape) {
  cuda_contract::binary(op, t, a, la, b, lb, out, out_shape);
  MHC_CUDA_PROFILE(binary_op_name(op));
  dispatch_f32_bf16(t, binary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = out_shape.product();
    if (n == 0) return;
    const T* ap = static_cast<const T*>(a);
    const T* bp = static_cast<const T*>(b);
    T* op_out = static_cast<T*>(out);
    with_binary_op(op, [&](auto op_c) {
      constexpr BinaryOp OP = decltype(op_c)::value;
      if (la.is_contiguous() && lb.is_contiguous()) {
        launch_map3(ap, bp, ap, op_out, n, BinaryContiguous<OP>{});
        return;
      }
      const Strides* s[2] = {&la.strides, &lb.strides};
      const StridedPlan<2> plan = make_plan<2>(out_shape, s);
      const unsigned grid = grid_for(n, kThreads);
      if (n <= 0xffffffffLL)
        binary_strided_kernel<OP, uint32_t><<<grid, kThreads>>>(ap, bp, op_out, n, plan);
      else
        binary_strided_kernel<OP, uint64_t><<<grid, kThreads>>>(ap, bp, op_out, n, plan);
      MHC_CUDA_CHECK_LAUNCH();
    });
  });
}

void CudaBackend::dropout(DType t, const void* x, void* y, int64_t n, float p, uint64_t seed) {
  cuda_contract::dropout(t, x, y, n, p, seed);
  MHC_CUDA_PROFILE("dropout");
  dispatch_f32_bf16(t, "dropout", [&](auto tag) {
    using T = decltype(tag);
    const float keep_scale = 1.f / (1.f - p);  // the CPU's f32 expression
    launch_map1(static_cast<const T*>(x), static_cast<T*>(y), n, DropoutFn{p, keep_scale, seed});
  });
}

}  // namespace mhc
