#include "models/bert.h"

#include <limits>
#include <map>
#include <stdexcept>

#include "core/init.h"

void validate(const BertConfig& c, const std::string& what) {
    auto fail = [&](const std::string& problem) { throw std::runtime_error(what + ": " + problem); };
    auto in = [&](const char* name, int v, int lo, int hi) {
        if (v < lo || v > hi)
            fail(std::string(name) + " " + std::to_string(v) + " out of range [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]");
    };
    in("layers", c.L, 1, 1024);
    in("channels", c.C, 1, 65536);
    in("intermediate size", c.I, 1, 1 << 20);
    in("max_T", c.max_T, 1, 65536);
    in("vocab", c.V, 1, 1 << 24);
    in("token types", c.types, 1, 65536);
    if (c.NH < 1 || c.C % c.NH != 0)
        fail("heads " + std::to_string(c.NH) + " do not divide channels " + std::to_string(c.C));
    if (c.head == BertHead::Classifier) in("num_labels", c.num_labels, 2, 65536);
    else if (c.num_labels != 0) fail("num_labels " + std::to_string(c.num_labels) + " without a classifier head");
    for (float p : {c.hidden_pdrop, c.attn_pdrop, c.classifier_pdrop})
        if (!(p >= 0.0f && p < 1.0f)) fail("dropout " + std::to_string(p) + " not in [0, 1)");
    if (!(c.ln_eps > 0.0f)) fail("layer_norm_eps must be > 0");
    if (c.lora.r && c.lora.targets.empty()) fail("LoRA rank " + std::to_string(c.lora.r) + " without targets");
    validate(c.prompt, what);
    if (c.prompt.n >= c.max_T)
        fail(std::to_string(c.prompt.n) + " virtual tokens leave no room in the context of " + std::to_string(c.max_T));
}

static std::string layer_name(int l, const char* rest) { return "encoder.layer." + std::to_string(l) + "." + rest; }

// Hugging Face's names (see bert.h); decay as the HF Trainer applies it:
// everything but biases and LayerNorm parameters.
TensorTable bert_param_table(const BertConfig& cfg) {
    const int C = cfg.C, I = cfg.I;
    TensorTable p;
    p.add("embeddings.word_embeddings.weight", {cfg.V, C}, -1, true);
    p.add("embeddings.position_embeddings.weight", {cfg.max_T, C}, -1, true);
    p.add("embeddings.token_type_embeddings.weight", {cfg.types, C}, -1, true);
    p.add("embeddings.LayerNorm.weight", {C});
    p.add("embeddings.LayerNorm.bias", {C});
    for (int l = 0; l < cfg.L; l++) {
        p.add(layer_name(l, "attention.self.qkv.weight"), {3 * C, C}, l, true);
        p.add(layer_name(l, "attention.self.qkv.bias"), {3 * C}, l);
        p.add(layer_name(l, "attention.output.dense.weight"), {C, C}, l, true);
        p.add(layer_name(l, "attention.output.dense.bias"), {C}, l);
        p.add(layer_name(l, "attention.output.LayerNorm.weight"), {C}, l);
        p.add(layer_name(l, "attention.output.LayerNorm.bias"), {C}, l);
        p.add(layer_name(l, "intermediate.dense.weight"), {I, C}, l, true);
        p.add(layer_name(l, "intermediate.dense.bias"), {I}, l);
        p.add(layer_name(l, "output.dense.weight"), {C, I}, l, true);
        p.add(layer_name(l, "output.dense.bias"), {C}, l);
        p.add(layer_name(l, "output.LayerNorm.weight"), {C}, l);
        p.add(layer_name(l, "output.LayerNorm.bias"), {C}, l);
    }
    if (cfg.head != BertHead::MaskedLM) {
        p.add("pooler.dense.weight", {C, C}, -1, true);
        p.add("pooler.dense.bias", {C});
    }
    if (cfg.head == BertHead::Classifier) {
        p.add("classifier.weight", {cfg.num_labels, C}, -1, true);
        p.add("classifier.bias", {cfg.num_labels});
    }
    if (cfg.head == BertHead::MaskedLM) {
        p.add("cls.predictions.transform.dense.weight", {C, C}, -1, true);
        p.add("cls.predictions.transform.dense.bias", {C});
        p.add("cls.predictions.transform.LayerNorm.weight", {C});
        p.add("cls.predictions.transform.LayerNorm.bias", {C});
        p.add("cls.predictions.bias", {cfg.V});
    }
    add_lora_params(p, cfg.lora, "bert", cfg.L, C, I);
    add_prompt_params(p, cfg.prompt, cfg.L, C);
    return p;
}

