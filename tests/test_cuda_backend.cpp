// test_cuda_backend.cpp — the CUDA backend against the CPU backend.
//
// Every Backend primitive runs the same random inputs through the CPU backend
// (f32, on host vectors) and the CUDA backend (f32 and bf16). For bf16 the
// inputs are rounded to bf16 on the host first and the CPU reference is
// computed from those rounded values, so the comparison measures only the
// kernel's own error (f32 arithmetic inside, one rounding on store).
// Outputs are poisoned (all bits set: NaN for floats, −1 for i32) before each
// call, so an element a kernel forgets to write fails the comparison.
// Then: a few ops through the autograd layer (forward values and input
// gradients, CPU copy vs CUDA copy), determinism (two runs, identical bits),
// and the caching allocator (a warm op sequence allocates nothing new).
//
// This file has its own main: without a visible GPU it prints a SKIPPED line
// and exits 77, which ctest reports as "Skipped".
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/random.h"
#include "autograd/tape.h"
#include "kernels/adamw_plan.h"
#include "kernels/backend.h"

using namespace mhc;

namespace {

Backend& cpu() { return backend_for(Device::cpu); }
Backend& gpu() { return backend_for(Device::cuda); }

constexpr DType kFloatTypes[] = {DType::f32, DType::bf16};
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---- host data -----------------------------------------------------------------------------

std::vector<float> randn(Rng& rng, int64_t n, double scale = 1.0) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * scale);
  return v;
}

std::vector<float> uniform(Rng& rng, int64_t n, double lo, double hi) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(lo + (hi - lo) * rng.uniform());
  return v;
}

std::vector<int32_t> random_ints(Rng& rng, int64_t n, int64_t lo, int64_t hi) {  // [lo, hi)
  std::vector<int32_t> v(n);
  for (auto& x : v) x = static_cast<int32_t>(lo + static_cast<int64_t>(rng.below(hi - lo)));
  return v;
}

float round_bf16(float x) { return bf16::from_float(x).to_float(); }

// The values as a device of dtype t stores them: f32 unchanged, bf16 rounded.
std::vector<float> as_stored(std::vector<float> v, DType t) {
  if (t == DType::bf16)
    for (auto& x : v) x = round_bf16(x);
  return v;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v)
    if (std::isfinite(x)) m = std::max(m, static_cast<double>(std::abs(x)));
  return m;
}

// ---- device arrays -------------------------------------------------------------------------

// One GPU allocation holding n elements of dtype t, returned on destruction.
class DeviceArray {
 public:
  DeviceArray(DType t, int64_t n) : t_(t), n_(n), bytes_(std::max<int64_t>(n, 1) * dtype_size(t)) {
    ptr_ = gpu().allocate(bytes_);
  }
  DeviceArray(const std::vector<float>& v, DType t) : DeviceArray(t, static_cast<int64_t>(v.size())) {
    upload_floats(v);
  }
  explicit DeviceArray(const std::vector<int32_t>& v) : DeviceArray(DType::i32, static_cast<int64_t>(v.size())) {
    gpu().copy_from_host(ptr_, v.data(), v.size() * 4);
  }
  ~DeviceArray() {
    if (ptr_) gpu().deallocate(ptr_, bytes_);
  }
  DeviceArray(DeviceArray&& o) noexcept : t_(o.t_), n_(o.n_), bytes_(o.bytes_), ptr_(o.ptr_) { o.ptr_ = nullptr; }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  int64_t size() const { return n_; }

  void upload_floats(const std::vector<float>& v) {
    REQUIRE(static_cast<int64_t>(v.size()) == n_);
    if (t_ == DType::f32) {
      gpu().copy_from_host(ptr_, v.data(), n_ * 4);
    } else if (t_ == DType::bf16) {
      std::vector<bf16> h(n_);
      for (int64_t i = 0; i < n_; ++i) h[i] = bf16::from_float(v[i]);
      gpu().copy_from_host(ptr_, h.data(), n_ * 2);
    } else {
      FAIL("upload_floats: dtype " << dtype_name(t_));
    }
  }
  std::vector<float> floats() const {
    std::vector<float> out(n_);
    if (t_ == DType::f32) {
      gpu().copy_to_host(out.data(), ptr_, n_ * 4);
    } else if (t_ == DType::bf16) {
      std::vector<bf16> h(n_);
      gpu().copy_to_host(h.data(), ptr_, n_ * 2);
      for (int64_t i = 0; i < n_; ++i) out[i] = h[i].to_float();
    } else {
      FAIL("floats: dtype " << dtype_name(t_));
    }
    return out;
  }
  std::vector<int32_t> ints() const {
    std::vector<int32_t> out(n_);
    gpu().copy_to_host(out.data(), ptr_, n_ * 4);
    return out;
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(n_ * dtype_size(t_));
    gpu().copy_to_host(out.data(), ptr_, out.size());
    return out;
  }
  // All bits set: NaN in every float type, −1 in i32.
  void poison() {
    std::vector<uint8_t> ones(bytes_, 0xff);
    gpu().copy_from_host(ptr_, ones.data(), bytes_);
  }

 private:
  DType t_;
  int64_t n_;
  size_t bytes_;
  void* ptr_ = nullptr;
};

DeviceArray poisoned(DType t, int64_t n) {
  DeviceArray a(t, n);
  a.poison();
  return a;
}

// ---- comparisons -----------------------------------------------------------------------------

// |got − want| ≤ atol + rtol·|want| per element; NaN only where want is NaN.
struct Tol {
  double rtol, atol;
};

void check_close(const std::vector<float>& got, const std::vector<float>& want, Tol tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int64_t bad = 0, worst = -1;
  double worst_excess = -1;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    double excess = 0;
    if (std::isnan(w)) {
      ok = std::isnan(g);
      excess = 1;
    } else if (std::isinf(w)) {
      ok = g == w;
      excess = 1;
    } else {
      const double err = std::abs(g - w), bound = tol.atol + tol.rtol * std::abs(w);
      ok = err <= bound;  // false for a NaN g
      excess = std::isnan(err) ? 1e300 : err / (bound > 0 ? bound : 1e-300);
    }
    if (!ok) {
      ++bad;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = static_cast<int64_t>(i);
      }
    }
  }
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << want.size() << " elements out of tolerance (rtol " << tol.rtol << ", atol "
      << tol.atol << ")";
  if (worst >= 0) msg << "; worst at " << worst << ": got " << got[worst] << ", want " << want[worst];
  INFO(msg.str());
  CHECK(bad == 0);
}

template <class T>
void check_equal(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << want.size() << " elements differ";
  if (first >= 0) msg << "; first at " << first << ": got " << +got[first] << ", want " << +want[first];
  INFO(msg.str());
  CHECK(bad == 0);
}

// Tolerance for f32 or bf16 storage.
Tol tol_for(DType t, Tol f32, Tol bf16 = {1e-2, 1e-3}) { return t == DType::f32 ? f32 : bf16; }

std::string label(const char* op, DType t, const std::string& shape) {
  return std::string(op) + " " + dtype_name(t) + " " + shape;
}

std::string dims(std::initializer_list<int64_t> d) {
  std::string s = "(";
  for (auto it = d.begin(); it != d.end(); ++it) s += (it == d.begin() ? "" : ", ") + std::to_string(*it);
  return s + ")";
}

// Elements a layout can touch: 1 + Σ (size − 1)·stride.
int64_t extent(const Layout& l) {
  if (l.numel() == 0) return 0;
  int64_t e = 1;
  for (int d = 0; d < l.shape.size(); ++d) e += (l.shape[d] - 1) * l.strides[d];
  return e;
}

Layout make_layout(const Shape& shape, const Strides& strides) { return Layout{shape, strides}; }
Layout contiguous_layout(const Shape& shape) { return Layout{shape, contiguous_strides(shape)}; }

}  // namespace

// =====================================================================================
// memory
// =====================================================================================

TEST_CASE("cuda memory: copies round-trip, copy_within handles overlap, the cache reuses blocks") {
  Rng rng(1);
  for (int64_t n : {1, 3, 1000, 4097}) {
    const auto host = randn(rng, n);
    DeviceArray a(host, DType::f32);
    REQUIRE(a.floats() == host);
    DeviceArray b = poisoned(DType::f32, n);
    gpu().copy_within(b.get(), a.get(), n * 4);
    gpu().synchronize();
    REQUIRE(b.floats() == host);
  }
  // Overlapping ranges behave like memmove.
  std::vector<float> host(1000);
  std::iota(host.begin(), host.end(), 0.f);
  DeviceArray a(host, DType::f32);
  gpu().copy_within(a.as<float>() + 10, a.as<float>(), 900 * 4);
  std::vector<float> want = host;
  std::memmove(want.data() + 10, want.data(), 900 * 4);
  REQUIRE(a.floats() == want);

  const AllocatorStats before = gpu().allocator_stats();
  void* p = gpu().allocate(12345);
  gpu().deallocate(p, 12345);
  void* q = gpu().allocate(12345);
  CHECK(q == p);  // the same size class comes back from the cache
  gpu().deallocate(q, 12345);
  const AllocatorStats after = gpu().allocator_stats();
  CHECK(after.system_allocations - before.system_allocations <= 1);
  CHECK(after.requests - before.requests == 2);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  CHECK(reinterpret_cast<uintptr_t>(p) % 256 == 0);
}

