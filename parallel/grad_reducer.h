// grad_reducer.h — averages the gradients of a model's parameters over the
// ranks of a data-parallel job, in buckets, as backward produces them.
//
// One training step, on every rank:
//   for each micro-batch: forward, backward (the last one inside begin()/finish())
//   begin(): from now on, each parameter whose gradient backward completes is
//            marked; when every parameter of the next bucket (bucket_plan.h)
//            is marked, its gradients are packed into the bucket's buffer and
//            its reduction starts, while backward goes on
//   finish(): the buckets not yet started start (parameters backward never
//            reached send zeros), all reductions complete, and each
//            parameter's .grad becomes the mean over ranks
// Buckets start strictly in plan order, the same on every rank, as MPI and
// NCCL need: a bucket whose parameters are late (an expert that got no token
// on this rank) holds back those after it until they are complete too.
// The first plan follows reverse registration, which is only roughly the
// order backward completes gradients in (a site's coefficients come after the
// branch it wraps); after the first step the buckets are planned again in
// the order rank 0's backward completed them, the same on every rank.
//
// The mean of an element is the same however the parameters are bucketed
// (process_group.h: a rank-ordered sum), so --dist.bucket_mb and
// --dist.reduce change speed, never results.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "autograd/tape.h"
#include "autograd/tensor.h"
#include "parallel/bucket_plan.h"
#include "parallel/process_group.h"
#include "parallel/reduce_options.h"

namespace mhc {

class GradReducer {
 public:
  // `params`: f32 tensors on one device, in registration order; they must
  // outlive the reducer. `transport` comes from group.transport(device).
  // `agree` hands every rank rank 0's values (ProcessGroup::broadcast); it
  // is called once, on every rank, at the end of the first step (the replan).
  using Agree = std::function<void(std::vector<int64_t>&)>;
  GradReducer(std::vector<Tensor*> params, int ranks, std::unique_ptr<ReduceTransport> transport,
              const ReducerOptions& options, Agree agree = nullptr);
  ~GradReducer();

  void begin();   // before the backward of the step's last micro-batch
  void finish();  // after it: every parameter's .grad is the mean over ranks

  const BucketPlan& plan() const { return plan_; }
  // Buckets that started during the last step's backward (Overlap), out of plan().buckets.size().
  int64_t started_in_backward() const { return started_in_backward_; }

 private:
  void on_leaf_done(TensorImpl& leaf);
  void start_ready_buckets();  // in plan order, while the next one is complete
  void start(size_t bucket);   // pack and hand to the transport
  int64_t cap_floats() const;
  void set_plan(BucketPlan plan);  // and a buffer per bucket
  void replan();                   // after the first step: in the order backward completed the parameters

  std::vector<Tensor*> params_;
  int ranks_;
  std::unique_ptr<ReduceTransport> transport_;
  ReducerOptions options_;
  BucketPlan plan_;
  Device device_ = Device::cpu;
  std::vector<Tensor> buffers_;  // one flat f32 buffer per bucket, on the parameters' device
  std::unordered_map<const TensorImpl*, int64_t> index_of_;  // parameter -> index
  std::vector<int64_t> missing_;                             // per bucket: parameters not yet complete this step
  std::vector<bool> done_;                                   // per parameter, this step
  std::vector<int64_t> completed_;  // parameters in the order backward completed them, this step
  std::vector<int64_t> numels_;
  Agree agree_;
  bool replanned_ = false;
  size_t next_ = 0;  // the next bucket to start
  int64_t started_in_backward_ = 0;
  std::optional<LeafDoneScope> watching_;
};

}  // namespace mhc
