// GPT-2 on the CPU backend against PyTorch (tools/reference/gpt2_ref.py): one
// forward and backward (logits, loss, every parameter gradient), ten AdamW
// steps with gradient clipping on one batch, the same forward and backward with
// dropout on, and a model with block 0 and the embeddings frozen.
//
// The reference computes in float64 from float32 weights, so the errors seen
// here are the C++ model's own float32 rounding. Relative error is max abs
// error over max abs reference value (gradcheck.h rel_error) per tensor; a loss
// or a norm is compared as |got - want| / |want|. Tolerance 1e-5 throughout,
// except the final weights (kFinalWeightTol, reason beside it).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpt2_fixture.h"
#include "gpt2.h"
#include "gradcheck.h"
#include "optimizer.h"

namespace {

constexpr double kTol = 1e-5;
// AdamW divides each gradient element by its own running RMS, so an element
// whose gradient is (near) zero turns float32 rounding noise into a visible
// update. The key biases have an exactly zero gradient (softmax ignores a
// constant added to a row of scores): float32 leaves ~3e-11 there, and ten steps
// with eps = 1e-8 move those biases by ~8e-6, 1.2e-4 of the tensor's largest
// value; matmul weight elements with gradients ~1e-6 of their tensor's largest
// reach 8e-5. PyTorch itself in float32 ends 6.7e-5 from its float64 run on this
// fixture. The losses, which average over every weight, still hold 1e-5, and a
// missing weight decay (1e-3 here) or clipping (2e-2) stays well above 3e-4.
constexpr double kFinalWeightTol = 3e-4;


// Logits: the first V of each row's Vp columns against the reference (B,T,V);
// the padded columns must be exactly zero (their wte rows are zero).
void check_logits(GPT2& model, const Fixture& fx) {
    LogitsError e = logits_error(model, fx);
    MESSAGE("logits relative error ", e.err);
    CHECK(e.err <= kTol);
    CHECK(e.padded == 0.0);
}

// Every trainable tensor's gradient against grad.<name>; frozen tensors must have none.
void check_grads(GPT2& model, const Fixture& fx) {
    double worst = 0;
    std::string worst_name;
    for (const TensorInfo& t : model.arena.params.tensors) {
        float* grad = model.arena.grad(t.name);
        if (!t.trainable) {
            CHECK_MESSAGE(grad == nullptr, t.name, " is frozen but has a gradient");
            continue;
        }
        std::vector<float> got = download(model.arena.be, grad, t.numel());
        double err = rel_error(got, fx.floats("grad." + t.name, t.numel()), t.numel());
        CHECK_MESSAGE(err <= kTol, "grad ", t.name, " relative error ", err);
        if (err >= worst) worst = err, worst_name = t.name;
    }
    MESSAGE("worst gradient: ", worst_name, " relative error ", worst);
}

}  // namespace

TEST_CASE("gpt2 matches PyTorch: logits, loss, gradients and 10 AdamW steps") {
    Fixture fx(kTrainFixture);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model(*be, fx, fixture_config(fx));
    const int B = model->B, T = model->T, steps = fx.int_scalar("adamw.steps");
    const std::vector<int32_t>& tokens = fx.ints("tokens", (size_t)B * T);
    const std::vector<int32_t>& targets = fx.ints("targets", (size_t)B * T);
    const std::vector<float>& losses = fx.floats("losses", steps);
    const std::vector<float>& norms = fx.floats("grad_norms", steps);
    AdamWConfig opt = fixture_adamw(fx);
    const float lr = fx.scalar("adamw.lr");

    double worst_loss = 0, worst_norm = 0;
    for (int step = 0; step < steps; step++) {
        float loss = model->forward(tokens.data(), targets.data(), B, T);
        if (step == 0) {
            check_logits(*model, fx);
            CHECK(scalar_error(loss, fx.scalar("loss")) <= kTol);
        }
        double loss_err = scalar_error(loss, losses[step]);
        CHECK_MESSAGE(loss_err <= kTol, "step ", step + 1, " loss ", loss, ", PyTorch ", losses[step]);
        worst_loss = std::max(worst_loss, loss_err);
        model->zero_grad();
        model->backward();
        if (step == 0) check_grads(*model, fx);
        float norm = grad_norm(model->arena);
        double norm_err = scalar_error(norm, norms[step]);
        CHECK_MESSAGE(norm_err <= kTol, "step ", step + 1, " grad norm ", norm, ", PyTorch ", norms[step]);
        worst_norm = std::max(worst_norm, norm_err);
        adamw_step(model->arena, opt, lr, step + 1, norm);
    }
    MESSAGE("worst of ", steps, " losses: relative error ", worst_loss, "; grad norms ", worst_norm);

    double worst = 0;
    std::string worst_name;
    for (const TensorInfo& t : model->arena.params.tensors) {
        std::vector<float> got = download(*be, model->arena.param(t.name), t.numel());
        double err = rel_error(got, fx.floats("final." + t.name, t.numel()), t.numel());
        CHECK_MESSAGE(err <= kFinalWeightTol, "final ", t.name, " relative error ", err);
        if (err >= worst) worst = err, worst_name = t.name;
    }
    MESSAGE("worst final weight: ", worst_name, " relative error ", worst);
}

