// Hugging Face BERT conversion (src/hf_bert, src/hf_convert, bin/convert)
// against transformers: tests/fixtures/hf_bert_tiny/{cls,mlm}/ are folders
// that BertForSequenceClassification and BertForMaskedLM .save_pretrained
// wrote, with what transformers computes for a padded batch of sentence
// pairs (tools/reference/make_hf_bert_fixture.py; float64 forward on the
// float32 weights, so only the C++ model's float32 rounding shows). Logits,
// losses and hidden states are compared as max abs error / max abs reference
// (a loss as |got - want| / |want|), tolerance 1e-5; everything else must
// match exactly. Safetensors files are read and written here by the test's
// own code (nlohmann-json and raw bytes), independently of src/formats/safetensors.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "models/bert.h"
#include "fixture.h"
#include "gpt2_fixture.h"
#include "gradcheck.h"
#include "formats/hf_bert.h"
#include "formats/hf_convert.h"
#include "raw_safetensors.h"
#include "support.h"
#include "formats/weights.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

const std::string kCls = "tests/fixtures/hf_bert_tiny/cls";
const std::string kMlm = "tests/fixtures/hf_bert_tiny/mlm";
constexpr double kTol = 1e-5;

void erase(RawTensors& tensors, const std::function<bool(const RawTensor&)>& drop) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(), drop), tensors.end());
}

bool starts_with(const std::string& s, const std::string& start) { return s.compare(0, start.size(), start) == 0; }

// A Hugging Face folder with `from`'s config, edited, and the given tensors.
std::string make_folder(const TempDir& tmp, const std::string& name, const RawTensors& tensors,
                        const std::function<void(json&)>& edit_config = nullptr, const std::string& from = kCls) {
    return hf_folder(from, tmp, name, tensors, edit_config);
}

// ---- the model -------------------------------------------------------------------------------

// A BERT for the fixture's batch (3 x 8) holding the weights of a converted file.
std::unique_ptr<BERT> load_converted(Backend& be, const std::string& bin) {
    auto model = std::make_unique<BERT>(be, read_bert_config(bin), 3, 8);
    model->allocate();
    load_weights(bin, *model);
    return model;
}

// Every parameter holds the file's floats, bit for bit: body names carry
// `prefix`, and qkv is the file's query, key and value stacked.
void check_weights(const BERT& model, RawTensors file, const std::string& prefix) {
    for (const TensorInfo& t : model.arena.params.tensors) {
        const bool body = starts_with(t.name, "embeddings.") || starts_with(t.name, "encoder.") ||
                          starts_with(t.name, "pooler.");
        const std::string name = (body ? prefix : "") + t.name;
        const size_t qkv = name.find(".qkv.");
        std::string want;
        if (qkv == std::string::npos) want = find(file, name).bytes;
        else
            for (const char* part : {".query.", ".key.", ".value."})
                want += find(file, name.substr(0, qkv) + part + name.substr(qkv + 5)).bytes;
        const std::vector<float> got = download(model.arena.be, model.arena.param(t.name), t.numel());
        INFO(t.name);
        CHECK(std::string((const char*)got.data(), got.size() * sizeof(float)) == want);
    }
}

// The fixture's batch: tokens, types and lengths, and labels or targets (pointers into fx).
Batch fixture_batch(const Fixture& fx) {
    Batch batch;
    batch.b = 3, batch.t = 8;
    batch.tokens = fx.ints("tokens", 24).data();
    batch.types = fx.ints("types", 24).data();
    batch.lengths = fx.ints("lengths", 3).data();
    if (fx.has("labels")) batch.labels = fx.ints("labels", 3).data();
    if (fx.has("targets")) batch.targets = fx.ints("targets", 24).data();
    return batch;
}

void check_logits_and_loss(BERT& model, const Fixture& fx, float loss, int rows, int cols) {
    int got_rows = 0, got_cols = 0;
    const float* logits = model.logits_view(got_rows, got_cols);
    REQUIRE(got_rows == rows);
    REQUIRE(got_cols == cols);
    const std::vector<float> got = download(model.arena.be, logits, (size_t)rows * cols);
    const double err = rel_error(got, fx.floats("logits", got.size()), got.size());
    MESSAGE("logits relative error against transformers ", err, ", loss ", scalar_error(loss, fx.scalar("loss")),
            " (transformers ", fx.text("meta.transformers"), ")");
    CHECK(err <= kTol);
    CHECK(scalar_error(loss, fx.scalar("loss")) <= kTol);
}

}  // namespace

