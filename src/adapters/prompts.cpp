#include "adapters/prompts.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "core/init.h"
#include "core/rng.h"

PromptKind prompt_kind(const std::string& name) {
    if (name == "prompt") return PromptKind::Prompt;
    if (name == "ptuning") return PromptKind::PTuning;
    if (name == "prefix") return PromptKind::Prefix;
    throw std::runtime_error("--prompt-method " + name + ": expected prompt, ptuning or prefix");
}

void validate(const PromptConfig& c, const std::string& what) {
    if (c.kind == PromptKind::None) return;
    if (c.n < 1 || c.n > 4096) throw std::runtime_error(what + ": virtual tokens " + std::to_string(c.n) + " not in 1..4096");
    if (c.hidden < 0 || c.hidden > 65536 || (c.kind == PromptKind::PTuning && c.hidden < 1))
        throw std::runtime_error(what + ": encoder width " + std::to_string(c.hidden) +
                                 (c.kind == PromptKind::PTuning ? " (P-tuning's MLP needs one, 1..65536)" : " not in 0..65536"));
    if (c.kind == PromptKind::Prompt && c.hidden)
        throw std::runtime_error(what + ": prompt tuning has no encoder (width must be 0)");
}

void add_prompt_fields(ConfigFields& fields, const PromptConfig& c) {
    if (c.kind == PromptKind::None) return;
    fields.push_back({"prompt_kind", (int)c.kind});
    fields.push_back({"prompt_n", c.n});
    fields.push_back({"prompt_hidden", c.hidden});
}

PromptConfig prompt_from_fields(const ConfigFields& fields, const std::string& what) {
    std::map<std::string, int64_t> f(fields.begin(), fields.end());
    PromptConfig c;
    if (!f.count("prompt_kind")) return c;
    if (!f.count("prompt_n") || !f.count("prompt_hidden"))
        throw std::runtime_error(what + ": prompt config fields incomplete");
    if (f["prompt_kind"] < 1 || f["prompt_kind"] > 3 || f["prompt_n"] < 1 || f["prompt_n"] > 4096 ||
        f["prompt_hidden"] < 0 || f["prompt_hidden"] > 65536)
        throw std::runtime_error(what + ": prompt config fields out of range");
    c.kind = (PromptKind)f["prompt_kind"], c.n = (int)f["prompt_n"], c.hidden = (int)f["prompt_hidden"];
    validate(c, what);
    return c;
}

PromptedBatch::PromptedBatch(const Batch& real, int n) : batch(real) {
    if (!n) return;
    const int b = real.b, t = real.t;
    batch.t = t + n;
    if (real.lengths) {
        lengths.assign(real.lengths, real.lengths + b);
        for (int& len : lengths) len += n;
        batch.lengths = lengths.data();
    }
    if (real.targets) {
        targets.assign((size_t)b * (t + n), -1);
        for (int i = 0; i < b; i++)
            std::copy(real.targets + (size_t)i * t, real.targets + (size_t)(i + 1) * t,
                      targets.begin() + (size_t)i * (t + n) + n);
        batch.targets = targets.data();
    }
}

// The encoder's linears: (name, out, in), in the order they run.
static std::vector<std::tuple<std::string, int, int>> linears(const PromptConfig& c, int L, int C) {
    const int H = c.hidden;
    if (c.kind == PromptKind::PTuning)
        return {{"prompt.mlp_head.0", H, C}, {"prompt.mlp_head.2", H, H}, {"prompt.mlp_head.4", C, H}};
    if (c.kind == PromptKind::Prefix && H) return {{"prefix.transform.0", H, C}, {"prefix.transform.2", 2 * L * C, H}};
    return {};
}

static std::string embedding_name(const PromptConfig& c) {
    return c.kind == PromptKind::Prefix ? "prefix.embedding.weight" : "prompt.embedding.weight";
}

