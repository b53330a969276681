// The CPU backend: host memory and the templated kernels of kernels.h, run in fp32.
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/kernels.h"

namespace {

struct CpuBackend final : Backend {
    const char* name() const override { return "cpu"; }

    void* alloc(size_t bytes) override {
        // 64-byte alignment: one AVX-512 vector, one cache line.
        size_t rounded = (bytes + 63) / 64 * 64;
        void* ptr = std::aligned_alloc(64, rounded ? rounded : 64);
        if (!ptr) throw std::bad_alloc();
        std::memset(ptr, 0, rounded);
        return ptr;
    }
    void release(void* ptr) override { std::free(ptr); }
    void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
    void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
    void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
    void zero(void* ptr, size_t bytes) override { std::memset(ptr, 0, bytes); }

    void embedding_forward(float* out, const int* tokens, const int* types, const float* wte,
                           const float* wpe, const float* wtt, int B, int T, int C) override {
        cpu::embedding_forward(out, tokens, types, wte, wpe, wtt, B, T, C);
    }
    void embedding_backward(float* dwte, float* dwpe, float* dwtt, const float* dout,
                            const int* tokens, const int* types, int B, int T, int C) override {
        cpu::embedding_backward(dwte, dwpe, dwtt, dout, tokens, types, B, T, C);
    }
    void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                           const float* weight, const float* bias, int N, int C,
                           float eps) override {
        cpu::layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, eps);
    }
    void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                            const float* inp, const float* weight, const float* mean,
                            const float* rstd, int N, int C) override {
        cpu::layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    }
    void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                        int N, int C, int OC) override {
        cpu::matmul_forward(out, inp, weight, bias, N, C, OC);
    }
    void matmul_accumulate(float* out, const float* inp, const float* weight, int N, int C, int OC) override {
        cpu::matmul_accumulate(out, inp, weight, N, C, OC);
    }
    void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                         const float* inp, const float* weight, int N, int C, int OC) override {
        cpu::matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    }
    size_t attention_saved_floats(int B, int T, int NH) const override {
        return cpu::attention_saved_floats(B, T, NH);
    }
    void attention_forward(float* out, float* saved, const float* qkv, const int* key_mask, int B,
                           int T, int C, int NH, bool causal, float dropout_p,
                           DropoutKey key) override {
        cpu::attention_forward(out, saved, qkv, key_mask, B, T, C, NH, causal, dropout_p, key);
    }
    void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* saved,
                            const int* key_mask, int B, int T, int C, int NH, bool causal,
                            float dropout_p, DropoutKey key) override {
        cpu::attention_backward(dqkv, dout, qkv, saved, key_mask, B, T, C, NH, causal, dropout_p,
                                key);
    }
    void gelu_forward(float* out, const float* inp, size_t n, GeluKind kind) override {
        cpu::gelu_forward(out, inp, n, kind);
    }
    void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n,
                       GeluKind kind) override {
        cpu::gelu_backward(dinp, dout, inp, n, kind);
    }
    void add(float* out, const float* a, const float* b, size_t n) override { cpu::add(out, a, b, n); }
    void relu_forward(float* out, const float* inp, size_t n) override { cpu::relu_forward(out, inp, n); }
    void relu_backward(float* dinp, const float* dout, const float* out, size_t n) override {
        cpu::relu_backward(dinp, dout, out, n);
    }
    void tanh_forward(float* out, const float* inp, size_t n) override { cpu::tanh_forward(out, inp, n); }
    void tanh_backward(float* dinp, const float* dout, const float* out, size_t n) override {
        cpu::tanh_backward(dinp, dout, out, n);
    }
    void accumulate(float* dst, const float* src, size_t n) override { cpu::accumulate(dst, src, n); }
    void scale(float* x, float alpha, size_t n) override { cpu::scale(x, alpha, n); }
    void copy_block(float* dst, int dst_ld, const float* src, int src_ld, int N, int C, bool add) override {
        cpu::copy_block(dst, dst_ld, src, src_ld, N, C, add);
    }
    void dropout_forward(float* out, const float* inp, size_t n, float p, DropoutKey key) override {
        cpu::dropout_forward(out, inp, n, p, key);
    }
    void dropout_backward(float* dinp, const float* dout, size_t n, float p,
                          DropoutKey key) override {
        cpu::dropout_backward(dinp, dout, n, p, key);
    }
    void crossentropy(float* losses, float* dlogits, const float* logits, const int* targets,
                      int N, int V, int Vp, float dloss) override {
        cpu::crossentropy(losses, dlogits, logits, targets, N, V, Vp, dloss);
    }
    double sum(const float* x, size_t n) override { return cpu::sum(x, n); }
    double sum_squares(const float* x, size_t n) override { return cpu::sum_squares(x, n); }
    void penalty_grad(float* grad, const float* param, size_t n, float l1, float l2) override {
        cpu::penalty_grad(grad, param, n, l1, l2);
    }
    void adamw(float* param, const float* grad, float* m, float* v, size_t n, float lr,
               float beta1, float beta2, float eps, float weight_decay, int t,
               float grad_scale) override {
        cpu::adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
    }
};

}  // namespace

Backend* make_cpu_backend() { return new CpuBackend(); }
