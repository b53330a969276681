// Reductions for the gradient norm, the L1/L2 penalty gradients and AdamW
// (references: src/cpu/optimizer.cpp, src/cpu/penalty.cpp).
#include <cmath>

#include "kernels.cuh"

namespace gpu {

// Pass 1: block b of kSumBlocks sums elements [n*b/kSumBlocks, n*(b+1)/kSumBlocks)
// in double (thread i takes begin+i, begin+i+kThreads, ...; then the block
// reduction). Pass 2: one block adds the kSumBlocks partials. The order depends
// on n alone, so every run gives the same bits.
template <bool Square>
__global__ void partial_sums_kernel(double* partial, const float* x, size_t n) {
    const size_t begin = n * blockIdx.x / kSumBlocks, end = n * (blockIdx.x + 1) / kSumBlocks;
    double acc = 0.0;
    for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        const double v = x[i];
        acc += Square ? v * v : v;
    }
    acc = block_reduce(acc, Sum(), 0.0);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void final_sum_kernel(double* total, const double* partial) {
    const double sum = block_reduce(partial[threadIdx.x], Sum(), 0.0);
    if (threadIdx.x == 0) *total = sum;
}

// scratch: kSumScratch doubles (the partials, then the total).
template <bool Square>
static double reduce(double* scratch, const float* x, size_t n) {
    static_assert(kSumBlocks % kWarp == 0 && kSumBlocks <= 1024, "pass 2 runs one thread per partial");
    partial_sums_kernel<Square><<<kSumBlocks, kThreads>>>(scratch, x, n);
    CHECK_LAUNCH();
    final_sum_kernel<<<1, kSumBlocks>>>(scratch + kSumBlocks, scratch);
    CHECK_LAUNCH();
    double total = 0.0;
    CUDA_CHECK(cudaMemcpy(&total, scratch + kSumBlocks, sizeof(double), cudaMemcpyDeviceToHost));
    return total;
}

// sum_i x[i], accumulated in double; x (n).
double sum(double* scratch, const float* x, size_t n) { return reduce<false>(scratch, x, n); }

// sum_i x[i]^2, accumulated in double; x (n). The global gradient norm's pass.
double sum_squares(double* scratch, const float* x, size_t n) { return reduce<true>(scratch, x, n); }

// grad += l2 * param + l1 * sign(param), sign(0) = 0.
__global__ void penalty_grad_kernel(float* grad, const float* param, size_t n, float l1, float l2) {
    for (size_t i = thread_index(); i < n; i += thread_count()) {
        const float sign = (float)(param[i] > 0.0f) - (float)(param[i] < 0.0f);
        grad[i] += l2 * param[i] + l1 * sign;
    }
}

void penalty_grad(float* grad, const float* param, size_t n, float l1, float l2) {
    if (n == 0) return;
    penalty_grad_kernel<<<grid_for(n), kThreads>>>(grad, param, n, l1, l2);
    CHECK_LAUNCH();
}

// One AdamW step per element, the CPU's (and torch 1.13's) operations in the
// same order; the explicit _rn intrinsics stop the compiler from fusing any
// other multiply-add, so each element rounds exactly as on the CPU:
//   g     = grad * grad_scale
//   p     = p * decay
//   m     = fma(g, 1-b1, m * b1)
//   v     = fma((1-b2) * g, g, v * b2)
//   denom = sqrt(v) / bias_correction2_sqrt + eps
//   p     = p + (neg_step_size * m) / denom
__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, size_t n,
                             float grad_scale, float decay, float beta1, float one_minus_beta1,
                             float beta2, float one_minus_beta2, float bias_correction2_sqrt,
                             float eps, float neg_step_size) {
    for (size_t i = thread_index(); i < n; i += thread_count()) {
        const float g = __fmul_rn(grad[i], grad_scale);
        const float p = __fmul_rn(param[i], decay);
        const float mi = __fmaf_rn(g, one_minus_beta1, __fmul_rn(m[i], beta1));
        const float vi = __fmaf_rn(__fmul_rn(one_minus_beta2, g), g, __fmul_rn(v[i], beta2));
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bias_correction2_sqrt), eps);
        param[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(neg_step_size, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

// AdamW over param, grad, m, v (n), step t >= 1. The scalars are formed on
// the host exactly as cpu::adamw forms them (double, then rounded to float).
void adamw(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1,
           float beta2, float eps, float weight_decay, int t, float grad_scale) {
    if (n == 0) return;
    const double bias_correction1 = 1.0 - std::pow((double)beta1, t);
    const double bias_correction2 = 1.0 - std::pow((double)beta2, t);
    const float decay = (float)(1.0 - (double)lr * weight_decay);
    const float one_minus_beta1 = (float)(1.0 - beta1);
    const float one_minus_beta2 = (float)(1.0 - beta2);
    const float neg_step_size = (float)(-((double)lr / bias_correction1));
    const float bias_correction2_sqrt = (float)std::sqrt(bias_correction2);
    adamw_kernel<<<grid_for(n), kThreads>>>(param, grad, m, v, n, grad_scale, decay, beta1,
                                            one_minus_beta1, beta2, one_minus_beta2,
                                            bias_correction2_sqrt, eps, neg_step_size);
    CHECK_LAUNCH();
}

}  // namespace gpu
