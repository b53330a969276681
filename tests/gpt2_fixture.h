// The GPT-2 PyTorch fixtures as a model: shared by the CPU test (test_gpt2.cpp)
// and the backend conformance suite (conformance.cpp), so both read them the
// same way. No doctest here: the conformance program runs without it.
#pragma once
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "fixture.h"
#include "gpt2.h"
#include "gradcheck.h"
#include "optimizer.h"

inline const char* kTrainFixture = "tests/fixtures/gpt2_train.bin";
inline const char* kDropoutFixture = "tests/fixtures/gpt2_dropout.bin";

inline GPT2Config fixture_config(const Fixture& fx) {
    GPT2Config cfg;
    cfg.L = fx.int_scalar("config.L");
    cfg.C = fx.int_scalar("config.C");
    cfg.NH = fx.int_scalar("config.NH");
    cfg.V = fx.int_scalar("config.V");
    cfg.Vp = fx.int_scalar("config.Vp");
    cfg.max_T = fx.int_scalar("config.max_T");
    return cfg;
}

// The model sized for the fixture's batch, holding the fixture's weights;
// tensors for which frozen(t) holds (if given) are untrainable.
inline std::unique_ptr<GPT2> load_fixture_model(Backend& be, const Fixture& fx, const GPT2Config& cfg,
                                                const std::function<bool(const TensorInfo&)>& frozen = nullptr) {
    auto model = std::make_unique<GPT2>(be, cfg, fx.int_scalar("config.B"), fx.int_scalar("config.T"));
    for (TensorInfo& t : model->arena.params.tensors) t.trainable = !(frozen && frozen(t));
    model->allocate();
    for (const TensorInfo& t : model->arena.params.tensors) {
        if (fx.at(t.name).dims != t.shape)
            throw std::runtime_error(t.name + " has shape " + t.shape_str() + " in the model, another in the fixture");
        const std::vector<float>& w = fx.floats(t.name, t.numel());
        be.upload(model->arena.param(t.name), w.data(), w.size() * sizeof(float));
    }
    return model;
}

// The optimizer settings the fixture's 10 steps used.
inline AdamWConfig fixture_adamw(const Fixture& fx) {
    AdamWConfig opt;
    opt.beta1 = fx.scalar("adamw.beta1");
    opt.beta2 = fx.scalar("adamw.beta2");
    opt.eps = fx.scalar("adamw.eps");
    opt.weight_decay = fx.scalar("adamw.weight_decay");
    opt.grad_clip = fx.scalar("adamw.grad_clip");
    return opt;
}

inline std::vector<float> download(Backend& be, const float* src, size_t n) {
    std::vector<float> host(n);
    be.download(host.data(), src, n * sizeof(float));
    return host;
}

// The model's logits against the fixture's (B,T,V): the relative error over the
// first V of each row's Vp columns, and the largest |x| in the padded columns
// (which must be exactly zero: their wte rows are zero). NaN counts as worst.
struct LogitsError {
    double err, padded;
};
inline LogitsError logits_error(GPT2& model, const Fixture& fx) {
    const int N = model.B * model.T, V = model.cfg.V, Vp = model.cfg.Vp;
    std::vector<float> all = download(model.arena.be, model.logits, (size_t)N * Vp), real;
    double padded = 0;
    for (int n = 0; n < N; n++)
        for (int v = 0; v < Vp; v++) {
            float x = all[(size_t)n * Vp + v];
            if (v < V) real.push_back(x);
            else padded = worse(padded, std::fabs(x));
        }
    return {rel_error(real, fx.floats("logits", (size_t)N * V), real.size()), padded};
}

inline double scalar_error(double got, double want) { return std::fabs(got - want) / std::fabs(want); }
