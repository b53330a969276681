// Weight files: round trips through the minitrain format, llm.c v3 checkpoints,
// and one test per bad input. Files are built byte by byte here by writers that
// follow the layouts in weights.h and llmc-formats.md, independently of
// src/formats/weights.cpp; every tensor element holds a value that encodes which
// tensor, layer and index it is, so a misplaced tensor cannot go unnoticed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "models/gpt2.h"
#include "support.h"
#include "formats/weights.h"

namespace {

GPT2Config small_config() {
    GPT2Config c;
    c.max_T = 8, c.V = 10, c.Vp = 16, c.L = 2, c.NH = 2, c.C = 4;
    return c;
}

// A model and the backend it lives on.
struct HostModel {
    std::unique_ptr<Backend> be{make_backend("cpu")};
    std::unique_ptr<GPT2> gpt;
    explicit HostModel(const GPT2Config& cfg, bool allocate = true) {
        gpt = std::make_unique<GPT2>(*be, cfg, 1, 1);
        if (allocate) gpt->allocate();
    }
    std::vector<float> tensor(const std::string& name) const {
        const TensorInfo& t = gpt->arena.params.at(name);
        std::vector<float> host(t.numel());
        be->download(host.data(), gpt->arena.param(name), host.size() * sizeof(float));
        return host;
    }
    std::vector<float> all_params() const {
        std::vector<float> host(gpt->arena.params.total);
        be->download(host.data(), gpt->arena.param_mem, host.size() * sizeof(float));
        return host;
    }
};

// llm.c's 16 tensors in file order (llmc-formats.md 2.2), under our names.
struct Kind {
    std::string name;
    bool per_layer;
    std::vector<int64_t> shape;
};
std::vector<Kind> kinds(const GPT2Config& c) {
    const int64_t C = c.C;
    return {{"wte.weight", false, {c.Vp, C}},        {"wpe.weight", false, {c.max_T, C}},
            {"ln_1.weight", true, {C}},              {"ln_1.bias", true, {C}},
            {"attn.c_attn.weight", true, {3 * C, C}}, {"attn.c_attn.bias", true, {3 * C}},
            {"attn.c_proj.weight", true, {C, C}},    {"attn.c_proj.bias", true, {C}},
            {"ln_2.weight", true, {C}},              {"ln_2.bias", true, {C}},
            {"mlp.c_fc.weight", true, {4 * C, C}},   {"mlp.c_fc.bias", true, {4 * C}},
            {"mlp.c_proj.weight", true, {C, 4 * C}}, {"mlp.c_proj.bias", true, {C}},
            {"ln_f.weight", false, {C}},             {"ln_f.bias", false, {C}}};
}

std::string name_of(const Kind& k, int layer) {
    return k.per_layer ? "h." + std::to_string(layer) + "." + k.name : k.name;
}

uint64_t numel(const std::vector<int64_t>& shape) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= (uint64_t)d;
    return n;
}

// Element i of tensor kind k, layer l. Exact in fp32 and distinct while i < 100
// (the small config's largest tensor slice has 64 elements).
float value_of(int k, int l, uint64_t i) { return 1000.0f * k + 100.0f * l + (float)i; }

void put_le(std::string& out, uint64_t v, int width) {
    for (int b = 0; b < width; b++) out.push_back((char)(v >> (8 * b)));
}

void put_float(std::string& out, float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    put_le(out, bits, 4);
}

// ---- an llm.c v3 checkpoint -------------------------------------------------------------------

void set_slot(std::string& bytes, int slot, int32_t v) {
    for (int b = 0; b < 4; b++) bytes[4 * slot + b] = (char)((uint32_t)v >> (8 * b));
}

std::string llmc_bytes(const GPT2Config& c) {
    std::string out(1024, '\0');
    const int32_t slots[] = {20240326, 3, c.max_T, c.V, c.L, c.NH, c.C, c.Vp};
    for (int i = 0; i < 8; i++) set_slot(out, i, slots[i]);
    // Tensor-major: all layers of one tensor, then the next tensor.
    std::vector<Kind> ks = kinds(c);
    for (int k = 0; k < (int)ks.size(); k++)
        for (int l = 0; l < (ks[k].per_layer ? c.L : 1); l++)
            for (uint64_t i = 0; i < numel(ks[k].shape); i++) put_float(out, value_of(k, l, i));
    return out;
}