// =====================================================================================
// elementwise
// =====================================================================================

TEST_CASE("cuda fill writes every element of every dtype like the CPU") {
  for (int64_t n : {1, 3, 1000, 4097})
    for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i32})
      for (double value : {0.0, 2.5, -7.0, 1e-3}) {
        std::vector<uint8_t> want(n * dtype_size(t));
        cpu().fill(t, want.data(), n, value);
        DeviceArray d = poisoned(t, n);
        gpu().fill(t, d.get(), n, value);
        check_equal(d.bytes(), want, label("fill", t, std::to_string(n) + " value " + std::to_string(value)));
      }
}

TEST_CASE("cuda copy_strided matches the CPU for permuted, padded and broadcast layouts of every dtype") {
  Rng rng(2);
  struct Case {
    Layout x, y;
  };
  const std::vector<Case> cases = {
      {make_layout({3, 4, 5}, {1, 3, 12}), contiguous_layout({3, 4, 5})},        // column-major source
      {contiguous_layout({3, 4, 5}), make_layout({3, 4, 5}, {40, 10, 2})},       // padded destination
      {make_layout({3, 4, 5}, {0, 5, 1}), contiguous_layout({3, 4, 5})},         // broadcast source
      {make_layout({3, 4, 5}, {20, 1, 4}), make_layout({3, 4, 5}, {1, 3, 12})},  // both strided
      {make_layout({33, 65, 17}, {1, 33, 33 * 65}), contiguous_layout({33, 65, 17})},
      {make_layout({7, 1, 9}, {9, 1000, 1}), make_layout({7, 1, 9}, {1, 5, 7})},  // size-1 dim, odd stride
      {contiguous_layout({4097}), contiguous_layout({4097})},                     // the memcpy path
      {contiguous_layout({}), contiguous_layout({})},                             // one element
      {contiguous_layout({3, 0, 2}), contiguous_layout({3, 0, 2})},               // nothing to copy
  };
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i32}) {
    const size_t es = dtype_size(t);
    for (const Case& c : cases) {
      const int64_t nx = std::max<int64_t>(extent(c.x), 1), ny = std::max<int64_t>(extent(c.y), 1);
      std::vector<uint8_t> src(nx * es), dst(ny * es, 0xab);
      for (auto& b : src) b = static_cast<uint8_t>(rng.below(256));
      std::vector<uint8_t> want = dst;
      cpu().copy_strided(t, src.data(), c.x, want.data(), c.y);
      DeviceArray dx(t, nx), dy(t, ny);
      gpu().copy_from_host(dx.get(), src.data(), src.size());
      gpu().copy_from_host(dy.get(), dst.data(), dst.size());
      gpu().copy_strided(t, dx.get(), c.x, dy.get(), c.y);
      check_equal(dy.bytes(), want, label("copy_strided", t, c.x.shape.str()));
    }
  }
}

namespace {
// Host bytes of values as dtype t holds them (the CPU's conversions).
std::vector<uint8_t> encode(const std::vector<double>& v, DType t) {
  std::vector<uint8_t> out(v.size() * dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    uint8_t* p = out.data() + i * dtype_size(t);
    switch (t) {
      case DType::f32: {
        const float x = static_cast<float>(v[i]);
        std::memcpy(p, &x, 4);
        break;
      }
      case DType::f64: std::memcpy(p, &v[i], 8); break;
      case DType::bf16: {
        const bf16 x = bf16::from_float(static_cast<float>(v[i]));
        std::memcpy(p, &x, 2);
        break;
      }
      case DType::i32: {
        const int32_t x = static_cast<int32_t>(v[i]);
        std::memcpy(p, &x, 4);
        break;
      }
    }
  }
  return out;
}
std::vector<double> decode(const std::vector<uint8_t>& bytes, DType t) {
  std::vector<double> out(bytes.size() / dtype_size(t));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = bytes.data() + i * dtype_size(t);
    switch (t) {
      case DType::f32: {
        float x;
        std::memcpy(&x, p, 4);
        out[i] = x;
        break;
      }
      case DType::f64: std::memcpy(&out[i], p, 8); break;
      case DType::bf16: {
        bf16 x;
        std::memcpy(&x, p, 2);
        out[i] = x.to_float();
        break;
      }
      case DType::i32: {
        int32_t x;
        std::memcpy(&x, p, 4);
        out[i] = x;
        break;
      }
    }
  }
  return out;
}
}  // namespace

TEST_CASE("cuda cast converts between all dtypes exactly like the CPU (bf16: nearest even, NaN kept)") {
  Rng rng(3);
  const DType all[] = {DType::f32, DType::f64, DType::bf16, DType::i32};
  for (int64_t n : {1, 3, 1000, 4097}) {
    // Fractions, exact ties for the bf16 rounding, and (for float targets) specials.
    std::vector<double> finite(n);
    for (int64_t i = 0; i < n; ++i) {
      switch (i % 4) {
        case 0: finite[i] = rng.normal() * 1000; break;
        case 1:
          finite[i] = std::ldexp(1.0 + (2 * rng.below(64) + 1) / 256.0, static_cast<int>(rng.below(20)) - 10);
          break;
        case 2: finite[i] = static_cast<double>(static_cast<int64_t>(rng.below(2000000)) - 1000000); break;
        default: finite[i] = rng.normal() * 1e-3;
      }
    }
    std::vector<double> special = finite;
    const double specials[] = {std::numeric_limits<double>::quiet_NaN(),
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(),
                               0.0,
                               -0.0,
                               1e30,
                               -1e-30,
                               3.4e38};
    for (int64_t i = 0; i < n; i += 3) special[i] = specials[(i / 3) % 8];
    for (DType from : all)
      for (DType to : all) {
        const bool ints_involved = from == DType::i32 || to == DType::i32;
        const std::vector<uint8_t> src = encode(ints_involved ? finite : special, from);
        std::vector<uint8_t> want(n * dtype_size(to));
        cpu().cast(from, src.data(), to, want.data(), n);
        DeviceArray dx(from, n);
        gpu().copy_from_host(dx.get(), src.data(), src.size());
        DeviceArray dy = poisoned(to, n);
        gpu().cast(from, dx.get(), to, dy.get(), n);
        const auto got = decode(dy.bytes(), to), ref = decode(want, to);
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < n; ++i) {
          const bool same = (std::isnan(got[i]) && std::isnan(ref[i])) ||
                            (got[i] == ref[i] && std::signbit(got[i]) == std::signbit(ref[i]));
          if (!same && first < 0) first = i;
          bad += !same;
        }
        std::ostringstream msg;
        msg << "cast " << dtype_name(from) << " -> " << dtype_name(to) << " n " << n << ": " << bad << " differ";
        if (first >= 0) msg << "; first at " << first << ": got " << got[first] << ", want " << ref[first];
        INFO(msg.str());
        CHECK(bad == 0);
      }
  }
}

namespace {
#define MHC_UNARY_VALUE(value, name) UnaryOp::value,
const UnaryOp kUnaryOps[] = {MHC_UNARY_OPS(MHC_UNARY_VALUE)};  // every unary op, from backend.h's one list
#undef MHC_UNARY_VALUE

std::vector<float> unary_inputs(UnaryOp op, Rng& rng, int64_t n) {
  if (op == UnaryOp::Log || op == UnaryOp::Sqrt) return uniform(rng, n, 0.05, 5.0);
  return randn(rng, n, 2.0);
}
}  // namespace

