// Hugging Face GPT-2 folders <-> GPT2 (see hf_gpt2.h).
#include "hf_gpt2.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

#include "fileio.h"
#include "safetensors.h"
#include "weights.h"

namespace {

const char* const kPrefix = "transformer.";  // GPT2LMHeadModel's; GPT2Model has none
const char* const kLmHead = "lm_head.weight";
const float kHfDropout = 0.1f;  // transformers' GPT2Config default for each dropout

std::string in_dir(const std::string& dir, const char* file) { return (std::filesystem::path(dir) / file).string(); }

size_t numel(const std::vector<int64_t>& shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= (size_t)d;
    return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
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

int positive_int(const nlohmann::json& config, const std::string& key, const std::string& path) {
    const nlohmann::json& v = config[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > INT_MAX)
        fail(path, "field '" + key + "' = " + v.dump() + " is not a positive integer");
    return (int)v.get<int64_t>();
}

// A dropout probability, transformers' default when absent (validate() checks the range).
float dropout(const nlohmann::json& config, const std::string& key, const std::string& path) {
    if (!config.contains(key)) return kHfDropout;
    if (!config[key].is_number()) fail(path, "field '" + key + "' = " + config[key].dump() + " is not a number");
    return config[key].get<float>();
}

// Fails unless the field is absent or holds one of the values the model implements.
void require(const nlohmann::json& config, const std::string& key, const std::vector<nlohmann::json>& allowed,
             const std::string& why, const std::string& path) {
    if (!config.contains(key)) return;
    for (const nlohmann::json& a : allowed)
        if (config[key] == a) return;
    fail(path, "field '" + key + "' = " + config[key].dump() + " is not supported (" + why + ")");
}

// The shortest decimal that reads back as the same float (0.1f -> 0.1, not 0.10000000149011612).
double shortest(float x) {
    char buf[32];
    for (int digits = 1;; digits++) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        if ((float)std::strtod(buf, nullptr) == x) return std::strtod(buf, nullptr);
    }
}

// Converting only moves weights: no gradients, no optimizer state.
void allocate_weights_only(GPT2& model) {
    for (TensorInfo& t : model.arena.params.tensors) t.trainable = false;
    model.allocate();
}

}  // namespace

GPT2Config read_hf_gpt2_config(const std::string& dir) {
    const std::string path = in_dir(dir, "config.json");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        fail(path, "not valid JSON (error at byte " + std::to_string(e.byte) + ")");
    }
    if (!config.is_object()) fail(path, "not a JSON object");

    require(config, "model_type", {"gpt2"}, "this converter reads GPT-2", path);
    // gelu_pytorch_tanh is the same tanh approximation under another name.
    require(config, "activation_function", {"gelu_new", "gelu_pytorch_tanh"},
            "the model uses GPT-2's tanh GELU, gelu_new", path);
    require(config, "layer_norm_epsilon", {1e-5}, "the model's LayerNorm uses 1e-5", path);
    require(config, "scale_attn_weights", {true}, "attention scores are always scaled by 1/sqrt(head size)", path);
    require(config, "scale_attn_by_inverse_layer_idx", {false}, "no per-layer attention scaling", path);
    require(config, "tie_word_embeddings", {true}, "the LM head is always tied to wte", path);
    require(config, "add_cross_attention", {false}, "no cross-attention", path);

    for (const char* key : {"n_layer", "n_head", "n_embd", "vocab_size"})
        if (!config.contains(key)) fail(path, std::string("missing field '") + key + "'");
    const char* positions = config.contains("n_positions") ? "n_positions" : "n_ctx";
    if (!config.contains(positions)) fail(path, "missing field 'n_positions' (or the older 'n_ctx')");

    GPT2Config cfg;
    cfg.L = positive_int(config, "n_layer", path);
    cfg.NH = positive_int(config, "n_head", path);
    cfg.C = positive_int(config, "n_embd", path);
    cfg.V = positive_int(config, "vocab_size", path);
    cfg.max_T = positive_int(config, positions, path);
    if (cfg.V > INT_MAX - 127) fail(path, "vocab_size " + std::to_string(cfg.V) + " is too large");
    cfg.Vp = (cfg.V + 127) / 128 * 128;
    if (config.contains("n_inner") && !config["n_inner"].is_null() && config["n_inner"] != 4 * (int64_t)cfg.C)
        fail(path, "field 'n_inner' = " + config["n_inner"].dump() + " is not supported (the MLP is 4 * n_embd wide)");
    cfg.embd_pdrop = dropout(config, "embd_pdrop", path);
    cfg.attn_pdrop = dropout(config, "attn_pdrop", path);
    cfg.resid_pdrop = dropout(config, "resid_pdrop", path);
    validate(cfg, path);
    return cfg;
}

