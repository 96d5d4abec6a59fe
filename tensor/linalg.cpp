// linalg.cpp — matrix products through OpenBLAS, parallel with TBB.
//
// OpenBLAS runs single-threaded (set once, below): TBB owns the cores. Work is split
// into (batch, row block) pieces of a fixed size that does not depend on the thread
// count, and each piece is one sgemm/dgemm call, so every output element is computed
// by the same BLAS call with the same K loop on 1 or 16 threads.
#include <cblas.h>

#include <mutex>

#include "tensor/blas.h"
#include "tensor/ops.h"

namespace mc {

namespace {

void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

constexpr int64_t kRowBlock = 64;  // rows of C per task

struct MatView {
  int64_t batch = 1, rows = 0, cols = 0;  // as stored: [batch, rows, cols]
};

MatView mat_view(const Tensor& t, const char* op) {
  if (t.dim() < 2)
    throw ShapeError(std::string(op) + ": expected a matrix (rank >= 2), got shape " + shape_str(t.shape()));
  const AxisSplit sp = axis_split(t.shape(), t.dim() - 2);  // [batch, rows, cols]
  return MatView{sp.outer, sp.n, sp.inner};
}

Shape batch_dims(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

}  // namespace

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc) {
  blas_single_threaded();
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS may skip C entirely; make the empty product explicit
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, TA, TB, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  else
    cblas_dgemm(CblasRowMajor, TA, TB, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

void matmul_acc(Tensor& c, const Tensor& a, const Tensor& b, bool ta, bool tb, double alpha, double beta) {
  blas_single_threaded();
  const MatView A = mat_view(a, "matmul"), B = mat_view(b, "matmul"), C = mat_view(c, "matmul");
  const int64_t m = ta ? A.cols : A.rows, k = ta ? A.rows : A.cols;
  const int64_t kb = tb ? B.cols : B.rows, n = tb ? B.rows : B.cols;
  auto fail = [&](const std::string& why) {
    throw ShapeError("matmul: " + why + ": " + shape_str(a.shape()) + (ta ? "^T" : "") + " x " + shape_str(b.shape()) +
                     (tb ? "^T" : "") + " -> " + shape_str(c.shape()));
  };
  if (k != kb) fail("inner dimensions differ");
  if (C.rows != m || C.cols != n) fail("output shape does not fit");
  if (a.dtype() != b.dtype() || a.dtype() != c.dtype()) fail("dtypes differ");
  // Batches: a 2-D operand is one matrix used for every batch; a batched one (rank > 2)
  // has `nb` matrices (nb may be 0). A 2-D C with batched inputs receives their sum.
  const bool a_batched = a.dim() > 2, b_batched = b.dim() > 2, c_batched = c.dim() > 2;
  if (a_batched && b_batched && batch_dims(a) != batch_dims(b)) fail("batch dimensions differ");
  const int64_t nb = a_batched ? A.batch : b_batched ? B.batch : 1;
  if (c_batched && batch_dims(c) != (a_batched ? batch_dims(a) : b_batched ? batch_dims(b) : Shape{-1}))
    fail("batch dimensions of the output do not fit");
  if (m == 0 || n == 0) return;

  dispatch_float(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    const T* ap = a.data<T>();
    const T* bp = b.data<T>();
    T* cp = c.data<T>();
    const int64_t lda = A.cols, ldb = B.cols, ldc = n;
    const int64_t row_blocks = (m + kRowBlock - 1) / kRowBlock;
    const int64_t c_count = c_batched ? nb : 1;
    const int64_t tasks = c_count * row_blocks;
    const int64_t cost = std::min(m, kRowBlock) * n * std::max<int64_t>(k, 1) * (c_batched ? 1 : nb);
    parallel_for(tasks, 1, cost, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t cb = t / row_blocks, r0 = (t % row_blocks) * kRowBlock, rows = std::min(kRowBlock, m - r0);
        // The batches that add into C's batch cb: just cb, or all of them in order when C is shared.
        const int64_t first = c_batched ? cb : 0, last = c_batched ? cb + 1 : nb;
        T* cblock = cp + cb * m * n + r0 * ldc;
        if (k == 0 || first == last) {  // empty product: C = beta C
          for (int64_t i = 0; i < rows * n; ++i) cblock[i] = beta == 0.0 ? T(0) : static_cast<T>(beta) * cblock[i];
          continue;
        }
        for (int64_t bi = first; bi < last; ++bi) {
          const T* amat = ap + (a_batched ? bi : 0) * A.rows * A.cols;
          const T* bmat = bp + (b_batched ? bi : 0) * B.rows * B.cols;
          // Rows r0.. of op(A): rows of A, or columns of A when transposed.
          const T* ablock = ta ? amat + r0 : amat + r0 * lda;
          gemm<T>(ta, tb, rows, n, k, static_cast<T>(alpha), ablock, lda, bmat, ldb,
                  bi == first ? static_cast<T>(beta) : T(1), cblock, ldc);
        }
      }
    });
  });
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.dim() < 2 || b.dim() < 2)
    throw ShapeError("matmul: expected matrices (rank >= 2), got " + shape_str(a.shape()) + " x " + shape_str(b.shape()));
  const MatView A = mat_view(a, "matmul"), B = mat_view(b, "matmul");
  Shape out = a.dim() > 2 ? batch_dims(a) : batch_dims(b);
  if (a.dim() > 2 && b.dim() > 2 && batch_dims(a) != batch_dims(b))
    throw ShapeError("matmul: batch dimensions differ: " + shape_str(a.shape()) + " x " + shape_str(b.shape()));
  out.push_back(ta ? A.cols : A.rows);
  out.push_back(tb ? B.rows : B.cols);
  Tensor c(out, a.dtype());
  matmul_acc(c, a, b, ta, tb, 1.0, 0.0);
  return c;
}

}  // namespace mc
