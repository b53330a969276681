// Hugging Face GPT-2 folders <-> GPT2 (see hf_gpt2.h).
#include "formats/hf_gpt2.h"

#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/fileio.h"
#include "formats/hf_convert.h"
#include "formats/safetensors.h"

namespace {

const char* const kPrefix = "transformer.";  // GPT2LMHeadModel's; GPT2Model has none
const char* const kLmHead = "lm_head.weight";
const char* const kScore = "score.weight";  // GPT2ForSequenceClassification's head, outside "transformer."

size_t numel(const std::vector<int64_t>& shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= (size_t)d;
    return n;
}

// Block matmul weights are the only 2-D tensors inside a block: HF's Conv1D
// stores them (in, out), the transpose of ours.
bool is_conv1d_weight(const TensorInfo& t) { return t.layer >= 0 && t.shape.size() == 2; }

// The tensor's shape in a Hugging Face file.
std::vector<int64_t> hf_shape(const TensorInfo& t, const GPT2Config& cfg) {
    if (t.name == "wte.weight") return {cfg.V, cfg.C};
    if (is_conv1d_weight(t)) return {t.shape[1], t.shape[0]};
    return std::vector<int64_t>(t.shape.begin(), t.shape.end());
}

// The causal-mask buffers "h.N.attn.bias" and "h.N.attn.masked_bias" that
// older transformers saved with the weights; they hold no parameters.
bool is_attention_buffer(const std::string& name) {
    size_t i = 2;
    if (name.compare(0, 2, "h.") != 0) return false;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') i++;
    const std::string rest = name.substr(i);
    return i > 2 && (rest == ".attn.bias" || rest == ".attn.masked_bias");
}

std::string config_str(const GPT2Config& c) {
    return "n_layer " + std::to_string(c.L) + ", n_head " + std::to_string(c.NH) + ", n_embd " +
           std::to_string(c.C) + ", n_positions " + std::to_string(c.max_T) + ", vocab_size " + std::to_string(c.V);
}

}  // namespace

GPT2Config read_hf_gpt2_config(const std::string& dir) {
    const std::string path = hf_path(dir, "config.json");
    const nlohmann::json config = read_hf_config(dir);

    hf_require(config, "model_type", {"gpt2"}, "this converter reads GPT-2", path);
    // gelu_pytorch_tanh is the same tanh approximation under another name.
    hf_require(config, "activation_function", {"gelu_new", "gelu_pytorch_tanh"},
               "the model uses GPT-2's tanh GELU, gelu_new", path);
    hf_require(config, "layer_norm_epsilon", {1e-5}, "the model's LayerNorm uses 1e-5", path);
    hf_require(config, "scale_attn_weights", {true}, "attention scores are always scaled by 1/sqrt(head size)", path);
    hf_require(config, "scale_attn_by_inverse_layer_idx", {false}, "no per-layer attention scaling", path);
    hf_require(config, "tie_word_embeddings", {true}, "the LM head is always tied to wte", path);
    hf_require(config, "add_cross_attention", {false}, "no cross-attention", path);

    for (const char* key : {"n_layer", "n_head", "n_embd", "vocab_size"})
        if (!config.contains(key)) fail(path, std::string("missing field '") + key + "'");
    const char* positions = config.contains("n_positions") ? "n_positions" : "n_ctx";
    if (!config.contains(positions)) fail(path, "missing field 'n_positions' (or the older 'n_ctx')");

    GPT2Config cfg;
    cfg.L = hf_positive_int(config, "n_layer", path);
    cfg.NH = hf_positive_int(config, "n_head", path);
    cfg.C = hf_positive_int(config, "n_embd", path);
    cfg.V = hf_positive_int(config, "vocab_size", path);
    cfg.max_T = hf_positive_int(config, positions, path);
    if (cfg.V > INT_MAX - 127) fail(path, "vocab_size " + std::to_string(cfg.V) + " is too large");
    cfg.Vp = (cfg.V + 127) / 128 * 128;
    if (config.contains("n_inner") && !config["n_inner"].is_null() && config["n_inner"] != 4 * (int64_t)cfg.C)
        fail(path, "field 'n_inner' = " + config["n_inner"].dump() + " is not supported (the MLP is 4 * n_embd wide)");
    cfg.embd_pdrop = hf_dropout(config, "embd_pdrop", kHfDropout, path);
    cfg.attn_pdrop = hf_dropout(config, "attn_pdrop", kHfDropout, path);
    cfg.resid_pdrop = hf_dropout(config, "resid_pdrop", kHfDropout, path);
    const nlohmann::json archs = config.value("architectures", nlohmann::json::array());
    if (std::find(archs.begin(), archs.end(), "GPT2ForSequenceClassification") != archs.end())
        cfg.num_labels = read_num_labels(config, path);
    validate(cfg, path);
    return cfg;
}

