// GPT-2: token + position embeddings, L pre-LN transformer blocks, a final
// LayerNorm and an LM head tied to the token embedding (Radford et al. 2019,
// as in nanoGPT and llm.c), or instead a classification head `score` on each
// sequence's last real token (Hugging Face's GPT2ForSequenceClassification).
// Written once against the kernel interface, so the same code drives every
// backend.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/heads.h"
#include "adapters/lora.h"
#include "core/model.h"
#include "adapters/prompts.h"

struct GPT2Config {
    int max_T = 1024;  // context length (rows of wpe)
    int V = 50257;     // vocabulary size
    int Vp = 50304;    // V padded up (to a multiple of 128 in llm.c) for aligned matmuls
    int L = 12;        // blocks
    int NH = 12;       // attention heads
    int C = 768;       // channels
    float embd_pdrop = 0.0f, attn_pdrop = 0.0f, resid_pdrop = 0.0f;
    bool decay_embeddings = true;  // nanoGPT and the HF Trainer decay wte/wpe too
    int num_labels = 0;            // > 0: the classification head "score.weight" (num_labels, C)
    LoraConfig lora;               // adapters on the block projections (lora.r > 0)
    PromptConfig prompt;           // prompt tuning, P-tuning or prefix tuning
};

// Checks that a configuration is usable; throws "<what>: <problem>" otherwise.
void validate(const GPT2Config& cfg, const std::string& what);

// The parameter table a config implies (names, shapes, layers, decay flags),
// without allocating anything: the model and the weight-file readers share it.
TensorTable gpt2_param_table(const GPT2Config& cfg);
// The config stored in weight files: max_T, V, Vp, L, NH, C, and num_labels when > 0.
ConfigFields gpt2_config_fields(const GPT2Config& cfg);
GPT2Config gpt2_config_from_fields(const ConfigFields& fields, const std::string& what);

struct GPT2 : Model {
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
    float *wte, *wpe, *lnfw, *lnfb;
    float *dwte, *dwpe, *dlnfw, *dlnfb;
    std::vector<Block> params, grads;
    std::vector<BlockActs> acts;
    // Whole-model activations and backward scratch shared by all blocks.
    float *encoded, *proj, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;  // proj: (B,T,C) scratch
    float *dres, *dproj, *dln, *dqkv, *datty, *dfch, *dfch_gelu;
    int *tokens, *targets, *key_mask;  // device copies of the batch
    float *scorew = nullptr, *dscorew = nullptr;
    ClassifierHead head;  // used when cfg.num_labels > 0
    LoraLayers lora;
    Prompts prompts;

    // Declares the parameter table; the caller may then mark tensors frozen in
    // arena.params and must call allocate() (which declares the activations
    // for what trains) before use.
    // B x T real tokens at most; prompts add their virtual tokens on top (n + T <= max_T).
    GPT2(Backend& be, const GPT2Config& cfg, int B, int T);
    std::string arch() const override { return "gpt2"; }
    ConfigFields config_fields() const override { return gpt2_config_fields(cfg); }
    void allocate() override;
    // GPT-2 initialisation: N(0, 0.02) weights, residual projections scaled by
    // 1/sqrt(2L), zero biases, unit LayerNorm weights, zero padded vocab rows.
    void init_weights(uint64_t init_seed) override;

    // LM head: the mean cross-entropy over targets >= 0 (targets < 0 are
    // ignored); classification head: over the labels. 0 without either.
    // Padded key positions (batch.lengths) are invisible to attention.
    float forward(const Batch& batch) override;
    // The LM case without padding: tokens and targets (b,t), targets may be null.
    float forward(const int* host_tokens, const int* host_targets, int b, int t);
    void backward(float loss_scale = 1.0f) override;
    // LM head: (b*t, Vp) with V real columns; classification head: (b, num_labels).
    const float* logits_view(int& rows, int& cols) const override;

  private:
    void declare_activations();
    int cur_B = 0, cur_T = 0, num_targets = 0;
    bool have_targets = false, masked = false;
};
