// qkv_gemm.cpp — would one [M,C] x [C,3C] product for q, k and v pay against three
// [M,C] x [C,C] ones? Times both, forward and the two backward products, in OpenBLAS
// on its own (docs/benchmarks.md, "measured and not done"). Not part of the build:
//   g++ -O2 bench/qkv_gemm.cpp -o /tmp/qkv_gemm -lopenblas && OPENBLAS_NUM_THREADS=2 /tmp/qkv_gemm [M] [C]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
// The median of 15 runs of f, in ms.
template <class F>
double median_ms(F f) {
  std::vector<double> t;
  for (int r = 0; r < 15; ++r) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[7];
}
}  // namespace

int main(int argc, char** argv) {
  const int M = argc > 1 ? std::atoi(argv[1]) : 4096, C = argc > 2 ? std::atoi(argv[2]) : 256;
  std::vector<float> x(size_t(M) * C, 0.01f), w(size_t(C) * 3 * C, 0.02f), y(size_t(M) * 3 * C);
  std::vector<float> dy(size_t(M) * 3 * C, 0.01f), dx(size_t(M) * C), dw(size_t(3) * C * C);
  const auto R = CblasRowMajor;
  const auto N = CblasNoTrans, T = CblasTrans;
  // forward: y = x w, as three [C,C] blocks of w (columns i C .. (i+1) C) or as one
  const double f3 = median_ms([&] {
    for (int i = 0; i < 3; ++i) cblas_sgemm(R, N, N, M, C, C, 1, x.data(), C, w.data() + i * C, 3 * C, 0, y.data() + i * C, 3 * C);
  });
  const double f1 = median_ms([&] { cblas_sgemm(R, N, N, M, 3 * C, C, 1, x.data(), C, w.data(), 3 * C, 0, y.data(), 3 * C); });
  // dx = dy w^T: three products summed, or one with K = 3C
  const double x3 = median_ms([&] {
    for (int i = 0; i < 3; ++i)
      cblas_sgemm(R, N, T, M, C, C, 1, dy.data() + i * C, 3 * C, w.data() + i * C, 3 * C, i ? 1 : 0, dx.data(), C);
  });
  const double x1 = median_ms([&] { cblas_sgemm(R, N, T, M, C, 3 * C, 1, dy.data(), 3 * C, w.data(), 3 * C, 0, dx.data(), C); });
  // dw = x^T dy
  const double w3 = median_ms([&] {
    for (int i = 0; i < 3; ++i) cblas_sgemm(R, T, N, C, C, M, 1, x.data(), C, dy.data() + i * C, 3 * C, 0, dw.data() + i * C, 3 * C);
  });
  const double w1 = median_ms([&] { cblas_sgemm(R, T, N, C, 3 * C, M, 1, x.data(), C, dy.data(), 3 * C, 0, dw.data(), 3 * C); });
  std::printf("M %d, C %d (medians of 15, ms)\n", M, C);
  std::printf("forward  three %.2f  one %.2f\ndx       three %.2f  one %.2f\ndw       three %.2f  one %.2f\n", f3, f1, x3, x1, w3, w1);
  std::printf("per layer and step: three %.2f  one %.2f\n", f3 + x3 + w3, f1 + x1 + w1);
}