// ---- a minitrain v1 file --------------------------------------------------------------------

struct FileTensor {
    std::string name;
    std::vector<int64_t> shape;
    int kind = 0, layer = 0;  // which values it holds
    uint32_t dtype = 0;
    uint64_t offset = 0, bytes = 0;
};

struct OwnFile {
    std::string magic{"MINITRN\0", 8};
    uint32_t version = 1;
    std::string arch = "gpt2";
    std::vector<std::pair<std::string, int64_t>> fields;
    std::vector<FileTensor> tensors;
    int64_t count = -1;  // the tensor count written, when not tensors.size()
    uint64_t file_bytes = 0;
};

void put_str(std::string& out, const std::string& s) {
    put_le(out, s.size(), 4);
    out += s;
}

std::string header_of(const OwnFile& f) {
    std::string out = f.magic;
    put_le(out, f.version, 4);
    put_str(out, f.arch);
    put_le(out, f.fields.size(), 4);
    for (const auto& field : f.fields) {
        put_str(out, field.first);
        put_le(out, (uint64_t)field.second, 8);
    }
    put_le(out, f.count >= 0 ? (uint64_t)f.count : f.tensors.size(), 4);
    for (const FileTensor& t : f.tensors) {
        put_str(out, t.name);
        put_le(out, t.dtype, 4);
        put_le(out, t.shape.size(), 4);
        for (int64_t d : t.shape) put_le(out, (uint64_t)d, 8);
        put_le(out, t.offset, 8);
        put_le(out, t.bytes, 8);
    }
    return out;
}

// Places the tensors one after another from the first 64-byte boundary after the header.
void layout(OwnFile& f) {
    auto align = [](uint64_t n) { return (n + 63) / 64 * 64; };
    uint64_t at = align(header_of(f).size());
    f.file_bytes = at;
    for (FileTensor& t : f.tensors) {
        t.offset = at;
        t.bytes = 4 * numel(t.shape);
        f.file_bytes = at + t.bytes;
        at = align(f.file_bytes);
    }
}

// The small model with every tensor present, layer by layer (the model's own order).
OwnFile valid_own(const GPT2Config& c) {
    OwnFile f;
    f.fields = {{"max_T", c.max_T}, {"V", c.V}, {"Vp", c.Vp}, {"L", c.L}, {"NH", c.NH}, {"C", c.C}};
    std::vector<Kind> ks = kinds(c);
    for (int k : {0, 1}) f.tensors.push_back({ks[k].name, ks[k].shape, k, 0});
    for (int l = 0; l < c.L; l++)
        for (int k = 2; k < 14; k++) f.tensors.push_back({name_of(ks[k], l), ks[k].shape, k, l});
    for (int k : {14, 15}) f.tensors.push_back({ks[k].name, ks[k].shape, k, 0});
    layout(f);
    return f;
}

// file_bytes bytes: each tensor's values where its range lies inside them,
// then the header on top (a bad offset may point into it).
std::string own_bytes(const OwnFile& f) {
    std::string head = header_of(f);
    std::string out(std::max<uint64_t>(f.file_bytes, head.size()), '\0');
    for (const FileTensor& t : f.tensors) {
        if (t.offset > f.file_bytes || t.bytes > f.file_bytes - t.offset || t.bytes != 4 * numel(t.shape)) continue;
        std::string data;
        for (uint64_t i = 0; i < numel(t.shape); i++) put_float(data, value_of(t.kind, t.layer, i));
        std::memcpy(&out[t.offset], data.data(), data.size());
    }
    std::copy(head.begin(), head.end(), out.begin());
    return out;
}

void set_field(OwnFile& f, const std::string& name, int64_t value) {
    for (auto& field : f.fields)
        if (field.first == name) field.second = value;
}

