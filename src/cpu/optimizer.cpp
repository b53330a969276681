// Reductions for the gradient norm and the AdamW update.
#include <algorithm>
#include <cmath>

#include "cpu/kernels.h"

namespace cpu {

// The summation order depends on n alone: CHUNKS equal chunks (whatever the
// thread count), within a chunk element i goes to double lane (i - begin) % LANES,
// lanes are added in order, then chunks in order.
constexpr int CHUNKS = 64;
constexpr int LANES = 16;

template <typename F, typename Term>
static double chunked_sum(const F* x, size_t n, Term term) {
    double partial[CHUNKS];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < CHUNKS; c++) {
        size_t begin = n * c / CHUNKS, end = n * (c + 1) / CHUNKS;
        double lane[LANES] = {};
        size_t i = begin;
        for (; i + LANES <= end; i += LANES)
            for (int k = 0; k < LANES; k++) lane[k] += term((double)x[i + k]);
        for (; i < end; i++) lane[(i - begin) % LANES] += term((double)x[i]);
        double chunk = 0;
        for (int k = 0; k < LANES; k++) chunk += lane[k];
        partial[c] = chunk;
    }
    double total = 0;
    for (int c = 0; c < CHUNKS; c++) total += partial[c];
    return total;
}

// sum_i x[i], accumulated in double; x (n).
template <typename F>
double sum(const F* x, size_t n) {
    return chunked_sum(x, n, [](double a) { return a; });
}

// sum_i x[i]^2, accumulated in double; x (n). The global gradient norm's pass.
template <typename F>
double sum_squares(const F* x, size_t n) {
    return chunked_sum(x, n, [](double a) { return a * a; });
}

// One AdamW step on elements [begin, end). fp-contract=off keeps the float
// arithmetic exactly the one written, with no fused multiply-add other than
// the two explicit ones (the default -ffp-contract=fast would fuse p * decay
// into the final add). Builtins stand in for std::fma and std::sqrt, which
// would not inline into a function compiled with other options. The loop
// vectorises only under -fno-math-errno (otherwise sqrt keeps a scalar errno path).
__attribute__((optimize("fp-contract=off"))) static void adamw_range(
    float* param, const float* grad, float* m, float* v, size_t begin, size_t end, float grad_scale,
    float decay, float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
    float bias_correction2_sqrt, float eps, float neg_step_size) {
    for (size_t i = begin; i < end; i++) {
        float g = grad[i] * grad_scale;
        float p = param[i] * decay;
        float mi = __builtin_fmaf(g, one_minus_beta1, m[i] * beta1);
        float vi = __builtin_fmaf(one_minus_beta2 * g, g, v[i] * beta2);
        float denom = __builtin_sqrtf(vi) / bias_correction2_sqrt + eps;
        param[i] = p + (neg_step_size * mi) / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

// AdamW over param, grad, m, v (n), step t >= 1, reproducing torch 1.13's
// _single_tensor_adamw on CPU float tensors operation by operation (checked
// bitwise against torch on an AVX2 build). Scalars follow Python: bias
// corrections in double, then rounded to float (f below) where torch hands
// them to a float tensor op. Per element, in float:
//   g     = grad * grad_scale                  clip_grad_norm_'s grad.mul_(coef)
//   p     = p * f(1 - lr*wd)                   param.mul_(1 - lr*weight_decay)
//   m     = fma(g, f(1-b1), m * b1)            exp_avg.mul_(b1).add_(g, alpha=1-b1)
//   v     = fma(f(1-b2) * g, g, v * b2)        exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
//   denom = sqrt(v) / f(sqrt(1-b2^t)) + eps    (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
//   p     = p + (f(-lr/(1-b1^t)) * m) / denom  param.addcdiv_(m, denom, value=-step_size)
// The fmas are torch's: its vectorised add_ with alpha is an explicit fmadd,
// and addcmul's self + value*t1*t2 was contracted by the compiler that built it.
// Elements are independent, so blocks of BLOCK split the work among threads.
void adamw(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1,
           float beta2, float eps, float weight_decay, int t, float grad_scale) {
    constexpr size_t BLOCK = 16384;
    double bias_correction1 = 1.0 - std::pow((double)beta1, t);
    double bias_correction2 = 1.0 - std::pow((double)beta2, t);
    float decay = (float)(1.0 - (double)lr * weight_decay);
    float one_minus_beta1 = (float)(1.0 - beta1);
    float one_minus_beta2 = (float)(1.0 - beta2);
    float neg_step_size = (float)(-((double)lr / bias_correction1));
    float bias_correction2_sqrt = (float)std::sqrt(bias_correction2);
    size_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++)
        adamw_range(param, grad, m, v, b * BLOCK, std::min(n, (b + 1) * BLOCK), grad_scale, decay,
                    beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
                    neg_step_size);
}

template double sum<float>(const float*, size_t);
template double sum<double>(const double*, size_t);
template double sum_squares<float>(const float*, size_t);
template double sum_squares<double>(const double*, size_t);

}  // namespace cpu
