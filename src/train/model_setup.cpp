#include "train/model_setup.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "adapters/freeze.h"
#include "core/threads.h"
#include "formats/weights.h"
#include "models/bert.h"
#include "models/gpt2.h"
#include "models/presets.h"

std::string model_arch(const TrainConfig& cfg, const std::string& weights) {
    if (!weights.empty()) return read_weight_file(weights).arch;
    return is_bert_preset(cfg.preset) ? "bert" : "gpt2";
}

namespace {

bool has_adapters(const TensorTable& params) {
    return std::any_of(params.tensors.begin(), params.tensors.end(),
                       [](const TensorInfo& t) { return is_adapter_tensor(t.name); });
}

// The adapters the flags ask for, or those --adapter carries (r = 0 and kind
// None: none asked for, so a model keeps those of its weights).
struct AdapterChoice {
    LoraConfig lora;
    PromptConfig prompt;
};

AdapterChoice adapter_choice(const TrainConfig& cfg, const std::string& arch) {
    AdapterChoice a;
    if (cfg.lora_r) {
        a.lora.r = cfg.lora_r, a.lora.alpha = cfg.lora_alpha, a.lora.rslora = cfg.lora_rslora;
        a.lora.dropout = cfg.lora_dropout;
        std::stringstream targets(cfg.lora_targets);
        for (std::string t; std::getline(targets, t, ',');) a.lora.targets.push_back(t);
        validate(a.lora, arch);
    }
    if (!cfg.model.empty() && read_weight_file(cfg.model).adapter)
        throw std::runtime_error("--model " + cfg.model + ": an adapter file; give the base weights as --model and this as --adapter");
    if (!cfg.adapter.empty()) {
        const WeightFile af = read_weight_file(cfg.adapter);
        if (!af.adapter) throw std::runtime_error("--adapter " + cfg.adapter + ": not an adapter file (it holds a whole model: use --model)");
        if (af.arch != arch) throw std::runtime_error("--adapter " + cfg.adapter + ": made for " + af.arch + ", the model is " + arch);
        a.lora = lora_from_fields(af.config, arch, cfg.adapter);
        a.prompt = prompt_from_fields(af.config, cfg.adapter);
    }
    if (!cfg.prompt_method.empty()) {
        a.prompt.kind = prompt_kind(cfg.prompt_method), a.prompt.n = cfg.prompt_tokens, a.prompt.hidden = cfg.prompt_hidden;
        validate(a.prompt, "--prompt-method " + cfg.prompt_method);
    }
    return a;
}

// What both architectures' configs get; returns the real tokens per sequence.
template <typename Config>
int complete(Config& c, const TrainConfig& cfg, const AdapterChoice& a, int num_labels) {
    c.num_labels = num_labels;
    if (a.lora.r) c.lora = a.lora;
    c.lora.dropout = cfg.lora_dropout;
    if (a.prompt.kind != PromptKind::None) c.prompt = a.prompt;
    if (cfg.seq_len + c.prompt.n > c.max_T)
        throw std::runtime_error("--seq-len " + std::to_string(cfg.seq_len) +
                                 (c.prompt.n ? " plus " + std::to_string(c.prompt.n) + " virtual tokens" : "") +
                                 " exceeds the model's context of " + std::to_string(c.max_T));
    return std::min(cfg.seq_len ? cfg.seq_len : (int)1e9, c.max_T - c.prompt.n);
}

// A model of either architecture with what the setup prints and needs of its config.
struct Built {
    std::unique_ptr<Model> model;
    std::string description;
    int V = 0, L = 0;
    LoraConfig lora;
    PromptConfig prompt;
};

template <typename M>
Built built(std::unique_ptr<M> model, const char* description) {
    const auto& c = model->cfg;
    const LoraConfig lora = c.lora;
    const PromptConfig prompt = c.prompt;
    const int V = c.V, L = c.L;
    return {std::move(model), description, V, L, lora, prompt};
}

Built make_gpt2(const TrainConfig& cfg, const std::string& weights, const Task& task, Backend& be) {
    const ShapeOverrides shape{cfg.layers, cfg.channels, cfg.heads, cfg.max_seq_len};
    GPT2Config c = weights.empty() ? gpt2_preset(cfg.preset, task.data_vocab(), shape) : read_gpt2_config(weights);
    c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = cfg.dropout;
    c.decay_embeddings = cfg.decay_embeddings;
    const int t = complete(c, cfg, adapter_choice(cfg, "gpt2"), task.num_labels());
    char buf[160];
    std::snprintf(buf, sizeof buf, "GPT-2 L=%d C=%d H=%d V=%d (padded %d) max T=%d%s", c.L, c.C, c.NH, c.V, c.Vp,
                  c.max_T, task.num_labels() ? ", classification head" : "");
    return built(std::make_unique<GPT2>(be, c, cfg.batch, t), buf);
}

Built make_bert(const TrainConfig& cfg, const std::string& weights, const Task& task, Backend& be) {
    const ShapeOverrides shape{cfg.layers, cfg.channels, cfg.heads, cfg.max_seq_len};
    BertConfig c = weights.empty() ? bert_preset(cfg.preset, task.data_vocab(), shape) : read_bert_config(weights);
    c.hidden_pdrop = c.attn_pdrop = c.classifier_pdrop = cfg.dropout;
    c.head = task.num_labels() ? BertHead::Classifier : BertHead::MaskedLM;
    const int t = complete(c, cfg, adapter_choice(cfg, "bert"), task.num_labels());
    char buf[160];
    std::snprintf(buf, sizeof buf, "BERT L=%d C=%d H=%d I=%d V=%d max T=%d, %s head", c.L, c.C, c.NH, c.I, c.V,
                  c.max_T, task.num_labels() ? "classification" : "masked-LM");
    return built(std::make_unique<BERT>(be, c, cfg.batch, t), buf);
}

void print_adapters(const LoraConfig& lora, const PromptConfig& prompt) {
    if (lora.r) {
        std::string targets;
        for (const std::string& t : lora.targets) targets += (targets.empty() ? "" : ",") + t;
        std::printf("LoRA: r %d, alpha %g (scale %g%s), dropout %g, targets %s\n", lora.r, lora.alpha, lora.scaling(),
                    lora.rslora ? ", rsLoRA" : "", lora.dropout, targets.c_str());
    }
    if (prompt.kind != PromptKind::None) {
        static const char* names[] = {"", "prompt tuning", "P-tuning (MLP encoder)", "prefix tuning"};
        std::printf("prompts: %s, %d virtual tokens", names[(int)prompt.kind], prompt.n);
        if (prompt.hidden) std::printf(", encoder width %d", prompt.hidden);
        std::printf("\n");
    }
}

void print_summary(const Model& model) {
    const TensorTable& params = model.arena.params;
    std::printf("%s", describe_groups(params).c_str());
    const size_t total = params.count_elements(false), trainable = params.count_elements(true);
    std::printf("parameters: %zu total, %zu trainable (%.1f%%)\n", total, trainable, 100.0 * trainable / total);
    std::printf("arena: params %.1f MiB, grads %.1f MiB, AdamW m+v %.1f MiB, activations %.1f MiB\n",
                model.arena.bytes_params() / 1048576.0, model.arena.bytes_grads() / 1048576.0,
                2 * model.arena.bytes_grads() / 1048576.0, model.arena.bytes_acts() / 1048576.0);
}

}  // namespace

