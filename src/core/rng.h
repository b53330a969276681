// Counter-based random numbers shared by every backend (CPU and CUDA compile
// this same header), so a dropout mask depends only on (seed, step, site, i):
// not on thread count, launch geometry or device. Philox4x32-10 (Salmon et
// al. 2011), the generator cuRAND and PyTorch's CUDA dropout use.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define MT_HD __host__ __device__ inline
#else
#define MT_HD inline
#endif

struct Philox4 {
    uint32_t v[4];
};

MT_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

// Ten rounds of Philox on a 128-bit counter under a 64-bit key.
MT_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo32(0xD2511F53u, ctr.v[0], &hi0);
        uint32_t lo1 = mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1);
        Philox4 next = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
        ctr = next;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ctr;
}

// Four uniforms in [0, 1) for elements 4q..4q+3 of the stream keyed by
// (seed, step, site): the key is the seed, the counter is (q, site, step).
// Element i's value never depends on which other elements are drawn, and
// the top 24 bits make every value an exactly representable float.
struct Uniform4 {
    float u[4];
};

MT_HD Uniform4 philox_uniform4(uint64_t seed, uint64_t step, uint32_t site, uint32_t q) {
    Philox4 ctr = {{q, site, (uint32_t)step, (uint32_t)(step >> 32)}};
    Philox4 r = philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
    Uniform4 out;
    for (int k = 0; k < 4; k++) out.u[k] = (float)(r.v[k] >> 8) * (1.0f / 16777216.0f);
    return out;
}

// Element i of the stream (i < 2^34).
MT_HD float philox_uniform(uint64_t seed, uint64_t step, uint32_t site, uint64_t i) {
    return philox_uniform4(seed, step, site, (uint32_t)(i >> 2)).u[i & 3];
}
