// The embedding, layernorm and pointwise CPU kernels: forwards against direct
// formulas, backwards against finite differences in double, the "backward adds,
// null skips" rule, and bitwise independence from the number of threads.
//
// Tolerances: finite-difference checks (h = 1e-6, relative error as in
// gradcheck.h) pass at 1e-7; the kernels under test are linear (embedding) or
// smooth with O(1) derivatives, so truncation (~h^2) and rounding (~1e-16 / h)
// errors stay near 1e-10. Double forwards match their formulas to 1e-12.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/mathfn.h"
#include "gradcheck.h"

namespace {

constexpr double kGradTol = 1e-7;

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// Runs fn on n OpenMP threads, restoring the thread count after.
template <typename Fn>
void with_threads(int n, Fn fn) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(n);
    fn();
    omp_set_num_threads(saved);
}

// ---- embeddings ---------------------------------------------------------------------

struct EmbeddingCase {
    int B = 2, T = 5, C = 7, Vp = 6, maxT = 8, ntypes = 3;
    // Token 3 appears four times and token 0 three times, so dwte rows sum several dout rows.
    std::vector<int> tokens = {3, 0, 3, 5, 1, 0, 3, 3, 2, 0};
    std::vector<int> types = {0, 0, 1, 1, 2, 0, 1, 2, 2, 1};
    std::vector<double> wte = random_vec((size_t)Vp * C, 1);
    std::vector<double> wpe = random_vec((size_t)maxT * C, 2);
    std::vector<double> wtt = random_vec((size_t)ntypes * C, 3);
    std::vector<double> w = random_vec((size_t)B * T * C, 4);  // dL/dout
};

TEST_CASE("embedding_forward sums the token, position and type rows") {
    EmbeddingCase e;
    int BT = e.B * e.T, C = e.C;
    std::vector<double> out((size_t)BT * C);
    SUBCASE("all three tables") {
        cpu::embedding_forward(out.data(), e.tokens.data(), e.types.data(), e.wte.data(),
                               e.wpe.data(), e.wtt.data(), e.B, e.T, C);
        for (int bt = 0; bt < BT; bt++)
            for (int c = 0; c < C; c++)
                CHECK(out[bt * C + c] == doctest::Approx(e.wte[e.tokens[bt] * C + c] +
                                                         e.wpe[(bt % e.T) * C + c] +
                                                         e.wtt[e.types[bt] * C + c])
                                             .epsilon(1e-15));
    }
    SUBCASE("null types means type 0") {
        cpu::embedding_forward(out.data(), e.tokens.data(), (const int*)nullptr, e.wte.data(),
                               e.wpe.data(), e.wtt.data(), e.B, e.T, C);
        for (int bt = 0; bt < BT; bt++)
            for (int c = 0; c < C; c++)
                CHECK(out[bt * C + c] == doctest::Approx(e.wte[e.tokens[bt] * C + c] +
                                                         e.wpe[(bt % e.T) * C + c] + e.wtt[c])
                                             .epsilon(1e-15));
    }
    SUBCASE("null wpe and wtt leave the token row alone") {
        cpu::embedding_forward(out.data(), e.tokens.data(), e.types.data(), e.wte.data(),
                               (const double*)nullptr, (const double*)nullptr, e.B, e.T, C);
        for (int bt = 0; bt < BT; bt++)
            for (int c = 0; c < C; c++) CHECK(out[bt * C + c] == e.wte[e.tokens[bt] * C + c]);
    }
}

TEST_CASE("embedding_backward matches finite differences") {
    EmbeddingCase e;
    const int* types = e.types.data();
    SUBCASE("with token types") {}
    SUBCASE("null types: every row is type 0") { types = nullptr; }
    std::vector<double> out((size_t)e.B * e.T * e.C);
    auto loss = [&] {
        cpu::embedding_forward(out.data(), e.tokens.data(), types, e.wte.data(), e.wpe.data(),
                               e.wtt.data(), e.B, e.T, e.C);
        return dot(out, e.w);
    };
    std::vector<double> dwte(e.wte.size()), dwpe(e.wpe.size()), dwtt(e.wtt.size());
    cpu::embedding_backward(dwte.data(), dwpe.data(), dwtt.data(), e.w.data(), e.tokens.data(),
                            types, e.B, e.T, e.C);
    CHECK(gradient_error(e.wte, dwte, loss) < kGradTol);
    CHECK(gradient_error(e.wpe, dwpe, loss) < kGradTol);
    CHECK(gradient_error(e.wtt, dwtt, loss) < kGradTol);
    // Rows of wpe beyond T and tokens never seen get no gradient.
    for (size_t i = (size_t)e.T * e.C; i < dwpe.size(); i++) CHECK(dwpe[i] == 0.0);
    for (int c = 0; c < e.C; c++) CHECK(dwte[4 * e.C + c] == 0.0);
}

