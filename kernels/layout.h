// layout.h — fixed-capacity shape and stride arrays (no heap), and the
// (shape, strides) pair that describes how a strided view walks memory.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace mhc {

inline constexpr int kMaxDims = 8;

// A small vector of int64 with capacity kMaxDims. Used for shapes and strides.
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> v) {
    if (v.size() > kMaxDims) throw std::invalid_argument("more than 8 dimensions");
    for (int64_t x : v) d_[n_++] = x;
  }
  template <class It>
  Dims(It begin, It end) {
    for (; begin != end; ++begin) push_back(*begin);
  }
  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t back() const { return d_[n_ - 1]; }
  void push_back(int64_t x) {
    if (n_ == kMaxDims) throw std::invalid_argument("more than 8 dimensions");
    d_[n_++] = x;
  }
  void insert(int pos, int64_t x) {
    push_back(0);
    for (int i = n_ - 1; i > pos; --i) d_[i] = d_[i - 1];
    d_[pos] = x;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < n_; ++i) d_[i] = d_[i + 1];
    --n_;
  }
  void resize(int n, int64_t fill = 0) {
    if (n > kMaxDims) throw std::invalid_argument("more than 8 dimensions");
    for (int i = n_; i < n; ++i) d_[i] = fill;
    n_ = n;
  }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }
  int64_t* begin() { return d_.data(); }
  int64_t* end() { return d_.data() + n_; }
  int64_t product() const {
    int64_t p = 1;
    for (int i = 0; i < n_; ++i) p *= d_[i];
    return p;
  }
  bool operator==(const Dims& o) const {
    if (n_ != o.n_) return false;
    for (int i = 0; i < n_; ++i)
      if (d_[i] != o.d_[i]) return false;
    return true;
  }
  bool operator!=(const Dims& o) const { return !(*this == o); }
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < n_; ++i) s += (i ? ", " : "") + std::to_string(d_[i]);
    return s + ")";
  }

 private:
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

using Shape = Dims;
using Strides = Dims;

// Row-major (C order) strides of a shape, in elements.
// A shape viewed as (outer, dim, inner) around `axis`: the products of the
// sizes before it and after it.
inline void split_at_axis(const Shape& s, int axis, int64_t& outer, int64_t& dim, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  dim = s[axis];
  for (int d = axis + 1; d < s.size(); ++d) inner *= s[d];
}

inline Strides contiguous_strides(const Shape& shape) {
  Strides s;
  s.resize(shape.size());
  int64_t acc = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

// How a kernel walks a strided operand: element (i0..ik) lives at
// ptr + Σ index[d] * strides[d]. A stride of 0 repeats (broadcasts) a dimension.
struct Layout {
  Shape shape;
  Strides strides;
  int64_t numel() const { return shape.product(); }
  bool is_contiguous() const {
    int64_t acc = 1;
    for (int i = shape.size() - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != acc) return false;
      acc *= shape[i];
    }
    return true;
  }
};

}  // namespace mhc
