// BERT (Devlin et al. 2019) as Hugging Face's BertModel computes it: word +
// position + token-type embeddings, LayerNorm and dropout; L post-LN encoder
// blocks with bidirectional attention over the real (unpadded) tokens and
// exact-erf GELU; then one head:
//   none        BertModel: the encoder and the pooler (dense + tanh over [CLS])
//   mlm         BertForMaskedLM: dense + GELU + LayerNorm + a decoder tied to
//               the word embeddings with its own bias, at the masked positions
//   classifier  BertForSequenceClassification: pooler, dropout, linear
//
// Parameter names are Hugging Face's (BertForMaskedLM / ...ForSequence-
// Classification without the "bert." prefix), with one exception: a block's
// query, key and value are one fused tensor,
//   encoder.layer.N.attention.self.qkv.weight (3C, C) = [query; key; value]
//   encoder.layer.N.attention.self.qkv.bias   (3C)
// so attention reads one packed (B,T,3C) buffer as GPT-2's does; tools/convert
// splits and joins them. Matmul weights are (out, in) like nn.Linear.
#pragma once
#include <string>
#include <vector>

#include "models/heads.h"
#include "adapters/lora.h"
#include "core/model.h"
#include "adapters/prompts.h"

enum class BertHead { None = 0, MaskedLM = 1, Classifier = 2 };

struct BertConfig {
    int max_T = 512;   // max_position_embeddings
    int V = 30522;     // vocab_size
    int types = 2;     // type_vocab_size
    int L = 12;        // num_hidden_layers
    int NH = 12;       // num_attention_heads
    int C = 768;       // hidden_size
    int I = 3072;      // intermediate_size
    BertHead head = BertHead::None;
    int num_labels = 0;  // classifier head only, >= 2
    float hidden_pdrop = 0.1f, attn_pdrop = 0.1f, classifier_pdrop = 0.1f;
    float ln_eps = 1e-12f;
    LoraConfig lora;      // adapters on the block projections (lora.r > 0)
    PromptConfig prompt;  // prompt tuning, P-tuning or prefix tuning
};

void validate(const BertConfig& cfg, const std::string& what);
TensorTable bert_param_table(const BertConfig& cfg);
// The config stored in weight files: max_T, V, types, L, NH, C, I, head,
// num_labels, and the LoRA fields when it has adapters.
ConfigFields bert_config_fields(const BertConfig& cfg);
BertConfig bert_config_from_fields(const ConfigFields& fields, const std::string& what);

struct BERT : Model {
    struct Block {
        float *qkvw, *qkvb, *attprojw, *attprojb, *ln1w, *ln1b;
        float *fcw, *fcb, *fcprojw, *fcprojb, *ln2w, *ln2b;
    };
    struct BlockActs {
        float *qkv, *att, *atty;                  // qkv (B,T,3C); att: attention_saved_floats
        float *res1, *ln1, *ln1_mean, *ln1_rstd;  // res1 = x + attention branch; ln1 = LN(res1)
        float *fch, *fch_gelu;                    // (B,T,I)
        float *res2, *ln2, *ln2_mean, *ln2_rstd;  // ln2 = LN(res2) = the block's output
    };
    // The masked-LM head's activations, (M,C) for M <= B*T masked positions.
    struct MlmActs {
        float *picked, *h, *h_gelu, *ln, *ln_mean, *ln_rstd, *logits, *losses, *dA, *dB;
        int *rows, *targets;
    };

    BertConfig cfg;
    float *wte, *wpe, *wtt, *lnew, *lneb;      // embeddings and their LayerNorm
    float *dwte, *dwpe, *dwtt, *dlnew, *dlneb;
    std::vector<Block> params, grads;
    std::vector<BlockActs> acts;
    float *emb, *emb_mean, *emb_rstd, *encoded;  // emb: the summed embeddings; encoded = dropout(LN(emb))
    float *proj, *dx, *dr, *dproj, *datty, *dqkv, *dfch, *dfch_gelu;  // scratch, (B,T,.)
    int *tokens, *types, *key_mask;                                  // device copies of the batch
    ClassifierHead cls;  // classifier head
    MlmActs mlm{};       // masked-LM head
    LoraLayers lora;
    Prompts prompts;
    // Heads (null when absent): pooler, classifier, masked-LM transform and decoder bias.
    float *poolw = nullptr, *poolb = nullptr, *clsw = nullptr, *clsb = nullptr;
    float *mlmw = nullptr, *mlmb = nullptr, *mlmlnw = nullptr, *mlmlnb = nullptr, *mlmbias = nullptr;
    float *dpoolw = nullptr, *dpoolb = nullptr, *dclsw = nullptr, *dclsb = nullptr;
    float *dmlmw = nullptr, *dmlmb = nullptr, *dmlmlnw = nullptr, *dmlmlnb = nullptr, *dmlmbias = nullptr;

    // Declares the parameter table; the caller may then mark tensors frozen and
    // must call allocate() (which declares the activations for what trains).
    // B x T real tokens at most; prompts add their virtual tokens (n + T <= max_T).
    BERT(Backend& be, const BertConfig& cfg, int B, int T);
    std::string arch() const override { return "bert"; }
    ConfigFields config_fields() const override { return bert_config_fields(cfg); }
    void allocate() override;
    // Hugging Face's _init_weights: N(0, 0.02) weights and embeddings, zero
    // biases, unit LayerNorm weights.
    void init_weights(uint64_t init_seed) override;
    // Targets (mlm head) or labels (classifier head) select the loss. The mlm
    // head runs only at positions whose target is >= 0.
    float forward(const Batch& batch) override;
    void backward(float loss_scale = 1.0f) override;
    // classifier: (b, num_labels). mlm: (positions with a target, V), those
    // positions in row-major order; every position when the batch has no
    // targets. none: the last block's output (b*t, C).
    const float* logits_view(int& rows, int& cols) const override;
    // The last block's output (b, t, C) of the last forward, device memory.
    const float* hidden() const { return acts.back().ln2; }

  private:
    void declare_activations();
    int cur_B = 0, cur_T = 0, mlm_rows = 0;
    bool have_targets = false, masked = false, typed = false;
};
