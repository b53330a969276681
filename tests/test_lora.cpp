// LoRA (src/adapters/lora.h) on the CPU backend against PyTorch (tools/reference/
// lora_ref.py, itself checked against Hugging Face PEFT on GPT2LMHeadModel,
// GPT2ForSequenceClassification, BertForSequenceClassification and
// BertForMaskedLM), with the base frozen and the classification head trained
// as PEFT's modules_to_save:
//   GPT-2 LM, adapters on c_attn, attn.c_proj, c_fc and mlp.c_proj
//   GPT-2 classifier (padded rows), c_attn only, rsLoRA
//   BERT classifier, query, value and intermediate.dense, also with the LoRA
//     dropout and the model's dropout on
//   BERT masked LM, key and output.dense (the FFN's)
// each: logits, loss, every trainable gradient and 10 AdamW steps. Then what
// the fixtures cannot show: PEFT's initialisation, merge and unmerge, a
// backward that stops above the lower blocks, config errors and weight files.
//
// Errors as in test_gpt2.cpp: per tensor, max abs error over max abs
// reference value (gradcheck.h rel_error); a loss or a norm as |got - want| /
// |want|. Fixture tolerance 1e-5 (kFixtureTol, gpt2_fixture.h), except the
// final weights (kFinalWeightTol).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "models/bert.h"
#include "models/gpt2.h"
#include "gpt2_fixture.h"
#include "adapters/lora.h"
#include "support.h"
#include "formats/weights.h"

namespace {

// test_gpt2.cpp's kFinalWeightTol, for its reason: AdamW divides each
// gradient element by its own running RMS, so float32 rounding in the smallest
// gradient elements becomes visible updates. The worst tensor is the GPT-2
// LM's h.0 c_attn lora_B, whose query rows have gradients up to 2.5e-4 (the
// value rows' up to 6.8e-3): the C++ model ends 1.4e-4 from the float64 run
// there, and PyTorch itself in float32 2.5e-4. A missing weight decay (1.0e-3
// or more in every fixture) or clipping (9.9e-3 in the GPT-2 classifier, whose
// norms are above the clip; the others stay below it) stays well above 3e-4.
constexpr double kFinalWeightTol = 3e-4;

const char* kGpt2LmFixture = "tests/fixtures/lora_gpt2_lm.bin";
const char* kGpt2ClassifyFixture = "tests/fixtures/lora_gpt2_classify.bin";
const char* kBertClassifyFixture = "tests/fixtures/lora_bert_classify.bin";
const char* kBertMlmFixture = "tests/fixtures/lora_bert_mlm.bin";

// The fixture's lora.* entries (targets as comma-separated text).
LoraConfig fixture_lora(const Fixture& fx) {
    LoraConfig cfg;
    cfg.r = fx.int_scalar("lora.r");
    cfg.alpha = fx.scalar("lora.alpha");
    cfg.rslora = fx.int_scalar("lora.rslora") != 0;
    std::stringstream targets(fx.text("lora.targets"));
    for (std::string t; std::getline(targets, t, ',');) cfg.targets.push_back(t);
    return cfg;
}

GPT2Config gpt2_lora_config(const Fixture& fx) {
    GPT2Config cfg = fixture_config(fx);
    cfg.lora = fixture_lora(fx);
    return cfg;
}

BertConfig bert_lora_config(const Fixture& fx) {
    BertConfig cfg = bert_fixture_config(fx);
    cfg.lora = fixture_lora(fx);
    return cfg;
}

bool is_adapter(const TensorInfo& t) { return t.name.find(".lora_") != std::string::npos; }

// PEFT's trainable set: the adapters and the classification head (modules_to_save;
// BERT's pooler stays frozen).
bool frozen_base(const TensorInfo& t) {
    return !is_adapter(t) && t.name != "score.weight" && t.name != "classifier.weight" && t.name != "classifier.bias";
}

std::vector<float> logits_of(Model& model, const Batch& batch) {
    model.forward(batch);
    int rows = 0, cols = 0;
    const float* logits = model.logits_view(rows, cols);
    return download(model.arena.be, logits, (size_t)rows * cols);
}

}  // namespace

