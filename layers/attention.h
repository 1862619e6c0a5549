// attention.h — causal multi-head self-attention with rotary positions.
//   q, k, v = x W_q, x W_k, x W_v            (B, T, H, D) each, D = C / H
//   (three products rather than one split: each output is already in the
//   layout RoPE and the attention kernel read, so nothing is copied)
//   q, k    = RoPE(q), RoPE(k)                rotate-half pairs, base 10000
//   y       = softmax(q kᵀ / √D + causal mask) v
//   out     = dropout(y W_o)
// The sub-block's pre-norm is applied by the caller (the block), so this
// layer is F without its norm.
#pragma once
#include "layers/linear.h"

namespace mhc {

class CausalSelfAttention : public Module {
 public:
  CausalSelfAttention(int64_t width, int64_t heads, int64_t max_len, double rope_base, double attn_dropout,
                      double resid_dropout, double init_std, double out_init_std, Rng& rng);
  Tensor forward(const Tensor& x);  // (B, T, C) -> (B, T, C)

  Linear wq, wk, wv;          // (C, C) each
  Linear proj;                // (C, C)
  Tensor rope_cos, rope_sin;  // (max_len, D/2) f32 buffers

 private:
  int64_t C_, H_, max_len_;
  double attn_dropout_, resid_dropout_;
};

}  // namespace mhc
