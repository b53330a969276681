// Inverted dropout with a counter-based mask (rng.h), so backward regenerates
// the forward's mask from the key instead of storing it.
#include <algorithm>

#include "core/rng.h"
#include "cpu/kernels.h"

namespace cpu {

// Elements are handled in blocks of BLOCK: one Philox call per group of 4
// (group q = i/4 serves elements 4q..4q+3), so a block's 16 calls run side by
// side in vector registers. Every element's mask depends only on (key, i),
// never on how threads split the blocks.
constexpr size_t BLOCK_GROUPS = 16;
constexpr size_t BLOCK = 4 * BLOCK_GROUPS;

// Calls body(begin, count, mask) for each block of elements [begin, begin+count),
// where mask[k] = philox_uniform(key, begin + k) >= p ? scale : 0.
template <typename F, typename Body>
static void for_each_block(size_t n, float p, F scale, DropoutKey key, Body body) {
    size_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        F mask[BLOCK];
        for (size_t g = 0; g < BLOCK_GROUPS; g++) {
            Uniform4 u =
                philox_uniform4(key.seed, key.step, key.site, (uint32_t)(b * BLOCK_GROUPS + g));
            for (int k = 0; k < 4; k++) mask[4 * g + k] = u.u[k] >= p ? scale : F(0);
        }
        size_t begin = b * BLOCK;
        body(begin, std::min(BLOCK, n - begin), mask);
    }
}

// out = inp * mask, mask[i] = keep[i] / (1-p); all (n); out may alias inp.
// As in torch, the scale 1/(1-p) is rounded once and multiplied (not divided),
// and a dropped element is inp * 0 (so a NaN input stays NaN).
template <typename F>
void dropout_forward(F* out, const F* inp, size_t n, float p, DropoutKey key) {
    if (p == 0.0f) {
        if (out == inp) return;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = inp[i];
        return;
    }
    for_each_block(n, p, F(1) / (F(1) - F(p)), key, [=](size_t begin, size_t count, const F* mask) {
        for (size_t k = 0; k < count; k++) out[begin + k] = inp[begin + k] * mask[k];
    });
}

// dinp += dout * mask, with the forward's mask.
template <typename F>
void dropout_backward(F* dinp, const F* dout, size_t n, float p, DropoutKey key) {
    if (p == 0.0f) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
        return;
    }
    for_each_block(n, p, F(1) / (F(1) - F(p)), key, [=](size_t begin, size_t count, const F* mask) {
        for (size_t k = 0; k < count; k++) dinp[begin + k] += dout[begin + k] * mask[k];
    });
}

template void dropout_forward<float>(float*, const float*, size_t, float, DropoutKey);
template void dropout_forward<double>(double*, const double*, size_t, float, DropoutKey);
template void dropout_backward<float>(float*, const float*, size_t, float, DropoutKey);
template void dropout_backward<double>(double*, const double*, size_t, float, DropoutKey);

}  // namespace cpu
