// exp, tanh and erf written so that loops over them vectorise (libm's expf is a
// scalar call per element, which would dominate softmax over a 50k vocabulary).
// The float versions are accurate to a few ulp over the whole range; double
// uses libm, since double only runs in the finite-difference tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace cpu {

// exp(x) = 2^k * exp(r), k = round(x / ln2), r = x - k ln2 in [-ln2/2, ln2/2],
// exp(r) by its degree-7 Taylor polynomial (truncation error < 1e-8 relative).
// Adding 1.5 * 2^23 rounds x / ln2 to the integer k and leaves k in the low bits
// of the sum, from which 2^k is built in unsigned arithmetic: no float-to-int
// conversion, which is undefined for a NaN (a NaN passes the clamp and comes
// out NaN). x is clamped to [-88, 89], where k + 127 reaches 0 (x < -87.68,
// where exp is subnormal) and 255 (x > 88.38): 2^k is then 0 or inf, so
// exp(-inf) = 0 and exp(inf) = inf, the latter from 88.38 on, a little before
// exp itself overflows (88.72). Only the clamp branches: loops vectorise.
inline float fast_exp(float x) {
    x = x > 89.0f ? 89.0f : (x < -88.0f ? -88.0f : x);
    const float shifted = x * 1.44269504088896341f + 12582912.0f;
    const float k = shifted - 12582912.0f;
    float r = x - k * 0.693145751953125f;  // ln2 split in two for exact reduction
    r = r - k * 1.428606765330187045e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    bits = (bits + 127u) << 23;  // (k + 127) mod 512 into the exponent field: the sum's high bits shift out
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

inline double fast_exp(double x) { return std::exp(x); }

template <typename F>
inline F fast_tanh(F x) {
    F e = fast_exp(F(2) * x);
    return F(1) - F(2) / (e + F(1));
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), odd in x:
// erf(|x|) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2), t = 1/(1 + p|x|).
inline float fast_erf(float x) {
    float ax = std::fabs(x);
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float y = 1.0f - poly * fast_exp(-ax * ax);
    return std::copysign(y, x);
}

inline double fast_erf(double x) { return std::erf(x); }

}  // namespace cpu
