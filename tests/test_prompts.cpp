// Prompt learning (src/adapters/prompts.h) on the CPU backend against PyTorch
// (tools/reference/prompt_ref.py, itself checked against Hugging Face PEFT's
// PROMPT_TUNING, P_TUNING and PREFIX_TUNING on GPT2LMHeadModel,
// GPT2ForSequenceClassification, BertForSequenceClassification and
// BertForMaskedLM), with the base frozen and the classification head trained
// as PEFT's modules_to_save:
//   GPT-2 LM, prompt tuning, n=3
//   GPT-2 classifier (padded rows), P-tuning with the MLP encoder, n=4, H=16
//   GPT-2 LM, prefix tuning without reparameterisation, n=2
//   BERT classifier (padded sentence pairs), prefix tuning with the
//     reparameterisation, n=3, H=12, also with the model's dropout on
//   BERT masked LM, prompt tuning, n=4
// each: logits, loss, every trainable gradient and 10 AdamW steps. Then what
// the fixtures cannot show: the tensors each method adds and which of them
// train, how far the backward runs, prompts that do not fit the context, and
// weight files.
//
// Errors as in test_gpt2.cpp: per tensor, max abs error over max abs
// reference value (gradcheck.h rel_error); a loss or a norm as |got - want| /
// |want|. Tolerance 1e-5 throughout (kFixtureTol, gpt2_fixture.h), the final
// weights included.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/bert.h"
#include "models/gpt2.h"
#include "gpt2_fixture.h"
#include "train/optimizer.h"
#include "adapters/prompts.h"
#include "support.h"
#include "formats/weights.h"

namespace {

// The final weights after the AdamW steps hold kFixtureTol too, unlike the
// base models' and LoRA's (test_gpt2.cpp, test_lora.cpp), where AdamW turns
// float32 rounding in the smallest gradient elements into visible updates.
// Measured here: the worst is the GPT-2 prefix table, 8.1e-7 from the float64
// run (PyTorch itself in float32: 1.0e-6). A missing weight decay moves them
// 1.0e-3 or more in every fixture; missing clipping 1.5e-2 in the P-tuning
// classifier, the only one whose gradient norms (4.5 .. 3.2) exceed the clip.
const char* kGpt2LmFixture = "tests/fixtures/prompt_gpt2_lm.bin";
const char* kGpt2PTuningFixture = "tests/fixtures/prompt_gpt2_classify_ptuning.bin";
const char* kGpt2PrefixFixture = "tests/fixtures/prompt_gpt2_lm_prefix.bin";
const char* kBertPrefixFixture = "tests/fixtures/prompt_bert_classify_prefix.bin";
const char* kBertMlmFixture = "tests/fixtures/prompt_bert_mlm.bin";

// The fixture's prompt.* entries (the method by its flag name).
PromptConfig fixture_prompt(const Fixture& fx) {
    PromptConfig cfg;
    cfg.kind = prompt_kind(fx.text("prompt.method"));
    cfg.n = fx.int_scalar("prompt.n");
    cfg.hidden = fx.int_scalar("prompt.hidden");
    return cfg;
}

GPT2Config gpt2_prompt_config(const Fixture& fx) {
    GPT2Config cfg = fixture_config(fx);
    cfg.prompt = fixture_prompt(fx);
    return cfg;
}

BertConfig bert_prompt_config(const Fixture& fx) {
    BertConfig cfg = bert_fixture_config(fx);
    cfg.prompt = fixture_prompt(fx);
    return cfg;
}

bool is_prompt(const TensorInfo& t) { return t.name.rfind("prompt.", 0) == 0 || t.name.rfind("prefix.", 0) == 0; }
bool is_head(const TensorInfo& t) {
    return t.name == "score.weight" || t.name == "classifier.weight" || t.name == "classifier.bias";
}
// PEFT's trainable set: the prompt tensors and the classification head
// (modules_to_save; BERT's pooler stays frozen).
bool frozen_base(const TensorInfo& t) { return !is_prompt(t) && !is_head(t); }

std::vector<float> grad_values(const Model& model, const std::string& name) {
    return download(model.arena.be, model.arena.grad(name), model.arena.params.at(name).numel());
}

double sum_of_squares(const std::vector<float>& x, size_t begin, size_t end) {
    double s = 0;
    for (size_t i = begin; i < end; i++) s += (double)x[i] * x[i];
    return s;
}

}  // namespace

