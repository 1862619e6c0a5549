// attention.cpp
#include "layers/attention.h"

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"
#include "layers/dropout_seeds.h"

namespace mhc {

CausalSelfAttention::CausalSelfAttention(int64_t width, int64_t heads, int64_t max_len, double rope_base,
                                         double attn_dropout, double resid_dropout, double init_std,
                                         double out_init_std, Rng& rng)
    : wq(width, width, false, init_std, rng),
      wk(width, width, false, init_std, rng),
      wv(width, width, false, init_std, rng),
      proj(width, width, false, out_init_std, rng),
      C_(width),
      H_(heads),
      max_len_(max_len),
      attn_dropout_(attn_dropout),
      resid_dropout_(resid_dropout) {
  if (heads < 1 || width % heads != 0)
    throw std::invalid_argument("attention: width " + std::to_string(width) + " is not divisible by " +
                                std::to_string(heads) + " heads");
  const int64_t D = width / heads;
  if (D % 2 != 0) throw std::invalid_argument("attention: head size " + std::to_string(D) + " must be even for RoPE");
  // θ_i = base^(−2i/D); angle(t, i) = t · θ_i.
  std::vector<float> c(max_len * (D / 2)), s(max_len * (D / 2));
  for (int64_t t = 0; t < max_len; ++t)
    for (int64_t i = 0; i < D / 2; ++i) {
      const double angle = static_cast<double>(t) * std::pow(rope_base, -2.0 * static_cast<double>(i) / D);
      c[t * (D / 2) + i] = static_cast<float>(std::cos(angle));
      s[t * (D / 2) + i] = static_cast<float>(std::sin(angle));
    }
  rope_cos = Tensor::from_vector(c, {max_len, D / 2});
  rope_sin = Tensor::from_vector(s, {max_len, D / 2});
  register_child("wq", &wq);
  register_child("wk", &wk);
  register_child("wv", &wv);
  register_child("proj", &proj);
  register_buffer("rope_cos", &rope_cos);
  register_buffer("rope_sin", &rope_sin);
}

Tensor CausalSelfAttention::forward(const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), D = C_ / H_;
  if (T > max_len_)
    throw std::invalid_argument("attention: sequence length " + std::to_string(T) + " exceeds the model's block size " +
                                std::to_string(max_len_));
  Tensor q = rope(wq.forward(x).reshape({B, T, H_, D}), rope_cos, rope_sin);  // (B, T, H, D)
  Tensor k = rope(wk.forward(x).reshape({B, T, H_, D}), rope_cos, rope_sin);
  Tensor v = wv.forward(x).reshape({B, T, H_, D});
  const double p_attn = training() ? attn_dropout_ : 0.0;
  Tensor y = causal_attention(q, k, v, p_attn, p_attn > 0 ? DropoutSeeds::next() : 0);  // (B, T, H, D)
  Tensor out = proj.forward(y.reshape({B, T, C_}));
  return training() && resid_dropout_ > 0 ? dropout(out, resid_dropout_, DropoutSeeds::next()) : out;
}

}  // namespace mhc
