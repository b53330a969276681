// Adapter files (src/weights), PEFT adapter folders (src/peft) and the merged
// Hugging Face export of a LoRA model (src/hf_convert), on tiny GPT-2 and
// BERT models whose LoRA A and B are random (PEFT's B = 0 would hide a
// wrong merge). Files are read back here with the test's own safetensors
// reader and expected sizes are computed from the layout in weights.h, not
// by the code under test. Merged weights are compared with W + s B A
// computed here in double precision: max abs difference 1e-6 (the float32
// merge of r = 2 products of values below 1 rounds at about 1e-7); logits of
// the merged model and the unmerged adapted one within 1e-5 (max abs
// difference over max abs value), the suite's norm for float32 forwards.
// Everything else must match exactly.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "models/bert.h"
#include "models/gpt2.h"
#include "gradcheck.h"
#include "formats/hf_bert.h"
#include "formats/hf_convert.h"
#include "formats/hf_gpt2.h"
#include "formats/peft.h"
#include "support.h"
#include "formats/weights.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

GPT2Config gpt2_config(int num_labels, std::vector<std::string> targets, int r = 2) {
    GPT2Config c;
    c.max_T = 8, c.V = 11, c.Vp = 16, c.L = 2, c.NH = 2, c.C = 8;
    c.num_labels = num_labels;
    c.lora.r = r;
    c.lora.alpha = 4.0f;
    c.lora.targets = std::move(targets);
    validate(c.lora, "gpt2");
    return c;
}

BertConfig bert_config(BertHead head, std::vector<std::string> targets) {
    BertConfig c;
    c.max_T = 8, c.V = 13, c.types = 2, c.L = 2, c.NH = 2, c.C = 8, c.I = 16;
    c.head = head;
    c.num_labels = head == BertHead::Classifier ? 3 : 0;
    c.lora.r = 2;
    c.lora.alpha = 3.0f;
    c.lora.rslora = true;
    c.lora.targets = std::move(targets);
    validate(c.lora, "bert");
    return c;
}

bool is_lora(const std::string& name) { return name.find(".lora_") != std::string::npos; }
bool is_cls_head(const std::string& name) { return name == "score.weight" || name.rfind("classifier.", 0) == 0; }

std::vector<float> download(const Model& m, const std::string& name) {
    std::vector<float> host(m.arena.params.at(name).numel());
    m.arena.be.download(host.data(), m.arena.param(name), host.size() * sizeof(float));
    return host;
}

// A model of `cfg` on the CPU, trained as PEFT trains LoRA: everything frozen
// but the adapters and (when `head_trains`) the classification head. The
// architecture's initialisation, then LoRA's A and B uniform in [-0.5, 0.5].
template <typename M, typename Config>
struct Host {
    std::unique_ptr<Backend> be{make_backend("cpu")};
    M model;
    Host(const Config& cfg, uint64_t seed, bool head_trains = true) : model(*be, cfg, 2, 4) {
        for (TensorInfo& t : model.arena.params.tensors)
            t.trainable = is_lora(t.name) || (head_trains && is_cls_head(t.name));
        model.allocate();
        model.init_weights(seed);
        std::mt19937 gen((unsigned)seed);
        std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
        for (const TensorInfo& t : model.arena.params.tensors) {
            if (!is_lora(t.name)) continue;
            std::vector<float> v(t.numel());
            for (float& x : v) x = dist(gen);
            be->upload(model.arena.param(t.name), v.data(), v.size() * sizeof(float));
        }
    }
    std::vector<float> logits(const Batch& batch) {
        model.forward(batch);
        int rows = 0, cols = 0;
        const float* dev = model.logits_view(rows, cols);
        std::vector<float> host((size_t)rows * cols);
        be->download(host.data(), dev, host.size() * sizeof(float));
        return host;
    }
};
using HostGPT2 = Host<GPT2, GPT2Config>;
using HostBERT = Host<BERT, BertConfig>;