TEST_CASE("hf_bert: config.json and the tensors give the config and the head") {
    BertConfig cls = read_hf_bert_config(kCls);
    CHECK(cls.V == 99);
    CHECK(cls.C == 32);
    CHECK(cls.L == 2);
    CHECK(cls.NH == 4);
    CHECK(cls.I == 48);
    CHECK(cls.max_T == 16);
    CHECK(cls.types == 3);
    CHECK(cls.head == BertHead::Classifier);
    CHECK(cls.num_labels == 3);
    CHECK(cls.hidden_pdrop == 0.1f);
    CHECK(cls.attn_pdrop == 0.1f);
    CHECK(cls.classifier_pdrop == 0.1f);  // classifier_dropout null: hidden_dropout_prob's

    const BertConfig mlm = read_hf_bert_config(kMlm);
    CHECK(mlm.head == BertHead::MaskedLM);
    CHECK(mlm.num_labels == 0);

    TempDir tmp("hf_bert");
    const RawTensors tensors = read_raw(kCls + "/model.safetensors");
    cls = read_hf_bert_config(make_folder(tmp, "drop", tensors, [](json& c) {
        c["hidden_dropout_prob"] = 0.25;
        c["attention_probs_dropout_prob"] = 0.0;
    }));
    CHECK(cls.hidden_pdrop == 0.25f);
    CHECK(cls.attn_pdrop == 0.0f);
    CHECK(cls.classifier_pdrop == 0.25f);
    cls = read_hf_bert_config(make_folder(tmp, "cdrop", tensors, [](json& c) { c["classifier_dropout"] = 0.5; }));
    CHECK(cls.classifier_pdrop == 0.5f);
    // No "architectures": the tensors alone decide; num_labels may stand in for id2label.
    cls = read_hf_bert_config(make_folder(tmp, "noarch", tensors, [](json& c) {
        c.erase("architectures");
        c.erase("id2label");
        c.erase("label2id");
        c["num_labels"] = 3;
    }));
    CHECK(cls.head == BertHead::Classifier);
    CHECK(cls.num_labels == 3);
}

TEST_CASE("hf_bert: a BertForSequenceClassification folder gives transformers' logits") {
    TempDir tmp("hf_bert");
    convert_hf_to_minitrain(kCls, tmp.file("cls.bin"));
    std::unique_ptr<Backend> be(make_backend("cpu"));
    std::unique_ptr<BERT> model = load_converted(*be, tmp.file("cls.bin"));
    CHECK(model->cfg.head == BertHead::Classifier);
    CHECK(model->cfg.num_labels == 3);

    SUBCASE("every weight is the file's, query/key/value stacked into qkv") {
        check_weights(*model, read_raw(kCls + "/model.safetensors"), "bert.");
    }
    SUBCASE("logits, loss and the last hidden state at the real tokens") {
        const Fixture fx(kCls + "/expected.bin");
        const Batch batch = fixture_batch(fx);
        const float loss = model->forward(batch);
        check_logits_and_loss(*model, fx, loss, 3, 3);

        const int C = 32;
        const std::vector<float> hidden = download(*be, model->hidden(), (size_t)24 * C);
        const std::vector<float>& want_all = fx.floats("hidden", hidden.size());
        std::vector<float> got, want;
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < batch.lengths[b]; t++)
                for (int c = 0; c < C; c++) {
                    got.push_back(hidden[((size_t)b * 8 + t) * C + c]);
                    want.push_back(want_all[((size_t)b * 8 + t) * C + c]);
                }
        const double err = rel_error(got, want, got.size());
        MESSAGE("last hidden state relative error ", err);
        CHECK(err <= kTol);
    }
}

TEST_CASE("hf_bert: a BertForMaskedLM folder gives transformers' logits at the masked positions") {
    TempDir tmp("hf_bert");
    convert_hf_to_minitrain(kMlm, tmp.file("mlm.bin"));
    std::unique_ptr<Backend> be(make_backend("cpu"));
    std::unique_ptr<BERT> model = load_converted(*be, tmp.file("mlm.bin"));
    CHECK(model->cfg.head == BertHead::MaskedLM);
    check_weights(*model, read_raw(kMlm + "/model.safetensors"), "bert.");

    const Fixture fx(kMlm + "/expected.bin");
    const Batch batch = fixture_batch(fx);
    int targets = 0;
    for (int i = 0; i < 24; i++) targets += batch.targets[i] >= 0;
    const float loss = model->forward(batch);
    check_logits_and_loss(*model, fx, loss, targets, 99);
}

