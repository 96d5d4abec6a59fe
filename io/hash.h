// hash.h — 64-bit FNV-1a: the checksums of a checkpoint, the seeds of the fixed
// evaluation splits, the comparison of the ranks' weights.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mc {

// FNV-1a of n bytes, continuing from h (the offset basis starts a new hash).
inline uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

}  // namespace mc
