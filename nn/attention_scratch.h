// attention_scratch.h — the fused attention kernel's scratch (nn/attention_fused.cpp),
// and its reuse from call to call.
//
// A task's scratch holds one block's rows ([kBlock, L]) and the small tables. At a
// context of ~1000 tokens that is a few MB, and allocating it afresh for every chunk of
// every attention call (zeroed, in pages the kernel must first map) cost about a fifth
// of a Counting training step's time, most of it system time in page faults (a 1.31x
// speed-up once kept; docs/benchmarks.md, "Attention
// scratch kept per thread"). So each worker thread keeps one (per element type, shared
// by the forward and backward passes) and lends it to the chunk it runs. The kernel
// writes every scratch value before reading it, block by block, as it already must for
// a scratch reused across the blocks and tasks of one chunk; the per-task shares of de
// and dr are cleared by the backward pass for each task.
#pragma once
#include <vector>

namespace mc::attention_detail {

template <class T>
struct Scratch {
  std::vector<T> s, gl, g, pe, z, zr, d, dgl, dz, dzr;  // block rows and tables
  std::vector<T> ad;                                    // dropout: the block's kept weights (backward)
  std::vector<T> qr, kr, dqr, dkr;                      // rope: the head's rotated q, k and their gradients [L, D]
  std::vector<T> de, dr;                                // this task's share of the gradients of e [D,npos], r [D,nrel]
};

// The calling thread's kept scratch for element type T, and whether it is lent out: one
// per thread and type, shared by the forward and backward passes.
template <class T>
struct ScratchSlot {
  Scratch<T> kept;
  bool lent = false;
};
template <class T>
ScratchSlot<T>& thread_scratch_slot() {
  thread_local ScratchSlot<T> slot;
  return slot;
}

// Runs work(scratch) with the calling thread's kept scratch, first sized by fit(scratch)
// (which resizes every buffer: capacity stays, so a call no larger than an earlier one
// allocates nothing). A nested call on a thread whose scratch is lent out (none today:
// the kernel's chunks call no parallel code) gets a scratch of its own.
template <class T, class Fit, class Work>
void with_thread_scratch(const Fit& fit, const Work& work) {
  ScratchSlot<T>& slot = thread_scratch_slot<T>();
  if (slot.lent) {
    Scratch<T> own;
    fit(own);
    work(own);
    return;
  }
  struct Lease {
    bool& lent;
    explicit Lease(bool& l) : lent(l) { lent = true; }
    ~Lease() { lent = false; }
  } lease(slot.lent);
  fit(slot.kept);
  work(slot.kept);
}

}  // namespace mc::attention_detail
