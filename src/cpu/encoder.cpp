// Token, position and token-type embeddings: GPT-2 sums the first two, BERT all three.
#include <algorithm>

#include "cpu/kernels.h"

namespace cpu {

// out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:] + wtt[types[b,t],:]
// out (B,T,C); tokens, types (B,T); wte (Vp,C), wpe (maxT,C), wtt (ntypes,C).
// A null wpe or wtt contributes nothing; a null types means type 0 everywhere.
template <typename F>
void embedding_forward(F* out, const int* tokens, const int* types, const F* wte, const F* wpe,
                       const F* wtt, int B, int T, int C) {
#pragma omp parallel for schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        F* out_bt = out + (size_t)bt * C;
        const F* tok = wte + (size_t)tokens[bt] * C;
        for (int c = 0; c < C; c++) out_bt[c] = tok[c];
        if (wpe) {
            const F* pos = wpe + (size_t)(bt % T) * C;
            for (int c = 0; c < C; c++) out_bt[c] += pos[c];
        }
        if (wtt) {
            const F* typ = wtt + (size_t)(types ? types[bt] : 0) * C;
            for (int c = 0; c < C; c++) out_bt[c] += typ[c];
        }
    }
}

// dwte[tokens[b,t],:] += dout[b,t,:]; dwpe[t,:] += dout[b,t,:]; dwtt[types[b,t],:] += dout[b,t,:]
// dout (B,T,C); any gradient may be null. A repeated token sums several rows into
// one dwte row, so each work item owns a channel range and walks all rows in
// order: no two threads touch the same element, and every element receives its
// terms in row order whatever the number of threads.
template <typename F>
void embedding_backward(F* dwte, F* dwpe, F* dwtt, const F* dout, const int* tokens,
                        const int* types, int B, int T, int C) {
    int nchunks = (C + kChannelChunk - 1) / kChannelChunk;
#pragma omp parallel for schedule(static)
    for (int chunk = 0; chunk < nchunks; chunk++) {
        int c0 = chunk * kChannelChunk;
        int c1 = std::min(C, c0 + kChannelChunk);
        for (int bt = 0; bt < B * T; bt++) {
            const F* dout_bt = dout + (size_t)bt * C;
            if (dwte) {
                F* g = dwte + (size_t)tokens[bt] * C;
                for (int c = c0; c < c1; c++) g[c] += dout_bt[c];
            }
            if (dwpe) {
                F* g = dwpe + (size_t)(bt % T) * C;
                for (int c = c0; c < c1; c++) g[c] += dout_bt[c];
            }
            if (dwtt) {
                F* g = dwtt + (size_t)(types ? types[bt] : 0) * C;
                for (int c = c0; c < c1; c++) g[c] += dout_bt[c];
            }
        }
    }
}

template void embedding_forward<float>(float*, const int*, const int*, const float*, const float*,
                                       const float*, int, int, int);
template void embedding_forward<double>(double*, const int*, const int*, const double*,
                                        const double*, const double*, int, int, int);
template void embedding_backward<float>(float*, float*, float*, const float*, const int*,
                                        const int*, int, int, int);
template void embedding_backward<double>(double*, double*, double*, const double*, const int*,
                                         const int*, int, int, int);

}  // namespace cpu
