// safetensors files (see safetensors.h). Tensor data is copied as is, so the
// host must be little-endian.
#include "formats/safetensors.h"


#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/fileio.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tensor data is stored little-endian");

namespace {

// The official library's limit; a larger length means a file that is not safetensors.
constexpr uint64_t kMaxHeaderBytes = 100000000;

// Bytes per element of each dtype the format defines.
const std::map<std::string, uint64_t> kDtypeBytes = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
    {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},    {"U32", 4},     {"F32", 4},
    {"F64", 8},  {"I64", 8}, {"U64", 8}};

std::string range_str(uint64_t begin, uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// IEEE half: sign, 5 exponent bits (bias 15), 10 mantissa bits.
float f16_to_f32(uint16_t h) {
    const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float v;
    if (exponent == 0) v = std::ldexp((float)mantissa, -24);  // zero and subnormals
    else if (exponent == 31) v = mantissa ? std::numeric_limits<float>::quiet_NaN()
                                          : std::numeric_limits<float>::infinity();
    else v = std::ldexp((float)(mantissa | 0x400), exponent - 25);
    return (h & 0x8000) ? -v : v;
}

// bfloat16 is the top half of a float32.
float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}

// One tensor's entry, checked on its own: fields, dtype, shape, and that the
// range holds exactly the shape's bytes and lies inside the data section.
SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& info, uint64_t data_bytes,
                             const std::string& path) {
    const std::string what = "tensor '" + name + "'";
    if (!info.is_object()) fail(path, what + ": the header entry is not a JSON object");
    for (const auto& field : info.items())
        if (field.key() != "dtype" && field.key() != "shape" && field.key() != "data_offsets")
            fail(path, what + ": unexpected field '" + field.key() + "'");
    for (const char* field : {"dtype", "shape", "data_offsets"})
        if (!info.contains(field)) fail(path, what + ": missing field '" + field + "'");

    SafetensorsEntry t;
    t.name = name;
    const nlohmann::json& dtype = info["dtype"];
    if (!dtype.is_string()) fail(path, what + ": dtype is not a string");
    t.dtype = dtype.get<std::string>();
    auto size = kDtypeBytes.find(t.dtype);
    if (size == kDtypeBytes.end()) fail(path, what + " has unknown dtype '" + dtype.dump() + "'");

    const nlohmann::json& shape = info["shape"];
    if (!shape.is_array()) fail(path, what + ": shape is not an array");
    for (const nlohmann::json& d : shape) {
        if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t)std::numeric_limits<int64_t>::max())
            fail(path, what + " has shape entry " + d.dump() + " (expected a non-negative integer)");
        t.shape.push_back(d.get<int64_t>());
    }
    const nlohmann::json& offsets = info["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
        fail(path, what + " has data_offsets " + offsets.dump() + " (expected [begin, end], non-negative integers)");
    t.begin = offsets[0].get<uint64_t>();
    t.end = offsets[1].get<uint64_t>();
    if (t.begin > t.end) fail(path, what + " has data_offsets " + range_str(t.begin, t.end) + " that end before they begin");

    // The bytes the shape needs, saturated at 2^62 (more than any file holds) so the product cannot overflow.
    const uint64_t cap = 1ull << 62, have = t.end - t.begin;
    uint64_t need = std::count(t.shape.begin(), t.shape.end(), 0) ? 0 : size->second;
    for (int64_t d : t.shape)
        if (d != 0) need = need > cap / (uint64_t)d ? cap : need * (uint64_t)d;
    if (need != have)
        fail(path, what + " of dtype " + t.dtype + " and shape " + t.shape_str() + " has data_offsets " +
                       range_str(t.begin, t.end) + " (" + std::to_string(have) + " bytes), but its shape needs " +
                       (need == cap ? "more than any file holds" : std::to_string(need) + " bytes"));
    if (t.end > data_bytes)
        fail(path, what + " has data_offsets " + range_str(t.begin, t.end) + " past the end of the data section (" +
                       std::to_string(data_bytes) + " bytes): the file is truncated or the offsets are wrong");
    return t;
}

}  // namespace

std::string SafetensorsEntry::shape_str() const {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

const SafetensorsEntry* SafetensorsHeader::find(const std::string& name) const {
    auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                               [](const SafetensorsEntry& t, const std::string& n) { return t.name < n; });
    return it != tensors.end() && it->name == name ? &*it : nullptr;
}

