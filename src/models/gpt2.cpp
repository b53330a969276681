#include "models/gpt2.h"

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "core/init.h"

void validate(const GPT2Config& c, const std::string& what) {
    auto fail = [&](const std::string& problem) { throw std::runtime_error(what + ": " + problem); };
    if (c.L < 1 || c.L > 1024) fail("layers " + std::to_string(c.L) + " out of range [1, 1024]");
    if (c.C < 1 || c.C > 65536) fail("channels " + std::to_string(c.C) + " out of range [1, 65536]");
    if (c.NH < 1 || c.C % c.NH != 0)
        fail("heads " + std::to_string(c.NH) + " do not divide channels " + std::to_string(c.C));
    if (c.max_T < 1 || c.max_T > 65536) fail("max_T " + std::to_string(c.max_T) + " out of range [1, 65536]");
    if (c.V < 1 || c.V > (1 << 24)) fail("vocab " + std::to_string(c.V) + " out of range [1, 2^24]");
    if (c.Vp < c.V || c.Vp > (1 << 24))
        fail("padded vocab " + std::to_string(c.Vp) + " smaller than vocab " + std::to_string(c.V));
    for (float p : {c.embd_pdrop, c.attn_pdrop, c.resid_pdrop})
        if (!(p >= 0.0f && p < 1.0f)) fail("dropout " + std::to_string(p) + " not in [0, 1)");
    if (c.lora.r && c.lora.targets.empty()) fail("LoRA rank " + std::to_string(c.lora.r) + " without targets");
    validate(c.prompt, what);
    if (c.prompt.n >= c.max_T)
        fail(std::to_string(c.prompt.n) + " virtual tokens leave no room in the context of " + std::to_string(c.max_T));
    if (c.num_labels != 0 && (c.num_labels < 2 || c.num_labels > 65536))
        fail("num_labels " + std::to_string(c.num_labels) + " out of range (0 for the LM head, or 2..65536)");
}

ConfigFields gpt2_config_fields(const GPT2Config& c) {
    ConfigFields f = {{"max_T", c.max_T}, {"V", c.V}, {"Vp", c.Vp}, {"L", c.L}, {"NH", c.NH}, {"C", c.C}};
    if (c.num_labels) f.push_back({"num_labels", c.num_labels});
    add_lora_fields(f, c.lora, "gpt2");
    add_prompt_fields(f, c.prompt);
    return f;
}

GPT2Config gpt2_config_from_fields(const ConfigFields& fields, const std::string& what) {
    GPT2Config cfg;
    std::map<std::string, int64_t> left(fields.begin(), fields.end());
    auto take = [&](const char* name, int& slot, bool required) {
        auto it = left.find(name);
        if (it == left.end()) {
            if (required) throw std::runtime_error(what + ": missing config field '" + name + "'");
            return;
        }
        if (it->second < std::numeric_limits<int>::min() || it->second > std::numeric_limits<int>::max())
            throw std::runtime_error(what + ": config field '" + it->first + "' = " + std::to_string(it->second) +
                                     " out of range");
        slot = (int)it->second;
        left.erase(it);
    };
    take("max_T", cfg.max_T, true), take("V", cfg.V, true), take("Vp", cfg.Vp, true);
    take("L", cfg.L, true), take("NH", cfg.NH, true), take("C", cfg.C, true);
    take("num_labels", cfg.num_labels, false);
    cfg.lora = lora_from_fields(fields, "gpt2", what);
    cfg.prompt = prompt_from_fields(fields, what);
    for (auto it = left.begin(); it != left.end();)
        it = it->first.rfind("lora_", 0) == 0 || it->first.rfind("prompt_", 0) == 0 ? left.erase(it) : std::next(it);
    if (!left.empty()) throw std::runtime_error(what + ": unexpected config field '" + left.begin()->first + "'");
    validate(cfg, what);
    return cfg;
}

static std::string block_name(int l, const char* rest) { return "h." + std::to_string(l) + "." + rest; }