// The length of a minitrain file holding these config fields and tensors, as weights.h lays it out.
uint64_t minitrain_file_bytes(const std::string& arch, const ConfigFields& fields,
                              const std::vector<const TensorInfo*>& tensors) {
    uint64_t at = 8 + 4 + 4 + arch.size() + 4;
    for (const auto& f : fields) at += 4 + f.first.size() + 8;
    at += 4;
    for (const TensorInfo* t : tensors) at += 4 + t->name.size() + 4 + 4 + 8 * t->shape.size() + 8 + 8;
    uint64_t end = at;
    for (const TensorInfo* t : tensors) {
        at = (at + 63) / 64 * 64;
        end = at + 4 * t->numel();
        at = end;
    }
    return end;
}

// ---- safetensors, the test's own reader -----------------------------------------------------

struct Safetensors {
    json metadata;
    std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors;
};

Safetensors read_safetensors(const std::string& path) {
    const std::string bytes = slurp(path);
    REQUIRE(bytes.size() >= 8);
    uint64_t n = 0;
    for (int k = 0; k < 8; k++) n |= (uint64_t)(unsigned char)bytes[k] << (8 * k);
    REQUIRE(8 + n <= bytes.size());
    const json header = json::parse(bytes.substr(8, n));
    Safetensors out;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            out.metadata = entry;
            continue;
        }
        REQUIRE(entry["dtype"] == "F32");
        const uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
        REQUIRE(8 + n + end <= bytes.size());
        std::vector<float> data((end - begin) / 4);
        std::memcpy(data.data(), bytes.data() + 8 + n + begin, end - begin);
        out.tensors[name] = {entry["shape"].get<std::vector<int64_t>>(), data};
    }
    return out;
}

json read_json(const std::string& path) { return json::parse(slurp(path)); }

// PEFT's rule for which modules a LoRA config adapts (peft tuners_utils
// check_target_module_exists, for a list of names): the module's path is a
// target, or ends with "." + a target.
std::set<std::string> peft_selects(const json& targets, const std::vector<std::string>& modules) {
    std::set<std::string> out;
    for (const std::string& m : modules)
        for (const std::string& t : targets.get<std::vector<std::string>>())
            if (m == t || (m.size() > t.size() && m.compare(m.size() - t.size() - 1, t.size() + 1, "." + t) == 0))
                out.insert(m);
    return out;
}

// The module paths of a block of the Hugging Face class, behind `prefix`: the
// projections and everything else a suffix could catch.
std::vector<std::string> hf_block_modules(const std::string& arch, const std::string& prefix, int L) {
    const std::vector<std::string> gpt2 = {
        "ln_1", "attn", "attn.c_attn", "attn.c_proj", "attn.attn_dropout", "attn.resid_dropout",
        "ln_2", "mlp",  "mlp.c_fc",    "mlp.c_proj",  "mlp.act",           "mlp.dropout"};
    const std::vector<std::string> bert = {"attention",
                                           "attention.self",
                                           "attention.self.query",
                                           "attention.self.key",
                                           "attention.self.value",
                                           "attention.self.dropout",
                                           "attention.output",
                                           "attention.output.dense",
                                           "attention.output.LayerNorm",
                                           "attention.output.dropout",
                                           "intermediate",
                                           "intermediate.dense",
                                           "intermediate.intermediate_act_fn",
                                           "output",
                                           "output.dense",
                                           "output.LayerNorm",
                                           "output.dropout"};
    std::vector<std::string> out;
    for (int l = 0; l < L; l++)
        for (const std::string& m : arch == "gpt2" ? gpt2 : bert)
            out.push_back(prefix + (arch == "gpt2" ? "h." : "encoder.layer.") + std::to_string(l) + "." + m);
    for (const char* outside : {"pooler.dense", "cls.predictions.transform.dense", "ln_f", "wte", "lm_head"})
        out.push_back(prefix + outside);
    for (const char* head : {"score", "classifier", "dropout"}) out.push_back(head);
    return out;
}