TEST_CASE("prompt tuning, gpt2 LM (n=3, n + t = max_T) matches PyTorch/PEFT: logits, loss, gradients, 10 AdamW steps") {
    Fixture fx(kGpt2LmFixture);
    const GPT2Config cfg = gpt2_prompt_config(fx);
    REQUIRE(cfg.prompt.kind == PromptKind::Prompt);
    check_fixture_training<GPT2>(kGpt2LmFixture, cfg, kFixtureTol, frozen_base);
}

TEST_CASE("prompt method P-tuning (MLP encoder), gpt2 classifier, padded rows, score trained: matches PyTorch/PEFT") {
    Fixture fx(kGpt2PTuningFixture);
    const GPT2Config cfg = gpt2_prompt_config(fx);
    REQUIRE(cfg.prompt.kind == PromptKind::PTuning);
    check_fixture_training<GPT2>(kGpt2PTuningFixture, cfg, kFixtureTol, frozen_base);
}

TEST_CASE("prompt method prefix tuning (no reparameterisation), gpt2 LM: matches PyTorch/PEFT") {
    Fixture fx(kGpt2PrefixFixture);
    const GPT2Config cfg = gpt2_prompt_config(fx);
    REQUIRE(cfg.prompt.kind == PromptKind::Prefix);
    REQUIRE(cfg.prompt.hidden == 0);
    check_fixture_training<GPT2>(kGpt2PrefixFixture, cfg, kFixtureTol, frozen_base);
}

TEST_CASE("prompt method prefix tuning (reparameterised), bert classifier, classifier trained: matches PyTorch/PEFT") {
    Fixture fx(kBertPrefixFixture);
    const BertConfig cfg = bert_prompt_config(fx);
    REQUIRE(cfg.prompt.kind == PromptKind::Prefix);
    REQUIRE(cfg.prompt.hidden > 0);
    check_fixture_training<BERT>(kBertPrefixFixture, cfg, kFixtureTol, frozen_base);
}

TEST_CASE("prompt method prefix tuning, bert classifier with hidden, attention, classifier dropout: matches PyTorch") {
    // The attention-probability masks are indexed over the (n+t)-long rows the kernel runs.
    Fixture fx(kBertPrefixFixture);
    check_fixture_dropout<BERT>(fx, with_fixture_dropout(bert_prompt_config(fx), fx), frozen_base);
}

TEST_CASE("prompt tuning, bert masked LM (n=4, n + t = max_T), only the prompts train: matches PyTorch/PEFT") {
    Fixture fx(kBertMlmFixture);
    const BertConfig cfg = bert_prompt_config(fx);
    REQUIRE(cfg.prompt.kind == PromptKind::Prompt);
    check_fixture_training<BERT>(kBertMlmFixture, cfg, kFixtureTol, frozen_base);
}

