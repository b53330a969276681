// Attention kernels: backward against finite differences in double, forward against a
// naive double reference written here, the float path against the double one, thread-count
// independence, and accumulation into dqkv.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <vector>

#include "cpu/kernels.h"
#include "gradcheck.h"
#include "core/rng.h"

namespace {

struct AttnCase {
    int B, T, C, NH;
    bool causal;
    float dropout_p;
    std::vector<int> key_mask;  // (B,T); empty means no mask
    DropoutKey key{1234, 7, 3};

    const int* mask() const { return key_mask.empty() ? nullptr : key_mask.data(); }
    size_t qkv_size() const { return (size_t)B * T * 3 * C; }
    size_t out_size() const { return (size_t)B * T * C; }
};

// A (B,T) mask with the keys in `hidden` masked out in every batch row.
std::vector<int> mask_hiding(int B, int T, std::initializer_list<int> hidden) {
    std::vector<int> mask((size_t)B * T, 1);
    for (int b = 0; b < B; b++)
        for (int s : hidden) mask[(size_t)b * T + s] = 0;
    return mask;
}

template <typename F>
void forward(const AttnCase& c, std::vector<F>& out, std::vector<F>& saved,
             const std::vector<F>& qkv) {
    out.assign(c.out_size(), F(0));
    saved.assign(cpu::attention_saved_floats(c.B, c.T, c.NH), F(0));
    cpu::attention_forward(out.data(), saved.data(), qkv.data(), c.mask(), c.B, c.T, c.C, c.NH,
                           c.causal, c.dropout_p, c.key);
}

template <typename F>
void backward(const AttnCase& c, std::vector<F>& dqkv, const std::vector<F>& dout,
              const std::vector<F>& qkv, const std::vector<F>& saved) {
    cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), saved.data(), c.mask(), c.B,
                            c.T, c.C, c.NH, c.causal, c.dropout_p, c.key);
}

// The definition, loop by loop, with the dropout mask drawn element by element.
void reference_forward(const AttnCase& c, std::vector<double>& out, std::vector<double>& prob,
                       const std::vector<double>& qkv) {
    const int B = c.B, T = c.T, C = c.C, NH = c.NH, hs = C / NH;
    out.assign(c.out_size(), 0.0);
    prob.assign((size_t)B * NH * T * T, 0.0);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                std::vector<double> score(T);
                std::vector<bool> seen(T, false);
                double maxval = -INFINITY;
                for (int s = 0; s < T; s++) {
                    seen[s] = (!c.causal || s <= t) && (!c.mask() || c.key_mask[b * T + s]);
                    if (!seen[s]) continue;
                    double dot = 0;
                    for (int i = 0; i < hs; i++)
                        dot += qkv[(b * T + t) * 3 * C + h * hs + i] *
                               qkv[(b * T + s) * 3 * C + C + h * hs + i];
                    score[s] = dot / std::sqrt((double)hs);
                    maxval = std::max(maxval, score[s]);
                }
                double sum = 0;
                for (int s = 0; s < T; s++)
                    if (seen[s]) sum += std::exp(score[s] - maxval);
                for (int s = 0; s < T; s++) {
                    if (!seen[s]) continue;
                    size_t idx = (((size_t)b * NH + h) * T + t) * T + s;
                    double p = std::exp(score[s] - maxval) / sum;
                    prob[idx] = p;
                    if (c.dropout_p > 0) {
                        bool keep = philox_uniform(c.key.seed, c.key.step, c.key.site, idx) >=
                                    c.dropout_p;
                        p = keep ? p / (1.0 - (double)c.dropout_p) : 0.0;
                    }
                    for (int i = 0; i < hs; i++)
                        out[(b * T + t) * C + h * hs + i] +=
                            p * qkv[(b * T + s) * 3 * C + 2 * C + h * hs + i];
                }
            }
}

// dqkv from the backward kernel against central differences of L = sum(out * w), on
// gradient_error's evenly spread sample of q, k and v. Values in [-2, 2] give peaked
// softmax rows.
void check_gradients(const AttnCase& c) {
    std::vector<double> qkv = random_vec(c.qkv_size(), 11, -2.0, 2.0);
    std::vector<double> w = random_vec(c.out_size(), 12);
    std::vector<double> out, saved;
    auto loss = [&] {
        forward(c, out, saved, qkv);
        return dot(out, w);
    };
    loss();
    std::vector<double> dqkv(c.qkv_size(), 0.0);
    backward(c, dqkv, w, qkv, saved);
    REQUIRE(std::all_of(dqkv.begin(), dqkv.end(), [](double g) { return std::isfinite(g); }));
    // The hundreds of tiny forward calls run on one thread: on a busy machine, waking a
    // second thread per call costs far more than the work. Threads are tested below.
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    double err = gradient_error(qkv, dqkv, loss);
    omp_set_num_threads(threads);
    INFO("relative gradient error " << err);
    CHECK(err < 1e-7);
}

}  // namespace

// T = 21 and 19 span two key blocks (KB = 16) and end in a partial query group; head sizes
// 6 and 20 exercise the padded tiles.
TEST_CASE("attention backward: finite differences, causal") {
    check_gradients({2, 21, 12, 2, true, 0.0f, {}});
}

TEST_CASE("attention backward: finite differences, key padding mask") {
    check_gradients({2, 19, 40, 2, false, 0.0f, mask_hiding(2, 19, {3, 4, 17})});
}

TEST_CASE("attention backward: finite differences, queries that see no key") {
    AttnCase c{2, 9, 12, 3, true, 0.0f, mask_hiding(2, 9, {0, 1, 5})};
    std::vector<double> qkv = random_vec(c.qkv_size(), 5, -2.0, 2.0), out, saved;
    forward(c, out, saved, qkv);
    for (int b = 0; b < c.B; b++)  // queries 0 and 1 see only keys 0, 1: both hidden
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < c.C; i++) CHECK(out[(b * c.T + t) * c.C + i] == 0.0);
    check_gradients(c);
}