// Tensor names follow Hugging Face's GPT2Model; matmul weights are stored
// (out, in) like nn.Linear, i.e. transposed from HF's Conv1D. Within a block
// the order is llm.c's, so its files map onto this table by position.
TensorTable gpt2_param_table(const GPT2Config& cfg) {
    const int C = cfg.C;
    TensorTable p;
    p.add("wte.weight", {cfg.Vp, C}, -1, cfg.decay_embeddings);
    p.add("wpe.weight", {cfg.max_T, C}, -1, cfg.decay_embeddings);
    for (int l = 0; l < cfg.L; l++) {
        p.add(block_name(l, "ln_1.weight"), {C}, l);
        p.add(block_name(l, "ln_1.bias"), {C}, l);
        p.add(block_name(l, "attn.c_attn.weight"), {3 * C, C}, l, true);
        p.add(block_name(l, "attn.c_attn.bias"), {3 * C}, l);
        p.add(block_name(l, "attn.c_proj.weight"), {C, C}, l, true);
        p.add(block_name(l, "attn.c_proj.bias"), {C}, l);
        p.add(block_name(l, "ln_2.weight"), {C}, l);
        p.add(block_name(l, "ln_2.bias"), {C}, l);
        p.add(block_name(l, "mlp.c_fc.weight"), {4 * C, C}, l, true);
        p.add(block_name(l, "mlp.c_fc.bias"), {4 * C}, l);
        p.add(block_name(l, "mlp.c_proj.weight"), {C, 4 * C}, l, true);
        p.add(block_name(l, "mlp.c_proj.bias"), {C}, l);
    }
    p.add("ln_f.weight", {C});
    p.add("ln_f.bias", {C});
    if (cfg.num_labels) p.add("score.weight", {cfg.num_labels, C}, -1, true);
    add_lora_params(p, cfg.lora, "gpt2", cfg.L, C, 4 * C);
    add_prompt_params(p, cfg.prompt, cfg.L, C);
    return p;
}

GPT2::GPT2(Backend& be, const GPT2Config& config, int b, int t)
    : Model(be, b, t), cfg(config) {
    validate(cfg, "model config");
    check_context(B, T, cfg.prompt.n, cfg.max_T);
    arena.params = gpt2_param_table(cfg);
}

// Activations are declared here, once the caller has settled what trains:
// the inputs of frozen linear layers are not kept per block.
void GPT2::declare_activations() {
    // The blocks see T real tokens plus any prepended virtual ones; with
    // prefixes, attention sees n more keys and the qkv table n more rows.
    const int C = cfg.C;
    TensorTable& a = arena.acts;
    Backend& be = arena.be;
    const int NH = cfg.NH, real_T = T, n = cfg.prompt.n, T = real_T + (cfg.prompt.kind == PromptKind::Prefix ? 0 : n);
    const bool prefixed = cfg.prompt.kind == PromptKind::Prefix;
    // Sizes in 64 bits: attention's saved floats (B NH T^2 on the CPU) can pass
    // an int, which TensorTable::add then refuses.
    const int64_t att = (int64_t)be.attention_saved_floats(B, prefixed ? n + T : T, NH);
    const int64_t qkv_rows = (int64_t)B * T + (prefixed ? n : 0);
    std::map<std::string, int> shared;  // inputs kept once for all blocks: name -> width
    for (int l = 0; l < cfg.L; l++) {
        // A linear layer's input is kept per block only when backward needs it.
        auto input = [&](const char* name, const char* path, int width) {
            if (needs_input({block_name(l, path)})) a.add(block_name(l, name), {B, T, width}, l);
            else shared.insert({name, width});
        };
        input("ln1", "attn.c_attn", C);
        a.add(block_name(l, "ln1_mean"), {B, T}, l);
        a.add(block_name(l, "ln1_rstd"), {B, T}, l);
        a.add(block_name(l, "qkv"), {qkv_rows, 3 * C}, l);
        a.add(block_name(l, "att"), {att}, l);
        input("atty", "attn.c_proj", C);
        a.add(block_name(l, "res2"), {B, T, C}, l);
        input("ln2", "mlp.c_fc", C);
        a.add(block_name(l, "ln2_mean"), {B, T}, l);
        a.add(block_name(l, "ln2_rstd"), {B, T}, l);
        a.add(block_name(l, "fch"), {B, T, 4 * C}, l);
        input("fch_gelu", "mlp.c_proj", 4 * C);
        a.add(block_name(l, "res3"), {B, T, C}, l);
    }
    for (const auto& [name, width] : shared) a.add("shared." + name, {B, T, width});
    for (const char* name : {"encoded", "proj", "lnf", "dres", "dproj", "dln", "datty"})
        a.add(name, {B, T, C});
    a.add("lnf_mean", {B, T});
    a.add("lnf_rstd", {B, T});
    if (cfg.num_labels) {
        ClassifierHead::declare(a, B, C, cfg.num_labels);
    } else {
        a.add("logits", {B, T, cfg.Vp});  // also holds dlogits during backward
        a.add("losses", {B, T});
    }
    a.add("dqkv", {qkv_rows, 3 * C});
    a.add("dfch", {B, T, 4 * C});
    a.add("dfch_gelu", {B, T, 4 * C});
    // Token ids are 4-byte ints kept in float-sized slots of the same block.
    a.add("tokens", {B, T});
    a.add("targets", {B, T});
    a.add("key_mask", {B, T});
    LoraLayers::declare(a, cfg.lora, "gpt2", cfg.L, C, 4 * C, (int64_t)B * T);
    Prompts::declare(a, cfg.prompt, cfg.L, C, B, real_T);
}

