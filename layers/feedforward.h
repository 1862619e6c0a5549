// feedforward.h — the dense feed-forward sub-blocks (without their pre-norm).
//   Gelu:   out = dropout(gelu(x W1) W2)                 (GPT-2 / nanoGPT MLP)
//   SwiGLU: out = dropout((silu(x W1) ⊙ x W3) W2)         (the expert shape of docs/design.md §7)
#pragma once
#include <string>

#include "layers/linear.h"

namespace mhc {

// The feed-forward of each block (--model.ffn): a dense GELU or SwiGLU MLP,
// or a mixture of experts (layers/moe.h, with --moe.dense_layers leading
// dense SwiGLU blocks). A FeedForward is one of the two dense kinds.
enum class FfnType { Gelu, SwiGLU, Moe };
inline constexpr EnumName<FfnType> kFfnTypeNames[] = {
    {"gelu", FfnType::Gelu}, {"swiglu", FfnType::SwiGLU}, {"moe", FfnType::Moe}};

class FeedForward : public Module {
 public:
  // kind: Gelu or SwiGLU (Moe is refused: experts are FeedForwards of their own).
  FeedForward(int64_t width, int64_t hidden, FfnType kind, double dropout, double init_std, double out_init_std,
              Rng& rng);
  Tensor forward(const Tensor& x);  // (..., C) -> (..., C)

  Linear w1;                   // (C, hidden)
  std::unique_ptr<Linear> w3;  // (C, hidden), SwiGLU only
  Linear w2;                   // (hidden, C)

 private:
  FfnType kind_;
  double dropout_;
};

}  // namespace mhc
