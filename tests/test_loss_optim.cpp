// Cross-entropy (src/cpu/crossentropy.cpp), the reductions and AdamW (src/cpu/optimizer.cpp).
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "cpu/kernels.h"
#include "gradcheck.h"

namespace {

// rel_error skips NaNs (std::max drops them), so results are also checked for finiteness.
template <typename Vec>
bool all_finite(const Vec& x) {
    for (auto a : x)
        if (!std::isfinite(a)) return false;
    return true;
}

// Direct log-softmax in double over the first V columns: -log p[target].
std::vector<double> reference_losses(const std::vector<double>& logits,
                                     const std::vector<int>& targets, int V, int Vp) {
    std::vector<double> losses(targets.size(), 0.0);
    for (size_t n = 0; n < targets.size(); n++) {
        if (targets[n] < 0) continue;
        const double* row = logits.data() + n * Vp;
        double maxval = row[0];
        for (int v = 1; v < V; v++) maxval = std::max(maxval, row[v]);
        double sum = 0;
        for (int v = 0; v < V; v++) sum += std::exp(row[v] - maxval);
        losses[n] = std::log(sum) + maxval - row[targets[n]];
    }
    return losses;
}

// Logits (N,Vp): random in [-scale, scale] for v < V, and a huge value in the
// padded columns that would wreck the result if the kernel read them.
std::vector<double> make_logits(int N, int V, int Vp, double scale, unsigned seed) {
    std::vector<double> logits = random_vec((size_t)N * Vp, seed, -scale, scale);
    for (int n = 0; n < N; n++)
        for (int v = V; v < Vp; v++) logits[(size_t)n * Vp + v] = 1e30;
    for (double& x : logits) x = (float)x;  // exactly representable in float too
    return logits;
}

TEST_CASE("crossentropy gradient by finite differences (double, in place, ignored rows, padding)") {
    const int N = 6, V = 37, Vp = 40;
    const double dloss = 0.7;
    const std::vector<int> targets = {3, -1, 36, 0, -1, 17};
    std::vector<double> logits = make_logits(N, V, Vp, 3.0, 1), losses(N);

    std::vector<double> dlogits = logits;  // the in-place call overwrites logits with dlogits
    cpu::crossentropy(losses.data(), dlogits.data(), dlogits.data(), targets.data(), N, V, Vp,
                      dloss);

    auto loss = [&] {
        cpu::crossentropy<double>(losses.data(), nullptr, logits.data(), targets.data(), N, V, Vp,
                                  dloss);
        double total = 0;
        for (double l : losses) total += l * dloss;
        return total;
    };
    REQUIRE(all_finite(dlogits));
    CHECK(gradient_error(logits, dlogits, loss, logits.size()) < 1e-7);

    for (int n = 0; n < N; n++)
        for (int v = 0; v < Vp; v++)
            if (targets[n] < 0 || v >= V) CHECK(dlogits[(size_t)n * Vp + v] == 0.0);
    CHECK(losses[1] == 0.0);
    CHECK(losses[4] == 0.0);
}

TEST_CASE("crossentropy forward matches a direct log-softmax (double and float)") {
    const int N = 9, V = 3001, Vp = 3008;  // several exp segments and a partial one
    std::vector<int> targets = {0, 3000, -1, 5, 1500, 17, 2999, 1024, 321};
    for (double scale : {5.0, 1e4}) {  // 1e4: exp underflows for all but the max; nothing overflows
        CAPTURE(scale);
        std::vector<double> logits = make_logits(N, V, Vp, scale, 2);
        std::vector<double> want = reference_losses(logits, targets, V, Vp);

        std::vector<double> losses(N);
        cpu::crossentropy<double>(losses.data(), nullptr, logits.data(), targets.data(), N, V, Vp,
                                  1.0);
        CHECK(rel_error(losses, want, N) < 1e-12);

        // Float, with the gradient written in place, against the double softmax.
        std::vector<float> flogits(logits.begin(), logits.end()), flosses(N);
        cpu::crossentropy(flosses.data(), flogits.data(), flogits.data(), targets.data(), N, V, Vp,
                          1.0f);
        REQUIRE(all_finite(flosses));
        REQUIRE(all_finite(flogits));
        for (int n = 0; n < N; n++)
            CHECK(std::fabs(flosses[n] - want[n]) <= 1e-6 * std::fabs(want[n]));
        std::vector<double> dwant((size_t)N * Vp, 0.0);
        for (int n = 0; n < N; n++) {
            if (targets[n] < 0) continue;
            for (int v = 0; v < V; v++) {
                double logp = logits[(size_t)n * Vp + v] - logits[(size_t)n * Vp + targets[n]] -
                              want[n];  // log p[v] = x_v - x_target + log p[target]
                dwant[(size_t)n * Vp + v] = std::exp(logp) - (v == targets[n]);
            }
        }
        CHECK(rel_error(flogits, dwant, dwant.size()) < 1e-6);
    }
}

// A NaN or infinite logit (from a weight file with a huge value) gives a NaN loss and
// gradient for its row, which the NaN guard catches; the other rows are untouched.
TEST_CASE("crossentropy: a NaN or infinite logit makes its row's loss NaN and leaves the others alone") {
    const int N = 3, V = 40, Vp = 48;
    const std::vector<double> finite = make_logits(N, V, Vp, 3.0, 4);
    std::vector<float> logits(finite.begin(), finite.end());
    logits[5] = NAN;                    // row 0
    logits[(size_t)Vp + 7] = INFINITY;  // row 1: inf - inf = NaN after the max is subtracted
    const std::vector<int> targets = {1, 2, 3};
    std::vector<float> losses(N), dlogits(logits.size());
    cpu::crossentropy(losses.data(), dlogits.data(), logits.data(), targets.data(), N, V, Vp, 1.0f);
    CHECK(std::isnan(losses[0]));
    CHECK(std::isnan(losses[1]));
    CHECK(std::isfinite(losses[2]));
    CHECK(std::isnan(dlogits[0]));
    CHECK(std::isnan(dlogits[(size_t)Vp]));
    for (int v = 0; v < Vp; v++) CHECK(std::isfinite(dlogits[(size_t)2 * Vp + v]));
}

// Values with a large common offset and mixed signs, so that a float
// accumulator or a careless order would show.
std::vector<float> reduction_input(size_t n) {
    std::vector<double> x = random_vec(n, 5, -1.0, 1.0);
    std::vector<float> out(n);
    for (size_t i = 0; i < n; i++) out[i] = (float)(x[i] + (i % 3 == 0 ? 100.0 : -50.0));
    return out;
}

TEST_CASE("sum and sum_squares against a long double reference") {
    for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(63), size_t(1000), size_t(1000003)}) {
        CAPTURE(n);
        std::vector<float> x = reduction_input(n);
        long double want_sum = 0, want_sq = 0, abs_sum = 0;
        for (float a : x) {
            want_sum += a;
            want_sq += (long double)a * a;
            abs_sum += std::fabs(a);
        }
        // Double accumulation over at most ~1000 terms per lane: error well under 1e-12 of sum |x|.
        CHECK(std::fabs((long double)cpu::sum(x.data(), n) - want_sum) <= 1e-12L * abs_sum);
        CHECK(std::fabs((long double)cpu::sum_squares(x.data(), n) - want_sq) <= 1e-12L * want_sq);
    }
}

