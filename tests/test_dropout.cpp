// Dropout (src/cpu/dropout.cpp) and the Philox generator behind its masks (src/core/rng.h).
#include <doctest/doctest.h>
#include <omp.h>

#include <vector>

#include "cpu/kernels.h"
#include "gradcheck.h"
#include "core/rng.h"

namespace {

// Random123's published known-answer vectors (kat_vectors, philox4x32 10 rounds).
TEST_CASE("philox4x32_10 matches the Random123 known-answer vectors") {
    struct Kat {
        Philox4 ctr;
        uint32_t k0, k1;
        Philox4 want;
    };
    const Kat kats[] = {
        {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
        {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
         0xffffffff,
         0xffffffff,
         {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
        {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
         0xa4093822,
         0x299f31d0,
         {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
    };
    for (const Kat& kat : kats) {
        Philox4 got = philox4x32_10(kat.ctr, kat.k0, kat.k1);
        for (int k = 0; k < 4; k++) CHECK(got.v[k] == kat.want.v[k]);
    }
}

std::vector<float> ramp(size_t n) {
    std::vector<float> x(n);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f + (float)(i % 97) * 0.25f;  // never 0
    return x;
}

TEST_CASE("dropout keeps element i iff philox_uniform(seed, step, site, i) >= p") {
    const size_t n = 10001;
    const float p = 0.3f;
    const DropoutKey key{1234, 7, 3};
    std::vector<float> inp = ramp(n), out(n);
    cpu::dropout_forward(out.data(), inp.data(), n, p, key);
    size_t mismatches = 0;
    for (size_t i = 0; i < n; i++) {
        bool keep = philox_uniform(key.seed, key.step, key.site, i) >= p;
        mismatches += (out[i] != 0.0f) != keep;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("dropout scales kept values by 1/(1-p) exactly and zeroes the rest") {
    const size_t n = 4099;
    const DropoutKey key{99, 1, 0};
    std::vector<float> inp = ramp(n), out(n);
    for (float p : {0.1f, 0.5f}) {
        cpu::dropout_forward(out.data(), inp.data(), n, p, key);
        // Inverted dropout, with the scale rounded once as torch does.
        const float scale = 1.0f / (1.0f - p);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += out[i] != 0.0f && out[i] != inp[i] * scale;
        CHECK(bad == 0);

        std::vector<float> in_place = inp;
        cpu::dropout_forward(in_place.data(), in_place.data(), n, p, key);
        CHECK(in_place == out);
    }
}

TEST_CASE("dropout with p = 0 is the identity and its backward a plain accumulate") {
    const size_t n = 1003;
    std::vector<float> inp = ramp(n), out(n, -1.0f);
    cpu::dropout_forward(out.data(), inp.data(), n, 0.0f, DropoutKey{5, 5, 5});
    CHECK(out == inp);
    cpu::dropout_forward(out.data(), out.data(), n, 0.0f, DropoutKey{5, 5, 5});
    CHECK(out == inp);

    std::vector<float> dinp(n, 2.0f);
    cpu::dropout_backward(dinp.data(), inp.data(), n, 0.0f, DropoutKey{5, 5, 5});
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += dinp[i] != 2.0f + inp[i];
    CHECK(bad == 0);
}

TEST_CASE("dropout keeps a fraction 1-p, and seed, step and site each change the mask") {
    const size_t n = 1000000;
    std::vector<float> inp(n, 1.0f), a(n), b(n);
    for (float p : {0.1f, 0.5f}) {
        const DropoutKey key{42, 10, 2};
        cpu::dropout_forward(a.data(), inp.data(), n, p, key);
        size_t kept = 0;
        for (float x : a) kept += x != 0.0f;
        // The binomial standard deviation is at most 0.0005/(1-p) relative: 1% is >= 10 sigma.
        CHECK(std::fabs((double)kept / n / (1.0 - p) - 1.0) < 0.01);

        for (DropoutKey other :
             {DropoutKey{43, 10, 2}, DropoutKey{42, 11, 2}, DropoutKey{42, 10, 3}}) {
            cpu::dropout_forward(b.data(), inp.data(), n, p, other);
            size_t differ = 0;
            for (size_t i = 0; i < n; i++) differ += (a[i] != 0.0f) != (b[i] != 0.0f);
            // Independent masks differ on a fraction 2p(1-p) (0.18 or 0.5) of elements.
            CHECK((double)differ / n > p * (1.0 - p));
        }
    }
}

TEST_CASE("dropout masks are the same on 1 and 2 threads") {
    const size_t n = 100003;  // not a multiple of 4: the last Philox group is partial
    const DropoutKey key{7, 123456789012ull, 11};
    std::vector<float> inp = ramp(n), one(n), two(n), done(n, 0.5f), dtwo(n, 0.5f);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    cpu::dropout_forward(one.data(), inp.data(), n, 0.25f, key);
    cpu::dropout_backward(done.data(), inp.data(), n, 0.25f, key);
    omp_set_num_threads(2);
    cpu::dropout_forward(two.data(), inp.data(), n, 0.25f, key);
    cpu::dropout_backward(dtwo.data(), inp.data(), n, 0.25f, key);
    omp_set_num_threads(saved);
    CHECK(one == two);
    CHECK(done == dtwo);
}

TEST_CASE("dropout_backward is the gradient of dropout_forward (finite differences, double)") {
    const size_t n = 1001;
    const float p = 0.2f;
    const DropoutKey key{2024, 3, 1};
    std::vector<double> x = random_vec(n, 1), w = random_vec(n, 2), out(n);
    auto loss = [&] {
        cpu::dropout_forward(out.data(), x.data(), n, p, key);
        return dot(out, w);
    };
    // Backward adds: start from a known gradient and take it off again.
    std::vector<double> dx = random_vec(n, 3), start = dx;
    cpu::dropout_backward(dx.data(), w.data(), n, p, key);
    for (size_t i = 0; i < n; i++) dx[i] -= start[i];
    CHECK(gradient_error(x, dx, loss, n) < 1e-8);  // loss is linear: only roundoff remains
}

}  // namespace