TEST_CASE("cuda unary and unary_backward match the CPU formulas (aligned and unaligned pointers)") {
  Rng rng(4);
  for (UnaryOp op : kUnaryOps)
    for (int64_t n : {1, 3, 1000, 4097})
      for (DType t : kFloatTypes)
        for (int offset : {0, 1}) {  // offset 1: the unaligned (scalar) path
          const auto x = as_stored(unary_inputs(op, rng, n), t);
          std::vector<float> y(n);
          cpu().unary(op, DType::f32, x.data(), y.data(), n);
          const auto y_stored = as_stored(y, t);
          const auto gy = as_stored(randn(rng, n), t);
          std::vector<float> gx(n);
          cpu().unary_backward(op, DType::f32, x.data(), y_stored.data(), gy.data(), gx.data(), n);

          std::vector<float> pad_x(offset, 0.f), pad_y(offset, 0.f), pad_gy(offset, 0.f);
          pad_x.insert(pad_x.end(), x.begin(), x.end());
          pad_y.insert(pad_y.end(), y_stored.begin(), y_stored.end());
          pad_gy.insert(pad_gy.end(), gy.begin(), gy.end());
          DeviceArray dx(pad_x, t), dys(pad_y, t), dgy(pad_gy, t);
          DeviceArray dy = poisoned(t, n + offset), dgx = poisoned(t, n + offset);
          const size_t es = dtype_size(t);
          auto at = [&](const DeviceArray& a) { return static_cast<char*>(a.get()) + offset * es; };
          gpu().unary(op, t, at(dx), at(dy), n);
          gpu().unary_backward(op, t, at(dx), at(dys), at(dgy), at(dgx), n);
          auto got_y = dy.floats(), got_gx = dgx.floats();
          got_y.erase(got_y.begin(), got_y.begin() + offset);
          got_gx.erase(got_gx.begin(), got_gx.begin() + offset);
          const std::string what = std::string(unary_op_name(op)) + " " + dtype_name(t) + " n " + std::to_string(n) +
                                   " offset " + std::to_string(offset);
          check_close(got_y, y, tol_for(t, {2e-6, 1e-6}, {8e-3, 1e-6}), what);
          check_close(got_gx, gx, tol_for(t, {1e-5, 1e-6}, {8e-3, 1e-6}), what + " backward");
        }
}

TEST_CASE("cuda affine and dropout match the CPU (dropout draws the same mask)") {
  Rng rng(5);
  for (int64_t n : {1, 3, 1000, 4097})
    for (DType t : kFloatTypes) {
      const auto x = as_stored(randn(rng, n), t);
      std::vector<float> y(n);
      cpu().affine(DType::f32, x.data(), y.data(), n, 1.5, -0.25);
      DeviceArray dx(x, t);
      DeviceArray dy = poisoned(t, n);
      gpu().affine(t, dx.get(), dy.get(), n, 1.5, -0.25);
      check_close(dy.floats(), y, tol_for(t, {1e-6, 1e-7}, {8e-3, 1e-6}), label("affine", t, std::to_string(n)));

      for (float p : {0.1f, 0.5f})
        for (uint64_t seed : {uint64_t{7}, uint64_t{123456789}}) {
          std::vector<float> want(n);
          cpu().dropout(DType::f32, x.data(), want.data(), n, p, seed);
          DeviceArray dd = poisoned(t, n);
          gpu().dropout(t, dx.get(), dd.get(), n, p, seed);
          const auto got = dd.floats();
          if (t == DType::f32)
            check_equal(got, want, "dropout f32 n " + std::to_string(n));
          else
            check_close(got, want, {8e-3, 0}, "dropout bf16 n " + std::to_string(n));
          int64_t mask_diff = 0;
          for (int64_t i = 0; i < n; ++i) mask_diff += (got[i] == 0.f) != (want[i] == 0.f);
          CHECK(mask_diff == 0);
        }
    }
}

TEST_CASE("cuda binary ops broadcast like the CPU, in place too") {
  Rng rng(6);
  struct Case {
    Shape out;
    Layout a, b;
  };
  const std::vector<Case> cases = {
      {{2, 3, 1001}, contiguous_layout({2, 3, 1001}), contiguous_layout({2, 3, 1001})},
      {{4, 3, 5}, make_layout({4, 3, 5}, {5, 0, 1}), make_layout({4, 3, 5}, {0, 5, 1})},
      {{6, 7}, make_layout({6, 7}, {1, 6}), make_layout({6, 7}, {0, 0})},         // transposed a, scalar b
      {{33, 129}, contiguous_layout({33, 129}), make_layout({33, 129}, {0, 1})},  // bias add
      {{1}, contiguous_layout({1}), contiguous_layout({1})},
      {{3}, contiguous_layout({3}), make_layout({3}, {0})},
      {{2, 2, 2, 2, 2, 2, 2, 3},
       contiguous_layout({2, 2, 2, 2, 2, 2, 2, 3}),
       make_layout({2, 2, 2, 2, 2, 2, 2, 3}, {0, 1, 0, 2, 0, 4, 0, 8})},  // 8 dims, mixed broadcast
  };
  const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Max, BinaryOp::Min};
  for (BinaryOp op : ops)
    for (DType t : kFloatTypes)
      for (const Case& c : cases) {
        const int64_t n = c.out.product();
        const auto a = as_stored(randn(rng, extent(c.a)), t);
        auto b = as_stored(randn(rng, extent(c.b)), t);
        if (op == BinaryOp::Div)
          for (auto& v : b) v = as_stored({v > 0 ? v + 0.5f : v - 0.5f}, t)[0];
        std::vector<float> want(n);
        cpu().binary(op, DType::f32, a.data(), c.a, b.data(), c.b, want.data(), c.out);
        DeviceArray da(a, t), db(b, t);
        DeviceArray dout = poisoned(t, n);
        gpu().binary(op, t, da.get(), c.a, db.get(), c.b, dout.get(), c.out);
        const std::string what = std::string(binary_op_name(op)) + " " + dtype_name(t) + " " + c.out.str();
        const Tol tol = tol_for(t, {1e-6, 0}, {8e-3, 0});
        check_close(dout.floats(), want, tol, what);
        if (c.a.is_contiguous()) {  // in place: out aliases a
          gpu().binary(op, t, da.get(), c.a, db.get(), c.b, da.get(), c.out);
          check_close(da.floats(), want, tol, what + " in place");
        }
      }
}

// =====================================================================================
// reductions and products
// =====================================================================================

TEST_CASE("cuda sum over (outer, reduce, inner) matches the CPU, including the two-stage cases") {
  Rng rng(7);
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 1, 1},    {3, 5, 1},      {7, 33, 1}, {2, 1000, 1}, {3, 4097, 1},   {1, 100000, 1}, {5, 3, 7},
      {1, 4097, 3}, {2, 1000, 130}, {3, 0, 5},  {4, 31, 1},   {1, 300, 1000}, {2, 70000, 1}};
  for (DType t : kFloatTypes)
    for (const auto& s : shapes) {
      const int64_t outer = s[0], reduce = s[1], inner = s[2];
      const auto x = as_stored(randn(rng, outer * reduce * inner), t);
      std::vector<float> want(outer * inner);
      cpu().sum(DType::f32, x.data(), want.data(), outer, reduce, inner);
      DeviceArray dx(x, t);
      DeviceArray dy = poisoned(t, outer * inner);
      gpu().sum(t, dx.get(), dy.get(), outer, reduce, inner);
      const double scale = std::sqrt(static_cast<double>(reduce) + 1);
      check_close(dy.floats(), want, tol_for(t, {1e-5, 1e-6 * scale}, {8e-3, 1e-3 * scale}),
                  label("sum", t, dims({outer, reduce, inner})));
    }
}

namespace {
// One GEMM configuration: CPU f32 on bf16-rounded values vs the GPU.
void compare_gemm(DType t, int64_t batch, int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha, float beta,
                  bool shared_b, Rng& rng) {
  const int64_t lda = ta ? M + 1 : K + 2, ldb = tb ? K + 3 : N + 1, ldc = N + 2;  // padded leading dims
  const int64_t a_rows = ta ? K : M, b_rows = tb ? N : K;
  const int64_t sa = a_rows * lda, sb = shared_b ? 0 : b_rows * ldb, sc = M * ldc;
  const auto A = as_stored(randn(rng, batch * sa), t);
  const auto B = as_stored(randn(rng, shared_b ? b_rows * ldb : batch * sb), t);
  const auto C0 = as_stored(randn(rng, batch * sc), t);
  GemmArgs g;
  g.dtype = DType::f32;
  g.batch = batch;
  g.M = M;
  g.N = N;
  g.K = K;
  g.lda = lda;
  g.stride_a = sa;
  g.trans_a = ta;
  g.ldb = ldb;
  g.stride_b = sb;
  g.trans_b = tb;
  g.ldc = ldc;
  g.stride_c = sc;
  g.alpha = alpha;
  g.beta = beta;
  std::vector<float> want = C0;
  g.a = A.data();
  g.b = B.data();
  g.c = want.data();
  cpu().gemm(g);
  DeviceArray da(A, t), db(B, t), dc(C0, t);
  g.dtype = t;
  g.a = da.get();
  g.b = db.get();
  g.c = dc.get();
  gpu().gemm(g);
  const double scale = std::sqrt(static_cast<double>(K) + 1);
  check_close(
      dc.floats(), want, tol_for(t, {1e-4, 1e-5 * scale}, {1e-2, 2e-2 * scale}),
      label("gemm", t,
            dims({batch, M, N, K}) + " ta " + std::to_string(ta) + " tb " + std::to_string(tb) + " alpha " +
                std::to_string(alpha) + " beta " + std::to_string(beta) + " shared_b " + std::to_string(shared_b)));
}
}  // namespace