std::unique_ptr<Model> build_model(const TrainConfig& cfg, const std::string& weights, const Task& task, Backend& be) {
    Built b = model_arch(cfg, weights) == "gpt2" ? make_gpt2(cfg, weights, task, be) : make_bert(cfg, weights, task, be);
    if (task.data_vocab() > b.V)
        throw std::runtime_error((cfg.task == "lm" ? "--tokenizer " + cfg.tokenizer : "--train-data " + cfg.train_data) +
                                 ": vocabulary of " + std::to_string(task.data_vocab()) + " does not fit the model's " +
                                 std::to_string(b.V));
    // With adapters (LoRA, prompts) they and a classification head (PEFT's
    // modules_to_save: score, classifier) train, nothing else.
    TensorTable& params = b.model->arena.params;
    if (has_adapters(params))
        for (TensorInfo& t : params.tensors)
            t.trainable = is_adapter_tensor(t.name) || t.name == "score.weight" || t.name.rfind("classifier.", 0) == 0;
    if (!cfg.freeze.empty()) apply_freeze(params, cfg.freeze, b.L);
    if (cfg.layer_lr_decay != 1.0f) apply_layer_lr_decay(params, cfg.layer_lr_decay, b.L);
    b.model->allocate();
    std::printf("device: %s, %d threads (waiting: %s)\n", be.name(), omp_get_max_threads(), omp_wait_description());
    std::printf("model: %s, dropout %.2f\n", b.description.c_str(), cfg.dropout);
    print_adapters(b.lora, b.prompt);
    print_summary(*b.model);
    return std::move(b.model);
}

void load_start(const TrainConfig& cfg, const std::string& resume_from, Model& model, TrainState& st) {
    st.seed = cfg.seed;
    st.sample_rng = cfg.seed ^ 0x5EED5A3D1E5ull;
    if (!resume_from.empty()) {
        load_checkpoint(resume_from, model, st);  // the run's own seed comes back with it
        std::printf("resumed from %s at step %lld\n", resume_from.c_str(), (long long)st.step);
    } else if (!cfg.model.empty()) {
        // A pretrained body under this task's head: the head starts fresh where the file has none.
        model.init_weights(cfg.seed);
        const bool adds = cfg.task != "lm" || has_adapters(model.arena.params);
        const LoadReport r = load_weights(cfg.model, model, adds);
        std::printf("weights: %s\n", cfg.model.c_str());
        auto list = [](const std::vector<std::string>& names) {
            std::string s;
            for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
            return s;
        };
        if (!r.missing.empty()) std::printf("  initialised fresh (not in the file): %s\n", list(r.missing).c_str());
        if (!r.unused.empty()) std::printf("  not used (another head's): %s\n", list(r.unused).c_str());
        if (!cfg.adapter.empty()) {
            load_weights(cfg.adapter, model);
            std::printf("adapter: %s\n", cfg.adapter.c_str());
        }
    } else {
        model.init_weights(cfg.seed);
    }
    model.seed = st.seed;
}
