// test_cuda_contract.cpp — the CUDA backend's host-side contract, without a
// GPU (it runs in every build and in CI):
//   * every entry point's check (kernels/cuda_contract.h) accepts and refuses
//     exactly the dtypes the contract promises, and its size rules;
//   * the real model — residual, HC and mHC sites (fused mHC kernels, selective
//     recompute on and off), dense and MoE FFN, f32 and bf16 mixed precision —
//     takes a training step (forward, backward, AdamW) on a dry-run CUDA
//     backend (dry_cuda_backend.h) that makes the contract check of every
//     call: no call may break it, and the checks must actually have run;
//   * in a bf16 run the coefficient path of HC and mHC sites is f32: every
//     coefficient tensor of the graph, and all arithmetic besides the fused
//     kernels' stream side.
#include <catch2/catch.hpp>

#include <climits>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "dry_cuda_backend.h"
#include "kernels/cuda_contract.h"
#include "kernels/sinkhorn_contract.h"
#include "layers/dropout_seeds.h"
#include "layers/hyper_connection.h"
#include "layers/manifold_hyper_connection.h"
#include "layers/transformer.h"
#include "train/optimizer.h"

using namespace mhc;
using Catch::Contains;
namespace cc = mhc::cuda_contract;

namespace {

// Pointers the checks may look at but never dereference (only attention
// looks, at their alignment): 256-byte aligned, like cudaMalloc's.
alignas(256) float g_buffer[64];
void* p() { return g_buffer; }
const float* fp() { return g_buffer; }
int32_t* ip() { return reinterpret_cast<int32_t*>(g_buffer); }

// What an entry point accepts as its dtype argument.
enum class Accepts {
  AnyDtype,  // data movement: f32, bf16, f64, i32
  Stream,    // f32, bf16
  Coeff,     // f32 only (the mHC coefficient path)
};

struct Row {
  const char* name;
  Accepts accepts;
  std::function<void(DType)> call;  // valid arguments apart from the dtype
};

bool accepted(Accepts a, DType t) {
  switch (a) {
    case Accepts::AnyDtype: return true;
    case Accepts::Stream: return t == DType::f32 || t == DType::bf16;
    case Accepts::Coeff: return t == DType::f32;
  }
  return false;
}

Layout contiguous_layout(const Shape& s) { return {s, contiguous_strides(s)}; }

GemmArgs small_gemm(DType t) {
  GemmArgs g;
  g.dtype = t;
  g.M = 2, g.N = 3, g.K = 4;
  g.a = p(), g.b = p(), g.c = p();
  g.lda = 4, g.ldb = 3, g.ldc = 3;
  return g;
}

// One row per contract function with a dtype argument — 34 of the 37, cast
// with a row for each of its two dtypes; count_not_equal and moe_dispatch
// (i32 ids) and adamw (f32 weights) have fixed types and are checked below.
// The name is the primitive as its errors name it. Data movement keeps
// accepting f64 (the GPU moves, never computes with, f64: Tensor::to and the
// CUDA backend tests rely on it); everything that computes refuses it.
std::vector<Row> dtype_table() {
  const Shape s{2, 3};
  const Layout l = contiguous_layout(s);
  return {
      {"fill", Accepts::AnyDtype, [](DType t) { cc::fill(t, p(), 4, 1.0); }},
      {"copy_strided", Accepts::AnyDtype, [l](DType t) { cc::copy_strided(t, p(), l, p(), l); }},
      {"cast (from)", Accepts::AnyDtype, [](DType t) { cc::cast(t, p(), DType::f32, p(), 4); }},
      {"cast (to)", Accepts::AnyDtype, [](DType t) { cc::cast(DType::f32, p(), t, p(), 4); }},
      {"gather", Accepts::AnyDtype, [](DType t) { cc::gather(t, p(), ip(), p(), 1, 4, 2, 2); }},
      {"exp", Accepts::Stream, [](DType t) { cc::unary(UnaryOp::Exp, t, p(), p(), 4); }},
      {"tanh", Accepts::Stream, [](DType t) { cc::unary_backward(UnaryOp::Tanh, t, p(), p(), p(), p(), 4); }},
      {"affine", Accepts::Stream, [](DType t) { cc::affine(t, p(), p(), 4, 2.0, 1.0); }},
      {"add", Accepts::Stream, [l, s](DType t) { cc::binary(BinaryOp::Add, t, p(), l, p(), l, p(), s); }},
      {"dropout", Accepts::Stream, [](DType t) { cc::dropout(t, p(), p(), 4, 0.1f, 7); }},
      {"sum", Accepts::Stream, [](DType t) { cc::sum(t, p(), p(), 2, 3, 4); }},
      {"gemm", Accepts::Stream, [](DType t) { cc::gemm(small_gemm(t)); }},
      {"softmax", Accepts::Stream, [](DType t) { cc::softmax(t, p(), p(), 2, 3, 1, false); }},
      {"log_softmax", Accepts::Stream, [](DType t) { cc::softmax_backward(t, p(), p(), p(), 2, 3, 1, true); }},
      {"cross_entropy", Accepts::Stream, [](DType t) { cc::cross_entropy(t, p(), ip(), p(), p(), 2, 5, -1); }},
      {"cross_entropy", Accepts::Stream,
       [](DType t) { cc::cross_entropy_backward(t, p(), ip(), p(), p(), p(), 2, 5, -1); }},
      {"rms_norm", Accepts::Stream, [](DType t) { cc::rms_norm(t, p(), p(), p(), p(), 2, 8, 1e-6f); }},
      {"rms_norm", Accepts::Stream, [](DType t) { cc::rms_norm_backward(t, p(), p(), p(), p(), p(), p(), 2, 8); }},
      {"index_add", Accepts::Stream, [](DType t) { cc::index_add(t, p(), ip(), p(), 1, 4, 2, 3); }},
      {"gather_last", Accepts::Stream, [](DType t) { cc::gather_last(t, p(), ip(), p(), 2, 5, 2); }},
      {"scatter_add_last", Accepts::Stream, [](DType t) { cc::scatter_add_last(t, p(), ip(), p(), 2, 5, 2); }},
      {"topk", Accepts::Stream, [](DType t) { cc::topk(t, p(), p(), ip(), 2, 5, 2); }},
      {"sinkhorn", Accepts::Stream, [](DType t) { cc::sinkhorn(t, p(), p(), 3, 4, 20); }},
      {"sinkhorn_backward", Accepts::Stream, [](DType t) { cc::sinkhorn_backward(t, p(), p(), p(), 3, 4, 20); }},
      {"attention", Accepts::Stream,
       [](DType t) { cc::attention(t, p(), p(), p(), p(), p(), 1, 8, 2, 32, 0.2, 0.f, 1); }},
      {"attention_backward", Accepts::Stream,
       [](DType t) {
         cc::attention_backward(t, p(), p(), p(), p(), p(), p(), p(), p(), p(), 1, 8, 2, 32, 0.2, 0.f, 1);
       }},
      {"mhc_project", Accepts::Stream, [](DType t) { cc::mhc_project(t, p(), p(), p(), p(), 5, 12, 24, 1e-6f); }},
      {"mhc_project_backward", Accepts::Stream,
       [](DType t) { cc::mhc_project_backward(t, p(), p(), p(), p(), p(), p(), 5, 12, 24); }},
      {"mhc_gates", Accepts::Coeff, [](DType t) { cc::mhc_gates(t, p(), p(), p(), p(), 5, 4, 20, true); }},
      {"mhc_gates_backward", Accepts::Coeff,
       [](DType t) { cc::mhc_gates_backward(t, p(), p(), p(), p(), p(), 5, 4, 20, true); }},
      {"mhc_pre", Accepts::Stream, [](DType t) { cc::mhc_pre(t, p(), p(), p(), 5, 4, 3); }},
      {"mhc_pre_backward", Accepts::Stream, [](DType t) { cc::mhc_pre_backward(t, p(), p(), p(), p(), p(), 5, 4, 3); }},
      {"mhc_post", Accepts::Stream, [](DType t) { cc::mhc_post(t, p(), p(), p(), p(), 5, 4, 3); }},
      {"mhc_post_backward", Accepts::Stream,
       [](DType t) { cc::mhc_post_backward(t, p(), p(), p(), p(), p(), p(), p(), 5, 4, 3); }},
      {"rope", Accepts::Stream, [](DType t) { cc::rope(t, p(), fp(), fp(), p(), 1, 4, 2, 8, false); }},
  };
}

}  // namespace