TEST_CASE("gpt2 dropout matches PyTorch: embeddings, attention probabilities, residual branches") {
    Fixture fx(kTrainFixture), drop(kDropoutFixture);
    GPT2Config cfg = fixture_config(fx);
    cfg.embd_pdrop = drop.scalar("dropout.embd");
    cfg.attn_pdrop = drop.scalar("dropout.attn");
    cfg.resid_pdrop = drop.scalar("dropout.resid");
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model(*be, fx, cfg);
    model->training = true;
    model->seed = drop.u64("dropout.seed");
    model->step = drop.u64("dropout.step");
    const int B = model->B, T = model->T;
    float loss = model->forward(fx.ints("tokens", (size_t)B * T).data(),
                                fx.ints("targets", (size_t)B * T).data(), B, T);
    check_logits(*model, drop);
    double loss_err = scalar_error(loss, drop.scalar("loss"));
    MESSAGE("loss relative error ", loss_err);
    CHECK(loss_err <= kTol);
    model->zero_grad();
    model->backward();
    check_grads(*model, drop);
}

TEST_CASE("gpt2 with block 0 and the embeddings frozen: no gradients there, the rest match PyTorch") {
    Fixture fx(kTrainFixture);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto frozen = [](const TensorInfo& t) {
        return t.layer == 0 || t.name == "wte.weight" || t.name == "wpe.weight";
    };
    auto model = load_fixture_model(*be, fx, fixture_config(fx), frozen);
    const int B = model->B, T = model->T;
    float loss = model->forward(fx.ints("tokens", (size_t)B * T).data(),
                                fx.ints("targets", (size_t)B * T).data(), B, T);
    CHECK(scalar_error(loss, fx.scalar("loss")) <= kTol);
    model->zero_grad();
    model->backward();
    check_grads(*model, fx);

    // A step leaves the frozen tensors bit for bit as they were.
    AdamWConfig opt;
    opt.weight_decay = 0.1f;
    adamw_step(model->arena, opt, 1e-3f, 1, grad_norm(model->arena));
    for (const TensorInfo& t : model->arena.params.tensors) {
        if (!frozen(t)) continue;
        std::vector<float> got = download(*be, model->arena.param(t.name), t.numel());
        CHECK_MESSAGE(got == fx.floats(t.name, t.numel()), t.name, " changed while frozen");
    }
}

TEST_CASE("gpt2 fixtures: the reader rejects malformed files") {
    // A valid file with one float32 entry "x" of shape (2), built byte by byte.
    auto u32 = [](std::vector<unsigned char>& b, uint32_t v) {
        for (int k = 0; k < 4; k++) b.push_back((unsigned char)(v >> (8 * k)));
    };
    std::vector<unsigned char> good = {'M', 'T', 'F', 'X'};
    u32(good, 1);  // version
    u32(good, 1);  // count
    u32(good, 1);
    good.push_back('x');
    u32(good, 0);  // dtype float32
    u32(good, 1);  // ndim
    const size_t dims_at = good.size();
    u32(good, 2);
    u32(good, 0x3f800000);  // 1.0f
    u32(good, 0xc0000000);  // -2.0f
    Fixture ok(good, "good");
    CHECK(ok.floats("x", 2) == std::vector<float>{1.0f, -2.0f});
    CHECK_THROWS_AS(ok.floats("x", 3), std::runtime_error);
    CHECK_THROWS_AS(ok.ints("x", 2), std::runtime_error);
    CHECK_THROWS_AS(ok.at("y"), std::runtime_error);

    for (size_t len = 0; len < good.size(); len++) {
        std::vector<unsigned char> cut(good.begin(), good.begin() + len);
        CHECK_THROWS_AS(Fixture(cut, "truncated"), std::runtime_error);
    }
    auto patched = [&](size_t at, uint32_t v) {
        std::vector<unsigned char> b = good;
        for (int k = 0; k < 4; k++) b[at + k] = (unsigned char)(v >> (8 * k));
        return b;
    };
    CHECK_THROWS_AS(Fixture(patched(0, 0x584654), "magic"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(4, 2), "version"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(8, 2), "count"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(dims_at - 8, 3), "dtype"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(dims_at - 4, 9), "ndim"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(dims_at, 0xffffffffu), "huge dim"), std::runtime_error);
    std::vector<unsigned char> trailing = good;
    trailing.push_back(0);
    CHECK_THROWS_AS(Fixture(trailing, "trailing"), std::runtime_error);
    CHECK_THROWS_AS(Fixture("tests/fixtures/no_such_file.bin"), std::runtime_error);
}
