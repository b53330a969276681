// bin/conformance [--device NAME] [--seed N]: does a backend compute what the
// CPU reference computes? Written against the kernel interface (src/core/backend.h)
// alone, so a port to new hardware runs it unchanged.
//
// 1. Kernels. For every kernel of the interface: random inputs on shapes
//    chosen to catch edge handling (sizes of 1, sizes that are not multiples
//    of common block sizes such as 7, 33, 257, a GPT-2 layer's 768 channels),
//    run on the device under test and on make_backend("cpu"), outputs
//    compared. Gradients start pre-filled with random values (backward kernels
//    add into them), null gradients are tried (the rest must still be right),
//    dlogits is checked to be written rather than added, and dropout masks must
//    match bit for bit.
// 2. GPT-2 on the device against PyTorch, as tests/test_gpt2.cpp does on the
//    CPU: logits, loss, every gradient and 10 AdamW steps of
//    tests/fixtures/gpt2_train.bin, and the dropout fixture.
// 3. Determinism (two 20-step runs with one seed give bitwise-identical losses)
//    and exact resume (a run checkpointed at step 10 and reloaded gives the
//    same next 10 losses, bit for bit), on the device.
//
// Error measure: max |got - want| / max |want| over an output (rel_error of
// tests/gradcheck.h); NaN never passes. Tolerances are below, with reasons.
// With --device cpu the CPU is compared with itself: a check of the harness,
// not of a port. Prints one PASS/FAIL line per check, then "N passed, M
// failed"; the exit code is non-zero on any failure. Run from the repository
// root (the fixtures are read from tests/fixtures/).

// gradcheck.h's measure is used without doctest's test machinery.
#define DOCTEST_CONFIG_DISABLE
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cxxopts.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "train/checkpoint.h"
#include "gpt2_fixture.h"
#include "models/gpt2.h"
#include "gradcheck.h"
#include "train/optimizer.h"
#include "core/rng.h"
#include "core/threads.h"

namespace {

// fp32 kernels: the device may sum in another order and use other exp, tanh,
// erf and sqrt implementations, each within a few ulp: errors of 1e-7..1e-6.
constexpr double kTol = 1e-5;
// sum and sum_squares return double, and the reference accumulates in double,
// so a correct port lands near 1e-16 relative; 1e-9 (relative to the sum of
// |terms|) still leaves room for another order over 10^6 terms, and fails a
// port that accumulates in float or drops one term in a million.
constexpr double kSumTol = 1e-9;
// The GPT-2 fixture's tolerances are those of tests/test_gpt2.cpp, where the
// reasons are written: 1e-5, and 3e-4 for the weights after 10 AdamW steps.
constexpr double kFinalWeightTol = 3e-4;
// A backend whose name ends in "-bf16" declares that its matrix products
// (matmul, and the products inside attention) round their inputs to bf16 and
// accumulate in fp32; every other kernel stays fp32. bf16 keeps 8 significant
// bits (2^-9 = 2e-3 relative per rounded input). Its tolerances come from an
// emulation of exactly that rounding (round to nearest even, exact
// accumulation), which measured at worst: products 7e-3 (attention forward),
// GPT-2 gradients 1.1e-2, logits 2e-3, grad norms 1.2e-3, losses 5e-5, and
// final weights 8.5e-2; each tolerance is 3.5-5x that. The final weights are
// only a gross check in bf16: AdamW divides every gradient by its own RMS, so
// the rounding noise on the key biases (whose exact gradient is 0) becomes a
// full-size update; the per-step losses are the finer check there.
struct Tolerances {
    double products = kTol;                  // matmul and attention
    double model = kTol;                     // GPT-2 logits, loss, gradients, losses, norms
    double final_weights = kFinalWeightTol;  // GPT-2 weights after 10 AdamW steps
};
constexpr Tolerances kBf16Tolerances = {3e-2, 5e-2, 3e-1};

Tolerances tolerances_for(const std::string& device) {
    const std::string suffix = "-bf16";
    bool bf16 = device.size() >= suffix.size() &&
                device.compare(device.size() - suffix.size(), suffix.size(), suffix) == 0;
    return bf16 ? kBf16Tolerances : Tolerances{};
}


int g_passed = 0, g_failed = 0;
std::string g_filter;  // --filter: run only the checks whose names contain it

void report(bool ok, const std::string& check, const std::string& detail) {
    std::printf("%s %s: %s\n", ok ? "PASS" : "FAIL", check.c_str(), detail.c_str());
    std::fflush(stdout);
    (ok ? g_passed : g_failed)++;
}

std::string sci(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2e", x);
    return buf;
}

// Runs one check (unless --filter skips it); an exception (a device error, a
// refused shape) is a failure.
void guarded(const std::string& check, const std::function<void()>& body) {
    if (check.find(g_filter) == std::string::npos) return;
    try {
        body();
    } catch (const std::exception& e) {
        report(false, check, std::string("threw: ") + e.what());
    }
}

// Random inputs: every check draws from its own generator, seeded by --seed and
// the check's name, so a failing check reproduces alone.
struct Random {
    std::mt19937_64 gen;
    Random(uint64_t seed, const std::string& check) : gen(seed ^ std::hash<std::string>{}(check)) {}
    std::vector<float> uniform(size_t n, float lo, float hi) {
        std::uniform_real_distribution<float> dist(lo, hi);
        std::vector<float> v(n);
        for (float& x : v) x = dist(gen);
        return v;
    }
    // Magnitudes in [0.5, 1.5) with random signs: never zero, so a dropped
    // element is recognisable in the output.
    std::vector<float> nonzero(size_t n) {
        std::vector<float> v = uniform(n, 0.5f, 1.5f);
        std::bernoulli_distribution flip(0.5);
        for (float& x : v)
            if (flip(gen)) x = -x;
        return v;
    }
    std::vector<int> ints(size_t n, int lo, int hi) {  // [lo, hi]
        std::uniform_int_distribution<int> dist(lo, hi);
        std::vector<int> v(n);
        for (int& x : v) x = dist(gen);
        return v;
    }
};

// Device buffers of one backend, released together.
class Mem {
  public:
    explicit Mem(Backend& backend) : be(backend) {}
    ~Mem() {
        for (void* p : owned) be.release(p);
    }
    Mem(const Mem&) = delete;
    Mem& operator=(const Mem&) = delete;