TEST_CASE("lora gpt2 LM on all four projections matches PyTorch/PEFT: logits, loss, gradients, 10 AdamW steps") {
    Fixture fx(kGpt2LmFixture);
    check_fixture_training<GPT2>(kGpt2LmFixture, gpt2_lora_config(fx), kFinalWeightTol, frozen_base);
}

TEST_CASE("lora gpt2 classifier, c_attn with rsLoRA, padded rows, score trained: matches PyTorch/PEFT") {
    Fixture fx(kGpt2ClassifyFixture);
    const GPT2Config cfg = gpt2_lora_config(fx);
    CHECK(cfg.lora.rslora);
    check_fixture_training<GPT2>(kGpt2ClassifyFixture, cfg, kFinalWeightTol, frozen_base);
}

TEST_CASE("lora bert classifier on query, value, intermediate.dense, classifier trained: matches PyTorch/PEFT") {
    Fixture fx(kBertClassifyFixture);
    check_fixture_training<BERT>(kBertClassifyFixture, bert_lora_config(fx), kFinalWeightTol, frozen_base);
}

TEST_CASE("lora bert masked LM on key and the FFN's output.dense, nothing else trained: matches PyTorch/PEFT") {
    Fixture fx(kBertMlmFixture);
    check_fixture_training<BERT>(kBertMlmFixture, bert_lora_config(fx), kFinalWeightTol, frozen_base);
}

TEST_CASE("lora dropout matches PyTorch/PEFT: BERT classifier with the LoRA, hidden, attention, classifier dropout") {
    Fixture fx(kBertClassifyFixture);
    BertConfig cfg = with_fixture_dropout(bert_lora_config(fx), fx);
    cfg.lora.dropout = fx.scalar("dropout.lora");
    check_fixture_dropout<BERT>(fx, cfg, frozen_base);
}

namespace {

// A fresh LoRA model (init_weights, as ./train makes one) against the same
// base without adapters: PEFT's initialisation, B exactly 0 and A uniform on
// [-1/sqrt(in), 1/sqrt(in)); identical logits; and a first backward that gives
// A no gradient (it is proportional to B) while B gets one.
template <typename M, typename Config>
void check_fresh_adapters(const Fixture& fx, Config cfg, int I) {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    const int B = fx.int_scalar("config.B"), T = fx.int_scalar("config.T");
    M lora_model(*be, cfg, B, T);
    for (TensorInfo& t : lora_model.arena.params.tensors) t.trainable = !frozen_base(t);
    lora_model.allocate();
    lora_model.init_weights(1234);
    Config base_cfg = cfg;
    base_cfg.lora = LoraConfig{};
    M base(*be, base_cfg, B, T);
    base.allocate();
    for (const TensorInfo& t : base.arena.params.tensors) {
        std::vector<float> w = param_values(lora_model, t.name);
        be->upload(base.arena.param(t.name), w.data(), w.size() * sizeof(float));
    }

    const std::string arch = lora_model.arch();
    // Pooled over every adapter, A / bound is uniform on [-1, 1): its mean (sd
    // 1/sqrt(3n)), its mean square (1/3, sd sqrt(4/45n)) and each tenth of the
    // interval's count (n/10, sd sqrt(0.09 n)) within 5 sd.
    std::vector<double> scaled;
    std::vector<std::vector<float>> seen;
    for (int l = 0; l < cfg.L; l++)
        for (const LoraSite& site : lora_targets(cfg.lora, arch, cfg.C, I)) {
            const std::vector<float> b = param_values(lora_model, lora_param_name(arch, l, site, "lora_B"));
            CHECK_MESSAGE(b == std::vector<float>(b.size(), 0.0f), lora_param_name(arch, l, site, "lora_B"));
            const std::string a_name = lora_param_name(arch, l, site, "lora_A");
            const std::vector<float> a = param_values(lora_model, a_name);
            const double bound = 1.0 / std::sqrt((double)site.in);
            double largest = 0;
            for (float x : a) {
                largest = std::max(largest, std::fabs((double)x));
                scaled.push_back(x / bound);
            }
            CHECK_MESSAGE(largest <= bound * (1 + 1e-6), a_name, " has |A| up to ", largest, ", bound ", bound);
            CHECK_MESSAGE(largest >= 0.9 * bound, a_name, " has |A| only up to ", largest, ", bound ", bound);
            for (const std::vector<float>& other : seen) CHECK_MESSAGE(a != other, a_name, " repeats another A");
            seen.push_back(a);
        }
    const double n = (double)scaled.size();
    double mean = 0, square = 0;
    std::vector<double> tenths(10, 0.0);
    for (double x : scaled) {
        mean += x / n, square += x * x / n;
        tenths[std::clamp((int)std::floor((x + 1) * 5), 0, 9)] += 1;  // out of range: failed above
    }
    MESSAGE(n, " A values: mean ", mean, ", mean square ", square, " (1/3)");
    CHECK(std::fabs(mean) <= 5 / std::sqrt(3 * n));
    CHECK(std::fabs(square - 1.0 / 3) <= 5 * std::sqrt(4 / (45 * n)));
    for (double count : tenths) CHECK(std::fabs(count - n / 10) <= 5 * std::sqrt(0.09 * n));

    const Batch batch = read_batch(fx);
    CHECK(logits_of(lora_model, batch) == logits_of(base, batch));
    lora_model.zero_grad();
    lora_model.backward();
    for (const TensorInfo& t : lora_model.arena.params.tensors) {
        if (!is_adapter(t)) continue;
        std::vector<float> g = download(*be, lora_model.arena.grad(t.name), t.numel());
        double norm = 0;
        for (float x : g) norm += (double)x * x;
        if (t.name.find(".lora_A.") != std::string::npos) CHECK_MESSAGE(norm == 0.0, t.name, " has a gradient");
        else CHECK_MESSAGE(norm > 0.0, t.name, " has no gradient");
    }
}

}  // namespace

