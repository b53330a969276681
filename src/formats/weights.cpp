// Weight files (see weights.h). Integers are decoded byte by byte as
// little-endian; tensor data is copied as is, so the host must be little-endian.
#include "formats/weights.h"

#include "core/fileio.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <sstream>
#include <filesystem>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tensor data is stored little-endian");

namespace {

constexpr char kMagic[8] = {'M', 'I', 'N', 'I', 'T', 'R', 'N', '\0'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kDtypeF32 = 0;
constexpr uint64_t kAlign = 64;
constexpr uint32_t kMaxString = 255, kMaxFields = 64, kMaxDims = 8;
constexpr int32_t kLlmcMagic = 20240326, kLlmcVersionF32 = 3, kLlmcVersionBF16 = 5;
constexpr uint64_t kLlmcHeaderBytes = 1024;
const char* const kLlmcFields[] = {"max_T", "V", "Vp", "L", "NH", "C"};
const char* const kAdapterField = "adapter";

std::string config_str(const ConfigFields& fields) {
    std::string s;
    for (const auto& f : fields) s += (s.empty() ? "" : ", ") + f.first + " " + std::to_string(f.second);
    return s;
}

void put_le(std::vector<unsigned char>& out, uint64_t v, int width) {
    for (int k = 0; k < width; k++) out.push_back((unsigned char)(v >> (8 * k)));
}

void put_str(std::vector<unsigned char>& out, const std::string& s) {
    put_le(out, s.size(), 4);
    out.insert(out.end(), s.begin(), s.end());
}

// Reads a file front to back. Every read is checked against the length the
// file had when opened, so a header that lies about a size fails here instead
// of allocating or reading past the end.
class Reader {
  public:
    explicit Reader(const std::string& path) : path_(path), file_(open_regular(path, &size_)), f_(file_.get()) {}

    const std::string& path() const { return path_; }
    uint64_t size() const { return size_; }
    uint64_t pos() const { return pos_; }

    void read(void* dst, uint64_t n, const std::string& what) {
        if (n > size_ - pos_)
            fail(path_, "truncated: " + what + " at byte " + std::to_string(pos_) + " needs " +
                            std::to_string(n) + " bytes but the file has " + std::to_string(size_));
        if (std::fread(dst, 1, n, f_) != n)
            fail(path_, "cannot read " + what + ": " +
                            (std::ferror(f_) ? std::strerror(errno) : "the file shrank while being read"));
        pos_ += n;
    }
    void seek(uint64_t at) {
        if (fseeko(f_, (off_t)at, SEEK_SET) != 0) fail(path_, std::string("cannot seek: ") + std::strerror(errno));
        pos_ = at;
    }
    uint64_t le(int width, const std::string& what) {
        unsigned char b[8];
        read(b, width, what);
        return load_le(b, width);
    }
    // A length-prefixed name of visible ASCII: names end up in one-line messages.
    std::string str(const std::string& what) {
        uint64_t n = le(4, what + " length");
        if (n == 0 || n > kMaxString)
            fail(path_, what + " at byte " + std::to_string(pos_ - 4) + " has length " + std::to_string(n) +
                            " (expected 1.." + std::to_string(kMaxString) + ")");
        std::string s(n, '\0');
        read(&s[0], n, what);
        for (char c : s)
            if (c < '!' || c > '~')
                fail(path_, what + " at byte " + std::to_string(pos_ - n) + " has a byte that is not visible ASCII");
        return s;
    }

  private:
    std::string path_;
    uint64_t size_ = 0;  // before file_: open_regular sets it during file_'s construction
    FilePtr file_;
    FILE* f_;
    uint64_t pos_ = 0;
};

// The parameter table the file's architecture and config imply.
TensorTable param_table_for(const WeightFile& wf, const std::string& path) {
    if (wf.arch == "gpt2") return gpt2_param_table(gpt2_config_from_fields(wf.config, path));
    if (wf.arch == "bert") return bert_param_table(bert_config_from_fields(wf.config, path));
    fail(path, "unknown architecture '" + wf.arch + "' (this build knows gpt2 and bert)");
}

std::vector<StoredTensor> stored_of(const TensorTable& table) {
    std::vector<StoredTensor> out;
    for (const TensorInfo& t : table.tensors)
        out.push_back({t.name, std::vector<int64_t>(t.shape.begin(), t.shape.end()), 0, 0});
    return out;
}

// GPT-2's parameters in llm.c's file order and at llm.c's offsets: 16 tensors
// back to back from byte 1024, the per-layer ones stacked over the layers, so
// layer l of a stacked tensor is one contiguous slice. The model's table lists
// each block's tensors in llm.c's order, so stacking is a transpose of it.
std::vector<StoredTensor> gpt2_llmc_layout(const GPT2Config& c) {
    const TensorTable table = gpt2_param_table(c);
    const std::vector<TensorInfo>& ts = table.tensors;
    // The table is wte, wpe, then each block's tensors, then ln_f.weight, ln_f.bias.
    const size_t per_layer = (ts.size() - 4) / c.L;
    std::vector<const TensorInfo*> order = {&ts[0], &ts[1]};
    for (size_t k = 0; k < per_layer; k++)
        for (int l = 0; l < c.L; l++) order.push_back(&ts[2 + l * per_layer + k]);
    order.push_back(&ts[ts.size() - 2]);
    order.push_back(&ts[ts.size() - 1]);
    std::vector<StoredTensor> out;
    uint64_t offset = kLlmcHeaderBytes;
    for (const TensorInfo* t : order) {
        uint64_t bytes = sizeof(float) * t->numel();
        out.push_back({t->name, std::vector<int64_t>(t->shape.begin(), t->shape.end()), offset, bytes});
        offset += bytes;
    }
    return out;
}

// Same names, each once, with the same shapes; order and offsets are free.
// An adapter holds some of the expected tensors, at least one.
void check_tensors(const std::string& path, const std::vector<StoredTensor>& found,
                   const std::vector<StoredTensor>& expected, bool adapter) {
    std::map<std::string, const StoredTensor*> want;
    for (const StoredTensor& e : expected) want[e.name] = &e;
    std::set<std::string> seen;
    for (const StoredTensor& t : found) {
        auto it = want.find(t.name);
        if (it == want.end()) fail(path, "unexpected tensor '" + t.name + "'");
        if (!seen.insert(t.name).second) fail(path, "tensor '" + t.name + "' appears twice");
        if (t.shape != it->second->shape)
            fail(path, "tensor '" + t.name + "' has shape " + t.shape_str() + ", expected " +
                           it->second->shape_str());
    }
    if (adapter) {
        if (found.empty()) fail(path, "an adapter file without tensors");
        return;
    }
    for (const StoredTensor& e : expected)
        if (!seen.count(e.name)) fail(path, "missing tensor '" + e.name + "'");
}

WeightFile read_llmc_header(Reader& in, const unsigned char (&first8)[8]) {
    unsigned char bytes[kLlmcHeaderBytes];
    std::memcpy(bytes, first8, 8);
    in.read(bytes + 8, kLlmcHeaderBytes - 8, "llm.c header");
    auto slot = [&](int i) { return (int32_t)load_le(bytes + 4 * i, 4); };
    int32_t version = slot(1);
    if (version == kLlmcVersionBF16)
        fail(in.path(), "llm.c checkpoint version 5 (bf16) is not supported; use version 3 (fp32)");
    if (version != kLlmcVersionF32)
        fail(in.path(), "llm.c checkpoint version " + std::to_string(version) +
                            " is not supported; use version 3 (fp32)");
    WeightFile wf;
    wf.format = "llm.c v3 (fp32)";
    wf.arch = "gpt2";
    wf.file_bytes = in.size();
    const int slot_of_field[] = {2, 3, 7, 4, 5, 6};  // max_T, V, Vp, L, NH, C
    for (int i = 0; i < 6; i++) wf.config.emplace_back(kLlmcFields[i], slot(slot_of_field[i]));
    GPT2Config cfg = gpt2_config_from_fields(wf.config, in.path());
    wf.tensors = gpt2_llmc_layout(cfg);
    uint64_t needed = wf.tensors.back().offset + wf.tensors.back().bytes;
    if (needed != in.size())
        fail(in.path(), "file is " + std::to_string(in.size()) + " bytes but its header (" + config_str(wf.config) +
                            ") needs " + std::to_string(needed) +
                            ": truncated, or the header does not match the data");
    return wf;
}

WeightFile read_minitrain_header(Reader& in) {
    const std::string& path = in.path();
    WeightFile wf;
    wf.file_bytes = in.size();
    uint64_t version = in.le(4, "version");
    if (version != kVersion)
        fail(path, "unsupported minitrain format version " + std::to_string(version) + " (this build reads " +
                       std::to_string(kVersion) + ")");
    wf.format = "minitrain v" + std::to_string(kVersion);
    wf.arch = in.str("architecture");
    if (wf.arch != "gpt2" && wf.arch != "bert")
        fail(path, "unknown architecture '" + wf.arch + "' (this build knows gpt2 and bert)");

    uint64_t nfields = in.le(4, "config field count");
    if (nfields > kMaxFields)
        fail(path, std::to_string(nfields) + " config fields (at most " + std::to_string(kMaxFields) + ")");
    for (uint64_t i = 0; i < nfields; i++) {
        std::string name = in.str("config field name");
        int64_t value = (int64_t)in.le(8, "config field '" + name + "'");
        for (const auto& f : wf.config)
            if (f.first == name) fail(path, "config field '" + name + "' appears twice");
        wf.config.emplace_back(name, value);
    }
    // The adapter mark is not part of the model's config: take it out.
    auto mark =
        std::find_if(wf.config.begin(), wf.config.end(), [](const auto& f) { return f.first == kAdapterField; });
    if (mark != wf.config.end()) {
        if (mark->second != 1)
            fail(path, std::string("config field '") + kAdapterField + "' = " + std::to_string(mark->second) +
                           " (an adapter file has 1)");
        wf.config.erase(mark);
        wf.adapter = true;
        wf.format += " adapter";
    }

    // Each entry takes at least 37 bytes, so a huge count runs into the end of the file long before memory.
    uint64_t ntensors = in.le(4, "tensor count");
    for (uint64_t i = 0; i < ntensors; i++) {
        StoredTensor t;
        t.name = in.str("tensor name");
        const std::string what = "tensor '" + t.name + "'";
        uint64_t dtype = in.le(4, what + " dtype");
        if (dtype != kDtypeF32)
            fail(path, what + " has dtype " + std::to_string(dtype) + " (only 0 = fp32 is supported)");
        uint64_t ndim = in.le(4, what + " rank");
        if (ndim < 1 || ndim > kMaxDims)
            fail(path, what + " has " + std::to_string(ndim) + " dimensions (expected 1.." +
                           std::to_string(kMaxDims) + ")");
        // The element count saturates just past what the file could hold, so it cannot overflow.
        const uint64_t max_elems = in.size() / sizeof(float);
        uint64_t numel = 1;
        for (uint64_t d = 0; d < ndim; d++) {
            int64_t dim = (int64_t)in.le(8, what + " dimension");
            if (dim < 1 || dim > std::numeric_limits<int>::max())
                fail(path, what + " has dimension " + std::to_string(dim) + " (expected 1..2^31-1)");
            t.shape.push_back(dim);
            numel = numel > max_elems / (uint64_t)dim ? max_elems + 1 : numel * (uint64_t)dim;
        }
        t.offset = in.le(8, what + " offset");
        t.bytes = in.le(8, what + " length");
        if (numel > max_elems)
            fail(path, what + " of shape " + t.shape_str() + " is larger than the whole file (" +
                           std::to_string(in.size()) + " bytes)");
        if (t.bytes != numel * sizeof(float))
            fail(path, what + " of shape " + t.shape_str() + " has length " + std::to_string(t.bytes) +
                           " bytes, expected " + std::to_string(numel * sizeof(float)));
        wf.tensors.push_back(t);
    }

    const uint64_t table_end = in.pos();
    std::vector<const StoredTensor*> by_offset;
    for (const StoredTensor& t : wf.tensors) {
        const std::string what = "tensor '" + t.name + "'";
        if (t.offset % kAlign != 0)
            fail(path, what + " data offset " + std::to_string(t.offset) + " is not 64-byte aligned");
        if (t.offset < table_end)
            fail(path, what + " data at byte " + std::to_string(t.offset) + " overlaps the header, which ends at byte " +
                           std::to_string(table_end));
        if (t.offset > in.size() || t.bytes > in.size() - t.offset)
            fail(path, what + " data at byte " + std::to_string(t.offset) + " (" + std::to_string(t.bytes) +
                           " bytes) runs past the end of the file (" + std::to_string(in.size()) +
                           " bytes): truncated or a bad offset");
        by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const StoredTensor* a, const StoredTensor* b) { return a->offset < b->offset; });
    uint64_t data_end = table_end;
    for (size_t i = 0; i < by_offset.size(); i++) {
        if (i > 0 && by_offset[i]->offset < by_offset[i - 1]->offset + by_offset[i - 1]->bytes)
            fail(path, "the data of tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                           "' overlap");
        data_end = by_offset[i]->offset + by_offset[i]->bytes;
    }
    if (data_end != in.size())
        fail(path, std::to_string(in.size() - data_end) + " trailing bytes after the last tensor's data");
    return wf;
}

// Reads the magic and the header of either format, leaving the reader after it.
WeightFile read_header(Reader& in) {
    if (in.size() < sizeof kMagic)
        fail(in.path(), "file is " + std::to_string(in.size()) + " bytes, too short for a weight file header");
    unsigned char magic[sizeof kMagic];
    in.read(magic, sizeof magic, "magic");
    if ((int32_t)load_le(magic, 4) == kLlmcMagic) return read_llmc_header(in, magic);
    if (std::memcmp(magic, kMagic, sizeof kMagic) != 0)
        fail(in.path(), "bad magic: not a minitrain or llm.c weight file");
    WeightFile wf = read_minitrain_header(in);
    check_tensors(in.path(), wf.tensors, stored_of(param_table_for(wf, in.path())), wf.adapter);
    return wf;
}


}  // namespace

std::string StoredTensor::shape_str() const {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

WeightFile read_weight_file(const std::string& path) {
    Reader in(path);
    return read_header(in);
}

GPT2Config read_gpt2_config(const std::string& path) {
    WeightFile wf = read_weight_file(path);
    if (wf.arch != "gpt2") fail(path, "holds a " + wf.arch + " model, not gpt2");
    return gpt2_config_from_fields(wf.config, path);
}

BertConfig read_bert_config(const std::string& path) {
    WeightFile wf = read_weight_file(path);
    if (wf.arch != "bert") fail(path, "holds a " + wf.arch + " model, not bert");
    return bert_config_from_fields(wf.config, path);
}

LoadReport load_weights(const std::string& path, Model& model, bool partial) {
    Reader in(path);
    WeightFile wf = read_header(in);
    if (wf.arch != model.arch()) fail(path, "holds a " + wf.arch + " model; expected " + model.arch());
    if (wf.adapter) partial = false;
    // A partial load may change the head (a pretrained body under a new head),
    // never the body: every other field must agree.
    // Adapters (lora_*, prompt_*) are added on top of a body the same way.
    auto head_field = [&](const std::string& name) {
        return name == "lora_dropout_milli" ||  // how it trained, not what it is
               (partial && (name == "head" || name == "num_labels" || name.rfind("lora_", 0) == 0 ||
                            name.rfind("prompt_", 0) == 0));
    };
    std::map<std::string, int64_t> file_fields, model_fields;
    for (const auto& f : wf.config)
        if (!head_field(f.first)) file_fields.insert(f);
    for (const auto& f : model.config_fields())
        if (!head_field(f.first)) model_fields.insert(f);
    if (file_fields != model_fields)
        fail(path, std::string(wf.adapter ? "an adapter made for another model: its" : "the file's") + " config (" +
                       config_str(wf.config) + ") differs from the model's (" + config_str(model.config_fields()) +
                       ")");
    if (!model.arena.param_mem) fail(path, "cannot load into a model that is not allocated");

    std::map<std::string, const StoredTensor*> stored;
    for (const StoredTensor& s : wf.tensors) stored[s.name] = &s;
    LoadReport report;
    size_t largest = 0;
    for (const TensorInfo& t : model.arena.params.tensors) {
        auto it = stored.find(t.name);
        if (it == stored.end()) {
            if (wf.adapter) continue;
            if (!partial) fail(path, "missing tensor '" + t.name + "'");
            report.missing.push_back(t.name);
            continue;
        }
        if (it->second->shape != std::vector<int64_t>(t.shape.begin(), t.shape.end()))
            fail(path, "tensor '" + t.name + "' has shape " + it->second->shape_str() + ", the model's is " +
                           t.shape_str());
        largest = std::max(largest, t.numel());
    }
    for (const StoredTensor& s : wf.tensors)
        if (!model.arena.params.find(s.name)) {
            if (!partial) fail(path, "unexpected tensor '" + s.name + "'");
            report.unused.push_back(s.name);
        }

    // Through a bounded host buffer: a model's largest tensor is not copied whole.
    constexpr size_t kChunk = (size_t)1 << 20;
    std::vector<float> host(std::min(largest, kChunk));
    for (const TensorInfo& t : model.arena.params.tensors) {
        auto it = stored.find(t.name);
        if (it == stored.end()) continue;
        in.seek(it->second->offset);
        for (size_t first = 0; first < t.numel(); first += kChunk) {
            const size_t count = std::min(kChunk, t.numel() - first);
            in.read(host.data(), count * sizeof(float), "tensor '" + t.name + "'");
            for (size_t i = 0; i < count; i++)
                if (!std::isfinite(host[i]))
                    fail(path, "tensor '" + t.name + "' holds a non-finite value (" + std::to_string(host[i]) +
                                   ") at element " + std::to_string(first + i));
            model.arena.be.upload(model.arena.param_mem + t.offset + first, host.data(), count * sizeof(float));
        }
    }
    return report;
}

// Writes the given tensors of the model (all of them, or an adapter's) with
// the model's config, plus the adapter mark for an adapter.
static void write_weights(const std::string& path, const Model& model, const std::vector<const TensorInfo*>& params,
                          bool adapter) {
    const Arena& arena = model.arena;
    if (!arena.param_mem) fail(path, "cannot save a model that is not allocated");
    std::vector<unsigned char> head(kMagic, kMagic + sizeof kMagic);
    put_le(head, kVersion, 4);
    put_str(head, model.arch());
    ConfigFields fields = model.config_fields();
    if (adapter) fields.push_back({kAdapterField, 1});
    put_le(head, fields.size(), 4);
    for (const auto& f : fields) {
        put_str(head, f.first);
        put_le(head, (uint64_t)f.second, 8);
    }
    // Offsets depend on the header's length, so their slots are filled in once it is known.
    std::vector<size_t> offset_slots;
    put_le(head, params.size(), 4);
    for (const TensorInfo* t : params) {
        put_str(head, t->name);
        put_le(head, kDtypeF32, 4);
        put_le(head, t->shape.size(), 4);
        for (int d : t->shape) put_le(head, (uint64_t)d, 8);
        offset_slots.push_back(head.size());
        put_le(head, 0, 8);
        put_le(head, t->numel() * sizeof(float), 8);
    }
    auto align = [](uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; };
    std::vector<uint64_t> offsets;
    uint64_t at = align(head.size());
    for (size_t i = 0; i < params.size(); i++) {
        offsets.push_back(at);
        for (int k = 0; k < 8; k++) head[offset_slots[i] + k] = (unsigned char)(at >> (8 * k));
        at = align(at + params[i]->numel() * sizeof(float));
    }

    write_atomically(path, [&](FILE* f) {
        const unsigned char zeros[kAlign] = {};
        std::fwrite(head.data(), 1, head.size(), f);
        uint64_t written = head.size();
        for (size_t i = 0; i < params.size(); i++) {
            std::fwrite(zeros, 1, offsets[i] - written, f);
            write_device_floats(f, arena.be, arena.param_mem + params[i]->offset, params[i]->numel(), path);
            written = offsets[i] + params[i]->numel() * sizeof(float);
        }
    });
}

void save_weights(const std::string& path, const Model& model) {
    std::vector<const TensorInfo*> params;
    for (const TensorInfo& t : model.arena.params.tensors) params.push_back(&t);
    write_weights(path, model, params, false);
}

void save_adapter(const std::string& path, const Model& model) {
    std::vector<const TensorInfo*> trainable;
    for (const TensorInfo& t : model.arena.params.tensors)
        if (t.trainable) trainable.push_back(&t);
    if (trainable.empty()) fail(path, "the model has no trainable tensors to save as an adapter");
    if (trainable.size() == model.arena.params.tensors.size())
        fail(path, "every tensor of the model is trainable, so an adapter would hold them all: save the full weights");
    write_weights(path, model, trainable, true);
}

std::vector<std::string> read_label_names(const std::string& weights_path, int num_labels) {
    const std::string path = (std::filesystem::path(weights_path).parent_path() / "labels.txt").string();
    std::vector<std::string> names;
    if (!std::filesystem::exists(path)) return names;
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line);) names.push_back(line);
    if ((int)names.size() != num_labels)
        throw std::runtime_error(path + ": " + std::to_string(names.size()) + " names for a model with " +
                                 std::to_string(num_labels) + " classes");
    return names;
}