    template <typename T>
    T* put(const std::vector<T>& host) {
        T* dev = (T*)alloc(host.size() * sizeof(T));
        be.upload(dev, host.data(), host.size() * sizeof(T));
        return dev;
    }
    float* zeros(size_t n) { return (float*)alloc(n * sizeof(float)); }
    std::vector<float> get(const float* dev, size_t n) {
        std::vector<float> host(n);
        be.download(host.data(), dev, n * sizeof(float));
        return host;
    }

    Backend& be;

  private:
    std::vector<void*> owned;
    void* alloc(size_t bytes) {
        owned.push_back(be.alloc(bytes));
        return owned.back();
    }
};

// A kernel's outputs, downloaded; `exact` outputs must match bit for bit.
struct Output {
    std::string name;
    std::vector<float> values;
    bool exact = false;
};
using Outputs = std::vector<Output>;

// 1 where x != 0: a dropout mask read off an output whose input had no zeros.
std::vector<float> nonzero_pattern(const std::vector<float>& x) {
    std::vector<float> mask(x.size());
    for (size_t i = 0; i < x.size(); i++) mask[i] = x[i] != 0.0f;
    return mask;
}

// Runs `kernel` on the device under test and on the reference, and compares
// their outputs: within tol, or bit for bit where marked exact.
void compare(Backend& dut, Backend& ref, const std::string& check,
             const std::function<Outputs(Mem&)>& kernel, double tol = kTol) {
    guarded(check, [&] {
        Outputs got, want;
        {
            Mem mem(dut);
            got = kernel(mem);
        }
        {
            Mem mem(ref);
            want = kernel(mem);
        }
        // The harness, not the backend, sizes every output, so got and want line up.
        bool ok = true;
        Worst worst;
        std::string notes;
        for (size_t k = 0; k < got.size(); k++) {
            const Output& g = got[k];
            const Output& w = want[k];
            if (g.exact) {
                size_t differ = 0;
                for (size_t i = 0; i < g.values.size(); i++)
                    differ += std::memcmp(&g.values[i], &w.values[i], sizeof(float)) != 0;
                if (differ) {
                    ok = false;
                    notes += ", " + g.name + ": " + std::to_string(differ) + " of " +
                             std::to_string(g.values.size()) + " differ";
                }
                continue;
            }
            double err = rel_error(g.values, w.values, g.values.size());
            if (!(err <= tol)) ok = false;
            worst.add(err, g.name);
        }
        report(ok, check, "worst " + (worst.name.empty() ? "-" : worst.name) + " " + sci(worst.err) +
                              " (tol " + sci(tol) + ")" + notes);
    });
}

std::string shape(std::initializer_list<std::pair<const char*, long long>> dims) {
    std::string s;
    for (auto& d : dims) s += std::string(s.empty() ? "" : " ") + d.first + "=" + std::to_string(d.second);
    return s;
}

// ---- memory --------------------------------------------------------------------------------

void check_memory(Backend& dut, uint64_t seed) {
    for (size_t n : {1, 7, 33, 257, 100003}) {
        std::string check = "memory n=" + std::to_string(n);
        guarded(check, [&] {
            Random rnd(seed, check);
            std::vector<float> x = rnd.uniform(n, -1, 1);
            Mem mem(dut);
            float* fresh = mem.zeros(n);
            float* a = mem.put(x);
            float* b = mem.zeros(n);
            bool zeroed = mem.get(fresh, n) == std::vector<float>(n, 0.0f);
            bool round_trip = mem.get(a, n) == x;
            dut.copy(b, a, n * sizeof(float));
            bool copied = mem.get(b, n) == x;
            dut.zero(a, n * sizeof(float));
            bool cleared = mem.get(a, n) == std::vector<float>(n, 0.0f);
            report(zeroed && round_trip && copied && cleared, check,
                   std::string("alloc zero-filled ") + (zeroed ? "yes" : "NO") + ", upload/download " +
                       (round_trip ? "exact" : "WRONG") + ", copy " + (copied ? "exact" : "WRONG") +
                       ", zero " + (cleared ? "yes" : "NO"));
        });
    }
}

// ---- kernels -------------------------------------------------------------------------------

void check_embeddings(Backend& dut, Backend& ref, uint64_t seed) {
    struct Shape { int B, T, C; };
    for (Shape s : {Shape{1, 1, 1}, {2, 7, 3}, {3, 33, 64}, {2, 257, 100}, {4, 64, 768}}) {
        const int N = s.B * s.T, maxT = s.T + 3, ntypes = 2;
        for (int variant = 0; variant < 3; variant++) {
            // Forward: with types, without token types, token types but all type 0.
            static const char* fwd_names[] = {"types", "no types", "wtt, types null"};
            std::string check = "embedding_forward " + shape({{"B", s.B}, {"T", s.T}, {"C", s.C}}) +
                                " (" + fwd_names[variant] + ")";
            Random rnd(seed, check);
            const int V = 37;
            std::vector<int> tokens = rnd.ints(N, 0, V - 1), types = rnd.ints(N, 0, ntypes - 1);
            std::vector<float> wte = rnd.uniform((size_t)V * s.C, -1, 1);
            std::vector<float> wpe = rnd.uniform((size_t)maxT * s.C, -1, 1);
            std::vector<float> wtt = rnd.uniform((size_t)ntypes * s.C, -1, 1);
            compare(dut, ref, check, [&](Mem& m) {
                float* out = m.zeros((size_t)N * s.C);
                m.be.embedding_forward(out, m.put(tokens), variant == 0 ? m.put(types) : nullptr,
                                       m.put(wte), m.put(wpe), variant == 1 ? nullptr : m.put(wtt), s.B,
                                       s.T, s.C);
                return Outputs{{"out", m.get(out, (size_t)N * s.C)}};
            });

            // Backward, into pre-filled gradients: all three; dwte alone; dwpe and
            // dwtt (types null). Few distinct tokens, so rows repeat in dwte.
            static const char* bwd_names[] = {"all", "dwte only", "dwpe+dwtt, types null"};
            check = "embedding_backward " + shape({{"B", s.B}, {"T", s.T}, {"C", s.C}}) + " (" +
                    bwd_names[variant] + ")";
            Random rb(seed, check);
            const int Vb = 5;
            std::vector<int> btokens = rb.ints(N, 0, Vb - 1), btypes = rb.ints(N, 0, ntypes - 1);
            std::vector<float> dout = rb.uniform((size_t)N * s.C, -1, 1);
            std::vector<float> dwte = rb.uniform((size_t)Vb * s.C, -1, 1);
            std::vector<float> dwpe = rb.uniform((size_t)maxT * s.C, -1, 1);
            std::vector<float> dwtt = rb.uniform((size_t)ntypes * s.C, -1, 1);
            compare(dut, ref, check, [&](Mem& m) {
                float* gte = variant != 2 ? m.put(dwte) : nullptr;
                float* gpe = variant != 1 ? m.put(dwpe) : nullptr;
                float* gtt = variant != 1 ? m.put(dwtt) : nullptr;
                m.be.embedding_backward(gte, gpe, gtt, m.put(dout), m.put(btokens),
                                        variant == 0 ? m.put(btypes) : nullptr, s.B, s.T, s.C);
                Outputs outs;
                if (gte) outs.push_back({"dwte", m.get(gte, dwte.size())});
                if (gpe) outs.push_back({"dwpe", m.get(gpe, dwpe.size())});
                if (gtt) outs.push_back({"dwtt", m.get(gtt, dwtt.size())});
                return outs;
            });
        }
    }
}

void check_layernorm(Backend& dut, Backend& ref, uint64_t seed) {
    struct Shape { int N, C; };
    for (Shape s : {Shape{1, 1}, {7, 3}, {33, 64}, {257, 100}, {64, 768}}) {
        const size_t NC = (size_t)s.N * s.C;
        std::string check = "layernorm_forward " + shape({{"N", s.N}, {"C", s.C}});
        Random rnd(seed, check);
        // Rows with mean ~3 and std ~1: a one-pass variance would cancel badly.
        std::vector<float> inp = rnd.uniform(NC, 2, 4), weight = rnd.uniform(s.C, 0.5f, 1.5f),
                           bias = rnd.uniform(s.C, -1, 1);
        compare(dut, ref, check, [&](Mem& m) {
            float *out = m.zeros(NC), *mean = m.zeros(s.N), *rstd = m.zeros(s.N);
            m.be.layernorm_forward(out, mean, rstd, m.put(inp), m.put(weight), m.put(bias), s.N, s.C, 1e-5f);
            return Outputs{{"out", m.get(out, NC)}, {"mean", m.get(mean, s.N)}, {"rstd", m.get(rstd, s.N)}};
        });

        // Backward from the same statistics on both sides (computed here in double).
        std::vector<float> mean(s.N), rstd(s.N);
        for (int n = 0; n < s.N; n++) {
            double sum = 0, sumsq = 0;
            for (int c = 0; c < s.C; c++) sum += inp[(size_t)n * s.C + c];
            double mu = sum / s.C;
            for (int c = 0; c < s.C; c++) sumsq += std::pow(inp[(size_t)n * s.C + c] - mu, 2);
            mean[n] = (float)mu;
            rstd[n] = (float)(1.0 / std::sqrt(sumsq / s.C + 1e-5));
        }
        for (int variant = 0; variant < 3; variant++) {
            static const char* names[] = {"all", "dinp only", "dweight+dbias only"};
            std::string bcheck = "layernorm_backward " + shape({{"N", s.N}, {"C", s.C}}) + " (" + names[variant] + ")";
            Random rb(seed, bcheck);
            std::vector<float> dout = rb.uniform(NC, -1, 1), dinp = rb.uniform(NC, -1, 1),
                               dweight = rb.uniform(s.C, -1, 1), dbias = rb.uniform(s.C, -1, 1);
            compare(dut, ref, bcheck, [&](Mem& m) {
                float* gi = variant != 2 ? m.put(dinp) : nullptr;
                float* gw = variant != 1 ? m.put(dweight) : nullptr;
                float* gb = variant != 1 ? m.put(dbias) : nullptr;
                m.be.layernorm_backward(gi, gw, gb, m.put(dout), m.put(inp), m.put(weight), m.put(mean),
                                        m.put(rstd), s.N, s.C);
                Outputs outs;
                if (gi) outs.push_back({"dinp", m.get(gi, NC)});
                if (gw) outs.push_back({"dweight", m.get(gw, s.C)});
                if (gb) outs.push_back({"dbias", m.get(gb, s.C)});
                return outs;
            });
        }
    }
}

void check_matmul(Backend& dut, Backend& ref, uint64_t seed, double tol) {
    struct Shape { int N, C, OC; };
    for (Shape s : {Shape{1, 1, 1}, {7, 3, 5}, {33, 64, 100}, {257, 100, 33}, {64, 768, 2304}}) {
        const std::string dims = shape({{"N", s.N}, {"C", s.C}, {"OC", s.OC}});
        for (bool with_bias : {true, false}) {
            std::string check = "matmul_forward " + dims + (with_bias ? " (bias)" : " (no bias)");
            Random rnd(seed, check);
            std::vector<float> inp = rnd.uniform((size_t)s.N * s.C, -1, 1),
                               weight = rnd.uniform((size_t)s.OC * s.C, -1, 1), bias = rnd.uniform(s.OC, -1, 1);
            compare(dut, ref, check, [&](Mem& m) {
                float* out = m.zeros((size_t)s.N * s.OC);
                m.be.matmul_forward(out, m.put(inp), m.put(weight), with_bias ? m.put(bias) : nullptr, s.N,
                                    s.C, s.OC);
                return Outputs{{"out", m.get(out, (size_t)s.N * s.OC)}};
            }, tol);
        }
        {
            std::string check = "matmul_accumulate " + dims;
            Random rnd(seed, check);
            std::vector<float> inp = rnd.uniform((size_t)s.N * s.C, -1, 1),
                               weight = rnd.uniform((size_t)s.OC * s.C, -1, 1),
                               start = rnd.uniform((size_t)s.N * s.OC, -1, 1);
            compare(dut, ref, check, [&](Mem& m) {
                float* out = m.put(start);
                m.be.matmul_accumulate(out, m.put(inp), m.put(weight), s.N, s.C, s.OC);
                return Outputs{{"out", m.get(out, (size_t)s.N * s.OC)}};
            }, tol);
        }
        for (int variant = 0; variant < 3; variant++) {
            static const char* names[] = {"all", "dinp only", "dweight+dbias only"};
            std::string check = "matmul_backward " + dims + " (" + names[variant] + ")";
            Random rnd(seed, check);
            std::vector<float> inp = rnd.uniform((size_t)s.N * s.C, -1, 1),
                               weight = rnd.uniform((size_t)s.OC * s.C, -1, 1),
                               dout = rnd.uniform((size_t)s.N * s.OC, -1, 1),
                               dinp = rnd.uniform((size_t)s.N * s.C, -1, 1),
                               dweight = rnd.uniform((size_t)s.OC * s.C, -1, 1), dbias = rnd.uniform(s.OC, -1, 1);
            compare(dut, ref, check, [&](Mem& m) {
                float* gi = variant != 2 ? m.put(dinp) : nullptr;
                float* gw = variant != 1 ? m.put(dweight) : nullptr;
                float* gb = variant != 1 ? m.put(dbias) : nullptr;
                m.be.matmul_backward(gi, gw, gb, m.put(dout), m.put(inp), m.put(weight), s.N, s.C, s.OC);
                Outputs outs;
                if (gi) outs.push_back({"dinp", m.get(gi, dinp.size())});
                if (gw) outs.push_back({"dweight", m.get(gw, dweight.size())});
                if (gb) outs.push_back({"dbias", m.get(gb, dbias.size())});
                return outs;
            }, tol);
        }
    }
}

void check_attention(Backend& dut, Backend& ref, uint64_t seed, double tol) {
    // mask: 0 none; 1 random keys hidden, batch row 1 (if any) with every key
    // hidden, the last batch row's first 5 keys hidden (with causal, its first
    // queries see no key and must output zeros).
    struct Case { int B, T, C, NH; bool causal; int mask; float p; };
    const Case cases[] = {
        {1, 1, 3, 1, true, 0, 0.0f},     {2, 7, 12, 3, true, 0, 0.1f},   {2, 7, 12, 3, false, 1, 0.0f},
        {3, 33, 64, 4, true, 1, 0.2f},   {2, 64, 128, 2, false, 1, 0.1f}, {1, 257, 96, 1, true, 0, 0.0f},
        {2, 128, 768, 12, true, 0, 0.1f},
    };
    const DropoutKey key{0x9E3779B97F4A7C15ull, (1ull << 33) + 7, 5};
    for (const Case& c : cases) {
        const std::string dims = shape({{"B", c.B}, {"T", c.T}, {"C", c.C}, {"NH", c.NH}}) +
                                 (c.causal ? " causal" : "") + (c.mask ? " key_mask" : "") +
                                 " p=" + std::to_string(c.p).substr(0, 3);
        const size_t BT = (size_t)c.B * c.T;
        Random rnd(seed, dims);
        std::vector<float> qkv = rnd.uniform(BT * 3 * c.C, -2, 2), dout = rnd.uniform(BT * c.C, -1, 1),
                           dqkv = rnd.uniform(BT * 3 * c.C, -1, 1);
        std::vector<int> mask = rnd.ints(BT, 0, 3);  // 0 hides a key: a quarter of them
        if (c.B > 1) std::fill(mask.begin() + c.T, mask.begin() + 2 * c.T, 0);
        std::fill(mask.end() - c.T, mask.end() - c.T + std::min(c.T, 5), 0);

        // The forward, then (on the same backend, from its own saved state) the backward.
        auto run = [&](Mem& m, bool backward) {
            float* out = m.zeros(BT * c.C);
            float* saved = m.zeros(m.be.attention_saved_floats(c.B, c.T, c.NH));
            const float* q = m.put(qkv);
            const int* km = c.mask ? m.put(mask) : nullptr;
            m.be.attention_forward(out, saved, q, km, c.B, c.T, c.C, c.NH, c.causal, c.p, key);
            if (!backward) return Outputs{{"out", m.get(out, BT * c.C)}};
            float* g = m.put(dqkv);
            m.be.attention_backward(g, m.put(dout), q, saved, km, c.B, c.T, c.C, c.NH, c.causal, c.p, key);
            return Outputs{{"dqkv", m.get(g, dqkv.size())}};
        };
        compare(dut, ref, "attention_forward " + dims, [&](Mem& m) { return run(m, false); }, tol);
        compare(dut, ref, "attention_backward " + dims, [&](Mem& m) { return run(m, true); }, tol);
    }
}

const size_t kSizes[] = {1, 7, 33, 257, 100003};

void check_pointwise(Backend& dut, Backend& ref, uint64_t seed) {
    for (size_t n : kSizes) {
        for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
            const std::string k = kind == GeluKind::Tanh ? "tanh" : "erf";
            std::string check = "gelu_forward n=" + std::to_string(n) + " " + k;
            Random rnd(seed, check);
            std::vector<float> inp = rnd.uniform(n, -6, 6), dout = rnd.uniform(n, -1, 1),
                               dinp = rnd.uniform(n, -1, 1);
            compare(dut, ref, check, [&](Mem& m) {
                float* out = m.zeros(n);
                m.be.gelu_forward(out, m.put(inp), n, kind);
                return Outputs{{"out", m.get(out, n)}};
            });
            compare(dut, ref, "gelu_backward n=" + std::to_string(n) + " " + k, [&](Mem& m) {
                float* g = m.put(dinp);
                m.be.gelu_backward(g, m.put(dout), m.put(inp), n, kind);
                return Outputs{{"dinp", m.get(g, n)}};
            });
        }
        std::string tanh_check = "tanh n=" + std::to_string(n);
        Random trnd(seed, tanh_check);
        std::vector<float> tinp = trnd.uniform(n, -4, 4), tdout = trnd.uniform(n, -1, 1),
                           tdinp = trnd.uniform(n, -1, 1);
        compare(dut, ref, tanh_check, [&](Mem& m) {
            float* out = m.zeros(n);
            m.be.tanh_forward(out, m.put(tinp), n);
            float* g = m.put(tdinp);
            m.be.tanh_backward(g, m.put(tdout), out, n);
            return Outputs{{"out", m.get(out, n)}, {"dinp", m.get(g, n)}};
        });
        std::string relu_check = "relu, scale, copy_block n=" + std::to_string(n);
        Random rrnd(seed, relu_check);
        std::vector<float> rinp = rrnd.uniform(n, -1, 1), rdout = rrnd.uniform(n, -1, 1), rdinp = rrnd.uniform(n, -1, 1);
        compare(dut, ref, relu_check, [&](Mem& m) {
            float* out = m.zeros(n);
            m.be.relu_forward(out, m.put(rinp), n);
            float* g = m.put(rdinp);
            m.be.relu_backward(g, m.put(rdout), out, n);
            float* x = m.put(rinp);
            m.be.scale(x, -0.375f, n);
            // columns [1, 1 + n/3) of an (3, n/3 + 2) block, from and into a (3, n/3) one
            const int C = (int)n / 3, N = 3;
            std::vector<float> base(rdinp.begin(), rdinp.begin() + std::min(n, (size_t)N * (C + 2)));
            base.resize((size_t)N * (C + 2), 0.5f);
            float* wide = m.put(base);
            m.be.copy_block(wide + 1, C + 2, m.put(rdout), C, N, C, true);
            float* narrow = m.zeros(n);
            m.be.copy_block(narrow, C, wide + 1, C + 2, N, C, false);
            return Outputs{{"relu", m.get(out, n)}, {"drelu", m.get(g, n)}, {"scale", m.get(x, n)},
                           {"copy_block", m.get(narrow, n)}};
        });
        std::string check = "add n=" + std::to_string(n);
        Random rnd(seed, check);
        std::vector<float> a = rnd.uniform(n, -1, 1), b = rnd.uniform(n, -1, 1);
        compare(dut, ref, check, [&](Mem& m) {
            float* out = m.zeros(n);
            float* da = m.put(a);
            m.be.add(out, da, m.put(b), n);
            m.be.add(da, da, m.put(b), n);  // in place: out aliases a
            return Outputs{{"out", m.get(out, n)}, {"in place", m.get(da, n)}};
        });
        compare(dut, ref, "accumulate n=" + std::to_string(n), [&](Mem& m) {
            float* dst = m.put(a);
            m.be.accumulate(dst, m.put(b), n);
            return Outputs{{"dst", m.get(dst, n)}};
        });
    }
}