TEST_CASE("lora init as PEFT: B zero, A uniform within 1/sqrt(in), a fresh adapter leaves the logits unchanged") {
    SUBCASE("gpt2, all four projections (inputs C and 4C)") {
        Fixture fx(kGpt2LmFixture);
        const GPT2Config cfg = gpt2_lora_config(fx);
        check_fresh_adapters<GPT2>(fx, cfg, 4 * cfg.C);
    }
    SUBCASE("bert, query, value and intermediate.dense (thirds of the fused qkv)") {
        Fixture fx(kBertClassifyFixture);
        const BertConfig cfg = bert_lora_config(fx);
        check_fresh_adapters<BERT>(fx, cfg, cfg.I);
    }
}

namespace {

// Merging the fixture's adapters (B nonzero) into the base weights: each
// adapted weight becomes W + s B A on its rows (checked in double on the host,
// within 1e-6 relative), every other row and tensor stays bit for bit; the
// merged model's logits equal the adapted model's within kFixtureTol; unmerge
// restores the base within 1e-6 relative (float32 rounding of W + dW - dW is
// about 1e-7 of the largest weight).
template <typename M, typename Config>
void check_merge(const char* path, const Config& cfg, int I) {
    Fixture fx(path);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model<M>(*be, fx, cfg, frozen_base);
    const Batch batch = read_batch(fx);
    const std::string arch = model->arch();
    const std::vector<float> adapted = logits_of(*model, batch);

    std::map<std::string, std::vector<double>> expected;
    for (const TensorInfo& t : model->arena.params.tensors) {
        const std::vector<float>& w = fx.floats(t.name, t.numel());
        expected[t.name].assign(w.begin(), w.end());
    }
    const int r = cfg.lora.r;
    const double s = cfg.lora.alpha / (cfg.lora.rslora ? std::sqrt((double)r) : (double)r);
    for (int l = 0; l < cfg.L; l++)
        for (const LoraSite& site : lora_targets(cfg.lora, arch, cfg.C, I)) {
            const std::vector<float>& A = fx.floats(lora_param_name(arch, l, site, "lora_A"), (size_t)r * site.in);
            const std::vector<float>& B = fx.floats(lora_param_name(arch, l, site, "lora_B"), (size_t)site.width * r);
            std::vector<double>& W = expected[block_prefix(arch, l) + site.base];
            for (int o = 0; o < site.width; o++)
                for (int i = 0; i < site.in; i++) {
                    double dw = 0;
                    for (int k = 0; k < r; k++) dw += (double)B[(size_t)o * r + k] * A[(size_t)k * site.in + i];
                    W[(size_t)(site.col + o) * site.in + i] += s * dw;
                }
        }

    model->lora.merge(model->arena, arch, false);
    for (const TensorInfo& t : model->arena.params.tensors) {
        const std::vector<float> got = param_values(*model, t.name);
        const std::vector<float>& before = fx.floats(t.name, t.numel());
        const std::vector<double>& want = expected[t.name];
        CHECK_MESSAGE(rel_error(got, want, t.numel()) <= 1e-6, "merged ", t.name);
        for (size_t i = 0; i < got.size(); i++)
            if (want[i] == before[i] && got[i] != before[i]) {
                FAIL_CHECK(t.name, " element ", i, " changed though no adapter covers it");
                break;
            }
    }
    const std::vector<float> merged = logits_of(*model, batch);
    const double logits_err = rel_error(merged, adapted, adapted.size());
    MESSAGE("merged logits relative error ", logits_err);
    CHECK(logits_err <= kFixtureTol);
    CHECK(merged != adapted);  // the merged forward ran (the adapters were skipped)

    CHECK_THROWS_WITH_AS(model->lora.merge(model->arena, arch, false), Contains("already merged"), std::runtime_error);
    model->lora.merge(model->arena, arch, true);
    CHECK_THROWS_WITH_AS(model->lora.merge(model->arena, arch, true), Contains("not merged"), std::runtime_error);
    Worst worst;
    for (const TensorInfo& t : model->arena.params.tensors) {
        const std::vector<float> got = param_values(*model, t.name);
        const double err = rel_error(got, fx.floats(t.name, t.numel()), t.numel());
        CHECK_MESSAGE(err <= 1e-6, "unmerged ", t.name, " relative error ", err);
        worst.add(err, t.name);
    }
    MESSAGE("unmerge: worst ", worst.name, " relative error ", worst.err);
    CHECK(rel_error(logits_of(*model, batch), adapted, adapted.size()) <= kFixtureTol);
}

}  // namespace

