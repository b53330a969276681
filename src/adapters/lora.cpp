#include "adapters/lora.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "core/rng.h"

float LoraConfig::scaling() const { return rslora ? alpha / std::sqrt((float)r) : alpha / (float)r; }

std::vector<LoraSite> lora_sites(const std::string& arch, int C, int I) {
    if (arch == "gpt2")
        return {{"c_attn", "attn.c_attn", "attn.c_attn.weight", 0, 3 * C, C},
                {"attn.c_proj", "attn.c_proj", "attn.c_proj.weight", 0, C, C},
                {"c_fc", "mlp.c_fc", "mlp.c_fc.weight", 0, 4 * C, C},
                {"mlp.c_proj", "mlp.c_proj", "mlp.c_proj.weight", 0, C, 4 * C}};
    return {{"query", "attention.self.query", "attention.self.qkv.weight", 0, C, C},
            {"key", "attention.self.key", "attention.self.qkv.weight", C, C, C},
            {"value", "attention.self.value", "attention.self.qkv.weight", 2 * C, C, C},
            {"attention.output.dense", "attention.output.dense", "attention.output.dense.weight", 0, C, C},
            {"intermediate.dense", "intermediate.dense", "intermediate.dense.weight", 0, I, C},
            {"output.dense", "output.dense", "output.dense.weight", 0, C, I}};
}

void validate(LoraConfig& cfg, const std::string& arch) {
    if (cfg.r < 1 || cfg.r > 4096) throw std::runtime_error("--lora-r " + std::to_string(cfg.r) + ": must be in 1..4096");
    if (!(cfg.alpha > 0.0f) || cfg.alpha > 1e6f || std::fabs(cfg.alpha * 1000 - std::round(cfg.alpha * 1000)) > 1e-3f)
        throw std::runtime_error("--lora-alpha " + std::to_string(cfg.alpha) +
                                 ": must be positive, at most 1e6, with at most 3 decimals");
    if (!(cfg.dropout >= 0.0f && cfg.dropout < 1.0f))
        throw std::runtime_error("--lora-dropout " + std::to_string(cfg.dropout) + ": must be in [0, 1)");
    if (cfg.targets.empty()) cfg.targets = arch == "gpt2" ? std::vector<std::string>{"c_attn"} : std::vector<std::string>{"query", "value"};
    const std::vector<LoraSite> sites = lora_sites(arch, 1, 1);
    std::vector<std::string> ordered;
    for (const LoraSite& site : sites)
        for (const std::string& t : cfg.targets)
            if (t == site.module && (ordered.empty() || ordered.back() != t)) ordered.push_back(t);
    for (const std::string& t : cfg.targets) {
        bool known = false;
        for (const LoraSite& site : sites) known |= t == site.module;
        if (!known) {
            std::string names;
            for (const LoraSite& site : sites) names += (names.empty() ? "" : ", ") + site.module;
            throw std::runtime_error("--lora-targets " + t + ": not a " + arch + " projection (" + names + ")");
        }
    }
    cfg.targets = ordered;
}

void add_lora_fields(ConfigFields& fields, const LoraConfig& cfg, const std::string& arch) {
    if (!cfg.r) return;
    int64_t mask = 0;
    const std::vector<LoraSite> sites = lora_sites(arch, 1, 1);
    for (size_t i = 0; i < sites.size(); i++)
        for (const std::string& t : cfg.targets) mask |= (int64_t)(t == sites[i].module) << i;
    fields.push_back({"lora_r", cfg.r});
    fields.push_back({"lora_alpha_milli", (int64_t)std::llround(cfg.alpha * 1000.0)});
    fields.push_back({"lora_rslora", cfg.rslora});
    fields.push_back({"lora_targets", mask});
    // A training setting, not a shape: recorded for exports (PEFT's lora_dropout), never compared on load.
    fields.push_back({"lora_dropout_milli", (int64_t)std::llround(cfg.dropout * 1000.0)});
}

