// Elementwise kernels: GELU, ReLU, tanh, add, scale, the column-block copy, accumulate and dropout (references:
// src/cpu/pointwise.cpp, src/cpu/dropout.cpp). Grid-stride loops; elements are
// independent, so any launch geometry gives the same bits.
#include "kernels.cuh"
#include "core/rng.h"

namespace gpu {

constexpr float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kInvSqrt2 = 0.7071067811865476f;     // 1/sqrt(2)
constexpr float kInvSqrt2Pi = 0.3989422804014327f;   // 1/sqrt(2 pi)
constexpr float kGeluCubic = 0.044715f;
constexpr float kGeluCubic3 = 0.134145f;              // 3 * 0.044715

// Tanh (GPT-2): out = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
// Erf (BERT):   out = 0.5 x (1 + erf(x / sqrt(2)))
__global__ void gelu_forward_kernel(float* out, const float* inp, size_t n, GeluKind kind) {
    for (size_t i = thread_index(); i < n; i += thread_count()) {
        const float x = inp[i];
        if (kind == GeluKind::Tanh)
            out[i] = 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
        else
            out[i] = 0.5f * x * (1.0f + erff(x * kInvSqrt2));
    }
}

// dinp += dout * gelu'(inp), with
// Tanh: gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// Erf:  gelu'(x) = 0.5 (1 + erf(x / sqrt(2))) + x exp(-x^2 / 2) / sqrt(2 pi)
__global__ void gelu_backward_kernel(float* dinp, const float* dout, const float* inp, size_t n,
                                     GeluKind kind) {
    for (size_t i = thread_index(); i < n; i += thread_count()) {
        const float x = inp[i];
        float grad;
        if (kind == GeluKind::Tanh) {
            const float t = tanhf(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
            const float du = kSqrt2OverPi * (1.0f + kGeluCubic3 * x * x);
            grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        } else {
            const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
            grad = cdf + x * (kInvSqrt2Pi * expf(-0.5f * x * x));
        }
        dinp[i] += dout[i] * grad;
    }
}

// out = tanh(inp); backward dinp += dout * (1 - out^2) from the saved output
__global__ void tanh_forward_kernel(float* out, const float* inp, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) out[i] = tanhf(inp[i]);
}

__global__ void tanh_backward_kernel(float* dinp, const float* dout, const float* out, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

// out = max(inp, 0); backward dinp += dout * (out > 0) from the saved output
__global__ void relu_forward_kernel(float* out, const float* inp, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) out[i] = fmaxf(inp[i], 0.0f);
}

__global__ void relu_backward_kernel(float* dinp, const float* dout, const float* out, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count())
        if (out[i] > 0.0f) dinp[i] += dout[i];
}

__global__ void scale_kernel(float* x, float alpha, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) x[i] *= alpha;
}

// dst[n*dst_ld + c] (+)= src[n*src_ld + c], one thread per element
__global__ void copy_block_kernel(float* dst, int dst_ld, const float* src, int src_ld, int C, size_t total,
                                  bool add) {
    for (size_t i = thread_index(); i < total; i += thread_count()) {
        const size_t n = i / C, c = i % C;
        const float v = src[n * src_ld + c];
        if (add)
            dst[n * dst_ld + c] += v;
        else
            dst[n * dst_ld + c] = v;
    }
}

// out = a + b (out may alias a or b)
__global__ void add_kernel(float* out, const float* a, const float* b, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) out[i] = a[i] + b[i];
}

// dst += src
__global__ void accumulate_kernel(float* dst, const float* src, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) dst[i] += src[i];
}