void GPT2::allocate() {
    declare_activations();
    arena.allocate();
    Arena& A = arena;
    wte = A.param("wte.weight"), dwte = A.grad("wte.weight");
    wpe = A.param("wpe.weight"), dwpe = A.grad("wpe.weight");
    lnfw = A.param("ln_f.weight"), dlnfw = A.grad("ln_f.weight");
    lnfb = A.param("ln_f.bias"), dlnfb = A.grad("ln_f.bias");
    params.resize(cfg.L);
    grads.resize(cfg.L);
    acts.resize(cfg.L);
    for (int l = 0; l < cfg.L; l++) {
        auto views = [&](auto get) {
            return Block{get(block_name(l, "ln_1.weight")),        get(block_name(l, "ln_1.bias")),
                         get(block_name(l, "attn.c_attn.weight")), get(block_name(l, "attn.c_attn.bias")),
                         get(block_name(l, "attn.c_proj.weight")), get(block_name(l, "attn.c_proj.bias")),
                         get(block_name(l, "ln_2.weight")),        get(block_name(l, "ln_2.bias")),
                         get(block_name(l, "mlp.c_fc.weight")),    get(block_name(l, "mlp.c_fc.bias")),
                         get(block_name(l, "mlp.c_proj.weight")),  get(block_name(l, "mlp.c_proj.bias"))};
        };
        params[l] = views([&](const std::string& n) { return A.param(n); });
        grads[l] = views([&](const std::string& n) { return A.grad(n); });
        auto act = [&](const char* n) {
            return A.acts.find(block_name(l, n)) ? A.act(block_name(l, n)) : A.act(std::string("shared.") + n);
        };
        acts[l] = BlockActs{act("ln1"), act("ln1_mean"), act("ln1_rstd"), act("qkv"),
                            act("att"), act("atty"),     act("res2"),     act("ln2"),
                            act("ln2_mean"), act("ln2_rstd"), act("fch"), act("fch_gelu"),
                            act("res3")};
    }
    encoded = A.act("encoded"), proj = A.act("proj"), lnf = A.act("lnf");
    lnf_mean = A.act("lnf_mean"), lnf_rstd = A.act("lnf_rstd");
    if (cfg.num_labels) {
        scorew = A.param("score.weight"), dscorew = A.grad("score.weight");
        head.bind(A, cfg.C, cfg.num_labels);
        head.w = scorew, head.dw = dscorew;
        logits = losses = nullptr;
    } else {
        logits = A.act("logits"), losses = A.act("losses");
    }
    dres = A.act("dres"), dproj = A.act("dproj"), dln = A.act("dln"), datty = A.act("datty");
    dqkv = A.act("dqkv"), dfch = A.act("dfch"), dfch_gelu = A.act("dfch_gelu");
    tokens = (int*)A.act("tokens");
    targets = (int*)A.act("targets");
    key_mask = (int*)A.act("key_mask");
    lora.bind(A, cfg.lora, "gpt2", cfg.L, cfg.C, 4 * cfg.C);
    prompts.bind(A, cfg.prompt, cfg.L, cfg.C);
    for (BlockActs& a : acts) a.qkv += prompts.qkv_offset();  // after the prefix rows
    dqkv += prompts.qkv_offset();
    set_backward_floor(
        cfg.L, [](const TensorInfo& t) { return t.name == "wte.weight" || t.name == "wpe.weight"; }, prompts.prepends(), prompts.prefixes());
}