void check_dropout(Backend& dut, Backend& ref, uint64_t seed) {
    const DropoutKey key{0xC0FFEE0123456789ull, (1ull << 32) + 3, 77};
    for (size_t n : kSizes) {
        for (float p : {0.0f, 0.1f, 0.5f}) {
            const std::string dims = "n=" + std::to_string(n) + " p=" + std::to_string(p).substr(0, 3);
            Random rnd(seed, dims);
            std::vector<float> inp = rnd.nonzero(n), dinp = rnd.nonzero(n);
            // Forward, out of place and in place; the mask is read off the output.
            compare(dut, ref, "dropout_forward " + dims, [&](Mem& m) {
                float* out = m.zeros(n);
                float* in = m.put(inp);
                m.be.dropout_forward(out, in, n, p, key);
                m.be.dropout_forward(in, in, n, p, key);
                std::vector<float> o = m.get(out, n);
                return Outputs{{"mask", nonzero_pattern(o), true}, {"out", o}, {"in place", m.get(in, n)}};
            });
            // Backward into a pre-filled gradient; its mask is where the gradient moved.
            compare(dut, ref, "dropout_backward " + dims, [&](Mem& m) {
                float* g = m.put(dinp);
                m.be.dropout_backward(g, m.put(inp), n, p, key);
                std::vector<float> after = m.get(g, n), moved(n);
                for (size_t i = 0; i < n; i++) moved[i] = after[i] != dinp[i];
                return Outputs{{"mask", moved, true}, {"dinp", after}};
            });
        }
    }
}