TEST_CASE("sum and sum_squares are bitwise the same on 1 and 2 threads") {
    const size_t n = 999983;
    std::vector<float> x = reduction_input(n);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    double sum1 = cpu::sum(x.data(), n), sq1 = cpu::sum_squares(x.data(), n);
    omp_set_num_threads(2);
    double sum2 = cpu::sum(x.data(), n), sq2 = cpu::sum_squares(x.data(), n);
    omp_set_num_threads(saved);
    CHECK(sum1 == sum2);
    CHECK(sq1 == sq2);
}

// The AdamW test problem: n = 37 (vector body and scalar tail), dyadic inputs
// that float, double and Python all hold exactly.
constexpr int ADAM_N = 37;
constexpr float ADAM_LR = 0.01f, ADAM_B1 = 0.9f, ADAM_B2 = 0.999f, ADAM_EPS = 1e-8f, ADAM_WD = 0.1f,
                ADAM_SCALE = 0.5f;
double adam_param0(int i) { return (i - 18) / 16.0; }
double adam_grad(int i, int t) { return ((i * 7 + 3 * t) % 11 - 5) / 8.0; }

std::vector<float> run_adamw_5_steps() {
    std::vector<float> param(ADAM_N), grad(ADAM_N), m(ADAM_N, 0.0f), v(ADAM_N, 0.0f);
    for (int i = 0; i < ADAM_N; i++) param[i] = (float)adam_param0(i);
    for (int t = 1; t <= 5; t++) {
        for (int i = 0; i < ADAM_N; i++) grad[i] = (float)adam_grad(i, t);
        cpu::adamw(param.data(), grad.data(), m.data(), v.data(), ADAM_N, ADAM_LR, ADAM_B1, ADAM_B2,
                   ADAM_EPS, ADAM_WD, t, ADAM_SCALE);
    }
    return param;
}

