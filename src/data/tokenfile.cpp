// Token files (see tokenfile.h). Bytes are decoded explicitly as little-endian
// so a file means the same thing on any host.
#include "data/tokenfile.h"

#include "core/fileio.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

namespace {

constexpr int kHeaderInts = 256;
constexpr long long kHeaderBytes = kHeaderInts * 4;
constexpr int32_t kMagicU16 = 20240520, kVersionU16 = 1;
constexpr int32_t kMagicU32 = 20240801, kVersionU32 = 7;

}  // namespace

std::vector<uint32_t> read_token_file(const std::string& path) {
    uint64_t size;
    FilePtr file = open_regular(path, &size);
    FILE* f = file.get();
    long long file_bytes = (long long)size;
    if (file_bytes < kHeaderBytes)
        fail(path, "file is " + std::to_string(file_bytes) + " bytes, shorter than the " +
                       std::to_string(kHeaderBytes) + "-byte header");

    unsigned char header[kHeaderBytes];
    if (std::fread(header, 1, sizeof header, f) != sizeof header) fail(path, "cannot read header");
    int32_t magic = (int32_t)load_le(header, 4);
    int32_t version = (int32_t)load_le(header + 4, 4);
    int32_t ntok = (int32_t)load_le(header + 8, 4);

    int width;
    if (magic == kMagicU16) {
        if (version != kVersionU16)
            fail(path, "unsupported version " + std::to_string(version) + " for magic " +
                           std::to_string(magic) + " (expected " + std::to_string(kVersionU16) + ")");
        width = 2;
    } else if (magic == kMagicU32) {
        if (version != kVersionU32)
            fail(path, "unsupported version " + std::to_string(version) + " for magic " +
                           std::to_string(magic) + " (expected " + std::to_string(kVersionU32) + ")");
        width = 4;
    } else {
        fail(path, "bad magic " + std::to_string(magic) + " (expected " + std::to_string(kMagicU16) +
                       " or " + std::to_string(kMagicU32) + "): not a token file");
    }
    if (ntok < 0) fail(path, "negative token count " + std::to_string(ntok) + " in header");
    long long expected = kHeaderBytes + (long long)ntok * width;
    if (file_bytes != expected)
        fail(path, "file is " + std::to_string(file_bytes) + " bytes but the header's " +
                       std::to_string(ntok) + " tokens of " + std::to_string(width) +
                       " bytes need " + std::to_string(expected));

    std::vector<unsigned char> body((size_t)ntok * width);
    if (std::fread(body.data(), 1, body.size(), f) != body.size()) fail(path, "cannot read tokens");
    std::vector<uint32_t> tokens((size_t)ntok);
    for (size_t i = 0; i < tokens.size(); i++) tokens[i] = load_le(&body[i * width], width);
    return tokens;
}

void write_token_file(const std::string& path, const std::vector<uint32_t>& tokens, int vocab_size) {
    if (vocab_size <= 0) fail(path, "vocab size " + std::to_string(vocab_size) + " must be positive");
    if (tokens.size() > (size_t)std::numeric_limits<int32_t>::max())
        fail(path, std::to_string(tokens.size()) + " tokens do not fit the header's int32 count");
    for (size_t i = 0; i < tokens.size(); i++)
        if (tokens[i] >= (uint32_t)vocab_size)
            fail(path, "token " + std::to_string(tokens[i]) + " at offset " + std::to_string(i) +
                           " is out of range for vocab " + std::to_string(vocab_size));

    bool wide = vocab_size > 65536;
    int width = wide ? 4 : 2;
    std::vector<unsigned char> bytes(kHeaderBytes + tokens.size() * width, 0);
    store_le(&bytes[0], (uint32_t)(wide ? kMagicU32 : kMagicU16), 4);
    store_le(&bytes[4], (uint32_t)(wide ? kVersionU32 : kVersionU16), 4);
    store_le(&bytes[8], (uint32_t)tokens.size(), 4);
    for (size_t i = 0; i < tokens.size(); i++) store_le(&bytes[kHeaderBytes + i * width], tokens[i], width);

    write_atomically(path, [&](FILE* f) {
        if (std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
            fail(path, std::string("cannot write: ") + std::strerror(errno));
    });
}