ConfigFields bert_config_fields(const BertConfig& c) {
    ConfigFields f = {{"max_T", c.max_T}, {"V", c.V},  {"types", c.types},      {"L", c.L},
                      {"NH", c.NH},       {"C", c.C},  {"I", c.I},              {"head", (int)c.head},
                      {"num_labels", c.num_labels}};
    add_lora_fields(f, c.lora, "bert");
    add_prompt_fields(f, c.prompt);
    return f;
}

BertConfig bert_config_from_fields(const ConfigFields& fields, const std::string& what) {
    BertConfig cfg;
    std::map<std::string, int64_t> left(fields.begin(), fields.end());
    int head = 0;
    int* slots[] = {&cfg.max_T, &cfg.V, &cfg.types, &cfg.L, &cfg.NH, &cfg.C, &cfg.I, &head, &cfg.num_labels};
    const ConfigFields names = bert_config_fields(cfg);  // the fields without LoRA
    cfg.lora = lora_from_fields(fields, "bert", what);
    cfg.prompt = prompt_from_fields(fields, what);
    for (auto it = left.begin(); it != left.end();)
        it = it->first.rfind("lora_", 0) == 0 || it->first.rfind("prompt_", 0) == 0 ? left.erase(it) : std::next(it);
    for (size_t i = 0; i < names.size(); i++) {
        auto it = left.find(names[i].first);
        if (it == left.end()) throw std::runtime_error(what + ": missing config field '" + names[i].first + "'");
        if (it->second < std::numeric_limits<int>::min() || it->second > std::numeric_limits<int>::max())
            throw std::runtime_error(what + ": config field '" + it->first + "' = " + std::to_string(it->second) +
                                     " out of range");
        *slots[i] = (int)it->second;
        left.erase(it);
    }
    if (!left.empty()) throw std::runtime_error(what + ": unexpected config field '" + left.begin()->first + "'");
    if (head < 0 || head > 2) throw std::runtime_error(what + ": head " + std::to_string(head) + " is not 0, 1 or 2");
    cfg.head = (BertHead)head;
    validate(cfg, what);
    return cfg;
}

BERT::BERT(Backend& be, const BertConfig& config, int b, int t) : Model(be, b, t), cfg(config) {
    validate(cfg, "model config");
    check_context(B, T, cfg.prompt.n, cfg.max_T);
    arena.params = bert_param_table(cfg);
}