TEST_CASE("cuda contract: each entry point accepts exactly its dtypes", "[cuda_contract]") {
  const auto table = dtype_table();
  CHECK(table.size() == 35);  // the 34 contract functions that take a dtype, cast twice
  for (const Row& row : table)
    for (DType t : {DType::f32, DType::bf16, DType::f64, DType::i32}) {
      INFO(row.name << " with " << dtype_name(t));
      if (accepted(row.accepts, t)) {
        CHECK_NOTHROW(row.call(t));
      } else {
        // The error names the primitive and the dtype.
        CHECK_THROWS_WITH(row.call(t), Contains(std::string("cuda ") + row.name + ": dtype " + dtype_name(t)) &&
                                           Contains("not supported"));
      }
    }
  // f64 reaches no arithmetic on the GPU; the coefficient path is f32 only.
  CHECK_THROWS_WITH(cc::unary(UnaryOp::Exp, DType::f64, p(), p(), 4), Contains("cuda exp: dtype f64"));
  CHECK_THROWS_WITH(cc::gemm(small_gemm(DType::f64)), Contains("cuda gemm: dtype f64"));
  CHECK_THROWS_WITH(cc::mhc_gates(DType::bf16, p(), p(), p(), p(), 5, 4, 20, true),
                    Contains("cuda mhc_gates: dtype bf16") && Contains("coefficient path is f32"));
  CHECK_THROWS_WITH(cc::mhc_gates_backward(DType::bf16, p(), p(), p(), p(), p(), 5, 4, 20, true),
                    Contains("cuda mhc_gates_backward: dtype bf16"));
  // Entry points with fixed types still check their sizes.
  CHECK_NOTHROW(cc::count_not_equal(ip(), 4, -1, static_cast<float*>(p())));
  CHECK_NOTHROW(cc::moe_dispatch(ip(), 3, 2, 4, ip(), ip(), ip()));
  const AdamWTensor one{
      static_cast<float*>(p()), fp(), static_cast<float*>(p()), static_cast<float*>(p()), nullptr, 4, 0.1f};
  CHECK_NOTHROW(cc::adamw_multi(&one, 1, AdamWHyper{1e-3f, 0.9f, 0.99f, 1e-8f, 0.1f, 0.01f, 1.f}));
}