TEST_CASE("embedding_backward adds into its gradients and skips null ones") {
    EmbeddingCase e;
    std::vector<double> fresh_wte(e.wte.size()), fresh_wpe(e.wpe.size()), fresh_wtt(e.wtt.size());
    cpu::embedding_backward(fresh_wte.data(), fresh_wpe.data(), fresh_wtt.data(), e.w.data(),
                            e.tokens.data(), e.types.data(), e.B, e.T, e.C);

    std::vector<double> dwte = random_vec(e.wte.size(), 11), dwtt = random_vec(e.wtt.size(), 12);
    std::vector<double> before_wte = dwte, before_wtt = dwtt;
    cpu::embedding_backward(dwte.data(), (double*)nullptr, dwtt.data(), e.w.data(),
                            e.tokens.data(), e.types.data(), e.B, e.T, e.C);
    for (size_t i = 0; i < dwte.size(); i++)
        CHECK(dwte[i] == doctest::Approx(before_wte[i] + fresh_wte[i]).epsilon(1e-12));
    for (size_t i = 0; i < dwtt.size(); i++)
        CHECK(dwtt[i] == doctest::Approx(before_wtt[i] + fresh_wtt[i]).epsilon(1e-12));

    std::vector<double> dwpe = random_vec(e.wpe.size(), 13), before_wpe = dwpe;
    cpu::embedding_backward((double*)nullptr, dwpe.data(), (double*)nullptr, e.w.data(),
                            e.tokens.data(), (const int*)nullptr, e.B, e.T, e.C);
    for (size_t i = 0; i < dwpe.size(); i++)
        CHECK(dwpe[i] == doctest::Approx(before_wpe[i] + fresh_wpe[i]).epsilon(1e-12));
}

TEST_CASE("embedding_backward in float is bitwise the same on 1 and 2 threads") {
    // C = 200 spans four channel chunks, the last one partial; 60 tokens over
    // B*T = 512 rows repeat many times.
    int B = 4, T = 128, C = 200, Vp = 60, ntypes = 2;
    std::vector<int> tokens(B * T), types(B * T);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (i * 37 + i / 7) % Vp;
        types[i] = (i / 3) % ntypes;
    }
    std::vector<float> dout = to_float(random_vec((size_t)B * T * C, 21));
    std::vector<float> dwte[2], dwpe[2], dwtt[2];
    for (int k = 0; k < 2; k++) {
        dwte[k] = to_float(random_vec((size_t)Vp * C, 22));
        dwpe[k] = to_float(random_vec((size_t)T * C, 23));
        dwtt[k] = to_float(random_vec((size_t)ntypes * C, 24));
        with_threads(k + 1, [&] {
            cpu::embedding_backward(dwte[k].data(), dwpe[k].data(), dwtt[k].data(), dout.data(),
                                    tokens.data(), types.data(), B, T, C);
        });
    }
    CHECK(std::memcmp(dwte[0].data(), dwte[1].data(), dwte[0].size() * sizeof(float)) == 0);
    CHECK(std::memcmp(dwpe[0].data(), dwpe[1].data(), dwpe[0].size() * sizeof(float)) == 0);
    CHECK(std::memcmp(dwtt[0].data(), dwtt[1].data(), dwtt[0].size() * sizeof(float)) == 0);
}

// ---- layernorm --------------------------------------------------------------------------

