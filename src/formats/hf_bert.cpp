// Hugging Face BERT folders <-> BERT (see hf_bert.h).
#include "formats/hf_bert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "core/fileio.h"
#include "formats/hf_convert.h"
#include "formats/safetensors.h"

namespace {

using json = nlohmann::json;

const char* const kPrefix = "bert.";  // the body's names inside BertForMaskedLM and ...ForSequenceClassification
const char* const kQkv = ".attention.self.qkv.";
const char* const kQkvParts[3] = {".attention.self.query.", ".attention.self.key.", ".attention.self.value."};
const char* const kWordEmbeddings = "embeddings.word_embeddings.weight";
const char* const kMlmBias = "cls.predictions.bias";
const char* const kDecoderWeight = "cls.predictions.decoder.weight";  // tied to the word embeddings
const char* const kDecoderBias = "cls.predictions.decoder.bias";      // tied to cls.predictions.bias

struct Arch {
    const char* name;
    BertHead head;
    const char* tensors;  // how a file shows the head
};
const Arch kArchs[] = {
    {"BertModel", BertHead::None, "no cls.predictions.* or classifier.*"},
    {"BertForMaskedLM", BertHead::MaskedLM, "cls.predictions.*"},
    {"BertForSequenceClassification", BertHead::Classifier, "classifier.*"},
};
const Arch& arch_of(BertHead head) {
    return *std::find_if(std::begin(kArchs), std::end(kArchs), [&](const Arch& a) { return a.head == head; });
}

bool starts_with(const std::string& s, const std::string& start) { return s.compare(0, start.size(), start) == 0; }

bool ends_with(const std::string& s, const std::string& end) {
    return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

bool in_body(const std::string& name) {
    return starts_with(name, "embeddings.") || starts_with(name, "encoder.") || starts_with(name, "pooler.");
}

std::string describe(const BertConfig& c) {
    std::string head = arch_of(c.head).name;
    if (c.head == BertHead::Classifier) head += " (" + std::to_string(c.num_labels) + " labels)";
    return head + " with num_hidden_layers " + std::to_string(c.L) + ", num_attention_heads " + std::to_string(c.NH) +
           ", hidden_size " + std::to_string(c.C) + ", intermediate_size " + std::to_string(c.I) +
           ", max_position_embeddings " + std::to_string(c.max_T) + ", vocab_size " + std::to_string(c.V) +
           ", type_vocab_size " + std::to_string(c.types);
}

// One of our tensors as a Hugging Face file stores it: one piece, or for the
// fused qkv three, each a contiguous run of its elements starting at `at`.
struct HfPiece {
    std::string name;
    std::vector<int64_t> shape;
    size_t at;
};

std::vector<HfPiece> hf_pieces(const TensorInfo& t, const std::string& prefix) {
    const std::string name = (in_body(t.name) ? prefix : "") + t.name;
    std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
    const size_t qkv = name.find(kQkv);
    if (qkv == std::string::npos) return {{name, shape, 0}};
    shape[0] /= 3;
    std::vector<HfPiece> pieces;
    for (int k = 0; k < 3; k++)
        pieces.push_back({name.substr(0, qkv) + kQkvParts[k] + name.substr(qkv + std::strlen(kQkv)), shape,
                          k * t.numel() / 3});
    return pieces;
}

// LayerNorm.gamma / .beta, the names of BERT's first PyTorch port, are LayerNorm.weight / .bias.
std::string current_name(const std::string& name) {
    for (const auto& [old, now] : {std::pair<const char*, const char*>{".LayerNorm.gamma", ".LayerNorm.weight"},
                                   {".LayerNorm.beta", ".LayerNorm.bias"}})
        if (ends_with(name, old)) return name.substr(0, name.size() - std::strlen(old)) + now;
    return name;
}

// Tensors a file may hold that the model has no place for (see hf_bert.h);
// the decoder is checked against what it is tied to after loading.
bool skipped(const std::string& name, const std::string& prefix, BertHead head) {
    if (name == prefix + "embeddings.position_ids") return true;
    return head == BertHead::MaskedLM && (name == kDecoderWeight || name == kDecoderBias ||
                                          starts_with(name, prefix + "pooler.") ||
                                          starts_with(name, "cls.seq_relationship."));
}

// The head: config.json's "architectures" if it names one, which the head
// tensors in the file must agree with; else what those tensors show.
BertHead read_head(const json& config, const std::string& dir, const std::string& path) {
    SafetensorsFile file(hf_weights_path(dir));
    bool mlm = false, classifier = false;
    for (const SafetensorsEntry& t : file.header().tensors) {
        mlm |= starts_with(t.name, "cls.predictions.");
        classifier |= starts_with(t.name, "classifier.");
    }
    if (mlm && classifier)
        fail(file.path(), "holds both a masked-LM head (cls.predictions.*) and a classifier (classifier.*)");
    const BertHead found = mlm ? BertHead::MaskedLM : classifier ? BertHead::Classifier : BertHead::None;
    if (!config.contains("architectures") || config["architectures"].is_null()) return found;

    const json& archs = config["architectures"];
    if (!archs.is_array() || archs.size() != 1 || !archs[0].is_string())
        fail(path, "field 'architectures' = " + archs.dump() + " is not a list of one class name");
    for (const Arch& a : kArchs)
        if (archs[0] == a.name) {
            if (a.head != found)
                fail(file.path(), std::string("holds the head tensors of a ") + arch_of(found).name + " (" +
                                      arch_of(found).tensors + "), but config.json's architectures is " +
                                      archs.dump());
            return a.head;
        }
    fail(path, "field 'architectures' = " + archs.dump() +
                   " is not supported (BertModel, BertForMaskedLM or BertForSequenceClassification)");
}

std::vector<float> read_finite(SafetensorsFile& file, const SafetensorsEntry& t) {
    std::vector<float> data = file.read_f32(t);
    for (size_t i = 0; i < data.size(); i++)
        if (!std::isfinite(data[i]))
            fail(file.path(), "tensor '" + t.name + "' holds a non-finite value (" + std::to_string(data[i]) +
                                  ") at element " + std::to_string(i));
    return data;
}

}  // namespace

BertConfig read_hf_bert_config(const std::string& dir) {
    const std::string path = hf_path(dir, "config.json");
    const json config = read_hf_config(dir);

    hf_require(config, "model_type", {"bert"}, "this converter reads BERT", path);
    hf_require(config, "hidden_act", {"gelu"}, "the model uses the exact erf GELU, \"gelu\"", path);
    hf_require(config, "layer_norm_eps", {1e-12}, "the model's LayerNorm uses 1e-12", path);
    hf_require(config, "position_embedding_type", {"absolute"}, "positions are learned absolute embeddings", path);
    hf_require(config, "is_decoder", {false}, "attention is bidirectional", path);
    hf_require(config, "add_cross_attention", {false}, "no cross-attention", path);
    hf_require(config, "tie_word_embeddings", {true}, "the masked-LM decoder is tied to the word embeddings", path);
    hf_require(config, "problem_type", {nullptr, "single_label_classification"},
               "the classifier is trained with cross-entropy over its labels", path);

    BertConfig cfg;
    cfg.V = hf_positive_int(config, "vocab_size", path);
    cfg.C = hf_positive_int(config, "hidden_size", path);
    cfg.L = hf_positive_int(config, "num_hidden_layers", path);
    cfg.NH = hf_positive_int(config, "num_attention_heads", path);
    cfg.I = hf_positive_int(config, "intermediate_size", path);
    cfg.max_T = hf_positive_int(config, "max_position_embeddings", path);
    cfg.types = hf_positive_int(config, "type_vocab_size", path);
    if (cfg.C % cfg.NH != 0)
        fail(path, "hidden_size " + std::to_string(cfg.C) + " is not a multiple of num_attention_heads " +
                       std::to_string(cfg.NH));
    cfg.hidden_pdrop = hf_dropout(config, "hidden_dropout_prob", kHfDropout, path);
    cfg.attn_pdrop = hf_dropout(config, "attention_probs_dropout_prob", kHfDropout, path);
    const bool own = config.contains("classifier_dropout") && !config["classifier_dropout"].is_null();
    cfg.classifier_pdrop = own ? hf_dropout(config, "classifier_dropout", 0.0f, path) : cfg.hidden_pdrop;
    cfg.head = read_head(config, dir, path);
    if (cfg.head == BertHead::Classifier) cfg.num_labels = read_num_labels(config, path);
    validate(cfg, path);
    return cfg;
}

// "bert." when the file's body names carry the prefix, else "".
static std::string name_prefix(const SafetensorsHeader& header) {
    const bool prefixed = std::any_of(header.tensors.begin(), header.tensors.end(),
                                      [](const SafetensorsEntry& t) { return starts_with(t.name, kPrefix); });
    return prefixed ? kPrefix : "";
}

// The file's tensors by their current names (LayerNorm.gamma read as LayerNorm.weight).
static std::map<std::string, const SafetensorsEntry*> entries_of(const SafetensorsFile& file) {
    std::map<std::string, const SafetensorsEntry*> entries;
    for (const SafetensorsEntry& t : file.header().tensors) {
        const auto [it, fresh] = entries.emplace(current_name(t.name), &t);
        if (!fresh)
            fail(file.path(), "holds both '" + it->second->name + "' and '" + t.name + "', which are the same tensor");
    }
    return entries;
}

void check_hf_bert(const std::string& dir, const BERT& model) {
    const BertConfig cfg = read_hf_bert_config(dir);
    if (describe(cfg) != describe(model.cfg))
        fail(hf_path(dir, "config.json"),
             "the config (" + describe(cfg) + ") differs from the model's (" + describe(model.cfg) + ")");

    SafetensorsFile file(hf_weights_path(dir));
    const std::string& path = file.path();
    const std::string prefix = name_prefix(file.header());
    const std::map<std::string, const SafetensorsEntry*> entries = entries_of(file);
    std::set<std::string> wanted;
    for (const TensorInfo& t : model.arena.params.tensors)
        for (const HfPiece& p : hf_pieces(t, prefix)) wanted.insert(p.name);
    for (const auto& [name, t] : entries)
        if (!wanted.count(name) && !skipped(name, prefix, cfg.head))
            fail(path, "unexpected tensor '" + t->name + "' (not part of a " + describe(cfg) + ")");
    for (const TensorInfo& t : model.arena.params.tensors)
        for (const HfPiece& p : hf_pieces(t, prefix)) {
            auto it = entries.find(p.name);
            if (it == entries.end()) fail(path, "missing tensor '" + p.name + "'");
            if (it->second->shape != p.shape)
                fail(path, "tensor '" + it->second->name + "' has shape " + it->second->shape_str() + ", expected " +
                               shape_str(p.shape) + " for a " + describe(cfg));
        }
}

void load_hf_bert(const std::string& dir, BERT& model) {
    check_hf_bert(dir, model);
    if (!model.arena.param_mem) fail(dir, "cannot load into a model that is not allocated");
    SafetensorsFile file(hf_weights_path(dir));
    const std::string& path = file.path();
    const std::string prefix = name_prefix(file.header());
    const std::map<std::string, const SafetensorsEntry*> entries = entries_of(file);

    std::map<std::string, std::vector<float>> tied;  // what the decoder must equal
    for (const TensorInfo& t : model.arena.params.tensors) {
        std::vector<float> ours(t.numel());
        for (const HfPiece& p : hf_pieces(t, prefix)) {
            std::vector<float> hf = read_finite(file, *entries.at(p.name));
            std::copy(hf.begin(), hf.end(), ours.begin() + p.at);
        }
        model.arena.be.upload(model.arena.param(t.name), ours.data(), ours.size() * sizeof(float));
        if (t.name == kWordEmbeddings || t.name == kMlmBias) tied[t.name] = std::move(ours);
    }

    for (const auto& [decoder, target] : {std::pair<const char*, const char*>{kDecoderWeight, kWordEmbeddings},
                                          {kDecoderBias, kMlmBias}}) {
        const auto it = entries.find(decoder);
        if (it == entries.end()) continue;
        const TensorInfo& t = model.arena.params.at(target);
        if (it->second->shape != std::vector<int64_t>(t.shape.begin(), t.shape.end()) ||
            file.read_f32(*it->second) != tied.at(target))
            fail(path, std::string("tensor '") + decoder + "' differs from '" + hf_pieces(t, prefix)[0].name +
                           "' (only a decoder tied to it is supported)");
    }
}

void save_hf_bert(const std::string& dir, const BERT& model) {
    if (!model.arena.param_mem) fail(dir, "cannot save a model that is not allocated");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail(dir, "cannot create the folder: " + ec.message());

    const BertConfig& c = model.cfg;
    const std::string prefix = c.head == BertHead::None ? "" : kPrefix;
    std::vector<F32Tensor> tensors;
    for (const TensorInfo& t : model.arena.params.tensors) {
        std::vector<float> ours(t.numel());
        model.arena.be.download(ours.data(), model.arena.param(t.name), ours.size() * sizeof(float));
        const std::vector<HfPiece> pieces = hf_pieces(t, prefix);
        const size_t n = t.numel() / pieces.size();
        for (const HfPiece& p : pieces)
            tensors.push_back({p.name, p.shape, {ours.begin() + p.at, ours.begin() + p.at + n}});
    }
    write_safetensors(hf_path(dir, "model.safetensors"), tensors);

    // What from_pretrained needs, with every field the model depends on
    // spelled out rather than left to transformers' defaults.
    json config = {
        {"architectures", json::array({arch_of(c.head).name})},
        {"attention_probs_dropout_prob", shortest_decimal(c.attn_pdrop)},
        {"classifier_dropout", c.head == BertHead::Classifier ? json(shortest_decimal(c.classifier_pdrop)) : json()},
        {"hidden_act", "gelu"},
        {"hidden_dropout_prob", shortest_decimal(c.hidden_pdrop)},
        {"hidden_size", c.C},
        {"initializer_range", 0.02},
        {"intermediate_size", c.I},
        {"layer_norm_eps", shortest_decimal(c.ln_eps)},
        {"max_position_embeddings", c.max_T},
        {"model_type", "bert"},
        {"num_attention_heads", c.NH},
        {"num_hidden_layers", c.L},
        {"pad_token_id", 0},
        {"position_embedding_type", "absolute"},
        {"torch_dtype", "float32"},
        {"type_vocab_size", c.types},
        {"use_cache", true},
        {"vocab_size", c.V},
    };
    if (c.head == BertHead::Classifier) put_hf_labels(config, c.num_labels);
    write_hf_config(dir, config);
}
