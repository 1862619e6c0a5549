// dump_batch.cpp — see the header.
#include "program/dump_batch.h"

#include <fmt/core.h>

#include <vector>

#include "autograd/ops.h"
#include "train/config.h"
#include "fileio/json_io.h"
#include "fileio/safetensors.h"
#include "train/trainer.h"

namespace mhc {

double dump_eval_batch(Trainer& trainer, int64_t step, const std::string& path) {
  Transformer& model = trainer.model();
  const auto& [x, y] = trainer.eval_batch(0);  // (B, T) i32 each
  model.train(false);                          // no dropout; MoE loads are not counted
  const std::vector<NamedTensor> params = model.parameters();
  for (const NamedTensor& p : params) p.tensor->zero_grad();
  Tensor logits = model.forward(x);               // (B, T, V)
  Tensor loss = Transformer::lm_loss(logits, y);  // (1) f32: cross-entropy alone
  loss.backward();
  const double value = loss.item();
  // Every tensor stored at its own dtype (f32 logits and gradients on the CPU).
  std::vector<std::string> names;
  std::vector<Tensor> grads;
  names.reserve(params.size());
  grads.reserve(params.size());
  for (const NamedTensor& p : params) {
    Tensor g = p.tensor->grad();
    if (!g.defined())
      g = Tensor::zeros(p.tensor->shape(), p.tensor->dtype(), p.tensor->device());  // unused by this batch
    names.push_back("grad.model." + p.name);
    grads.push_back(g.to(DType::f32).contiguous());
  }
  const Tensor logits_f32 = logits.detach().to(DType::f32).contiguous();
  const Tensor loss_f32 = loss.detach().to(DType::f32).reshape({1}).contiguous();
  std::vector<SafetensorsOut> out = {
      {"x", &x, x.dtype()}, {"y", &y, y.dtype()}, {"logits", &logits_f32, DType::f32}, {"loss", &loss_f32, DType::f32}};
  for (size_t i = 0; i < grads.size(); ++i) out.push_back({names[i], &grads[i], DType::f32});
  write_safetensors(path, out,
                    {{"format", kBatchDumpFormat},
                     {"format_version", std::to_string(kBatchDumpVersion)},
                     {"step", std::to_string(step)},
                     {"loss", fmt::format("{:.9g}", value)},
                     {"config", json::dump(to_json(trainer.config()))}});
  for (const NamedTensor& p : params) p.tensor->zero_grad();
  return value;
}

}  // namespace mhc