void check_crossentropy(Backend& dut, Backend& ref, uint64_t seed) {
    struct Shape { int N, V, Vp; };
    for (Shape s : {Shape{1, 1, 1}, {7, 3, 8}, {33, 100, 128}, {5, 50257, 50304}}) {
        // dlogits: none; its own buffer, pre-filled with garbage (it must be written,
        // not added to); aliasing logits, as GPT-2's backward uses it.
        for (int variant = 0; variant < 3; variant++) {
            static const char* names[] = {"no dlogits", "dlogits", "dlogits aliases logits"};
            std::string check = "crossentropy " + shape({{"N", s.N}, {"V", s.V}, {"Vp", s.Vp}}) + " (" +
                                names[variant] + ")";
            Random rnd(seed, check);
            const size_t NVp = (size_t)s.N * s.Vp;
            std::vector<float> logits = rnd.uniform(NVp, -4, 4), garbage = rnd.uniform(NVp, 5, 9);
            std::vector<int> targets = rnd.ints(s.N, 0, s.V - 1);
            for (int n = 1; n < s.N; n += 3) targets[n] = -1;  // ignored rows (row 0 always counts)
            const float dloss = 1.0f / s.N;
            compare(dut, ref, check, [&](Mem& m) {
                float* lg = m.put(logits);
                float* losses = m.zeros(s.N);
                float* dl = variant == 0 ? nullptr : variant == 1 ? m.put(garbage) : lg;
                m.be.crossentropy(losses, dl, lg, m.put(targets), s.N, s.V, s.Vp, dloss);
                Outputs outs{{"losses", m.get(losses, s.N)}};
                if (dl) outs.push_back({"dlogits", m.get(dl, NVp)});
                return outs;
            });
        }
    }
}

