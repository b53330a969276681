// Multi-head attention with key masks and dropout on the probabilities
// (reference: src/cpu/attention.cpp, whose math and masks this follows).
//
// Per batch row b, the NH heads form one strided batch of cuBLAS products:
// head h's q, k, v are (T, hs) matrices starting at channel h*hs of the packed
// qkv rows (rows 3C apart), so consecutive heads are hs floats apart. The
// (T,T) score and probability matrices of the heads lie T*T apart, in saved
// (B,NH,T,T) for the probabilities P and in a (NH,T,T) scratch area for the
// dropped-out D (forward) or the score gradients (backward). In cuBLAS's
// column-major terms a row-major (T, hs) matrix with rows ld apart is its
// transpose, so each product is written for the transposes (X = A B as
// X^T = B^T A^T). The causal products also compute the masked upper triangle,
// which the softmax then zeroes.
#include <string>

#include "kernels.cuh"
#include "core/rng.h"

namespace gpu {

// keep / (1 - p) for element `index` of the key's dropout stream, 1 when p = 0.
__device__ inline float dropout_scale(uint64_t index, float p, float keep_scale, DropoutKey key) {
    if (p == 0.0f) return 1.0f;
    return philox_uniform(key.seed, key.step, key.site, index) >= p ? keep_scale : 0.0f;
}

// One warp per row r = h*T + t of batch row b, in place on the scores:
//   prob[r,s] = exp(score[r,s] - max) / sum over the keys s that t sees (s <= t if
//   causal, key_mask[s] != 0 if key_mask), 0 for the others; a row that sees no
//   key is all zeros. If drop is not null, drop[r,s] = prob[r,s] * keep / (1 - p),
//   keep from element ((b*NH + h)*T + t)*T + s of the key's stream.
// prob, drop (NH,T,T) for this b; key_mask (T) for this b or null.
__global__ void softmax_forward_kernel(float* prob, float* drop, const int* key_mask, int b,
                                       int NH, int T, bool causal, float p, float keep_scale,
                                       DropoutKey key) {
    const size_t r = warp_row();
    if (r >= (size_t)NH * T) return;  // the whole warp leaves together
    const int t = (int)(r % T), n = causal ? t + 1 : T;
    float* row = prob + r * T;
    auto visible = [&](int s) { return s < n && (!key_mask || key_mask[s] != 0); };

    float maxval = -INFINITY;
    for (int s = lane(); s < n; s += kWarp)
        if (visible(s)) maxval = fmaxf(maxval, row[s]);
    maxval = warp_reduce(maxval, Max());

    float sum = 0.0f;
    for (int s = lane(); s < T; s += kWarp) {
        const float e = maxval != -INFINITY && visible(s) ? expf(row[s] - maxval) : 0.0f;
        row[s] = e;
        sum += e;
    }
    sum = warp_reduce(sum, Sum());
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;

    const uint64_t first = ((uint64_t)b * NH * T + r) * T;
    for (int s = lane(); s < T; s += kWarp) {
        const float prob_s = row[s] * inv;
        row[s] = prob_s;
        if (drop) drop[r * T + s] = prob_s * dropout_scale(first + s, p, keep_scale, key);
    }
}

// drop[i] = prob[i] * keep / (1 - p) over the (NH,T,T) probabilities of batch row b:
// the forward's D, regenerated for the backward.
__global__ void dropout_probs_kernel(float* drop, const float* prob, int b, int NH, int T, float p,
                                     float keep_scale, DropoutKey key) {
    const size_t total = (size_t)NH * T * T, first = (size_t)b * total;
    for (size_t i = thread_index(); i < total; i += thread_count())
        drop[i] = prob[i] * dropout_scale(first + i, p, keep_scale, key);
}

// One warp per row r = h*T + t of batch row b, in place on dD = dout . v:
//   dP[s] = dD[s] * keep / (1 - p);  delta = sum_s P[s] dP[s]
//   grad[r,s] = P[s] (dP[s] - delta) * scale   (scale = 1/sqrt(hs), the scores' factor)
// grad (NH,T,T) holds dD on entry; prob (NH,T,T) for this b.
__global__ void softmax_backward_kernel(float* grad, const float* prob, int b, int NH, int T,
                                        float scale, float p, float keep_scale, DropoutKey key) {
    const size_t r = warp_row();
    if (r >= (size_t)NH * T) return;
    float* g = grad + r * T;
    const float* P = prob + r * T;
    const uint64_t first = ((uint64_t)b * NH * T + r) * T;
    float delta = 0.0f;
    for (int s = lane(); s < T; s += kWarp) {
        const float dP = g[s] * dropout_scale(first + s, p, keep_scale, key);
        g[s] = dP;
        delta += P[s] * dP;
    }
    delta = warp_reduce(delta, Sum());
    for (int s = lane(); s < T; s += kWarp) g[s] = P[s] * (g[s] - delta) * scale;
}

static void check_heads(const char* kernel, int C, int NH) {
    if (NH <= 0 || C % NH != 0)
        throw std::invalid_argument(std::string(kernel) + ": C=" + std::to_string(C) +
                                    " is not a multiple of NH=" + std::to_string(NH));
}

static unsigned grid_for_rows(int NH, int T) { return grid_for_warps((size_t)NH * T); }

size_t attention_saved_floats(int B, int T, int NH) { return (size_t)B * NH * T * T; }

// For each batch b, head h (hs = C/NH channels), with q, k, v the head's (T,hs) slices:
//   S = q k^T / sqrt(hs);  P = masked softmax of S's rows;  D = P * keep / (1 - p)
//   out[b, :, h*hs:(h+1)*hs] = D v
// qkv (B,T,3C) packed [q | k | v]; out (B,T,C); saved (B,NH,T,T) holds P.
void attention_forward(const Blas& blas, Scratch& scratch, float* out, float* saved,
                       const float* qkv, const int* key_mask, int B, int T, int C, int NH,
                       bool causal, float dropout_p, DropoutKey key) {
    check_heads("attention_forward", C, NH);
    if (B == 0 || T == 0 || C == 0) return;
    const int hs = C / NH, C3 = 3 * C;
    const long long TT = (long long)T * T;
    const float scale = 1.0f / sqrtf((float)hs), keep_scale = 1.0f / (1.0f - dropout_p);
    float* drop = dropout_p > 0.0f ? scratch.floats((size_t)NH * TT) : nullptr;
    for (int b = 0; b < B; b++) {
        const float* q = qkv + (size_t)b * T * C3;
        const float* k = q + C;
        const float* v = q + 2 * C;
        float* prob = saved + (size_t)b * NH * TT;
        // S^T (T,T) = (k as (hs,T), op T) * q^T (hs,T), per head.
        gemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs, scale, k, C3, hs, q, C3, hs, 0.0f,
                     prob, T, TT, NH);
        softmax_forward_kernel<<<grid_for_rows(NH, T), kThreads>>>(
            prob, drop, key_mask ? key_mask + (size_t)b * T : nullptr, b, NH, T, causal, dropout_p,
            keep_scale, key);
        CHECK_LAUNCH();
        // out^T (hs,T) = v^T (hs,T) * D^T (T,T), per head.
        gemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T, 1.0f, v, C3, hs, drop ? drop : prob,
                     T, TT, 0.0f, out + (size_t)b * T * C, C, hs, NH);
    }
}

