// Tokenizers: text (UTF-8 bytes) <-> token ids.
//
// Two kinds behind one interface:
//   ByteTokenizer  vocab 256, id = byte value; needs no files.
//   BpeTokenizer   GPT-2's byte-level BPE, read from encoder.json + vocab.bpe
//                  (or the same formats named vocab.json + merges.txt).
// encode() treats its input as plain text: "<|endoftext|>" inside it is spelled
// out like any other string, never turned into the special token (tiktoken's
// encode_ordinary). Callers that want document separators append eot() themselves.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    virtual std::vector<uint32_t> encode(const std::string& text) const = 0;
    // The raw bytes of one token. For streaming output: a multi-byte UTF-8
    // character may be split across tokens, so print bytes as they come.
    // Throws std::runtime_error if id >= vocab_size().
    virtual std::string decode_token(uint32_t id) const = 0;
    virtual int vocab_size() const = 0;
    virtual int eot() const = 0;  // the end-of-text id, or -1 when the vocabulary has none
    std::string decode(const std::vector<uint32_t>& ids) const;
};

class ByteTokenizer : public Tokenizer {
public:
    std::vector<uint32_t> encode(const std::string& text) const override;
    std::string decode_token(uint32_t id) const override;
    int vocab_size() const override { return 256; }
    int eot() const override { return -1; }
};

class BpeTokenizer : public Tokenizer {
public:
    // Throws std::runtime_error("<path>: <problem>") on a missing or malformed
    // file, a merge naming an unknown token, or a vocabulary without all 256 bytes.
    BpeTokenizer(const std::string& encoder_path, const std::string& merges_path);
    std::vector<uint32_t> encode(const std::string& text) const override;
    std::string decode_token(uint32_t id) const override;
    int vocab_size() const override { return (int)token_bytes_.size(); }
    int eot() const override { return eot_; }

private:
    struct Merge {
        uint32_t rank;    // line order in the merges file: lower merges first
        uint32_t merged;  // id of the token the pair becomes
    };
    void bpe(std::string_view word, std::vector<uint32_t>& out) const;

    std::vector<std::string> token_bytes_;  // id -> raw bytes
    uint32_t byte_token_[256];              // byte value -> id of its one-byte token
    std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
    int eot_ = -1;
};

// spec is "byte", or a directory holding encoder.json + vocab.bpe or
// vocab.json + merges.txt. Throws std::runtime_error naming spec otherwise.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec);