void check_reductions(Backend& dut, Backend& ref, uint64_t seed) {
    for (size_t n : {(size_t)1, (size_t)7, (size_t)33, (size_t)257, (size_t)1000003}) {
        for (bool squares : {false, true}) {
            std::string check = std::string(squares ? "sum_squares" : "sum") + " n=" + std::to_string(n);
            guarded(check, [&] {
                Random rnd(seed, check);
                std::vector<float> x = rnd.uniform(n, -1, 1);
                double scale = 0;  // sum of |terms|: the error's natural scale
                for (float v : x) scale += squares ? (double)v * v : std::fabs((double)v);
                auto run = [&](Backend& be) {
                    Mem m(be);
                    float* dx = m.put(x);
                    double first = squares ? be.sum_squares(dx, n) : be.sum(dx, n);
                    double again = squares ? be.sum_squares(dx, n) : be.sum(dx, n);
                    return std::make_pair(first, again);
                };
                auto got = run(dut);
                double want = run(ref).first, err = std::fabs(got.first - want) / scale;
                bool repeat = std::memcmp(&got.first, &got.second, sizeof(double)) == 0;
                report(err <= kSumTol && repeat, check,
                       "error " + sci(err) + " of sum|terms| (tol " + sci(kSumTol) + "), repeat " +
                           (repeat ? "bitwise equal" : "DIFFERS"));
            });
        }
    }
}

