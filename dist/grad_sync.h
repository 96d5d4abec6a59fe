// grad_sync.h — sums every parameter's gradient over the ranks, in buckets, starting
// each bucket's sum while backward is still computing the others.
//
// Each rank computes the gradient of its share of the loss (the loss is normalised by
// the whole global batch, so the shares add up to the one-process gradient). After
// finish(), every rank holds the same summed gradients, so the same optimizer step keeps
// the weights identical on every rank.
//
// Buckets: parameters are packed, in reverse registration order (roughly the order in
// which backward finishes them: the head first, the embeddings last), into flat buffers
// of about `bucket_bytes`. A bucket's sum starts (MPI_Iallreduce) once all its
// parameters' gradients are final, and buckets always start in the same order on every
// rank, as MPI requires. Fewer, larger messages cost less latency; smaller ones start
// earlier. docs/distributed.md measures both.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "autograd/var.h"
#include "dist/comm.h"

namespace mc {

class GradSync {
 public:
  // overlap false: every sum starts after backward (for comparison).
  GradSync(Comm& comm, std::vector<std::pair<std::string, Var>> params, int64_t bucket_bytes, bool overlap);

  // The callback for Var::backward(leaf_done) (null when there is nothing to overlap).
  std::function<void(VarImpl*)> leaf_done();
  // After backward: starts the buckets not yet started, waits for every sum, and puts
  // the sums back into the gradients. `what` names the step for a RankLost message.
  void finish(const std::string& what);

  size_t buckets() const { return buckets_.size(); }
  double wait_seconds() const { return wait_seconds_; }  // total time spent in finish()

 private:
  struct Bucket {
    DType dtype = DType::f32;
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offset; // each parameter's place in `flat`
    int64_t elements = 0;        // gradient elements; then one has-a-gradient flag per parameter
    Tensor flat;                 // [elements + params] the packed gradients and flags, summed in place
    size_t ready = 0;            // parameters whose gradient is final this step
  };
  void ready(size_t param);
  void start(Bucket& b);

  Comm& comm_;
  std::vector<std::pair<std::string, Var>> params_;
  std::unordered_map<VarImpl*, size_t> index_;     // parameter -> its index
  std::vector<size_t> bucket_of_;                  // parameter index -> bucket
  std::vector<Bucket> buckets_;
  std::vector<bool> done_;                         // parameter's gradient final this step
  size_t next_ = 0;                                // the next bucket to start
  bool overlap_;
  double wait_seconds_ = 0;
};

}  // namespace mc
