// The PyTorch fixtures (tools/reference/gpt2_ref.py, bert_ref.py) as models,
// and the comparisons of a model with them: one forward and backward (logits,
// loss, every gradient) and the fixture's AdamW steps (each step's loss and
// gradient norm, the final weights). Shared by the model tests (test_gpt2.cpp,
// test_gpt2_classify.cpp, test_bert.cpp, test_lora.cpp, test_prompts.cpp) and
// the backend conformance suite
// (conformance.cpp), which report the same measurements their own ways: the
// tests through doctest, in the last part of this file, and the conformance
// program, which runs without doctest (DOCTEST_CONFIG_DISABLE), as PASS/FAIL
// lines. Written against Model, so GPT-2 and BERT go through the same code.
//
// Error measure: max abs error over max abs reference value (gradcheck.h
// rel_error) per tensor; a loss or a norm is compared as |got - want| / |want|.
#pragma once
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/bert.h"
#include "fixture.h"
#include "models/gpt2.h"
#include "gradcheck.h"
#include "core/model.h"
#include "train/optimizer.h"

inline const char* kTrainFixture = "tests/fixtures/gpt2_train.bin";
inline const char* kDropoutFixture = "tests/fixtures/gpt2_dropout.bin";

// The fixture's config.* entries; a classifier where it holds config.num_labels.
inline GPT2Config fixture_config(const Fixture& fx) {
    GPT2Config cfg;
    cfg.L = fx.int_scalar("config.L");
    cfg.C = fx.int_scalar("config.C");
    cfg.NH = fx.int_scalar("config.NH");
    cfg.V = fx.int_scalar("config.V");
    cfg.Vp = fx.int_scalar("config.Vp");
    cfg.max_T = fx.int_scalar("config.max_T");
    if (fx.has("config.num_labels")) cfg.num_labels = fx.int_scalar("config.num_labels");
    return cfg;
}

// The same for BERT: the classifier head where the fixture holds config.num_labels, else masked LM.
inline BertConfig bert_fixture_config(const Fixture& fx) {
    BertConfig cfg;
    cfg.L = fx.int_scalar("config.L");
    cfg.C = fx.int_scalar("config.C");
    cfg.NH = fx.int_scalar("config.NH");
    cfg.I = fx.int_scalar("config.I");
    cfg.V = fx.int_scalar("config.V");
    cfg.types = fx.int_scalar("config.types");
    cfg.max_T = fx.int_scalar("config.max_T");
    cfg.head = fx.has("config.num_labels") ? BertHead::Classifier : BertHead::MaskedLM;
    cfg.num_labels = fx.has("config.num_labels") ? fx.int_scalar("config.num_labels") : 0;
    return cfg;
}

// cfg with the fixture's BERT dropout rates (dropout.hidden, .attn, .classifier).
inline BertConfig with_fixture_dropout(BertConfig cfg, const Fixture& fx) {
    cfg.hidden_pdrop = fx.scalar("dropout.hidden");
    cfg.attn_pdrop = fx.scalar("dropout.attn");
    cfg.classifier_pdrop = fx.scalar("dropout.classifier");
    return cfg;
}

