// What every model (GPT-2, BERT) offers the trainer, the weight files and the
// checkpoints: its parameter arena, a forward over a batch that returns the
// mean loss, a backward that adds gradients, and the config fields that a
// weight file stores. The models differ only in their layers; training code
// is written once against this.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/arena.h"
#include "core/backend.h"

// One batch of b sequences of t tokens, host arrays, row-major. Padding is on
// the right: row i's real tokens are its first lengths[i].
struct Batch {
    int b = 0, t = 0;
    const int* tokens = nullptr;   // (b,t) token ids
    const int* types = nullptr;    // (b,t) token type ids (BERT segments), or null: all 0
    const int* lengths = nullptr;  // (b) real tokens per row, 1..t, or null: all t
    const int* targets = nullptr;  // (b,t) per-token targets (next token, masked token); < 0 = no loss
    const int* labels = nullptr;   // (b) class ids, for a classification head
};

// Checks a batch against the largest one a model is sized for (max_B x max_T),
// its vocabulary, and itself (lengths in 1..t); throws a one-line message.
void check_batch(const Batch& batch, int max_B, int max_T, int V);
// The most tokens (real and virtual) one batch may hold, 2^24: far more than
// fits in memory at any useful width, and small enough that row counts and
// their small multiples stay inside the int that kernels take.
constexpr int64_t kMaxBatchTokens = int64_t(1) << 24;
// Checks that B x T real tokens plus n virtual ones fit a context of max_T,
// and that B x (T + n) is at most kMaxBatchTokens.
void check_context(int B, int T, int n, int max_T);
// Uploads key_mask (b,t) (1 = a real token) when the batch has padding, and
// says whether it did: without padding attention needs no mask.
bool upload_key_mask(Backend& be, int* key_mask, const Batch& batch);

// Adapter tensors (LoRA's "*.lora_A/B.*", "prompt.*", "prefix.*") are the
// ones parameter-efficient methods train; models initialise them apart.
bool is_adapter_tensor(const std::string& name);

// Integer fields describing a model's shape, as a weight file stores them.
using ConfigFields = std::vector<std::pair<std::string, int64_t>>;

struct Model {
    Arena arena;
    int B, T;  // the largest batch the activations are sized for
    // Dropout is on only while training; masks are keyed by (seed, step, site).
    bool training = false;
    uint64_t seed = 0, step = 0;
    // Backward stops below the lowest block with a trainable tensor, and skips
    // the embeddings when they are frozen: that work would only feed frozen
    // parameters. Set by allocate() (see set_backward_floor).
    int lowest_trained_block = 0;
    bool embeddings_trained = true;

    Model(Backend& be, int max_B, int max_T) : arena(be), B(max_B), T(max_T) {}
    virtual ~Model() = default;
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    virtual std::string arch() const = 0;  // "gpt2", "bert"
    virtual ConfigFields config_fields() const = 0;
    // Lays out and allocates the arena; call after marking tensors frozen in arena.params.
    virtual void allocate() = 0;
    // The architecture's own initialisation of every parameter (N(0, 0.02) and so on).
    virtual void init_weights(uint64_t init_seed) = 0;
    // Runs the model on the batch; with targets or labels (whichever the head
    // uses) returns their mean cross-entropy, else 0.
    virtual float forward(const Batch& batch) = 0;
    // Adds loss_scale * d(mean loss)/d(params) into the gradients, for the last
    // forward's batch (loss_scale = 1/accumulation steps averages micro-batches).
    virtual void backward(float loss_scale = 1.0f) = 0;
    // The last forward's logits (device memory): rows x cols, row-major. For a
    // token head rows = b*t; for a classification head rows = b, cols = labels.
    virtual const float* logits_view(int& rows, int& cols) const = 0;
    void zero_grad() {
        if (arena.grad_mem) arena.be.zero(arena.grad_mem, arena.params.trainable_total * sizeof(float));
    }

  protected:
    // Whether backward needs the input of a linear layer, given the layer's
    // paths ("h.3.attn.c_attn"; BERT's fused qkv also lists its query, key
    // and value): it does when "<path>.weight" trains or a LoRA adapter
    // "<path>.lora_A.weight" does. When it does not, the models keep that
    // input in one buffer that every block overwrites.
    bool needs_input(std::initializer_list<std::string> paths) const;
    // is_embedding: the model's tensors below block 0. Prepended prompts
    // ("prompt.*") enter there too; prefixes enter every block.
    template <typename IsEmbedding>
    void set_backward_floor(int L, IsEmbedding is_embedding, bool prompts_prepended, bool prefixed) {
        lowest_trained_block = L;
        embeddings_trained = false;
        for (const TensorInfo& t : arena.params.tensors) {
            if (!t.trainable) continue;
            if (t.layer >= 0 && t.layer < lowest_trained_block) lowest_trained_block = t.layer;
            if (is_embedding(t) || (prompts_prepended && t.name.rfind("prompt.", 0) == 0)) embeddings_trained = true;
        }
        if (embeddings_trained || prefixed) lowest_trained_block = 0;
    }
    DropoutKey dropout_key(uint32_t site) const { return {seed, step, site}; }
    float pdrop(float p) const { return training ? p : 0.0f; }
};
