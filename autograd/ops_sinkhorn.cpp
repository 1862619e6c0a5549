// ops_sinkhorn.cpp — the Sinkhorn-Knopp op (mHC Eq. 9). One node on the
// tape for all 2·iters normalisations: its backward is the backend's exact
// gradient of the whole iterated map, recomputed from the saved logits,
// rather than autograd through 40 separate divisions.
#include "autograd/op_checks.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

Tensor sinkhorn(const Tensor& logits_in, int iters) {
  check_floating("sinkhorn", logits_in);
  if (logits_in.dim() < 2 || logits_in.size(-1) != logits_in.size(-2))
    throw_shape_error("sinkhorn", "expects (..., n, n) logits, got " + logits_in.shape().str());
  Tensor logits = logits_in.contiguous();
  const int64_t n = logits.size(-1);
  const int64_t M = logits.numel() / std::max<int64_t>(n * n, 1);
  Tensor out = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  backend_of(logits).sinkhorn(logits.dtype(), logits.data_ptr(), out.data_ptr(), M, n, iters);
  record(out, "sinkhorn", {&logits}, [L = logits.detach(), M, n, iters](const Tensor& g_in, const Node&) {
    Tensor g = g_in.contiguous();
    Tensor gl = Tensor::empty(L.shape(), L.dtype(), L.device());
    backend_of(L).sinkhorn_backward(L.dtype(), L.data_ptr(), g.data_ptr(), gl.data_ptr(), M, n, iters);
    return std::vector<Tensor>{gl};
  });
  return out;
}

}  // namespace mhc
