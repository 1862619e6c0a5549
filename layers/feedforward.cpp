// feedforward.cpp
#include "layers/feedforward.h"

#include <stdexcept>

#include "autograd/ops.h"
#include "layers/dropout_seeds.h"

namespace mhc {

FeedForward::FeedForward(int64_t width, int64_t hidden, FfnType kind, double dropout, double init_std,
                         double out_init_std, Rng& rng)
    : w1(width, hidden, false, init_std, rng),
      w2(hidden, width, false, out_init_std, rng),
      kind_(kind),
      dropout_(dropout) {
  if (kind == FfnType::Moe)
    throw std::invalid_argument("FeedForward: a dense kind, gelu or swiglu (moe is MoeFeedForward)");
  register_child("w1", &w1);
  if (kind_ == FfnType::SwiGLU) {
    w3 = std::make_unique<Linear>(width, hidden, false, init_std, rng);
    register_child("w3", w3.get());
  }
  register_child("w2", &w2);
}

Tensor FeedForward::forward(const Tensor& x) {
  Tensor h = kind_ == FfnType::Gelu ? gelu(w1.forward(x)) : silu(w1.forward(x)) * w3->forward(x);
  Tensor out = w2.forward(h);
  return training() && dropout_ > 0 ? dropout(out, dropout_, DropoutSeeds::next()) : out;
}

}  // namespace mhc
