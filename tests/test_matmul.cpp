// The matmul kernels: backward against finite differences in double, float
// forward and backward against a naive double reference, the "forward writes,
// backward adds, null skips" rules, and bitwise independence from the number
// of threads.
//
// Shapes are chosen against the GEMM's blocks (micro-tile 12 x 32 floats or
// 12 x 16 doubles, KC = 256 along K, NC = 1024 output columns; see
// src/cpu/matmul.cpp): odd sizes leave partial micro-tiles at every edge,
// sizes of 1 leave a single row or column, and the larger shapes span more
// than one block of K and of output columns, over hundreds of rows.
//
// Tolerances: finite differences pass at 1e-7 (relative, as in gradcheck.h);
// the loss is linear in every input, so central differences have no truncation
// error, and a step of 0.5 keeps the rounding of a loss that sums ~1e5 terms
// (~1e-11 absolute) far below that. Float results match the double reference
// to 1e-5 relative: sums of up to ~1000 products in float round at ~1e-6.
// Where the arithmetic is double on both sides (accumulation), 1e-12.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "gradcheck.h"

namespace {

struct Shape {
    int N, C, OC;
};

// out (N,OC) = inp (N,C) weight (OC,C)^T + bias, in the plainest loops.
std::vector<double> reference_forward(const std::vector<double>& inp,
                                      const std::vector<double>& weight,
                                      const std::vector<double>& bias, Shape s) {
    std::vector<double> out((size_t)s.N * s.OC);
    for (int n = 0; n < s.N; n++)
        for (int o = 0; o < s.OC; o++) {
            double sum = bias.empty() ? 0.0 : bias[o];
            for (int c = 0; c < s.C; c++)
                sum += inp[(size_t)n * s.C + c] * weight[(size_t)o * s.C + c];
            out[(size_t)n * s.OC + o] = sum;
        }
    return out;
}

// The three gradients of the forward above, for dout (N,OC).
struct Grads {
    std::vector<double> dinp, dweight, dbias;
};
Grads reference_backward(const std::vector<double>& dout, const std::vector<double>& inp,
                         const std::vector<double>& weight, Shape s) {
    Grads g{std::vector<double>((size_t)s.N * s.C), std::vector<double>((size_t)s.OC * s.C),
            std::vector<double>(s.OC)};
    for (int n = 0; n < s.N; n++)
        for (int o = 0; o < s.OC; o++) {
            double d = dout[(size_t)n * s.OC + o];
            for (int c = 0; c < s.C; c++) {
                g.dinp[(size_t)n * s.C + c] += d * weight[(size_t)o * s.C + c];
                g.dweight[(size_t)o * s.C + c] += d * inp[(size_t)n * s.C + c];
            }
            g.dbias[o] += d;
        }
    return g;
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// Float forward and backward (into zeroed gradients) on n OpenMP threads.
struct FloatRun {
    std::vector<float> out, dinp, dweight, dbias;
};
FloatRun run_float(int threads, const std::vector<float>& inp, const std::vector<float>& weight,
                   const std::vector<float>& bias, const std::vector<float>& dout, Shape s) {
    FloatRun r{std::vector<float>((size_t)s.N * s.OC), std::vector<float>((size_t)s.N * s.C),
               std::vector<float>((size_t)s.OC * s.C), std::vector<float>(s.OC)};
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    cpu::matmul_forward(r.out.data(), inp.data(), weight.data(), bias.data(), s.N, s.C, s.OC);
    cpu::matmul_backward(r.dinp.data(), r.dweight.data(), r.dbias.data(), dout.data(), inp.data(),
                         weight.data(), s.N, s.C, s.OC);
    omp_set_num_threads(saved);
    return r;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("matmul_backward matches finite differences of matmul_forward (double)") {
    // {shape, elements checked per gradient}: the large shape's forward spans
    // two blocks of K and two of output columns over 260 rows, so it samples
    // a few elements of each gradient to stay quick.
    struct Case {
        Shape s;
        size_t checks;
    };
    const Case cases[] = {{{7, 37, 19}, 400}, {{1, 1, 1}, 400},  {{1, 40, 70}, 400},
                          {{33, 1, 5}, 400},  {{9, 17, 1}, 400}, {{260, 260, 1030}, 12}};
    for (const Case& cs : cases) {
        Shape s = cs.s;
        for (bool with_bias : {true, false}) {
            CAPTURE(s.N);
            CAPTURE(s.C);
            CAPTURE(s.OC);
            CAPTURE(with_bias);
            std::vector<double> inp = random_vec((size_t)s.N * s.C, 1);
            std::vector<double> weight = random_vec((size_t)s.OC * s.C, 2);
            std::vector<double> bias = random_vec(s.OC, 3);
            std::vector<double> w = random_vec((size_t)s.N * s.OC, 4);  // dL/dout
            std::vector<double> out((size_t)s.N * s.OC);
            auto loss = [&] {
                cpu::matmul_forward(out.data(), inp.data(), weight.data(),
                                    with_bias ? bias.data() : nullptr, s.N, s.C, s.OC);
                return dot(out, w);
            };
            std::vector<double> dinp(inp.size()), dweight(weight.size()), dbias(bias.size());
            cpu::matmul_backward(dinp.data(), dweight.data(), with_bias ? dbias.data() : nullptr,
                                 w.data(), inp.data(), weight.data(), s.N, s.C, s.OC);
            const double h = 0.5;  // exact for a linear loss; see the header
            CHECK(gradient_error(inp, dinp, loss, cs.checks, h) < 1e-7);
            CHECK(gradient_error(weight, dweight, loss, cs.checks, h) < 1e-7);
            if (with_bias) CHECK(gradient_error(bias, dbias, loss, cs.checks, h) < 1e-7);
        }
    }
}

TEST_CASE("float matmul matches a double reference and is the same on 1, 2 and 3 threads") {
    // Every product spans several blocks of K over hundreds of rows; the
    // forward also spans more than NC output columns. How C is cut into tasks
    // depends on the thread count, which must not change a single bit.
    const Shape s{259, 300, 1029};
    std::vector<double> inp = random_vec((size_t)s.N * s.C, 5);
    std::vector<double> weight = random_vec((size_t)s.OC * s.C, 6);
    std::vector<double> bias = random_vec(s.OC, 7);
    std::vector<double> dout = random_vec((size_t)s.N * s.OC, 8);
    // The reference sees the float-rounded inputs, so only the kernel's arithmetic differs.
    std::vector<float> inp_f = to_float(inp), weight_f = to_float(weight), bias_f = to_float(bias),
                       dout_f = to_float(dout);
    std::vector<double> inp_r(inp_f.begin(), inp_f.end()),
        weight_r(weight_f.begin(), weight_f.end()), bias_r(bias_f.begin(), bias_f.end()),
        dout_r(dout_f.begin(), dout_f.end());
    std::vector<double> out_ref = reference_forward(inp_r, weight_r, bias_r, s);
    Grads ref = reference_backward(dout_r, inp_r, weight_r, s);

    FloatRun one = run_float(1, inp_f, weight_f, bias_f, dout_f, s);
    CHECK(rel_error(one.out, out_ref, out_ref.size()) < 1e-5);
    CHECK(rel_error(one.dinp, ref.dinp, ref.dinp.size()) < 1e-5);
    CHECK(rel_error(one.dweight, ref.dweight, ref.dweight.size()) < 1e-5);
    CHECK(rel_error(one.dbias, ref.dbias, ref.dbias.size()) < 1e-5);
    for (int threads : {2, 3}) {
        CAPTURE(threads);
        FloatRun many = run_float(threads, inp_f, weight_f, bias_f, dout_f, s);
        CHECK(bitwise_equal(many.out, one.out));
        CHECK(bitwise_equal(many.dinp, one.dinp));
        CHECK(bitwise_equal(many.dweight, one.dweight));
        CHECK(bitwise_equal(many.dbias, one.dbias));
    }
}

TEST_CASE("matmul_forward overwrites out; matmul_backward adds, and skips null gradients") {
    const Shape s{13, 300, 270};  // forward and dinp span two blocks of K
    std::vector<double> inp = random_vec((size_t)s.N * s.C, 9);
    std::vector<double> weight = random_vec((size_t)s.OC * s.C, 10);
    std::vector<double> bias = random_vec(s.OC, 11);
    std::vector<double> dout = random_vec((size_t)s.N * s.OC, 12);

    // NaN in out would survive any accumulation into it.
    std::vector<double> out((size_t)s.N * s.OC, std::nan(""));
    cpu::matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), s.N, s.C, s.OC);
    CHECK(rel_error(out, reference_forward(inp, weight, bias, s), out.size()) < 1e-12);
    std::fill(out.begin(), out.end(), std::nan(""));
    cpu::matmul_forward<double>(out.data(), inp.data(), weight.data(), nullptr, s.N, s.C, s.OC);
    CHECK(rel_error(out, reference_forward(inp, weight, {}, s), out.size()) < 1e-12);
    // matmul_accumulate adds the product (no bias) onto what out holds.
    const std::vector<double> start = random_vec(out.size(), 16);
    std::vector<double> acc = start, want = reference_forward(inp, weight, {}, s);
    cpu::matmul_accumulate(acc.data(), inp.data(), weight.data(), s.N, s.C, s.OC);
    for (size_t i = 0; i < want.size(); i++) want[i] += start[i];
    CHECK(rel_error(acc, want, acc.size()) < 1e-12);

    Grads ref = reference_backward(dout, inp, weight, s);
    const std::vector<double> dinp0 = random_vec(ref.dinp.size(), 13);
    const std::vector<double> dweight0 = random_vec(ref.dweight.size(), 14);
    const std::vector<double> dbias0 = random_vec(ref.dbias.size(), 15);
    auto sum = [](const std::vector<double>& a, const std::vector<double>& b) {
        std::vector<double> r(a.size());
        for (size_t i = 0; i < a.size(); i++) r[i] = a[i] + b[i];
        return r;
    };
    // Every subset of the three gradients: bit 0 dinp, bit 1 dweight, bit 2 dbias.
    for (int wanted = 0; wanted < 8; wanted++) {
        CAPTURE(wanted);
        std::vector<double> dinp = dinp0, dweight = dweight0, dbias = dbias0;
        cpu::matmul_backward(wanted & 1 ? dinp.data() : nullptr,
                             wanted & 2 ? dweight.data() : nullptr,
                             wanted & 4 ? dbias.data() : nullptr, dout.data(), inp.data(),
                             weight.data(), s.N, s.C, s.OC);
        if (wanted & 1) CHECK(rel_error(dinp, sum(dinp0, ref.dinp), dinp.size()) < 1e-12);
        if (wanted & 2)
            CHECK(rel_error(dweight, sum(dweight0, ref.dweight), dweight.size()) < 1e-12);
        if (wanted & 4) CHECK(rel_error(dbias, sum(dbias0, ref.dbias), dbias.size()) < 1e-12);
    }
}