// ---- checks ---------------------------------------------------------------------------------

// One line that starts with the path and names the problem.
void check_message(const std::string& msg, const std::string& path, const std::string& word) {
    INFO("message: " << msg);
    CHECK(msg.rfind(path + ": ", 0) == 0);
    CHECK(msg.find(word) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
}

// Both the config peek and a load into the small model refuse the file.
void check_rejected(const std::string& path, const std::string& word) {
    check_message(error_of([&] { read_gpt2_config(path); }), path, word);
    HostModel m(small_config());
    check_message(error_of([&] { load_weights(path, *m.gpt); }), path, word);
}

// The small model's valid minitrain file, spoiled, written to path and refused naming `word`.
void check_spoiled(const std::string& path, const std::function<void(OwnFile&)>& spoil, const std::string& word) {
    OwnFile f = valid_own(small_config());
    spoil(f);
    spit(path, own_bytes(f));
    check_rejected(path, word);
}

// Every parameter of the model holds value_of(its kind, its layer, i), and there are no others.
void check_values(const HostModel& m, const GPT2Config& c) {
    std::vector<Kind> ks = kinds(c);
    size_t count = 0;
    for (int k = 0; k < (int)ks.size(); k++)
        for (int l = 0; l < (ks[k].per_layer ? c.L : 1); l++, count++) {
            std::string name = name_of(ks[k], l);
            std::vector<float> got = m.tensor(name);
            size_t wrong = 0;
            for (size_t i = 0; i < got.size(); i++) wrong += got[i] != value_of(k, l, i);
            INFO("tensor " << name);
            CHECK(wrong == 0);
        }
    CHECK(m.gpt->arena.params.tensors.size() == count);
}

}  // namespace

// ---- good files ---------------------------------------------------------------------------------

TEST_CASE("weights: save then load into a fresh model gives identical parameters") {
    TempDir dir("weights");
    const std::string path = dir.file("model.bin");
    HostModel a(small_config());
    a.gpt->init_weights(1234);
    save_weights(path, *a.gpt);
    save_weights(path, *a.gpt);  // over an existing file
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) ==
          1);  // no .tmp left behind

    std::string bytes = slurp(path);
    REQUIRE(bytes.size() > 12);
    CHECK(std::memcmp(bytes.data(), "MINITRN\0\1\0\0\0", 12) == 0);

    GPT2Config cfg = read_gpt2_config(path);
    const GPT2Config want = small_config();
    CHECK(cfg.max_T == want.max_T);
    CHECK(cfg.V == want.V);
    CHECK(cfg.Vp == want.Vp);
    CHECK(cfg.L == want.L);
    CHECK(cfg.NH == want.NH);
    CHECK(cfg.C == want.C);

    HostModel b(small_config());
    load_weights(path, *b.gpt);
    std::vector<float> pa = a.all_params(), pb = b.all_params();
    REQUIRE(pa.size() == pb.size());
    CHECK(std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)) == 0);
    CHECK(b.tensor("h.1.mlp.c_fc.weight") != std::vector<float>(64, 0.0f));  // it did hold weights
}

TEST_CASE("weights: a minitrain file built to the documented layout loads by name") {
    TempDir dir("weights");
    const std::string path = dir.file("own.bin");
    OwnFile f = valid_own(small_config());
    std::swap(f.tensors[3], f.tensors[20]);  // table order is free; names decide
    spit(path, own_bytes(f));
    HostModel m(small_config());
    load_weights(path, *m.gpt);
    check_values(m, small_config());
}

TEST_CASE("weights: an llm.c v3 checkpoint loads its stacked tensors into per-layer names") {
    TempDir dir("weights");
    const std::string path = dir.file("gpt2_llmc.bin");
    spit(path, llmc_bytes(small_config()));

    WeightFile wf = read_weight_file(path);
    CHECK(wf.format == "llm.c v3 (fp32)");
    CHECK(wf.arch == "gpt2");
    // After wte (16x4) and wpe (8x4), layer 1's ln_1.weight follows layer 0's (4 floats).
    bool found = false;
    for (const StoredTensor& t : wf.tensors)
        if (t.name == "h.1.ln_1.weight") {
            found = true;
            CHECK(t.offset == 1024 + 4 * (64 + 32 + 4));
        }
    CHECK(found);

    HostModel m(small_config());
    load_weights(path, *m.gpt);
    check_values(m, small_config());
}