// "transformer." when the file's names carry GPT2LMHeadModel's prefix, else "".
static std::string name_prefix(const SafetensorsHeader& header) {
    for (const SafetensorsEntry& t : header.tensors)
        if (t.name.compare(0, std::strlen(kPrefix), kPrefix) == 0) return kPrefix;
    return "";
}

// Our tensor's name in the file: the classifier's score sits outside the prefix.
static std::string file_name(const TensorInfo& t, const std::string& prefix) {
    return t.name == kScore ? t.name : prefix + t.name;
}

void check_hf_gpt2(const std::string& dir, const GPT2& model) {
    const GPT2Config cfg = read_hf_gpt2_config(dir);
    const GPT2Config& m = model.cfg;
    if (cfg.L != m.L || cfg.NH != m.NH || cfg.C != m.C || cfg.max_T != m.max_T || cfg.V != m.V)
        fail(hf_path(dir, "config.json"),
             "the config (" + config_str(cfg) + ") differs from the model's (" + config_str(m) + ")");

    SafetensorsFile file(hf_weights_path(dir));
    const std::string& path = file.path();
    const SafetensorsHeader& header = file.header();
    const std::string prefix = name_prefix(header);
    for (const SafetensorsEntry& t : header.tensors) {
        if (t.name == kLmHead || (t.name == kScore && cfg.num_labels)) continue;
        const bool ours = t.name.compare(0, prefix.size(), prefix) == 0;
        const std::string name = ours ? t.name.substr(prefix.size()) : t.name;
        if (!ours || (!model.arena.params.find(name) && !is_attention_buffer(name)))
            fail(path, "unexpected tensor '" + t.name + "' (not part of a GPT-2 with " + config_str(cfg) + ")");
    }
    for (const TensorInfo& t : model.arena.params.tensors) {
        const std::string name = file_name(t, prefix);
        const SafetensorsEntry* entry = header.find(name);
        if (!entry) fail(path, "missing tensor '" + name + "'");
        const std::vector<int64_t> want = hf_shape(t, cfg);
        if (entry->shape != want)
            fail(path, "tensor '" + name + "' has shape " + entry->shape_str() + ", expected " + shape_str(want) +
                           " for " + config_str(cfg));
    }
}