TEST_CASE("cuda contract: size rules beyond the dtype", "[cuda_contract]") {
  SECTION("mHC sites: n in 1..8, P = 2n + n², at most 64 Sinkhorn iterations") {
    for (int64_t n = 1; n <= 8; ++n) {
      CHECK_NOTHROW(cc::mhc_project(DType::bf16, p(), p(), p(), p(), 5, 3 * n, 2 * n + n * n, 1e-6f));
      CHECK_NOTHROW(cc::mhc_pre(DType::bf16, p(), p(), p(), 5, n, 3));
    }
    for (int64_t P : {0, 2, 5, 9, 99})
      CHECK_THROWS_WITH(cc::mhc_project(DType::f32, p(), p(), p(), p(), 5, 12, P, 1e-6f),
                        Contains("cuda mhc_project: P = " + std::to_string(P) + " is not 2n + n²"));
    CHECK_THROWS_WITH(cc::mhc_project_backward(DType::f32, p(), p(), p(), p(), p(), p(), 5, 12, 7),
                      Contains("mhc_project_backward: P = 7"));
    for (int64_t n : {0, 9}) {
      CHECK_THROWS_WITH(cc::mhc_pre(DType::f32, p(), p(), p(), 5, n, 3), Contains("cuda mhc_pre: n must be in 1..8"));
      CHECK_THROWS_WITH(cc::mhc_post_backward(DType::f32, p(), p(), p(), p(), p(), p(), p(), 5, n, 3),
                        Contains("cuda mhc_post_backward: n must be in 1..8"));
      CHECK_THROWS_WITH(cc::mhc_gates(DType::f32, p(), p(), p(), p(), 5, n, 20, true), Contains("1 ≤ n ≤ 8"));
      CHECK_THROWS_WITH(cc::sinkhorn(DType::f32, p(), p(), 3, n, 20), Contains("cuda sinkhorn: matrices must be n×n"));
    }
    CHECK_NOTHROW(cc::mhc_gates(DType::f32, p(), p(), p(), p(), 5, 4, kSinkhornMaxIters, true));
    CHECK_THROWS_WITH(cc::mhc_gates(DType::f32, p(), p(), p(), p(), 5, 4, kSinkhornMaxIters + 1, true),
                      Contains("at most 64 Sinkhorn iterations"));
    CHECK_THROWS_WITH(cc::mhc_gates_backward(DType::f32, p(), p(), p(), p(), p(), 5, 4, 0, true),
                      Contains("at least 1 iteration"));
    CHECK_THROWS_WITH(cc::sinkhorn_backward(DType::bf16, p(), p(), p(), 3, 4, 65), Contains("at most 64"));
  }
  SECTION("attention: head dims 1..128, dropout in [0, 1), grids that fit") {
    auto fwd = [](DType t, int64_t B, int64_t T, int64_t H, int64_t D, float drop, void* q = p()) {
      cc::attention(t, q, p(), p(), p(), p(), B, T, H, D, 0.1, drop, 1);
    };
    CHECK_NOTHROW(fwd(DType::f32, 1, 8, 2, 1, 0.f));
    CHECK_NOTHROW(fwd(DType::bf16, 1, 8, 2, 128, 0.5f));
    for (int64_t D : {0, 129, 256})
      CHECK_THROWS_WITH(fwd(DType::f32, 1, 8, 2, D, 0.f),
                        Contains("cuda attention: head dim D = " + std::to_string(D)));
    CHECK_THROWS_WITH(
        cc::attention_backward(DType::bf16, p(), p(), p(), p(), p(), p(), p(), p(), p(), 1, 8, 2, 200, 0.1, 0.f, 1),
        Contains("cuda attention_backward: head dim"));
    for (float drop : {1.f, -0.1f, std::numeric_limits<float>::quiet_NaN()})
      CHECK_THROWS_WITH(fwd(DType::f32, 1, 8, 2, 32, drop), Contains("dropout probability"));
    // The tensor-core path (bf16, D ∈ {32, 64, 96, 128}, 16-byte aligned
    // operands) puts B·H on gridDim.y: at most 65535. An unaligned operand
    // takes the FMA kernels, whose grid has room.
    void* unaligned = reinterpret_cast<char*>(g_buffer) + 4;
    CHECK(cc::attention_uses_tensor_cores(DType::bf16, 64, {p(), p()}));
    CHECK_FALSE(cc::attention_uses_tensor_cores(DType::bf16, 40, {p()}));
    CHECK_FALSE(cc::attention_uses_tensor_cores(DType::f32, 64, {p()}));
    CHECK_FALSE(cc::attention_uses_tensor_cores(DType::bf16, 64, {p(), unaligned}));
    CHECK_NOTHROW(fwd(DType::bf16, 256, 8, 255, 64, 0.f));
    CHECK_THROWS_WITH(fwd(DType::bf16, 256, 8, 256, 64, 0.f), Contains("B·H = 65536 is above 65535"));
    CHECK_NOTHROW(fwd(DType::bf16, 256, 8, 256, 64, 0.f, unaligned));
    CHECK_THROWS_WITH(fwd(DType::f32, int64_t{1} << 16, int64_t{1} << 12, 256, 64, 0.f), Contains("does not fit"));
    CHECK_THROWS_WITH(fwd(DType::f32, -1, 8, 2, 32, 0.f), Contains("B = -1 must not be negative"));
  }
  SECTION("products: cuBLAS's 32-bit sizes and leading dimensions") {
    GemmArgs g = small_gemm(DType::f32);
    CHECK_NOTHROW(cc::gemm(g));
    g.ldc = 2;
    CHECK_THROWS_WITH(cc::gemm(g), Contains("cuda gemm: ldc = 2 is below N = 3"));
    g = small_gemm(DType::bf16);
    g.lda = 3;  // A is M×K = 2×4 stored row-major
    CHECK_THROWS_WITH(cc::gemm(g), Contains("lda = 3 is below the stored row length 4"));
    g.trans_a = true;  // stored K×M: rows of M = 2
    CHECK_NOTHROW(cc::gemm(g));
    g.trans_b = true;  // stored N×K: rows of K = 4 > ldb = 3
    CHECK_THROWS_WITH(cc::gemm(g), Contains("ldb = 3 is below the stored row length 4"));
    g = small_gemm(DType::f32);
    g.K = int64_t{1} << 31;
    g.lda = g.K;
    CHECK_THROWS_WITH(cc::gemm(g), Contains("K = 2147483648 does not fit"));
    g.K = 0;  // never reaches cuBLAS: C = beta·C
    g.lda = 0;
    CHECK_NOTHROW(cc::gemm(g));
    g.M = -2;
    CHECK_THROWS_WITH(cc::gemm(g), Contains("M = -2 must not be negative"));
  }
  SECTION("layouts, indices, dispatch, positions, dropout") {
    const Layout l23 = contiguous_layout({2, 3}), l32 = contiguous_layout({3, 2});
    CHECK_THROWS_WITH(cc::copy_strided(DType::i32, p(), l23, p(), l32), Contains("cuda copy_strided"));
    CHECK_THROWS_WITH(cc::binary(BinaryOp::Mul, DType::f32, p(), l23, p(), l32, p(), Shape{2, 3}),
                      Contains("cuda mul: the second operand's layout has shape (3, 2)"));
    CHECK_THROWS_WITH(cc::topk(DType::f32, p(), p(), ip(), 2, 5, 6), Contains("cuda topk: k = 6 but the axis has 5"));
    CHECK_THROWS_WITH(cc::topk(DType::bf16, p(), p(), ip(), 2, 5, -1), Contains("k = -1"));
    CHECK_NOTHROW(cc::topk(DType::bf16, p(), p(), ip(), 2, 5, 5));
    CHECK_THROWS_WITH(cc::index_add(DType::f32, p(), ip(), p(), 1, 4, 2, int64_t{1} << 31), Contains("does not fit"));
    CHECK_THROWS_WITH(cc::moe_dispatch(ip(), -3, 2, 4, ip(), ip(), ip()), Contains("tokens = -3 must not be negative"));
    CHECK_THROWS_WITH(cc::moe_dispatch(ip(), int64_t{1} << 30, 2, 4, ip(), ip(), ip()), Contains("does not fit"));
    CHECK_THROWS_WITH(cc::rope(DType::f32, p(), fp(), fp(), p(), 1, 4, 2, 7, false), Contains("D = 7 must be even"));
    CHECK_THROWS_WITH(cc::dropout(DType::bf16, p(), p(), 4, 1.f, 0), Contains("cuda dropout: dropout probability"));
    CHECK_THROWS_WITH(cc::sum(DType::f32, p(), p(), -1, 3, 1), Contains("cuda sum: outer = -1"));
    CHECK_THROWS_WITH(cc::count_not_equal(ip(), -1, 0, static_cast<float*>(p())), Contains("n = -1"));
    const AdamWTensor bad{
        static_cast<float*>(p()), fp(), static_cast<float*>(p()), static_cast<float*>(p()), nullptr, -4, 0.1f};
    CHECK_THROWS_WITH(cc::adamw_multi(&bad, 1, AdamWHyper{}), Contains("cuda adamw_multi: tensor 0 of 1 has n = -4"));
  }
}