// Checks DIR (a PEFT adapter folder) against the model it was made from: the
// tensors are exactly `expected` (PEFT name -> our name) with our shapes and
// values, the config says what `want` says, and PEFT's matching of
// target_modules selects exactly `adapted` among the class's modules.
void check_peft_folder(const std::string& dir, const Model& model, const std::map<std::string, std::string>& expected,
                       const json& want, const std::string& prefix, const std::set<std::string>& adapted, int L) {
    const Safetensors st = read_safetensors(dir + "/adapter_model.safetensors");
    CHECK(st.metadata == json({{"format", "pt"}}));
    std::set<std::string> names;
    for (const auto& kv : st.tensors) names.insert(kv.first);
    std::set<std::string> want_names;
    for (const auto& kv : expected) want_names.insert(kv.first);
    CHECK(names == want_names);
    for (const auto& [theirs, ours] : expected) {
        INFO(theirs);
        auto it = st.tensors.find(theirs);
        if (it == st.tensors.end()) continue;
        const TensorInfo& t = model.arena.params.at(ours);
        CHECK(it->second.first == std::vector<int64_t>(t.shape.begin(), t.shape.end()));
        CHECK(it->second.second == download(model, ours));
    }
    const json config = read_json(dir + "/adapter_config.json");
    for (const auto& [key, value] : want.items()) {
        INFO(key);
        CHECK(config[key] == value);
    }
    for (const char* key : {"alpha_pattern", "rank_pattern"}) CHECK(config[key] == json::object());
    for (const char* key : {"auto_mapping", "layers_pattern", "layers_to_transform", "revision"})
        CHECK(config[key].is_null());
    CHECK(config["bias"] == "none");
    CHECK(config["init_lora_weights"] == true);
    CHECK(config["inference_mode"] == true);
    CHECK(config["peft_type"] == "LORA");
    CHECK(peft_selects(config["target_modules"], hf_block_modules(model.arch(), prefix, L)) == adapted);
}

// The block modules (with prefix) a LoRA config adapts, named by hand.
std::set<std::string> modules_of(const std::string& prefix, const std::string& block, int L,
                                 const std::vector<std::string>& paths) {
    std::set<std::string> out;
    for (int l = 0; l < L; l++)
        for (const std::string& p : paths) out.insert(prefix + block + std::to_string(l) + "." + p);
    return out;
}

// Our LoRA tensors under PEFT's names, plus the head tensors given.
std::map<std::string, std::string> peft_expected(const Model& model, const std::string& prefix,
                                                 const std::vector<std::string>& head) {
    std::map<std::string, std::string> out;
    for (const TensorInfo& t : model.arena.params.tensors)
        if (is_lora(t.name)) out["base_model.model." + prefix + t.name] = t.name;
    for (const std::string& h : head) out["base_model.model." + h] = h;
    return out;
}

// Every tensor of a merged Hugging Face folder against the LoRA model: W (in
// HF's layout) plus s B A for an adapted W, else the base tensor as it is.
// Our LoRA tensors are named after the HF module (the HF name without the
// class's prefix and ".weight"); hf_of says where the rest of an HF tensor
// is ours: the name, a row offset (BERT's query, key and value are thirds of
// our qkv) and whether HF stores it transposed (GPT-2's Conv1D weights).
struct HfSource {
    std::string ours;
    int row0 = 0;
    bool transposed = false;
};
template <typename HfOf>
void check_merged(const std::string& dir, const Model& model, const std::string& prefix, double s, size_t base_tensors,
                  HfOf hf_of) {
    const Safetensors st = read_safetensors(dir + "/model.safetensors");
    CHECK(st.tensors.size() == base_tensors);
    size_t merged = 0;
    for (const auto& [name, tensor] : st.tensors) {
        INFO(name);
        const HfSource src = hf_of(name);
        const std::vector<int64_t>& shape = tensor.first;
        const std::vector<float>& got = tensor.second;
        const std::vector<float> W = download(model, src.ours);
        const size_t rows = shape[0], cols = shape.size() > 1 ? shape[1] : 1;
        const size_t out_dim = src.transposed ? cols : rows, in_dim = src.transposed ? rows : cols;
        const std::string stripped = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
        const size_t dot = stripped.rfind(".weight");
        const std::string module = dot == std::string::npos ? "" : stripped.substr(0, dot);
        const TensorInfo* A = module.empty() ? nullptr : model.arena.params.find(module + ".lora_A.weight");
        std::vector<float> a, b;
        int r = 0;
        if (A) {
            a = download(model, module + ".lora_A.weight"), b = download(model, module + ".lora_B.weight");
            r = A->shape[0];
            merged++;
        }
        double worst = 0;
        bool exact = true;
        for (size_t o = 0; o < out_dim; o++)
            for (size_t i = 0; i < in_dim; i++) {
                // Our weight's row o (out), column i (in); a 1-D tensor is one column.
                double want = W[(src.row0 + o) * in_dim + i];
                for (int k = 0; k < r; k++) want += s * (double)b[o * r + k] * (double)a[(size_t)k * in_dim + i];
                const float g = src.transposed ? got[i * out_dim + o] : got[o * in_dim + i];
                worst = std::max(worst, std::fabs(g - want));
                exact &= A || (float)want == g;
            }
        CHECK(exact);
        CHECK(worst <= 1e-6);
    }
    CHECK(merged > 0);
}

}  // namespace

