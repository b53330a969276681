// The CUDA kernels behind CudaBackend: one host function per kernel of the
// interface in src/core/backend.h, with its semantics (backward adds into
// gradients, a null gradient is skipped, dlogits is written). The reference
// for each is the same-named CPU kernel in src/cpu/. All work runs in order on
// the legacy default stream, which cuBLAS also uses, so no call needs a
// synchronisation except those that return a value to the host.
#pragma once
#include <cublas_v2.h>

#include <cstddef>

#include "core/backend.h"
#include "common.cuh"

namespace gpu {

// encoder.cu
void embedding_forward(float* out, const int* tokens, const int* types, const float* wte,
                       const float* wpe, const float* wtt, int B, int T, int C);
void embedding_backward(float* dwte, float* dwpe, float* dwtt, const float* dout,
                        const int* tokens, const int* types, int B, int T, int C);

// layernorm.cu
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, int N, int C, float eps);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean,
                        const float* rstd, int N, int C);

// cuBLAS, and the precision of its matrix products on fp32 tensors:
// CUBLAS_COMPUTE_32F_PEDANTIC, fp32 throughout (agrees with the CPU to fp32
// rounding), or CUBLAS_COMPUTE_32F_FAST_16BF, inputs rounded to bf16 on the
// fly for the tensor cores with fp32 accumulation and output.
struct Blas {
    cublasHandle_t handle;
    cublasComputeType_t compute;
};

// matmul.cu. gemm: X (m,n) = alpha op(A) op(B) + beta X on column-major fp32
// matrices, for `batch` triples, the i-th of each operand starting i * stride
// floats after the first.
void gemm(const Blas& blas, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k,
          float alpha, const float* A, int lda, long long stride_a, const float* B, int ldb,
          long long stride_b, float beta, float* X, int ldx, long long stride_x, int batch);
void matmul_forward(const Blas& blas, float* out, const float* inp, const float* weight,
                    const float* bias, int N, int C, int OC);
void matmul_accumulate(const Blas& blas, float* out, const float* inp, const float* weight, int N, int C,
                       int OC);
void matmul_backward(const Blas& blas, float* dinp, float* dweight, float* dbias,
                     const float* dout, const float* inp, const float* weight, int N, int C,
                     int OC);

// attention.cu: batched cuBLAS products around softmax kernels; saves the
// probabilities (B,NH,T,T) like the CPU, and uses (NH,T,T) floats of scratch.
size_t attention_saved_floats(int B, int T, int NH);
void attention_forward(const Blas& blas, Scratch& scratch, float* out, float* saved,
                       const float* qkv, const int* key_mask, int B, int T, int C, int NH,
                       bool causal, float dropout_p, DropoutKey key);
void attention_backward(const Blas& blas, Scratch& scratch, float* dqkv, const float* dout,
                        const float* qkv, const float* saved, int B, int T, int C, int NH,
                        float dropout_p, DropoutKey key);

// pointwise.cu
void gelu_forward(float* out, const float* inp, size_t n, GeluKind kind);
void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n, GeluKind kind);
void add(float* out, const float* a, const float* b, size_t n);
void accumulate(float* dst, const float* src, size_t n);
void tanh_forward(float* out, const float* inp, size_t n);
void relu_forward(float* out, const float* inp, size_t n);
void relu_backward(float* dinp, const float* dout, const float* out, size_t n);
void scale(float* x, float alpha, size_t n);
void copy_block(float* dst, int dst_ld, const float* src, int src_ld, int N, int C, bool add);
void tanh_backward(float* dinp, const float* dout, const float* out, size_t n);
void dropout_forward(float* out, const float* inp, size_t n, float p, DropoutKey key);
void dropout_backward(float* dinp, const float* dout, size_t n, float p, DropoutKey key);

// crossentropy.cu
void crossentropy(float* losses, float* dlogits, const float* logits, const int* targets, int N,
                  int V, int Vp, float dloss);

// optimizer.cu. The sums need kSumScratch doubles of device memory, and wait
// for the device to return their result.
constexpr int kSumBlocks = 256;
constexpr size_t kSumScratch = kSumBlocks + 1;
double sum(double* scratch, const float* x, size_t n);
double sum_squares(double* scratch, const float* x, size_t n);
void penalty_grad(float* grad, const float* param, size_t n, float l1, float l2);
void adamw(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1,
           float beta2, float eps, float weight_decay, int t, float grad_scale);

}  // namespace gpu
