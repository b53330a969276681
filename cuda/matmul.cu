// nn.Linear forward and backward through cuBLAS (reference: src/cpu/matmul.cpp).
//
// cuBLAS is column-major: a row-major (R, K) matrix with rows ld apart is, to
// cuBLAS, the column-major (K, R) matrix M^T with leading dimension ld. Each
// product below is therefore written for the transposes: row-major X = A B is
// column-major X^T = B^T A^T.
#include "kernels.cuh"

namespace gpu {

void gemm(const Blas& blas, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k,
          float alpha, const float* A, int lda, long long stride_a, const float* B, int ldb,
          long long stride_b, float beta, float* X, int ldx, long long stride_x, int batch) {
    if (batch == 1)
        CUBLAS_CHECK(cublasGemmEx(blas.handle, op_a, op_b, m, n, k, &alpha, A, CUDA_R_32F, lda, B,
                                  CUDA_R_32F, ldb, &beta, X, CUDA_R_32F, ldx, blas.compute,
                                  CUBLAS_GEMM_DEFAULT));
    else
        CUBLAS_CHECK(cublasGemmStridedBatchedEx(blas.handle, op_a, op_b, m, n, k, &alpha, A,
                                                CUDA_R_32F, lda, stride_a, B, CUDA_R_32F, ldb,
                                                stride_b, &beta, X, CUDA_R_32F, ldx, stride_x,
                                                batch, blas.compute, CUBLAS_GEMM_DEFAULT));
}

// out[n,o] = bias[o]: the starting value the forward product adds onto (beta = 1).
__global__ void broadcast_rows_kernel(float* out, const float* bias, int OC, size_t total) {
    for (size_t i = thread_index(); i < total; i += thread_count()) out[i] = bias[i % OC];
}

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC); bias may be null.
// Column-major: out^T (OC,N) = (weight as stored: (C,OC), op T) * inp^T (C,N).
void matmul_forward(const Blas& blas, float* out, const float* inp, const float* weight,
                    const float* bias, int N, int C, int OC) {
    if (N == 0 || OC == 0) return;
    float beta = 0.0f;
    if (bias) {
        const size_t total = (size_t)N * OC;
        broadcast_rows_kernel<<<grid_for(total), kThreads>>>(out, bias, OC, total);
        CHECK_LAUNCH();
        beta = 1.0f;
    }
    gemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, 1.0f, weight, C, 0, inp, C, 0, beta, out, OC, 0, 1);
}

// out (N,OC) += inp (N,C) @ weight (OC,C)^T: the forward product with beta = 1.
void matmul_accumulate(const Blas& blas, float* out, const float* inp, const float* weight, int N, int C, int OC) {
    if (N == 0 || OC == 0) return;
    gemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, 1.0f, weight, C, 0, inp, C, 0, 1.0f, out, OC, 0, 1);
}

// dinp (N,C) += dout (N,OC) @ weight (OC,C);  dweight (OC,C) += dout^T @ inp (N,C);
// dbias (OC) += sum_n dout[n,:]. A null gradient is skipped.
// Column-major: dinp^T (C,N) += weight^T (C,OC) * dout^T (OC,N);
//               dweight^T (C,OC) += inp^T (C,N) * (dout^T (OC,N), op T).
void matmul_backward(const Blas& blas, float* dinp, float* dweight, float* dbias,
                     const float* dout, const float* inp, const float* weight, int N, int C,
                     int OC) {
    if (N == 0 || C == 0 || OC == 0) return;
    if (dinp)
        gemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, 1.0f, weight, C, 0, dout, OC, 0, 1.0f, dinp,
             C, 0, 1);
    if (dweight)
        gemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, 1.0f, inp, C, 0, dout, OC, 0, 1.0f, dweight,
             C, 0, 1);
    if (dbias) column_sums(dbias, N, OC, MatrixElement{dout, (size_t)OC});
}

}  // namespace gpu