namespace {

using Shapes = std::vector<std::pair<std::string, std::vector<int>>>;

// The tensors a method adds, in order, with PEFT's names and shapes.
Shapes expected_prompt_tensors(const PromptConfig& p, int L, int C) {
    const int n = p.n, H = p.hidden;
    if (p.kind == PromptKind::Prompt) return {{"prompt.embedding.weight", {n, C}}};
    if (p.kind == PromptKind::PTuning)
        return {{"prompt.embedding.weight", {n, C}}, {"prompt.mlp_head.0.weight", {H, C}},
                {"prompt.mlp_head.0.bias", {H}},     {"prompt.mlp_head.2.weight", {H, H}},
                {"prompt.mlp_head.2.bias", {H}},     {"prompt.mlp_head.4.weight", {C, H}},
                {"prompt.mlp_head.4.bias", {C}}};
    if (!H) return {{"prefix.embedding.weight", {n, 2 * L * C}}};
    return {{"prefix.embedding.weight", {n, C}},
            {"prefix.transform.0.weight", {H, C}},
            {"prefix.transform.0.bias", {H}},
            {"prefix.transform.2.weight", {2 * L * C, H}},
            {"prefix.transform.2.bias", {2 * L * C}}};
}

// The fixture's model with the base frozen: its table is the same model's
// without prompts plus exactly the method's tensors; after one forward and
// backward only those and the head have gradients, each nonzero. The backward
// runs through every block (prefixes enter each one) and, with prepended
// prompts, into the embeddings; with a raw prefix table every layer's
// key/value columns get a gradient.
template <typename M, typename Config>
void check_trainable(const char* path, Config cfg) {
    Fixture fx(path);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model<M>(*be, fx, cfg, frozen_base);
    const PromptConfig p = cfg.prompt;
    cfg.prompt = PromptConfig{};
    M plain(*be, cfg, 1, 1);

    Shapes got_prompt, got_base, want_base;
    for (const TensorInfo& t : model->arena.params.tensors)
        (is_prompt(t) ? got_prompt : got_base).push_back({t.name, t.shape});
    for (const TensorInfo& t : plain.arena.params.tensors) want_base.push_back({t.name, t.shape});
    CHECK(got_prompt == expected_prompt_tensors(p, cfg.L, cfg.C));
    CHECK(got_base == want_base);

    model->forward(read_batch(fx));
    model->zero_grad();
    model->backward();
    size_t trained = 0;
    for (const TensorInfo& t : model->arena.params.tensors) {
        if (!t.trainable) {
            CHECK_MESSAGE(model->arena.grad(t.name) == nullptr, t.name, " is frozen but has a gradient");
            continue;
        }
        CHECK_MESSAGE((is_prompt(t) || is_head(t)), t.name, " trains");
        const std::vector<float> g = grad_values(*model, t.name);
        CHECK_MESSAGE(sum_of_squares(g, 0, g.size()) > 0.0, t.name, " has no gradient");
        trained += t.numel();
    }
    CHECK(model->arena.params.count_elements(true) == trained);

    CHECK(model->lowest_trained_block == 0);
    CHECK(model->embeddings_trained == (p.kind != PromptKind::Prefix));
    if (p.kind == PromptKind::Prefix && !p.hidden) {
        const std::vector<float> g = grad_values(*model, "prefix.embedding.weight");
        const size_t width = 2 * (size_t)cfg.L * cfg.C;
        for (int l = 0; l < cfg.L; l++)
            for (int kv = 0; kv < 2; kv++) {
                double s = 0;
                for (int i = 0; i < p.n; i++) {
                    const size_t row = (size_t)i * width + (size_t)(2 * l + kv) * cfg.C;
                    s += sum_of_squares(g, row, row + cfg.C);
                }
                CHECK_MESSAGE(s > 0.0, "layer ", l, kv ? " value" : " key", " prefix has no gradient");
            }
    }
}

}  // namespace

TEST_CASE("prompt tensors: PEFT's names and shapes on top of the base table; only they and the head train") {
    SUBCASE("gpt2 LM, prompt tuning") {
        Fixture fx(kGpt2LmFixture);
        check_trainable<GPT2>(kGpt2LmFixture, gpt2_prompt_config(fx));
    }
    SUBCASE("gpt2 classifier, P-tuning") {
        Fixture fx(kGpt2PTuningFixture);
        check_trainable<GPT2>(kGpt2PTuningFixture, gpt2_prompt_config(fx));
    }
    SUBCASE("gpt2 LM, raw prefix: every layer's keys and values get a gradient") {
        Fixture fx(kGpt2PrefixFixture);
        check_trainable<GPT2>(kGpt2PrefixFixture, gpt2_prompt_config(fx));
    }
    SUBCASE("bert classifier, reparameterised prefix") {
        Fixture fx(kBertPrefixFixture);
        check_trainable<BERT>(kBertPrefixFixture, bert_prompt_config(fx));
    }
    SUBCASE("bert masked LM, prompt tuning") {
        Fixture fx(kBertMlmFixture);
        check_trainable<BERT>(kBertMlmFixture, bert_prompt_config(fx));
    }
}