TEST_CASE("cuda gemm matches the CPU over orientations, batch strides, alpha/beta and odd sizes") {
  Rng rng(8);
  const std::vector<std::array<int64_t, 3>> sizes = {{1, 1, 1}, {3, 5, 7}, {64, 48, 33}, {127, 129, 65}, {4, 3, 0}};
  for (DType t : kFloatTypes)
    for (const auto& s : sizes)
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (int64_t batch : {1, 3}) {
            compare_gemm(t, batch, s[0], s[1], s[2], ta, tb, 1.f, 0.f, false, rng);
            compare_gemm(t, batch, s[0], s[1], s[2], ta, tb, 0.5f, 1.5f, batch > 1, rng);
          }
  // A product large enough for cuBLAS's bigger tiles (and split-K choices).
  compare_gemm(DType::f32, 1, 512, 384, 1024, false, true, 1.f, 0.f, false, rng);
  compare_gemm(DType::bf16, 2, 256, 512, 2048, true, false, 1.f, 1.f, false, rng);
}

// =====================================================================================
// normalisation and losses
// =====================================================================================

TEST_CASE("cuda softmax and log-softmax (forward and backward) match the CPU on every axis layout") {
  Rng rng(9);
  const std::vector<std::array<int64_t, 3>> shapes = {{1, 1, 1},    {3, 7, 1}, {5, 1000, 1}, {2, 4097, 1},
                                                      {300, 17, 1}, {4, 5, 3}, {2, 300, 17}, {1, 3, 1000}};
  for (DType t : kFloatTypes)
    for (bool log : {false, true})
      for (const auto& s : shapes) {
        const int64_t outer = s[0], dim = s[1], inner = s[2], n = outer * dim * inner;
        auto x = randn(rng, n, 3.0);
        if (dim > 2)  // some masked entries, as attention masks produce
          for (int64_t i = 0; i < n; i += 7) x[i] = -std::numeric_limits<float>::infinity();
        for (int64_t o = 0; o < outer; ++o)  // but never a whole line
          for (int64_t i = 0; i < inner; ++i) x[o * dim * inner + i] = 0.5f;
        x = as_stored(x, t);
        std::vector<float> y(n);
        cpu().softmax(DType::f32, x.data(), y.data(), outer, dim, inner, log);
        DeviceArray dx(x, t);
        DeviceArray dy = poisoned(t, n);
        gpu().softmax(t, dx.get(), dy.get(), outer, dim, inner, log);
        const std::string what = label(log ? "log_softmax" : "softmax", t, dims({outer, dim, inner}));
        // log-softmax values near 0 are differences of O(10) numbers: f32 rounding is ~1e-6 absolute.
        check_close(dy.floats(), y, tol_for(t, {2e-5, log ? 2e-6 : 1e-7}, {8e-3, 1e-6}), what);

        if (log)  // the backward is fed finite values (−∞ inputs give −∞ log-probabilities)
          for (auto& v : y)
            if (!std::isfinite(v)) v = -30.f;
        const auto y_stored = as_stored(y, t);
        const auto gy = as_stored(randn(rng, n), t);
        std::vector<float> gx(n);
        cpu().softmax_backward(DType::f32, y_stored.data(), gy.data(), gx.data(), outer, dim, inner, log);
        DeviceArray dys(y_stored, t), dgy(gy, t);
        DeviceArray dgx = poisoned(t, n);
        gpu().softmax_backward(t, dys.get(), dgy.get(), dgx.get(), outer, dim, inner, log);
        const double scale = std::sqrt(static_cast<double>(dim));
        check_close(dgx.floats(), gx, tol_for(t, {1e-4, 1e-6 * scale}, {2e-2, 1e-3 * scale}), what + " backward");
      }
}

TEST_CASE("cuda cross_entropy and its backward match the CPU, ignored rows are 0 and bad targets give NaN") {
  Rng rng(10);
  const int32_t ignore = -100;
  for (DType t : kFloatTypes)
    for (int64_t rows : {1, 5, 300})
      for (int64_t V : {3, 1000, 4097}) {
        const auto x = as_stored(randn(rng, rows * V, 2.0), t);
        auto targets = random_ints(rng, rows, 0, V);
        for (int64_t r = 2; r < rows; r += 3) targets[r] = ignore;
        std::vector<float> loss(rows), lse(rows);
        cpu().cross_entropy(DType::f32, x.data(), targets.data(), loss.data(), lse.data(), rows, V, ignore);
        DeviceArray dx(x, t), dt(targets);
        DeviceArray dloss = poisoned(t, rows), dlse = poisoned(DType::f32, rows);
        gpu().cross_entropy(t, dx.get(), dt.as<int32_t>(), dloss.get(), dlse.get(), rows, V, ignore);
        const std::string what = label("cross_entropy", t, dims({rows, V}));
        check_close(dlse.floats(), lse, {1e-5, 1e-5}, what + " lse");
        check_close(dloss.floats(), loss, tol_for(t, {1e-5, 1e-5}, {8e-3, 1e-3}), what + " loss");

        const auto gloss = as_stored(randn(rng, rows), t);
        std::vector<float> gx(rows * V);
        cpu().cross_entropy_backward(DType::f32, x.data(), targets.data(), lse.data(), gloss.data(), gx.data(), rows, V,
                                     ignore);
        DeviceArray dlse_ref(lse, DType::f32), dg(gloss, t);
        DeviceArray dgx = poisoned(t, rows * V);
        gpu().cross_entropy_backward(t, dx.get(), dt.as<int32_t>(), dlse_ref.get(), dg.get(), dgx.get(), rows, V,
                                     ignore);
        check_close(dgx.floats(), gx, tol_for(t, {1e-5, 1e-6}, {8e-3, 1e-6}), what + " backward");
      }
  // Out-of-range targets cannot throw from a kernel: that row's loss is NaN.
  const int64_t rows = 4, V = 10;
  const auto x = randn(rng, rows * V);
  const std::vector<int32_t> targets = {1, 10, -3, ignore};
  DeviceArray dx(x, DType::f32), dt(targets);
  DeviceArray dloss = poisoned(DType::f32, rows), dlse = poisoned(DType::f32, rows);
  gpu().cross_entropy(DType::f32, dx.get(), dt.as<int32_t>(), dloss.get(), dlse.get(), rows, V, ignore);
  const auto loss = dloss.floats();
  CHECK(std::isfinite(loss[0]));
  CHECK(std::isnan(loss[1]));
  CHECK(std::isnan(loss[2]));
  CHECK(loss[3] == 0.f);
}

TEST_CASE("cuda rms_norm and its backward (with and without weight) match the CPU") {
  Rng rng(11);
  for (DType t : kFloatTypes)
    for (int64_t rows : {1, 3, 100, 130})
      for (int64_t C : {1, 7, 1000, 4097})
        for (bool with_w : {true, false}) {
          const auto x = as_stored(randn(rng, rows * C), t);
          const auto w = as_stored(uniform(rng, C, 0.5, 1.5), t);
          const float eps = 1e-5f;
          std::vector<float> y(rows * C), rstd(rows);
          cpu().rms_norm(DType::f32, x.data(), with_w ? w.data() : nullptr, y.data(), rstd.data(), rows, C, eps);
          DeviceArray dx(x, t), dw(w, t);
          DeviceArray dy = poisoned(t, rows * C), drstd = poisoned(DType::f32, rows);
          gpu().rms_norm(t, dx.get(), with_w ? dw.get() : nullptr, dy.get(), drstd.get(), rows, C, eps);
          const std::string what = label("rms_norm", t, dims({rows, C})) + (with_w ? " w" : " no w");
          check_close(drstd.floats(), rstd, {1e-5, 0}, what + " rstd");
          check_close(dy.floats(), y, tol_for(t, {1e-5, 1e-6}, {8e-3, 1e-5}), what);

          const auto gy = as_stored(randn(rng, rows * C), t);
          std::vector<float> gx(rows * C), gw(C);
          cpu().rms_norm_backward(DType::f32, x.data(), with_w ? w.data() : nullptr, rstd.data(), gy.data(), gx.data(),
                                  with_w ? gw.data() : nullptr, rows, C);
          DeviceArray drstd_ref(rstd, DType::f32), dgy(gy, t);
          DeviceArray dgx = poisoned(t, rows * C), dgw = poisoned(t, C);
          gpu().rms_norm_backward(t, dx.get(), with_w ? dw.get() : nullptr, drstd_ref.get(), dgy.get(), dgx.get(),
                                  with_w ? dgw.get() : nullptr, rows, C);
          const double scale = std::sqrt(static_cast<double>(C));
          check_close(dgx.floats(), gx, tol_for(t, {1e-4, 1e-5}, {2e-2, 2e-3}), what + " gx");
          if (with_w)
            check_close(dgw.floats(), gw, tol_for(t, {1e-4, 1e-5 * std::sqrt(rows)}, {2e-2, 2e-3 * std::sqrt(rows)}),
                        what + " gw (scale " + std::to_string(scale) + ")");
        }
}

