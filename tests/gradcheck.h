// Finite-difference gradient checks in double precision, shared by the kernel tests.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

// Uniform values in [lo, hi) from a fixed seed.
inline std::vector<double> random_vec(size_t n, unsigned seed, double lo = -1.0, double hi = 1.0) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    std::vector<double> v(n);
    for (auto& x : v) x = dist(gen);
    return v;
}

// Projects an output onto fixed random weights: a scalar loss L = sum(out * w)
// whose gradient wrt out is w, so one backward call checks the whole Jacobian.
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}

// The larger error, where a NaN counts as infinitely large (std::max would drop it).
inline double worse(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? INFINITY : std::max(a, b); }

// Compares `analytic` (dL/dx from a backward kernel) with central differences
// of `loss` around x, perturbing x in place. Checks every element, or an evenly
// spread sample of at most max_checks. Error measure: max abs difference over
// max abs analytic value (the suite's "relative" everywhere).
inline double gradient_error(std::vector<double>& x, const std::vector<double>& analytic,
                             const std::function<double()>& loss, size_t max_checks = 400,
                             double h = 1e-6) {
    REQUIRE(x.size() == analytic.size());
    double max_diff = 0, max_ref = 0;
    size_t stride = std::max<size_t>(1, x.size() / max_checks);
    for (size_t i = 0; i < x.size(); i += stride) {
        double saved = x[i];
        x[i] = saved + h;
        double up = loss();
        x[i] = saved - h;
        double down = loss();
        x[i] = saved;
        double numeric = (up - down) / (2 * h);
        max_diff = worse(max_diff, std::fabs(numeric - analytic[i]));
    }
    for (double a : analytic) max_ref = std::max(max_ref, std::fabs(a));
    return max_diff / std::max(max_ref, 1e-30);
}

// Relative error as above between two float arrays (or any indexable pair).
template <typename A, typename B>
inline double rel_error(const A& got, const B& want, size_t n) {
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        max_diff = worse(max_diff, std::fabs((double)got[i] - (double)want[i]));
        max_ref = std::max(max_ref, std::fabs((double)want[i]));
    }
    return max_diff / std::max(max_ref, 1e-30);
}
