// memory.h — the memory a training run will need, estimated before anything large is
// allocated, against what the machine has (docs/reliability.md: how the estimate is
// made, and how close it comes to measured peaks).
#pragma once
#include <cstdint>
#include <string>

#include "config/run_config.h"
#include "tasks/task.h"

namespace mc {

struct MemoryEstimate {
  // bytes
  double parameters = 0;   // weights, their gradients and AdamW's two moments
  double activations = 0;  // what one training step keeps for its backward pass
  double evaluation = 0;   // one evaluation forward pass (no gradients kept)
  double data = 0;         // the fixed evaluation sets, as token lists
  double base = 0;         // the program, its libraries and thread buffers
  double cache = 0;        // blocks of sizes no longer used, kept by tensor/tensor.cpp's block cache
  double total() const { return parameters + activations + evaluation + data + base + cache; }
  // The largest part and the settings that drive it, as in "activations 37.9 GB
  // (--batch 32 x context 16001 x 2 layers)".
  std::string largest(const RunConfig& cfg) const;
};

// The estimate for training `cfg` (resolved: vocabulary and context known) on `task`.
MemoryEstimate estimate_training_memory(const RunConfig& cfg, const Task& task);

// The memory this process may use, in bytes: MemAvailable of /proc/meminfo, or the
// cgroup's limit less its usage when that is lower; 0 when neither can be read.
double available_memory();

// Throws SettingError naming the largest part and its settings when the
// estimate `e` of `cfg` exceeds the available memory ("... or pass --memory-check=false"), shared
// among `ranks_here` processes of one run on this machine (each holds a whole model).
void check_training_memory(const MemoryEstimate& e, const RunConfig& cfg, int ranks_here = 1);

// "3.1 TB", "1.2 GB", "640 MB" (decimal units)
std::string format_bytes(double bytes);

}  // namespace mc
