// The CUDA backend: device memory from cudaMalloc and the kernels of
// kernels.cuh, in fp32 with cuBLAS for the matrix products, which may instead
// round their inputs to bf16 (make_cuda_bf16_backend). One GPU (the current
// device, 0 unless CUDA_VISIBLE_DEVICES says otherwise), one stream: the
// legacy default stream, which orders every copy, memset, kernel and cuBLAS
// call after the ones before it.
#include <cstdio>
#include <string>

#include "core/backend.h"
#include "kernels.cuh"

namespace {

struct CudaBackend final : Backend {
    const bool bf16;
    gpu::Blas blas{};
    gpu::Scratch scratch;
    double* sum_scratch = nullptr;  // gpu::kSumScratch doubles

    // bf16: matrix products (matmul, attention) round their inputs to bf16 on
    // the tensor cores and accumulate in fp32; every other kernel is fp32 alike.
    explicit CudaBackend(bool bf16_products) : bf16(bf16_products) {
        CUBLAS_CHECK(cublasCreate(&blas.handle));
        try {
            // fp32: pedantic, no TF32 or other reduced-precision shortcut, so
            // products agree with the CPU reference to fp32 rounding. No
            // atomics (cuBLAS's default, made explicit): with one stream, each
            // product then gives the same bits on every run.
            blas.compute = bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F_PEDANTIC;
            CUBLAS_CHECK(cublasSetMathMode(blas.handle, bf16 ? CUBLAS_DEFAULT_MATH : CUBLAS_PEDANTIC_MATH));
            CUBLAS_CHECK(cublasSetAtomicsMode(blas.handle, CUBLAS_ATOMICS_NOT_ALLOWED));
            CUDA_CHECK(cudaMalloc(&sum_scratch, gpu::kSumScratch * sizeof(double)));
        } catch (...) {
            cublasDestroy(blas.handle);
            throw;
        }
    }
    // Errors cannot be thrown from here; a failure this late has already been
    // reported by the call that caused it.
    ~CudaBackend() override {
        cudaFree(sum_scratch);
        cublasDestroy(blas.handle);
    }

    const char* name() const override { return bf16 ? "cuda-bf16" : "cuda"; }

    void* alloc(size_t bytes) override {
        void* ptr = nullptr;
        cudaError_t err = cudaMalloc(&ptr, bytes ? bytes : 1);
        if (err != cudaSuccess)
            throw std::runtime_error("CUDA backend: cannot allocate " + std::to_string(bytes) +
                                     " bytes of device memory: " + cudaGetErrorString(err));
        CUDA_CHECK(cudaMemset(ptr, 0, bytes));
        return ptr;
    }
    // Called from destructors (the arena's), so it reports instead of throwing.
    void release(void* ptr) override {
        cudaError_t err = cudaFree(ptr);
        if (err != cudaSuccess)
            std::fprintf(stderr, "CUDA backend: cudaFree failed: %s\n", cudaGetErrorString(err));
    }
    void upload(void* dst, const void* host_src, size_t bytes) override {
        if (bytes == 0) return;  // an empty host vector may have a null data()
        CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
    }
    void download(void* host_dst, const void* src, size_t bytes) override {
        if (bytes == 0) return;
        CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
    }
    // cudaMemcpy leaves overlapping ranges undefined, so they are refused
    // rather than copied wrongly (the CPU backend's memmove allows them).
    void copy(void* dst, const void* src, size_t bytes) override {
        if (dst == src || bytes == 0) return;
        const char *d = (const char*)dst, *s = (const char*)src;
        if (d < s + bytes && s < d + bytes)
            throw std::invalid_argument("CUDA backend: copy between overlapping ranges");
        CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
    }
    void zero(void* ptr, size_t bytes) override { CUDA_CHECK(cudaMemset(ptr, 0, bytes)); }