void check_optimizer(Backend& dut, Backend& ref, uint64_t seed) {
    for (size_t n : kSizes) {
        std::string check = "penalty_grad n=" + std::to_string(n);
        Random rnd(seed, check);
        std::vector<float> param = rnd.uniform(n, -1, 1), grad = rnd.uniform(n, -1, 1);
        for (size_t i = 0; i < n; i += 5) param[i] = 0.0f;  // sign(0) = 0
        compare(dut, ref, check, [&](Mem& m) {
            float* g = m.put(grad);
            m.be.penalty_grad(g, m.put(param), n, 0.01f, 0.1f);
            return Outputs{{"grad", m.get(g, n)}};
        });
        for (int t : {1, 7}) {
            for (float wd : {0.0f, 0.1f}) {
                std::string acheck = "adamw n=" + std::to_string(n) + " t=" + std::to_string(t) +
                                     " wd=" + std::to_string(wd).substr(0, 3);
                Random ra(seed, acheck);
                std::vector<float> p = ra.uniform(n, -1, 1), g = ra.uniform(n, -1, 1),
                                   m1 = ra.uniform(n, -0.1f, 0.1f), v1 = ra.uniform(n, 0, 0.01f);
                compare(dut, ref, acheck, [&](Mem& m) {
                    float *dp = m.put(p), *dm = m.put(m1), *dv = m.put(v1);
                    m.be.adamw(dp, m.put(g), dm, dv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, wd, t, 0.7f);
                    return Outputs{{"param", m.get(dp, n)}, {"m", m.get(dm, n)}, {"v", m.get(dv, n)}};
                });
            }
        }
    }
}