// One thread per group q of 4 elements, which one Philox call serves:
//   out[i] = inp[i] * mask[i]              (forward; out may alias inp)
//   out[i] += inp[i] * mask[i]             (backward: dinp += dout * mask)
// mask[i] = uniform(key, i) >= p ? keep_scale : 0, keep_scale = 1/(1-p) rounded
// once, as torch and the CPU do; a dropped element is inp * 0.
template <bool Accumulate>
__global__ void dropout_kernel(float* out, const float* inp, size_t n, float p, float keep_scale,
                               DropoutKey key) {
    const size_t groups = (n + 3) / 4;
    for (size_t q = thread_index(); q < groups; q += thread_count()) {
        const Uniform4 u = philox_uniform4(key.seed, key.step, key.site, (uint32_t)q);
        for (int k = 0; k < 4; k++) {
            const size_t i = 4 * q + k;
            if (i >= n) break;
            const float kept = inp[i] * (u.u[k] >= p ? keep_scale : 0.0f);
            if constexpr (Accumulate)
                out[i] += kept;
            else
                out[i] = kept;
        }
    }
}

void gelu_forward(float* out, const float* inp, size_t n, GeluKind kind) {
    if (n == 0) return;
    gelu_forward_kernel<<<grid_for(n), kThreads>>>(out, inp, n, kind);
    CHECK_LAUNCH();
}

void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n, GeluKind kind) {
    if (n == 0) return;
    gelu_backward_kernel<<<grid_for(n), kThreads>>>(dinp, dout, inp, n, kind);
    CHECK_LAUNCH();
}

void tanh_forward(float* out, const float* inp, size_t n) {
    if (n == 0) return;
    tanh_forward_kernel<<<grid_for(n), kThreads>>>(out, inp, n);
    CHECK_LAUNCH();
}

void tanh_backward(float* dinp, const float* dout, const float* out, size_t n) {
    if (n == 0) return;
    tanh_backward_kernel<<<grid_for(n), kThreads>>>(dinp, dout, out, n);
    CHECK_LAUNCH();
}

void relu_forward(float* out, const float* inp, size_t n) {
    if (n == 0) return;
    relu_forward_kernel<<<grid_for(n), kThreads>>>(out, inp, n);
    CHECK_LAUNCH();
}

void relu_backward(float* dinp, const float* dout, const float* out, size_t n) {
    if (n == 0) return;
    relu_backward_kernel<<<grid_for(n), kThreads>>>(dinp, dout, out, n);
    CHECK_LAUNCH();
}

void scale(float* x, float alpha, size_t n) {
    if (n == 0) return;
    scale_kernel<<<grid_for(n), kThreads>>>(x, alpha, n);
    CHECK_LAUNCH();
}

void copy_block(float* dst, int dst_ld, const float* src, int src_ld, int N, int C, bool add) {
    const size_t total = (size_t)N * C;
    if (total == 0) return;
    copy_block_kernel<<<grid_for(total), kThreads>>>(dst, dst_ld, src, src_ld, C, total, add);
    CHECK_LAUNCH();
}

void add(float* out, const float* a, const float* b, size_t n) {
    if (n == 0) return;
    add_kernel<<<grid_for(n), kThreads>>>(out, a, b, n);
    CHECK_LAUNCH();
}

void accumulate(float* dst, const float* src, size_t n) {
    if (n == 0) return;
    accumulate_kernel<<<grid_for(n), kThreads>>>(dst, src, n);
    CHECK_LAUNCH();
}

// out = inp * keep / (1 - p); p = 0 is a copy.
void dropout_forward(float* out, const float* inp, size_t n, float p, DropoutKey key) {
    if (n == 0) return;
    if (p == 0.0f) {
        if (out != inp)
            CUDA_CHECK(cudaMemcpy(out, inp, n * sizeof(float), cudaMemcpyDeviceToDevice));
        return;
    }
    dropout_kernel<false><<<grid_for((n + 3) / 4), kThreads>>>(out, inp, n, p, 1.0f / (1.0f - p), key);
    CHECK_LAUNCH();
}

// dinp += dout * keep / (1 - p), with the forward's mask.
void dropout_backward(float* dinp, const float* dout, size_t n, float p, DropoutKey key) {
    if (n == 0) return;
    if (p == 0.0f) return accumulate(dinp, dout, n);
    dropout_kernel<true><<<grid_for((n + 3) / 4), kThreads>>>(dinp, dout, n, p, 1.0f / (1.0f - p), key);
    CHECK_LAUNCH();
}

}  // namespace gpu
