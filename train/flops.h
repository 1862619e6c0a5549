// flops.h — the arithmetic of one training token, estimated from the model's
// configuration alone (the usual "6 N" count, extended to the residual
// streams), for `mhc report`'s confounds: a variant with more parameters or
// more work per token is not compared as if it had the same budget.
//
// Multiply-adds per token of the forward pass:
//   per block:  attention projections 4C², the feed-forward's matmuls (GELU
//               2·C·h, SwiGLU 3·C·h, MoE: the router C·E plus (top_k + shared)
//               SwiGLU experts), attention scores and values T·C (causal:
//               on average T/2 keys, for QKᵀ and for AV);
//   per site:   HC/mHC's coefficient projection (mHC φ: nC·(n² + 2n); HC
//               dynamic: n·C·(n + 2)) and the stream mixing H_res x, H_pre x,
//               H_post y: (n² + 2n)·C;
//   once:       the head C·V (tied or not), a learned collapse n·C·n.
// Training FLOPs = 6 × those (2 per multiply-add forward, twice that
// backward). Elementwise work (norms, softmax, Sinkhorn's n² per iteration)
// is left out: it is small beside these at every size mhc trains.
#pragma once
#include "layers/transformer.h"

namespace mhc {

// FLOPs of one training token (forward and backward) for a model of config c
// with c.vocab_size set; T = c.block_size.
double training_flops_per_token(const ModelConfig& c);

}  // namespace mhc