void add_prompt_params(TensorTable& params, const PromptConfig& c, int L, int C) {
    if (c.kind == PromptKind::None) return;
    const bool raw_prefix = c.kind == PromptKind::Prefix && !c.hidden;
    params.add(embedding_name(c), {c.n, raw_prefix ? 2 * L * C : C}, -1, true);
    for (const auto& [name, out, in] : linears(c, L, C)) {
        params.add(name + ".weight", {out, in}, -1, true);
        params.add(name + ".bias", {out});
    }
}

void Prompts::declare(TensorTable& a, const PromptConfig& c, int L, int C, int B, int T) {
    if (c.kind == PromptKind::None) return;
    const int n = c.n, width = c.kind == PromptKind::Prefix ? 2 * L * C : C;
    a.add("prompt.ids", {n});
    a.add("prompt.out", {n, width});
    a.add("prompt.dout", {n, width});
    for (const char* name : {"prompt.h0", "prompt.h1", "prompt.dh0", "prompt.dh1"}) a.add(name, {n, std::max(c.hidden, 1)});
    if (c.kind != PromptKind::Prefix) return;
    for (int l = 0; l < L; l++) a.add("prefix.ext." + std::to_string(l), {B, n + T, 3 * C}, l);
    a.add("prefix.dext", {B, n + T, 3 * C});
    a.add("prefix.ext_out", {B, n + T, C});
    a.add("prefix.dext_out", {B, n + T, C});
    a.add("prefix.src_rows", {(int64_t)B * (n + T)});
    a.add("prefix.out_rows", {(int64_t)B * T});
    a.add("prefix.ext_mask", {B, n + T});
}

void Prompts::bind(const Arena& A, const PromptConfig& c, int layers, int channels) {
    cfg = c, L = layers, C = channels;
    if (c.kind == PromptKind::None) return;
    E = A.param(embedding_name(c)), dE = A.grad(embedding_name(c));
    const auto lin = linears(c, L, C);
    for (size_t i = 0; i < lin.size(); i++) {
        const std::string& name = std::get<0>(lin[i]);
        w[i] = A.param(name + ".weight"), b[i] = A.param(name + ".bias");
        dw[i] = A.grad(name + ".weight"), db[i] = A.grad(name + ".bias");
    }
    h[0] = A.act("prompt.h0"), h[1] = A.act("prompt.h1"), dh[0] = A.act("prompt.dh0"), dh[1] = A.act("prompt.dh1");
    out = lin.empty() ? E : A.act("prompt.out");
    dout = lin.empty() ? dE : A.act("prompt.dout");
    ids = (int*)A.act("prompt.ids");
    std::vector<int> host(c.n);
    for (int i = 0; i < c.n; i++) host[i] = i;
    A.be.upload(ids, host.data(), host.size() * sizeof(int));
    if (c.kind != PromptKind::Prefix) return;
    ext.assign(L, nullptr);
    for (int l = 0; l < L; l++) ext[l] = A.act("prefix.ext." + std::to_string(l));
    dext = A.act("prefix.dext"), ext_out = A.act("prefix.ext_out"), dext_out = A.act("prefix.dext_out");
    src_rows = (int*)A.act("prefix.src_rows"), out_rows = (int*)A.act("prefix.out_rows");
    ext_mask = (int*)A.act("prefix.ext_mask");
}

void Prompts::init(Arena& A, const PromptConfig& c, uint64_t seed) {
    if (c.kind == PromptKind::None) return;
    uint32_t stream = 0x9000;
    for (const TensorInfo& t : A.params.tensors) {
        const bool ours = t.name.rfind("prompt.", 0) == 0 || t.name.rfind("prefix.", 0) == 0;
        if (!ours) continue;
        if (t.name == embedding_name(c)) {
            init_normal(A.be, A.param_mem + t.offset, t.numel(), 1.0f, seed, stream++);  // nn.Embedding: N(0, 1)
        } else {
            std::vector<float> host(t.numel());
            // nn.Linear: weight and bias U(-1/sqrt(in), 1/sqrt(in)), in = the weight's second dimension
            const std::string weight = t.name.substr(0, t.name.rfind('.')) + ".weight";
            const float bound = 1.0f / std::sqrt((float)A.params.at(weight).shape[1]);
            for (size_t i = 0; i < host.size(); i++) host[i] = (2.0f * philox_uniform(seed, 0x9001, stream, i) - 1.0f) * bound;
            stream++;
            A.be.upload(A.param_mem + t.offset, host.data(), host.size() * sizeof(float));
        }
    }
}