// =====================================================================================
// indexing
// =====================================================================================

TEST_CASE("cuda gather copies rows of any dtype, and out-of-range rows read as NaN") {
  Rng rng(12);
  const std::vector<std::array<int64_t, 4>> shapes = {// outer, dim, inner, n_idx
                                                      {1, 1, 1, 1},
                                                      {1, 50, 3, 1000},
                                                      {3, 7, 1000, 5},
                                                      {2, 4097, 1, 33},
                                                      {1, 1000, 4097, 3}};
  for (DType t : {DType::f32, DType::bf16, DType::i32, DType::f64})
    for (const auto& s : shapes) {
      const int64_t outer = s[0], dim = s[1], inner = s[2], n_idx = s[3];
      const size_t es = dtype_size(t);
      std::vector<uint8_t> x(outer * dim * inner * es);
      for (auto& b : x) b = static_cast<uint8_t>(rng.below(256));
      const auto idx = random_ints(rng, n_idx, 0, dim);
      std::vector<uint8_t> want(outer * n_idx * inner * es);
      cpu().gather(t, x.data(), idx.data(), want.data(), outer, dim, inner, n_idx);
      DeviceArray dx(t, outer * dim * inner), di(idx);
      gpu().copy_from_host(dx.get(), x.data(), x.size());
      DeviceArray dy = poisoned(t, outer * n_idx * inner);
      gpu().gather(t, dx.get(), di.as<int32_t>(), dy.get(), outer, dim, inner, n_idx);
      check_equal(dy.bytes(), want, label("gather", t, dims({outer, dim, inner, n_idx})));
    }
  const auto x = randn(rng, 4 * 3);
  const std::vector<int32_t> idx = {3, 4, -1, 0};
  DeviceArray dx(x, DType::f32), di(idx);
  DeviceArray dy = poisoned(DType::f32, 4 * 3);
  gpu().fill(DType::f32, dy.get(), 12, 0.0);
  gpu().gather(DType::f32, dx.get(), di.as<int32_t>(), dy.get(), 1, 4, 3, 4);
  const auto y = dy.floats();
  for (int c = 0; c < 3; ++c) {
    CHECK(y[c] == x[9 + c]);
    CHECK(std::isnan(y[3 + c]));
    CHECK(std::isnan(y[6 + c]));
    CHECK(y[9 + c] == x[c]);
  }
}

TEST_CASE("cuda index_add adds repeated indices in increasing order (f32: bit-identical to the CPU)") {
  Rng rng(13);
  const std::vector<std::array<int64_t, 4>> shapes = {
      // outer, dim, inner, n_idx
      {1, 1, 1, 1}, {1, 50, 3, 5000}, {1, 1000, 768, 4096}, {3, 7, 33, 100}, {1, 5, 4097, 64}, {2, 100000, 2, 7}};
  for (DType t : kFloatTypes)
    for (const auto& s : shapes) {
      const int64_t outer = s[0], dim = s[1], inner = s[2], n_idx = s[3];
      auto idx = random_ints(rng, n_idx, 0, std::min<int64_t>(dim, 13));  // heavy duplication
      for (int64_t i = 0; i < n_idx; i += 5) idx[i] = static_cast<int32_t>(rng.below(dim));
      const auto y0 = as_stored(randn(rng, outer * dim * inner), t);
      const auto src = as_stored(randn(rng, outer * n_idx * inner), t);
      std::vector<float> want = y0;
      cpu().index_add(DType::f32, want.data(), idx.data(), src.data(), outer, dim, inner, n_idx);
      DeviceArray dy(y0, t), di(idx), ds(src, t);
      gpu().index_add(t, dy.get(), di.as<int32_t>(), ds.get(), outer, dim, inner, n_idx);
      const std::string what = label("index_add", t, dims({outer, dim, inner, n_idx}));
      if (t == DType::f32)
        check_equal(dy.floats(), want, what);
      else
        check_close(dy.floats(), want, {1e-2, 2e-2 * std::sqrt(static_cast<double>(n_idx))}, what);
    }
  // Out-of-range indices are skipped.
  const std::vector<int32_t> idx = {0, 9, -2, 1, 0};
  const std::vector<float> src = {1, 2, 3, 4, 5};
  DeviceArray dy(std::vector<float>{10, 20, 30}, DType::f32), di(idx), ds(src, DType::f32);
  gpu().index_add(DType::f32, dy.get(), di.as<int32_t>(), ds.get(), 1, 3, 1, 5);
  CHECK(dy.floats() == std::vector<float>{16, 24, 30});
}

TEST_CASE("cuda gather_last and scatter_add_last match the CPU (repeated columns add in order)") {
  Rng rng(14);
  for (DType t : kFloatTypes)
    for (int64_t rows : {1, 7, 1000})
      for (int64_t cols : {1, 5, 64})
        for (int64_t k : {1, 3, 8}) {
          const auto x = as_stored(randn(rng, rows * cols), t);
          const auto idx = random_ints(rng, rows * k, 0, cols);  // repeats within a row when cols is small
          std::vector<float> want(rows * k);
          cpu().gather_last(DType::f32, x.data(), idx.data(), want.data(), rows, cols, k);
          DeviceArray dx(x, t), di(idx);
          DeviceArray dy = poisoned(t, rows * k);
          gpu().gather_last(t, dx.get(), di.as<int32_t>(), dy.get(), rows, cols, k);
          const std::string what = dims({rows, cols, k});
          check_equal(dy.floats(), want, label("gather_last", t, what));

          const auto src = as_stored(randn(rng, rows * k), t);
          std::vector<float> acc = x;
          cpu().scatter_add_last(DType::f32, acc.data(), idx.data(), src.data(), rows, cols, k);
          DeviceArray dacc(x, t), dsrc(src, t);
          gpu().scatter_add_last(t, dacc.get(), di.as<int32_t>(), dsrc.get(), rows, cols, k);
          if (t == DType::f32)
            check_equal(dacc.floats(), acc, label("scatter_add_last", t, what));
          else
            check_close(dacc.floats(), acc, {1e-2, 2e-2}, label("scatter_add_last", t, what));
        }
}

TEST_CASE("cuda topk: values descending, ties to the lower index, like the CPU") {
  Rng rng(15);
  for (DType t : kFloatTypes)
    for (int64_t rows : {1, 5, 300})
      for (int64_t cols : {1, 8, 64, 65, 1000, 1024, 5000})
        for (int64_t k : {1, 2, 8, 64}) {
          if (k > cols) continue;
          auto x = randn(rng, rows * cols);
          if (cols >= 8)  // many ties: values on a coarse grid
            for (int64_t i = 0; i < rows * cols; i += 2) x[i] = std::round(x[i] * 2.f) / 2.f;
          x = as_stored(x, t);
          std::vector<float> values(rows * k);
          std::vector<int32_t> indices(rows * k);
          cpu().topk(DType::f32, x.data(), values.data(), indices.data(), rows, cols, k);
          DeviceArray dx(x, t);
          DeviceArray dv = poisoned(t, rows * k), di = poisoned(DType::i32, rows * k);
          gpu().topk(t, dx.get(), dv.get(), di.as<int32_t>(), rows, cols, k);
          const std::string what = label("topk", t, dims({rows, cols, k}));
          check_equal(di.ints(), indices, what + " indices");
          check_equal(dv.floats(), values, what + " values");
        }
}

