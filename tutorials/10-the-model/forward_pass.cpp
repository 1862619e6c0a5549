// forward_pass.cpp — tutorial 10: the model's forward pass, one step at a
// time. Builds a one-block mHC model (n = 4 streams), runs
// Transformer::forward's steps by hand with the library's own pieces,
// printing each tensor's shape, checks the result against
// Transformer::forward bit for bit, opens the first mHC site to check
// mHC Eq. 3 and 7-9 against its output, and lists where in the code each
// equation the project implements is computed.
#include <fmt/core.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "layers/manifold_hyper_connection.h"
#include "layers/streams.h"
#include "layers/transformer.h"

using namespace mhc;

namespace {

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("check failed: " + what);
}

std::string shape_of(const Tensor& t) { return t.shape().str(); }

ModelConfig tiny_mhc() {
  ModelConfig c;
  c.vocab_size = 16;
  c.block_size = 8;
  c.blocks = 1;
  c.width = 8;  // C
  c.heads = 2;
  c.site.kind = ResidualKind::MHC;
  c.site.streams = 4;                     // n
  c.site.fused = SiteConfig::Fused::Off;  // the composed ops, on any device
  return c;
}

// Part 1: Transformer::forward written out, printing every shape.
Tensor forward_by_hand(Transformer& model, const Tensor& tokens) {
  const ModelConfig& c = model.config();
  fmt::print("1. Transformer::forward, step by step (B = 2, T = 5, C = {}, n = {}, V = {}):\n", c.width, c.site.streams,
             c.vocab_size);
  fmt::print("  tokens                         {}\n", shape_of(tokens));
  Tensor x = embedding(model.wte, tokens);  // (B, T, C)
  fmt::print("  x = wte[tokens]                {}\n", shape_of(x));
  Tensor h = expand_streams(x, c.site.streams);  // (B, T, n, C)
  fmt::print("  h = n copies of x              {}   the stream state\n", shape_of(h));
  for (auto& block : model.blocks) h = block->forward(h);  // (B, T, n, C)
  fmt::print("  h = Block::forward(h)          {}   per block: attention site, then FFN site\n", shape_of(h));
  Tensor collapsed = model.collapse->forward(h);  // (B, T, C): Σ_j x_j
  fmt::print("  collapse: sum over streams     {}\n", shape_of(collapsed));
  x = model.final_norm.forward(collapsed);
  Tensor logits = model.head ? model.head->forward(x) : matmul(x, model.wte.transpose(0, 1));  // (B, T, V)
  fmt::print("  logits = RMSNorm(.) W_head     {}\n", shape_of(logits));
  return logits;
}

// Part 2: the first site (attention) opened: its coefficients from Eq. 7-9
// and its output from Eq. 3, recomputed from the site's own parameters.
void open_first_site(Transformer& model, const Tensor& tokens) {
  const ModelConfig& c = model.config();
  const int64_t n = c.site.streams, C = c.width;
  Block& block = *model.blocks[0];
  auto& site = dynamic_cast<ManifoldHyperConnection&>(*block.attn_site);
  Tensor x = expand_streams(embedding(model.wte, tokens), n);  // (B, T, n, C), the site's input
  auto F = [&](const Tensor& in) { return block.attn.forward(block.attn_norm.forward(in)); };
  const Tensor out = site.forward(x, F);  // what Block::forward computes first
  const int64_t B = x.size(0), T = x.size(1);

  // Eq. 7: the projection of the flattened, RMS-normalised streams.
  Tensor v = rms_norm(x.reshape({B, T, n * C}), Tensor(), c.norm_eps);  // (B, T, nC)
  Tensor proj = matmul(v, site.phi);                                    // (B, T, 2n + n²)
  // Eq. 8: the gates. Eq. 9: Sinkhorn-Knopp on the n × n logits.
  Tensor h_pre = sigmoid(proj.slice(-1, 0, n) * site.alpha_pre + site.b_pre);               // (B, T, n)
  Tensor h_post = sigmoid(proj.slice(-1, n, 2 * n) * site.alpha_post + site.b_post) * 2.0;  // (B, T, n)
  Tensor h_res = sinkhorn(proj.slice(-1, 2 * n, 2 * n + n * n).reshape({B, T, n, n}) * site.alpha_res + site.b_res,
                          c.site.sinkhorn_iters);  // (B, T, n, n)
  // Eq. 3: x_{l+1} = H_res x + H_postᵀ F(H_pre x), per token.
  Tensor y = F(mix_streams(h_pre.unsqueeze(-2), x).reshape({B, T, C}));             // (B, T, C)
  Tensor by_hand = mix_streams(h_res, x) + h_post.unsqueeze(-1) * y.unsqueeze(-2);  // (B, T, n, C)

  const std::vector<double> hr = h_res.to_vector<double>(), a = out.to_vector<double>(),
                            b = by_hand.to_vector<double>();
  double row_err = 0, col_err = 0, diff = 0, scale = 0;
  for (int64_t t = 0; t < B * T; ++t)
    for (int64_t i = 0; i < n; ++i) {
      double row = 0, col = 0;
      for (int64_t j = 0; j < n; ++j) row += hr[(t * n + i) * n + j], col += hr[(t * n + j) * n + i];
      row_err = std::max(row_err, std::fabs(row - 1)), col_err = std::max(col_err, std::fabs(col - 1));
    }
  for (size_t k = 0; k < a.size(); ++k)
    diff = std::max(diff, std::fabs(a[k] - b[k])), scale = std::max(scale, std::fabs(a[k]));
  fmt::print("\n2. The first site (attention), opened:\n");
  fmt::print("  v = RMSNorm(vec x)             {}   Eq. 7\n", shape_of(v));
  fmt::print("  v φ                            {}   [pre | post | res] = n + n + n²\n", shape_of(proj));
  fmt::print("  H_pre = σ(.), H_post = 2σ(.)   {} each   Eq. 8\n", shape_of(h_pre));
  fmt::print("  H_res = Sinkhorn(.)            {}   Eq. 9\n", shape_of(h_res));
  fmt::print("  H_pre x                        {}   the sub-block's input\n",
             shape_of(mix_streams(h_pre.unsqueeze(-2), x)));
  fmt::print("  H_res x + H_postᵀ F(H_pre x)   {}   Eq. 3\n", shape_of(by_hand));
  // Rows are normalised last, so they sum to 1 to f32 rounding; columns to
  // Sinkhorn's tolerance after 20 iterations. The site and the hand-written
  // Eq. 3 run the same ops in the same order: equal up to f32 rounding of
  // the last mix (a few units of 2⁻²⁴ of the largest value; 1e-5 covers it).
  fmt::print("  every row of H_res sums to 1 (to 1e-6): {}; every column (to 1e-4): {}\n",
             row_err < 1e-6 ? "yes" : "no", col_err < 1e-4 ? "yes" : "no");
  fmt::print("  the site's output is Eq. 3 computed by hand (to 1e-5 of its largest value): {}\n",
             diff < 1e-5 * scale ? "yes" : "no");
  expect(row_err < 1e-6 && col_err < 1e-4 && diff < 1e-5 * scale, "the first site computes mHC Eq. 3, 7-9");
}