    void embedding_forward(float* out, const int* tokens, const int* types, const float* wte,
                           const float* wpe, const float* wtt, int B, int T, int C) override {
        gpu::embedding_forward(out, tokens, types, wte, wpe, wtt, B, T, C);
    }
    void embedding_backward(float* dwte, float* dwpe, float* dwtt, const float* dout,
                            const int* tokens, const int* types, int B, int T, int C) override {
        gpu::embedding_backward(dwte, dwpe, dwtt, dout, tokens, types, B, T, C);
    }
    void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                           const float* weight, const float* bias, int N, int C,
                           float eps) override {
        gpu::layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, eps);
    }
    void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                            const float* inp, const float* weight, const float* mean,
                            const float* rstd, int N, int C) override {
        gpu::layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    }
    void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                        int N, int C, int OC) override {
        gpu::matmul_forward(blas, out, inp, weight, bias, N, C, OC);
    }
    void matmul_accumulate(float* out, const float* inp, const float* weight, int N, int C, int OC) override {
        gpu::matmul_accumulate(blas, out, inp, weight, N, C, OC);
    }
    void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                         const float* inp, const float* weight, int N, int C, int OC) override {
        gpu::matmul_backward(blas, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    }
    size_t attention_saved_floats(int B, int T, int NH) const override {
        return gpu::attention_saved_floats(B, T, NH);
    }
    void attention_forward(float* out, float* saved, const float* qkv, const int* key_mask, int B,
                           int T, int C, int NH, bool causal, float dropout_p,
                           DropoutKey key) override {
        gpu::attention_forward(blas, scratch, out, saved, qkv, key_mask, B, T, C, NH, causal,
                               dropout_p, key);
    }
    // The mask and causality live in the saved probabilities (hidden keys have P = 0).
    void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* saved,
                            const int* /*key_mask*/, int B, int T, int C, int NH, bool /*causal*/,
                            float dropout_p, DropoutKey key) override {
        gpu::attention_backward(blas, scratch, dqkv, dout, qkv, saved, B, T, C, NH, dropout_p,
                                key);
    }
    void gelu_forward(float* out, const float* inp, size_t n, GeluKind kind) override {
        gpu::gelu_forward(out, inp, n, kind);
    }
    void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n,
                       GeluKind kind) override {
        gpu::gelu_backward(dinp, dout, inp, n, kind);
    }
    void add(float* out, const float* a, const float* b, size_t n) override { gpu::add(out, a, b, n); }
    void relu_forward(float* out, const float* inp, size_t n) override { gpu::relu_forward(out, inp, n); }
    void relu_backward(float* dinp, const float* dout, const float* out, size_t n) override {
        gpu::relu_backward(dinp, dout, out, n);
    }
    void tanh_forward(float* out, const float* inp, size_t n) override { gpu::tanh_forward(out, inp, n); }
    void tanh_backward(float* dinp, const float* dout, const float* out, size_t n) override {
        gpu::tanh_backward(dinp, dout, out, n);
    }
    void accumulate(float* dst, const float* src, size_t n) override { gpu::accumulate(dst, src, n); }
    void scale(float* x, float alpha, size_t n) override { gpu::scale(x, alpha, n); }
    void copy_block(float* dst, int dst_ld, const float* src, int src_ld, int N, int C, bool add) override {
        gpu::copy_block(dst, dst_ld, src, src_ld, N, C, add);
    }
    void dropout_forward(float* out, const float* inp, size_t n, float p, DropoutKey key) override {
        gpu::dropout_forward(out, inp, n, p, key);
    }
    void dropout_backward(float* dinp, const float* dout, size_t n, float p,
                          DropoutKey key) override {
        gpu::dropout_backward(dinp, dout, n, p, key);
    }
    void crossentropy(float* losses, float* dlogits, const float* logits, const int* targets,
                      int N, int V, int Vp, float dloss) override {
        gpu::crossentropy(losses, dlogits, logits, targets, N, V, Vp, dloss);
    }
    double sum(const float* x, size_t n) override { return gpu::sum(sum_scratch, x, n); }
    double sum_squares(const float* x, size_t n) override {
        return gpu::sum_squares(sum_scratch, x, n);
    }
    void penalty_grad(float* grad, const float* param, size_t n, float l1, float l2) override {
        gpu::penalty_grad(grad, param, n, l1, l2);
    }
    void adamw(float* param, const float* grad, float* m, float* v, size_t n, float lr,
               float beta1, float beta2, float eps, float weight_decay, int t,
               float grad_scale) override {
        gpu::adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
    }
};

}  // namespace

// Both throw "no CUDA GPU found (...)" on a machine without a usable GPU (no
// driver, no device), so callers such as ./train can fall back to the CPU.
static Backend* make_cuda(bool bf16) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess)
        throw std::runtime_error(std::string("no CUDA GPU found (") + cudaGetErrorString(err) + ")");
    if (count == 0) throw std::runtime_error("no CUDA GPU found (the driver reports 0 devices)");
    return new CudaBackend(bf16);
}

// The plugin's one entry point (bin/libminitrain_cuda.so, see src/core/backend.cpp).
extern "C" Backend* minitrain_cuda_backend(int bf16) { return make_cuda(bf16 != 0); }