// Activations are declared here, once the caller has settled what trains:
// the inputs of frozen linear layers are not kept per block.
void BERT::declare_activations() {
    const int C = cfg.C, I = cfg.I;
    Backend& be = arena.be;
    // The blocks see T real tokens plus any prepended virtual ones; with
    // prefixes, attention sees n more keys and the qkv table n more rows.
    TensorTable& a = arena.acts;
    const bool prefixed = cfg.prompt.kind == PromptKind::Prefix;
    const int real_T = T, n = cfg.prompt.n, T = real_T + (prefixed ? 0 : n);
    // Sizes in 64 bits: attention's saved floats (B NH T^2 on the CPU) can pass
    // an int, which TensorTable::add then refuses.
    const int64_t att = (int64_t)be.attention_saved_floats(B, prefixed ? n + T : T, cfg.NH);
    const int64_t N = (int64_t)B * T, qkv_rows = N + (prefixed ? n : 0);
    std::map<std::string, int> shared;  // inputs kept once for all blocks: name -> width
    for (int l = 0; l < cfg.L; l++) {
        // A linear layer's input is kept per block only when backward needs it.
        auto input = [&](const char* name, int width, std::initializer_list<std::string> paths) {
            if (needs_input(paths)) a.add(layer_name(l, name), {B, T, width}, l);
            else shared.insert({name, width});
        };
        // ln2, the block's output, is the next block's qkv input.
        const std::string next = layer_name(l + 1, "attention.self.");
        input("ln2", C, {next + "qkv", next + "query", next + "key", next + "value"});
        input("atty", C, {layer_name(l, "attention.output.dense")});
        input("ln1", C, {layer_name(l, "intermediate.dense")});
        input("fch_gelu", I, {layer_name(l, "output.dense")});
        a.add(layer_name(l, "qkv"), {qkv_rows, 3 * C}, l);
        a.add(layer_name(l, "att"), {att}, l);
        for (const char* n : {"res1", "res2"}) a.add(layer_name(l, n), {B, T, C}, l);
        for (const char* n : {"ln1_mean", "ln1_rstd", "ln2_mean", "ln2_rstd"}) a.add(layer_name(l, n), {B, T}, l);
        a.add(layer_name(l, "fch"), {B, T, I}, l);
    }
    for (const auto& [name, width] : shared) a.add("shared." + name, {B, T, width});
    for (const char* n : {"emb", "encoded", "proj", "dx", "dr", "dproj", "datty"}) a.add(n, {B, T, C});
    a.add("emb_mean", {B, T});
    a.add("emb_rstd", {B, T});
    a.add("dqkv", {qkv_rows, 3 * C});
    a.add("dfch", {B, T, I});
    a.add("dfch_gelu", {B, T, I});
    for (const char* n : {"tokens", "types", "key_mask"}) a.add(n, {B, T});  // ints in float-sized slots
    if (cfg.head == BertHead::Classifier) ClassifierHead::declare(a, B, C, cfg.num_labels);
    if (cfg.head == BertHead::MaskedLM) {
        // Sized for every position masked: the trainer masks 15%, but a batch without
        // targets runs the head everywhere.
        for (const char* n : {"mlm.picked", "mlm.h", "mlm.h_gelu", "mlm.ln", "mlm.dA", "mlm.dB"}) a.add(n, {N, C});
        for (const char* n : {"mlm.ln_mean", "mlm.ln_rstd", "mlm.losses", "mlm.rows", "mlm.targets"}) a.add(n, {N});
        a.add("mlm.logits", {N, cfg.V});  // also holds dlogits during backward
    }
    LoraLayers::declare(a, cfg.lora, "bert", cfg.L, C, I, N);
    Prompts::declare(a, cfg.prompt, cfg.L, C, B, real_T);
}