// Part 3: where each equation is computed: the first line of each file that
// names it in a comment, found in the sources (so the table cannot go stale).
void equation_table() {
  struct Row {
    const char* equation;
    const char* file;
    const char* marker;
  };
  const Row rows[] = {
      {"mHC Eq. 3   x_{l+1} = H_res x + H_postᵀ F(H_pre x)", "layers/manifold_hyper_connection.cpp", "(Eq. 3)"},
      {"mHC Eq. 7   v = RMSNorm(vec x), the projection", "layers/manifold_hyper_connection.cpp", "Eq. 7"},
      {"mHC Eq. 8   H_pre = σ, H_post = 2σ", "layers/manifold_hyper_connection.cpp", "Eq. 8"},
      {"mHC Eq. 9   H_res = Sinkhorn-Knopp", "layers/manifold_hyper_connection.cpp", "Eq. 9"},
      {"HC          Eq. 3 with HC's unconstrained maps", "layers/hyper_connection.cpp", "(Eq. 3)"},
      {"HC Eq. 10-14  the dynamic maps", "layers/hyper_connection.h", "Eq. 10"},
      {"mHC Eq. 20  selective recompute's group size", "layers/recompute.h", "Eq. 20"},
      {"DeepSeekMoE out = Σ shared + Σ_topk(s+b) g_e E_e", "layers/moe.h", "out(x) ="},
      {"aux-loss-free balancing  b_e += γ sign(...)", "layers/moe.h", "b_e +="},
  };
  fmt::print("\n3. Where each equation is computed:\n");
  for (const Row& r : rows) {
    std::ifstream in(std::string(MHC_SOURCE_DIR) + "/" + r.file);
    int line_no = 0, found = 0;
    for (std::string line; !found && std::getline(in, line);) {
      ++line_no;
      if (line.find(r.marker) != std::string::npos) found = line_no;
    }
    expect(found > 0, std::string(r.file) + " names " + r.marker);
    fmt::print("  {:<52} {}:{}\n", r.equation, r.file, found);
  }
}

}  // namespace

int main() {
  try {
    Transformer model(tiny_mhc(), 1);
    model.train(false);  // no dropout: the forward pass is a function of the tokens
    NoGradGuard no_grad;
    const Tensor tokens = Tensor::from_ints({1, 5, 9, 2, 14, 3, 3, 7, 0, 11}, {2, 5});  // (B, T)
    const Tensor by_hand = forward_by_hand(model, tokens);
    const Tensor logits = model.forward(tokens);
    const std::vector<float> a = by_hand.to_vector<float>(), b = logits.to_vector<float>();
    // The same ops in the same order on the same machine: bit for bit.
    fmt::print("  equal to Transformer::forward, bit for bit: {}\n", a == b ? "true" : "false");
    expect(a == b, "the hand-written forward pass is Transformer::forward");
    const Tensor loss = model.loss(tokens.slice(1, 0, 4), tokens.slice(1, 1, 5));
    fmt::print("  loss = mean cross-entropy of the next token: shape {}, near ln V = {:.2f}: {}\n", shape_of(loss),
               std::log(16.0), std::fabs(loss.item() - std::log(16.0)) < 0.1 ? "yes" : "no");
    open_first_site(model, tokens);
    equation_table();
    fmt::print("\nAll checks passed.\n");
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
