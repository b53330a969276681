// Hugging Face GPT-2 conversion (src/safetensors, src/hf_gpt2, bin/convert)
// against transformers: tests/fixtures/hf_gpt2_tiny/ is a folder that
// GPT2LMHeadModel.save_pretrained wrote, with the logits transformers computes
// for a batch (tools/reference/make_hf_gpt2_fixture.py; float64 forward on
// the float32 weights, so only the C++ model's float32 rounding shows).
// Logits are compared as max abs error / max abs reference, tolerance 1e-5;
// everything else must match exactly. Safetensors files are read and written
// here by the test's own code (nlohmann-json and raw bytes), independently of
// src/formats/safetensors.cpp.
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

#include "fixture.h"
#include "models/gpt2.h"
#include "gradcheck.h"
#include "formats/hf_convert.h"
#include "formats/hf_gpt2.h"
#include "raw_safetensors.h"
#include "formats/safetensors.h"
#include "support.h"
#include "formats/weights.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

const std::string kFixtureDir = "tests/fixtures/hf_gpt2_tiny";
constexpr double kTol = 1e-5;

uint64_t le64(const std::string& s, size_t at) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v |= (uint64_t)(unsigned char)s[at + k] << (8 * k);
    return v;
}

RawTensors fixture_tensors() { return read_raw(kFixtureDir + "/model.safetensors"); }

// A Hugging Face folder with the fixture's config, edited, and the given tensors.
std::string make_folder(const TempDir& tmp, const std::string& name, const RawTensors& tensors,
                        const std::function<void(json&)>& edit_config = nullptr) {
    return hf_folder(kFixtureDir, tmp, name, tensors, edit_config);
}


float as_float(const std::string& bytes, size_t i) {
    uint32_t bits = 0;
    for (int k = 0; k < 4; k++) bits |= (uint32_t)(unsigned char)bytes[4 * i + k] << (8 * k);
    float x;
    std::memcpy(&x, &bits, 4);
    return x;
}

std::vector<float> download(const GPT2& model, const std::string& name) {
    std::vector<float> host(model.arena.params.at(name).numel());
    model.arena.be.download(host.data(), model.arena.param(name), host.size() * sizeof(float));
    return host;
}

}  // namespace

TEST_CASE("convert: a Hugging Face GPT-2 folder gives transformers' logits") {
    TempDir tmp("convert");
    const std::string bin = tmp.file("model.bin");
    convert_hf_to_minitrain(kFixtureDir, bin);
    const GPT2Config cfg = read_gpt2_config(bin);
    CHECK(cfg.L == 2);
    CHECK(cfg.NH == 2);
    CHECK(cfg.C == 32);
    CHECK(cfg.V == 101);
    CHECK(cfg.Vp == 128);
    CHECK(cfg.max_T == 16);

    const Fixture fx(kFixtureDir + "/expected.bin");
    const int B = 2, T = 8, V = cfg.V, Vp = cfg.Vp;
    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2 model(*be, cfg, B, T);
    model.allocate();
    load_weights(bin, model);

    SUBCASE("every weight is the HF tensor, Conv1D weights transposed, wte padded with zero rows") {
        RawTensors hf = fixture_tensors();
        for (const TensorInfo& t : model.arena.params.tensors) {
            const std::string& raw = find(hf, "transformer." + t.name).bytes;
            const std::vector<float> got = download(model, t.name);
            const bool conv1d = t.layer >= 0 && t.shape.size() == 2;
            const size_t rows = t.shape[0], cols = t.shape.size() == 2 ? t.shape[1] : 1;
            size_t wrong = 0;
            for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < cols; c++) {
                    float want = conv1d ? as_float(raw, c * rows + r)
                                        : r * cols + c < raw.size() / 4 ? as_float(raw, r * cols + c) : 0.0f;
                    wrong += got[r * cols + c] != want;
                }
            INFO(t.name);
            CHECK(wrong == 0);
        }
    }

    SUBCASE("logits") {
        model.forward(fx.ints("tokens", (size_t)B * T).data(), nullptr, B, T);
        std::vector<float> all((size_t)B * T * Vp), real;
        be->download(all.data(), model.logits, all.size() * sizeof(float));
        double padded = 0;
        for (size_t n = 0; n < (size_t)B * T; n++)
            for (int v = 0; v < Vp; v++)
                if (v < V) real.push_back(all[n * Vp + v]);
                else padded = std::max(padded, (double)std::fabs(all[n * Vp + v]));
        const double err = rel_error(real, fx.floats("logits", real.size()), real.size());
        MESSAGE("logits relative error against transformers ", err, " (transformers ", fx.text("meta.transformers"), ")");
        CHECK(err <= kTol);
        CHECK(padded == 0.0);
    }
}