LoraConfig lora_from_fields(const ConfigFields& fields, const std::string& arch, const std::string& what) {
    LoraConfig cfg;
    std::map<std::string, int64_t> f(fields.begin(), fields.end());
    if (!f.count("lora_r")) return cfg;
    for (const char* key : {"lora_alpha_milli", "lora_rslora", "lora_targets"})
        if (!f.count(key)) throw std::runtime_error(what + ": missing config field '" + key + "'");
    const int64_t r = f["lora_r"], mask = f["lora_targets"];
    const std::vector<LoraSite> sites = lora_sites(arch, 1, 1);
    if (r < 1 || r > 4096 || f["lora_alpha_milli"] < 1 || f["lora_alpha_milli"] > 1000000000 || mask < 1 ||
        mask >= (int64_t)1 << sites.size() || (f["lora_rslora"] != 0 && f["lora_rslora"] != 1))
        throw std::runtime_error(what + ": LoRA config fields out of range");
    cfg.r = (int)r;
    cfg.alpha = (float)(f["lora_alpha_milli"] / 1000.0);
    cfg.rslora = f["lora_rslora"] == 1;
    if (f.count("lora_dropout_milli")) {
        if (f["lora_dropout_milli"] < 0 || f["lora_dropout_milli"] >= 1000)
            throw std::runtime_error(what + ": LoRA config field lora_dropout_milli out of range");
        cfg.dropout = (float)(f["lora_dropout_milli"] / 1000.0);
    }
    for (size_t i = 0; i < sites.size(); i++)
        if (mask >> i & 1) cfg.targets.push_back(sites[i].module);
    return cfg;
}

std::vector<LoraSite> lora_targets(const LoraConfig& cfg, const std::string& arch, int C, int I) {
    std::vector<LoraSite> out;
    for (const LoraSite& site : lora_sites(arch, C, I))
        for (const std::string& t : cfg.targets)
            if (t == site.module) out.push_back(site);
    return out;
}

std::string block_prefix(const std::string& arch, int l) {
    return (arch == "gpt2" ? "h." : "encoder.layer.") + std::to_string(l) + ".";
}

std::string lora_param_name(const std::string& arch, int l, const LoraSite& site, const char* which) {
    return block_prefix(arch, l) + site.path + "." + which + ".weight";
}

void add_lora_params(TensorTable& params, const LoraConfig& cfg, const std::string& arch, int L, int C, int I) {
    if (!cfg.r) return;
    for (int l = 0; l < L; l++)
        for (const LoraSite& site : lora_targets(cfg, arch, C, I)) {
            params.add(lora_param_name(arch, l, site, "lora_A"), {cfg.r, site.in}, l, true);
            params.add(lora_param_name(arch, l, site, "lora_B"), {site.width, cfg.r}, l, true);
        }
}

void init_lora(Arena& arena, const LoraConfig& cfg, const std::string& arch, int L, int C, int I, uint64_t seed) {
    if (!cfg.r) return;
    uint32_t stream = 0;
    for (int l = 0; l < L; l++)
        for (const LoraSite& site : lora_targets(cfg, arch, C, I)) {
            const TensorInfo& a = arena.params.at(lora_param_name(arch, l, site, "lora_A"));
            std::vector<float> host(a.numel());
            const float bound = 1.0f / std::sqrt((float)site.in);
            for (size_t i = 0; i < host.size(); i++)
                host[i] = (2.0f * philox_uniform(seed, 0x10A4, stream, i) - 1.0f) * bound;
            stream++;
            arena.be.upload(arena.param_mem + a.offset, host.data(), host.size() * sizeof(float));
            const TensorInfo& b = arena.params.at(lora_param_name(arch, l, site, "lora_B"));
            arena.be.zero(arena.param_mem + b.offset, b.numel() * sizeof(float));
        }
}

void LoraAdapter::forward(Backend& be, float* y, const float* x, int N, uint64_t seed, uint64_t step,
                          bool training, float* scratch) const {
    const float pdrop = training ? p : 0.0f;
    const float* inp = x;
    if (pdrop > 0.0f) {
        be.dropout_forward(dropped, x, (size_t)N * site.in, pdrop, {seed, step, site_id});
        inp = dropped;
    }
    be.matmul_forward(u, inp, A, nullptr, N, site.in, r);
    be.scale(u, s, (size_t)N * r);
    if (site.width == ld) {
        be.matmul_accumulate(y, u, B, N, r, ld);
    } else {
        be.matmul_forward(scratch, u, B, nullptr, N, r, site.width);
        be.copy_block(y + site.col, ld, scratch, site.width, N, site.width, true);
    }
}