void load_hf_gpt2(const std::string& dir, GPT2& model) {
    check_hf_gpt2(dir, model);
    if (!model.arena.param_mem) fail(dir, "cannot load into a model that is not allocated");
    const GPT2Config& cfg = model.cfg;
    SafetensorsFile file(hf_weights_path(dir));
    const std::string& path = file.path();
    const SafetensorsHeader& header = file.header();
    const std::string prefix = name_prefix(header);

    std::vector<float> wte;
    for (const TensorInfo& t : model.arena.params.tensors) {
        const std::string name = file_name(t, prefix);
        std::vector<float> hf = file.read_f32(*header.find(name));
        for (size_t i = 0; i < hf.size(); i++)
            if (!std::isfinite(hf[i]))
                fail(path, "tensor '" + name + "' holds a non-finite value (" + std::to_string(hf[i]) +
                               ") at element " + std::to_string(i));
        std::vector<float> ours(t.numel(), 0.0f);  // wte's padding rows stay zero
        if (is_conv1d_weight(t)) {
            const int OC = t.shape[0], IC = t.shape[1];
            for (int o = 0; o < OC; o++)
                for (int i = 0; i < IC; i++) ours[(size_t)o * IC + i] = hf[(size_t)i * OC + o];
        } else {
            std::copy(hf.begin(), hf.end(), ours.begin());
        }
        model.arena.be.upload(model.arena.param(t.name), ours.data(), ours.size() * sizeof(float));
        if (t.name == "wte.weight") wte = std::move(hf);
    }

    if (const SafetensorsEntry* head = header.find(kLmHead)) {
        if (head->shape != std::vector<int64_t>{cfg.V, cfg.C} || file.read_f32(*head) != wte)
            fail(path, std::string("tensor '") + kLmHead + "' differs from '" + prefix +
                           "wte.weight' (only a head tied to the token embedding is supported)");
    }
}

void save_hf_gpt2(const std::string& dir, const GPT2& model) {
    if (!model.arena.param_mem) fail(dir, "cannot save a model that is not allocated");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail(dir, "cannot create the folder: " + ec.message());

    const GPT2Config& c = model.cfg;
    std::vector<F32Tensor> tensors;
    for (const TensorInfo& t : model.arena.params.tensors) {
        std::vector<float> ours(t.numel());
        model.arena.be.download(ours.data(), model.arena.param(t.name), ours.size() * sizeof(float));
        F32Tensor out{t.name == kScore ? t.name : kPrefix + t.name, hf_shape(t, c), {}};
        if (is_conv1d_weight(t)) {
            const int OC = t.shape[0], IC = t.shape[1];
            out.data.resize(ours.size());
            for (int i = 0; i < IC; i++)
                for (int o = 0; o < OC; o++) out.data[(size_t)i * OC + o] = ours[(size_t)o * IC + i];
        } else {
            ours.resize(numel(out.shape));  // wte: the padding rows go
            out.data = std::move(ours);
        }
        tensors.push_back(std::move(out));
    }
    write_safetensors(hf_path(dir, "model.safetensors"), tensors);

    // What GPT2LMHeadModel.from_pretrained needs, with every field the model
    // depends on spelled out rather than left to transformers' defaults.
    nlohmann::json config = {
        {"activation_function", "gelu_new"},
        {"architectures", nlohmann::json::array({"GPT2LMHeadModel"})},
        {"attn_pdrop", shortest_decimal(c.attn_pdrop)},
        {"embd_pdrop", shortest_decimal(c.embd_pdrop)},
        {"layer_norm_epsilon", 1e-5},
        {"model_type", "gpt2"},
        {"n_embd", c.C},
        {"n_head", c.NH},
        {"n_inner", nullptr},
        {"n_layer", c.L},
        {"n_positions", c.max_T},
        {"reorder_and_upcast_attn", false},
        {"resid_pdrop", shortest_decimal(c.resid_pdrop)},
        {"scale_attn_by_inverse_layer_idx", false},
        {"scale_attn_weights", true},
        {"tie_word_embeddings", true},
        {"torch_dtype", "float32"},
        {"use_cache", true},
        {"vocab_size", c.V},
    };
    if (c.num_labels) {
        config["architectures"] = nlohmann::json::array({"GPT2ForSequenceClassification"});
        put_hf_labels(config, c.num_labels);
        // GPT-2 has no pad token; GPT2ForSequenceClassification needs one to find each
        // row's last real token, and users set it to the end-of-text id, the last one.
        config["pad_token_id"] = c.V - 1;
    }
    write_hf_config(dir, config);
}
