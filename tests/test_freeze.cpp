// --freeze presets and patterns, layer-wise lr decay and the group summary
// (src/adapters/freeze.cpp), and adamw_step's per-tensor lr_scale (src/cpu/optimizer.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "models/bert.h"
#include "cpu/kernels.h"
#include "adapters/freeze.h"
#include "models/gpt2.h"
#include "gradcheck.h"
#include "train/optimizer.h"
#include "support.h"

namespace {

using Names = std::set<std::string>;

// A 3-layer GPT-2 small enough to count by hand: C 4, Vp 16, max_T 8.
TensorTable small_gpt2(int num_labels) {
    GPT2Config cfg;
    cfg.max_T = 8, cfg.V = 10, cfg.Vp = 16, cfg.L = 3, cfg.NH = 2, cfg.C = 4;
    cfg.num_labels = num_labels;
    return gpt2_param_table(cfg);
}

// A 3-layer BERT with a 2-label classifier: C 4, I 8.
TensorTable small_bert(BertHead head = BertHead::Classifier) {
    BertConfig cfg;
    cfg.max_T = 8, cfg.V = 10, cfg.types = 2, cfg.L = 3, cfg.NH = 2, cfg.C = 4, cfg.I = 8;
    cfg.head = head;
    cfg.num_labels = head == BertHead::Classifier ? 2 : 0;
    return bert_param_table(cfg);
}

Names names_where(const TensorTable& table, const std::function<bool(const TensorInfo&)>& pred) {
    Names out;
    for (const TensorInfo& t : table.tensors)
        if (pred(t)) out.insert(t.name);
    return out;
}

Names frozen_names(const TensorTable& t) {
    return names_where(t, [](const TensorInfo& x) { return !x.trainable; });
}
Names trainable_names(const TensorTable& t) {
    return names_where(t, [](const TensorInfo& x) { return x.trainable; });
}
// Names with one of the prefixes: the expected sets are written over names
// only, independent of the layer field that freeze.cpp reads.
Names names_starting(const TensorTable& table, const std::vector<std::string>& prefixes) {
    return names_where(table, [&](const TensorInfo& t) {
        for (const std::string& p : prefixes)
            if (t.name.rfind(p, 0) == 0) return true;
        return false;
    });
}

TensorTable frozen_with(TensorTable table, const std::string& spec, int L = 3) {
    apply_freeze(table, spec, L);
    return table;
}

}  // namespace

