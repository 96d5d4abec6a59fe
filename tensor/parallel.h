// parallel.h — how kernels use oneTBB.
//
// Rules (see docs/threads.md):
//  * Work is split into blocks whose size is chosen by the kernel (a grain), never a
//    task per element, and small work runs inline on the calling thread.
//  * A result never depends on how blocks are scheduled: each output element is
//    written by exactly one block, and every sum is accumulated in a fixed order. So
//    the same inputs give the same bits on 1 or 16 threads.
#pragma once
#include <cstdint>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace mc {

// Below this many scalar operations a kernel runs inline: a TBB task costs about a
// microsecond to spawn and steal, which ~32k cheap operations pay for.
inline constexpr int64_t kParallelMinWork = 1 << 15;

// Runs f(begin, end) over [0, n) in blocks of at least `grain` items, in parallel when
// n * cost_per_item is big enough. f must write disjoint outputs for disjoint ranges.
template <class F>
void parallel_for(int64_t n, int64_t grain, int64_t cost_per_item, F&& f) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n * cost_per_item < kParallelMinWork || n <= grain) {
    f(int64_t{0}, n);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, grain),
                    [&](const tbb::blocked_range<int64_t>& r) { f(r.begin(), r.end()); });
}

// A grain that gives each block about kParallelMinWork operations.
inline int64_t grain_for(int64_t cost_per_item) {
  if (cost_per_item < 1) cost_per_item = 1;
  int64_t g = kParallelMinWork / cost_per_item;
  return g < 1 ? 1 : g;
}

// Sum of f(i) for i in [0, n), deterministic: [0, n) is cut into fixed blocks of
// `block` items (independent of the thread count), each block is summed in order, and
// the block sums are added in order.
template <class F>
double deterministic_sum(int64_t n, int64_t block, F&& f) {
  if (n <= 0) return 0.0;
  const int64_t nblocks = (n + block - 1) / block;
  std::vector<double> partial(static_cast<size_t>(nblocks), 0.0);
  parallel_for(nblocks, 1, block, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double acc = 0.0;
      const int64_t end = (b + 1) * block < n ? (b + 1) * block : n;
      for (int64_t i = b * block; i < end; ++i) acc += f(i);
      partial[static_cast<size_t>(b)] = acc;
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace mc