TEST_CASE("adapter file: only the trainable tensors, loaded over a model of the same config") {
    TempDir tmp("adapter");
    HostGPT2 a(gpt2_config(3, {"c_attn", "mlp.c_proj"}), 1);
    save_weights(tmp.file("full.bin"), a.model);
    save_adapter(tmp.file("adapter.bin"), a.model);

    std::vector<const TensorInfo*> all, trained;
    for (const TensorInfo& t : a.model.arena.params.tensors) {
        all.push_back(&t);
        if (is_lora(t.name) || is_cls_head(t.name)) trained.push_back(&t);
    }
    REQUIRE(trained.size() == 2 * 2 * 2 + 1);  // L x targets x {A, B} + score
    ConfigFields marked = a.model.config_fields();
    marked.push_back({"adapter", 1});
    const uint64_t adapter_bytes = fs::file_size(tmp.file("adapter.bin"));
    CHECK(adapter_bytes == minitrain_file_bytes("gpt2", marked, trained));
    CHECK(fs::file_size(tmp.file("full.bin")) == minitrain_file_bytes("gpt2", a.model.config_fields(), all));
    CHECK(adapter_bytes * 5 < fs::file_size(tmp.file("full.bin")));

    const WeightFile wf = read_weight_file(tmp.file("adapter.bin"));
    CHECK(wf.adapter);
    CHECK(wf.format == "minitrain v1 adapter");
    CHECK(wf.config == a.model.config_fields());
    std::set<std::string> stored, want;
    for (const StoredTensor& t : wf.tensors) stored.insert(t.name);
    for (const TensorInfo* t : trained) want.insert(t->name);
    CHECK(stored == want);
    CHECK(read_gpt2_config(tmp.file("adapter.bin")).lora.r == 2);
    CHECK_FALSE(read_weight_file(tmp.file("full.bin")).adapter);

    // Another initialisation of the same config: the adapter replaces its
    // adapters and head and leaves its base alone, partial or not.
    for (bool partial : {false, true}) {
        HostGPT2 b(gpt2_config(3, {"c_attn", "mlp.c_proj"}), 2);
        std::map<std::string, std::vector<float>> before;
        for (const TensorInfo& t : b.model.arena.params.tensors) before[t.name] = download(b.model, t.name);
        const LoadReport report = load_weights(tmp.file("adapter.bin"), b.model, partial);
        CHECK(report.missing.empty());
        CHECK(report.unused.empty());
        for (const TensorInfo& t : b.model.arena.params.tensors) {
            INFO(t.name);
            CHECK(download(b.model, t.name) == (want.count(t.name) ? download(a.model, t.name) : before[t.name]));
        }
    }
}

