// data_parallel.cpp — the shares, the weights check, rank 0's files (data_parallel.h).
#include "train/data_parallel.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "dist/ranks.h"
#include "io/files.h"
#include "io/hash.h"

namespace mc {

namespace {

// Scored predictions of some examples (the loss's denominator).
int64_t scored_count(std::span<const Example> xs) {
  int64_t n = 0;
  for (const Example& x : xs)
    for (uint8_t s : x.scored) n += s != 0;
  return n;
}

}  // namespace

std::pair<int64_t, int64_t> shard(int64_t n, const Comm& comm) {
  const int64_t r = comm.rank(), p = comm.size();
  return {n * r / p, n * (r + 1) / p};
}

double loss_share(std::span<const Example> all, std::span<const Example> mine) {
  const int64_t scored_all = scored_count(all);
  return scored_all ? double(scored_count(mine)) / double(scored_all) : 0.0;
}

namespace {
// Whether every rank's hash h equals rank 0's: each rank's hash as two exact 32-bit
// halves in its own slots of a summed vector. The first rank that differs, or 0.
int first_rank_differing(Comm& comm, uint64_t h, const std::string& what) {
  std::vector<double> all(2 * size_t(comm.size()), 0.0);
  all[2 * size_t(comm.rank())] = double(h >> 32);
  all[2 * size_t(comm.rank()) + 1] = double(h & 0xffffffffULL);
  comm.sum(all.data(), int64_t(all.size()), what);
  for (int r = 1; r < comm.size(); ++r)
    if (all[2 * size_t(r)] != all[0] || all[2 * size_t(r) + 1] != all[1]) return r;
  return 0;
}
}  // namespace

void check_same_weights(Comm& comm, const Module& model, const std::string& when) {
  if (!comm.distributed()) return;
  uint64_t h = fnv1a64(nullptr, 0);
  for (const auto& [name, p] : model.named_parameters()) h = fnv1a64(p.value().raw(), p.value().nbytes(), h);
  if (const int r = first_rank_differing(comm, h, "comparing the weights after " + when)) {
    comm.mark_failure_agreed();
    throw std::runtime_error("after " + when + ": the weights of rank " + std::to_string(r) +
                             " differ from rank 0's (a bug in the gradient sum; please report it)");
  }
}

void check_same_tokens(Comm& comm, const Task& task) {
  if (!comm.distributed()) return;
  uint64_t h = fnv1a64(task.tokenizer_model().data(), task.tokenizer_model().size());
  for (const std::string& t : task.vocab()) h = fnv1a64(t.data(), t.size() + 1, h);  // with its NUL: "ab","c" != "a","bc"
  if (const int r = first_rank_differing(comm, h, "comparing the tokens of the ranks")) {
    comm.mark_failure_agreed();
    throw SettingError("tokenizer", "rank " + std::to_string(r) + " built other tokens than rank 0 (" +
                                        std::to_string(task.vocab().size()) + " on this rank) from the same text: "
                                        "do the ranks run the same minicope and SentencePiece?");
  }
}

std::string read_on_rank0(Comm& comm, const std::string& path) {
  std::string bytes;
  on_every_rank(comm, [&] {
    if (comm.rank() == 0) bytes = read_whole_file<CheckpointError>(path, "a .safetensors file");
  });
  return comm.broadcast(std::move(bytes), 0, "sending " + path + " from rank 0");
}

std::string sync_summary(const GradSync& sync, double seconds) {
  char b[128];
  std::snprintf(b, sizeof b, "gradient sums: %zu bucket%s, %.1f s waiting (%.1f%% of the run)", sync.buckets(),
                sync.buckets() == 1 ? "" : "s", sync.wait_seconds(), 100.0 * sync.wait_seconds() / std::max(1e-9, seconds));
  return b;
}

}  // namespace mc