// ---- bad files: both formats ------------------------------------------------------------------

TEST_CASE("weights: a missing file, a directory and a file too short for any header") {
    TempDir dir("weights");
    check_rejected(dir.file("absent.bin"), "cannot open");
    check_rejected(dir.path, "not a regular file");
    spit(dir.file("short.bin"), "MINIT");
    check_rejected(dir.file("short.bin"), "too short");
}

TEST_CASE("weights: wrong magic") {
    TempDir dir("weights");
    check_spoiled(dir.file("m.bin"), [](OwnFile& f) { f.magic = std::string("MINITRX\0", 8); }, "bad magic");
}

// ---- bad files: llm.c ---------------------------------------------------------------------------

TEST_CASE("weights: llm.c version 5 (bf16) and other versions are refused by name") {
    TempDir dir("weights");
    const std::string path = dir.file("bf16.bin");
    std::string bytes = llmc_bytes(small_config());
    set_slot(bytes, 1, 5);
    spit(path, bytes);
    CHECK(error_of([&] { read_gpt2_config(path); }) ==
          path + ": llm.c checkpoint version 5 (bf16) is not supported; use version 3 (fp32)");
    set_slot(bytes, 1, 1);
    spit(path, bytes);
    check_rejected(path, "llm.c checkpoint version 1 is not supported");
}

TEST_CASE("weights: a truncated llm.c checkpoint") {
    TempDir dir("weights");
    std::string bytes = llmc_bytes(small_config());
    bytes.resize(bytes.size() - 4);
    spit(dir.file("t.bin"), bytes);
    check_rejected(dir.file("t.bin"), "truncated");
    bytes.resize(600);  // inside the 1024-byte header
    spit(dir.file("h.bin"), bytes);
    check_rejected(dir.file("h.bin"), "truncated");
}

TEST_CASE("weights: llm.c header fields that disagree with the file size") {
    TempDir dir("weights");
    std::string bytes = llmc_bytes(small_config());
    set_slot(bytes, 6, 8);  // C 8 where the data holds C 4
    spit(dir.file("c.bin"), bytes);
    check_rejected(dir.file("c.bin"), "needs");
    bytes = llmc_bytes(small_config());
    bytes.resize(bytes.size() + 4, 0);  // one float too many
    spit(dir.file("long.bin"), bytes);
    check_rejected(dir.file("long.bin"), "needs");
}

TEST_CASE("weights: absurd llm.c header fields fail validation before any allocation") {
    TempDir dir("weights");
    // L = 100000 would claim ~100000 * 12 * C^2 floats; validate() stops it first.
    const std::pair<int, int32_t> cases[] = {{4, 100000}, {4, 0}, {6, -4}, {5, 3}, {7, 5}};
    const char* words[] = {"layers", "layers", "channels", "divide", "padded vocab"};
    for (int i = 0; i < 5; i++) {
        std::string bytes = llmc_bytes(small_config());
        set_slot(bytes, cases[i].first, cases[i].second);
        spit(dir.file("a.bin"), bytes);
        check_rejected(dir.file("a.bin"), words[i]);
    }
}

// ---- bad files: minitrain ------------------------------------------------------------------------

TEST_CASE("weights: a truncated minitrain file") {
    TempDir dir("weights");
    HostModel a(small_config());
    a.gpt->init_weights(1);
    save_weights(dir.file("full.bin"), *a.gpt);
    std::string bytes = slurp(dir.file("full.bin"));
    bytes.resize(bytes.size() - 10);
    spit(dir.file("data.bin"), bytes);
    check_rejected(dir.file("data.bin"), "truncated");
    bytes.resize(40);  // inside the tensor table
    spit(dir.file("table.bin"), bytes);
    check_rejected(dir.file("table.bin"), "truncated");
}

