// feedforward.cpp
#include "layers/feedforward.h"

#include <stdexcept>

#include "autograd/ops.h"
#include "layers/dropout_seeds.h"

namespace mhc {

FfnKind parse_ffn_kind(const std::string& name) {
  if (name == "gelu") return FfnKind::Gelu;
  if (name == "swiglu") return FfnKind::SwiGLU;
  throw std::invalid_argument("unknown feed-forward kind '" + name + "' (expected gelu or swiglu)");
}

FeedForward::FeedForward(int64_t width, int64_t hidden, FfnKind kind, double dropout, double init_std,
                         double out_init_std, Rng& rng)
    : w1(width, hidden, false, init_std, rng), w2(hidden, width, false, out_init_std, rng), kind_(kind), dropout_(dropout) {
  register_child("w1", &w1);
  if (kind_ == FfnKind::SwiGLU) {
    w3 = std::make_unique<Linear>(width, hidden, false, init_std, rng);
    register_child("w3", w3.get());
  }
  register_child("w2", &w2);
}

Tensor FeedForward::forward(const Tensor& x) {
  Tensor h = kind_ == FfnKind::Gelu ? gelu(w1.forward(x)) : silu(w1.forward(x)) * w3->forward(x);
  Tensor out = w2.forward(h);
  return training() && dropout_ > 0 ? dropout(out, dropout_, DropoutSeeds::next()) : out;
}

}  // namespace mhc