TEST_CASE("adapter file: a model of another shape, head, rank or targets refuses it") {
    TempDir tmp("adapter");
    HostGPT2 a(gpt2_config(3, {"c_attn"}), 1);
    const std::string path = tmp.file("adapter.bin");
    save_adapter(path, a.model);
    const std::string ours = "num_labels 3, lora_r 2, lora_alpha_milli 4000, lora_rslora 0, lora_targets 1";
    struct Other {
        const char* what;
        GPT2Config cfg;
        const char* theirs;
    };
    GPT2Config wider = gpt2_config(3, {"c_attn"});
    wider.C = 16;
    Other others[] = {
        {"channels", wider, "C 16"},
        {"labels", gpt2_config(2, {"c_attn"}), "num_labels 2"},
        {"rank", gpt2_config(3, {"c_attn"}, 4), "lora_r 4"},
        {"targets", gpt2_config(3, {"c_attn", "c_fc"}), "lora_targets 5"},
    };
    for (const Other& o : others) {
        INFO(o.what);
        HostGPT2 b(o.cfg, 2);
        for (bool partial : {false, true}) {
            const std::string msg = error_of([&] { load_weights(path, b.model, partial); });
            CHECK(msg.rfind(path + ": an adapter made for another model: its config (", 0) == 0);
            CHECK(msg.find(ours) != std::string::npos);
            CHECK(msg.find(") differs from the model's (") != std::string::npos);
            CHECK(msg.find(o.theirs) != std::string::npos);
            CHECK(msg.find('\n') == std::string::npos);
        }
    }

    std::string bytes = slurp(path);
    const std::string mark = std::string("\x07\0\0\0adapter", 11);
    const size_t at = bytes.find(mark);
    REQUIRE(at != std::string::npos);
    bytes[at + mark.size()] = 2;
    spit(tmp.file("mark2.bin"), bytes);
    CHECK(error_of([&] { read_weight_file(tmp.file("mark2.bin")); }) ==
          tmp.file("mark2.bin") + ": config field 'adapter' = 2 (an adapter file has 1)");
    bytes = slurp(path);
    const size_t score = bytes.find("score.weight");
    REQUIRE(score != std::string::npos);
    bytes[score + 11] = 'X';
    spit(tmp.file("renamed.bin"), bytes);
    CHECK(error_of([&] { read_weight_file(tmp.file("renamed.bin")); }) ==
          tmp.file("renamed.bin") + ": unexpected tensor 'score.weighX'");

    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2 open(*be, gpt2_config(0, {"c_attn"}), 1, 1);
    open.allocate();
    CHECK(error_of([&] { save_adapter(tmp.file("x.bin"), open); }) ==
          tmp.file("x.bin") +
              ": every tensor of the model is trainable, so an adapter would hold them all: save the "
              "full weights");
    GPT2 shut(*be, gpt2_config(0, {"c_attn"}), 1, 1);
    for (TensorInfo& t : shut.arena.params.tensors) t.trainable = false;
    shut.allocate();
    CHECK(error_of([&] { save_adapter(tmp.file("x.bin"), shut); }) ==
          tmp.file("x.bin") + ": the model has no trainable tensors to save as an adapter");
    CHECK_FALSE(fs::exists(tmp.file("x.bin")));
}

TEST_CASE("peft: GPT-2 LM and classifier adapters under PEFT's names, with its config") {
    TempDir tmp("peft");
    SUBCASE("GPT2LMHeadModel, every projection") {
        HostGPT2 h(gpt2_config(0, {"c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"}), 3);
        save_peft_adapter(tmp.file("lm"), h.model, "gpt2");
        const std::map<std::string, std::string> expected = peft_expected(h.model, "transformer.", {});
        REQUIRE(expected.size() == 2 * 4 * 2);
        CHECK(expected.count("base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"));
        const json want = {{"task_type", "CAUSAL_LM"},
                           {"r", 2},
                           {"lora_alpha", 4},
                           {"lora_dropout", 0.0},
                           {"fan_in_fan_out", true},
                           {"modules_to_save", nullptr},
                           {"base_model_name_or_path", "gpt2"},
                           {"target_modules", {"c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"}}};
        check_peft_folder(tmp.file("lm"), h.model, expected, want, "transformer.",
                          modules_of("transformer.", "h.", 2, {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}),
                          2);
        CHECK_FALSE(read_json(tmp.file("lm/adapter_config.json")).contains("use_rslora"));
    }
    SUBCASE("GPT2ForSequenceClassification, attn.c_proj only, rsLoRA, alpha 2.5") {
        GPT2Config cfg = gpt2_config(3, {"attn.c_proj"});
        cfg.lora.rslora = true;
        cfg.lora.alpha = 2.5f;
        cfg.lora.dropout = 0.05f;
        HostGPT2 h(cfg, 4);
        save_peft_adapter(tmp.file("cls"), h.model, "");
        const std::map<std::string, std::string> expected = peft_expected(h.model, "transformer.", {"score.weight"});
        CHECK(expected.count("base_model.model.transformer.h.0.attn.c_proj.lora_A.weight"));
        CHECK(expected.count("base_model.model.score.weight"));
        const json want = {{"task_type", "SEQ_CLS"},
                           {"lora_alpha", 2.5},
                           {"lora_dropout", 0.05},
                           {"use_rslora", true},
                           {"modules_to_save", {"score"}},
                           {"base_model_name_or_path", nullptr},
                           {"target_modules", {"attn.c_proj"}}};
        check_peft_folder(tmp.file("cls"), h.model, expected, want, "transformer.",
                          modules_of("transformer.", "h.", 2, {"attn.c_proj"}), 2);
    }
}