TEST_CASE("cuda moe_dispatch groups assignments by expert stably, like the CPU") {
  Rng rng(16);
  for (int64_t tokens : {1, 100, 5000})
    for (int64_t k : {1, 2})
      for (int64_t E : {1, 8, 64}) {
        const int64_t count = tokens * k;
        const auto expert_of = random_ints(rng, count, 0, E);
        std::vector<int32_t> order(count), token(count), offsets(E + 1);
        cpu().moe_dispatch(expert_of.data(), tokens, k, E, order.data(), token.data(), offsets.data());
        DeviceArray de(expert_of);
        DeviceArray dorder = poisoned(DType::i32, count), dtoken = poisoned(DType::i32, count),
                    doffsets = poisoned(DType::i32, E + 1);
        gpu().moe_dispatch(de.as<int32_t>(), tokens, k, E, dorder.as<int32_t>(), dtoken.as<int32_t>(),
                           doffsets.as<int32_t>());
        const std::string what = "moe_dispatch " + dims({tokens, k, E});
        check_equal(doffsets.ints(), offsets, what + " offsets");
        check_equal(dorder.ints(), order, what + " order");
        check_equal(dtoken.ints(), token, what + " token");
      }
  // Experts outside [0, E) are left out of every range and listed after offsets[E].
  const std::vector<int32_t> expert_of = {1, 5, 0, -1, 1, 0};
  DeviceArray de(expert_of);
  DeviceArray dorder(DType::i32, 6), dtoken(DType::i32, 6), doffsets(DType::i32, 3);
  gpu().moe_dispatch(de.as<int32_t>(), 3, 2, 2, dorder.as<int32_t>(), dtoken.as<int32_t>(), doffsets.as<int32_t>());
  CHECK(doffsets.ints() == std::vector<int32_t>{0, 2, 4});
  CHECK(dorder.ints() == std::vector<int32_t>{2, 5, 0, 4, 1, 3});
  CHECK(dtoken.ints() == std::vector<int32_t>{1, 2, 0, 2, 0, 1});
}

// =====================================================================================
// mHC, attention, positions, optimiser
// =====================================================================================

TEST_CASE("cuda sinkhorn and its backward match the CPU for n = 1..8") {
  Rng rng(17);
  for (DType t : kFloatTypes)
    for (int64_t n = 1; n <= 8; ++n)
      for (int64_t M : {1, 3, 1000})
        for (int iters : {0, 1, 20}) {
          const auto L = as_stored(randn(rng, M * n * n, 1.5), t);
          std::vector<float> P(M * n * n);
          cpu().sinkhorn(DType::f32, L.data(), P.data(), M, n, iters);
          DeviceArray dL(L, t);
          DeviceArray dP = poisoned(t, M * n * n);
          gpu().sinkhorn(t, dL.get(), dP.get(), M, n, iters);
          const std::string what = label("sinkhorn", t, dims({M, n}) + " iters " + std::to_string(iters));
          check_close(dP.floats(), P, tol_for(t, {2e-5, 1e-7}, {8e-3, 1e-6}), what);

          const auto G = as_stored(randn(rng, M * n * n), t);
          std::vector<float> GL(M * n * n);
          cpu().sinkhorn_backward(DType::f32, L.data(), G.data(), GL.data(), M, n, iters);
          DeviceArray dG(G, t);
          DeviceArray dGL = poisoned(t, M * n * n);
          gpu().sinkhorn_backward(t, dL.get(), dG.get(), dGL.get(), M, n, iters);
          const double gscale = max_abs(GL);
          check_close(dGL.floats(), GL, tol_for(t, {1e-4, 1e-5 * gscale}, {2e-2, 2e-3 * gscale}), what + " backward");
        }
}

TEST_CASE("cuda attention forward and backward match the CPU (all head dims, odd lengths, dropout)") {
  Rng rng(18);
  const std::vector<std::array<int64_t, 4>> shapes = {// B, T, H, D
                                                      {1, 1, 1, 32},   {2, 33, 3, 64},  {1, 100, 2, 96},
                                                      {1, 65, 1, 128}, {2, 17, 2, 16},  {1, 50, 2, 40},
                                                      {1, 300, 1, 8},  {1, 1024, 2, 64}};
  for (DType t : kFloatTypes)
    for (float drop : {0.f, 0.2f})
      for (const auto& s : shapes) {
        const uint64_t seed = 11;
        const int64_t B = s[0], T = s[1], H = s[2], D = s[3], n = B * T * H * D;
        const double scale = 1.0 / std::sqrt(static_cast<double>(D));
        const auto q = as_stored(randn(rng, n), t), k = as_stored(randn(rng, n), t), v = as_stored(randn(rng, n), t);
        std::vector<float> out(n), lse(B * H * T);
        cpu().attention(DType::f32, q.data(), k.data(), v.data(), out.data(), lse.data(), B, T, H, D, scale, drop,
                        seed);
        DeviceArray dq(q, t), dk(k, t), dv(v, t);
        DeviceArray dout = poisoned(t, n), dlse = poisoned(DType::f32, B * H * T);
        gpu().attention(t, dq.get(), dk.get(), dv.get(), dout.get(), dlse.get(), B, T, H, D, scale, drop, seed);
        const std::string what = label("attention", t, dims({B, T, H, D})) + " dropout " + std::to_string(drop);
        check_close(dlse.floats(), lse, tol_for(t, {1e-5, 1e-5}, {1e-4, 1e-4}), what + " lse");
        check_close(dout.floats(), out, tol_for(t, {1e-4, 1e-5}, {1e-2, 5e-3}), what + " out");

        // The backward gets identical inputs on both sides (the CPU's out and lse).
        const auto out_stored = as_stored(out, t);
        const auto gout = as_stored(randn(rng, n), t);
        std::vector<float> gq(n), gk(n), gv(n);
        cpu().attention_backward(DType::f32, q.data(), k.data(), v.data(), out_stored.data(), lse.data(), gout.data(),
                                 gq.data(), gk.data(), gv.data(), B, T, H, D, scale, drop, seed);
        DeviceArray dos(out_stored, t), dlse_ref(lse, DType::f32), dgo(gout, t);
        DeviceArray dgq = poisoned(t, n), dgk = poisoned(t, n), dgv = poisoned(t, n);
        gpu().attention_backward(t, dq.get(), dk.get(), dv.get(), dos.get(), dlse_ref.get(), dgo.get(), dgq.get(),
                                 dgk.get(), dgv.get(), B, T, H, D, scale, drop, seed);
        // Long sums with cancellation: compare against the gradients' scale
        // (with T = 1, gq and gk are exactly 0 and only rounding remains).
        const double g_scale = std::max({max_abs(gq), max_abs(gk), max_abs(gv)});
        const Tol f32{1e-3, 1e-4 * g_scale};
        const Tol bf{3e-2, 1e-2 * g_scale};
        check_close(dgq.floats(), gq, tol_for(t, f32, bf), what + " gq");
        check_close(dgk.floats(), gk, tol_for(t, f32, bf), what + " gk");
        check_close(dgv.floats(), gv, tol_for(t, f32, bf), what + " gv");
      }
  std::vector<float> dummy(1);
  CHECK_THROWS_WITH(gpu().attention(DType::f32, dummy.data(), dummy.data(), dummy.data(), dummy.data(), dummy.data(), 1,
                                    1, 1, 256, 1.0, 0.f, 0),
                    Catch::Contains("head dim"));
}

TEST_CASE("cuda rope (and its inverse) matches the CPU") {
  Rng rng(19);
  const std::vector<std::array<int64_t, 4>> shapes = {{1, 1, 1, 2}, {2, 5, 3, 8}, {1, 33, 2, 64}, {2, 100, 4, 128}};
  for (DType t : kFloatTypes)
    for (const auto& s : shapes)
      for (bool inverse : {false, true}) {
        const int64_t B = s[0], T = s[1], H = s[2], D = s[3], n = B * T * H * D;
        const auto x = as_stored(randn(rng, n), t);
        const auto angles = uniform(rng, T * D / 2, -3.0, 3.0);
        std::vector<float> cos(angles.size()), sin(angles.size());
        for (size_t i = 0; i < angles.size(); ++i) {
          cos[i] = std::cos(angles[i]);
          sin[i] = std::sin(angles[i]);
        }
        std::vector<float> y(n);
        cpu().rope(DType::f32, x.data(), cos.data(), sin.data(), y.data(), B, T, H, D, inverse);
        DeviceArray dx(x, t), dc(cos, DType::f32), ds(sin, DType::f32);
        DeviceArray dy = poisoned(t, n);
        gpu().rope(t, dx.get(), dc.as<float>(), ds.as<float>(), dy.get(), B, T, H, D, inverse);
        check_close(dy.floats(), y, tol_for(t, {1e-5, 1e-6}, {8e-3, 1e-3}),
                    label("rope", t, dims({B, T, H, D})) + (inverse ? " inverse" : ""));
      }
}