void GPT2::init_weights(uint64_t init_seed) {
    const float std_resid = 0.02f / std::sqrt(2.0f * cfg.L);
    for (const TensorInfo& t : arena.params.tensors) {
        const std::string& n = t.name;
        if (is_adapter_tensor(n)) continue;  // init_lora and Prompts::init below
        const bool is_bias = n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0;
        const bool is_ln = n.find("ln_") != std::string::npos;
        float* dst = arena.param_mem + t.offset;
        if (is_bias || is_ln) {
            init_constant(arena.be, dst, t.numel(), is_bias ? 0.0f : 1.0f);
        } else {
            const bool resid_proj = n.find("c_proj.weight") != std::string::npos;
            // wte's rows past the real vocabulary stay zero
            const size_t pad = n == "wte.weight" ? (size_t)cfg.V * cfg.C : t.numel();
            init_normal(arena.be, dst, t.numel(), resid_proj ? std_resid : 0.02f, init_seed,
                        (uint32_t)(&t - arena.params.tensors.data()), pad, t.numel());
        }
    }
    init_lora(arena, cfg.lora, "gpt2", cfg.L, cfg.C, 4 * cfg.C, init_seed);
    Prompts::init(arena, cfg.prompt, init_seed);
}

// Dropout sites: 0 after the embeddings, then three per block.
static uint32_t site_of(int layer, int k) { return 1 + 3 * (uint32_t)layer + (uint32_t)k; }
enum { SITE_ATTN_PROBS = 0, SITE_ATTN_OUT = 1, SITE_MLP_OUT = 2 };

float GPT2::forward(const int* host_tokens, const int* host_targets, int b, int t) {
    Batch batch;
    batch.b = b, batch.t = t, batch.tokens = host_tokens, batch.targets = host_targets;
    return forward(batch);
}

