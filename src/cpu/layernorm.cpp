// Layer normalisation over the channel dimension, as torch.nn.LayerNorm.
#include <algorithm>
#include <cmath>

#include "cpu/kernels.h"

namespace cpu {

// mean[n] = sum_c inp[n,c] / C;  var[n] = sum_c (inp[n,c] - mean[n])^2 / C (biased);
// rstd[n] = 1 / sqrt(var[n] + eps);  out[n,c] = (inp[n,c] - mean[n]) * rstd[n] * weight[c] + bias[c]
// inp, out (N,C); weight, bias (C); mean, rstd (N), saved for backward.
// The variance takes a second pass over the row rather than E[x^2] - mean^2,
// which cancels badly when |mean| >> std.
template <typename F>
void layernorm_forward(F* out, F* mean, F* rstd, const F* inp, const F* weight, const F* bias,
                       int N, int C, F eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const F* x = inp + (size_t)n * C;
        F sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int c = 0; c < C; c++) sum += x[c];
        F m = sum / C;
        F sumsq = 0;
#pragma omp simd reduction(+ : sumsq)
        for (int c = 0; c < C; c++) sumsq += (x[c] - m) * (x[c] - m);
        F s = F(1) / std::sqrt(sumsq / C + eps);
        F* out_n = out + (size_t)n * C;
        for (int c = 0; c < C; c++) out_n[c] = (x[c] - m) * s * weight[c] + bias[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

// With xhat = (inp - mean) * rstd and g = dout * weight (per row n):
//   dinp[n,c] += rstd * (g[c] - mean_c(g) - xhat[c] * mean_c(g * xhat))
//   dweight[c] += sum_n dout[n,c] * xhat[n,c];  dbias[c] += sum_n dout[n,c]
// dout, inp, dinp (N,C); weight, dweight, dbias (C); any gradient may be null.
// dinp is per row, so rows run in parallel. dweight and dbias reduce over rows:
// each work item owns a channel range and adds the rows in order, so the sums
// come out the same for any number of threads.
template <typename F>
void layernorm_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp,
                        const F* weight, const F* mean, const F* rstd, int N, int C) {
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const F* x = inp + (size_t)n * C;
            const F* dout_n = dout + (size_t)n * C;
            F m = mean[n], s = rstd[n];
            F g_mean = 0, g_xhat_mean = 0;
#pragma omp simd reduction(+ : g_mean, g_xhat_mean)
            for (int c = 0; c < C; c++) {
                F g = dout_n[c] * weight[c];
                g_mean += g;
                g_xhat_mean += g * (x[c] - m) * s;
            }
            g_mean /= C;
            g_xhat_mean /= C;
            F* dinp_n = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                F g = dout_n[c] * weight[c];
                dinp_n[c] += s * (g - g_mean - (x[c] - m) * s * g_xhat_mean);
            }
        }
    }
    if (dweight || dbias) {
        int nchunks = (C + kChannelChunk - 1) / kChannelChunk;
#pragma omp parallel for schedule(static)
        for (int chunk = 0; chunk < nchunks; chunk++) {
            int c0 = chunk * kChannelChunk;
            int c1 = std::min(C, c0 + kChannelChunk);
            for (int n = 0; n < N; n++) {
                const F* x = inp + (size_t)n * C;
                const F* dout_n = dout + (size_t)n * C;
                F m = mean[n], s = rstd[n];
                if (dweight)
                    for (int c = c0; c < c1; c++) dweight[c] += dout_n[c] * (x[c] - m) * s;
                if (dbias)
                    for (int c = c0; c < c1; c++) dbias[c] += dout_n[c];
            }
        }
    }
}

template void layernorm_forward<float>(float*, float*, float*, const float*, const float*,
                                       const float*, int, int, float);
template void layernorm_forward<double>(double*, double*, double*, const double*, const double*,
                                        const double*, int, int, double);
template void layernorm_backward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, int, int);
template void layernorm_backward<double>(double*, double*, double*, const double*, const double*,
                                         const double*, const double*, const double*, int, int);

}  // namespace cpu