void BERT::allocate() {
    declare_activations();
    arena.allocate();
    const Arena& A = arena;
    auto param = [&](const std::string& n) { return A.params.find(n) ? A.param(n) : nullptr; };
    auto grad = [&](const std::string& n) { return A.params.find(n) ? A.grad(n) : nullptr; };
    wte = param("embeddings.word_embeddings.weight"), dwte = grad("embeddings.word_embeddings.weight");
    wpe = param("embeddings.position_embeddings.weight"), dwpe = grad("embeddings.position_embeddings.weight");
    wtt = param("embeddings.token_type_embeddings.weight"), dwtt = grad("embeddings.token_type_embeddings.weight");
    lnew = param("embeddings.LayerNorm.weight"), dlnew = grad("embeddings.LayerNorm.weight");
    lneb = param("embeddings.LayerNorm.bias"), dlneb = grad("embeddings.LayerNorm.bias");
    params.resize(cfg.L), grads.resize(cfg.L), acts.resize(cfg.L);
    for (int l = 0; l < cfg.L; l++) {
        auto views = [&](auto get) {
            auto n = [&](const char* rest) { return get(layer_name(l, rest)); };
            return Block{n("attention.self.qkv.weight"),         n("attention.self.qkv.bias"),
                         n("attention.output.dense.weight"),     n("attention.output.dense.bias"),
                         n("attention.output.LayerNorm.weight"), n("attention.output.LayerNorm.bias"),
                         n("intermediate.dense.weight"),         n("intermediate.dense.bias"),
                         n("output.dense.weight"),               n("output.dense.bias"),
                         n("output.LayerNorm.weight"),           n("output.LayerNorm.bias")};
        };
        params[l] = views(param);
        grads[l] = views(grad);
        auto act = [&](const char* n) {
            return A.acts.find(layer_name(l, n)) ? A.act(layer_name(l, n)) : A.act(std::string("shared.") + n);
        };
        acts[l] = BlockActs{act("qkv"), act("att"),      act("atty"),     act("res1"),     act("ln1"),
                            act("ln1_mean"), act("ln1_rstd"), act("fch"), act("fch_gelu"), act("res2"),
                            act("ln2"),  act("ln2_mean"), act("ln2_rstd")};
    }
    emb = A.act("emb"), emb_mean = A.act("emb_mean"), emb_rstd = A.act("emb_rstd"), encoded = A.act("encoded");
    proj = A.act("proj"), dx = A.act("dx"), dr = A.act("dr"), dproj = A.act("dproj"), datty = A.act("datty");
    dqkv = A.act("dqkv"), dfch = A.act("dfch"), dfch_gelu = A.act("dfch_gelu");
    tokens = (int*)A.act("tokens"), types = (int*)A.act("types"), key_mask = (int*)A.act("key_mask");
    poolw = param("pooler.dense.weight"), poolb = param("pooler.dense.bias");
    dpoolw = grad("pooler.dense.weight"), dpoolb = grad("pooler.dense.bias");
    clsw = param("classifier.weight"), clsb = param("classifier.bias");
    dclsw = grad("classifier.weight"), dclsb = grad("classifier.bias");
    mlmw = param("cls.predictions.transform.dense.weight"), mlmb = param("cls.predictions.transform.dense.bias");
    dmlmw = grad("cls.predictions.transform.dense.weight"), dmlmb = grad("cls.predictions.transform.dense.bias");
    mlmlnw = param("cls.predictions.transform.LayerNorm.weight"), mlmlnb = param("cls.predictions.transform.LayerNorm.bias");
    dmlmlnw = grad("cls.predictions.transform.LayerNorm.weight"), dmlmlnb = grad("cls.predictions.transform.LayerNorm.bias");
    mlmbias = param("cls.predictions.bias"), dmlmbias = grad("cls.predictions.bias");
    if (cfg.head == BertHead::Classifier) {
        cls.bind(A, cfg.C, cfg.num_labels);
        cls.poolw = poolw, cls.poolb = poolb, cls.w = clsw, cls.bias = clsb;
        cls.dpoolw = dpoolw, cls.dpoolb = dpoolb, cls.dw = dclsw, cls.dbias = dclsb;
    }
    if (cfg.head == BertHead::MaskedLM) {
        auto act = [&](const char* n) { return A.act(n); };
        mlm = MlmActs{act("mlm.picked"), act("mlm.h"), act("mlm.h_gelu"), act("mlm.ln"), act("mlm.ln_mean"),
                      act("mlm.ln_rstd"), act("mlm.logits"), act("mlm.losses"), act("mlm.dA"), act("mlm.dB"),
                      (int*)act("mlm.rows"), (int*)act("mlm.targets")};
    }
    lora.bind(A, cfg.lora, "bert", cfg.L, cfg.C, cfg.I);
    prompts.bind(A, cfg.prompt, cfg.L, cfg.C);
    for (BlockActs& a : acts) a.qkv += prompts.qkv_offset();  // after the prefix rows
    dqkv += prompts.qkv_offset();
    set_backward_floor(
        cfg.L, [](const TensorInfo& t) { return t.name.rfind("embeddings.", 0) == 0; }, prompts.prepends(), prompts.prefixes());
}

void BERT::init_weights(uint64_t init_seed) {
    for (const TensorInfo& t : arena.params.tensors) {
        const std::string& n = t.name;
        if (is_adapter_tensor(n)) continue;  // init_lora and Prompts::init below
        const bool is_bias = n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0;
        const bool is_ln = n.find("LayerNorm") != std::string::npos;
        float* dst = arena.param_mem + t.offset;
        if (is_bias || is_ln) {
            init_constant(arena.be, dst, t.numel(), is_bias ? 0.0f : 1.0f);
        } else {
            // nn.Embedding(padding_idx=0): the [PAD] row starts at zero.
            const size_t pad = n == "embeddings.word_embeddings.weight" ? (size_t)cfg.C : 0;
            init_normal(arena.be, dst, t.numel(), 0.02f, init_seed, (uint32_t)(&t - arena.params.tensors.data()), 0, pad);
        }
    }
    init_lora(arena, cfg.lora, "bert", cfg.L, cfg.C, cfg.I, init_seed);
    Prompts::init(arena, cfg.prompt, init_seed);
}

// Dropout sites: 0 after the embeddings, three per block, then the classifier's.
static uint32_t site_of(int layer, int k) { return 1 + 3 * (uint32_t)layer + (uint32_t)k; }
enum { SITE_ATTN_PROBS = 0, SITE_ATTN_OUT = 1, SITE_FFN_OUT = 2 };

