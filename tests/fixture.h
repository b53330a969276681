// Reads the fixtures that tools/reference/*.py write (tools/reference/fixture.py):
//
//   "MTFX", uint32 version 1, uint32 count, then per entry: uint32 name length,
//   name bytes, uint32 dtype (0 float32, 1 int32, 2 uint8 text), uint32 ndim,
//   uint32 dims[ndim], raw little-endian data. A scalar has ndim 0.
//
// Every length is checked against the bytes that remain, so a truncated or
// corrupt file throws std::runtime_error("fixture <file>: <problem>") instead
// of reading past the end.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

struct FixtureTensor {
    uint32_t dtype = 0;
    std::vector<int> dims;
    std::vector<float> f;    // dtype 0
    std::vector<int32_t> i;  // dtype 1
    std::string text;        // dtype 2
    size_t numel() const {
        size_t n = 1;
        for (int d : dims) n *= (size_t)d;
        return n;
    }
};

class Fixture {
  public:
    // Reads the file at path (relative paths are from the repository root, where the tests run).
    explicit Fixture(const std::string& path) : label(path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) fail("cannot open (run the tests from the repository root)");
        parse(std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {}));
    }
    // Parses bytes already in memory; label names them in errors.
    Fixture(const std::vector<unsigned char>& bytes, const std::string& label) : label(label) {
        parse(bytes);
    }

    bool has(const std::string& name) const { return entries.count(name) != 0; }
    const FixtureTensor& at(const std::string& name) const {
        auto it = entries.find(name);
        if (it == entries.end()) fail("no entry named " + name);
        return it->second;
    }
    // The float32 (int32) entry `name`, which must hold exactly n elements.
    const std::vector<float>& floats(const std::string& name, size_t n) const {
        return checked(name, 0, n).f;
    }
    const std::vector<int32_t>& ints(const std::string& name, size_t n) const {
        return checked(name, 1, n).i;
    }
    float scalar(const std::string& name) const { return floats(name, 1)[0]; }
    int int_scalar(const std::string& name) const { return ints(name, 1)[0]; }
    // A uint64 stored as int32 words (low, high).
    uint64_t u64(const std::string& name) const {
        const std::vector<int32_t>& w = ints(name, 2);
        return (uint64_t)(uint32_t)w[0] | (uint64_t)(uint32_t)w[1] << 32;
    }
    const std::string& text(const std::string& name) const { return checked(name, 2, SIZE_MAX).text; }

  private:
    std::string label;
    std::map<std::string, FixtureTensor> entries;

    [[noreturn]] void fail(const std::string& problem) const {
        throw std::runtime_error("fixture " + label + ": " + problem);
    }

    const FixtureTensor& checked(const std::string& name, uint32_t dtype, size_t n) const {
        static const char* kinds[] = {"float32", "int32", "text"};
        const FixtureTensor& t = at(name);
        if (t.dtype != dtype)
            fail("entry " + name + " is " + kinds[t.dtype] + ", expected " + kinds[dtype]);
        if (n != SIZE_MAX && t.numel() != n)
            fail("entry " + name + " has " + std::to_string(t.numel()) + " elements, expected " +
                 std::to_string(n));
        return t;
    }

    void parse(const std::vector<unsigned char>& bytes) {
        size_t pos = 0;
        auto need = [&](size_t n, const char* what) {
            if (n > bytes.size() - pos)
                fail(std::string("truncated: ") + what + " at byte " + std::to_string(pos) + " needs " +
                     std::to_string(n) + " bytes, " + std::to_string(bytes.size() - pos) + " left");
        };
        auto u32 = [&](const char* what) {
            need(4, what);
            const unsigned char* b = &bytes[pos];
            pos += 4;
            return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        };
        need(4, "magic");
        if (std::memcmp(bytes.data(), "MTFX", 4) != 0) fail("bad magic (expected MTFX)");
        pos = 4;
        uint32_t version = u32("version");
        if (version != 1) fail("version " + std::to_string(version) + ", expected 1");
        uint32_t count = u32("entry count");
        for (uint32_t e = 0; e < count; e++) {
            uint32_t name_len = u32("name length");
            need(name_len, "name");
            std::string name(bytes.begin() + pos, bytes.begin() + pos + name_len);
            pos += name_len;
            if (name.empty() || has(name)) fail("entry " + std::to_string(e) + ": empty or repeated name '" + name + "'");
            FixtureTensor t;
            t.dtype = u32("dtype");
            if (t.dtype > 2) fail("entry " + name + ": unknown dtype " + std::to_string(t.dtype));
            uint32_t ndim = u32("ndim");
            if (ndim > 8) fail("entry " + name + ": " + std::to_string(ndim) + " dimensions (at most 8)");
            size_t elem = t.dtype == 2 ? 1 : 4, numel = 1;
            for (uint32_t d = 0; d < ndim; d++) {
                uint32_t dim = u32("dims");
                // Bounding numel by the bytes left keeps the product from overflowing.
                if (dim != 0 && numel > (bytes.size() - pos) / elem / dim)
                    fail("entry " + name + ": data larger than the file");
                numel *= dim;
                t.dims.push_back((int)dim);
            }
            need(numel * elem, "data");
            const unsigned char* data = &bytes[pos];
            if (t.dtype == 2) {
                t.text.assign((const char*)data, numel);
            } else {
                std::vector<uint32_t> words(numel);
                for (size_t k = 0; k < numel; k++) {
                    const unsigned char* b = data + 4 * k;
                    words[k] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                               (uint32_t)b[3] << 24;
                }
                if (t.dtype == 0) {
                    t.f.resize(numel);
                    std::memcpy(t.f.data(), words.data(), numel * 4);
                } else {
                    t.i.resize(numel);
                    std::memcpy(t.i.data(), words.data(), numel * 4);
                }
            }
            pos += numel * elem;
            entries.emplace(name, std::move(t));
        }
        if (pos != bytes.size())
            fail(std::to_string(bytes.size() - pos) + " bytes after the last entry");
    }
};