TEST_CASE("lora merge and unmerge: W + s B A, logits as the adapted model's, the base restored") {
    SUBCASE("gpt2, all four projections") {
        Fixture fx(kGpt2LmFixture);
        const GPT2Config cfg = gpt2_lora_config(fx);
        check_merge<GPT2>(kGpt2LmFixture, cfg, 4 * cfg.C);
    }
    SUBCASE("gpt2, rsLoRA") {
        Fixture fx(kGpt2ClassifyFixture);
        const GPT2Config cfg = gpt2_lora_config(fx);
        check_merge<GPT2>(kGpt2ClassifyFixture, cfg, 4 * cfg.C);
    }
    SUBCASE("bert, the query and value thirds of the fused qkv (key's rows untouched), intermediate.dense") {
        Fixture fx(kBertClassifyFixture);
        const BertConfig cfg = bert_lora_config(fx);
        check_merge<BERT>(kBertClassifyFixture, cfg, cfg.I);
    }
    SUBCASE("bert, the key third and output.dense") {
        Fixture fx(kBertMlmFixture);
        const BertConfig cfg = bert_lora_config(fx);
        check_merge<BERT>(kBertMlmFixture, cfg, cfg.I);
    }
    SUBCASE("a model without adapters has nothing to merge") {
        Fixture fx(kGpt2LmFixture);
        std::unique_ptr<Backend> be(make_backend("cpu"));
        GPT2 model(*be, fixture_config(fx), 1, 1);
        model.allocate();
        CHECK_THROWS_WITH_AS(model.lora.merge(model.arena, "gpt2", false), Contains("no LoRA adapters"),
                             std::runtime_error);
    }
}