TEST_CASE("weights: an unsupported minitrain version") {
    TempDir dir("weights");
    check_spoiled(dir.file("v.bin"), [](OwnFile& f) { f.version = 2; }, "version 2");
}

TEST_CASE("weights: an unknown architecture") {
    TempDir dir("weights");
    check_spoiled(dir.file("a.bin"), [](OwnFile& f) { f.arch = "llama", layout(f); }, "unknown architecture 'llama'");
}

TEST_CASE("weights: config fields missing, repeated or unexpected") {
    TempDir dir("weights");
    const std::string path = dir.file("c.bin");
    check_spoiled(path, [](OwnFile& f) { f.fields.erase(f.fields.begin() + 4), layout(f); },
                  "missing config field 'NH'");
    check_spoiled(path, [](OwnFile& f) { f.fields.push_back({"dropout", 0}), layout(f); },
                  "unexpected config field 'dropout'");
    check_spoiled(path, [](OwnFile& f) { f.fields.push_back({"L", 2}), layout(f); }, "appears twice");
}

TEST_CASE("weights: absurd config fields") {
    TempDir dir("weights");
    const std::string path = dir.file("c.bin");
    const std::pair<const char*, int64_t> cases[] = {
        {"L", 100000}, {"NH", 3}, {"C", 0}, {"V", -5}, {"max_T", 0}, {"L", int64_t(1) << 40}};
    const char* words[] = {"layers", "divide", "channels", "vocab", "max_T", "out of range"};
    for (int i = 0; i < 6; i++)
        check_spoiled(path, [&](OwnFile& f) { set_field(f, cases[i].first, cases[i].second); }, words[i]);
}

TEST_CASE("weights: config fields that disagree with the tensor shapes") {
    TempDir dir("weights");
    // C 8 is valid on its own, but the tensors were written for C 4.
    check_spoiled(dir.file("c.bin"), [](OwnFile& f) { set_field(f, "C", 8), set_field(f, "NH", 4); },
                  "has shape (16, 4), expected (16, 8)");
}

TEST_CASE("weights: a tensor's data offset past the end of the file") {
    TempDir dir("weights");
    for (uint64_t offset : {uint64_t(1) << 20, uint64_t(1) << 63})
        check_spoiled(dir.file("o.bin"), [&](OwnFile& f) { f.tensors[5].offset = offset; }, "past the end");
}

TEST_CASE("weights: tensor data that is misplaced: unaligned, overlapping, inside the header, trailing") {
    TempDir dir("weights");
    const std::string path = dir.file("p.bin");
    check_spoiled(path, [](OwnFile& f) { f.tensors[4].offset += 4; }, "aligned");
    check_spoiled(path, [](OwnFile& f) { f.tensors[4].offset = f.tensors[3].offset; }, "overlap");
    check_spoiled(path, [](OwnFile& f) { f.tensors[0].offset = 0; }, "overlaps the header");
    check_spoiled(path, [](OwnFile& f) { f.file_bytes += 64; }, "64 trailing bytes");
}

TEST_CASE("weights: a missing, an unexpected and a repeated tensor") {
    TempDir dir("weights");
    const std::string path = dir.file("t.bin");
    REQUIRE(valid_own(small_config()).tensors[21].name == "h.1.ln_2.bias");
    check_spoiled(path, [](OwnFile& f) { f.tensors.erase(f.tensors.begin() + 21), layout(f); },
                  "missing tensor 'h.1.ln_2.bias'");
    check_spoiled(path, [](OwnFile& f) { f.tensors[21].name = "h.2.ln_2.bias", layout(f); },
                  "unexpected tensor 'h.2.ln_2.bias'");
    check_spoiled(path, [](OwnFile& f) { f.tensors.push_back(f.tensors[21]), layout(f); }, "appears twice");
}

