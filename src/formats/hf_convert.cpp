// Hugging Face folders <-> minitrain weight files (see hf_convert.h).
#include "formats/hf_convert.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "data/text_encoder.h"
#include "models/bert.h"
#include "core/fileio.h"
#include "models/gpt2.h"
#include "formats/hf_bert.h"
#include "formats/hf_gpt2.h"
#include "formats/weights.h"

namespace {

// Converting only moves weights: no gradients, no optimizer state.
void allocate_weights_only(Model& model) {
    for (TensorInfo& t : model.arena.params.tensors) t.trainable = false;
    model.allocate();
}

// Writes the weight file as a Hugging Face folder through save(): `base` is
// the file's config with Hugging Face's dropouts. A file with LoRA is loaded
// into a model with it, whose adapters are merged into the base weights
// (W += s B A); the base tensors are then copied into a model without LoRA.
template <typename M, typename Config, typename Save>
void write_hf(const std::string& path, const Config& cfg, Config base, const std::string& out_dir, Save save) {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    base.lora = {};
    M model(*be, base, 1, 1);
    allocate_weights_only(model);
    if (!cfg.lora.r) {
        load_weights(path, model);
    } else {
        M adapted(*be, cfg, 1, 1);
        allocate_weights_only(adapted);
        load_weights(path, adapted);
        adapted.lora.merge(adapted.arena, adapted.arch(), false);
        std::vector<float> host;
        for (const TensorInfo& t : model.arena.params.tensors) {
            host.resize(t.numel());
            adapted.arena.be.download(host.data(), adapted.arena.param(t.name), host.size() * sizeof(float));
            model.arena.be.upload(model.arena.param(t.name), host.data(), host.size() * sizeof(float));
        }
    }
    save(out_dir, model);
    // The tokenizer ./train saved beside the file goes along, as save_pretrained's does.
    const std::string beside = std::filesystem::path(path).parent_path().string();
    const std::string tokenizer = saved_tokenizer(beside.empty() ? "." : beside);
    if (!tokenizer.empty()) save_tokenizer(tokenizer, out_dir);
    // The class names ./train wrote beside the file, as transformers' pipelines show them.
    if (cfg.num_labels) {
        const std::vector<std::string> names = read_label_names(path, cfg.num_labels);
        if (names.empty()) return;
        nlohmann::json config = read_hf_config(out_dir);
        put_hf_labels(config, cfg.num_labels, names);
        write_hf_config(out_dir, config);
    }
}

}  // namespace

void convert_hf_to_minitrain(const std::string& dir, const std::string& out_path) {
    const std::string path = hf_path(dir, "config.json");
    const nlohmann::json config = read_hf_config(dir);
    if (!config.contains("model_type")) fail(path, "missing field 'model_type' (gpt2 or bert)");
    std::unique_ptr<Backend> be(make_backend("cpu"));
    if (config["model_type"] == "gpt2") {
        GPT2 model(*be, read_hf_gpt2_config(dir), 1, 1);
        check_hf_gpt2(dir, model);  // before allocating what config.json describes
        allocate_weights_only(model);
        load_hf_gpt2(dir, model);
        save_weights(out_path, model);
    } else if (config["model_type"] == "bert") {
        BERT model(*be, read_hf_bert_config(dir), 1, 1);
        check_hf_bert(dir, model);
        allocate_weights_only(model);
        load_hf_bert(dir, model);
        save_weights(out_path, model);
    } else {
        fail(path, "field 'model_type' = " + config["model_type"].dump() + " is not supported (gpt2 or bert)");
    }
}

void convert_minitrain_to_hf(const std::string& path, const std::string& out_dir) {
    const WeightFile wf = read_weight_file(path);
    if (wf.adapter)
        fail(path, "an adapter file holds no base weights; convert the full weight file, or export the adapter "
                   "with --to-peft");
    const std::string& arch = wf.arch;
    if (arch == "gpt2") {
        GPT2Config cfg = read_gpt2_config(path), base = cfg;
        base.embd_pdrop = base.attn_pdrop = base.resid_pdrop = kHfDropout;
        write_hf<GPT2>(path, cfg, base, out_dir, save_hf_gpt2);
    } else if (arch == "bert") {
        BertConfig cfg = read_bert_config(path), base = cfg;
        base.hidden_pdrop = base.attn_pdrop = base.classifier_pdrop = kHfDropout;
        write_hf<BERT>(path, cfg, base, out_dir, save_hf_bert);
    } else {
        fail(path, "holds a " + arch + " model, which has no Hugging Face converter");
    }
}