void Prompts::encode(Backend& be) const {
    const int n = cfg.n, H = cfg.hidden;
    if (cfg.kind == PromptKind::PTuning) {
        be.matmul_forward(h[0], E, w[0], b[0], n, C, H);
        be.relu_forward(h[0], h[0], (size_t)n * H);
        be.matmul_forward(h[1], h[0], w[1], b[1], n, H, H);
        be.relu_forward(h[1], h[1], (size_t)n * H);
        be.matmul_forward(out, h[1], w[2], b[2], n, H, C);
    } else if (cfg.kind == PromptKind::Prefix && H) {
        be.matmul_forward(h[0], E, w[0], b[0], n, C, H);
        be.tanh_forward(h[0], h[0], (size_t)n * H);
        be.matmul_forward(out, h[0], w[1], b[1], n, H, 2 * L * C);
    }
}

void Prompts::begin_backward(Backend& be) const {
    if (cfg.kind != PromptKind::None && dout != dE)
        be.zero(dout, (size_t)cfg.n * (prefixes() ? 2 * L * C : C) * sizeof(float));
}

void Prompts::encode_backward(Backend& be) const {
    const int n = cfg.n, H = cfg.hidden;
    const size_t nH = (size_t)n * H;
    if (cfg.kind == PromptKind::PTuning) {
        for (float* d : {dh[0], dh[1]}) be.zero(d, nH * sizeof(float));
        be.matmul_backward(dh[1], dw[2], db[2], dout, h[1], w[2], n, H, C);
        float* dpre = dh[0];  // d(h1 before its ReLU), then reused below
        be.relu_backward(dpre, dh[1], h[1], nH);
        be.zero(dh[1], nH * sizeof(float));
        be.matmul_backward(dh[1], dw[1], db[1], dpre, h[0], w[1], n, H, H);
        be.zero(dpre, nH * sizeof(float));
        be.relu_backward(dpre, dh[1], h[0], nH);
        be.matmul_backward(dE, dw[0], db[0], dpre, E, w[0], n, C, H);
    } else if (cfg.kind == PromptKind::Prefix && H) {
        for (float* d : {dh[0], dh[1]}) be.zero(d, nH * sizeof(float));
        be.matmul_backward(dh[0], dw[1], db[1], dout, h[0], w[1], n, H, 2 * L * C);
        be.tanh_backward(dh[1], dh[0], h[0], nH);
        be.matmul_backward(dE, dw[0], db[0], dh[1], E, w[0], n, C, H);
    }
}

void Prompts::embed(Backend& be, float* x, const int* tokens, const int* types, const float* wte, const float* wpe,
                    const float* wtt, int bsz, int t) const {
    const int n = cfg.n, tt = n + t;
    for (int i = 0; i < bsz; i++) {
        float* row = x + (size_t)i * tt * C;
        be.embedding_forward(row, ids, nullptr, out, wpe, wtt, 1, n, C);
        be.embedding_forward(row + (size_t)n * C, tokens + (size_t)i * t, types ? types + (size_t)i * t : nullptr, wte,
                             wpe + (size_t)n * C, wtt, 1, t, C);
    }
}

void Prompts::embed_backward(Backend& be, float* dwte, float* dwpe, float* dwtt, const float* dx, const int* tokens,
                             const int* types, int bsz, int t) const {
    const int n = cfg.n, tt = n + t;
    for (int i = 0; i < bsz; i++) {
        const float* row = dx + (size_t)i * tt * C;
        be.embedding_backward(dout, dwpe, dwtt, row, ids, nullptr, 1, n, C);
        be.embedding_backward(dwte, dwpe ? dwpe + (size_t)n * C : nullptr, dwtt, row + (size_t)n * C,
                              tokens + (size_t)i * t, types ? types + (size_t)i * t : nullptr, 1, t, C);
    }
}

