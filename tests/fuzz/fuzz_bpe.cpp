// GPT-2 BPE vocabularies (encoder.json + vocab.bpe) through make_tokenizer,
// then a short text encoded and decoded with the result. The input is both
// files (split_input: a 4-byte length, encoder.json, then vocab.bpe).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "data/tokenizer.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string encoder, merges;
    if (!split_input(data, size, encoder, merges)) return 0;
    write_input("encoder.json", encoder);
    write_input("vocab.bpe", merges);
    std::unique_ptr<Tokenizer> tok;
    if (!accepts([&] { tok = make_tokenizer(scratch_dir()); })) return 0;
    // Words, numbers, punctuation, runs of spaces, contractions and multi-byte characters.
    const std::string text = "Hello world, it's 2024!  Ça va?\n\tnaïve 東京 <|endoftext|>   ";
    // Byte-level BPE is lossless whatever the merges: anything else is a bug.
    if (tok->decode(tok->encode(text)) != text) {
        std::fprintf(stderr, "decode(encode(text)) differs from the text\n");
        std::abort();
    }
    return 0;
}