// ---- GPT-2 on the device -----------------------------------------------------------------------

void report_error(const std::string& check, double err, double tol, const std::string& what = "") {
    report(err <= tol, check, (what.empty() ? "" : what + " ") + "relative error " + sci(err) + " (tol " + sci(tol) + ")");
}

// Logits (first V of each row's Vp columns), loss and every gradient; padded columns must be 0.
void report_step(const std::string& fixture, const StepErrors& e, double tol) {
    report(e.logits.err <= tol && e.logits.padded == 0.0, fixture + ": logits",
           "relative error " + sci(e.logits.err) + " (tol " + sci(tol) + "), padded columns max |x| " +
               sci(e.logits.padded));
    report_error(fixture + ": loss", e.loss_err, tol);
    Worst worst;
    for (const TensorError& g : e.grads) worst.add(g.err, g.name);
    report_error(fixture + ": gradients", worst.err, tol, "worst " + worst.name);
}

void check_gpt2_fixture(Backend& be, const Tolerances& tol) {
    guarded("gpt2 fixture", [&] {
        Fixture fx(kTrainFixture);
        auto model = load_fixture_model<GPT2>(be, fx, fixture_config(fx));
        const TrainingErrors e = training_errors(*model, read_batch(fx), fx);
        report_step("gpt2 fixture", e.first, tol.model);
        Worst worst_loss, worst_norm;
        for (size_t step = 0; step < e.losses.size(); step++) {
            worst_loss.add(e.losses[step].err, "step " + std::to_string(step + 1));
            worst_norm.add(e.norms[step].err, "step " + std::to_string(step + 1));
        }
        const std::string steps_done = "gpt2 fixture: " + std::to_string(e.losses.size()) + " AdamW steps, ";
        report_error(steps_done + "losses", worst_loss.err, tol.model, "worst " + worst_loss.name);
        report_error(steps_done + "grad norms", worst_norm.err, tol.model, "worst " + worst_norm.name);
        Worst worst;
        for (const TensorError& w : e.final_weights) worst.add(w.err, w.name);
        report_error("gpt2 fixture: final weights", worst.err, tol.final_weights, "worst " + worst.name);
    });
}

void check_gpt2_dropout_fixture(Backend& be, const Tolerances& tol) {
    guarded("gpt2 dropout fixture", [&] {
        Fixture fx(kTrainFixture), drop(kDropoutFixture);
        auto model = load_dropout_model(be, fx, drop);
        report_step("gpt2 dropout fixture", forward_backward_errors(*model, read_batch(fx), drop), tol.model);
    });
}

// The small GPT-2 of tests/test_determinism.cpp, every dropout on, trained from
// step `first` to `last` on batches cut from a fixed token stream.
struct SmallRun {
    static GPT2Config config() {
        GPT2Config cfg;
        cfg.L = 2, cfg.C = 64, cfg.NH = 4, cfg.V = 100, cfg.Vp = 128, cfg.max_T = 32;
        cfg.embd_pdrop = cfg.attn_pdrop = cfg.resid_pdrop = 0.1f;
        return cfg;
    }
    static constexpr int B = 4, T = 32;

