// Token, position and token-type embeddings (reference: src/cpu/encoder.cpp).
#include "kernels.cuh"

namespace gpu {

// out[bt,c] = wte[tokens[bt],c] + wpe[bt%T,c] + wtt[types[bt],c], one thread per element.
// out (N=B*T, C); a null wpe or wtt adds nothing, a null types means type 0.
__global__ void embedding_forward_kernel(float* out, const int* tokens, const int* types,
                                         const float* wte, const float* wpe, const float* wtt,
                                         int T, int C, size_t total) {
    for (size_t i = thread_index(); i < total; i += thread_count()) {
        const size_t bt = i / C, c = i % C;
        float x = wte[(size_t)tokens[bt] * C + c];
        if (wpe) x += wpe[(bt % T) * C + c];
        if (wtt) x += wtt[(size_t)(types ? types[bt] : 0) * C + c];
        out[i] = x;
    }
}

// dtable[ids[bt],c] += dout[bt,c] for every row bt (ids null: row 0 of dtable).
// One thread per channel walks the rows in order, so a repeated id receives
// its rows in row order, exactly as on the CPU, with no atomics.
__global__ void scatter_rows_kernel(float* dtable, const float* dout, const int* ids, int N, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    for (int bt = 0; bt < N; bt++) {
        const size_t id = ids ? ids[bt] : 0;
        dtable[id * C + c] += dout[(size_t)bt * C + c];
    }
}

void embedding_forward(float* out, const int* tokens, const int* types, const float* wte,
                       const float* wpe, const float* wtt, int B, int T, int C) {
    const size_t total = (size_t)B * T * C;
    if (total == 0) return;
    embedding_forward_kernel<<<grid_for(total), kThreads>>>(out, tokens, types, wte, wpe, wtt, T,
                                                            C, total);
    CHECK_LAUNCH();
}

// dwte[tokens[b,t],:] += dout[b,t,:]; dwpe[t,:] += sum_b dout[b,t,:]; dwtt[types[b,t],:] += dout[b,t,:]
// dout (B,T,C); any gradient may be null. dwpe sums over the batch: element
// (t,c) of dwpe is column t*C+c of dout seen as a (B, T*C) matrix.
void embedding_backward(float* dwte, float* dwpe, float* dwtt, const float* dout,
                        const int* tokens, const int* types, int B, int T, int C) {
    const int N = B * T;
    if (N == 0 || C == 0) return;
    const unsigned blocks = (unsigned)((C + kThreads - 1) / kThreads);
    if (dwte) {
        scatter_rows_kernel<<<blocks, kThreads>>>(dwte, dout, tokens, N, C);
        CHECK_LAUNCH();
    }
    if (dwtt) {
        scatter_rows_kernel<<<blocks, kThreads>>>(dwtt, dout, types, N, C);
        CHECK_LAUNCH();
    }
    if (dwpe) column_sums(dwpe, B, (size_t)T * C, MatrixElement{dout, (size_t)T * C});
}

}  // namespace gpu
