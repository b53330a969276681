// Elementwise kernels: GELU, ReLU and tanh with their derivatives, add, accumulate,
// scale, and the column-block copy. Elements are
// independent, so any split over threads gives the same bits.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/mathfn.h"

namespace cpu {

constexpr double kSqrt2OverPi = 0.7978845608028654;    // sqrt(2/pi)
constexpr double kInvSqrt2 = 0.7071067811865476;       // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.3989422804014327;     // 1/sqrt(2 pi)
constexpr double kGeluCubic = 0.044715;

// Tanh (GPT-2): out = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
// Erf (BERT):   out = 0.5 x (1 + erf(x / sqrt(2)))
// out, inp (n). fast_tanh and fast_erf (mathfn.h) let both loops vectorise.
template <typename F>
void gelu_forward(F* out, const F* inp, size_t n, GeluKind kind) {
    if (kind == GeluKind::Tanh) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            F x = inp[i];
            F u = F(kSqrt2OverPi) * (x + F(kGeluCubic) * x * x * x);
            out[i] = F(0.5) * x * (F(1) + fast_tanh(u));
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            F x = inp[i];
            out[i] = F(0.5) * x * (F(1) + fast_erf(x * F(kInvSqrt2)));
        }
    }
}

// dinp += dout * gelu'(inp), with
// Tanh: gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// Erf:  gelu'(x) = 0.5 (1 + erf(x / sqrt(2))) + x exp(-x^2 / 2) / sqrt(2 pi)
// dinp, dout, inp (n).
template <typename F>
void gelu_backward(F* dinp, const F* dout, const F* inp, size_t n, GeluKind kind) {
    if (kind == GeluKind::Tanh) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            F x = inp[i];
            F t = fast_tanh(F(kSqrt2OverPi) * (x + F(kGeluCubic) * x * x * x));
            F du = F(kSqrt2OverPi) * (F(1) + F(3 * kGeluCubic) * x * x);
            dinp[i] += dout[i] * (F(0.5) * (F(1) + t) + F(0.5) * x * (F(1) - t * t) * du);
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            F x = inp[i];
            F cdf = F(0.5) * (F(1) + fast_erf(x * F(kInvSqrt2)));
            F pdf = F(kInvSqrt2Pi) * fast_exp(F(-0.5) * x * x);
            dinp[i] += dout[i] * (cdf + x * pdf);
        }
    }
}

// out = max(inp, 0) (P-tuning's prompt encoder); out, inp (n).
template <typename F>
void relu_forward(F* out, const F* inp, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > F(0) ? inp[i] : F(0);
}

// dinp += dout * (out > 0), from the saved output (which is > 0 exactly where inp is).
template <typename F>
void relu_backward(F* dinp, const F* dout, const F* out, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dinp[i] += out[i] > F(0) ? dout[i] : F(0);
}

// out = tanh(inp) (BERT's pooler); out, inp (n). std::tanh: few elements, exact.
template <typename F>
void tanh_forward(F* out, const F* inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = std::tanh(inp[i]);
}

// dinp += dout * (1 - out^2), from the saved output; dinp, dout, out (n).
template <typename F>
void tanh_backward(F* dinp, const F* dout, const F* out, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (F(1) - out[i] * out[i]);
}

// out = a + b; out, a, b (n); out may alias a or b.
template <typename F>
void add(F* out, const F* a, const F* b, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// dst += src; dst, src (n).
template <typename F>
void accumulate(F* dst, const F* src, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

template void gelu_forward<float>(float*, const float*, size_t, GeluKind);
template void gelu_forward<double>(double*, const double*, size_t, GeluKind);
template void gelu_backward<float>(float*, const float*, const float*, size_t, GeluKind);
template void gelu_backward<double>(double*, const double*, const double*, size_t, GeluKind);
// x *= alpha; x (n).
template <typename F>
void scale(F* x, F alpha, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= alpha;
}

// dst[n*dst_ld + c] (+)= src[n*src_ld + c] for n < N, c < C.
template <typename F>
void copy_block(F* dst, int dst_ld, const F* src, int src_ld, int N, int C, bool add) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        F* d = dst + (size_t)n * dst_ld;
        const F* s = src + (size_t)n * src_ld;
        if (add)
            for (int c = 0; c < C; c++) d[c] += s[c];
        else
            for (int c = 0; c < C; c++) d[c] = s[c];
    }
}

template void relu_forward<float>(float*, const float*, size_t);
template void relu_forward<double>(double*, const double*, size_t);
template void relu_backward<float>(float*, const float*, const float*, size_t);
template void relu_backward<double>(double*, const double*, const double*, size_t);
template void scale<float>(float*, float, size_t);
template void scale<double>(double*, double, size_t);
template void copy_block<float>(float*, int, const float*, int, int, int, bool);
template void copy_block<double>(double*, int, const double*, int, int, int, bool);
template void tanh_forward<float>(float*, const float*, size_t);
template void tanh_forward<double>(double*, const double*, size_t);
template void tanh_backward<float>(float*, const float*, const float*, size_t);
template void tanh_backward<double>(double*, const double*, const double*, size_t);
template void add<float>(float*, const float*, const float*, size_t);
template void add<double>(double*, const double*, const double*, size_t);
template void accumulate<float>(float*, const float*, size_t);
template void accumulate<double>(double*, const double*, size_t);

}  // namespace cpu