std::string hf_path(const std::string& dir, const char* name) { return (std::filesystem::path(dir) / name).string(); }

std::string hf_weights_path(const std::string& dir) {
    const std::string path = hf_path(dir, "model.safetensors");
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return path;
    if (std::filesystem::exists(hf_path(dir, "model.safetensors.index.json"), ec))
        fail(path, "absent: the folder holds a sharded checkpoint (model.safetensors.index.json), which is not read");
    if (std::filesystem::exists(hf_path(dir, "pytorch_model.bin"), ec))
        fail(path, "absent: the folder holds pytorch_model.bin, which is not read (save the model with "
                   "safe_serialization=True)");
    return path;  // opening it reports what is wrong
}

nlohmann::json read_hf_config(const std::string& dir) {
    const std::string path = hf_path(dir, "config.json");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        fail(path, "not valid JSON (error at byte " + std::to_string(e.byte) + ")");
    } catch (const nlohmann::json::exception& e) {  // a number beyond a double's range (out_of_range.406)
        fail(path, std::string("not valid JSON (") + e.what() + ")");
    }
    if (!config.is_object()) fail(path, "not a JSON object");
    return config;
}

int hf_positive_int(const nlohmann::json& config, const std::string& key, const std::string& path) {
    if (!config.contains(key)) fail(path, "missing field '" + key + "'");
    const nlohmann::json& v = config[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > INT_MAX)
        fail(path, "field '" + key + "' = " + v.dump() + " is not a positive integer");
    return (int)v.get<int64_t>();
}

float hf_dropout(const nlohmann::json& config, const std::string& key, float fallback, const std::string& path) {
    if (!config.contains(key)) return fallback;
    if (!config[key].is_number()) fail(path, "field '" + key + "' = " + config[key].dump() + " is not a number");
    return config[key].get<float>();
}

void hf_require(const nlohmann::json& config, const std::string& key, const std::vector<nlohmann::json>& allowed,
                const std::string& why, const std::string& path) {
    if (!config.contains(key)) return;
    for (const nlohmann::json& a : allowed)
        if (config[key] == a) return;
    fail(path, "field '" + key + "' = " + config[key].dump() + " is not supported (" + why + ")");
}

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

// The classifier's labels: "num_labels" or the size of "id2label", transformers' 2 when neither is there.
int read_num_labels(const nlohmann::json& config, const std::string& path) {
    int n = 2;
    if (config.contains("id2label")) {
        if (!config["id2label"].is_object()) fail(path, "field 'id2label' is not a JSON object");
        n = (int)config["id2label"].size();
    }
    if (config.contains("num_labels")) {
        const int stated = hf_positive_int(config, "num_labels", path);
        if (config.contains("id2label") && stated != n)
            fail(path, "field 'num_labels' = " + std::to_string(stated) + " disagrees with the " + std::to_string(n) +
                           " entries of 'id2label'");
        n = stated;
    }
    if (n < 2)
        fail(path, "the classifier has " + std::to_string(n) +
                       " label; regression (num_labels 1) is not supported, the classifier needs at least 2");
    return n;
}

void put_hf_labels(nlohmann::json& config, int num_labels, const std::vector<std::string>& names) {
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (int k = 0; k < num_labels; k++) {
        const std::string name = names.empty() ? "LABEL_" + std::to_string(k) : names[k];
        id2label[std::to_string(k)] = name;
        label2id[name] = k;
    }
    config["id2label"] = id2label;
    config["label2id"] = label2id;
}

double shortest_decimal(float x) {
    char buf[32];
    for (int digits = 1;; digits++) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        if ((float)std::strtod(buf, nullptr) == x) return std::strtod(buf, nullptr);
    }
}

void write_hf_config(const std::string& dir, const nlohmann::json& config) {
    const std::string text = config.dump(2) + "\n";
    write_atomically(hf_path(dir, "config.json"), [&](FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
}
