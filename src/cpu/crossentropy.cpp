// Fused softmax + cross-entropy over a (padded) vocabulary.
#include <algorithm>
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/mathfn.h"

namespace cpu {

// The exp-sum runs over segments of SEGMENT columns, whose exps wait in a
// stack buffer (4 KiB in float) to be added and stored in separate simple
// loops that vectorise. It adds into LANES double accumulators (one AVX-512
// register of floats wide): column v always lands in lane v % LANES and the
// lanes are added in order, so the sum depends on V alone, never on alignment
// or thread count.
constexpr int LANES = 16;
constexpr int SEGMENT = 1024;

// Per row n of logits (N,Vp), with softmax p over the first V columns:
//   losses[n] = logsumexp(logits[n,:V]) - logits[n,target], 0 if target < 0
//   dlogits[n,v] = dloss * (p[n,v] - [v == target]) for v < V, 0 for v >= V
// Targets must be < V (the data loader checks token ids).
// dlogits (N,Vp) is WRITTEN and may be null or alias logits; ignored rows get
// zeros. The row max is subtracted before exp. One pass stores exp(x - max)
// in dlogits, a second scales it by dloss / sum while the row is still in cache.
template <typename F>
void crossentropy(F* losses, F* dlogits, const F* logits, const int* targets, int N, int V, int Vp,
                  F dloss) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const F* row = logits + (size_t)n * Vp;
        F* drow = dlogits ? dlogits + (size_t)n * Vp : nullptr;
        int target = targets[n];
        if (target < 0) {
            losses[n] = F(0);
            if (drow)
                for (int v = 0; v < Vp; v++) drow[v] = F(0);
            continue;
        }
        F target_logit = row[target];  // read before drow overwrites it

        F maxval = row[0];  // a max is exact in any order, so simd may reorder it
#pragma omp simd reduction(max : maxval)
        for (int v = 1; v < V; v++) maxval = row[v] > maxval ? row[v] : maxval;

        double lane_sum[LANES] = {};
        for (int s0 = 0; s0 < V; s0 += SEGMENT) {
            int len = std::min(SEGMENT, V - s0);
            int padded = (len + LANES - 1) / LANES * LANES;
            F e[SEGMENT];
            for (int k = 0; k < len; k++) e[k] = fast_exp(row[s0 + k] - maxval);
            for (int k = len; k < padded; k++) e[k] = F(0);
            for (int j = 0; j < padded; j += LANES)
                for (int k = 0; k < LANES; k++) lane_sum[k] += e[j + k];
            if (drow)
                for (int k = 0; k < len; k++) drow[s0 + k] = e[k];
        }
        double sum = 0;
        for (int k = 0; k < LANES; k++) sum += lane_sum[k];

        losses[n] = (F)(std::log(sum) + ((double)maxval - (double)target_logit));
        if (drow) {
            F scale = (F)(dloss / sum);
            for (int v = 0; v < V; v++) drow[v] *= scale;
            drow[target] -= dloss;
            for (int v = V; v < Vp; v++) drow[v] = F(0);
        }
    }
}

template void crossentropy<float>(float*, float*, const float*, const int*, int, int, int, float);
template void crossentropy<double>(double*, double*, const double*, const int*, int, int, int,
                                   double);

}  // namespace cpu