TEST_CASE("convert: HF -> runtime -> HF gives back transformers' file") {
    TempDir tmp("convert");
    convert_hf_to_minitrain(kFixtureDir, tmp.file("model.bin"));
    convert_minitrain_to_hf(tmp.file("model.bin"), tmp.file("hf"));

    const RawFile want = read_raw_file(kFixtureDir + "/model.safetensors");
    const RawFile got = read_raw_file(tmp.file("hf/model.safetensors"));
    CHECK(got.header_len % 8 == 0);
    CHECK(got.metadata == json({{"format", "pt"}}));
    REQUIRE(got.tensors.size() == want.tensors.size());
    for (size_t i = 0; i < want.tensors.size(); i++) {
        INFO(want.tensors[i].name);
        CHECK(got.tensors[i].name == want.tensors[i].name);
        CHECK(got.tensors[i].dtype == want.tensors[i].dtype);
        CHECK(got.tensors[i].shape == want.tensors[i].shape);
        CHECK(got.tensors[i].bytes == want.tensors[i].bytes);
    }
    // The writer follows the official library's layout, so the whole file comes back.
    CHECK(slurp(tmp.file("hf/model.safetensors")) == slurp(kFixtureDir + "/model.safetensors"));

    const json want_config = json::parse(slurp(kFixtureDir + "/config.json"));
    const json got_config = json::parse(slurp(tmp.file("hf/config.json")));
    for (const char* key : {"model_type", "architectures", "n_layer", "n_head", "n_embd", "n_positions", "vocab_size",
                            "activation_function", "layer_norm_epsilon", "n_inner", "attn_pdrop", "embd_pdrop",
                            "resid_pdrop", "scale_attn_weights", "scale_attn_by_inverse_layer_idx"}) {
        INFO(key);
        CHECK(got_config.at(key) == want_config.at(key));
    }
}

