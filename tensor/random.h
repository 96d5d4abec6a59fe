// random.h — a seedable generator whose streams are the same on every platform.
//
// std::normal_distribution and friends are implementation-defined, so the same seed
// could give other numbers with another standard library. We take raw 64-bit words
// from std::mt19937_64 (fully specified by the standard) and turn them into uniform
// and normal numbers ourselves.
#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace mc {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : engine_(seed) {}
  void seed(uint64_t s) { engine_.seed(s); has_spare_ = false; }

  uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box-Muller; the second value of each pair is kept for the next call.
  double normal();
  // Uniform integer in [0, n), without modulo bias.
  uint64_t below(uint64_t n);

  // The whole state as text (for checkpoints) and back.
  std::string state() const;
  void set_state(const std::string& s);

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace mc