TEST_CASE("hf_bert: HF -> runtime -> HF gives back transformers' files") {
    for (const std::string& dir : {kCls, kMlm}) {
        INFO(dir);
        TempDir tmp("hf_bert");
        convert_hf_to_minitrain(dir, tmp.file("model.bin"));
        convert_minitrain_to_hf(tmp.file("model.bin"), tmp.file("hf"));
        // The writer follows the official library's layout, so the whole file comes back.
        CHECK(slurp(tmp.file("hf/model.safetensors")) == slurp(dir + "/model.safetensors"));

        const json want = json::parse(slurp(dir + "/config.json"));
        const json got = json::parse(slurp(tmp.file("hf/config.json")));
        for (const char* key : {"architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                                "num_attention_heads", "intermediate_size", "max_position_embeddings",
                                "type_vocab_size", "hidden_act", "layer_norm_eps", "position_embedding_type",
                                "hidden_dropout_prob", "attention_probs_dropout_prob", "pad_token_id"}) {
            INFO(key);
            CHECK(got.at(key) == want.at(key));
        }
        CHECK(got.value("id2label", json()) == want.value("id2label", json()));
    }
}

TEST_CASE("hf_bert: runtime -> HF -> runtime keeps every weight, for each head") {
    for (BertHead head : {BertHead::None, BertHead::MaskedLM, BertHead::Classifier}) {
        INFO("head " << (int)head);
        BertConfig cfg;
        cfg.max_T = 8, cfg.V = 50, cfg.types = 2, cfg.L = 2, cfg.NH = 2, cfg.C = 8, cfg.I = 12;
        cfg.head = head;
        cfg.num_labels = head == BertHead::Classifier ? 4 : 0;
        std::unique_ptr<Backend> be(make_backend("cpu"));
        BERT model(*be, cfg, 1, 1);
        model.allocate();
        model.init_weights(11);
        TempDir tmp("hf_bert");
        save_weights(tmp.file("a.bin"), model);
        convert_minitrain_to_hf(tmp.file("a.bin"), tmp.file("hf"));
        convert_hf_to_minitrain(tmp.file("hf"), tmp.file("b.bin"));
        CHECK(slurp(tmp.file("a.bin")) == slurp(tmp.file("b.bin")));
        // BertModel's names have no prefix, the heads' bodies have "bert.".
        CHECK(json::parse(slurp(tmp.file("hf/config.json")))["architectures"][0] ==
              (head == BertHead::None ? "BertModel" : head == BertHead::MaskedLM ? "BertForMaskedLM"
                                                                                 : "BertForSequenceClassification"));
        for (const RawTensor& t : read_raw(tmp.file("hf/model.safetensors")))
            if (!starts_with(t.name, "classifier.") && !starts_with(t.name, "cls.")) {
                INFO(t.name);
                CHECK(starts_with(t.name, "bert.") == (head != BertHead::None));
            }
    }
}