TEST_CASE("adamw: 5 steps against the AdamW formula in double") {
    std::vector<double> param(ADAM_N), m(ADAM_N, 0.0), v(ADAM_N, 0.0);
    for (int i = 0; i < ADAM_N; i++) param[i] = adam_param0(i);
    const double lr = ADAM_LR, b1 = ADAM_B1, b2 = ADAM_B2, eps = ADAM_EPS, wd = ADAM_WD;
    for (int t = 1; t <= 5; t++) {
        for (int i = 0; i < ADAM_N; i++) {
            double g = adam_grad(i, t) * ADAM_SCALE;
            param[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double m_hat = m[i] / (1 - std::pow(b1, t));
            param[i] -= lr * m_hat / (std::sqrt(v[i] / (1 - std::pow(b2, t))) + eps);
        }
    }
    std::vector<float> got = run_adamw_5_steps();
    REQUIRE(all_finite(got));
    CHECK(rel_error(got, param, ADAM_N) < 1e-6);
}

TEST_CASE("adamw: 5 steps reproduce torch.optim.AdamW") {
    // Produced by torch 1.13.0 (Debian python3-torch, CPU, AVX2 kernels) with /usr/bin/python3:
    //   import numpy as np, torch
    //   f = lambda x: float(np.float32(x))
    //   n = 37
    //   param = torch.nn.Parameter(torch.tensor([(i - 18) / 16 for i in range(n)]))
    //   opt = torch.optim.AdamW([param], lr=f(0.01), betas=(f(0.9), f(0.999)), eps=f(1e-8),
    //                           weight_decay=f(0.1), foreach=False)
    //   for t in range(1, 6):
    //       param.grad = torch.tensor([((i * 7 + 3 * t) % 11 - 5) / 8 for i in range(n)]).mul_(0.5)
    //       opt.step()
    //   print(", ".join("%.9gf" % x for x in param.detach().numpy()))
    const float torch_param[ADAM_N] = {
        -1.10861349f,    -1.07348156f,  -1.01488256f,  -0.908255637f, -0.883251548f, -0.807185948f,
        -0.727497816f,   -0.685593545f, -0.626649559f, -0.53180933f,  -0.527112126f, -0.424543947f,
        -0.389412135f,   -0.33081302f,  -0.224186227f, -0.199182153f, -0.123116568f, -0.0434284024f,
        -0.00152400928f, 0.0574200116f, 0.152260065f,  0.156957284f,  0.259525478f,  0.29465726f,
        0.353256315f,    0.459883153f,  0.484887242f,  0.560952902f,  0.640640974f,  0.682545364f,
        0.741489291f,    0.83632952f,   0.841026723f,  0.943594933f,  0.978726685f,  1.03732574f,
        1.14395273f};
    std::vector<float> param = run_adamw_5_steps();
    CHECK(rel_error(param, torch_param, ADAM_N) < 1e-6);
    // The kernel repeats torch's float operations one by one, so it should
    // agree bitwise; this fails first if that order is ever changed.
    size_t differ = 0;
    for (int i = 0; i < ADAM_N; i++) differ += param[i] != torch_param[i];
    CHECK(differ == 0);
}

TEST_CASE("adamw is bitwise the same on 1 and 2 threads") {
    const size_t n = 70001;  // several blocks of the parallel split, and a tail
    std::vector<double> r = random_vec(n, 9);
    std::vector<float> p1(r.begin(), r.end()), g(n), m1(n, 0.01f), v1(n, 0.02f);
    for (size_t i = 0; i < n; i++) g[i] = (float)(r[(i * 31) % n] * 0.1);
    std::vector<float> p2 = p1, m2 = m1, v2 = v1;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    cpu::adamw(p1.data(), g.data(), m1.data(), v1.data(), n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3,
               0.8f);
    omp_set_num_threads(2);
    cpu::adamw(p2.data(), g.data(), m2.data(), v2.data(), n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3,
               0.8f);
    omp_set_num_threads(saved);
    CHECK(p1 == p2);
    CHECK(m1 == m2);
    CHECK(v1 == v2);
}

}  // namespace
