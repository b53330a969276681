// Weight initialisation from the counter-based generator of rng.h, so a model
// initialised from a seed is the same on every machine and thread count.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "rng.h"

// x[i] ~ N(0, std^2) by Box-Muller over pairs of uniforms of stream (seed, step 0, site).
inline void fill_normal(float* x, size_t n, float std, uint64_t seed, uint32_t site) {
    const double two_pi = 6.283185307179586;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - philox_uniform(seed, 0, site, i);  // (0, 1]: log is finite
        double u2 = philox_uniform(seed, 0, site, i + 1);
        double r = std::sqrt(-2.0 * std::log(u1));
        x[i] = (float)(std * r * std::cos(two_pi * u2));
        if (i + 1 < n) x[i + 1] = (float)(std * r * std::sin(two_pi * u2));
    }
}
