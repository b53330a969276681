// Layer normalisation over the channel dimension (reference: src/cpu/layernorm.cpp).
// One warp per row: lane l takes channels l, l+32, ..., and the row's sums
// meet in a warp butterfly, whose order depends on C alone.
#include "kernels.cuh"

namespace gpu {

// mean[n] = sum_c inp[n,c] / C;  var[n] = sum_c (inp[n,c] - mean[n])^2 / C (biased);
// rstd[n] = 1 / sqrt(var[n] + eps);  out[n,c] = (inp[n,c] - mean[n]) * rstd[n] * weight[c] + bias[c]
// inp, out (N,C); weight, bias (C); mean, rstd (N). The variance takes a second
// pass over the row (as on the CPU), which stays in L1.
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp,
                                         const float* weight, const float* bias, int N, int C,
                                         float eps) {
    const size_t n = warp_row();
    if (n >= (size_t)N) return;  // the whole warp leaves together
    const float* x = inp + n * C;
    float sum = 0.0f;
    for (int c = lane(); c < C; c += kWarp) sum += x[c];
    const float m = warp_reduce(sum, Sum()) / C;
    float sumsq = 0.0f;
    for (int c = lane(); c < C; c += kWarp) sumsq += (x[c] - m) * (x[c] - m);
    const float s = 1.0f / sqrtf(warp_reduce(sumsq, Sum()) / C + eps);
    float* out_n = out + n * C;
    for (int c = lane(); c < C; c += kWarp) out_n[c] = (x[c] - m) * s * weight[c] + bias[c];
    if (lane() == 0) {
        mean[n] = m;
        rstd[n] = s;
    }
}

// With xhat = (inp - mean) * rstd and g = dout * weight (per row n):
//   dinp[n,c] += rstd * (g[c] - mean_c(g) - xhat[c] * mean_c(g * xhat))
__global__ void layernorm_backward_kernel(float* dinp, const float* dout, const float* inp,
                                          const float* weight, const float* mean,
                                          const float* rstd, int N, int C) {
    const size_t n = warp_row();
    if (n >= (size_t)N) return;
    const float* x = inp + n * C;
    const float* dout_n = dout + n * C;
    const float m = mean[n], s = rstd[n];
    float g_sum = 0.0f, g_xhat_sum = 0.0f;
    for (int c = lane(); c < C; c += kWarp) {
        const float g = dout_n[c] * weight[c];
        g_sum += g;
        g_xhat_sum += g * (x[c] - m) * s;
    }
    const float g_mean = warp_reduce(g_sum, Sum()) / C;
    const float g_xhat_mean = warp_reduce(g_xhat_sum, Sum()) / C;
    float* dinp_n = dinp + n * C;
    for (int c = lane(); c < C; c += kWarp) {
        const float g = dout_n[c] * weight[c];
        dinp_n[c] += s * (g - g_mean - (x[c] - m) * s * g_xhat_mean);
    }
}

// Term for column_sums: dout[n,c] * xhat[n,c], the summand of dweight.
struct DoutTimesXhat {
    const float *dout, *inp, *mean, *rstd;
    int C;
    __device__ float operator()(int n, size_t c) const {
        const size_t i = (size_t)n * C + c;
        return dout[i] * (inp[i] - mean[n]) * rstd[n];
    }
};

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, int N, int C, float eps) {
    if (N == 0) return;
    layernorm_forward_kernel<<<grid_for_warps(N), kThreads>>>(out, mean, rstd, inp, weight, bias,
                                                              N, C, eps);
    CHECK_LAUNCH();
}

// dweight[c] += sum_n dout[n,c] * xhat[n,c];  dbias[c] += sum_n dout[n,c]
// dout, inp, dinp (N,C); any gradient may be null. The column sums add rows
// in an order fixed by N (see column_sums).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean,
                        const float* rstd, int N, int C) {
    if (N == 0) return;
    if (dinp) {
        layernorm_backward_kernel<<<grid_for_warps(N), kThreads>>>(dinp, dout, inp, weight, mean,
                                                                   rstd, N, C);
        CHECK_LAUNCH();
    }
    if (dweight) column_sums(dweight, N, C, DoutTimesXhat{dout, inp, mean, rstd, C});
    if (dbias) column_sums(dbias, N, C, MatrixElement{dout, (size_t)C});
}

}  // namespace gpu