    std::unique_ptr<GPT2> model;
    explicit SmallRun(Backend& be, uint64_t seed) : model(std::make_unique<GPT2>(be, config(), B, T)) {
        model->allocate();
        model->init_weights(seed);
        model->training = true;
        model->seed = seed;
    }
    std::vector<float> train(int first, int last) {
        AdamWConfig opt;
        opt.weight_decay = 0.1f;
        opt.grad_clip = 1.0f;
        std::vector<int> stream(4096);
        for (size_t i = 0; i < stream.size(); i++) stream[i] = (int)(philox_uniform(99, 0, 0, i) * config().V);
        std::vector<float> losses;
        for (int step = first; step < last; step++) {
            const int* batch = stream.data() + (step * B * T) % (stream.size() - B * T - 1);
            model->step = step;
            losses.push_back(model->forward(batch, batch + 1, B, T));
            model->zero_grad();
            model->backward();
            adamw_step(model->arena, opt, 3e-3f, step + 1, grad_norm(model->arena));
        }
        return losses;
    }
};

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void check_determinism_and_resume(Backend& be, uint64_t seed) {
    std::vector<float> straight;
    guarded("determinism", [&] {
        straight = SmallRun(be, seed).train(0, 20);
        std::vector<float> again = SmallRun(be, seed).train(0, 20);
        bool same = bitwise_equal(straight, again);
        report(same, "determinism",
               std::string("two 20-step runs with dropout: losses ") + (same ? "bitwise equal" : "DIFFER") +
                   " (step 1 " + std::to_string(straight.front()) + ", step 20 " +
                   std::to_string(straight.back()) + ")");
    });
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("minitrain_conformance_" + std::to_string(getpid()));
    guarded("exact resume", [&] {
        if (straight.empty()) straight = SmallRun(be, seed).train(0, 20);
        SmallRun first(be, seed);
        first.train(0, 10);
        TrainState state;
        state.step = 10;
        state.seed = seed;
        std::string path = save_checkpoint(dir.string(), *first.model, state, 0);
        SmallRun resumed(be, seed + 1);  // different initial weights, all overwritten by the load
        TrainState loaded;
        load_checkpoint(path, *resumed.model, loaded);
        resumed.model->seed = loaded.seed;
        std::vector<float> tail = resumed.train((int)loaded.step, 20);
        bool same = bitwise_equal(tail, std::vector<float>(straight.begin() + 10, straight.end()));
        report(same, "exact resume",
               std::string("checkpoint at step 10, reloaded: losses of steps 11-20 ") +
                   (same ? "bitwise equal to the straight run" : "DIFFER from the straight run"));
    });
    std::error_code ec;
    fs::remove_all(dir, ec);
}

}  // namespace

int main(int argc, char** argv) {
    use_polite_omp_waits(argv);
    cxxopts::Options opts("conformance", "Checks a backend kernel by kernel against the CPU reference, "
                                         "then trains the GPT-2 fixture on it (run from the repository root).");
    opts.add_options()
        ("device", "backend under test (cpu, cuda)", cxxopts::value<std::string>()->default_value("cuda"))
        ("seed", "seed for the random inputs and the training runs", cxxopts::value<uint64_t>()->default_value("1"))
        ("filter", "run only the checks whose names contain this text", cxxopts::value<std::string>()->default_value(""))
        ("h,help", "print this help");
    std::string device;
    uint64_t seed;
    try {
        auto args = opts.parse(argc, argv);
        if (args.count("help")) {
            std::printf("%s\n", opts.help().c_str());
            return 0;
        }
        if (!args.unmatched().empty()) throw std::runtime_error("unexpected argument " + args.unmatched()[0]);
        device = args["device"].as<std::string>();
        seed = args["seed"].as<uint64_t>();
        g_filter = args["filter"].as<std::string>();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "conformance: %s\n", e.what());
        return 2;
    }
    std::unique_ptr<Backend> dut, ref;
    try {
        dut.reset(make_backend(device.c_str()));
        ref.reset(make_backend("cpu"));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "conformance: %s\n", e.what());
        return 2;
    }
    const Tolerances tol = tolerances_for(dut->name());
    std::printf("conformance: %s against cpu, seed %llu\n", dut->name(), (unsigned long long)seed);

    check_memory(*dut, seed);
    check_embeddings(*dut, *ref, seed);
    check_layernorm(*dut, *ref, seed);
    check_matmul(*dut, *ref, seed, tol.products);
    check_attention(*dut, *ref, seed, tol.products);
    check_pointwise(*dut, *ref, seed);
    check_dropout(*dut, *ref, seed);
    check_crossentropy(*dut, *ref, seed);
    check_reductions(*dut, *ref, seed);
    check_optimizer(*dut, *ref, seed);
    check_gpt2_fixture(*dut, tol);
    check_gpt2_dropout_fixture(*dut, tol);
    check_determinism_and_resume(*dut, seed);

    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    if (g_passed + g_failed == 0) std::fprintf(stderr, "conformance: no check matches --filter '%s'\n", g_filter.c_str());
    return g_failed || g_passed == 0 ? 1 : 0;
}