TEST_CASE("convert: runtime -> HF -> runtime keeps every weight, with the LM head or a classification head") {
    for (int num_labels : {0, 3}) {
        CAPTURE(num_labels);
        GPT2Config cfg;
        cfg.max_T = 8, cfg.V = 50, cfg.Vp = 128, cfg.L = 3, cfg.NH = 2, cfg.C = 8, cfg.num_labels = num_labels;
        std::unique_ptr<Backend> be(make_backend("cpu"));
        GPT2 model(*be, cfg, 1, 1);
        model.allocate();
        model.init_weights(11);
        TempDir tmp("convert");
        save_weights(tmp.file("a.bin"), model);
        convert_minitrain_to_hf(tmp.file("a.bin"), tmp.file("hf"));
        const json config = json::parse(slurp(tmp.file("hf/config.json")));
        CHECK(config["architectures"][0] == (num_labels ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"));
        CHECK(read_hf_gpt2_config(tmp.file("hf")).num_labels == num_labels);
        convert_hf_to_minitrain(tmp.file("hf"), tmp.file("b.bin"));
        CHECK(slurp(tmp.file("a.bin")) == slurp(tmp.file("b.bin")));
    }
}

TEST_CASE("convert: GPT2Model names, old attention buffers, a tied lm_head and BF16 are read") {
    TempDir tmp("convert");
    convert_hf_to_minitrain(kFixtureDir, tmp.file("want.bin"));

    SUBCASE("no 'transformer.' prefix, causal-mask buffers, lm_head equal to wte") {
        RawTensors tensors;
        for (const RawTensor& t : fixture_tensors()) tensors.push_back(renamed(t, t.name.substr(12)));
        tensors.push_back({"h.0.attn.bias", "F32", {1, 1, 16, 16}, std::string(16 * 16 * 4, '\1')});
        tensors.push_back({"h.1.attn.masked_bias", "F32", {}, std::string(4, '\0')});
        tensors.push_back(renamed(find(tensors, "wte.weight"), "lm_head.weight"));
        const std::string dir = make_folder(tmp, "gpt2model", tensors);
        convert_hf_to_minitrain(dir, tmp.file("got.bin"));
        CHECK(slurp(tmp.file("got.bin")) == slurp(tmp.file("want.bin")));
    }

    SUBCASE("BF16 tensors widen to the F32 values they round to") {
        RawTensors bf16 = fixture_tensors(), f32 = bf16;
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
        CHECK(slurp(tmp.file("bf16.bin")) != slurp(tmp.file("want.bin")));
    }
}

TEST_CASE("safetensors: F16 and BF16 widen exactly") {
    TempDir tmp("convert");
    auto halves = [](std::vector<uint16_t> bits) {
        std::string out;
        for (uint16_t b : bits) out += {(char)(b & 0xff), (char)(b >> 8)};
        return out;
    };
    // 1, -2, the smallest subnormal 2^-24, the largest subnormal 1023 * 2^-24,
    // the smallest normal 2^-14, the largest finite 65504, 1/3 rounded, -0, inf.
    const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x3555, 0x8000, 0x7c00};
    const std::vector<float> f16_values = {1.0f, -2.0f, 5.9604644775390625e-8f, 6.097555160522461e-5f,
                                           6.103515625e-5f, 65504.0f, 0.333251953125f, -0.0f, INFINITY};
    // 1, -5, 1/3 truncated, the smallest positive subnormal float 2^-133.
    const std::vector<uint16_t> bf16 = {0x3f80, 0xc0a0, 0x3eab, 0x0001};
    const std::vector<float> bf16_values = {1.0f, -5.0f, 0.333984375f, 9.183549615799121e-41f};
    spit(tmp.file("h.safetensors"),
         raw_file({{"b", "BF16", {4}, halves(bf16)}, {"h", "F16", {3, 3}, halves(f16)}}));

    SafetensorsFile file(tmp.file("h.safetensors"));
    REQUIRE(file.header().tensors.size() == 2);
    const std::vector<float> got_f16 = file.read_f32(*file.header().find("h"));
    const std::vector<float> got_bf16 = file.read_f32(*file.header().find("b"));
    REQUIRE(got_f16.size() == f16_values.size());
    for (size_t i = 0; i < f16_values.size(); i++) {
        INFO("F16 ", i);
        CHECK(got_f16[i] == f16_values[i]);
        CHECK(std::signbit(got_f16[i]) == std::signbit(f16_values[i]));
    }
    REQUIRE(got_bf16.size() == bf16_values.size());
    for (size_t i = 0; i < bf16_values.size(); i++) CHECK(got_bf16[i] == bf16_values[i]);
}

TEST_CASE("safetensors: the real all-MiniLM-L6-v2 header parses and the truncated file is refused") {
    const fs::path data = data_dir("weights-reference/all-MiniLM-L6-v2.safetensors.header.json");
    if (data.empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    const std::string path = (data / "weights-reference/all-MiniLM-L6-v2.safetensors.header.json").string();
    const std::string text = slurp(path);
    // Sizes from shared/data/README.md: 90,856,960 bytes of tensor data.
    const SafetensorsHeader header = parse_safetensors_header(text, 90856960, path);
    CHECK(header.tensors.size() == 104);
    CHECK(header.metadata.at("format") == "pt");
    const SafetensorsEntry* words = header.find("embeddings.word_embeddings.weight");
    REQUIRE(words != nullptr);
    CHECK(words->dtype == "F32");
    CHECK(words->shape == std::vector<int64_t>{30522, 384});
    CHECK(words->begin == 796672);
    CHECK(words->end == 47678464);
    const SafetensorsEntry* ids = header.find("embeddings.position_ids");
    REQUIRE(ids != nullptr);
    CHECK(ids->dtype == "I64");
    CHECK(ids->shape == std::vector<int64_t>{1, 512});
    // One byte less data and the last tensor no longer fits.
    CHECK_THROWS(parse_safetensors_header(text, 90856959, path));

    // The truncated copy of the real file starts with exactly this header, and is rejected.
    const std::string truncated = (data / "weights-reference/all-MiniLM-L6-v2.truncated.safetensors").string();
    const std::string bytes = slurp(truncated);
    CHECK(le64(bytes, 0) == text.size());
    CHECK(bytes.compare(8, text.size(), text) == 0);
    check_error([&] { SafetensorsFile file(truncated); }, truncated,
                "tensor 'embeddings.word_embeddings.weight' has data_offsets [796672, 47678464) past the end of the "
                "data section (840552 bytes): the file is truncated");
}

TEST_CASE("safetensors: bad files give a one-line error naming the file") {
    TempDir tmp("convert");
    const std::string path = tmp.file("bad.safetensors");
    auto rejects = [&](const std::string& bytes, const std::string& needle) {
        spit(path, bytes);
        check_error([&] { SafetensorsFile file(path); }, path, needle);
    };
    auto one = [](const std::string& info) { return R"({"__metadata__":{"format":"pt"},"a":)" + info + "}"; };
    const std::string four(4, '\0');

    SUBCASE("too short") { rejects(std::string(5, '\0'), "too short"); }
    SUBCASE("header length past the end") { rejects(framed("{}", "", 1000), "header length 1000 runs past the end"); }
    SUBCASE("header length over the limit") { rejects(framed("{}", "", 1ull << 40), "100 MB"); }
    SUBCASE("invalid JSON") { rejects(framed(R"({"a": {"dtype": )", ""), "not valid JSON"); }
    SUBCASE("a number beyond a double's range") {  // nlohmann::json's out_of_range escaped the reader
        rejects(framed(one(R"({"dtype":"F32","shape":[1e405],"data_offsets":[0,4]})"), four),
                "the header is not valid JSON ([json.exception.out_of_range.406] number overflow parsing '1e405')");
    }
    SUBCASE("not an object") { rejects(framed("[1, 2]", ""), "not a JSON object"); }
    SUBCASE("metadata not strings") { rejects(framed(R"({"__metadata__":{"format":1}})", ""), "not a string"); }
    SUBCASE("entry not an object") { rejects(framed(one("[0, 4]"), four), "not a JSON object"); }
    SUBCASE("missing field") { rejects(framed(one(R"({"dtype":"F32","shape":[1]})"), four), "missing field 'data_offsets'"); }
    SUBCASE("unknown dtype") {
        rejects(framed(one(R"({"dtype":"F33","shape":[1],"data_offsets":[0,4]})"), four), "unknown dtype");
    }
    SUBCASE("negative shape entry") {
        rejects(framed(one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), four), "non-negative integer");
    }
    SUBCASE("shape and size disagree") {
        rejects(framed(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,4]})"), four), "its shape needs 12 bytes");
    }
    SUBCASE("shape too large to count") {
        rejects(framed(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"), four),
                "but its shape needs more than any file holds");
    }
    SUBCASE("offsets end before they begin") {
        rejects(framed(one(R"({"dtype":"U8","shape":[0],"data_offsets":[4,0]})"), four), "end before they begin");
    }
    SUBCASE("offsets outside the data") {
        rejects(framed(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(8, '\0')),
                "tensor 'b' has data_offsets [4, 12) past the end of the data section (8 bytes)");
    }
    SUBCASE("overlapping tensors") {
        rejects(framed(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, '\0')),
                "overlap");
    }
    SUBCASE("a hole between tensors") {
        rejects(framed(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", std::string(12, '\0')),
                "bytes [4, 8) of the data section belong to no tensor");
    }
    SUBCASE("bytes after the last tensor") {
        rejects(framed(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), std::string(8, '\0')),
                "4 bytes after the last tensor");
    }
    SUBCASE("a dtype that is not floating point") {
        spit(path, framed(one(R"({"dtype":"I64","shape":[1],"data_offsets":[0,8]})"), std::string(8, '\0')));
        SafetensorsFile file(path);
        check_error([&] { file.read_f32(file.header().tensors.at(0)); }, path, "cannot be read as floats");
    }
}

