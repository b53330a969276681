// Prompt learning, as Hugging Face PEFT computes it, for GPT-2 and BERT:
//
//   prompt   prompt tuning (Lester et al. 2021): n trained virtual-token
//            embeddings P (n,C) are prepended to the input embeddings.
//   ptuning  P-tuning (Liu et al. 2021) with PEFT's MLP encoder:
//            P = Linear(H,C)(ReLU(Linear(H,H)(ReLU(Linear(C,H)(E))))), E (n,C).
//   prefix   prefix tuning / P-tuning v2 (Li & Liang 2021; Liu et al. 2022):
//            every layer's attention gets n extra keys and values in front,
//            K' = [P_K ; K], V' = [P_V ; V], seen by every query. The prefixes
//            are a table (n, L*2C) laid out [layer 0 key | layer 0 value |
//            layer 1 key | ...] (PEFT's layout), or with hidden > 0 its
//            reparameterisation Linear(H, L*2C)(tanh(Linear(C,H)(E))), E (n,C).
//
// Prepended prompts take positions 0..n-1, and BERT gives them token type 0,
// the embedding LayerNorm and dropout, as PEFT does. With prefixes the real
// tokens start at position n (Hugging Face offsets positions by the past
// length). Either way n + t must fit the model's context.
//
// Where this deliberately differs from PEFT (README): BERT's pooler reads
// [CLS] (position n), not virtual token 0; GPT-2's classifier reads the last
// real token, not the last position.
#pragma once
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/backend.h"
#include "core/model.h"

enum class PromptKind { None = 0, Prompt = 1, PTuning = 2, Prefix = 3 };

struct PromptConfig {
    PromptKind kind = PromptKind::None;
    int n = 0;       // virtual tokens
    int hidden = 0;  // ptuning: the MLP width (required); prefix: the reparameterisation width (0: none)
};

// PromptKind by its flag name: "prompt", "ptuning", "prefix"; throws for others.
PromptKind prompt_kind(const std::string& name);
void validate(const PromptConfig& cfg, const std::string& what);
// Fields prompt_kind, prompt_n, prompt_hidden in weight files (none without prompts), and back.
void add_prompt_fields(ConfigFields& fields, const PromptConfig& cfg);
PromptConfig prompt_from_fields(const ConfigFields& fields, const std::string& what);
// The trained tensors ("prompt.*" or "prefix.*", PEFT's module names):
//   prompt.embedding.weight (n,C); P-tuning adds prompt.mlp_head.{0,2,4}.{weight,bias};
//   prefix.embedding.weight (n, L*2C), or (n,C) plus prefix.transform.{0,2}.{weight,bias}.
void add_prompt_params(TensorTable& params, const PromptConfig& cfg, int L, int C);

// The batch as a model's blocks see it with n virtual tokens prepended: t + n
// positions, lengths + n, targets -1 at the virtual positions (tokens and
// types stay the real ones: Prompts::embed places them). n = 0 passes it through.
struct PromptedBatch {
    Batch batch;
    std::vector<int> lengths, targets;
    PromptedBatch(const Batch& real, int n);
};

// The run-time side: the encoder, the prepended embeddings, the prefixed attention.
struct Prompts {
    PromptConfig cfg;
    int L = 0, C = 0;
    float *E = nullptr, *dE = nullptr;  // embedding.weight
    float *w[3] = {}, *b[3] = {}, *dw[3] = {}, *db[3] = {};  // the encoder's linears
    float *h[2] = {}, *dh[2] = {};      // its hidden activations (n,H)
    float *out = nullptr, *dout = nullptr;  // its output: prompts (n,C) or prefixes (n, L*2C)
    int* ids = nullptr;                 // 0..n-1
    // prefix tuning: per-layer gathered keys/values and their index lists
    std::vector<float*> ext;            // (B, n+T, 3C) per layer
    float *ext_out = nullptr, *dext = nullptr, *dext_out = nullptr;
    int *src_rows = nullptr, *out_rows = nullptr, *ext_mask = nullptr;

    bool prepends() const { return cfg.kind == PromptKind::Prompt || cfg.kind == PromptKind::PTuning; }
    bool prefixes() const { return cfg.kind == PromptKind::Prefix; }
    // Positions the model's own sequence gains in front (prompt, ptuning).
    int extra_tokens() const { return prepends() ? cfg.n : 0; }
    // The first real token's position.
    int position_offset() const { return cfg.n; }
    // With prefixes each layer's qkv table has n rows for the prefix before the real ones.
    size_t qkv_offset() const { return prefixes() ? (size_t)cfg.n * 3 * C : 0; }

    // Activations for batches of up to B x T real tokens; `att` is the
    // backend's attention_saved_floats for (B, n+T) and goes per layer into
    // "h.<l>.att"-style slots that the model sizes itself (prefix only: see
    // attention_saved_tokens).
    static void declare(TensorTable& acts, const PromptConfig& cfg, int L, int C, int B, int T);
    void bind(const Arena& arena, const PromptConfig& cfg, int L, int C);
    // Initialisation as PEFT: embeddings N(0,1), linears U(+-1/sqrt(in)).
    static void init(Arena& arena, const PromptConfig& cfg, uint64_t seed);

    // out = encoder(E) once per forward; backward adds dout through it into dE and the linears.
    void encode(Backend& be) const;
    // Clears dout where it is the encoder's (not dE itself) before a backward accumulates into it.
    void begin_backward(Backend& be) const;
    void encode_backward(Backend& be) const;
    // Prepended embeddings, x (b, n+t, C): rows [out[p] + wpe[p]; wte[tok] + wpe[n+j] + wtt[type]] (+ wtt[0] on the prompt rows).
    void embed(Backend& be, float* x, const int* tokens, const int* types, const float* wte, const float* wpe,
               const float* wtt, int b, int t) const;
    void embed_backward(Backend& be, float* dwte, float* dwpe, float* dwtt, const float* dx, const int* tokens,
                        const int* types, int b, int t) const;
    // Uploads the prefix index lists for a batch (b, t) with optional lengths; call once per forward.
    void prepare_prefix(Backend& be, const Batch& batch, bool padded) const;
    // Layer l's attention (the backend's kernel, with this layer's prefix in
    // front when there is one): qkv (b*t, 3C) as the model packs it, with the
    // qkv_offset() rows for the prefix before it. mask: the key mask or null.
    void attention_forward(Backend& be, int l, float* atty, float* saved, float* qkv, const int* mask, int b, int t,
                           int NH, bool causal, float p, DropoutKey key) const;
    // dqkv (b*t, 3C) is written (and the prefix rows before it); dout gets layer l's prefix gradient.
    void attention_backward(Backend& be, int l, float* dqkv, const float* datty, const float* qkv, const float* saved,
                            const int* mask, int b, int t, int NH, bool causal, float p, DropoutKey key) const;
};