TEST_CASE("attention backward: finite differences, dropout") {
    check_gradients({2, 21, 12, 2, true, 0.2f, mask_hiding(2, 21, {6})});
    check_gradients({1, 18, 16, 1, false, 0.2f, {}});
}

TEST_CASE("attention forward matches a naive reference, with masks and dropout") {
    const AttnCase cases[] = {{2, 21, 24, 3, true, 0.3f, mask_hiding(2, 21, {0, 2, 9, 20})},
                              {2, 21, 24, 3, false, 0.3f, mask_hiding(2, 21, {0, 2, 9, 20})},
                              {1, 45, 64, 2, true, 0.1f, mask_hiding(1, 45, {7, 33})}};
    for (const AttnCase& c : cases) {
        CAPTURE(c.T);
        CAPTURE(c.causal);
        std::vector<double> qkv = random_vec(c.qkv_size(), 21, -2.0, 2.0);
        std::vector<double> out, saved, ref_out, ref_prob;
        forward(c, out, saved, qkv);
        reference_forward(c, ref_out, ref_prob, qkv);
        CHECK(rel_error(saved, ref_prob, ref_prob.size()) < 1e-12);
        CHECK(rel_error(out, ref_out, ref_out.size()) < 1e-12);

        // The case must exercise dropout: some visible probabilities are dropped.
        AttnCase no_drop = c;
        no_drop.dropout_p = 0.0f;
        std::vector<double> undropped, unused;
        reference_forward(no_drop, undropped, unused, qkv);
        CHECK(rel_error(out, undropped, undropped.size()) > 1e-3);
    }
}

// The float path (fast_exp, vectorised loops) against the double one on the same inputs.
// 1e-5 relative: a few float roundings per term over sums of up to T terms.
TEST_CASE("attention float kernels agree with double") {
    AttnCase c{2, 37, 64, 2, true, 0.1f, mask_hiding(2, 37, {1, 30})};
    std::vector<double> qkv = random_vec(c.qkv_size(), 31, -2.0, 2.0);
    std::vector<double> dout = random_vec(c.out_size(), 32);
    std::vector<float> qkv_f(qkv.begin(), qkv.end()), dout_f(dout.begin(), dout.end());
    std::vector<double> out, saved, dqkv(c.qkv_size(), 0.0);
    std::vector<float> out_f, saved_f, dqkv_f(c.qkv_size(), 0.0f);
    forward(c, out, saved, qkv);
    forward(c, out_f, saved_f, qkv_f);
    backward(c, dqkv, dout, qkv, saved);
    backward(c, dqkv_f, dout_f, qkv_f, saved_f);
    CHECK(rel_error(saved_f, saved, saved.size()) < 1e-5);
    CHECK(rel_error(out_f, out, out.size()) < 1e-5);
    CHECK(rel_error(dqkv_f, dqkv, dqkv.size()) < 1e-5);
}

TEST_CASE("attention float results are bitwise identical on 1 and 2 threads") {
    const int threads = omp_get_max_threads();
    for (bool causal : {true, false}) {
        CAPTURE(causal);
        AttnCase c{3, 70, 96, 3, causal, 0.1f, mask_hiding(3, 70, {5, 64, 69})};
        std::vector<double> init = random_vec(c.qkv_size() + c.out_size(), 41);
        std::vector<float> qkv(init.begin(), init.begin() + c.qkv_size());
        std::vector<float> dout(init.begin() + c.qkv_size(), init.end());
        std::vector<float> out[2], saved[2], dqkv[2];
        for (int run = 0; run < 2; run++) {
            omp_set_num_threads(run + 1);
            forward(c, out[run], saved[run], qkv);
            dqkv[run].assign(c.qkv_size(), 0.0f);
            backward(c, dqkv[run], dout, qkv, saved[run]);
        }
        omp_set_num_threads(threads);
        CHECK(std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)) == 0);
        CHECK(std::memcmp(saved[0].data(), saved[1].data(), saved[0].size() * sizeof(float)) == 0);
        CHECK(std::memcmp(dqkv[0].data(), dqkv[1].data(), dqkv[0].size() * sizeof(float)) == 0);
    }
}

TEST_CASE("attention backward adds into dqkv") {
    AttnCase c{2, 13, 16, 2, false, 0.2f, mask_hiding(2, 13, {4})};
    std::vector<double> qkv = random_vec(c.qkv_size(), 51);
    std::vector<double> dout = random_vec(c.out_size(), 52);
    std::vector<double> prefill = random_vec(c.qkv_size(), 53);
    std::vector<double> out, saved;
    forward(c, out, saved, qkv);
    std::vector<double> fresh(c.qkv_size(), 0.0), added = prefill;
    backward(c, fresh, dout, qkv, saved);
    backward(c, added, dout, qkv, saved);
    std::vector<double> want(c.qkv_size());
    for (size_t i = 0; i < want.size(); i++) want[i] = prefill[i] + fresh[i];
    CHECK(rel_error(added, want, want.size()) < 1e-14);
}

TEST_CASE("attention refuses shapes beyond its buffers") {
    DropoutKey key;
    CHECK_THROWS_AS(cpu::attention_forward<float>(nullptr, nullptr, nullptr, nullptr, 1, 1025, 64,
                                                  1, true, 0.0f, key),
                    std::invalid_argument);
    CHECK_THROWS_AS(cpu::attention_backward<float>(nullptr, nullptr, nullptr, nullptr, nullptr, 1,
                                                   8, 256, 1, true, 0.0f, key),
                    std::invalid_argument);
}
