// Weight initialisation from the counter-based generator of rng.h, so a model
// initialised from a seed is the same on every machine and thread count.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <algorithm>
#include <vector>

#include "core/backend.h"
#include "core/rng.h"

// x[k] = element first + k of the stream (seed, step 0, site) of N(0, std^2)
// numbers, k < n: Box-Muller over pairs of uniforms, so first must be even.
inline void fill_normal(float* x, size_t first, size_t n, float std, uint64_t seed, uint32_t site) {
    const double two_pi = 6.283185307179586;
    for (size_t k = 0; k < n; k += 2) {
        const size_t i = first + k;
        double u1 = 1.0 - philox_uniform(seed, 0, site, i);  // (0, 1]: log is finite
        double u2 = philox_uniform(seed, 0, site, i + 1);
        double r = std::sqrt(-2.0 * std::log(u1));
        x[k] = (float)(std * r * std::cos(two_pi * u2));
        if (k + 1 < n) x[k + 1] = (float)(std * r * std::sin(two_pi * u2));
    }
}

// Fills n floats of device memory in chunks of 1 Mi floats: fill(host, first,
// count) writes elements first..first+count-1 (first even). A large tensor
// then needs no host copy of itself, which would add to the peak memory.
template <typename Fill>
void fill_device(Backend& be, float* dst, size_t n, Fill fill) {
    constexpr size_t kChunk = (size_t)1 << 20;
    std::vector<float> host(std::min(n, kChunk));
    for (size_t first = 0; first < n; first += kChunk) {
        const size_t count = std::min(kChunk, n - first);
        fill(host.data(), first, count);
        be.upload(dst + first, host.data(), count * sizeof(float));
    }
}

// dst (n floats of device memory) = N(0, std^2) numbers of stream (seed,
// site), with elements [zero_begin, zero_end) zero (padding rows).
inline void init_normal(Backend& be, float* dst, size_t n, float std, uint64_t seed, uint32_t site,
                        size_t zero_begin = 0, size_t zero_end = 0) {
    fill_device(be, dst, n, [&](float* host, size_t first, size_t count) {
        fill_normal(host, first, count, std, seed, site);
        for (size_t i = std::max(first, zero_begin); i < std::min(first + count, zero_end); i++) host[i - first] = 0.0f;
    });
}

// dst (n floats of device memory) = value.
inline void init_constant(Backend& be, float* dst, size_t n, float value) {
    fill_device(be, dst, n, [&](float* host, size_t, size_t count) { std::fill(host, host + count, value); });
}