TEST_CASE("layernorm_forward on a hand-computed row") {
    // x = (1, 2, 3, 4): mean 2.5, biased variance 1.25.
    std::vector<double> inp = {1, 2, 3, 4}, weight = {1, 2, -1, 0.5}, bias = {0, 1, 0.5, -2};
    std::vector<double> out(4), mean(1), rstd(1);
    double eps = 1e-5;
    cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                           bias.data(), 1, 4, eps);
    double s = 1 / std::sqrt(1.25 + eps);
    CHECK(mean[0] == doctest::Approx(2.5).epsilon(1e-15));
    CHECK(rstd[0] == doctest::Approx(s).epsilon(1e-15));
    double want[4] = {-1.5 * s, -1.0 * s + 1, -0.5 * s + 0.5, 0.75 * s - 2};
    for (int c = 0; c < 4; c++) CHECK(out[c] == doctest::Approx(want[c]).epsilon(1e-14));
}

struct LayernormCase {
    int N = 6, C = 37;  // odd C: no multiple of any vector width
    double eps = 1e-5;
    // An offset mean checks the two-pass variance; weights away from 1 check their use.
    std::vector<double> inp = random_vec((size_t)N * C, 31, 2.0, 5.0);
    std::vector<double> weight = random_vec(C, 32, 0.5, 1.5);
    std::vector<double> bias = random_vec(C, 33);
    std::vector<double> w = random_vec((size_t)N * C, 34);  // dL/dout
    std::vector<double> out = std::vector<double>((size_t)N * C);
    std::vector<double> mean = std::vector<double>(N), rstd = std::vector<double>(N);

    double loss() {
        cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                               bias.data(), N, C, eps);
        return dot(out, w);
    }
};

TEST_CASE("layernorm_forward matches mean and biased variance computed in the test") {
    LayernormCase l;
    l.loss();
    for (int n = 0; n < l.N; n++) {
        const double* x = &l.inp[(size_t)n * l.C];
        double m = 0, v = 0;
        for (int c = 0; c < l.C; c++) m += x[c] / l.C;
        for (int c = 0; c < l.C; c++) v += (x[c] - m) * (x[c] - m) / l.C;
        double s = 1 / std::sqrt(v + l.eps);
        CHECK(l.mean[n] == doctest::Approx(m).epsilon(1e-12));
        CHECK(l.rstd[n] == doctest::Approx(s).epsilon(1e-12));
        for (int c = 0; c < l.C; c++)
            CHECK(l.out[(size_t)n * l.C + c] ==
                  doctest::Approx((x[c] - m) * s * l.weight[c] + l.bias[c]).epsilon(1e-12));
    }
}

TEST_CASE("layernorm_backward matches finite differences") {
    LayernormCase l;
    l.loss();
    std::vector<double> dinp(l.inp.size()), dweight(l.C), dbias(l.C);
    cpu::layernorm_backward(dinp.data(), dweight.data(), dbias.data(), l.w.data(), l.inp.data(),
                            l.weight.data(), l.mean.data(), l.rstd.data(), l.N, l.C);
    auto loss = [&] { return l.loss(); };
    CHECK(gradient_error(l.inp, dinp, loss) < kGradTol);
    CHECK(gradient_error(l.weight, dweight, loss) < kGradTol);
    CHECK(gradient_error(l.bias, dbias, loss) < kGradTol);
}

TEST_CASE("layernorm_backward adds into its gradients and skips null ones") {
    LayernormCase l;
    l.loss();
    std::vector<double> fresh_inp(l.inp.size()), fresh_weight(l.C), fresh_bias(l.C);
    cpu::layernorm_backward(fresh_inp.data(), fresh_weight.data(), fresh_bias.data(), l.w.data(),
                            l.inp.data(), l.weight.data(), l.mean.data(), l.rstd.data(), l.N,
                            l.C);
    auto check_added = [](const std::vector<double>& got, const std::vector<double>& before,
                          const std::vector<double>& fresh) {
        for (size_t i = 0; i < got.size(); i++)
            CHECK(got[i] == doctest::Approx(before[i] + fresh[i]).epsilon(1e-12));
    };
    SUBCASE("dinp only") {
        std::vector<double> dinp = random_vec(l.inp.size(), 41), before = dinp;
        cpu::layernorm_backward(dinp.data(), (double*)nullptr, (double*)nullptr, l.w.data(),
                                l.inp.data(), l.weight.data(), l.mean.data(), l.rstd.data(), l.N,
                                l.C);
        check_added(dinp, before, fresh_inp);
    }
    SUBCASE("dweight and dbias only (a first layer's input)") {
        std::vector<double> dweight = random_vec(l.C, 42), dbias = random_vec(l.C, 43);
        std::vector<double> before_w = dweight, before_b = dbias;
        cpu::layernorm_backward((double*)nullptr, dweight.data(), dbias.data(), l.w.data(),
                                l.inp.data(), l.weight.data(), l.mean.data(), l.rstd.data(), l.N,
                                l.C);
        check_added(dweight, before_w, fresh_weight);
        check_added(dbias, before_b, fresh_bias);
    }
    SUBCASE("dbias only") {
        std::vector<double> dbias = random_vec(l.C, 44), before = dbias;
        cpu::layernorm_backward((double*)nullptr, (double*)nullptr, dbias.data(), l.w.data(),
                                l.inp.data(), l.weight.data(), l.mean.data(), l.rstd.data(), l.N,
                                l.C);
        check_added(dbias, before, fresh_bias);
    }
}