TEST_CASE("peft: BERT adapters under the class's names; output.dense alone is spelled per block") {
    TempDir tmp("peft");
    SUBCASE("BertForSequenceClassification") {
        HostBERT h(bert_config(BertHead::Classifier, {"query", "value", "output.dense"}), 5);
        save_peft_adapter(tmp.file("cls"), h.model, "bert-base-uncased");
        const auto expected = peft_expected(h.model, "bert.", {"classifier.weight", "classifier.bias"});
        REQUIRE(expected.size() == 2 * 3 * 2 + 2);
        CHECK(expected.count("base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight"));
        const json want = {
            {"task_type", "SEQ_CLS"},
            {"r", 2},
            {"lora_alpha", 3},
            {"use_rslora", true},
            {"fan_in_fan_out", false},
            {"modules_to_save", {"classifier"}},
            {"base_model_name_or_path", "bert-base-uncased"},
            {"target_modules", {"query", "value", "encoder.layer.0.output.dense", "encoder.layer.1.output.dense"}}};
        check_peft_folder(
            tmp.file("cls"), h.model, expected, want, "bert.",
            modules_of("bert.", "encoder.layer.", 2, {"attention.self.query", "attention.self.value", "output.dense"}),
            2);
        // The query adapter covers the query third of our fused qkv: PEFT's (C, r) B.
        CHECK(read_safetensors(tmp.file("cls/adapter_model.safetensors"))
                  .tensors.at("base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight")
                  .first == std::vector<int64_t>{8, 2});
    }
    SUBCASE("BertForMaskedLM, both output denses: short names suffice") {
        HostBERT h(bert_config(BertHead::MaskedLM, {"key", "attention.output.dense", "output.dense"}), 6);
        save_peft_adapter(tmp.file("mlm"), h.model, "");
        const json want = {{"task_type", nullptr},
                           {"modules_to_save", nullptr},
                           {"target_modules", {"key", "attention.output.dense", "output.dense"}}};
        check_peft_folder(
            tmp.file("mlm"), h.model, peft_expected(h.model, "bert.", {}), want, "bert.",
            modules_of("bert.", "encoder.layer.", 2, {"attention.self.key", "attention.output.dense", "output.dense"}),
            2);
    }
    SUBCASE("BertModel: no prefix") {
        HostBERT h(bert_config(BertHead::None, {"intermediate.dense"}), 7);
        save_peft_adapter(tmp.file("none"), h.model, "");
        const json want = {{"task_type", "FEATURE_EXTRACTION"}, {"target_modules", {"intermediate.dense"}}};
        const auto expected = peft_expected(h.model, "", {});
        CHECK(expected.count("base_model.model.encoder.layer.0.intermediate.dense.lora_A.weight"));
        check_peft_folder(tmp.file("none"), h.model, expected, want, "",
                          modules_of("", "encoder.layer.", 2, {"intermediate.dense"}), 2);
    }
    SUBCASE("a model without LoRA has nothing to export") {
        std::unique_ptr<Backend> be(make_backend("cpu"));
        BertConfig cfg = bert_config(BertHead::Classifier, {"query"});
        cfg.lora = {};
        BERT bare(*be, cfg, 1, 1);
        bare.allocate();
        CHECK(error_of([&] { save_peft_adapter(tmp.file("bare"), bare, ""); }) ==
              tmp.file("bare") + ": the model has no LoRA adapters: nothing to export as a PEFT adapter");
    }
}