TEST_CASE("weights: malformed table entries: dtype, rank, dimensions, length, names, count") {
    TempDir dir("weights");
    const std::string path = dir.file("e.bin");
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].dtype = 1; }, "dtype 1");
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].shape.assign(9, 1), layout(f); }, "9 dimensions");
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].shape = {0}; }, "dimension 0");
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].shape = {-3}; }, "dimension -3");
    // 2^93 elements: the element count must not overflow into something small.
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].shape.assign(3, std::numeric_limits<int32_t>::max()); },
                  "larger than the whole file");
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].bytes += 4; }, "length");
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].name = "h.0.ln 1.weight"; }, "not visible ASCII");
    check_spoiled(path, [](OwnFile& f) { f.tensors[2].name = std::string(300, 'x'), layout(f); }, "has length 300");
    // Four billion tensors announced, none present: the reader runs into the end of the file.
    check_spoiled(path, [](OwnFile& f) { f.tensors.clear(), f.count = 0xFFFFFFFF, f.file_bytes = header_of(f).size(); },
                  "truncated");
}

TEST_CASE("weights: a non-finite value is refused on load") {
    TempDir dir("weights");
    const std::string path = dir.file("nan.bin");
    OwnFile f = valid_own(small_config());
    std::string bytes = own_bytes(f);
    float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(&bytes[f.tensors[7].offset + 8], &nan, 4);
    spit(path, bytes);
    CHECK(read_gpt2_config(path).L == 2);  // the header alone is fine
    HostModel m(small_config());
    check_message(error_of([&] { load_weights(path, *m.gpt); }), path, "non-finite value (nan) at element 2");
}

// ---- the model side -------------------------------------------------------------------------------

TEST_CASE("weights: a model whose config differs from the file's") {
    TempDir dir("weights");
    const std::string path = dir.file("m.bin");
    spit(path, llmc_bytes(small_config()));
    GPT2Config other = small_config();
    other.L = 1;
    HostModel m(other);
    check_message(error_of([&] { load_weights(path, *m.gpt); }), path, "differs from the model's");
}

TEST_CASE("weights: unallocated models and unwritable paths") {
    TempDir dir("weights");
    spit(dir.file("ok.bin"), llmc_bytes(small_config()));
    HostModel bare(small_config(), false);
    check_message(error_of([&] { load_weights(dir.file("ok.bin"), *bare.gpt); }), dir.file("ok.bin"),
                  "not allocated");
    check_message(error_of([&] { save_weights(dir.file("new.bin"), *bare.gpt); }), dir.file("new.bin"),
                  "not allocated");
    HostModel m(small_config());
    const std::string nowhere = dir.file("no/such/dir/model.bin");
    check_message(error_of([&] { save_weights(nowhere, *m.gpt); }), nowhere, "cannot create");
}

// ---- bin/inspect --------------------------------------------------------------------------------------

TEST_CASE("weights: bin/inspect prints a good file and fails on a bad one with one stderr line") {
    if (!std::filesystem::exists("bin/inspect")) {
        SKIP_TEST("skipped: bin/inspect not found (run the tests from the repository root after make)");
        return;
    }
    TempDir dir("weights");
    const std::string good = dir.file("good.bin"), bad = dir.file("bad.bin");
    spit(good, llmc_bytes(small_config()));
    CommandResult run = run_command("bin/inspect '" + good + "'", dir);
    CHECK(run.status == 0);
    CHECK(run.out.find("llm.c v3 (fp32)") != std::string::npos);
    CHECK(run.out.find("h.1.mlp.c_proj.weight") != std::string::npos);
    // 16*4 + 8*4 + 2 * (12*4*4 + 13*4) + 2*4 = 592 parameters.
    CHECK(run.out.find("parameters    592 ") != std::string::npos);
    CHECK(run.err.empty());

    std::string bytes = llmc_bytes(small_config());
    set_slot(bytes, 1, 5);
    spit(bad, bytes);
    run = run_command("bin/inspect '" + bad + "'", dir);
    CHECK(run.status == 1);
    CHECK(run.err == "inspect: " + bad + ": llm.c checkpoint version 5 (bf16) is not supported; use version 3 (fp32)\n");
    CHECK(run.out.empty());
}