namespace {

// The fixture's model with only the adapters of block `trained` (and the head)
// trainable: the backward floor, and those gradients against the fixture's
// (a tensor's gradient does not depend on which others train).
template <typename M, typename Config>
void check_one_block(const char* path, const Config& cfg, int trained) {
    Fixture fx(path);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model<M>(*be, fx, cfg, [&](const TensorInfo& t) {
        return frozen_base(t) || (is_adapter(t) && t.layer != trained);
    });
    CHECK(model->lowest_trained_block == trained);
    CHECK_FALSE(model->embeddings_trained);
    check_forward_backward(*model, read_batch(fx), fx);
}

}  // namespace

TEST_CASE("lora in one block only: backward stops below the lowest trained block and still matches PyTorch") {
    SUBCASE("gpt2 LM, top block") {
        Fixture fx(kGpt2LmFixture);
        const GPT2Config cfg = gpt2_lora_config(fx);
        check_one_block<GPT2>(kGpt2LmFixture, cfg, cfg.L - 1);
    }
    SUBCASE("gpt2 LM, bottom block (through the frozen block above)") {
        Fixture fx(kGpt2LmFixture);
        check_one_block<GPT2>(kGpt2LmFixture, gpt2_lora_config(fx), 0);
    }
    SUBCASE("bert classifier, top block, with the head") {
        Fixture fx(kBertClassifyFixture);
        const BertConfig cfg = bert_lora_config(fx);
        check_one_block<BERT>(kBertClassifyFixture, cfg, cfg.L - 1);
    }
    SUBCASE("bert masked LM, top block") {
        Fixture fx(kBertMlmFixture);
        const BertConfig cfg = bert_lora_config(fx);
        check_one_block<BERT>(kBertMlmFixture, cfg, cfg.L - 1);
    }
}

TEST_CASE("lora config: validate gives one-line --lora-... errors, PEFT's default targets, lora_sites order") {
    // Checked for being one line at the end: an assertion inside an assertion's
    // expression deadlocks doctest's reporter when it logs successes (-s).
    std::vector<std::string> messages;
    auto error = [&messages](LoraConfig cfg, const std::string& arch) {
        const std::string e = error_of([&] { validate(cfg, arch); });
        messages.push_back(e);
        return e;
    };
    LoraConfig good;
    good.r = 8, good.alpha = 16, good.dropout = 0.05f, good.targets = {"c_attn"};
    CHECK(error(good, "gpt2").empty());

    LoraConfig c = good;
    for (int r : {0, -1, 4097}) {
        c.r = r;
        CHECK(error(c, "gpt2") == "--lora-r " + std::to_string(r) + ": must be in 1..4096");
    }
    c = good;
    for (float alpha : {0.0f, -8.0f, NAN, INFINITY, 2e6f, 0.0625f}) {
        c.alpha = alpha;
        CHECK_MESSAGE(error(c, "gpt2").rfind("--lora-alpha ", 0) == 0, "alpha ", alpha, ": ", error(c, "gpt2"));
    }
    c.alpha = 0.125f;  // three decimals are fine
    CHECK(error(c, "gpt2").empty());
    c = good;
    for (float p : {1.0f, -0.1f, NAN}) {
        c.dropout = p;
        CHECK_MESSAGE(error(c, "gpt2").rfind("--lora-dropout ", 0) == 0, "dropout ", p, ": ", error(c, "gpt2"));
    }
    c = good;
    c.targets = {"c_attn", "q_proj"};
    CHECK(error(c, "gpt2") == "--lora-targets q_proj: not a gpt2 projection (c_attn, attn.c_proj, c_fc, mlp.c_proj)");
    c.targets = {"c_proj"};  // PEFT's suffix match would take both c_proj; here it must be named
    CHECK(error(c, "gpt2").rfind("--lora-targets c_proj: not a gpt2 projection", 0) == 0);
    c.targets = {"query"};
    CHECK(error(c, "gpt2").rfind("--lora-targets query: not a gpt2 projection", 0) == 0);
    c.targets = {"c_attn"};
    CHECK(error(c, "bert") ==
          "--lora-targets c_attn: not a bert projection (query, key, value, attention.output.dense, "
          "intermediate.dense, output.dense)");

    LoraConfig defaults = good;
    defaults.targets.clear();
    validate(defaults, "gpt2");
    CHECK(defaults.targets == std::vector<std::string>{"c_attn"});
    defaults.targets.clear();
    validate(defaults, "bert");
    CHECK(defaults.targets == std::vector<std::string>{"query", "value"});
    LoraConfig shuffled = good;
    shuffled.targets = {"output.dense", "value", "query", "value"};
    validate(shuffled, "bert");
    CHECK(shuffled.targets == std::vector<std::string>{"query", "value", "output.dense"});
    for (const std::string& m : messages) CHECK_MESSAGE(m.find('\n') == std::string::npos, m);
}