TEST_CASE("convert: bad Hugging Face folders give a one-line error naming the file") {
    TempDir tmp("convert");
    const std::string out = tmp.file("out.bin");
    // Converts dir, which must fail naming dir/file and mentioning needle, and write nothing.
    auto rejects = [&](const std::string& dir, const std::string& file, const std::string& needle) {
        check_error([&] { convert_hf_to_minitrain(dir, out); }, dir + "/" + file, needle);
        CHECK(!fs::exists(out));
    };
    RawTensors tensors = fixture_tensors();

    SUBCASE("no such folder") { rejects(tmp.file("absent"), "config.json", "cannot open"); }
    SUBCASE("a tensor with the wrong shape for the config") {
        RawTensor& fc = find(tensors, "transformer.h.1.mlp.c_fc.weight");
        fc.shape = {fc.shape[1], fc.shape[0]};
        rejects(make_folder(tmp, "shape", tensors), "model.safetensors",
                "tensor 'transformer.h.1.mlp.c_fc.weight' has shape (128, 32), expected (32, 128)");
    }
    SUBCASE("a vocabulary that disagrees with wte") {
        rejects(make_folder(tmp, "vocab", tensors, [](json& c) { c["vocab_size"] = 100; }), "model.safetensors",
                "tensor 'transformer.wte.weight' has shape (101, 32), expected (100, 32)");
    }
    SUBCASE("a config.json that describes a model far larger than model.safetensors") {
        // 1024 blocks of 65536 channels: the file is checked before such a model is allocated
        // (this threw std::bad_alloc, and smaller sizes allocated gigabytes before failing).
        rejects(make_folder(tmp, "huge", tensors, [](json& c) { c["n_layer"] = 1024, c["n_embd"] = 65536; }),
                "model.safetensors", "tensor 'transformer.wte.weight' has shape (101, 32), expected (101, 65536)");
    }
    SUBCASE("a missing tensor") {
        tensors.erase(tensors.begin());
        rejects(make_folder(tmp, "missing", tensors), "model.safetensors",
                "missing tensor 'transformer.h.0.attn.c_attn.bias'");
    }
    SUBCASE("an unexpected tensor") {
        tensors.push_back(renamed(find(tensors, "transformer.h.1.ln_1.bias"), "transformer.h.2.ln_1.bias"));
        rejects(make_folder(tmp, "extra", tensors), "model.safetensors", "unexpected tensor 'transformer.h.2.ln_1.bias'");
    }
    SUBCASE("an lm_head that is not wte") {
        RawTensor head = find(tensors, "transformer.wte.weight");
        head.bytes[100] ^= 1;
        tensors.push_back(renamed(head, "lm_head.weight"));
        rejects(make_folder(tmp, "head", tensors), "model.safetensors", "'lm_head.weight' differs");
    }
    SUBCASE("a non-finite weight") {
        std::string& bytes = find(tensors, "transformer.ln_f.weight").bytes;
        const float nan = NAN;
        std::memcpy(&bytes[8], &nan, 4);
        rejects(make_folder(tmp, "nan", tensors), "model.safetensors",
                "tensor 'transformer.ln_f.weight' holds a non-finite value (nan) at element 2");
    }
    SUBCASE("config.json missing a field") {
        rejects(make_folder(tmp, "nofield", tensors, [](json& c) { c.erase("n_embd"); }), "config.json",
                "missing field 'n_embd'");
    }
    SUBCASE("config.json with a non-integer field") {
        rejects(make_folder(tmp, "float", tensors, [](json& c) { c["n_layer"] = 2.5; }), "config.json",
                "field 'n_layer' = 2.5 is not a positive integer");
    }
    SUBCASE("wrong activation_function") {
        rejects(make_folder(tmp, "gelu", tensors, [](json& c) { c["activation_function"] = "gelu"; }), "config.json",
                "field 'activation_function' = \"gelu\" is not supported");
    }
    SUBCASE("wrong layer_norm_epsilon") {
        rejects(make_folder(tmp, "eps", tensors, [](json& c) { c["layer_norm_epsilon"] = 1e-6; }), "config.json",
                "field 'layer_norm_epsilon' = 1e-06 is not supported");
    }
    SUBCASE("an MLP width other than 4 * n_embd") {
        rejects(make_folder(tmp, "inner", tensors, [](json& c) { c["n_inner"] = 64; }), "config.json",
                "field 'n_inner' = 64 is not supported");
    }
    SUBCASE("not a GPT-2") {
        rejects(make_folder(tmp, "roberta", tensors, [](json& c) { c["model_type"] = "roberta"; }), "config.json",
                "field 'model_type' = \"roberta\" is not supported (gpt2 or bert)");
    }
    SUBCASE("config.json that is not JSON") {
        const std::string dir = make_folder(tmp, "json", tensors);
        spit(dir + "/config.json", "{\"n_layer\": 2,");
        rejects(dir, "config.json", "not valid JSON");
    }
    SUBCASE("config.json with a number beyond a double's range") {
        // Found by tests/fuzz/fuzz_hf.cpp: nlohmann::json's out_of_range escaped the reader.
        const std::string dir = make_folder(tmp, "overflow", tensors);
        spit(dir + "/config.json", "{\"n_layer\": 1e405}");
        rejects(dir, "config.json", "not valid JSON ([json.exception.out_of_range.406] number overflow parsing '1e405')");
    }
}

