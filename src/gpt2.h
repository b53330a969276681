// GPT-2: token + position embeddings, L pre-LN transformer blocks, a final
// LayerNorm and an LM head tied to the token embedding (Radford et al. 2019,
// as in nanoGPT and llm.c). Written once against the kernel interface, so the
// same code drives every backend.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "arena.h"
#include "backend.h"

struct GPT2Config {
    int max_T = 1024;  // context length (rows of wpe)
    int V = 50257;     // vocabulary size
    int Vp = 50304;    // V padded up (to a multiple of 128 in llm.c) for aligned matmuls
    int L = 12;        // blocks
    int NH = 12;       // attention heads
    int C = 768;       // channels
    float embd_pdrop = 0.0f, attn_pdrop = 0.0f, resid_pdrop = 0.0f;
    bool decay_embeddings = true;  // nanoGPT and the HF Trainer decay wte/wpe too
};

// Checks that a configuration is usable; throws "<what>: <problem>" otherwise.
void validate(const GPT2Config& cfg, const std::string& what);

// The parameter table a config implies (names, shapes, layers, decay flags),
// without allocating anything: the model and the weight-file readers share it.
TensorTable gpt2_param_table(const GPT2Config& cfg);

struct GPT2 {
    // Views into the parameter block (and their gradients: null when frozen).
    struct Block {
        float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
        float *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
    };
    // Saved activations of one block, each (B,T,.) unless noted.
    struct BlockActs {
        float *ln1, *ln1_mean, *ln1_rstd;  // means/rstd (B,T)
        float *qkv, *att, *atty;           // att: backend-defined, see attention_saved_floats
        float *res2, *ln2, *ln2_mean, *ln2_rstd;
        float *fch, *fch_gelu, *res3;      // fch, fch_gelu (B,T,4C); res3 = next block's input
    };

    GPT2Config cfg;
    int B, T;  // the largest batch the activations were sized for
    Arena arena;
    float *wte, *wpe, *lnfw, *lnfb;
    float *dwte, *dwpe, *dlnfw, *dlnfb;
    std::vector<Block> params, grads;
    std::vector<BlockActs> acts;
    // Whole-model activations and backward scratch shared by all blocks.
    float *encoded, *proj, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;  // proj: (B,T,C) scratch
    float *dres, *dproj, *dln, *dqkv, *datty, *dfch, *dfch_gelu;
    int *tokens, *targets;  // device copies of the batch

    // Dropout is on only while training; masks are keyed by (seed, step, site).
    bool training = false;
    uint64_t seed = 0, step = 0;

    // Declares the parameter table; the caller may then mark tensors frozen in
    // arena.params and must call allocate() before use.
    GPT2(Backend& be, const GPT2Config& cfg, int B, int T);
    void allocate();
    // GPT-2 initialisation: N(0, 0.02) weights, residual projections scaled by
    // 1/sqrt(2L), zero biases, unit LayerNorm weights, zero padded vocab rows.
    void init_weights(uint64_t init_seed);

    // tokens (b,t) host ints; targets (b,t) or null (then no loss). Returns the
    // mean cross-entropy over targets >= 0 (targets < 0 are ignored), or 0.
    float forward(const int* host_tokens, const int* host_targets, int b, int t);
    void zero_grad();
    // Adds loss_scale * d(mean loss)/d(params) into the gradients, for the last
    // forward's batch (loss_scale = 1/accumulation steps averages micro-batches).
    void backward(float loss_scale = 1.0f);

  private:
    int cur_B = 0, cur_T = 0, num_targets = 0;
    bool have_targets = false;
    DropoutKey dropout_key(uint32_t site) const { return {seed, step, site}; }
    float pdrop(float p) const { return training ? p : 0.0f; }
};