TEST_CASE("layernorm in float is bitwise the same on 1 and 2 threads") {
    // C = 200 spans four channel chunks, the last one partial.
    int N = 300, C = 200;
    std::vector<float> inp = to_float(random_vec((size_t)N * C, 51, -3.0, 3.0));
    std::vector<float> weight = to_float(random_vec(C, 52)), bias = to_float(random_vec(C, 53));
    std::vector<float> dout = to_float(random_vec((size_t)N * C, 54));
    std::vector<float> out[2], mean[2], rstd[2], dinp[2], dweight[2], dbias[2];
    for (int k = 0; k < 2; k++) {
        out[k].resize((size_t)N * C);
        mean[k].resize(N);
        rstd[k].resize(N);
        dinp[k] = to_float(random_vec((size_t)N * C, 55));
        dweight[k] = to_float(random_vec(C, 56));
        dbias[k] = to_float(random_vec(C, 57));
        with_threads(k + 1, [&] {
            cpu::layernorm_forward(out[k].data(), mean[k].data(), rstd[k].data(), inp.data(),
                                   weight.data(), bias.data(), N, C, 1e-5f);
            cpu::layernorm_backward(dinp[k].data(), dweight[k].data(), dbias[k].data(),
                                    dout.data(), inp.data(), weight.data(), mean[k].data(),
                                    rstd[k].data(), N, C);
        });
    }
    CHECK(std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)) == 0);
    CHECK(std::memcmp(dinp[0].data(), dinp[1].data(), dinp[0].size() * sizeof(float)) == 0);
    CHECK(std::memcmp(dweight[0].data(), dweight[1].data(), C * sizeof(float)) == 0);
    CHECK(std::memcmp(dbias[0].data(), dbias[1].data(), C * sizeof(float)) == 0);
}

// ---- GELU and elementwise -------------------------------------------------------------