// The model (GPT2, BERT) for cfg sized for the fixture's batch, holding the
// fixture's weights; tensors for which frozen(t) holds (if given) are untrainable.
template <typename M, typename Config>
std::unique_ptr<M> load_fixture_model(Backend& be, const Fixture& fx, const Config& cfg,
                                      const std::function<bool(const TensorInfo&)>& frozen = nullptr) {
    auto model = std::make_unique<M>(be, cfg, fx.int_scalar("config.B"), fx.int_scalar("config.T"));
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

// Dropout on, with the masks of the fixture's dropout.seed and dropout.step.
inline void start_fixture_dropout(Model& model, const Fixture& fx) {
    model.training = true;
    model.seed = fx.u64("dropout.seed");
    model.step = fx.u64("dropout.step");
}

// The GPT-2 of gpt2_train.bin (fx) with the dropout of gpt2_dropout.bin (drop) on.
inline std::unique_ptr<GPT2> load_dropout_model(Backend& be, const Fixture& fx, const Fixture& drop) {
    GPT2Config cfg = fixture_config(fx);
    cfg.embd_pdrop = drop.scalar("dropout.embd");
    cfg.attn_pdrop = drop.scalar("dropout.attn");
    cfg.resid_pdrop = drop.scalar("dropout.resid");
    auto model = load_fixture_model<GPT2>(be, fx, cfg);
    start_fixture_dropout(*model, drop);
    return model;
}

// The fixture's batch (pointers into fx): tokens, and whichever of types,
// lengths, targets and labels it holds.
inline Batch read_batch(const Fixture& fx) {
    Batch batch;
    batch.b = fx.int_scalar("config.B"), batch.t = fx.int_scalar("config.T");
    const size_t N = (size_t)batch.b * batch.t;
    batch.tokens = fx.ints("tokens", N).data();
    if (fx.has("types")) batch.types = fx.ints("types", N).data();
    if (fx.has("lengths")) batch.lengths = fx.ints("lengths", batch.b).data();
    if (fx.has("targets")) batch.targets = fx.ints("targets", N).data();
    if (fx.has("labels")) batch.labels = fx.ints("labels", batch.b).data();
    return batch;
}

// The optimizer settings the fixture's steps used.
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

inline std::vector<float> param_values(const Model& model, const std::string& name) {
    return download(model.arena.be, model.arena.param(name), model.arena.params.at(name).numel());
}

inline double scalar_error(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

// The largest error seen and where; a NaN counts as infinite and stays (gradcheck.h's worse).
struct Worst {
    double err = 0;
    std::string name;
    void add(double e, const std::string& where) {
        if (name.empty() || worse(err, e) != err) err = worse(err, e), name = where;
    }
};

// The last forward's logits (logits_view, rows x cols) against the fixture's
// entry `name` (rows x V, V its last dimension): the relative error over the
// first V of each row's cols, and the largest |x| in the padded columns beyond
// V (GPT-2's Vp - V; they must be exactly zero: their wte rows are zero).
struct LogitsError {
    int rows, cols;  // compared: rows x V
    double err, padded;
};
inline LogitsError logits_error(const Model& model, const Fixture& fx, const std::string& name) {
    int rows = 0, cols = 0;
    const float* logits = model.logits_view(rows, cols);
    const std::vector<int>& dims = fx.at(name).dims;
    const int V = dims.empty() ? 0 : dims.back();
    if (V > cols || fx.at(name).numel() != (size_t)rows * V)
        throw std::runtime_error(name + ": the model's logits are " + std::to_string(rows) + " x " +
                                 std::to_string(cols) + ", the fixture's hold another shape");
    std::vector<float> all = download(model.arena.be, logits, (size_t)rows * cols), real;
    double padded = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float x = all[(size_t)r * cols + c];
            if (c < V) real.push_back(x);
            else padded = worse(padded, std::fabs(x));
        }
    return {rows, V, rel_error(real, fx.floats(name, real.size()), real.size()), padded};
}

struct TensorError {
    std::string name;
    double err;
};
// Each trainable tensor's gradient (of_grads) or each tensor's parameters
// against the fixture's <prefix><name>.
inline std::vector<TensorError> tensor_errors(const Model& model, const Fixture& fx, const std::string& prefix,
                                              bool of_grads) {
    std::vector<TensorError> errors;
    for (const TensorInfo& t : model.arena.params.tensors) {
        if (of_grads && !t.trainable) continue;
        const float* dev = of_grads ? model.arena.grad(t.name) : model.arena.param(t.name);
        std::vector<float> got = download(model.arena.be, dev, t.numel());
        errors.push_back({t.name, rel_error(got, fx.floats(prefix + t.name, t.numel()), t.numel())});
    }
    return errors;
}

// One forward and backward against <prefix>logits, <prefix>loss and <prefix>grad.<name>.
struct StepErrors {
    float loss;
    double loss_err;
    LogitsError logits;
    std::vector<TensorError> grads;  // the trainable tensors'
};
inline StepErrors forward_backward_errors(Model& model, const Batch& batch, const Fixture& fx,
                                          const std::string& prefix = "") {
    StepErrors e;
    e.loss = model.forward(batch);
    e.loss_err = scalar_error(e.loss, fx.scalar(prefix + "loss"));
    e.logits = logits_error(model, fx, prefix + "logits");  // read before backward, which may reuse them
    model.zero_grad();
    model.backward();
    e.grads = tensor_errors(model, fx, prefix + "grad.", true);
    return e;
}

// The fixture's AdamW steps on its batch (clipping as configured): step 1
// against logits, loss and grad.<name>; each step's loss and gradient norm
// (before its update) against losses and grad_norms; the weights after the last
// step against final.<name>.
struct TrainingErrors {
    struct Value {
        float got, want;
        double err;
    };
    StepErrors first;
    std::vector<Value> losses, norms;
    std::vector<TensorError> final_weights;
};
inline TrainingErrors training_errors(Model& model, const Batch& batch, const Fixture& fx) {
    const int steps = fx.int_scalar("adamw.steps");
    const std::vector<float>& losses = fx.floats("losses", steps);
    const std::vector<float>& norms = fx.floats("grad_norms", steps);
    const AdamWConfig opt = fixture_adamw(fx);
    const float lr = fx.scalar("adamw.lr");
    TrainingErrors e;
    for (int step = 0; step < steps; step++) {
        float loss;
        if (step == 0) {
            e.first = forward_backward_errors(model, batch, fx);
            loss = e.first.loss;
        } else {
            loss = model.forward(batch);
            model.zero_grad();
            model.backward();
        }
        float norm = grad_norm(model.arena);
        e.losses.push_back({loss, losses[step], scalar_error(loss, losses[step])});
        e.norms.push_back({norm, norms[step], scalar_error(norm, norms[step])});
        adamw_step(model.arena, opt, lr, step + 1, norm);
    }
    e.final_weights = tensor_errors(model, fx, "final.", false);
    return e;
}

#ifndef DOCTEST_CONFIG_DISABLE
// ---- the model tests' checks (doctest) -------------------------------------------------------

// The reference computes in float64 from float32 weights, so the errors seen
// are the C++ model's own float32 rounding: 1e-5 holds for logits, losses,
// gradients and norms. The weights after the AdamW steps need more; each test
// gives its own tolerance for them, with the reason.
constexpr double kFixtureTol = 1e-5;

// Logits (padded columns exactly zero), loss and every trainable tensor's
// gradient within kFixtureTol; frozen tensors must have no gradient.
inline void check_step(const Model& model, const StepErrors& e, const std::string& prefix) {
    MESSAGE(prefix, "logits (", e.logits.rows, " x ", e.logits.cols, ") relative error ", e.logits.err);
    CHECK(e.logits.err <= kFixtureTol);
    CHECK(e.logits.padded == 0.0);
    MESSAGE("loss relative error ", e.loss_err);
    CHECK(e.loss_err <= kFixtureTol);
    Worst worst;
    for (const TensorError& g : e.grads) {
        CHECK_MESSAGE(g.err <= kFixtureTol, "grad ", g.name, " relative error ", g.err);
        worst.add(g.err, g.name);
    }
    MESSAGE("worst gradient: ", worst.name, " relative error ", worst.err);
    for (const TensorInfo& t : model.arena.params.tensors)
        if (!t.trainable) CHECK_MESSAGE(model.arena.grad(t.name) == nullptr, t.name, " is frozen but has a gradient");
}

inline void check_forward_backward(Model& model, const Batch& batch, const Fixture& fx, const std::string& prefix = "") {
    check_step(model, forward_backward_errors(model, batch, fx, prefix), prefix);
}

// training_errors within kFixtureTol, the final weights within final_weight_tol.
inline void check_training(Model& model, const Batch& batch, const Fixture& fx, double final_weight_tol) {
    // The reference decays exactly the tensors with two dimensions (embeddings, matmul weights).
    for (const TensorInfo& t : model.arena.params.tensors)
        CHECK_MESSAGE(t.decay == (t.shape.size() == 2), t.name, " decay flag differs from the reference's");
    const TrainingErrors e = training_errors(model, batch, fx);
    check_step(model, e.first, "");
    Worst worst_loss, worst_norm;
    for (size_t step = 0; step < e.losses.size(); step++) {
        const TrainingErrors::Value &loss = e.losses[step], &norm = e.norms[step];
        CHECK_MESSAGE(loss.err <= kFixtureTol, "step ", step + 1, " loss ", loss.got, ", PyTorch ", loss.want);
        CHECK_MESSAGE(norm.err <= kFixtureTol, "step ", step + 1, " grad norm ", norm.got, ", PyTorch ", norm.want);
        worst_loss.add(loss.err, "step " + std::to_string(step + 1));
        worst_norm.add(norm.err, "step " + std::to_string(step + 1));
    }
    MESSAGE("worst of ", e.losses.size(), " losses: relative error ", worst_loss.err, "; grad norms ", worst_norm.err);
    Worst worst;
    for (const TensorError& w : e.final_weights) {
        CHECK_MESSAGE(w.err <= final_weight_tol, "final ", w.name, " relative error ", w.err);
        worst.add(w.err, w.name);
    }
    MESSAGE("worst final weight: ", worst.name, " relative error ", worst.err);
}

// The fixture `path` as model M on the CPU backend, the tensors that frozen()
// picks untrainable: check_training, whose first step also finds that no
// frozen tensor has a gradient buffer.
template <typename M, typename Config>
void check_fixture_training(const char* path, const Config& cfg, double final_weight_tol,
                            const std::function<bool(const TensorInfo&)>& frozen = nullptr) {
    Fixture fx(path);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    check_training(*load_fixture_model<M>(*be, fx, cfg, frozen), read_batch(fx), fx, final_weight_tol);
}

// The fixture's dropout.* forward and backward of model M for cfg (its dropout
// rates set) on the CPU backend, with the masks of dropout.seed and dropout.step.
template <typename M, typename Config>
void check_fixture_dropout(const Fixture& fx, const Config& cfg,
                           const std::function<bool(const TensorInfo&)>& frozen = nullptr) {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model<M>(*be, fx, cfg, frozen);
    start_fixture_dropout(*model, fx);
    check_forward_backward(*model, read_batch(fx), fx, "dropout.");
}

// For a model loaded with frozen tensors: check_forward_backward, then an
// optimizer step, which must leave the frozen tensors bit for bit as they were.
inline void check_frozen(Model& model, const Batch& batch, const Fixture& fx) {
    check_forward_backward(model, batch, fx);
    AdamWConfig opt;
    opt.weight_decay = 0.1f;
    adamw_step(model.arena, opt, 1e-3f, 1, grad_norm(model.arena));
    for (const TensorInfo& t : model.arena.params.tensors) {
        if (t.trainable) continue;
        std::vector<float> got = download(model.arena.be, model.arena.param(t.name), t.numel());
        CHECK_MESSAGE(got == fx.floats(t.name, t.numel()), t.name, " changed while frozen");
    }
}
#endif