void LoraAdapter::backward(Backend& be, float* dx, const float* dy, const float* x, int N, uint64_t seed,
                           uint64_t step, bool training, float* du, float* scratch) const {
    const float pdrop = training ? p : 0.0f;
    const float* dy_site = dy;
    if (site.width != ld) {
        be.copy_block(scratch, site.width, dy + site.col, ld, N, site.width, false);
        dy_site = scratch;
    }
    be.zero(du, (size_t)N * r * sizeof(float));
    be.matmul_backward(du, dB, nullptr, dy_site, u, B, N, r, site.width);
    be.scale(du, s, (size_t)N * r);
    if (pdrop == 0.0f) {
        be.matmul_backward(dx, dA, nullptr, du, x, A, N, site.in, r);
        return;
    }
    be.matmul_backward(nullptr, dA, nullptr, du, dropped, A, N, site.in, r);
    if (!dx) return;
    be.zero(scratch, (size_t)N * site.in * sizeof(float));
    be.matmul_backward(scratch, nullptr, nullptr, du, nullptr, A, N, site.in, r);
    be.dropout_backward(dx, scratch, (size_t)N * site.in, pdrop, {seed, step, site_id});
}

void LoraAdapter::merge(Backend& be, float* W, float sign, float* scratch) const {
    be.copy(scratch, B, (size_t)site.width * r * sizeof(float));
    be.scale(scratch, sign * s, (size_t)site.width * r);
    // rows [col, col + width) of W (ld, in) += (sign s B) (width,r) @ A (r,in)
    be.matmul_backward(W + (size_t)site.col * site.in, nullptr, nullptr, scratch, nullptr, A, site.width, site.in, r);
}

void LoraLayers::declare(TensorTable& acts, const LoraConfig& cfg, const std::string& arch, int L, int C, int I,
                         int64_t N) {
    if (!cfg.r) return;
    int widest = 0;
    for (int l = 0; l < L; l++)
        for (const LoraSite& site : lora_targets(cfg, arch, C, I)) {
            const std::string name = lora_param_name(arch, l, site, "u");
            acts.add(name, {N, cfg.r}, l);
            if (cfg.dropout > 0.0f) acts.add(lora_param_name(arch, l, site, "dropped"), {N, site.in}, l);
            widest = std::max({widest, site.in, site.width});
        }
    acts.add("lora.scratch", {std::max<int64_t>(N, cfg.r), widest});  // merge() also holds s B (width,r) here
    acts.add("lora.du", {N, cfg.r});
}

void LoraLayers::bind(const Arena& A, const LoraConfig& cfg, const std::string& arch, int L, int C, int I) {
    blocks.clear();
    if (!cfg.r) return;
    scratch = A.act("lora.scratch"), du = A.act("lora.du");
    blocks.resize(L);
    uint32_t id = 0;
    for (int l = 0; l < L; l++)
        for (const LoraSite& site : lora_targets(cfg, arch, C, I)) {
            LoraAdapter a;
            a.site = site;
            a.A = A.param(lora_param_name(arch, l, site, "lora_A"));
            a.B = A.param(lora_param_name(arch, l, site, "lora_B"));
            a.dA = A.grad(lora_param_name(arch, l, site, "lora_A"));
            a.dB = A.grad(lora_param_name(arch, l, site, "lora_B"));
            a.u = A.act(lora_param_name(arch, l, site, "u"));
            if (cfg.dropout > 0.0f) a.dropped = A.act(lora_param_name(arch, l, site, "dropped"));
            a.r = cfg.r;
            a.ld = A.params.at(block_prefix(arch, l) + site.base).shape[0];
            a.s = cfg.scaling();
            a.p = cfg.dropout;
            a.site_id = 0x100000 + id++;  // apart from the models' own dropout sites
            blocks[l].push_back(a);
        }
}

void LoraLayers::forward(const Model& m, int l, const char* base, float* y, const float* x, int N) const {
    if (blocks.empty() || merged) return;
    for (const LoraAdapter& a : blocks[l])
        if (a.site.base == base) a.forward(m.arena.be, y, x, N, m.seed, m.step, m.training, scratch);
}

void LoraLayers::backward(const Model& m, int l, const char* base, float* dx, const float* dy, const float* x,
                          int N) const {
    if (blocks.empty() || merged) return;
    for (const LoraAdapter& a : blocks[l])
        if (a.site.base == base) a.backward(m.arena.be, dx, dy, x, N, m.seed, m.step, m.training, du, scratch);
}

void LoraLayers::merge(Arena& arena, const std::string& arch, bool unmerge) {
    if (blocks.empty()) throw std::runtime_error("the model has no LoRA adapters to merge");
    if (merged != unmerge) throw std::runtime_error(unmerge ? "the adapters are not merged" : "the adapters are already merged");
    for (size_t l = 0; l < blocks.size(); l++)
        for (const LoraAdapter& a : blocks[l])
            a.merge(arena.be, arena.param(block_prefix(arch, (int)l) + a.site.base), unmerge ? -1.0f : 1.0f, scratch);
    merged = !unmerge;
}