namespace {

// save_weights, then the file's config and a strict load into a fresh model
// of the same config (every parameter bit for bit); a model whose LoRA config
// differs in any field (other_targets: a valid target list other than the
// fixture's) refuses the file.
template <typename M, typename Config>
void check_weight_file(const char* path, const Config& cfg, const std::vector<std::string>& other_targets,
                       const std::function<Config(const std::string&)>& read_config) {
    Fixture fx(path);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model<M>(*be, fx, cfg, frozen_base);
    TempDir dir("lora");
    const std::string file = dir.file("lora.bin");
    save_weights(file, *model);

    const LoraConfig stored = read_config(file).lora;
    CHECK(stored.r == cfg.lora.r);
    CHECK(stored.alpha == cfg.lora.alpha);
    CHECK(stored.rslora == cfg.lora.rslora);
    CHECK(stored.targets == cfg.lora.targets);
    M loaded(*be, cfg, 1, 1);
    loaded.allocate();
    load_weights(file, loaded);
    for (const TensorInfo& t : model->arena.params.tensors)
        CHECK_MESSAGE(param_values(loaded, t.name) == param_values(*model, t.name), t.name);

    std::vector<std::pair<std::string, std::function<void(LoraConfig&)>>> others = {
        {"another r", [](LoraConfig& l) { l.r *= 2; }},
        {"another alpha", [](LoraConfig& l) { l.alpha += 1; }},
        {"rsLoRA toggled", [](LoraConfig& l) { l.rslora = !l.rslora; }},
        {"other targets", [&](LoraConfig& l) { l.targets = other_targets; }},
        {"no LoRA", [](LoraConfig& l) { l = LoraConfig{}; }},
    };
    for (const auto& [what, change] : others) {
        Config other = cfg;
        change(other.lora);
        M wrong(*be, other, 1, 1);
        wrong.allocate();
        const std::string e = error_of([&] { load_weights(file, wrong); });
        CHECK_MESSAGE(e.rfind(file + ": ", 0) == 0, what, ": ", e);
        CHECK_MESSAGE(e.find("differs from the model's") != std::string::npos, what, ": ", e);
    }
}

}  // namespace

TEST_CASE("lora weight files: the adapters and their config round-trip; another r, alpha or targets is refused") {
    SUBCASE("gpt2 classifier with rsLoRA on c_attn") {
        Fixture fx(kGpt2ClassifyFixture);
        check_weight_file<GPT2, GPT2Config>(kGpt2ClassifyFixture, gpt2_lora_config(fx), {"c_attn", "c_fc"},
                                            [](const std::string& p) { return read_gpt2_config(p); });
    }
    SUBCASE("bert masked LM on key and output.dense, alpha 3") {
        Fixture fx(kBertMlmFixture);
        check_weight_file<BERT, BertConfig>(kBertMlmFixture, bert_lora_config(fx), {"key"},
                                            [](const std::string& p) { return read_bert_config(p); });
    }
}