TEST_CASE("merged export: GPT-2 with LoRA becomes a plain Hugging Face model with W + s B A") {
    TempDir tmp("merged");
    for (int num_labels : {0, 3}) {
        INFO("num_labels " << num_labels);
        const GPT2Config cfg = gpt2_config(num_labels, {"c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"});
        HostGPT2 h(cfg, 8);
        const std::string file = tmp.file("lora.bin"), dir = tmp.file("hf" + std::to_string(num_labels));
        save_weights(file, h.model);
        convert_minitrain_to_hf(file, dir);

        GPT2Config base = cfg;
        base.lora = {};
        const size_t base_tensors = gpt2_param_table(base).tensors.size();
        check_merged(dir, h.model, "transformer.", 4.0 / 2, base_tensors, [&](const std::string& name) {
            const std::string ours = name == "score.weight" ? name : name.substr(std::string("transformer.").size());
            const bool conv1d = ours.find("attn.c_") != std::string::npos || ours.find("mlp.c_") != std::string::npos;
            return HfSource{ours, 0, conv1d && ours.find(".weight") != std::string::npos};
        });
        const json config = read_json(dir + "/config.json");
        for (const auto& [key, value] : config.items()) CHECK(key.find("lora") == std::string::npos);

        // The folder loads as a plain model, which computes what the adapted one does.
        std::unique_ptr<Backend> be(make_backend("cpu"));
        GPT2 plain(*be, read_hf_gpt2_config(dir), 2, 4);
        CHECK(plain.cfg.lora.r == 0);
        plain.allocate();
        load_hf_gpt2(dir, plain);
        const int tokens[8] = {1, 5, 9, 10, 0, 3, 3, 7};
        const int lengths[2] = {4, 3};
        const Batch batch{2, 4, tokens, nullptr, lengths, nullptr, nullptr};
        const std::vector<float> adapted = h.logits(batch);
        plain.forward(batch);
        int rows = 0, cols = 0;
        const float* dev = plain.logits_view(rows, cols);
        std::vector<float> merged((size_t)rows * cols);
        be->download(merged.data(), dev, merged.size() * sizeof(float));
        // An LM's rows are padded to Vp, which the HF folder's config does not keep: compare the V real columns.
        const int real = num_labels ? num_labels : cfg.V, ours = (int)(adapted.size() / rows);
        std::vector<float> want, got;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < real; j++) {
                want.push_back(adapted[(size_t)i * ours + j]);
                got.push_back(merged[(size_t)i * cols + j]);
            }
        CHECK(rel_error(got, want, want.size()) <= 1e-5);
    }
}

TEST_CASE("merged export: BERT's query and value thirds of qkv and output.dense get their s B A") {
    TempDir tmp("merged");
    const BertConfig cfg = bert_config(BertHead::Classifier, {"query", "value", "output.dense"});
    HostBERT h(cfg, 9);
    const std::string file = tmp.file("lora.bin"), dir = tmp.file("hf");
    save_weights(file, h.model);
    convert_minitrain_to_hf(file, dir);

    BertConfig base = cfg;
    base.lora = {};
    // Two tensors each of qkv become six.
    const size_t base_tensors = bert_param_table(base).tensors.size() + 4 * cfg.L;
    check_merged(dir, h.model, "bert.", 3.0 / std::sqrt(2.0), base_tensors, [&](const std::string& name) {
        std::string ours = name.rfind("bert.", 0) == 0 ? name.substr(5) : name;
        int row0 = 0;
        const char* parts[] = {"query", "key", "value"};
        for (int p = 0; p < 3; p++) {
            const std::string part = std::string("attention.self.") + parts[p] + ".";
            const size_t at = ours.find(part);
            if (at == std::string::npos) continue;
            ours = ours.substr(0, at) + "attention.self.qkv." + ours.substr(at + part.size());
            row0 = p * cfg.C;
        }
        return HfSource{ours, row0, false};
    });

    std::unique_ptr<Backend> be(make_backend("cpu"));
    BERT plain(*be, read_hf_bert_config(dir), 2, 4);
    CHECK(plain.cfg.lora.r == 0);
    plain.allocate();
    load_hf_bert(dir, plain);
    const int tokens[8] = {2, 5, 12, 7, 2, 9, 1, 0};
    const int lengths[2] = {4, 3};
    const Batch batch{2, 4, tokens, nullptr, lengths, nullptr, nullptr};
    const std::vector<float> adapted = h.logits(batch);
    plain.forward(batch);
    int rows = 0, cols = 0;
    const float* dev = plain.logits_view(rows, cols);
    std::vector<float> merged((size_t)rows * cols);
    be->download(merged.data(), dev, merged.size() * sizeof(float));
    REQUIRE(merged.size() == adapted.size());
    CHECK(rel_error(merged, adapted, merged.size()) <= 1e-5);
}