double gelu_tanh_formula(double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::acos(-1.0)) * (x + 0.044715 * x * x * x)));
}
double gelu_erf_formula(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

// Evenly spaced points over [lo, hi].
std::vector<double> linspace(double lo, double hi, int n) {
    std::vector<double> v(n);
    for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * i / (n - 1);
    return v;
}

TEST_CASE("gelu_forward in double matches the formulas with std::tanh and std::erf") {
    std::vector<double> x = linspace(-10, 10, 2001), out(x.size());
    cpu::gelu_forward(out.data(), x.data(), x.size(), GeluKind::Tanh);
    for (size_t i = 0; i < x.size(); i++) CHECK(std::fabs(out[i] - gelu_tanh_formula(x[i])) < 1e-12);
    cpu::gelu_forward(out.data(), x.data(), x.size(), GeluKind::Erf);
    for (size_t i = 0; i < x.size(); i++) CHECK(std::fabs(out[i] - gelu_erf_formula(x[i])) < 1e-12);
}

TEST_CASE("float fast_tanh and gelu_forward are accurate over [-10, 10]") {
    std::vector<float> x = to_float(linspace(-10, 10, 20001)), out(x.size());
    for (float xi : x) CHECK(std::fabs(cpu::fast_tanh(xi) - std::tanh((double)xi)) < 1e-6);
    cpu::gelu_forward(out.data(), x.data(), x.size(), GeluKind::Tanh);
    for (size_t i = 0; i < x.size(); i++) {
        double want = gelu_tanh_formula(x[i]);
        CHECK(std::fabs(out[i] - want) < 1e-6);
    }
    cpu::gelu_forward(out.data(), x.data(), x.size(), GeluKind::Erf);
    for (size_t i = 0; i < x.size(); i++) {
        double want = gelu_erf_formula(x[i]);
        CHECK(std::fabs(out[i] - want) < 1e-6);
    }
}

// A weight file with a huge value makes inf and NaN activations; they must come out as
// NaN or the function's limit (the NaN guard then skips the step), never as undefined
// behaviour: fast_exp once let a NaN through its clamp into a float-to-int conversion and
// a shift of a negative int (make sanitize stops there).
TEST_CASE("float fast_exp, fast_tanh, fast_erf and gelu: NaN gives NaN, infinities their limits") {
    const float inf = INFINITY, nan = NAN;
    CHECK(std::isnan(cpu::fast_exp(nan)));
    CHECK(cpu::fast_exp(inf) == inf);
    CHECK(cpu::fast_exp(89.0f) == inf);  // past ln(FLT_MAX) = 88.72
    CHECK(cpu::fast_exp(-inf) == 0.0f);
    CHECK(cpu::fast_exp(-200.0f) == 0.0f);
    for (float edge : {-87.3f, 88.3f})  // the ends of the exact range
        CHECK(std::fabs(cpu::fast_exp(edge) / std::exp((double)edge) - 1) < 1e-6);
    CHECK(std::isnan(cpu::fast_tanh(nan)));
    CHECK(cpu::fast_tanh(inf) == 1.0f);
    CHECK(cpu::fast_tanh(-inf) == -1.0f);
    CHECK(std::isnan(cpu::fast_erf(nan)));
    CHECK(cpu::fast_erf(inf) == 1.0f);
    CHECK(cpu::fast_erf(-inf) == -1.0f);
    // Through the kernels: NaN stays NaN, +inf stays +inf, a huge negative input gives 0.
    std::vector<float> x = {nan, inf, -1e30f}, out(3), dinp(3), dout(3, 1.0f);
    for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
        std::string kind_name = kind == GeluKind::Tanh ? "tanh" : "erf";
        CAPTURE(kind_name);
        cpu::gelu_forward(out.data(), x.data(), x.size(), kind);
        CHECK(std::isnan(out[0]));
        CHECK(out[1] == inf);
        CHECK(out[2] == 0.0f);
        cpu::gelu_backward(dinp.data(), dout.data(), x.data(), 1, kind);
        CHECK(std::isnan(dinp[0]));
    }
}

TEST_CASE("gelu_backward matches finite differences and adds into dinp") {
    for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
        std::string kind_name = kind == GeluKind::Tanh ? "tanh" : "erf";
        CAPTURE(kind_name);
        // Points out to where the tails flatten, plus random ones.
        std::vector<double> inp = linspace(-6, 6, 97), extra = random_vec(200, 61, -3, 3);
        inp.insert(inp.end(), extra.begin(), extra.end());
        std::vector<double> w = random_vec(inp.size(), 62), out(inp.size());
        auto loss = [&] {
            cpu::gelu_forward(out.data(), inp.data(), inp.size(), kind);
            return dot(out, w);
        };
        std::vector<double> dinp(inp.size());
        cpu::gelu_backward(dinp.data(), w.data(), inp.data(), inp.size(), kind);
        CHECK(gradient_error(inp, dinp, loss) < kGradTol);

        std::vector<double> acc = random_vec(inp.size(), 63), before = acc;
        cpu::gelu_backward(acc.data(), w.data(), inp.data(), inp.size(), kind);
        for (size_t i = 0; i < acc.size(); i++)
            CHECK(acc[i] == doctest::Approx(before[i] + dinp[i]).epsilon(1e-12));

        // The float kernel against the double one. gelu' is O(1), but in the tanh
        // form float 1 - tanh^2 keeps only an ulp of 1 (6e-8) absolute where
        // |tanh| -> 1, which 0.5 x du(x) multiplies by up to 14 at |x| = 6 (PyTorch's
        // float kernel uses the same formula): hence 4e-6 rather than 1e-6.
        std::vector<float> inp_f = to_float(inp), w_f = to_float(w), dinp_f(inp.size());
        std::vector<double> dinp_d(inp.size());
        std::vector<double> inp_fd(inp_f.begin(), inp_f.end()), w_fd(w_f.begin(), w_f.end());
        cpu::gelu_backward(dinp_f.data(), w_f.data(), inp_f.data(), inp.size(), kind);
        cpu::gelu_backward(dinp_d.data(), w_fd.data(), inp_fd.data(), inp.size(), kind);
        for (size_t i = 0; i < inp.size(); i++) CHECK(std::fabs(dinp_f[i] - dinp_d[i]) < 4e-6);
    }
}

