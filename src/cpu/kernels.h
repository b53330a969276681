// The CPU kernels: plain loops over plain arrays, OpenMP across rows.
//
// Each kernel is a template over the scalar type: the CPU backend runs the
// float instantiation, and the tests run the double one so that finite
// differences check every backward pass in double precision. Semantics,
// shapes and the "backward adds into gradients" rule are those of the kernel
// interface in src/core/backend.h. Every kernel partitions its reductions in a way
// fixed by the shapes alone, so results are bitwise the same for any number of
// threads.
#pragma once
#include <cstddef>

#include "core/backend.h"

namespace cpu {

// Reductions over rows into per-channel sums (embedding and LayerNorm weight
// gradients) give each work item this many channels and walk all rows in
// order: race-free and independent of the thread count. Four cache lines of
// floats, so C = 768 makes 12 items to spread over the threads.
constexpr int kChannelChunk = 64;

// encoder.cpp
template <typename F>
void embedding_forward(F* out, const int* tokens, const int* types, const F* wte, const F* wpe,
                       const F* wtt, int B, int T, int C);
template <typename F>
void embedding_backward(F* dwte, F* dwpe, F* dwtt, const F* dout, const int* tokens,
                        const int* types, int B, int T, int C);

// layernorm.cpp
template <typename F>
void layernorm_forward(F* out, F* mean, F* rstd, const F* inp, const F* weight, const F* bias,
                       int N, int C, F eps);
template <typename F>
void layernorm_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp,
                        const F* weight, const F* mean, const F* rstd, int N, int C);

// matmul.cpp: a cache-blocked GEMM, C (+)= op(A) op(B), serves all three products.
template <typename F>
void matmul_forward(F* out, const F* inp, const F* weight, const F* bias, int N, int C, int OC);
template <typename F>
void matmul_accumulate(F* out, const F* inp, const F* weight, int N, int C, int OC);
template <typename F>
void matmul_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight,
                     int N, int C, int OC);

// attention.cpp: saves the probabilities, (B,NH,T,T).
size_t attention_saved_floats(int B, int T, int NH);
template <typename F>
void attention_forward(F* out, F* saved, const F* qkv, const int* key_mask, int B, int T, int C,
                       int NH, bool causal, float dropout_p, DropoutKey key);
template <typename F>
void attention_backward(F* dqkv, const F* dout, const F* qkv, const F* saved, const int* key_mask,
                        int B, int T, int C, int NH, bool causal, float dropout_p, DropoutKey key);

// pointwise.cpp
template <typename F>
void gelu_forward(F* out, const F* inp, size_t n, GeluKind kind);
template <typename F>
void gelu_backward(F* dinp, const F* dout, const F* inp, size_t n, GeluKind kind);
template <typename F>
void relu_forward(F* out, const F* inp, size_t n);
template <typename F>
void relu_backward(F* dinp, const F* dout, const F* out, size_t n);
template <typename F>
void tanh_forward(F* out, const F* inp, size_t n);
template <typename F>
void tanh_backward(F* dinp, const F* dout, const F* out, size_t n);
template <typename F>
void add(F* out, const F* a, const F* b, size_t n);
template <typename F>
void accumulate(F* dst, const F* src, size_t n);
template <typename F>
void scale(F* x, F alpha, size_t n);
template <typename F>
void copy_block(F* dst, int dst_ld, const F* src, int src_ld, int N, int C, bool add);

// dropout.cpp
template <typename F>
void dropout_forward(F* out, const F* inp, size_t n, float p, DropoutKey key);
template <typename F>
void dropout_backward(F* dinp, const F* dout, size_t n, float p, DropoutKey key);

// crossentropy.cpp
template <typename F>
void crossentropy(F* losses, F* dlogits, const F* logits, const int* targets, int N, int V, int Vp,
                  F dloss);

// optimizer.cpp
template <typename F>
double sum(const F* x, size_t n);
template <typename F>
double sum_squares(const F* x, size_t n);
void penalty_grad(float* grad, const float* param, size_t n, float l1, float l2);  // penalty.cpp
void adamw(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1,
           float beta2, float eps, float weight_decay, int t, float grad_scale);

}  // namespace cpu