TEST_CASE("hf_bert: BertModel names, old buffers and names, a tied decoder and BF16 are read") {
    TempDir tmp("hf_bert");

    SUBCASE("a BertModel without the prefix and with the position_ids buffer, as all-MiniLM-L6-v2 is") {
        RawTensors tensors;
        for (const RawTensor& t : read_raw(kCls + "/model.safetensors"))
            if (starts_with(t.name, "bert.")) tensors.push_back({t.name.substr(5), t.dtype, t.shape, t.bytes});
        std::string ids;
        for (int64_t i = 0; i < 16; i++)
            for (int k = 0; k < 8; k++) ids.push_back((char)(i >> (8 * k)));
        tensors.push_back({"embeddings.position_ids", "I64", {1, 16}, ids});
        const std::string dir = make_folder(tmp, "bertmodel", tensors, [](json& c) {
            c["architectures"] = {"BertModel"};
            c.erase("id2label");
            c.erase("label2id");
        });
        convert_hf_to_minitrain(dir, tmp.file("m.bin"));
        std::unique_ptr<Backend> be(make_backend("cpu"));
        std::unique_ptr<BERT> model = load_converted(*be, tmp.file("m.bin"));
        CHECK(model->cfg.head == BertHead::None);
        check_weights(*model, tensors, "");
    }

    SUBCASE("a BertForPreTraining-style file: gamma/beta, a tied decoder, pooler and NSP head dropped") {
        convert_hf_to_minitrain(kMlm, tmp.file("want.bin"));
        RawTensors tensors = read_raw(kMlm + "/model.safetensors");
        for (RawTensor& t : tensors)
            for (const auto& [now, old] : {std::pair<std::string, std::string>{"LayerNorm.weight", "LayerNorm.gamma"},
                                           {"LayerNorm.bias", "LayerNorm.beta"}})
                if (t.name.size() > now.size() && t.name.compare(t.name.size() - now.size(), now.size(), now) == 0)
                    t.name = t.name.substr(0, t.name.size() - now.size()) + old;
        RawTensor decoder = find(tensors, "bert.embeddings.word_embeddings.weight");
        decoder.name = "cls.predictions.decoder.weight";
        RawTensor decoder_bias = find(tensors, "cls.predictions.bias");
        decoder_bias.name = "cls.predictions.decoder.bias";
        const RawTensor pooler = {"bert.pooler.dense.weight", "F32", {32, 32}, std::string(32 * 32 * 4, '\1')};
        const RawTensor nsp = {"cls.seq_relationship.weight", "F32", {2, 32}, std::string(2 * 32 * 4, '\1')};
        tensors.insert(tensors.end(), {decoder, decoder_bias, pooler, nsp});
        convert_hf_to_minitrain(make_folder(tmp, "pretraining", tensors, nullptr, kMlm), tmp.file("got.bin"));
        CHECK(slurp(tmp.file("got.bin")) == slurp(tmp.file("want.bin")));
    }

    SUBCASE("BF16 tensors widen to the F32 values they round to") {
        RawTensors bf16 = read_raw(kCls + "/model.safetensors"), f32 = bf16;
        for (RawTensor& t : bf16) {
            std::string halves;
            for (size_t i = 0; i < t.bytes.size(); i += 4) halves += t.bytes.substr(i + 2, 2);
            t = {t.name, "BF16", t.shape, halves};
        }
        for (RawTensor& t : f32)
            for (size_t i = 0; i < t.bytes.size(); i += 4) t.bytes[i] = t.bytes[i + 1] = '\0';
        convert_hf_to_minitrain(make_folder(tmp, "bf16", bf16), tmp.file("bf16.bin"));
        convert_hf_to_minitrain(make_folder(tmp, "f32", f32), tmp.file("f32.bin"));
        CHECK(slurp(tmp.file("bf16.bin")) == slurp(tmp.file("f32.bin")));
        convert_hf_to_minitrain(kCls, tmp.file("want.bin"));
        CHECK(slurp(tmp.file("bf16.bin")) != slurp(tmp.file("want.bin")));
    }
}