TEST_CASE("convert: --to-peft and a merged --to-hf from the command line") {
    if (!fs::exists("bin/convert")) FAIL("bin/convert is not built (run make)");
    TempDir tmp("adaptercli");
    auto run = [&](const std::string& args) { return run_command("./bin/convert " + args, tmp); };
    CHECK(run("--help").out.find("--to-peft FILE") != std::string::npos);

    HostGPT2 h(gpt2_config(3, {"c_attn"}), 10);
    save_weights(tmp.file("full.bin"), h.model);
    save_adapter(tmp.file("adapter.bin"), h.model);

    CommandResult r = run("--to-peft " + tmp.file("full.bin") + " -o " + tmp.file("peft") + " --base gpt2");
    CHECK(r.status == 0);
    CHECK(r.out ==
          "wrote " + tmp.file("peft") + " (PEFT LoRA adapter: adapter_model.safetensors, adapter_config.json)\n");
    CHECK(read_json(tmp.file("peft/adapter_config.json"))["base_model_name_or_path"] == "gpt2");
    // From the adapter file alone, the same tensors.
    CHECK(run("--to-peft " + tmp.file("adapter.bin") + " -o " + tmp.file("peft2") + " --base gpt2").status == 0);
    CHECK(slurp(tmp.file("peft2/adapter_model.safetensors")) == slurp(tmp.file("peft/adapter_model.safetensors")));
    CHECK(slurp(tmp.file("peft2/adapter_config.json")) == slurp(tmp.file("peft/adapter_config.json")));

    r = run("--to-hf " + tmp.file("full.bin") + " -o " + tmp.file("hf"));
    CHECK(r.status == 0);
    CHECK(r.out == "wrote " + tmp.file("hf") + " (LoRA adapters merged into the base weights)\n");

    // A model without LoRA, and one whose adapter file lacks the head.
    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2Config plain_cfg = gpt2_config(3, {"c_attn"});
    plain_cfg.lora = {};
    GPT2 plain(*be, plain_cfg, 1, 1);
    plain.allocate();
    save_weights(tmp.file("plain.bin"), plain);
    HostGPT2 headless(gpt2_config(3, {"c_attn"}), 11, false);
    save_adapter(tmp.file("headless.bin"), headless.model);

    const std::pair<std::string, std::string> bad[] = {
        {"--to-peft " + tmp.file("plain.bin") + " -o " + tmp.file("x"),
         "convert: " + tmp.file("plain.bin") +
             ": the model has no LoRA adapters: nothing to export as a PEFT adapter\n"},
        {"--to-peft " + tmp.file("headless.bin") + " -o " + tmp.file("x"),
         "convert: " + tmp.file("headless.bin") +
             ": the adapter file lacks 'score.weight', which the PEFT adapter needs\n"},
        {"--to-hf " + tmp.file("adapter.bin") + " -o " + tmp.file("x"),
         "convert: " + tmp.file("adapter.bin") +
             ": an adapter file holds no base weights; convert the full weight "
             "file, or export the adapter with --to-peft\n"},
        {"--to-hf " + tmp.file("full.bin") + " --base gpt2 -o " + tmp.file("x"),
         "convert: --base goes with --to-peft (see --help)\n"},
        {"--to-hf a --to-peft b -o " + tmp.file("x"),
         "convert: give exactly one of --from-hf DIR and --to-hf FILE, or --to-peft FILE (see --help)\n"},
    };
    for (const auto& [args, err] : bad) {
        INFO("convert " << args);
        const CommandResult b = run(args);
        CHECK(b.status == 1);
        CHECK(b.err == err);
    }
    CHECK_FALSE(fs::exists(tmp.file("x")));
}
