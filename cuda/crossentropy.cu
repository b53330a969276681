// Fused softmax + cross-entropy over a (padded) vocabulary (reference: src/cpu/crossentropy.cpp).
#include "kernels.cuh"

namespace gpu {

constexpr int kRowThreads = 512;  // one block per row; V = 50257 gives each thread ~100 columns

// Per row n of logits (N,Vp) (block n), with softmax p over the first V columns:
//   losses[n] = logsumexp(logits[n,:V]) - logits[n,target], 0 if target < 0
//   dlogits[n,v] = dloss * (p[n,v] - [v == target]) for v < V, 0 for v >= V
// dlogits (N,Vp) is WRITTEN and may be null or alias logits; ignored rows get
// zeros. The exps are summed in double and the loss formed in double, as on
// the CPU. Aliasing is safe: every read of the row (the target logit, the max
// pass) finishes before the first write, at the barrier inside block_reduce,
// and afterwards each thread rewrites only the columns it read itself.
__global__ void __launch_bounds__(kRowThreads)
    crossentropy_kernel(float* losses, float* dlogits, const float* logits, const int* targets,
                        int V, int Vp, float dloss) {
    const size_t n = blockIdx.x;
    const float* row = logits + n * Vp;
    float* drow = dlogits ? dlogits + n * Vp : nullptr;
    const int target = targets[n];
    if (target < 0) {  // the same for the whole block, so no thread waits at a barrier
        if (threadIdx.x == 0) losses[n] = 0.0f;
        if (drow)
            for (int v = threadIdx.x; v < Vp; v += blockDim.x) drow[v] = 0.0f;
        return;
    }
    const float target_logit = row[target];

    float maxval = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) maxval = fmaxf(maxval, row[v]);
    maxval = block_reduce(maxval, Max(), -INFINITY);

    double sum = 0.0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        const float e = expf(row[v] - maxval);
        sum += e;
        if (drow) drow[v] = e;
    }
    sum = block_reduce(sum, Sum(), 0.0);

    if (threadIdx.x == 0) losses[n] = (float)(log(sum) + ((double)maxval - (double)target_logit));
    if (drow) {
        // Two roundings, as on the CPU: p * dloss, then minus dloss at the target.
        const float scale = (float)(dloss / sum);
        for (int v = threadIdx.x; v < V; v += blockDim.x) {
            const float grad = __fmul_rn(drow[v], scale);
            drow[v] = v == target ? __fsub_rn(grad, dloss) : grad;
        }
        for (int v = V + threadIdx.x; v < Vp; v += blockDim.x) drow[v] = 0.0f;
    }
}

void crossentropy(float* losses, float* dlogits, const float* logits, const int* targets, int N,
                  int V, int Vp, float dloss) {
    if (N == 0) return;
    crossentropy_kernel<<<N, kRowThreads>>>(losses, dlogits, logits, targets, V, Vp, dloss);
    CHECK_LAUNCH();
}

}  // namespace gpu