TEST_CASE("prompt that does not fit the context is refused when the model is built") {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto refusal = [](const std::function<void()>& build) {
        const std::string e = error_of(build);
        CHECK_MESSAGE(e.find('\n') == std::string::npos, e);
        return e;
    };
    SUBCASE("gpt2, prepended prompts and prefixes") {
        for (const char* path : {kGpt2LmFixture, kGpt2PrefixFixture}) {
            Fixture fx(path);
            const GPT2Config cfg = gpt2_prompt_config(fx);
            const int n = cfg.prompt.n, fits = cfg.max_T - n;
            CHECK(refusal([&] { GPT2 model(*be, cfg, 2, fits); }).empty());
            CHECK(refusal([&] { GPT2 model(*be, cfg, 2, fits + 1); }) ==
                  std::to_string(n) + " virtual tokens + " + std::to_string(fits + 1) +
                      " tokens exceed the model's context of " + std::to_string(cfg.max_T));
        }
    }
    SUBCASE("bert") {
        Fixture fx(kBertMlmFixture);
        const BertConfig cfg = bert_prompt_config(fx);
        const int fits = cfg.max_T - cfg.prompt.n;
        CHECK(refusal([&] { BERT model(*be, cfg, 2, fits); }).empty());
        REQUIRE(fits == 12);
        CHECK(refusal([&] { BERT model(*be, cfg, 2, 13); }) ==
              "4 virtual tokens + 13 tokens exceed the model's context of 16");
    }
    SUBCASE("as many virtual tokens as the context holds, or more") {
        Fixture fx(kGpt2PrefixFixture);
        GPT2Config cfg = gpt2_prompt_config(fx);
        for (int n : {cfg.max_T, cfg.max_T + 1}) {
            cfg.prompt.n = n;
            CHECK(refusal([&] { GPT2 model(*be, cfg, 1, 1); }) ==
                  "model config: " + std::to_string(n) + " virtual tokens leave no room in the context of 16");
        }
    }
}