float BERT::forward(const Batch& real) {
    check_batch(real, B, T, cfg.V);
    if (real.labels && cfg.head != BertHead::Classifier) throw std::runtime_error("labels need a classifier head");
    if (real.targets && cfg.head != BertHead::MaskedLM) throw std::runtime_error("targets need a masked-LM head");
    const int real_N = real.b * real.t;
    typed = real.types != nullptr;
    if (typed)
        for (int i = 0; i < real_N; i++)
            if (real.types[i] < 0 || real.types[i] >= cfg.types)
                throw std::runtime_error("token type " + std::to_string(real.types[i]) + " out of range for " +
                                         std::to_string(cfg.types) + " types");
    // From here on the sequence includes any prepended virtual tokens.
    const PromptedBatch prompted(real, prompts.extra_tokens());
    const Batch& batch = prompted.batch;
    const int b = batch.b, t = batch.t;
    Backend& be = arena.be;
    const int C = cfg.C, I = cfg.I, NH = cfg.NH, N = b * t;
    const size_t NC = (size_t)N * C;
    cur_B = b, cur_T = t;
    be.upload(tokens, real.tokens, real_N * sizeof(int));
    if (typed) be.upload(types, real.types, real_N * sizeof(int));
    masked = upload_key_mask(be, key_mask, batch);
    const int* mask = masked ? key_mask : nullptr;
    prompts.encode(be);
    if (prompts.prefixes()) prompts.prepare_prefix(be, batch, masked);

    // x = dropout(LN(word[tokens] + position[t] + type[types]))          (B,T,C)
    // (prompts: their rows first, type 0; prefixes: real tokens from position n)
    if (prompts.prepends())
        prompts.embed(be, emb, tokens, typed ? types : nullptr, wte, wpe, wtt, b, real.t);
    else
        be.embedding_forward(emb, tokens, typed ? types : nullptr, wte, wpe + (size_t)prompts.position_offset() * C, wtt,
                             b, t, C);
    be.layernorm_forward(encoded, emb_mean, emb_rstd, emb, lnew, lneb, N, C, cfg.ln_eps);
    be.dropout_forward(encoded, encoded, NC, pdrop(cfg.hidden_pdrop), dropout_key(0));
    const float* x = encoded;
    for (int l = 0; l < cfg.L; l++) {
        const Block& p = params[l];
        const BlockActs& a = acts[l];
        // ln1 = LN(x + dropout(attn(x W_qkv^T + b_qkv) W_o^T + b_o))
        be.matmul_forward(a.qkv, x, p.qkvw, p.qkvb, N, C, 3 * C);
        lora.forward(*this, l, "attention.self.qkv.weight", a.qkv, x, N);
        prompts.attention_forward(be, l, a.atty, a.att, a.qkv, mask, b, t, NH, false, pdrop(cfg.attn_pdrop),
                                  dropout_key(site_of(l, SITE_ATTN_PROBS)));
        be.matmul_forward(proj, a.atty, p.attprojw, p.attprojb, N, C, C);
        lora.forward(*this, l, "attention.output.dense.weight", proj, a.atty, N);
        be.dropout_forward(proj, proj, NC, pdrop(cfg.hidden_pdrop), dropout_key(site_of(l, SITE_ATTN_OUT)));
        be.add(a.res1, x, proj, NC);
        be.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, a.res1, p.ln1w, p.ln1b, N, C, cfg.ln_eps);
        // ln2 = LN(ln1 + dropout(gelu(ln1 W_i^T + b_i) W_out^T + b_out))
        be.matmul_forward(a.fch, a.ln1, p.fcw, p.fcb, N, C, I);
        lora.forward(*this, l, "intermediate.dense.weight", a.fch, a.ln1, N);
        be.gelu_forward(a.fch_gelu, a.fch, (size_t)N * I, GeluKind::Erf);
        be.matmul_forward(proj, a.fch_gelu, p.fcprojw, p.fcprojb, N, I, C);
        lora.forward(*this, l, "output.dense.weight", proj, a.fch_gelu, N);
        be.dropout_forward(proj, proj, NC, pdrop(cfg.hidden_pdrop), dropout_key(site_of(l, SITE_FFN_OUT)));
        be.add(a.res2, a.ln1, proj, NC);
        be.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, p.ln2w, p.ln2b, N, C, cfg.ln_eps);
        x = a.ln2;
    }

    if (cfg.head == BertHead::Classifier) {
        // The pooler reads each sequence's first real token, [CLS].
        std::vector<int> rows(b);
        for (int i = 0; i < b; i++) rows[i] = i * t + prompts.extra_tokens();
        have_targets = batch.labels != nullptr;
        return cls.forward(be, x, rows.data(), batch.labels, b, pdrop(cfg.classifier_pdrop),
                           dropout_key(site_of(cfg.L, 0)));
    }
    if (cfg.head != BertHead::MaskedLM) return 0.0f;
    // The head runs at the positions with a target (all of them without targets):
    // logits = LN(gelu(x[rows] W^T + b)) word_embeddings^T + bias      (M,V)
    std::vector<int> rows, row_targets;
    for (int i = 0; i < N; i++) {
        if (batch.targets && batch.targets[i] >= cfg.V)
            throw std::runtime_error("target id " + std::to_string(batch.targets[i]) + " out of range for vocab " +
                                     std::to_string(cfg.V));
        if (!batch.targets || batch.targets[i] >= 0) {
            rows.push_back(i);
            row_targets.push_back(batch.targets ? batch.targets[i] : -1);
        }
    }
    const int M = mlm_rows = (int)rows.size();
    have_targets = batch.targets != nullptr && M > 0;
    if (M == 0) return 0.0f;
    be.upload(mlm.rows, rows.data(), M * sizeof(int));
    be.embedding_forward(mlm.picked, mlm.rows, nullptr, x, nullptr, nullptr, 1, M, C);
    be.matmul_forward(mlm.h, mlm.picked, mlmw, mlmb, M, C, C);
    be.gelu_forward(mlm.h_gelu, mlm.h, (size_t)M * C, GeluKind::Erf);
    be.layernorm_forward(mlm.ln, mlm.ln_mean, mlm.ln_rstd, mlm.h_gelu, mlmlnw, mlmlnb, M, C, cfg.ln_eps);
    be.matmul_forward(mlm.logits, mlm.ln, wte, mlmbias, M, C, cfg.V);
    if (!have_targets) return 0.0f;
    be.upload(mlm.targets, row_targets.data(), M * sizeof(int));
    be.crossentropy(mlm.losses, nullptr, mlm.logits, mlm.targets, M, cfg.V, cfg.V, 0.0f);
    return (float)(be.sum(mlm.losses, M) / M);
}

