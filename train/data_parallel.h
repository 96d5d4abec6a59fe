// data_parallel.h — what a run on several ranks needs beyond the collectives
// (docs/distributed.md): each rank's share of a batch and of its loss, the check that
// the ranks hold the same weights, rank 0's files on every rank.
#pragma once
#include <span>
#include <string>
#include <utility>

#include "dist/comm.h"
#include "dist/grad_sync.h"
#include "nn/module.h"
#include "tasks/task.h"

namespace mc {

// The share [lo, hi) of n items that this rank takes: contiguous, sizes differing by at most one.
std::pair<int64_t, int64_t> shard(int64_t n, const Comm& comm);

// The weight of this rank's mean loss in the mean over the whole batch: its share of
// the scored predictions (so its gradient is its share of the one-process gradient).
double loss_share(std::span<const Example> all, std::span<const Example> mine);

// Checks that every rank holds the same weights (a hash of their bytes), which the
// summed gradients guarantee; a difference is a bug, reported instead of trained on.
void check_same_weights(Comm& comm, const Module& model, const std::string& when);

// Checks that every rank built the same tokens (its vocabulary and, for bpe and
// unigram, its SentencePiece model), which each trains from the same text; ranks with
// other builds of SentencePiece could differ. Throws SettingError, agreed.
void check_same_tokens(Comm& comm, const Task& task);

// The bytes of rank 0's file `path` (a checkpoint in its run folder), on every rank.
// A failure to read it is agreed: rank 0 reports it, every rank stops.
std::string read_on_rank0(Comm& comm, const std::string& path);

// "gradient sums: 4 buckets, 1.2 s waiting (3% of the run)".
std::string sync_summary(const GradSync& sync, double seconds);

}  // namespace mc
