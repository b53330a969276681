// nn.Linear forward and backward through cuBLAS SGEMM (reference: src/cpu/matmul.cpp).
//
// cuBLAS is column-major: a row-major (R, K) matrix with rows ld apart is, to
// cuBLAS, the column-major (K, R) matrix M^T with leading dimension ld. Each
// product below is therefore written for the transposes: row-major X = A B is
// column-major X^T = B^T A^T. The handle runs in pedantic fp32 (no TF32), set
// by the backend, so results agree with the CPU to fp32 rounding.
#include "kernels.cuh"

namespace gpu {

// out[n,o] = bias[o]: the starting value the forward GEMM adds onto (beta = 1).
__global__ void broadcast_rows_kernel(float* out, const float* bias, int OC, size_t total) {
    for (size_t i = thread_index(); i < total; i += thread_count()) out[i] = bias[i % OC];
}

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC); bias may be null.
// Column-major: out^T (OC,N) = weight^T(as stored: (C,OC), op T) * inp^T (C,N).
void matmul_forward(cublasHandle_t handle, float* out, const float* inp, const float* weight,
                    const float* bias, int N, int C, int OC) {
    if (N == 0 || OC == 0) return;
    const float one = 1.0f;
    float beta = 0.0f;
    if (bias) {
        const size_t total = (size_t)N * OC;
        broadcast_rows_kernel<<<grid_for(total), kThreads>>>(out, bias, OC, total);
        CHECK_LAUNCH();
        beta = 1.0f;
    }
    CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &one, weight, C, inp, C,
                             &beta, out, OC));
}

// dinp (N,C) += dout (N,OC) @ weight (OC,C);  dweight (OC,C) += dout^T @ inp (N,C);
// dbias (OC) += sum_n dout[n,:]. A null gradient is skipped.
// Column-major: dinp^T (C,N) += weight^T (C,OC) * dout^T (OC,N);
//               dweight^T (C,OC) += inp^T (C,N) * (dout^T (OC,N), op T).
void matmul_backward(cublasHandle_t handle, float* dinp, float* dweight, float* dbias,
                     const float* dout, const float* inp, const float* weight, int N, int C,
                     int OC) {
    if (N == 0 || C == 0 || OC == 0) return;
    const float one = 1.0f;
    if (dinp)
        CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, weight, C, dout,
                                 OC, &one, dinp, C));
    if (dweight)
        CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp, C, dout,
                                 OC, &one, dweight, C));
    if (dbias) column_sums(dbias, N, OC, MatrixElement{dout, (size_t)OC});
}

}  // namespace gpu