void Prompts::prepare_prefix(Backend& be, const Batch& batch, bool padded) const {
    const int n = cfg.n, bsz = batch.b, t = batch.t, tt = n + t;
    std::vector<int> src((size_t)bsz * tt), dst((size_t)bsz * t), mask;
    for (int i = 0; i < bsz; i++) {
        for (int j = 0; j < tt; j++) src[(size_t)i * tt + j] = j < n ? j : n + i * t + (j - n);
        for (int j = 0; j < t; j++) dst[(size_t)i * t + j] = i * tt + n + j;
    }
    be.upload(src_rows, src.data(), src.size() * sizeof(int));
    be.upload(out_rows, dst.data(), dst.size() * sizeof(int));
    if (!padded) return;
    mask.resize((size_t)bsz * tt);
    for (int i = 0; i < bsz; i++)
        for (int j = 0; j < tt; j++) mask[(size_t)i * tt + j] = j < n || j - n < batch.lengths[i];
    be.upload(ext_mask, mask.data(), mask.size() * sizeof(int));
}

void Prompts::attention_forward(Backend& be, int l, float* atty, float* saved, float* qkv, const int* mask, int bsz,
                                int t, int NH, bool causal, float p, DropoutKey key) const {
    if (!prefixes()) return be.attention_forward(atty, saved, qkv, mask, bsz, t, C, NH, causal, p, key);
    const int n = cfg.n, tt = n + t;
    const bool padded = mask != nullptr;
    float* qkv_src = qkv - qkv_offset();
    // This layer's keys and values, [k | v] at columns 2lC of the prefix table, fill the free rows.
    // Their q columns stay as alloc() left them, zero: those n query rows are
    // computed and discarded, and must stay finite for backward.
    be.copy_block(qkv_src + C, 3 * C, out + (size_t)2 * l * C, 2 * L * C, n, 2 * C, false);
    // Each sequence: its n prefix rows, then its own t rows.
    be.embedding_forward(ext[l], src_rows, nullptr, qkv_src, nullptr, nullptr, 1, bsz * tt, 3 * C);
    // Causal over the whole row lets query n+j see the prefix and keys <= j.
    be.attention_forward(ext_out, saved, ext[l], padded ? ext_mask : nullptr, bsz, tt, C, NH, causal, p, key);
    be.embedding_forward(atty, out_rows, nullptr, ext_out, nullptr, nullptr, 1, bsz * t, C);
}

void Prompts::attention_backward(Backend& be, int l, float* dqkv, const float* datty, const float* qkv,
                                 const float* saved, const int* mask, int bsz, int t, int NH, bool causal, float p,
                                 DropoutKey key) const {
    if (!prefixes()) {
        be.zero(dqkv, (size_t)bsz * t * 3 * C * sizeof(float));
        return be.attention_backward(dqkv, datty, qkv, saved, mask, bsz, t, C, NH, causal, p, key);
    }
    const int n = cfg.n, tt = n + t;
    const bool padded = mask != nullptr;
    float* dqkv_src = dqkv - qkv_offset();
    be.zero(dext_out, (size_t)bsz * tt * C * sizeof(float));
    be.embedding_backward(dext_out, nullptr, nullptr, datty, out_rows, nullptr, 1, bsz * t, C);
    be.zero(dext, (size_t)bsz * tt * 3 * C * sizeof(float));
    be.attention_backward(dext, dext_out, ext[l], saved, padded ? ext_mask : nullptr, bsz, tt, C, NH, causal, p, key);
    be.zero(dqkv_src, (size_t)(n + bsz * t) * 3 * C * sizeof(float));
    be.embedding_backward(dqkv_src, nullptr, nullptr, dext, src_rows, nullptr, 1, bsz * tt, 3 * C);
    if (dout) be.copy_block(dout + (size_t)2 * l * C, 2 * L * C, dqkv_src + C, 3 * C, n, 2 * C, true);
}