void load_hf_gpt2(const std::string& dir, GPT2& model) {
    const GPT2Config cfg = read_hf_gpt2_config(dir);
    const GPT2Config& m = model.cfg;
    if (cfg.L != m.L || cfg.NH != m.NH || cfg.C != m.C || cfg.max_T != m.max_T || cfg.V != m.V)
        fail(in_dir(dir, "config.json"),
             "the config (" + config_str(cfg) + ") differs from the model's (" + config_str(m) + ")");
    if (!model.arena.param_mem) fail(dir, "cannot load into a model that is not allocated");

    SafetensorsFile file(in_dir(dir, "model.safetensors"));
    const std::string& path = file.path();
    const SafetensorsHeader& header = file.header();
    bool prefixed = false;
    for (const SafetensorsEntry& t : header.tensors) prefixed |= t.name.compare(0, std::strlen(kPrefix), kPrefix) == 0;
    const std::string prefix = prefixed ? kPrefix : "";

    for (const SafetensorsEntry& t : header.tensors) {
        if (t.name == kLmHead) continue;
        const bool ours = t.name.compare(0, prefix.size(), prefix) == 0;
        const std::string name = ours ? t.name.substr(prefix.size()) : t.name;
        if (!ours || (!model.arena.params.find(name) && !is_attention_buffer(name)))
            fail(path, "unexpected tensor '" + t.name + "' (not part of a GPT-2 with " + config_str(cfg) + ")");
    }

    std::vector<float> wte;
    for (const TensorInfo& t : model.arena.params.tensors) {
        const std::string name = prefix + t.name;
        const SafetensorsEntry* entry = header.find(name);
        if (!entry) fail(path, "missing tensor '" + name + "'");
        const std::vector<int64_t> want = hf_shape(t, cfg);
        if (entry->shape != want)
            fail(path, "tensor '" + name + "' has shape " + entry->shape_str() + ", expected " + shape_str(want) +
                           " for " + config_str(cfg));
        std::vector<float> hf = file.read_f32(*entry);
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
        F32Tensor out{kPrefix + t.name, hf_shape(t, c), {}};
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
    write_safetensors(in_dir(dir, "model.safetensors"), tensors);

    // What GPT2LMHeadModel.from_pretrained needs, with every field the model
    // depends on spelled out rather than left to transformers' defaults.
    nlohmann::json config = {
        {"activation_function", "gelu_new"},
        {"architectures", nlohmann::json::array({"GPT2LMHeadModel"})},
        {"attn_pdrop", shortest(c.attn_pdrop)},
        {"embd_pdrop", shortest(c.embd_pdrop)},
        {"layer_norm_epsilon", 1e-5},
        {"model_type", "gpt2"},
        {"n_embd", c.C},
        {"n_head", c.NH},
        {"n_inner", nullptr},
        {"n_layer", c.L},
        {"n_positions", c.max_T},
        {"reorder_and_upcast_attn", false},
        {"resid_pdrop", shortest(c.resid_pdrop)},
        {"scale_attn_by_inverse_layer_idx", false},
        {"scale_attn_weights", true},
        {"tie_word_embeddings", true},
        {"torch_dtype", "float32"},
        {"use_cache", true},
        {"vocab_size", c.V},
    };
    const std::string text = config.dump(2) + "\n";
    write_atomically(in_dir(dir, "config.json"), [&](FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
}

void convert_hf_to_minitrain(const std::string& dir, const std::string& out_path) {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2 model(*be, read_hf_gpt2_config(dir), 1, 1);
    allocate_weights_only(model);
    load_hf_gpt2(dir, model);
    save_gpt2_weights(out_path, model);
}

void convert_minitrain_to_hf(const std::string& path, const std::string& out_dir) {
    // Weight files do not record dropout, so the folder gets transformers' default.
    GPT2Config cfg = read_gpt2_config(path);
    cfg.embd_pdrop = cfg.attn_pdrop = cfg.resid_pdrop = kHfDropout;
    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2 model(*be, cfg, 1, 1);
    allocate_weights_only(model);
    load_gpt2_weights(path, model);
    save_hf_gpt2(out_dir, model);
}