// =====================================================================================
// the model on the dry-run CUDA backend
// =====================================================================================

namespace {

struct Variant {
  const char* name;
  ResidualKind kind;
  int64_t streams;
  bool recompute;
};
constexpr Variant kVariants[] = {{"residual", ResidualKind::Residual, 1, false},
                                 {"hc", ResidualKind::HC, 4, false},
                                 {"mhc (fused)", ResidualKind::MHC, 4, false},
                                 {"mhc (fused, recompute)", ResidualKind::MHC, 4, true}};

ModelConfig dry_model_config(const Variant& v, const std::string& ffn) {
  ModelConfig c;
  c.vocab_size = 40;
  c.block_size = 16;
  c.blocks = 2;
  c.width = 64;
  c.heads = 2;  // head dim 32: bf16 attention takes the tensor-core path
  c.ffn = parse_ffn_type(ffn);
  c.dense_layers = ffn == "moe" ? 1 : 0;  // one dense block, one MoE block
  c.moe.routed = 4;
  c.moe.top_k = 2;
  c.moe.shared = 1;
  c.moe.hidden = 32;
  c.dropout = 0.1;
  c.attn_dropout = 0.1;
  c.site.kind = v.kind;
  c.site.streams = v.streams;
  c.recompute = v.recompute;
  return c;
}

// One training step the way train/trainer.cpp takes it on CUDA.
void train_step(Transformer& model, AdamW& opt, int64_t B, int64_t T, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> xs(B * T), ys(B * T);
  for (auto& t : xs) t = static_cast<int32_t>(rng.below(model.config().vocab_size));
  for (auto& t : ys) t = static_cast<int32_t>(rng.below(model.config().vocab_size));
  model.train(true);
  opt.zero_grad();
  DropoutSeeds::begin_step(seed, 0);
  Tensor loss =
      model.loss(Tensor::from_ints(xs, {B, T}).to(Device::cuda), Tensor::from_ints(ys, {B, T}).to(Device::cuda));
  REQUIRE(loss.dtype() == DType::f32);
  loss.backward();
  REQUIRE(std::isfinite(loss.item()));
  const double norm = opt.grad_norm();
  REQUIRE(std::isfinite(norm));
  opt.step(1e-3, 1.0);
  for (MoeFeedForward* moe : model.moe_layers()) moe->update_bias();
}

}  // namespace

