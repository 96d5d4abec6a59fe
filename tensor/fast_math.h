// fast_math.h — exp and tanh for float that the compiler can vectorise.
//
// glibc's expf/tanhf are exact to within an ulp but are scalar calls, and GELU's tanh
// was 12% of a training step (docs/benchmarks.md). These are branch-free, so a loop
// over them becomes SIMD code. Accuracy: exp to about 2 ulp over the whole float range
// (range reduction e^x = 2^n e^r, |r| <= ln2/2, and e^r by its Taylor series to r^7,
// whose remainder is below 5e-9); tanh to an absolute error below 2e-7. Only f32
// kernels use them: f64 (gradient checks) keeps the libm functions.
#pragma once
#include <bit>
#include <cstdint>

namespace mc {

inline float fast_expf(float in) {
  const bool nan = in != in;
  // clamped so that 2^n stays a normal float (and the int conversion below is defined)
  const float x = nan ? 0.0f : in < -87.0f ? -87.0f : in > 88.0f ? 88.0f : in;
  // n = round(x / ln 2): adding and subtracting 1.5 * 2^23 rounds to the nearest integer
  // (ties to even) in plain float arithmetic, which vectorises where a call would not
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  // r = x - n ln2, with ln2 split in two so the product is exact enough
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  // e^r = sum r^k / k!, k = 0..7, by Horner's rule
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // times 2^n, by adding n to the exponent bits
  const int32_t bits = std::bit_cast<int32_t>(p) + static_cast<int32_t>(static_cast<uint32_t>(static_cast<int32_t>(n)) << 23);
  return nan ? in : std::bit_cast<float>(bits);
}

// tanh x = 1 - 2 / (e^(2x) + 1): exact limits +-1 at both ends, NaN stays NaN.
inline float fast_tanhf(float x) { return 1.0f - 2.0f / (fast_expf(2.0f * x) + 1.0f); }

}  // namespace mc
