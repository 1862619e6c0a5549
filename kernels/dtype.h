// dtype.h — element types and devices every tensor is tagged with.
//
//   f32  : the default for weights, activations and gradients on the CPU.
//   f64  : exists so gradient checks can use central differences without
//          drowning in rounding error.
//   bf16 : storage type for CUDA mixed precision (f32 accumulation); on the
//          CPU it can be stored and cast, not computed with.
//   i32  : token ids, expert ids, top-k indices.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/name_table.h"

#if defined(__CUDACC__)
#define MHC_HOST_DEVICE __host__ __device__
#else
#define MHC_HOST_DEVICE
#endif

namespace mhc {

enum class DType : uint8_t { f32 = 0, f64 = 1, bf16 = 2, i32 = 3 };
enum class Device : uint8_t { cpu = 0, cuda = 1 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16: return 2;
    case DType::i32: return 4;
  }
  return 0;
}

inline constexpr EnumName<DType> kDTypeNames[] = {
    {"f32", DType::f32}, {"f64", DType::f64}, {"bf16", DType::bf16}, {"i32", DType::i32}};
inline constexpr EnumName<Device> kDeviceNames[] = {{"cpu", Device::cpu}, {"cuda", Device::cuda}};
inline const char* dtype_name(DType t) { return name_of(kDTypeNames, t); }
inline const char* device_name(Device d) { return name_of(kDeviceNames, d); }

inline bool is_floating(DType t) { return t != DType::i32; }

// The dtype of per-row statistics kernels keep for their backward (RMSNorm's
// rstd, cross-entropy's logsumexp): f64 for f64 data, f32 otherwise (bf16
// data keeps f32 statistics).
inline DType stat_dtype(DType t) { return t == DType::f64 ? DType::f64 : DType::f32; }

// Brain float 16: the top half of an IEEE f32. Conversion rounds to nearest even.
struct bf16 {
  uint16_t bits;
  MHC_HOST_DEVICE static inline bf16 from_float(float f) {
    uint32_t u;
#if defined(__CUDA_ARCH__)
    u = __float_as_uint(f);
#else
    std::memcpy(&u, &f, 4);
#endif
    bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
      r.bits = static_cast<uint16_t>((u >> 16) | 0x40u);
      return r;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    r.bits = static_cast<uint16_t>(u >> 16);
    return r;
  }
  MHC_HOST_DEVICE inline float to_float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
  }
};
static_assert(sizeof(bf16) == 2);

// Calls f(scalar_t{}) with scalar_t the C++ type of a floating dtype the CPU
// computes in (f32 -> float, f64 -> double); anything else is an error that
// names the op. Use as: dispatch_float(t, "op", [&](auto tag) {
//   using scalar_t = decltype(tag); ... });
template <class F>
decltype(auto) dispatch_float(DType dtype, const char* opname, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default:
      throw std::invalid_argument(std::string(opname) + ": dtype " + dtype_name(dtype) +
                                  " is not supported on the CPU");
  }
}

}  // namespace mhc