TEST_CASE("cuda contract: the model's training step keeps it (dry-run backend, f32 and bf16)",
          "[cuda_contract][model]") {
  for (const Variant& v : kVariants)
    for (const std::string ffn : {"swiglu", "moe"})
      for (DType dt : {DType::f32, DType::bf16}) {
        INFO(v.name << " / " << ffn << " / " << dtype_name(dt));
        test::DryCudaBackend dry;
        test::DryCudaScope scope(dry);
        {
          Transformer model(dry_model_config(v, ffn), 7);
          model.to(Device::cuda);
          model.set_compute_dtype(dt);  // as the trainer does for --dtype
          AdamW opt(model.parameters(), AdamWConfig{});
          // A contract violation anywhere in the step throws here, naming the primitive.
          train_step(model, opt, 2, 16, 3);
          INFO("contract checks: " << dry.report());

          // The checks ran, with the dtypes the trainer's CUDA step uses.
          for (const char* op : {"gemm", "attention", "attention_backward", "rms_norm", "rms_norm_backward", "rope",
                                 "dropout", "unary", "unary_backward", "binary"})
            CHECK(dry.calls(op, dt) > 0);
          CHECK(dry.calls("gather", DType::f32) > 0);         // the embedding, on f32 weights
          CHECK(dry.calls("index_add", DType::f32) > 0);      // its gradient
          CHECK(dry.calls("cross_entropy", DType::f32) > 0);  // the loss is f32
          CHECK(dry.calls("cross_entropy_backward", DType::f32) > 0);
          CHECK(dry.calls("count_not_equal") == 1);
          int64_t with_grad = 0;
          for (const auto& prm : model.parameters()) {
            INFO(prm.name);
            CHECK(prm.tensor->grad().defined());  // every parameter is reached by the backward
            CHECK(prm.tensor->grad().dtype() == DType::f32);
            with_grad += prm.tensor->grad().defined();
          }
          CHECK(with_grad == static_cast<int64_t>(model.parameters().size()));
          CHECK(dry.calls("adamw_multi", DType::f32) == 1);  // one call updates every parameter
          if (ffn == "moe") {
            CHECK(dry.calls("topk", DType::f32) > 0);  // the router runs in f32
            CHECK(dry.calls("moe_dispatch") == 1);
            CHECK(dry.calls("gather_last", DType::f32) > 0);
            CHECK(dry.calls("scatter_add_last", DType::f32) > 0);
          }
          const int64_t sites = 2 * model.config().blocks;
          if (v.kind == ResidualKind::MHC) {
            // Fused kernels (prefers_fused_mhc): the streams in the compute
            // dtype, the gates on their f32 coefficients — also in bf16 runs.
            CHECK(dry.calls("mhc_project", dt) == sites);
            CHECK(dry.calls("mhc_project_backward", dt) == sites);
            CHECK(dry.calls("mhc_gates", DType::f32) == sites);
            CHECK(dry.calls("mhc_gates_backward", DType::f32) == sites);
            CHECK(dry.calls("mhc_gates") == sites);
            CHECK(dry.calls("mhc_pre", dt) == sites);
            CHECK(dry.calls("mhc_pre_backward", dt) == sites);
            CHECK(dry.calls("mhc_post_backward", dt) == sites);
            // With recompute, the backward rebuilds the stream states with more mhc_post calls.
            if (v.recompute)
              CHECK(dry.calls("mhc_post", dt) > sites);
            else
              CHECK(dry.calls("mhc_post", dt) == sites);
          } else {
            CHECK(dry.calls("mhc_gates") == 0);
          }
          if (v.kind == ResidualKind::HC) CHECK(dry.calls("rms_norm", DType::f32) >= sites);  // HC's stream statistic
        }
        CHECK(dry.allocator_stats().bytes_in_use == 0);  // everything on the dry device went back
      }
}