// With P, D, keep as in the forward and dD = dout v^T:
//   dP = dD * keep / (1 - p);  dS = P * (dP - rowsum(P * dP))
//   dq += dS k / sqrt(hs);  dk += dS^T q / sqrt(hs);  dv += D^T dout
// dqkv, qkv (B,T,3C); dout (B,T,C); saved (B,NH,T,T) from the forward. Masks
// need no second look: hidden keys have P = 0, which zeroes their terms.
void attention_backward(const Blas& blas, Scratch& scratch, float* dqkv, const float* dout,
                        const float* qkv, const float* saved, int B, int T, int C, int NH,
                        float dropout_p, DropoutKey key) {
    check_heads("attention_backward", C, NH);
    if (B == 0 || T == 0 || C == 0) return;
    const int hs = C / NH, C3 = 3 * C;
    const long long TT = (long long)T * T;
    const float scale = 1.0f / sqrtf((float)hs), keep_scale = 1.0f / (1.0f - dropout_p);
    float* work = scratch.floats((size_t)NH * TT);
    for (int b = 0; b < B; b++) {
        const size_t row0 = (size_t)b * T * C3;
        const float* q = qkv + row0;
        const float* k = q + C;
        const float* v = q + 2 * C;
        float* dq = dqkv + row0;
        float* dk = dq + C;
        float* dv = dq + 2 * C;
        const float* dO = dout + (size_t)b * T * C;
        const float* prob = saved + (size_t)b * NH * TT;

        const float* drop = prob;
        if (dropout_p > 0.0f) {
            dropout_probs_kernel<<<grid_for((size_t)NH * TT), kThreads>>>(work, prob, b, NH, T,
                                                                          dropout_p, keep_scale, key);
            CHECK_LAUNCH();
            drop = work;
        }
        // dv^T (hs,T) += dout^T (hs,T) * (D^T as stored, op T), per head.
        gemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T, 1.0f, dO, C, hs, drop, T, TT, 1.0f,
                     dv, C3, hs, NH);
        // dD^T (T,T) = (v as (hs,T), op T) * dout^T (hs,T), per head; overwrites D.
        gemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs, 1.0f, v, C3, hs, dO, C, hs, 0.0f,
                     work, T, TT, NH);
        softmax_backward_kernel<<<grid_for_rows(NH, T), kThreads>>>(work, prob, b, NH, T, scale,
                                                                    dropout_p, keep_scale, key);
        CHECK_LAUNCH();
        // dq^T (hs,T) += k^T (hs,T) * dS^T (T,T), per head.
        gemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T, 1.0f, k, C3, hs, work, T, TT, 1.0f,
                     dq, C3, hs, NH);
        // dk^T (hs,T) += q^T (hs,T) * (dS^T as stored, op T), per head.
        gemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T, 1.0f, q, C3, hs, work, T, TT, 1.0f,
                     dk, C3, hs, NH);
    }
}

}  // namespace gpu
