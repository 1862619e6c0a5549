// grad_reducer.cpp — see grad_reducer.h.
#include "parallel/grad_reducer.h"

#include <fmt/core.h>

#include <cmath>
#include <stdexcept>

#include "kernels/backend.h"

namespace mhc {

GradReducer::GradReducer(std::vector<Tensor*> params, int ranks, std::unique_ptr<ReduceTransport> transport,
                         const ReducerOptions& options, Agree agree)
    : params_(std::move(params)),
      ranks_(ranks),
      transport_(std::move(transport)),
      options_(options),
      agree_(std::move(agree)) {
  if (!transport_) throw std::invalid_argument("GradReducer: no transport");
  if (!(options_.bucket_mb >= 0) || !std::isfinite(options_.bucket_mb))
    throw std::invalid_argument(
        fmt::format("GradReducer: bucket size {} MiB must be finite and at least 0", options_.bucket_mb));
  std::vector<int64_t> numels;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = *params_[i];
    if (p.dtype() != DType::f32)
      throw std::invalid_argument(
          fmt::format("GradReducer: parameter {} is {}; gradients are reduced in f32", i, dtype_name(p.dtype())));
    if (i == 0) device_ = p.device();
    if (p.device() != device_) throw std::invalid_argument("GradReducer: parameters on more than one device");
    numels.push_back(p.numel());
    index_of_[&p.impl()] = static_cast<int64_t>(i);
  }
  numels_ = numels;
  set_plan(plan_buckets(numels_, cap_floats(), ranks_));
  done_.assign(params_.size(), false);
}

// The transport first: it may still wait for reductions that use the buffers.
GradReducer::~GradReducer() { transport_.reset(); }

void GradReducer::begin() {
  missing_.clear();
  for (const Bucket& b : plan_.buckets) missing_.push_back(static_cast<int64_t>(b.entries.size()));
  done_.assign(params_.size(), false);
  completed_.clear();
  next_ = 0;
  started_in_backward_ = 0;
  if (options_.mode == ReduceMode::Overlap) watching_.emplace([this](TensorImpl& leaf) { on_leaf_done(leaf); });
}

void GradReducer::on_leaf_done(TensorImpl& leaf) {
  auto it = index_of_.find(&leaf);
  if (it == index_of_.end()) return;  // a leaf that is not one of ours
  const auto p = static_cast<size_t>(it->second);
  if (done_[p]) return;
  done_[p] = true;
  completed_.push_back(static_cast<int64_t>(p));
  --missing_[static_cast<size_t>(plan_.bucket_of[p])];
  const size_t before = next_;
  start_ready_buckets();
  started_in_backward_ += static_cast<int64_t>(next_ - before);
  if (next_ == before) transport_->poll();
}

void GradReducer::start_ready_buckets() {
  while (next_ < plan_.buckets.size() && missing_[next_] == 0) start(next_++);
}

void GradReducer::start(size_t b) {
  Backend& be = backend_for(device_);
  float* buf = static_cast<float*>(buffers_[b].data_ptr());
  const std::vector<BucketEntry>& entries = plan_.buckets[b].entries;
  // The flags sit together after the gradients: all 1 in one fill, then 0
  // where this rank has no gradient (rare: an expert without tokens).
  if (!entries.empty()) be.fill(DType::f32, buf + entries.front().flag, static_cast<int64_t>(entries.size()), 1.0);
  for (const BucketEntry& e : entries) {
    const Tensor g = params_[static_cast<size_t>(e.param)]->grad();
    if (g.defined()) {
      if (!g.is_contiguous() || g.dtype() != DType::f32 || g.numel() != e.numel)
        throw std::logic_error(fmt::format("GradReducer: the gradient of parameter {} is {}", e.param, g.describe()));
      be.copy_within(buf + e.offset, g.data_ptr(), static_cast<size_t>(e.numel) * sizeof(float));
    } else {
      be.fill(DType::f32, buf + e.offset, e.numel, 0.0);
      be.fill(DType::f32, buf + e.flag, 1, 0.0);
    }
  }
  transport_->start(static_cast<int>(b), buf, plan_.buckets[b].length);
}

void GradReducer::finish() {
  watching_.reset();
  if (missing_.size() != plan_.buckets.size()) throw std::logic_error("GradReducer::finish() without begin()");
  Backend& be = backend_for(device_);
  for (; next_ < plan_.buckets.size(); ++next_) {
    start(next_);
    if (options_.mode == ReduceMode::Blocking) transport_->wait_all();
  }
  transport_->wait_all();
  for (size_t b = 0; b < plan_.buckets.size(); ++b) {
    const Bucket& bucket = plan_.buckets[b];
    const float* buf = static_cast<const float*>(buffers_[b].data_ptr());
    // A parameter with a gradient here has a mean flag of at least 1/K: only
    // a bucket holding one without needs its flags read (a device->host copy,
    // on CUDA a wait; a dense model never does).
    bool all_local = true;
    for (const BucketEntry& e : bucket.entries)
      all_local = all_local && params_[static_cast<size_t>(e.param)]->grad().defined();
    std::vector<float> flags(bucket.entries.size(), 1.0f);
    if (!all_local) be.copy_to_host(flags.data(), buf + bucket.entries.front().flag, flags.size() * sizeof(float));
    for (size_t i = 0; i < bucket.entries.size(); ++i) {
      const BucketEntry& e = bucket.entries[i];
      Tensor& p = *params_[static_cast<size_t>(e.param)];
      if (flags[i] == 0.0f) continue;  // no rank had a gradient: it stays undefined, as in one process
      if (!p.grad().defined()) p.impl().grad = Tensor::empty(p.shape(), DType::f32, device_).impl_ptr();
      be.copy_within(p.grad().data_ptr(), buf + e.offset, static_cast<size_t>(e.numel) * sizeof(float));
    }
  }
  missing_.clear();
  if (!replanned_ && options_.mode == ReduceMode::Overlap) replan();
}

int64_t GradReducer::cap_floats() const {
  return static_cast<int64_t>(options_.bucket_mb * 1024.0 * 1024.0 / sizeof(float));
}

void GradReducer::set_plan(BucketPlan plan) {
  plan_ = std::move(plan);
  buffers_.clear();
  for (const Bucket& b : plan_.buckets) buffers_.push_back(Tensor::zeros({b.length}, DType::f32, device_));
}

void GradReducer::replan() {
  replanned_ = true;
  // The order rank 0's backward completed the parameters in, then those it
  // never reached (reverse registration): the same list on every rank.
  std::vector<int64_t> order = completed_;
  std::vector<bool> listed(params_.size(), false);
  for (int64_t p : order) listed[static_cast<size_t>(p)] = true;
  for (int64_t p = static_cast<int64_t>(params_.size()) - 1; p >= 0; --p)
    if (!listed[static_cast<size_t>(p)]) order.push_back(p);
  if (agree_) agree_(order);
  set_plan(plan_buckets_in_order(numels_, order, cap_floats(), ranks_));
}

}  // namespace mhc
