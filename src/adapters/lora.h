// LoRA (Hu et al. 2021) as Hugging Face PEFT computes it, riding on the
// matmul path of a frozen linear layer y = x W^T + b:
//
//   u = dropout(x) A^T * s          (N,r)     A (r,C), s = alpha/r (rsLoRA: alpha/sqrt(r))
//   y += u B^T                      (N,OC)    B (OC,r)
//
// W + s B A is never formed while training. Backward, with dy (N,OC):
//   dB += dy^T u;  du = dy B * s;  dA += du^T dropout(x);  dx += dropout'(du A)
// Initialisation as PEFT: A ~ U(-1/sqrt(C), 1/sqrt(C)) (kaiming-uniform, a = sqrt(5)),
// B = 0, so a fresh adapter changes nothing. An adapter may cover a block of
// output columns of a wider layer: BERT's query, key or value each own a third
// of the packed qkv projection.
//
// Targets by name (PEFT's module names):
//   GPT-2: c_attn (the fused q,k,v), attn.c_proj, c_fc, mlp.c_proj
//   BERT:  query, key, value, attention.output.dense, intermediate.dense, output.dense
// Adapter tensors are named after the layer they adapt, as PEFT's state dict
// without its prefix: "h.3.attn.c_attn.lora_A.weight",
// "encoder.layer.3.attention.self.query.lora_B.weight".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/backend.h"
#include "core/model.h"

struct LoraConfig {
    int r = 0;                 // rank; 0 = no LoRA
    float alpha = 8.0f;        // PEFT's lora_alpha
    bool rslora = false;       // s = alpha / sqrt(r)
    float dropout = 0.0f;      // on the adapter's input only
    std::vector<std::string> targets;  // module names as above, in the architecture's order
    float scaling() const;
};

// One adaptable projection of a block: its PEFT module name, the tensor of
// the base layer, and which output columns (rows of the base weight) it covers.
struct LoraSite {
    std::string module;  // PEFT's target name: "c_attn", "query", ...
    std::string path;    // the Hugging Face module path inside a block: "attn.c_attn", "attention.self.query"
    std::string base;    // our base weight inside a block: "attn.c_attn.weight", "attention.self.qkv.weight"
    int col, width;      // output columns [col, col + width) of the base layer
    int in;              // input channels
};
// The adaptable projections of one block; C channels, I the MLP width.
std::vector<LoraSite> lora_sites(const std::string& arch, int C, int I);
// Checks r, alpha, dropout and the target names against the architecture;
// throws "--lora-<what>: <problem>". An empty target list means PEFT's default
// (GPT-2: c_attn; BERT: query, value).
void validate(LoraConfig& cfg, const std::string& arch);
// The ConfigFields a weight file stores for it (lora_r, lora_alpha_milli,
// lora_rslora, lora_targets as a bit mask over lora_sites' order, and
// lora_dropout_milli, which loading never compares) and back.
void add_lora_fields(ConfigFields& fields, const LoraConfig& cfg, const std::string& arch);
LoraConfig lora_from_fields(const ConfigFields& fields, const std::string& arch, const std::string& what);
// The targeted sites of one block, in lora_sites' order.
std::vector<LoraSite> lora_targets(const LoraConfig& cfg, const std::string& arch, int C, int I);
// "h.<l>." or "encoder.layer.<l>.": where block l's tensors live.
std::string block_prefix(const std::string& arch, int l);
// The name of a site's tensor in block l: which is "lora_A" or "lora_B".
std::string lora_param_name(const std::string& arch, int l, const LoraSite& site, const char* which);
// Adds every adapter's A (r,in) and B (width,r) to the table (layer l, decayed).
void add_lora_params(TensorTable& params, const LoraConfig& cfg, const std::string& arch, int L, int C, int I);
// PEFT's initialisation of every adapter in an allocated arena: A uniform, B zero.
void init_lora(Arena& arena, const LoraConfig& cfg, const std::string& arch, int L, int C, int I, uint64_t seed);

// One adapter at run time: views into the arena, and its saved activations.
struct LoraAdapter {
    LoraSite site;
    float *A = nullptr, *B = nullptr, *dA = nullptr, *dB = nullptr;
    float* u = nullptr;        // (N,r) saved
    float* dropped = nullptr;  // (N,C) saved when dropout > 0
    int r = 0, ld = 0;         // ld: the base layer's output width (the row stride of y)
    float s = 0, p = 0;
    uint32_t site_id = 0;      // dropout site

    // y (N,ld) += the adapter's term for x (N, site.in). scratch (N, width)
    // serves a block of columns narrower than the layer.
    void forward(Backend& be, float* y, const float* x, int N, uint64_t seed, uint64_t step, bool training,
                 float* scratch) const;
    // dx (N, in) += the gradient through the adapter (null: not wanted); dA, dB
    // get theirs. dy (N,ld). du (N,r) and scratch (N, max(in, width)) are scratch.
    void backward(Backend& be, float* dx, const float* dy, const float* x, int N, uint64_t seed, uint64_t step,
                  bool training, float* du, float* scratch) const;
    // W (rows of the base weight) += sign * s * B A.
    void merge(Backend& be, float* W, float sign, float* scratch) const;
};

// All adapters of a model, by block, with their shared scratch.
struct LoraLayers {
    std::vector<std::vector<LoraAdapter>> blocks;
    float *scratch = nullptr, *du = nullptr;
    bool merged = false;  // while merged into the base weights, forward and backward skip the adapters

    // Adds the activations for batches of up to N rows (nothing without LoRA).
    static void declare(TensorTable& acts, const LoraConfig& cfg, const std::string& arch, int L, int C, int I,
                        int64_t N);
    void bind(const Arena& arena, const LoraConfig& cfg, const std::string& arch, int L, int C, int I);
    bool empty() const { return blocks.empty(); }
    // The adapters of block l on the base weight `base` (e.g. "attn.c_attn.weight"), on y = x W^T + b.
    void forward(const Model& m, int l, const char* base, float* y, const float* x, int N) const;
    void backward(const Model& m, int l, const char* base, float* dx, const float* dy, const float* x, int N) const;
    // W += s B A for every adapter (merge), or -= (unmerge): merged weights
    // compute the adapted model with the base layers alone.
    void merge(Arena& arena, const std::string& arch, bool unmerge);
};