void BERT::backward(float loss_scale) {
    if (!have_targets) throw std::logic_error("backward() needs a forward() with targets or labels");
    Backend& be = arena.be;
    const int b = cur_B, t = cur_T, C = cfg.C, I = cfg.I, NH = cfg.NH, N = b * t;
    const size_t NC = (size_t)N * C;
    const int* mask = masked ? key_mask : nullptr;

    // dx = dL/d(the last block's output)
    prompts.begin_backward(be);
    be.zero(dx, NC * sizeof(float));
    if (cfg.head == BertHead::Classifier) {
        cls.backward(be, dx, b, loss_scale, pdrop(cfg.classifier_pdrop), dropout_key(site_of(cfg.L, 0)));
    } else {
        const int M = mlm_rows;
        const size_t MC = (size_t)M * C;
        be.crossentropy(mlm.losses, mlm.logits, mlm.logits, mlm.targets, M, cfg.V, cfg.V, loss_scale / M);
        const float* dlogits = mlm.logits;
        float *dln = mlm.dA, *dh_gelu = mlm.dB, *dh = mlm.dA, *dpicked = mlm.dB;
        be.zero(dln, MC * sizeof(float));
        be.matmul_backward(dln, dwte, dmlmbias, dlogits, mlm.ln, wte, M, C, cfg.V);
        be.zero(dh_gelu, MC * sizeof(float));
        be.layernorm_backward(dh_gelu, dmlmlnw, dmlmlnb, dln, mlm.h_gelu, mlmlnw, mlm.ln_mean, mlm.ln_rstd, M, C);
        be.zero(dh, MC * sizeof(float));
        be.gelu_backward(dh, dh_gelu, mlm.h, MC, GeluKind::Erf);
        be.zero(dpicked, MC * sizeof(float));
        be.matmul_backward(dpicked, dmlmw, dmlmb, dh, mlm.picked, mlmw, M, C, C);
        be.embedding_backward(dx, nullptr, nullptr, dpicked, mlm.rows, nullptr, 1, M, C);
    }

    // A residual branch gets its gradient through its dropout (regenerating the mask).
    auto branch_grad = [&](const float* d, float p, uint32_t site) -> const float* {
        if (p == 0.0f) return d;
        be.zero(dproj, NC * sizeof(float));
        be.dropout_backward(dproj, d, NC, p, dropout_key(site));
        return dproj;
    };
    const float p_hidden = pdrop(cfg.hidden_pdrop);
    for (int l = cfg.L - 1; l >= lowest_trained_block; l--) {
        const Block& p = params[l];
        const Block& g = grads[l];
        const BlockActs& a = acts[l];
        const float* x_in = l ? acts[l - 1].ln2 : encoded;
        // dx = dL/d ln2  ->  dr = dL/d ln1 (the residual plus the FFN branch)
        be.zero(dr, NC * sizeof(float));
        be.layernorm_backward(dr, g.ln2w, g.ln2b, dx, a.res2, p.ln2w, a.ln2_mean, a.ln2_rstd, N, C);
        const float* dout = branch_grad(dr, p_hidden, site_of(l, SITE_FFN_OUT));
        be.zero(dfch_gelu, (size_t)N * I * sizeof(float));
        be.matmul_backward(dfch_gelu, g.fcprojw, g.fcprojb, dout, a.fch_gelu, p.fcprojw, N, I, C);
        lora.backward(*this, l, "output.dense.weight", dfch_gelu, dout, a.fch_gelu, N);
        be.zero(dfch, (size_t)N * I * sizeof(float));
        be.gelu_backward(dfch, dfch_gelu, a.fch, (size_t)N * I, GeluKind::Erf);
        be.matmul_backward(dr, g.fcw, g.fcb, dfch, a.ln1, p.fcw, N, C, I);
        lora.backward(*this, l, "intermediate.dense.weight", dr, dfch, a.ln1, N);
        // dr = dL/d ln1  ->  dx = dL/d x_in (the residual plus the attention branch)
        be.zero(dx, NC * sizeof(float));
        be.layernorm_backward(dx, g.ln1w, g.ln1b, dr, a.res1, p.ln1w, a.ln1_mean, a.ln1_rstd, N, C);
        dout = branch_grad(dx, p_hidden, site_of(l, SITE_ATTN_OUT));
        be.zero(datty, NC * sizeof(float));
        be.matmul_backward(datty, g.attprojw, g.attprojb, dout, a.atty, p.attprojw, N, C, C);
        lora.backward(*this, l, "attention.output.dense.weight", datty, dout, a.atty, N);
        prompts.attention_backward(be, l, dqkv, datty, a.qkv, a.att, mask, b, t, NH, false, pdrop(cfg.attn_pdrop),
                                   dropout_key(site_of(l, SITE_ATTN_PROBS)));
        be.matmul_backward(dx, g.qkvw, g.qkvb, dqkv, x_in, p.qkvw, N, C, 3 * C);
        lora.backward(*this, l, "attention.self.qkv.weight", dx, dqkv, x_in, N);
    }
    if (embeddings_trained) {
        const float* dencoded = branch_grad(dx, p_hidden, 0);
        be.zero(dr, NC * sizeof(float));
        be.layernorm_backward(dr, dlnew, dlneb, dencoded, emb, lnew, emb_mean, emb_rstd, N, C);
        if (prompts.prepends())
            prompts.embed_backward(be, dwte, dwpe, dwtt, dr, tokens, typed ? types : nullptr, b, t - cfg.prompt.n);
        else
            be.embedding_backward(dwte, dwpe ? dwpe + (size_t)prompts.position_offset() * C : nullptr, dwtt, dr, tokens,
                                  typed ? types : nullptr, b, t, C);
    }
    prompts.encode_backward(be);
    have_targets = false;  // dlogits overwrote the logits
}

const float* BERT::logits_view(int& rows, int& cols) const {
    if (cfg.head == BertHead::Classifier) {
        rows = cur_B, cols = cfg.num_labels;
        return cls.logits;
    }
    if (cfg.head == BertHead::MaskedLM) {
        rows = mlm_rows, cols = cfg.V;
        return mlm.logits;
    }
    rows = cur_B * cur_T, cols = cfg.C;
    return hidden();
}