TEST_CASE("cuda multi-tensor adamw steps like the CPU, in a few launches") {
  // Sizes around the 65536-element chunk (exactly one, one past, several with
  // a short last chunk), an empty tensor, and more tensors than one launch
  // takes (kAdamWMaxSlots), so the update spans several launches; every other
  // tensor asks for a bf16 working copy.
  Rng rng(20);
  std::vector<int64_t> sizes = {1, 3, 0, 1000, kAdamWChunkElems, kAdamWChunkElems + 1, 3 * kAdamWChunkElems + 17};
  for (int64_t i = 0; i < kAdamWMaxSlots + 40; ++i) sizes.push_back(1 + (i * 37) % 300);
  const int64_t count = static_cast<int64_t>(sizes.size());
  std::vector<std::vector<float>> p_cpu, m_cpu, v_cpu;
  std::vector<std::vector<bf16>> w_cpu;
  std::vector<DeviceArray> dp, dm, dv, dw;
  for (int64_t n : sizes) {
    p_cpu.push_back(randn(rng, n));
    m_cpu.emplace_back(n, 0.f);
    v_cpu.emplace_back(n, 0.f);
    w_cpu.emplace_back(n);
    dp.emplace_back(p_cpu.back(), DType::f32);
    dm.emplace_back(m_cpu.back(), DType::f32);
    dv.emplace_back(v_cpu.back(), DType::f32);
    dw.emplace_back(DType::bf16, n);
  }
  REQUIRE(plan_adamw_launches(nullptr, 0, AdamWHyper{}).empty());
  const float b1 = 0.9f, b2 = 0.95f;
  for (int step = 1; step <= 3; ++step) {
    std::vector<std::vector<float>> g;
    std::vector<DeviceArray> dg;
    std::vector<AdamWTensor> host_list, dev_list;
    for (int64_t i = 0; i < count; ++i) {
      g.push_back(randn(rng, sizes[i]));
      dg.emplace_back(g.back(), DType::f32);
    }
    for (int64_t i = 0; i < count; ++i) {
      const bool copy = i % 2 == 1;
      const float wd = i % 3 == 0 ? 0.f : 0.1f;
      host_list.push_back({p_cpu[i].data(), g[i].data(), m_cpu[i].data(), v_cpu[i].data(),
                           copy ? w_cpu[i].data() : nullptr, sizes[i], wd});
      dev_list.push_back({dp[i].as<float>(), dg[i].as<float>(), dm[i].as<float>(), dv[i].as<float>(),
                          copy ? dw[i].as<bf16>() : nullptr, sizes[i], wd});
    }
    const AdamWHyper h{1e-2f,
                       b1,
                       b2,
                       1e-8f,
                       1.f - std::pow(b1, static_cast<float>(step)),
                       1.f - std::pow(b2, static_cast<float>(step)),
                       0.5f};
    REQUIRE(plan_adamw_launches(dev_list.data(), count, h).size() >= 2);
    cpu().adamw_multi(host_list.data(), count, h);
    gpu().adamw_multi(dev_list.data(), count, h);
  }
  for (int64_t i = 0; i < count; ++i) {
    const std::string what = "adamw_multi tensor " + std::to_string(i) + " n " + std::to_string(sizes[i]);
    const std::vector<float> p = dp[i].floats();
    check_close(p, p_cpu[i], {1e-6, 1e-7}, what + " param");
    check_close(dm[i].floats(), m_cpu[i], {1e-6, 1e-8}, what + " m");  // fused multiply-adds may round differently
    check_close(dv[i].floats(), v_cpu[i], {1e-6, 1e-9}, what + " v");
    if (i % 2 == 1 && sizes[i] > 0) {
      // The working copy is the bf16 rounding of the GPU's own updated weight, bit for bit.
      std::vector<bf16> w(sizes[i]);
      gpu().copy_to_host(w.data(), dw[i].get(), sizes[i] * 2);
      int64_t wrong = 0;
      for (int64_t j = 0; j < sizes[i]; ++j) wrong += w[j].bits != bf16::from_float(p[j]).bits;
      INFO(what);
      CHECK(wrong == 0);
    }
  }
  CHECK_THROWS_WITH(gpu().adamw_multi(nullptr, 2, AdamWHyper{}), Catch::Contains("cuda adamw_multi"));
}

TEST_CASE("cuda primitives reject f64 with an error naming the primitive") {
  std::vector<double> x(4);
  CHECK_THROWS_WITH(gpu().unary(UnaryOp::Exp, DType::f64, x.data(), x.data(), 4), Catch::Contains("exp"));
  CHECK_THROWS_WITH(gpu().sum(DType::f64, x.data(), x.data(), 1, 4, 1), Catch::Contains("sum"));
  CHECK_THROWS_WITH(gpu().softmax(DType::f64, x.data(), x.data(), 1, 4, 1, false), Catch::Contains("softmax"));
  GemmArgs g;
  g.dtype = DType::f64;
  CHECK_THROWS_WITH(gpu().gemm(g), Catch::Contains("gemm"));
}

// =====================================================================================
// through the autograd layer
// =====================================================================================

namespace {
// A CUDA leaf holding the same values as a CPU leaf.
Tensor cuda_copy(const Tensor& t) {
  Tensor c = t.detach().to(Device::cuda);
  if (t.requires_grad()) c.set_requires_grad(true);
  return c;
}

void check_tensors(const Tensor& got_cuda, const Tensor& want_cpu, Tol tol, const std::string& what) {
  REQUIRE(got_cuda.device() == Device::cuda);
  REQUIRE(got_cuda.shape() == want_cpu.shape());
  check_close(got_cuda.to(Device::cpu).to_vector<float>(), want_cpu.to_vector<float>(), tol, what);
}

// loss = Σ f(inputs) ⊙ r with a fixed random r, on both devices; compares
// the forward values and every input gradient.
void compare_autograd(const std::string& what, const std::vector<Tensor>& cpu_inputs,
                      const std::function<Tensor(const std::vector<Tensor>&)>& f, Tol tol, Rng& rng) {
  std::vector<Tensor> cuda_inputs;
  for (const Tensor& t : cpu_inputs) cuda_inputs.push_back(t.requires_grad() ? cuda_copy(t) : t.to(Device::cuda));
  const Tensor y_cpu = f(cpu_inputs);
  const Tensor y_cuda = f(cuda_inputs);
  check_tensors(y_cuda, y_cpu, tol, what + " forward");
  const Tensor r = Tensor::randn(y_cpu.shape(), rng);
  sum(y_cpu * r).backward();
  sum(y_cuda * r.to(Device::cuda)).backward();
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    const Tensor g_cpu = cpu_inputs[i].grad();
    const Tensor g_cuda = cuda_inputs[i].grad();
    REQUIRE(g_cpu.defined());
    REQUIRE(g_cuda.defined());
    const Tol gtol{tol.rtol * 10, tol.atol * 10 + 1e-5 * max_abs(g_cpu.to_vector<float>())};
    check_tensors(g_cuda, g_cpu, gtol, what + " grad of input " + std::to_string(i));
  }
}

Tensor leaf(const Shape& shape, Rng& rng, double scale = 1.0) {
  return Tensor::randn(shape, rng, scale).set_requires_grad(true);
}
}  // namespace

TEST_CASE("cuda autograd: matmul, softmax, cross_entropy, rms_norm agree with the CPU") {
  Rng rng(21);
  compare_autograd(
      "matmul", {leaf({3, 37, 65}, rng), leaf({65, 29}, rng)},
      [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {1e-4, 1e-4}, rng);
  compare_autograd(
      "batched matmul with transposed view", {leaf({4, 33, 17}, rng), leaf({4, 40, 17}, rng)},
      [](const std::vector<Tensor>& in) { return matmul(in[0], in[1].transpose(-1, -2)); }, {1e-4, 1e-4}, rng);
  compare_autograd(
      "softmax", {leaf({7, 1000}, rng, 3.0)}, [](const std::vector<Tensor>& in) { return softmax(in[0], -1); },
      {1e-5, 1e-7}, rng);
  compare_autograd(
      "log_softmax inner axis", {leaf({4, 9, 33}, rng)},
      [](const std::vector<Tensor>& in) { return log_softmax(in[0], 1); }, {1e-5, 1e-6}, rng);
  std::vector<int32_t> targets = random_ints(rng, 64, 0, 1000);
  targets[5] = -100;
  const Tensor tg = Tensor::from_ints(targets, {8, 8});
  const Tensor tg_cuda = tg.to(Device::cuda);
  compare_autograd(
      "cross_entropy", {leaf({8, 8, 1000}, rng, 2.0)},
      [&](const std::vector<Tensor>& in) {
        return cross_entropy(in[0], in[0].device() == Device::cuda ? tg_cuda : tg).reshape({1});
      },
      {1e-5, 1e-6}, rng);
  compare_autograd(
      "rms_norm", {leaf({5, 33, 768}, rng), leaf({768}, rng)},
      [](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-5); }, {1e-5, 1e-6}, rng);
}