TEST_CASE("tanh_forward matches std::tanh; tanh_backward matches finite differences and adds") {
    std::vector<double> inp = linspace(-5, 5, 101), w = random_vec(inp.size(), 64), out(inp.size());
    cpu::tanh_forward(out.data(), inp.data(), inp.size());
    for (size_t i = 0; i < inp.size(); i++) CHECK(out[i] == std::tanh(inp[i]));
    auto loss = [&] {
        cpu::tanh_forward(out.data(), inp.data(), inp.size());
        return dot(out, w);
    };
    loss();
    std::vector<double> dinp = random_vec(inp.size(), 65), before = dinp;
    cpu::tanh_backward(dinp.data(), w.data(), out.data(), inp.size());
    for (size_t i = 0; i < dinp.size(); i++) dinp[i] -= before[i];
    CHECK(gradient_error(inp, dinp, loss) < kGradTol);
}

TEST_CASE("relu_backward matches finite differences and adds; scale; copy_block") {
    std::vector<double> inp = random_vec(301, 66, -2, 2), w = random_vec(inp.size(), 67), out(inp.size());
    for (double& x : inp)
        if (std::fabs(x) < 1e-3) x = 0.5;  // keep finite differences off the kink
    auto loss = [&] {
        cpu::relu_forward(out.data(), inp.data(), inp.size());
        return dot(out, w);
    };
    loss();
    for (size_t i = 0; i < inp.size(); i++) CHECK(out[i] == std::max(inp[i], 0.0));
    std::vector<double> dinp = random_vec(inp.size(), 68), before = dinp;
    cpu::relu_backward(dinp.data(), w.data(), out.data(), inp.size());
    for (size_t i = 0; i < dinp.size(); i++) dinp[i] -= before[i];
    CHECK(gradient_error(inp, dinp, loss) < kGradTol);

    std::vector<double> x = random_vec(99, 69), y = x;
    cpu::scale(y.data(), -0.75, y.size());
    for (size_t i = 0; i < x.size(); i++) CHECK(y[i] == -0.75 * x[i]);

    // A (4 x 3) block at column 2 of a (4 x 7) matrix: written, added to, read back.
    std::vector<double> wide = random_vec(28, 70), block = random_vec(12, 71), orig = wide, back(12);
    cpu::copy_block(wide.data() + 2, 7, block.data(), 3, 4, 3, true);
    for (int n = 0; n < 4; n++)
        for (int c = 0; c < 7; c++)
            CHECK(wide[n * 7 + c] == (c >= 2 && c < 5 ? orig[n * 7 + c] + block[n * 3 + c - 2] : orig[n * 7 + c]));
    cpu::copy_block(wide.data() + 2, 7, block.data(), 3, 4, 3, false);
    cpu::copy_block(back.data(), 3, wide.data() + 2, 7, 4, 3, false);
    CHECK(back == block);
}

TEST_CASE("add and accumulate") {
    std::vector<double> a = random_vec(1001, 71), b = random_vec(1001, 72), out(a.size());
    cpu::add(out.data(), a.data(), b.data(), a.size());
    for (size_t i = 0; i < a.size(); i++) CHECK(out[i] == a[i] + b[i]);
    std::vector<double> dst = a;
    cpu::accumulate(dst.data(), b.data(), a.size());
    for (size_t i = 0; i < a.size(); i++) CHECK(dst[i] == a[i] + b[i]);
    cpu::add(a.data(), a.data(), b.data(), a.size());  // out aliasing an input
    for (size_t i = 0; i < a.size(); i++) CHECK(a[i] == dst[i]);
}

}  // namespace
