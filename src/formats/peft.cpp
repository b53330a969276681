// PEFT LoRA adapter folders (see peft.h).
#include "formats/peft.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "models/bert.h"
#include "core/fileio.h"
#include "models/gpt2.h"
#include "formats/hf_convert.h"
#include "formats/safetensors.h"
#include "formats/weights.h"

namespace {

using json = nlohmann::json;

// What PEFT needs to know of a model: its LoRA, its shape, and the Hugging
// Face class it corresponds to.
struct PeftView {
    std::string arch;
    LoraConfig lora;
    int L = 0, C = 0, I = 0;
    std::string prefix;             // the body's path inside the HF class: "transformer.", "bert." or ""
    json task_type;                 // PEFT's TaskType, or null
    std::string module_to_save;     // the head PEFT saves whole ("score", "classifier"), or ""
    std::vector<std::string> head;  // our names of that head's tensors
};

PeftView view_of(const Model& model, const std::string& where) {
    PeftView v;
    v.arch = model.arch();
    if (const auto* gpt = dynamic_cast<const GPT2*>(&model)) {
        const GPT2Config& c = gpt->cfg;
        v.lora = c.lora, v.L = c.L, v.C = c.C, v.I = 4 * c.C;
        v.prefix = "transformer.";
        if (c.num_labels) {
            v.task_type = "SEQ_CLS", v.module_to_save = "score", v.head = {"score.weight"};
        } else {
            v.task_type = "CAUSAL_LM";
        }
    } else if (const auto* bert = dynamic_cast<const BERT*>(&model)) {
        const BertConfig& c = bert->cfg;
        v.lora = c.lora, v.L = c.L, v.C = c.C, v.I = c.I;
        v.prefix = c.head == BertHead::None ? "" : "bert.";
        if (c.head == BertHead::Classifier) {
            v.task_type = "SEQ_CLS", v.module_to_save = "classifier", v.head = {"classifier.weight", "classifier.bias"};
        } else if (c.head == BertHead::None) {
            v.task_type = "FEATURE_EXTRACTION";
        }
    } else {
        fail(where, "a " + v.arch + " model has no PEFT export");
    }
    if (!v.lora.r) fail(where, "the model has no LoRA adapters: nothing to export as a PEFT adapter");
    return v;
}

// Our tensor name and PEFT's, for every tensor the adapter file holds.
std::vector<std::pair<std::string, std::string>> peft_names(const PeftView& v) {
    std::vector<std::pair<std::string, std::string>> names;
    for (int l = 0; l < v.L; l++)
        for (const LoraSite& site : lora_targets(v.lora, v.arch, v.C, v.I))
            for (const char* which : {"lora_A", "lora_B"}) {
                const std::string ours = lora_param_name(v.arch, l, site, which);
                names.emplace_back(ours, "base_model.model." + v.prefix + ours);
            }
    for (const std::string& h : v.head) names.emplace_back(h, "base_model.model." + h);
    return names;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// PEFT's target_modules: each target's own name when it selects only the
// sites we adapted, else its full path in every block.
json target_modules(const PeftView& v) {
    const std::vector<LoraSite> sites = lora_sites(v.arch, v.C, v.I), targeted = lora_targets(v.lora, v.arch, v.C, v.I);
    auto is_targeted = [&](const LoraSite& s) {
        for (const LoraSite& t : targeted)
            if (t.module == s.module) return true;
        return false;
    };
    json out = json::array();
    for (const LoraSite& t : targeted) {
        bool catches_other = false;
        for (const LoraSite& s : sites) catches_other |= !is_targeted(s) && ends_with("." + s.path, "." + t.module);
        if (!catches_other) {
            out.push_back(t.module);
            continue;
        }
        for (int l = 0; l < v.L; l++) out.push_back(block_prefix(v.arch, l) + t.path);
    }
    return out;
}

json adapter_config(const PeftView& v, const std::string& base_model_name_or_path) {
    const float alpha = v.lora.alpha;
    json config = {
        {"alpha_pattern", json::object()},
        {"auto_mapping", nullptr},
        {"base_model_name_or_path", base_model_name_or_path.empty() ? json() : json(base_model_name_or_path)},
        {"bias", "none"},
        {"fan_in_fan_out", v.arch == "gpt2"},
        {"inference_mode", true},
        {"init_lora_weights", true},
        {"layers_pattern", nullptr},
        {"layers_to_transform", nullptr},
        {"lora_alpha", std::round(alpha) == alpha ? json((int64_t)alpha) : json(shortest_decimal(alpha))},
        {"lora_dropout", shortest_decimal(v.lora.dropout)},
        {"modules_to_save", v.module_to_save.empty() ? json() : json::array({v.module_to_save})},
        {"peft_type", "LORA"},
        {"r", v.lora.r},
        {"rank_pattern", json::object()},
        {"revision", nullptr},
        {"target_modules", target_modules(v)},
        {"task_type", v.task_type},
    };
    if (v.lora.rslora) config["use_rslora"] = true;
    return config;
}

}  // namespace

void save_peft_adapter(const std::string& dir, const Model& model, const std::string& base_model_name_or_path) {
    const PeftView v = view_of(model, dir);
    if (!model.arena.param_mem) fail(dir, "cannot export a model that is not allocated");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail(dir, "cannot create the folder: " + ec.message());

    std::vector<F32Tensor> tensors;
    for (const auto& [ours, theirs] : peft_names(v)) {
        const TensorInfo& t = model.arena.params.at(ours);
        F32Tensor out{theirs, std::vector<int64_t>(t.shape.begin(), t.shape.end()), std::vector<float>(t.numel())};
        model.arena.be.download(out.data.data(), model.arena.param(ours), out.data.size() * sizeof(float));
        tensors.push_back(std::move(out));
    }
    write_safetensors(hf_path(dir, "adapter_model.safetensors"), tensors);
    const std::string text = adapter_config(v, base_model_name_or_path).dump(2) + "\n";
    write_atomically(hf_path(dir, "adapter_config.json"),
                     [&](FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
}

void convert_to_peft(const std::string& path, const std::string& dir, const std::string& base_model_name_or_path) {
    const WeightFile wf = read_weight_file(path);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    std::unique_ptr<Model> model;
    if (wf.arch == "gpt2")
        model = std::make_unique<GPT2>(*be, read_gpt2_config(path), 1, 1);
    else
        model = std::make_unique<BERT>(*be, read_bert_config(path), 1, 1);
    const PeftView v = view_of(*model, path);
    for (TensorInfo& t : model->arena.params.tensors) t.trainable = false;  // only weights move
    model->allocate();
    load_weights(path, *model);
    if (wf.adapter)
        for (const auto& names : peft_names(v)) {
            bool held = false;
            for (const StoredTensor& s : wf.tensors) held |= s.name == names.first;
            if (!held) fail(path, "the adapter file lacks '" + names.first + "', which the PEFT adapter needs");
        }
    save_peft_adapter(dir, *model, base_model_name_or_path);
}