TEST_CASE("cuda autograd: causal_attention (T = 1024), sinkhorn and embedding agree with the CPU") {
  Rng rng(22);
  compare_autograd(
      "causal_attention", {leaf({1, 1024, 2, 64}, rng), leaf({1, 1024, 2, 64}, rng), leaf({1, 1024, 2, 64}, rng)},
      [](const std::vector<Tensor>& in) { return causal_attention(in[0], in[1], in[2]); }, {1e-4, 1e-5}, rng);
  compare_autograd(
      "sinkhorn", {leaf({64, 4, 4}, rng)}, [](const std::vector<Tensor>& in) { return sinkhorn(in[0], 20); },
      {2e-5, 1e-7}, rng);
  // Many repeated ids: the backward is an index_add with heavy duplication.
  std::vector<int32_t> ids = random_ints(rng, 4096, 0, 20);
  const Tensor id_cpu = Tensor::from_ints(ids, {64, 64});
  const Tensor id_cuda = id_cpu.to(Device::cuda);
  compare_autograd(
      "embedding", {leaf({100, 96}, rng)},
      [&](const std::vector<Tensor>& in) {
        return embedding(in[0], in[0].device() == Device::cuda ? id_cuda : id_cpu);
      },
      {1e-6, 1e-7}, rng);
}

// =====================================================================================
// determinism and the allocator
// =====================================================================================

TEST_CASE("cuda reductions and scatter-adds are bit-identical across runs") {
  Rng rng(23);
  for (DType t : kFloatTypes) {
    INFO("dtype " << dtype_name(t));
    {  // index_add with heavy duplication (the embedding backward)
      const int64_t dim = 1000, inner = 768, n_idx = 16384;
      auto idx = random_ints(rng, n_idx, 0, 10);
      const auto src = randn(rng, n_idx * inner);
      DeviceArray di(idx), ds(src, t);
      std::vector<std::vector<uint8_t>> runs;
      for (int run = 0; run < 2; ++run) {
        DeviceArray dy(t, dim * inner);
        gpu().fill(t, dy.get(), dim * inner, 0.0);
        gpu().index_add(t, dy.get(), di.as<int32_t>(), ds.get(), 1, dim, inner, n_idx);
        runs.push_back(dy.bytes());
      }
      CHECK(runs[0] == runs[1]);
    }
    {  // rms_norm backward (gx and the two-stage gw), sum
      const int64_t rows = 4096, C = 1024;
      const auto x = randn(rng, rows * C), w = randn(rng, C), gy = randn(rng, rows * C);
      DeviceArray dx(x, t), dw(w, t), dgy(gy, t);
      std::vector<std::vector<uint8_t>> runs;
      for (int run = 0; run < 2; ++run) {
        DeviceArray dy(t, rows * C), drstd(DType::f32, rows), dgx(t, rows * C), dgw(t, C), dsum(t, C);
        gpu().rms_norm(t, dx.get(), dw.get(), dy.get(), drstd.get(), rows, C, 1e-5f);
        gpu().rms_norm_backward(t, dx.get(), dw.get(), drstd.get(), dgy.get(), dgx.get(), dgw.get(), rows, C);
        gpu().sum(t, dgy.get(), dsum.get(), 1, rows, C);
        auto bytes = dgx.bytes();
        for (const DeviceArray* a : {&dgw, &dsum, &drstd}) {
          const auto b = a->bytes();
          bytes.insert(bytes.end(), b.begin(), b.end());
        }
        runs.push_back(bytes);
      }
      CHECK(runs[0] == runs[1]);
    }
    {  // cross-entropy forward and backward
      const int64_t rows = 512, V = 50257;
      const auto x = randn(rng, rows * V);
      const auto targets = random_ints(rng, rows, 0, V);
      const auto g = randn(rng, rows);
      DeviceArray dx(x, t), dt(targets), dg(g, t);
      std::vector<std::vector<uint8_t>> runs;
      for (int run = 0; run < 2; ++run) {
        DeviceArray dloss(t, rows), dlse(DType::f32, rows), dgx(t, rows * V);
        gpu().cross_entropy(t, dx.get(), dt.as<int32_t>(), dloss.get(), dlse.get(), rows, V, -100);
        gpu().cross_entropy_backward(t, dx.get(), dt.as<int32_t>(), dlse.get(), dg.get(), dgx.get(), rows, V, -100);
        auto bytes = dloss.bytes();
        for (const DeviceArray* a : {&dlse, &dgx}) {
          const auto b = a->bytes();
          bytes.insert(bytes.end(), b.begin(), b.end());
        }
        runs.push_back(bytes);
      }
      CHECK(runs[0] == runs[1]);
    }
    {  // attention backward
      const int64_t B = 2, T = 512, H = 4, D = 64, n = B * T * H * D;
      const auto q = randn(rng, n), k = randn(rng, n), v = randn(rng, n), go = randn(rng, n);
      DeviceArray dq(q, t), dk(k, t), dv(v, t), dgo(go, t), dout(t, n), dlse(DType::f32, B * H * T);
      gpu().attention(t, dq.get(), dk.get(), dv.get(), dout.get(), dlse.get(), B, T, H, D, 0.125, 0.1f, 3);
      std::vector<std::vector<uint8_t>> runs;
      for (int run = 0; run < 2; ++run) {
        DeviceArray dgq(t, n), dgk(t, n), dgv(t, n);
        gpu().attention_backward(t, dq.get(), dk.get(), dv.get(), dout.get(), dlse.get(), dgo.get(), dgq.get(),
                                 dgk.get(), dgv.get(), B, T, H, D, 0.125, 0.1f, 3);
        auto bytes = dgq.bytes();
        for (const DeviceArray* a : {&dgk, &dgv}) {
          const auto b = a->bytes();
          bytes.insert(bytes.end(), b.begin(), b.end());
        }
        runs.push_back(bytes);
      }
      CHECK(runs[0] == runs[1]);
    }
  }
}

TEST_CASE("cuda caching allocator: a warm op sequence makes no new system allocations") {
  Rng rng(24);
  const Tensor w = leaf({256, 128}, rng).detach().to(Device::cuda).set_requires_grad(true);
  const Tensor emb = leaf({1000, 256}, rng).detach().to(Device::cuda).set_requires_grad(true);
  const Tensor norm_w = Tensor::ones({128}, DType::f32, Device::cuda).set_requires_grad(true);
  const Tensor ids = Tensor::from_ints(random_ints(rng, 512, 0, 1000), {4, 128}, Device::cuda);
  const Tensor targets = Tensor::from_ints(random_ints(rng, 512, 0, 128), {4, 128}, Device::cuda);
  auto step = [&] {
    Tensor h = embedding(emb, ids);      // (4, 128, 256)
    h = rms_norm(matmul(h, w), norm_w);  // (4, 128, 128)
    Tensor qkv = h.reshape({4, 128, 2, 64});
    Tensor a = causal_attention(qkv, qkv, qkv).reshape({4, 128, 128});
    Tensor mixed = sinkhorn(h.reshape({4, 128, 8, 16}).slice(3, 0, 8), 5).reshape({4, 128, 64});  // (4, 128, 64)
    Tensor logits = gelu(a) + softmax(h, -1) + sum(mixed, {2}, true);
    Tensor loss = cross_entropy(logits, targets) + mean(topk(logits, 4).first);
    loss.backward();
    w.zero_grad();
    emb.zero_grad();
    norm_w.zero_grad();
  };
  for (int i = 0; i < 2; ++i) step();  // warm-up: every size class seen once
  gpu().synchronize();
  const AllocatorStats before = gpu().allocator_stats();
  for (int i = 0; i < 3; ++i) step();
  gpu().synchronize();
  const AllocatorStats after = gpu().allocator_stats();
  CHECK(after.requests > before.requests);
  CHECK(after.system_allocations == before.system_allocations);
}

// =====================================================================================

int main(int argc, char** argv) {
  if (!mhc::cuda_available()) {
    const size_t n = Catch::getRegistryHub().getTestCaseRegistry().getAllTests().size();
    std::printf("test_cuda_backend: SKIPPED — no CUDA GPU visible (%zu test cases not run)\n", n);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