SafetensorsHeader parse_safetensors_header(const std::string& json, uint64_t data_bytes, const std::string& path) {
    nlohmann::json root;
    try {
        root = nlohmann::json::parse(json);
    } catch (const nlohmann::json::parse_error& e) {
        fail(path, "the header is not valid JSON (error at byte " + std::to_string(e.byte) + " of " +
                       std::to_string(json.size()) + ")");
    } catch (const nlohmann::json::exception& e) {  // a number beyond a double's range (out_of_range.406)
        fail(path, std::string("the header is not valid JSON (") + e.what() + ")");
    }
    if (!root.is_object()) fail(path, "the header is not a JSON object");

    SafetensorsHeader header;
    // nlohmann's object keeps its keys sorted, so the tensors come out in name order.
    for (const auto& item : root.items()) {
        const std::string& name = item.key();
        for (unsigned char c : name)
            if (c < 0x20 || c == 0x7f) fail(path, "a tensor name holds a control character");
        if (name.empty()) fail(path, "a tensor has an empty name");
        if (name == "__metadata__") {
            if (!item.value().is_object()) fail(path, "__metadata__ is not a JSON object");
            for (const auto& m : item.value().items()) {
                if (!m.value().is_string())
                    fail(path, "__metadata__ field '" + m.key() + "' is not a string");
                header.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        header.tensors.push_back(parse_entry(name, item.value(), data_bytes, path));
    }

    std::vector<const SafetensorsEntry*> by_offset;
    for (const SafetensorsEntry& t : header.tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t covered = 0;
    const SafetensorsEntry* prev = nullptr;
    for (const SafetensorsEntry* t : by_offset) {
        if (t->begin < covered)
            fail(path, "the data of tensors '" + prev->name + "' " + range_str(prev->begin, prev->end) + " and '" +
                           t->name + "' " + range_str(t->begin, t->end) + " overlap");
        if (t->begin > covered)
            fail(path, "bytes " + range_str(covered, t->begin) +
                           " of the data section belong to no tensor (safetensors data must be contiguous)");
        covered = t->end;
        prev = t;
    }
    if (covered != data_bytes)
        fail(path, std::to_string(data_bytes - covered) + " bytes after the last tensor's data (the tensors cover " +
                       std::to_string(covered) + " of " + std::to_string(data_bytes) + " bytes)");
    return header;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), file_(nullptr, &std::fclose) {
    uint64_t size;
    file_ = open_regular(path, &size);
    f_ = file_.get();
    unsigned char len[8];
    if (size < sizeof len)
        fail(path, "file is " + std::to_string(size) + " bytes, too short for a safetensors header");
    if (std::fread(len, 1, sizeof len, f_) != sizeof len) fail(path, "cannot read the header length");
    const uint64_t n = load_le(len, 8);
    if (n > kMaxHeaderBytes)
        fail(path, "header length " + std::to_string(n) + " is over the 100 MB limit (not a safetensors file?)");
    if (n > size - sizeof len)
        fail(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                       std::to_string(size) + " bytes): truncated or not a safetensors file");
    std::string json(n, '\0');
    if (std::fread(&json[0], 1, n, f_) != n) fail(path, "cannot read the header");
    data_start_ = sizeof len + n;
    header_ = parse_safetensors_header(json, size - data_start_, path);
}

std::vector<float> SafetensorsFile::read_f32(const SafetensorsEntry& t) {
    const std::string what = "tensor '" + t.name + "'";
    if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
        fail(path_, what + " has dtype " + t.dtype + ", which cannot be read as floats (F32, F16 and BF16 can)");
    const uint64_t bytes = t.end - t.begin;
    std::vector<unsigned char> raw(bytes);
    if (fseeko(f_, (off_t)(data_start_ + t.begin), SEEK_SET) != 0 || std::fread(raw.data(), 1, bytes, f_) != bytes)
        fail(path_, "cannot read " + what + ": " + (std::ferror(f_) ? std::strerror(errno) : "the file shrank"));
    std::vector<float> out(bytes / kDtypeBytes.at(t.dtype));
    if (t.dtype == "F32") {
        std::memcpy(out.data(), raw.data(), bytes);
    } else {
        float (*widen)(uint16_t) = t.dtype == "F16" ? f16_to_f32 : bf16_to_f32;
        for (size_t i = 0; i < out.size(); i++) out[i] = widen((uint16_t)load_le(&raw[2 * i], 2));
    }
    return out;
}

void write_safetensors(const std::string& path, const std::vector<F32Tensor>& tensors) {
    std::vector<const F32Tensor*> sorted;
    for (const F32Tensor& t : tensors) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(), [](const F32Tensor* a, const F32Tensor* b) { return a->name < b->name; });

    // ordered_json keeps insertion order, which is the official layout's.
    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}};
    uint64_t at = 0;
    for (const F32Tensor* t : sorted) {
        if (t->name.empty() || t->name == "__metadata__" || header.contains(t->name))
            fail(path, "cannot write a tensor named '" + t->name + "' (empty, reserved or repeated)");
        uint64_t numel = 1;
        for (int64_t d : t->shape) numel *= (uint64_t)d;
        if (numel != t->data.size())
            fail(path, "tensor '" + t->name + "' holds " + std::to_string(t->data.size()) +
                           " elements, but its shape needs " + std::to_string(numel));
        nlohmann::ordered_json info;
        info["dtype"] = "F32";
        info["shape"] = t->shape;
        info["data_offsets"] = {at, at + sizeof(float) * numel};
        header[t->name] = info;
        at += sizeof(float) * numel;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');

    write_atomically(path, [&](FILE* f) {
        unsigned char len[8];
        store_le(len, text.size(), 8);
        std::fwrite(len, 1, sizeof len, f);
        std::fwrite(text.data(), 1, text.size(), f);
        for (const F32Tensor* t : sorted) std::fwrite(t->data.data(), sizeof(float), t->data.size(), f);
    });
}