TEST_CASE("freeze: param_group puts each GPT-2 and BERT tensor in embeddings, a block or the head") {
    auto group_of = [](const TensorTable& table, ParamGroup g) {
        return names_where(table, [g](const TensorInfo& t) { return param_group(t) == g; });
    };
    TensorTable gpt2 = small_gpt2(2);
    CHECK(group_of(gpt2, ParamGroup::Embeddings) == Names{"wte.weight", "wpe.weight"});
    CHECK(group_of(gpt2, ParamGroup::Head) == Names{"ln_f.weight", "ln_f.bias", "score.weight"});
    CHECK(group_of(gpt2, ParamGroup::Block) == names_starting(gpt2, {"h."}));
    CHECK(group_of(gpt2, ParamGroup::Block).size() == 36);

    TensorTable bert = small_bert();
    CHECK(group_of(bert, ParamGroup::Embeddings) ==
          Names{"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                "embeddings.LayerNorm.bias"});
    CHECK(group_of(bert, ParamGroup::Head) ==
          Names{"pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"});
    CHECK(group_of(bert, ParamGroup::Block) == names_starting(bert, {"encoder.layer."}));

    TensorTable mlm = small_bert(BertHead::MaskedLM);
    CHECK(group_of(mlm, ParamGroup::Head) == names_starting(mlm, {"cls.predictions."}));
    CHECK(group_of(mlm, ParamGroup::Head).size() == 5);

    // Adapters: LoRA tensors sit in their block, prompt/prefix tensors in the head.
    TensorInfo lora, prompt;
    lora.name = "h.1.attn.lora_A", lora.layer = 1;
    prompt.name = "prompt.embedding";
    CHECK(param_group(lora) == ParamGroup::Block);
    CHECK(param_group(prompt) == ParamGroup::Head);
}

TEST_CASE("freeze: presets on GPT-2 with the LM head and with a classifier") {
    TensorTable lm = small_gpt2(0), cls = small_gpt2(2);
    CHECK(frozen_names(frozen_with(lm, "embeddings")) == Names{"wte.weight", "wpe.weight"});

    Names two = frozen_names(frozen_with(lm, "layers:2"));
    CHECK(two == names_starting(lm, {"h.0.", "h.1."}));
    CHECK(two.size() == 24);
    CHECK(frozen_names(frozen_with(lm, "layers:3")) == names_starting(lm, {"h."}));

    CHECK(trainable_names(frozen_with(cls, "body")) == Names{"ln_f.weight", "ln_f.bias", "score.weight"});
    CHECK(trainable_names(frozen_with(lm, "body")) == Names{"ln_f.weight", "ln_f.bias"});

    // Items combine, spaces around them are ignored, overlaps are fine.
    CHECK(frozen_names(frozen_with(lm, "embeddings, layers:1 ,wte.weight")) ==
          names_starting(lm, {"wte.", "wpe.", "h.0."}));
}

TEST_CASE("freeze: glob patterns on BERT") {
    TensorTable bert = small_bert();
    Names low = frozen_names(frozen_with(bert, "encoder.layer.[0-1].*"));
    CHECK(low == names_starting(bert, {"encoder.layer.0.", "encoder.layer.1."}));
    CHECK(low.size() == 24);

    Names layernorms = {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"};
    for (int l = 0; l < 3; l++)
        for (const char* where : {"attention.output.", "output."})
            for (const char* what : {"weight", "bias"})
                layernorms.insert("encoder.layer." + std::to_string(l) + "." + where + "LayerNorm." + what);
    CHECK(frozen_names(frozen_with(bert, "*.LayerNorm.*")) == layernorms);

    CHECK(frozen_names(frozen_with(bert, "classifier.bias")) == Names{"classifier.bias"});
    CHECK(trainable_names(frozen_with(bert, "body")) ==
          Names{"pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"});
    CHECK(trainable_names(frozen_with(bert, "body,pooler.*")) == Names{"classifier.weight", "classifier.bias"});
}

TEST_CASE("freeze: each bad spec is a one-line error naming it, and the table is left as it was") {
    const std::string range = ": K must be in 1..3 (the model has 3 layers)";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"nope.*", "--freeze nope.*: matches no tensor"},
        {"embeddings,nope", "--freeze nope: matches no tensor"},
        {"h.9.*", "--freeze h.9.*: matches no tensor"},
        {"layers:0", "--freeze layers:0" + range},
        {"layers:4", "--freeze layers:4" + range},
        {"layers:", "--freeze layers:" + range},
        {"layers:x", "--freeze layers:x" + range},
        {"layers:-1", "--freeze layers:-1" + range},
        {"layers:1.5", "--freeze layers:1.5" + range},
        {"layers:99999999999", "--freeze layers:99999999999" + range},
        {"", "--freeze '': empty item in the list"},
        {"embeddings,,layers:1", "--freeze 'embeddings,,layers:1': empty item in the list"},
        {"embeddings,", "--freeze 'embeddings,': empty item in the list"},
        {" ", "--freeze ' ': empty item in the list"},
        {"body,ln_f.*", "--freeze body,ln_f.*: nothing left to train"},
        {"*", "--freeze *: nothing left to train"},
    };
    for (const auto& [spec, message] : cases) {
        TensorTable lm = small_gpt2(0);
        CHECK_MESSAGE(error_of([&] { apply_freeze(lm, spec, 3); }) == message, "spec '", spec, "'");
        CHECK_MESSAGE(frozen_names(lm).empty(), "spec '", spec, "'");
    }
    // Tensors frozen before count too: freezing the rest leaves nothing.
    TensorTable lm = small_gpt2(0);
    apply_freeze(lm, "ln_f.*", 3);
    CHECK(error_of([&] { apply_freeze(lm, "body", 3); }) == "--freeze body: nothing left to train");
    CHECK(frozen_names(lm) == Names{"ln_f.weight", "ln_f.bias"});
}

TEST_CASE("freeze: layer-wise lr decay on a 3-layer model against hand-computed scales") {
    // BEiT: scale = decay^(L+1-id), id 0 embeddings, 1..3 blocks 0..2, 4 head.
    auto check_scales = [](TensorTable table, float decay, const double (&want)[5], double tol) {
        apply_layer_lr_decay(table, decay, 3);
        for (const TensorInfo& t : table.tensors) {
            const std::string& name = t.name;
            int id = 4;
            if (name == "wte.weight" || name == "wpe.weight" || name.rfind("embeddings.", 0) == 0) id = 0;
            for (int l = 0; l < 3; l++)
                for (const std::string block : {"h.", "encoder.layer."})
                    if (name.rfind(block + std::to_string(l) + ".", 0) == 0) id = l + 1;
            CHECK_MESSAGE(std::fabs(t.lr_scale - want[id]) <= tol * want[id], t.name, " decay ", decay);
        }
    };
    const double halves[5] = {0.0625, 0.125, 0.25, 0.5, 1.0};
    const double eighths[5] = {0.4096, 0.512, 0.64, 0.8, 1.0};
    const double beit_base[5] = {0.17850625, 0.274625, 0.4225, 0.65, 1.0};
    const double ones[5] = {1, 1, 1, 1, 1};
    // Powers of 1/2 are exact in float; 0.8f and 0.65f are within 2^-24 of 0.8
    // and 0.65, and their 4th powers within 4 times that, hence 1e-6.
    check_scales(small_gpt2(2), 0.5f, halves, 0.0);
    check_scales(small_gpt2(0), 0.8f, eighths, 1e-6);
    check_scales(small_bert(), 0.65f, beit_base, 1e-6);
    check_scales(small_bert(), 1.0f, ones, 0.0);

    TensorTable table = small_gpt2(2);
    apply_layer_lr_decay(table, 0.5f, 3);
    apply_layer_lr_decay(table, 1.0f, 3);  // a second call replaces the scales
    for (const TensorInfo& t : table.tensors) CHECK(t.lr_scale == 1.0f);

    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<std::pair<float, std::string>> bad = {
        {0.0f, "0"}, {-0.5f, "-0.5"}, {1.5f, "1.5"}, {1.0001f, "1.0001"}, {inf, "inf"}, {nan, "nan"}};
    for (const auto& [decay, shown] : bad) {
        TensorTable t = small_gpt2(2);
        CHECK(error_of([&] { apply_layer_lr_decay(t, decay, 3); }) ==
              "--layer-lr-decay " + shown + ": must be in (0, 1]");
    }
    // A block beyond L means the caller passed the wrong L: a bug, not a user error.
    CHECK_THROWS_AS(apply_layer_lr_decay(table, 0.5f, 2), std::logic_error);
}

TEST_CASE("freeze: describe_groups counts elements per group and merges neighbouring blocks") {
    // Hand counts for small_gpt2(2): embeddings 16*4 + 8*4 = 96; a block
    // 8 (ln_1) + 48+12 (c_attn) + 16+4 (attn c_proj) + 8 (ln_2) + 64+16 (c_fc)
    // + 64+4 (mlp c_proj) = 244, of which the ln_1 pair is 8; head 8 (ln_f) + 8 (score).
    TensorTable table = small_gpt2(2);
    CHECK(describe_groups(table) ==
          "embeddings   trainable 96  lr x1\n"
          "blocks 0-2   trainable 732  lr x1\n"
          "head         trainable 16  lr x1\n");

    TensorTable top = small_gpt2(2);
    apply_freeze(top, "embeddings,layers:2", 3);
    apply_layer_lr_decay(top, 0.5f, 3);
    CHECK(describe_groups(top) ==
          "embeddings   frozen 96\n"
          "blocks 0-1   frozen 488\n"
          "block 2      trainable 244  lr x0.5\n"
          "head         trainable 16  lr x1\n");

    TensorTable partial = small_gpt2(2);
    apply_freeze(partial, "*.ln_1.*", 3);
    apply_layer_lr_decay(partial, 0.8f, 3);
    CHECK(describe_groups(partial) ==
          "embeddings   trainable 96  lr x0.41\n"
          "blocks 0-2   trainable 708, frozen 24  lr x0.512-0.8\n"
          "head         trainable 16  lr x1\n");

    // The example in freeze.h: BERT-base, 2 labels. Embeddings (30522 + 512 + 2) * 768
    // + 2 * 768; a block 4*768*768 + 2*768*3072 + 9*768 + 3072; pooler 768*768 + 768,
    // classifier 2*768 + 2.
    BertConfig base;
    base.head = BertHead::Classifier;
    base.num_labels = 2;
    TensorTable bert = bert_param_table(base);
    apply_freeze(bert, "embeddings,layers:10", 12);
    apply_layer_lr_decay(bert, 0.8f, 12);
    CHECK(describe_groups(bert) ==
          "embeddings   frozen 23837184\n"
          "blocks 0-9   frozen 70878720\n"
          "blocks 10-11 trainable 14175744  lr x0.64-0.8\n"
          "head         trainable 592130  lr x1\n");
}

TEST_CASE("freeze: adamw_step steps each tensor as a param group at lr*lr_scale and skips frozen ones") {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    Arena arena(*be);
    const int n = 37;  // a vector body and a scalar tail
    arena.params.add("full", {n}, -1, true);
    arena.params.add("half", {n}, -1, true).lr_scale = 0.5f;
    arena.params.add("half_nodecay", {n}, -1, false).lr_scale = 0.5f;
    arena.params.add("frozen", {n}, -1, true).trainable = false;
    arena.allocate();
    CHECK(arena.grad("frozen") == nullptr);
    CHECK(arena.params.trainable_total == 3 * 48);  // 37 rounded up to 16 floats, three tensors

    // Dyadic values that float and double hold exactly.
    auto param0 = [](int i, int k) { return (i - 18 + k) / 16.0; };
    auto grad = [](int i, int k) { return ((i * 7 + 3 * k) % 11 - 5) / 8.0; };
    const std::vector<std::string> names = {"full", "half", "half_nodecay", "frozen"};
    for (int k = 0; k < 4; k++) {
        std::vector<float> p(n), g(n);
        for (int i = 0; i < n; i++) p[i] = (float)param0(i, k), g[i] = (float)grad(i, k);
        be->upload(arena.param(names[k]), p.data(), n * sizeof(float));
        if (k < 3) be->upload(arena.grad(names[k]), g.data(), n * sizeof(float));
    }
    AdamWConfig cfg;
    cfg.weight_decay = 0.1f;
    const float lr = 0.01f;
    adamw_step(arena, cfg, lr, 1, 0.0f);

    std::vector<float> got(n);
    be->download(got.data(), arena.param("frozen"), n * sizeof(float));
    for (int i = 0; i < n; i++) CHECK(got[i] == (float)param0(i, 3));

    for (int k = 0; k < 3; k++) {
        const double scale = k == 0 ? 1.0 : 0.5, wd = k == 2 ? 0.0 : cfg.weight_decay;
        be->download(got.data(), arena.param(names[k]), n * sizeof(float));
        // torch.optim.AdamW's first step with the group's lr = lr*scale, in double.
        std::vector<double> want(n);
        for (int i = 0; i < n; i++) {
            const double lr_group = lr * scale, b1 = cfg.beta1, b2 = cfg.beta2, gi = grad(i, k);
            const double m = (1 - b1) * gi, v = (1 - b2) * gi * gi;
            want[i] = param0(i, k) * (1 - lr_group * wd) -
                      lr_group * (m / (1 - b1)) / (std::sqrt(v / (1 - b2)) + cfg.eps);
        }
        CHECK_MESSAGE(rel_error(got, want, n) < 1e-6, names[k]);
        // And bitwise the kernel called directly at lr*scale.
        std::vector<float> direct(n), g(n), m(n, 0.0f), v(n, 0.0f);
        for (int i = 0; i < n; i++) direct[i] = (float)param0(i, k), g[i] = (float)grad(i, k);
        cpu::adamw(direct.data(), g.data(), m.data(), v.data(), n, (float)(lr * scale), cfg.beta1,
                   cfg.beta2, cfg.eps, (float)wd, 1, 1.0f);
        CHECK_MESSAGE(got == direct, names[k]);
    }
}