float GPT2::forward(const Batch& real) {
    check_batch(real, B, T, cfg.V);
    if (cfg.num_labels && real.targets) throw std::runtime_error("a GPT-2 with a classification head takes labels, not targets");
    if (!cfg.num_labels && real.labels) throw std::runtime_error("a GPT-2 with the LM head takes targets, not labels");
    // From here on the sequence includes any prepended virtual tokens.
    const PromptedBatch prompted(real, prompts.extra_tokens());
    const Batch& batch = prompted.batch;
    const int b = batch.b, t = batch.t;
    Backend& be = arena.be;
    const int C = cfg.C, NH = cfg.NH, N = b * t;
    cur_B = b, cur_T = t;
    be.upload(tokens, real.tokens, (size_t)b * real.t * sizeof(int));
    masked = upload_key_mask(be, key_mask, batch);
    const int* mask = masked ? key_mask : nullptr;
    prompts.encode(be);
    if (prompts.prefixes()) prompts.prepare_prefix(be, batch, masked);

    // x = dropout(wte[tokens] + wpe[positions])                    (B,T,C)
    // (prompts: their rows first; prefixes: real tokens from position n)
    if (prompts.prepends())
        prompts.embed(be, encoded, tokens, nullptr, wte, wpe, nullptr, b, real.t);
    else
        be.embedding_forward(encoded, tokens, nullptr, wte, wpe + (size_t)prompts.position_offset() * C, nullptr, b, t, C);
    be.dropout_forward(encoded, encoded, (size_t)N * C, pdrop(cfg.embd_pdrop), dropout_key(0));
    const float* res = encoded;
    for (int l = 0; l < cfg.L; l++) {
        const Block& p = params[l];
        const BlockActs& a = acts[l];
        // x2 = x + dropout(attn(ln_1(x)) W_proj^T + b_proj)
        be.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, res, p.ln1w, p.ln1b, N, C, 1e-5f);
        be.matmul_forward(a.qkv, a.ln1, p.qkvw, p.qkvb, N, C, 3 * C);
        lora.forward(*this, l, "attn.c_attn.weight", a.qkv, a.ln1, N);
        prompts.attention_forward(be, l, a.atty, a.att, a.qkv, mask, b, t, NH, true, pdrop(cfg.attn_pdrop),
                                  dropout_key(site_of(l, SITE_ATTN_PROBS)));
        be.matmul_forward(proj, a.atty, p.attprojw, p.attprojb, N, C, C);
        lora.forward(*this, l, "attn.c_proj.weight", proj, a.atty, N);
        be.dropout_forward(proj, proj, (size_t)N * C, pdrop(cfg.resid_pdrop),
                           dropout_key(site_of(l, SITE_ATTN_OUT)));
        be.add(a.res2, res, proj, (size_t)N * C);
        // x3 = x2 + dropout(gelu(ln_2(x2) W_fc^T + b_fc) W_fcproj^T + b_fcproj)
        be.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, p.ln2w, p.ln2b, N, C, 1e-5f);
        be.matmul_forward(a.fch, a.ln2, p.fcw, p.fcb, N, C, 4 * C);
        lora.forward(*this, l, "mlp.c_fc.weight", a.fch, a.ln2, N);
        be.gelu_forward(a.fch_gelu, a.fch, (size_t)N * 4 * C, GeluKind::Tanh);
        be.matmul_forward(proj, a.fch_gelu, p.fcprojw, p.fcprojb, N, 4 * C, C);
        lora.forward(*this, l, "mlp.c_proj.weight", proj, a.fch_gelu, N);
        be.dropout_forward(proj, proj, (size_t)N * C, pdrop(cfg.resid_pdrop),
                           dropout_key(site_of(l, SITE_MLP_OUT)));
        be.add(a.res3, a.res2, proj, (size_t)N * C);
        res = a.res3;
    }
    be.layernorm_forward(lnf, lnf_mean, lnf_rstd, res, lnfw, lnfb, N, C, 1e-5f);
    if (cfg.num_labels) {
        // logits = ln_f(x)[last real token] score^T                  (B,num_labels)
        std::vector<int> rows(b);
        for (int i = 0; i < b; i++) rows[i] = i * t + (batch.lengths ? batch.lengths[i] : t) - 1;
        have_targets = batch.labels != nullptr;
        return head.forward(be, lnf, rows.data(), batch.labels, b, 0.0f, {});
    }
    // logits = ln_f(x) wte^T                                          (B,T,Vp)
    be.matmul_forward(logits, lnf, wte, nullptr, N, C, cfg.Vp);

    const int* host_targets = batch.targets;
    have_targets = host_targets != nullptr;
    if (!have_targets) return 0.0f;
    num_targets = 0;
    for (int i = 0; i < N; i++) {
        if (host_targets[i] >= cfg.V)
            throw std::runtime_error("target id " + std::to_string(host_targets[i]) +
                                     " out of range for vocab " + std::to_string(cfg.V));
        num_targets += host_targets[i] >= 0;
    }
    be.upload(targets, host_targets, N * sizeof(int));
    be.crossentropy(losses, nullptr, logits, targets, N, cfg.V, cfg.Vp, 0.0f);
    return num_targets ? (float)(be.sum(losses, N) / num_targets) : 0.0f;
}