// =====================================================================================
// the coefficient path of HC and mHC sites is f32 in bf16 runs
// =====================================================================================

namespace {

struct SiteVariant {
  const char* name;
  ResidualKind kind;
  bool hc_dynamic;
  SiteConfig::Fused fused;
};
constexpr SiteVariant kSiteVariants[] = {{"HC (dynamic)", ResidualKind::HC, true, SiteConfig::Fused::Auto},
                                         {"HC (static)", ResidualKind::HC, false, SiteConfig::Fused::Auto},
                                         {"mHC (fused)", ResidualKind::MHC, true, SiteConfig::Fused::On},
                                         {"mHC (composed)", ResidualKind::MHC, true, SiteConfig::Fused::Off}};

// n = 4 and C = 10: no coefficient tensor ((…, n), (…, n, n + 1), (…, n + 2),
// (…, 2n + n²), (…, nC)) has a last axis of C, every stream tensor has.
constexpr int64_t kN = 4, kC = 10;

std::unique_ptr<ResidualSite> make_dry_site(const SiteVariant& v) {
  SiteConfig c;
  c.kind = v.kind;
  c.streams = kN;
  c.width = kC;
  c.hc_dynamic = v.hc_dynamic;
  c.fused = v.fused;
  Rng rng(4);
  auto site = make_site(c, 1, rng);
  site->to(Device::cuda);
  return site;
}

// F = the identity: the sub-block adds no arithmetic of its own.
Tensor identity(const Tensor& h) { return h; }

}  // namespace