namespace {

// save_weights, then the file's prompt_* fields and a strict load into a fresh
// model of the same config (every parameter bit for bit); a model whose prompt
// config differs (another method, n, or width, or none) refuses the file. An
// adapter file (save_adapter) holds the prompt tensors and the head alone and
// puts them over a model that holds the base weights. A body without prompts
// loads partially under them, which leaves the prompt tensors missing.
template <typename M, typename Config>
void check_weight_files(const char* path, const Config& cfg,
                        const std::function<Config(const std::string&)>& read_config) {
    Fixture fx(path);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model<M>(*be, fx, cfg, frozen_base);
    const Batch batch = read_batch(fx);
    model->forward(batch);  // one AdamW step, so that the prompt tensors are not the fixture's
    model->zero_grad();
    model->backward();
    adamw_step(model->arena, fixture_adamw(fx), 1e-2f, 1, grad_norm(model->arena));
    TempDir dir("prompts");
    const std::string file = dir.file("model.bin"), adapter = dir.file("adapter.bin");
    save_weights(file, *model);
    save_adapter(adapter, *model);

    const PromptConfig stored = read_config(file).prompt;
    CHECK(stored.kind == cfg.prompt.kind);
    CHECK(stored.n == cfg.prompt.n);
    CHECK(stored.hidden == cfg.prompt.hidden);
    M loaded(*be, cfg, 1, 1);
    loaded.allocate();
    load_weights(file, loaded);
    for (const TensorInfo& t : model->arena.params.tensors)
        CHECK_MESSAGE(param_values(loaded, t.name) == param_values(*model, t.name), t.name);

    const PromptConfig p = cfg.prompt;
    std::vector<std::pair<std::string, PromptConfig>> others = {
        {"another n", {p.kind, p.n + 1, p.hidden}},
        {"another method", p.kind == PromptKind::Prefix
                               ? PromptConfig{PromptKind::PTuning, p.n, p.hidden ? p.hidden : 8}
                               : PromptConfig{PromptKind::Prefix, p.n, p.hidden}},
        {"no prompts", PromptConfig{}},
    };
    if (p.kind != PromptKind::Prompt) others.push_back({"another width", {p.kind, p.n, p.hidden + 4}});
    for (const auto& [what, prompt] : others) {
        Config other = cfg;
        other.prompt = prompt;
        M wrong(*be, other, 1, 1);
        wrong.allocate();
        const std::string e = error_of([&] { load_weights(file, wrong); });
        CHECK_MESSAGE(e.rfind(file + ": ", 0) == 0, what, ": ", e);
        CHECK_MESSAGE(e.find("differs from the model's") != std::string::npos, what, ": ", e);
    }

    const WeightFile af = read_weight_file(adapter);
    CHECK(af.adapter);
    std::vector<std::string> names, trained;
    for (const StoredTensor& t : af.tensors) names.push_back(t.name);
    for (const TensorInfo& t : model->arena.params.tensors)
        if (t.trainable) trained.push_back(t.name);
    CHECK(names == trained);
    auto base = load_fixture_model<M>(*be, fx, cfg, frozen_base);
    load_weights(adapter, *base);
    for (const TensorInfo& t : model->arena.params.tensors)
        CHECK_MESSAGE(param_values(*base, t.name) == param_values(*model, t.name), "adapter over the base: ", t.name);

    Config bare = cfg;
    bare.prompt = PromptConfig{};
    M body(*be, bare, 1, 1);
    for (TensorInfo& t : body.arena.params.tensors) t.trainable = false;
    body.allocate();
    for (const TensorInfo& t : body.arena.params.tensors) {
        const std::vector<float>& w = fx.floats(t.name, t.numel());
        be->upload(body.arena.param(t.name), w.data(), w.size() * sizeof(float));
    }
    const std::string body_file = dir.file("body.bin");
    save_weights(body_file, body);
    M prompted(*be, cfg, 1, 1);
    prompted.allocate();
    const LoadReport report = load_weights(body_file, prompted, true);
    std::vector<std::string> prompt_names;
    for (const auto& [name, shape] : expected_prompt_tensors(p, cfg.L, cfg.C)) prompt_names.push_back(name);
    CHECK(report.missing == prompt_names);
    CHECK(report.unused.empty());
}

}  // namespace

TEST_CASE("prompt config round-trips through weight files (prompt_kind, prompt_n, prompt_hidden); adapters too") {
    SUBCASE("gpt2 LM, prompt tuning") {
        Fixture fx(kGpt2LmFixture);
        check_weight_files<GPT2, GPT2Config>(kGpt2LmFixture, gpt2_prompt_config(fx),
                                             [](const std::string& f) { return read_gpt2_config(f); });
    }
    SUBCASE("gpt2 classifier, P-tuning") {
        Fixture fx(kGpt2PTuningFixture);
        check_weight_files<GPT2, GPT2Config>(kGpt2PTuningFixture, gpt2_prompt_config(fx),
                                             [](const std::string& f) { return read_gpt2_config(f); });
    }
    SUBCASE("gpt2 LM, raw prefix") {
        Fixture fx(kGpt2PrefixFixture);
        check_weight_files<GPT2, GPT2Config>(kGpt2PrefixFixture, gpt2_prompt_config(fx),
                                             [](const std::string& f) { return read_gpt2_config(f); });
    }
    SUBCASE("bert classifier, reparameterised prefix") {
        Fixture fx(kBertPrefixFixture);
        check_weight_files<BERT, BertConfig>(kBertPrefixFixture, bert_prompt_config(fx),
                                             [](const std::string& f) { return read_bert_config(f); });
    }
}