void GPT2::backward(float loss_scale) {
    if (!have_targets) throw std::logic_error("backward() needs a forward() with targets");
    Backend& be = arena.be;
    const int b = cur_B, t = cur_T, C = cfg.C, NH = cfg.NH, N = b * t;
    const size_t NC = (size_t)N * C;
    const int* mask = masked ? key_mask : nullptr;
    prompts.begin_backward(be);
    be.zero(dln, NC * sizeof(float));
    if (cfg.num_labels) {
        head.backward(be, dln, b, loss_scale, 0.0f, {});
    } else {
        // The mean over targets: each row's loss enters with weight 1/num_targets.
        float dloss = num_targets ? loss_scale / num_targets : 0.0f;
        be.crossentropy(losses, logits, logits, targets, N, cfg.V, cfg.Vp, dloss);
        const float* dlogits = logits;
        be.matmul_backward(dln, dwte, nullptr, dlogits, lnf, wte, N, C, cfg.Vp);
    }
    const float* res_last = cfg.L ? acts[cfg.L - 1].res3 : encoded;
    be.zero(dres, NC * sizeof(float));
    be.layernorm_backward(dres, dlnfw, dlnfb, dln, res_last, lnfw, lnf_mean, lnf_rstd, N, C);

    // dres holds dL/d(block output); each block turns it into dL/d(block input).
    // A residual branch gets dres through its dropout (regenerating the mask).
    auto branch_grad = [&](float p, uint32_t site) -> const float* {
        if (p == 0.0f) return dres;
        be.zero(dproj, NC * sizeof(float));
        be.dropout_backward(dproj, dres, NC, p, dropout_key(site));
        return dproj;
    };
    for (int l = cfg.L - 1; l >= lowest_trained_block; l--) {
        const Block& p = params[l];
        const Block& g = grads[l];
        const BlockActs& a = acts[l];
        const float* res_in = l ? acts[l - 1].res3 : encoded;
        const float* dout = branch_grad(pdrop(cfg.resid_pdrop), site_of(l, SITE_MLP_OUT));
        be.zero(dfch_gelu, NC * 4 * sizeof(float));
        be.matmul_backward(dfch_gelu, g.fcprojw, g.fcprojb, dout, a.fch_gelu, p.fcprojw, N, 4 * C, C);
        lora.backward(*this, l, "mlp.c_proj.weight", dfch_gelu, dout, a.fch_gelu, N);
        be.zero(dfch, NC * 4 * sizeof(float));
        be.gelu_backward(dfch, dfch_gelu, a.fch, NC * 4, GeluKind::Tanh);
        be.zero(dln, NC * sizeof(float));
        be.matmul_backward(dln, g.fcw, g.fcb, dfch, a.ln2, p.fcw, N, C, 4 * C);
        lora.backward(*this, l, "mlp.c_fc.weight", dln, dfch, a.ln2, N);
        be.layernorm_backward(dres, g.ln2w, g.ln2b, dln, a.res2, p.ln2w, a.ln2_mean, a.ln2_rstd, N, C);

        dout = branch_grad(pdrop(cfg.resid_pdrop), site_of(l, SITE_ATTN_OUT));
        be.zero(datty, NC * sizeof(float));
        be.matmul_backward(datty, g.attprojw, g.attprojb, dout, a.atty, p.attprojw, N, C, C);
        lora.backward(*this, l, "attn.c_proj.weight", datty, dout, a.atty, N);
        prompts.attention_backward(be, l, dqkv, datty, a.qkv, a.att, mask, b, t, NH, true, pdrop(cfg.attn_pdrop),
                                   dropout_key(site_of(l, SITE_ATTN_PROBS)));
        be.zero(dln, NC * sizeof(float));
        be.matmul_backward(dln, g.qkvw, g.qkvb, dqkv, a.ln1, p.qkvw, N, C, 3 * C);
        lora.backward(*this, l, "attn.c_attn.weight", dln, dqkv, a.ln1, N);
        be.layernorm_backward(dres, g.ln1w, g.ln1b, dln, res_in, p.ln1w, a.ln1_mean, a.ln1_rstd, N, C);
    }
    if (embeddings_trained) {
        const float* dencoded = branch_grad(pdrop(cfg.embd_pdrop), 0);
        if (prompts.prepends())
            prompts.embed_backward(be, dwte, dwpe, nullptr, dencoded, tokens, nullptr, b, t - cfg.prompt.n);
        else
            be.embedding_backward(dwte, dwpe ? dwpe + (size_t)prompts.position_offset() * C : nullptr, nullptr,
                                  dencoded, tokens, nullptr, b, t, C);
    }
    prompts.encode_backward(be);
    have_targets = false;  // dlogits overwrote the logits
}

const float* GPT2::logits_view(int& rows, int& cols) const {
    if (cfg.num_labels) {
        rows = cur_B, cols = cfg.num_labels;
        return head.logits;
    }
    rows = cur_B * cur_T, cols = cfg.Vp;
    return logits;
}