TEST_CASE("cuda contract, bf16 streams: every coefficient tensor of HC and mHC sites is f32", "[cuda_contract][bf16]") {
  for (const SiteVariant& v : kSiteVariants) {
    INFO(v.name);
    test::DryCudaBackend dry;
    test::DryCudaScope scope(dry);
    {
      auto site = make_dry_site(v);
      Rng rng(5);
      Tensor x = Tensor::randn({2, 3, kN, kC}, rng).to(DType::bf16).to(Device::cuda).detach().set_requires_grad(true);
      Tensor out = site->forward(x, identity);
      REQUIRE(out.dtype() == DType::bf16);
      // Every tensor the output was computed from: stream tensors (last axis
      // C) may be bf16; every coefficient tensor, and every statistic of the
      // streams (RMSNorm outputs), must be f32.
      int64_t coefficient_tensors = 0;
      for (const auto& t : topological_order(out)) {
        const char* op = t->grad_fn ? t->grad_fn->op : "leaf";
        INFO("tensor " << t->shape.str() << " " << dtype_name(t->dtype) << " from " << op);
        if (t->shape[t->shape.size() - 1] != kC) {
          ++coefficient_tensors;
          CHECK(t->dtype == DType::f32);
        }
        if (std::string(op) == "rms_norm") CHECK(t->dtype == DType::f32);
      }
      CHECK(coefficient_tensors >= 3);
      out.backward(Tensor::ones(out.shape(), DType::bf16, Device::cuda));
      for (const auto& prm : site->parameters()) {
        INFO(prm.name);
        REQUIRE(prm.tensor->grad().defined());
        CHECK(prm.tensor->grad().dtype() == DType::f32);
      }
    }
  }
}