TEST_CASE("hf_bert: bad folders give a one-line error naming the file, and write nothing") {
    TempDir tmp("hf_bert");
    const std::string out = tmp.file("out.bin");
    auto rejects = [&](const std::string& dir, const std::string& file, const std::string& needle) {
        check_error([&] { convert_hf_to_minitrain(dir, out); }, dir + "/" + file, needle);
        CHECK(!fs::exists(out));
    };
    RawTensors tensors = read_raw(kCls + "/model.safetensors");
    auto config = [&](const std::string& name, const std::function<void(json&)>& edit) {
        return make_folder(tmp, name, tensors, edit);
    };

    SUBCASE("a truncated model.safetensors") {
        const std::string dir = make_folder(tmp, "truncated", tensors);
        const std::string bytes = slurp(dir + "/model.safetensors");
        spit(dir + "/model.safetensors", bytes.substr(0, bytes.size() / 2));
        rejects(dir, "model.safetensors", "the file is truncated");
    }
    SUBCASE("no model.safetensors, only pytorch_model.bin") {
        const std::string dir = make_folder(tmp, "pt", tensors);
        fs::rename(dir + "/model.safetensors", dir + "/pytorch_model.bin");
        rejects(dir, "model.safetensors", "the folder holds pytorch_model.bin, which is not read");
    }
    SUBCASE("a tensor with the wrong shape") {
        RawTensor& fc = find(tensors, "bert.encoder.layer.1.intermediate.dense.weight");
        fc.shape = {fc.shape[1], fc.shape[0]};
        rejects(make_folder(tmp, "shape", tensors), "model.safetensors",
                "tensor 'bert.encoder.layer.1.intermediate.dense.weight' has shape (32, 48), expected (48, 32)");
    }
    SUBCASE("a config.json that describes a model far larger than model.safetensors") {
        // Checked before the model is allocated (this threw std::bad_alloc).
        auto huge = [](json& c) { c["num_hidden_layers"] = 1024, c["hidden_size"] = c["intermediate_size"] = 65536; };
        rejects(config("huge", huge), "model.safetensors",
                "tensor 'bert.embeddings.word_embeddings.weight' has shape (99, 32), expected (99, 65536)");
    }
    SUBCASE("a vocabulary that disagrees with the word embeddings") {
        rejects(config("vocab", [](json& c) { c["vocab_size"] = 98; }), "model.safetensors",
                "tensor 'bert.embeddings.word_embeddings.weight' has shape (99, 32), expected (98, 32)");
    }
    SUBCASE("a dtype that is not floating point") {
        find(tensors, "bert.pooler.dense.bias").dtype = "I32";
        rejects(make_folder(tmp, "dtype", tensors), "model.safetensors",
                "tensor 'bert.pooler.dense.bias' has dtype I32, which cannot be read as floats");
    }
    SUBCASE("a missing tensor") {
        erase(tensors, [](const RawTensor& t) { return t.name == "bert.encoder.layer.0.attention.self.key.weight"; });
        rejects(make_folder(tmp, "missing", tensors), "model.safetensors",
                "missing tensor 'bert.encoder.layer.0.attention.self.key.weight'");
    }
    SUBCASE("an unexpected tensor") {
        RawTensor extra = find(tensors, "bert.encoder.layer.1.output.dense.bias");
        extra.name = "bert.encoder.layer.2.output.dense.bias";
        tensors.push_back(extra);
        rejects(make_folder(tmp, "extra", tensors), "model.safetensors",
                "unexpected tensor 'bert.encoder.layer.2.output.dense.bias'");
    }
    SUBCASE("a non-finite weight") {
        const float nan = NAN;
        std::memcpy(&find(tensors, "classifier.bias").bytes[4], &nan, 4);
        rejects(make_folder(tmp, "nan", tensors), "model.safetensors",
                "tensor 'classifier.bias' holds a non-finite value (nan) at element 1");
    }
    SUBCASE("both the current and the old name of a LayerNorm weight") {
        RawTensor gamma = find(tensors, "bert.embeddings.LayerNorm.weight");
        gamma.name = "bert.embeddings.LayerNorm.gamma";
        tensors.push_back(gamma);
        rejects(make_folder(tmp, "gamma", tensors), "model.safetensors", "holds both");
    }
    SUBCASE("a decoder that is not tied to the word embeddings or to cls.predictions.bias") {
        RawTensors mlm = read_raw(kMlm + "/model.safetensors");
        RawTensor decoder = find(mlm, "bert.embeddings.word_embeddings.weight");
        decoder.name = "cls.predictions.decoder.weight";
        decoder.bytes[40] ^= 1;
        mlm.push_back(decoder);
        rejects(make_folder(tmp, "untied", mlm, nullptr, kMlm), "model.safetensors",
                "tensor 'cls.predictions.decoder.weight' differs from 'bert.embeddings.word_embeddings.weight'");
        mlm.pop_back();
        RawTensor bias = find(mlm, "cls.predictions.bias");
        bias.name = "cls.predictions.decoder.bias";
        bias.bytes[0] ^= 1;
        mlm.push_back(bias);
        rejects(make_folder(tmp, "untied_bias", mlm, nullptr, kMlm), "model.safetensors",
                "tensor 'cls.predictions.decoder.bias' differs from 'cls.predictions.bias'");
    }
    SUBCASE("both a masked-LM head and a classifier") {
        RawTensors both = read_raw(kMlm + "/model.safetensors");
        both.push_back(find(tensors, "classifier.bias"));
        rejects(make_folder(tmp, "both", both, nullptr, kMlm), "model.safetensors",
                "holds both a masked-LM head (cls.predictions.*) and a classifier (classifier.*)");
    }
    SUBCASE("architectures that disagree with the head tensors") {
        rejects(config("arch", [](json& c) { c["architectures"] = {"BertModel"}; }), "model.safetensors",
                "holds the head tensors of a BertForSequenceClassification (classifier.*), but config.json's "
                "architectures is [\"BertModel\"]");
    }
    SUBCASE("an architecture the model does not have") {
        rejects(config("token", [](json& c) { c["architectures"] = {"BertForTokenClassification"}; }), "config.json",
                "field 'architectures' = [\"BertForTokenClassification\"] is not supported");
    }
    SUBCASE("the tanh GELU") {
        rejects(config("gelu", [](json& c) { c["hidden_act"] = "gelu_new"; }), "config.json",
                "field 'hidden_act' = \"gelu_new\" is not supported");
    }
    SUBCASE("another layer_norm_eps") {
        rejects(config("eps", [](json& c) { c["layer_norm_eps"] = 1e-5; }), "config.json",
                "field 'layer_norm_eps' = 1e-05 is not supported");
    }
    SUBCASE("relative position embeddings") {
        rejects(config("rel", [](json& c) { c["position_embedding_type"] = "relative_key"; }), "config.json",
                "field 'position_embedding_type' = \"relative_key\" is not supported");
    }
    SUBCASE("heads that do not divide hidden_size") {
        rejects(config("heads", [](json& c) { c["num_attention_heads"] = 5; }), "config.json",
                "hidden_size 32 is not a multiple of num_attention_heads 5");
    }
    SUBCASE("a missing shape field") {
        rejects(config("nofield", [](json& c) { c.erase("intermediate_size"); }), "config.json",
                "missing field 'intermediate_size'");
    }
    SUBCASE("a non-integer shape field") {
        rejects(config("float", [](json& c) { c["num_hidden_layers"] = 2.5; }), "config.json",
                "field 'num_hidden_layers' = 2.5 is not a positive integer");
    }
    SUBCASE("a dropout that is not a number") {
        rejects(config("dropout", [](json& c) { c["hidden_dropout_prob"] = "0.1"; }), "config.json",
                "field 'hidden_dropout_prob' = \"0.1\" is not a number");
    }
    SUBCASE("num_labels against id2label") {
        rejects(config("labels", [](json& c) { c["num_labels"] = 4; }), "config.json",
                "field 'num_labels' = 4 disagrees with the 3 entries of 'id2label'");
    }
    SUBCASE("a regression head") {
        rejects(config("regression", [](json& c) { c["problem_type"] = "regression"; }), "config.json",
                "field 'problem_type' = \"regression\" is not supported");
        rejects(config("one", [](json& c) { c["id2label"] = {{"0", "score"}}; }), "config.json",
                "regression (num_labels 1) is not supported");
    }
    SUBCASE("another model_type, or none") {
        rejects(config("roberta", [](json& c) { c["model_type"] = "roberta"; }), "config.json",
                "field 'model_type' = \"roberta\" is not supported (gpt2 or bert)");
        rejects(config("notype", [](json& c) { c.erase("model_type"); }), "config.json",
                "missing field 'model_type' (gpt2 or bert)");
    }
}

TEST_CASE("hf_bert: the command line converts BERT both ways") {
    if (!fs::exists("bin/convert")) FAIL("bin/convert is not built (run make)");
    TempDir tmp("hf_bert");
    auto run = [&](const std::string& args) { return run_command("./bin/convert " + args, tmp); };
    for (const std::string& dir : {kCls, kMlm}) {
        INFO(dir);
        CHECK(run("--from-hf " + dir + " --output " + tmp.file("m.bin")).status == 0);
        CHECK(read_weight_file(tmp.file("m.bin")).arch == "bert");
        CHECK(run("--to-hf " + tmp.file("m.bin") + " --output " + tmp.file("hf")).status == 0);
        CHECK(slurp(tmp.file("hf/model.safetensors")) == slurp(dir + "/model.safetensors"));
    }
    const std::string roberta = make_folder(tmp, "roberta", read_raw(kCls + "/model.safetensors"),
                                            [](json& c) { c["model_type"] = "roberta"; });
    const CommandResult bad = run("--from-hf " + roberta + " --output " + tmp.file("r.bin"));
    CHECK(bad.status == 1);
    CHECK(bad.err == "convert: " + roberta +
                         "/config.json: field 'model_type' = \"roberta\" is not supported (gpt2 or bert)\n");
}