TEST_CASE("convert: the command line") {
    if (!fs::exists("bin/convert")) FAIL("bin/convert is not built (run make)");
    TempDir tmp("convert");
    auto run = [&](const std::string& args) { return run_command("./bin/convert " + args, tmp); };
    const CommandResult help = run("--help");
    CHECK(help.status == 0);
    CHECK(help.out.find("--from-hf DIR") != std::string::npos);

    CHECK(run("--from-hf " + kFixtureDir + " --output " + tmp.file("m.bin")).status == 0);
    CHECK(run("--to-hf " + tmp.file("m.bin") + " --output " + tmp.file("hf")).status == 0);
    CHECK(slurp(tmp.file("hf/model.safetensors")) == slurp(kFixtureDir + "/model.safetensors"));

    const std::pair<std::string, std::string> bad[] = {
        {"", "convert: give exactly one of --from-hf DIR and --to-hf FILE"},
        {"--from-hf " + kFixtureDir, "convert: no --output given"},
        {"--from-hf a --to-hf b --output c", "convert: give exactly one of"},
        {"--from-hf " + tmp.file("absent") + " --output x", "convert: " + tmp.file("absent") + "/config.json: cannot open"},
        {"--to-hf " + kFixtureDir + "/config.json --output x", "convert: " + kFixtureDir + "/config.json: bad magic"},
        {"--bogus", "convert: "},
    };
    for (const auto& [args, start] : bad) {
        INFO("convert " << args);
        const CommandResult r = run(args);
        CHECK(r.status == 1);
        CHECK(r.err.rfind(start, 0) == 0);
        CHECK(r.err.find('\n') == r.err.size() - 1);
    }
}