TEST_CASE("cuda contract, bf16 streams: HC and mHC sites do all coefficient arithmetic and its gradients in f32",
          "[cuda_contract][bf16]") {
  // The streams need no gradient here, so the only bf16 arithmetic left is
  // the fused kernels' stream side (whose coefficient operands the op layer
  // checks are f32); everything else, forward and backward — norm
  // statistics, projections, tanh, gates, Sinkhorn, the mixes, the
  // reductions of the parameter gradients — must run in f32.
  const std::set<std::string> bf16_allowed = {"fill",        "copy_strided",     "cast",
                                              "gather",  // data movement
                                              "mhc_project", "mhc_pre",          "mhc_pre_backward",
                                              "mhc_post",    "mhc_post_backward"};
  for (const SiteVariant& v : kSiteVariants) {
    INFO(v.name);
    test::DryCudaBackend dry;
    test::DryCudaScope scope(dry);
    {
      auto site = make_dry_site(v);
      Rng rng(6);
      Tensor x = Tensor::randn({2, 3, kN, kC}, rng).to(DType::bf16).to(Device::cuda);
      Tensor seed = Tensor::ones({2, 3, kN, kC}, DType::bf16, Device::cuda);
      dry.reset_counts();
      site->forward(x, identity).backward(seed);
      INFO("contract checks: " << dry.report());
      for (const std::string& op : dry.ops_called()) {
        INFO(op);
        if (!bf16_allowed.count(op)) CHECK(dry.calls(op, DType::bf16) == 0);
      }
      // The f32 arithmetic did run.
      CHECK(dry.calls("gemm", DType::f32) > 0);
      if (v.kind == ResidualKind::HC && v.hc_dynamic) {
        CHECK(dry.calls("rms_norm", DType::f32) == 1);
        CHECK(dry.calls("unary", DType::f32) >= 1);  // tanh
      }
      if (v.fused == SiteConfig::Fused::On) {
        CHECK(dry.calls("mhc_gates", DType::f32) == 1);
        CHECK(dry.calls("mhc_gates_backward", DType::f32) == 1);
      }
      if (v.fused == SiteConfig::Fused::Off) {
        CHECK(dry.calls("rms_norm", DType::f32) == 1);
        CHECK(dry.calls("sinkhorn", DType::f32) == 1);
        CHECK(dry.calls("sinkhorn_backward", DType::f32) == 1);
      }
      for (const auto& prm : site->parameters()) CHECK(prm.tensor->grad().defined());
    }
  }
}

// The dry backend's methods are generated from kernels/backend_ops.def; the
// few that do real work get it from an overload chosen by the primitive's
// argument types. A signature that drifted from the list would silently fall
// back to "check and count only", which this catches.
TEST_CASE("dry cuda backend: data movement and read-back results are real", "[cuda_contract]") {
  test::DryCudaBackend dry;
  std::vector<float> a(6, 0.f), b(6, 0.f);
  dry.fill(DType::f32, a.data(), 6, 2.5);
  CHECK(a == std::vector<float>(6, 2.5f));
  for (int i = 0; i < 6; ++i) a[i] = float(i);
  const Shape shape{3, 2};  // a (2, 3) read transposed
  dry.copy_strided(DType::f32, a.data(), Layout{shape, Strides{1, 3}}, b.data(),
                   Layout{shape, contiguous_strides(shape)});
  CHECK(b == std::vector<float>{0, 3, 1, 4, 2, 5});
  std::vector<double> d(6, 0.0);
  dry.cast(DType::f32, a.data(), DType::f64, d.data(), 6);
  CHECK(d[5] == 5.0);
  const std::vector<int32_t> idx = {2, 0};
  std::vector<float> g(2, -1.f);
  dry.gather(DType::f32, a.data(), idx.data(), g.data(), 1, 6, 1, 2);
  CHECK(g == std::vector<float>{2.f, 0.f});
  const std::vector<int32_t> targets = {1, -100, 3, -100};
  float n = 0.f;
  dry.count_not_equal(targets.data(), 4, -100, &n);
  CHECK(n == 2.f);
  std::vector<int32_t> top(4, -1);
  std::vector<float> vals(4);
  dry.topk(DType::f32, a.data(), vals.data(), top.data(), 2, 3, 2);
  CHECK(top == std::vector<int32_t>{0, 1, 1, 2});
  const std::vector<int32_t> expert_of = {1, 0, 1, 1};  // 2 tokens, k = 2
  std::vector<int32_t> order(4), token(4), offsets(3);
  dry.moe_dispatch(expert_of.data(), 2, 2, 2, order.data(), token.data(), offsets.data());
  CHECK(order == std::vector<int32_t>{1, 0, 2, 3});
  CHECK(offsets == std::vector<int32_t>{0, 1, 4});
  CHECK(dry.calls("fill", DType::f32) == 1);
  CHECK(dry.calls("moe_dispatch", DType::i32) == 1);
  CHECK(dry.calls("adamw_multi") == 0);
}
