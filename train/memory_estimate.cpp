// memory_estimate.cpp — see the header for what is counted.
#include "train/memory_estimate.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "kernels/cpu/address_space.h"

namespace mhc {

MemoryEstimate estimate_memory(const TrainConfig& c) {
  ModelConfig m = c.model;
  // Before the tokenizer exists: BPE's vocabulary is the flag, a character one's at least 1.
  if (m.vocab_size < 1)
    m.vocab_size = c.data.tokenizer == TokenizerKind::Bpe    ? c.data.vocab_size
                   : c.data.tokenizer == TokenizerKind::Gpt2 ? kGpt2VocabSize
                                                             : 1;
  const double C = static_cast<double>(m.width), n = static_cast<double>(m.site.streams);
  const double L = static_cast<double>(m.blocks), V = static_cast<double>(m.vocab_size);
  const double T = static_cast<double>(m.block_size), B = static_cast<double>(c.optim.batch_size);
  MemoryEstimate e;
  e.parameters = m.parameter_count();
  e.parameter_bytes = 16 * e.parameters;  // weight, gradient, AdamW m and v
  // RoPE cos and sin, (T, D/2) each per block; the evaluation batches' x and
  // y (i32 each), as many windows as Trainer::make_batches takes.
  const double validation_tokens = static_cast<double>(c.eval.windows(m.block_size, c.optim.batch_size, 1)) * T;
  e.buffer_bytes = 4 * L * T * (C / static_cast<double>(m.heads)) + 8 * validation_tokens;
  // Per token and block: the two stream states the sites keep (n·C each), the
  // attention's input, q, k, v and output, and the FFN input and output (8C),
  // and the FFN hidden activations (before and after the nonlinearity; an MoE
  // token's top-k routed and its shared experts, SwiGLU's three).
  const double hidden = static_cast<double>(m.resolved_ffn_hidden());
  const double expert_hidden = m.moe.hidden > 0 ? static_cast<double>(m.moe.hidden) : hidden;
  const double moe_blocks = m.ffn == FfnType::Moe ? static_cast<double>(m.blocks - m.dense_layers) : 0;
  const double dense_hidden = (m.ffn == FfnType::Gelu ? 2 : 3) * hidden;
  const double moe_hidden = 3 * static_cast<double>(m.moe.top_k + m.moe.shared) * expert_hidden;
  const double states = m.recompute ? 0 : 2 * n * C;  // recompute rebuilds most of them in the backward
  const double per_token = L * (states + 8 * C) + (L - moe_blocks) * dense_hidden + moe_blocks * moe_hidden +
                           2 * V;  // the logits and their gradient
  e.tokens = B * T;
  e.activation_bytes = (c.dtype == DType::bf16 ? 2 : 4) * e.tokens * per_token;
  return e;
}

double physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0;
}

HostMemory available_host_memory(int local_ranks) {
  const double share = physical_memory_bytes() / std::max(1, local_ranks);
  const double headroom = cpu::address_space_headroom_bytes();
  if (headroom >= share) return {share, fmt::format("this machine has {} of memory", format_bytes(share))};
  return {std::max(headroom, 1.0),
          fmt::format("the address-space limit (ulimit -v {:.0f}) leaves {} beside the program and OpenBLAS's "
                      "buffers",
                      cpu::address_space_limit_bytes() / 1024, format_bytes(std::max(headroom, 0.0))),
          true};
}

std::string format_bytes(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} bytes", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

void check_fits_in_memory(const TrainConfig& c, double available_bytes) {
  check_fits_in_memory(
      c, HostMemory{available_bytes, fmt::format("this machine has {} of memory", format_bytes(available_bytes))});
}

void check_fits_in_memory(const TrainConfig& c, const HostMemory& available) {
  const double available_bytes = available.bytes;
  const MemoryEstimate e = estimate_memory(c);
  const bool on_host = c.device != Device::cuda;
  // On CUDA the host holds the weights once, while the model is built.
  const double needed = on_host ? e.total() : e.parameter_bytes / 4 + e.buffer_bytes;
  if (available_bytes <= 0 || needed <= available_bytes) return;
  const ModelConfig& m = c.model;
  const std::string vocab = m.vocab_size > 0                         ? fmt::format("vocabulary {}", m.vocab_size)
                            : c.data.tokenizer == TokenizerKind::Bpe ? fmt::format("vocabulary {}", c.data.vocab_size)
                            : c.data.tokenizer == TokenizerKind::Gpt2
                                ? fmt::format("vocabulary {} (GPT-2)", kGpt2VocabSize)
                                : std::string("a character vocabulary, counted as 1");
  std::string ffn = m.ffn == FfnType::Moe
                        ? fmt::format("--moe.routed {} + --moe.shared {} experts of hidden {}", m.moe.routed,
                                      m.moe.shared, m.moe.hidden > 0 ? m.moe.hidden : m.resolved_ffn_hidden())
                        : fmt::format("FFN hidden {}", m.resolved_ffn_hidden());
  const std::string model_part =
      fmt::format("the model (--model.blocks {} × --model.width {}, {}, {}) has {:.3g} parameters: {} {}", m.blocks,
                  m.width, ffn, vocab, e.parameters, format_bytes(on_host ? e.parameter_bytes : e.parameter_bytes / 4),
                  on_host ? "with their gradients and AdamW moments (16 bytes each)" : "as f32 weights (4 bytes each)");
  const std::string batch_part = fmt::format(
      "one micro-batch (--optim.batch_size {} × --model.block_size {} = {:.3g} tokens) needs at least {} of "
      "activations",
      c.optim.batch_size, m.block_size, e.tokens, format_bytes(e.activation_bytes));
  const bool model_first = !on_host || e.parameter_bytes >= e.activation_bytes;
  std::string parts = model_first ? model_part : batch_part;
  if (on_host) parts += "; " + (model_first ? batch_part : model_part);
  throw std::runtime_error(
      fmt::format("the run does not fit in memory: {}. That is at least {} in all, and {}{}; {}"
                  "reduce the sizes named above",
                  parts, format_bytes(needed), available.said,
                  on_host ? "" : " (with --device cuda, the host builds the model first)",
                  available.limited ? "raise the limit or " : ""));
}

}  // namespace mhc
