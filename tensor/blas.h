// blas.h — the one door to OpenBLAS, for kernels that work on raw (strided) matrices.
//
// C = alpha op(A) op(B) + beta C, row-major, op(X) = X or X^T; lda/ldb/ldc are row
// strides, so a head's slice of a [T, heads*D] matrix is passed without a copy.
// OpenBLAS is put in single-threaded mode on first use: TBB owns the cores.
#pragma once
#include <cstdint>

namespace mc {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc);

extern template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                 int64_t, float, float*, int64_t);
extern template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                                  int64_t, double, double*, int64_t);

}  // namespace mc
