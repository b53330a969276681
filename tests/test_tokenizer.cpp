// Tokenizers: GPT-2 BPE against tiktoken's ids (tests/fixtures/bpe_cases.json,
// made by tools/reference/make_bpe_fixture.py), merge order on a hand-made
// vocabulary, round trips, and the errors for bad files. Ids are compared
// exactly: tokenisation has no tolerance.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support.h"
#include "data/tokenizer.h"

namespace fs = std::filesystem;

static const char* kFixture = "tests/fixtures/bpe_cases.json";

TEST_CASE("bpe: GPT-2 ids equal tiktoken's on the fixture texts, and decode restores them") {
    fs::path data = data_dir("tokenizers/gpt2");
    if (data.empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    auto tok = make_tokenizer((data / "tokenizers" / "gpt2").string());
    CHECK(tok->vocab_size() == 50257);
    CHECK(tok->eot() == 50256);
    CHECK(tok->decode_token(50256) == "<|endoftext|>");
    CHECK_THROWS_AS(tok->decode_token(50257), std::runtime_error);
    nlohmann::json fixture = nlohmann::json::parse(slurp(kFixture));
    REQUIRE(fixture["cases"].size() > 30);
    for (const auto& c : fixture["cases"]) {
        std::string text = c["text"];
        std::vector<uint32_t> want = c["ids"];
        INFO("case " << c["name"].get<std::string>());
        CHECK(tok->encode(text) == want);
        CHECK(tok->decode(want) == text);
    }
}

// 64-bit FNV-1a over the ids as 4 little-endian bytes each, as the fixture script hashes them.
static uint64_t fnv1a64(const std::vector<uint32_t>& ids) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (uint32_t id : ids)
        for (int k = 0; k < 4; k++) h = (h ^ ((id >> (8 * k)) & 0xFF)) * 0x100000001B3ull;
    return h;
}

TEST_CASE("bpe: whole corpora encode to tiktoken's ids and decode back") {
    fs::path data = data_dir("tokenizers/gpt2");
    if (data.empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    auto tok = make_tokenizer((data / "tokenizers" / "gpt2").string());
    nlohmann::json fixture = nlohmann::json::parse(slurp(kFixture));
    REQUIRE(fixture["corpora"].size() == 3);
    for (const auto& c : fixture["corpora"]) {
        std::string file = c["file"];
        INFO("corpus " << file);
        std::string text = slurp(data / file);
        std::vector<uint32_t> ids = tok->encode(text);
        CHECK(ids.size() == c["ntokens"].get<size_t>());
        CHECK(std::stoull(c["fnv1a64"].get<std::string>(), nullptr, 16) == fnv1a64(ids));
        CHECK(tok->decode(ids) == text);
    }
}

TEST_CASE("byte tokenizer: id = byte value, and back") {
    auto tok = make_tokenizer("byte");
    CHECK(tok->vocab_size() == 256);
    CHECK(tok->eot() == -1);
    std::string text;
    std::vector<uint32_t> want;
    for (uint32_t b = 0; b < 256; b++) {
        text += (char)b;
        want.push_back(b);
    }
    text += "naïve";
    for (uint32_t b : {0x6E, 0x61, 0xC3, 0xAF, 0x76, 0x65}) want.push_back(b);  // n a ï v e
    CHECK(tok->encode(text) == want);
    CHECK(tok->decode(want) == text);
    CHECK_THROWS_AS(tok->decode_token(256), std::runtime_error);
}

// GPT-2's spelling of a byte in the vocabulary files: printable bytes as
// themselves, the other 68 as U+0100 onward in byte order; UTF-8 encoded.
static std::string byte_spelling(int b) {
    auto printable = [](int v) { return (v >= 33 && v <= 126) || (v >= 161 && v <= 172) || v >= 174; };
    int cp = b;
    if (!printable(b)) {
        cp = 256;
        for (int v = 0; v < b; v++) cp += !printable(v);
    }
    if (cp < 0x80) return std::string(1, (char)cp);
    return {(char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F))};
}

// A vocabulary of the 256 bytes (id = byte value) plus the given merged tokens.
static std::string small_encoder(const std::vector<std::string>& merged) {
    nlohmann::json enc;
    for (int b = 0; b < 256; b++) enc[byte_spelling(b)] = b;
    for (size_t i = 0; i < merged.size(); i++) enc[merged[i]] = 256 + i;
    return enc.dump();
}

TEST_CASE("bpe: merges go by rank, leftmost first among equals") {
    TempDir dir("tokenizer");
    // "\xC4\xA0" is U+0120, GPT-2's spelling of the space byte.
    spit(dir.file("encoder.json"), small_encoder({"ab", "bc", "abc", "aa", "\xC4\xA0" "ab"}));
    spit(dir.file("vocab.bpe"), "#version: 0.2\na b\nb c\nab c\na a\n\xC4\xA0 ab\n");
    auto tok = make_tokenizer(dir.path);
    CHECK(tok->vocab_size() == 261);
    CHECK(tok->eot() == -1);
    using ids = std::vector<uint32_t>;
    CHECK(tok->encode("abc") == ids{258});             // a b, then ab c
    CHECK(tok->encode("bcab") == ids{257, 256});       // a b (rank 0) before b c (rank 1)
    CHECK(tok->encode("abbc") == ids{256, 257});
    CHECK(tok->encode("aaaaa") == ids{259, 259, 'a'});  // a a pairs from the left
    CHECK(tok->encode("cab ab") == ids{'c', 256, 260});  // " ab" is one pre-token
    CHECK(tok->decode(ids{260, 258}) == " ababc");
}

TEST_CASE("bpe: bytes that are not valid UTF-8 still round trip") {
    TempDir dir("tokenizer");
    spit(dir.file("encoder.json"), small_encoder({"ab", "\xC3\x83\xC2\xA9"}));  // "ab", and "Ã©" = bytes C3 A9 (é)
    spit(dir.file("vocab.bpe"), "a b\n\xC3\x83 \xC2\xA9\n");
    auto tok = make_tokenizer(dir.path);
    // A lone continuation byte, a truncated 2-byte form, an overlong '/', a
    // UTF-16 surrogate, a code point above U+10FFFF, bytes that never occur,
    // a cut-off 3-byte form at the end.
    std::string text = "ok \x80 caf\xC3 \xC0\xAF x\xED\xA0\x80y \xF4\x90\x80\x80 \xFF\xFE caf\xC3\xA9 ab\xE2\x82";
    CHECK(tok->decode(tok->encode(text)) == text);
    std::string all_bytes;
    for (int b = 0; b < 256; b++) all_bytes += (char)b;
    CHECK(tok->decode(tok->encode(all_bytes + all_bytes)) == all_bytes + all_bytes);
    CHECK(tok->encode("\xC3\xA9") == std::vector<uint32_t>{257});
}

TEST_CASE("bpe: the same files under Hugging Face's names") {
    TempDir dir("tokenizer");
    spit(dir.file("vocab.json"), small_encoder({"ab"}));
    spit(dir.file("merges.txt"), "#version: 0.2\r\na b\r\n");
    CHECK(make_tokenizer(dir.path)->encode("abab") == std::vector<uint32_t>{256, 256});
}

TEST_CASE("tokenizer errors name the file and the problem") {
    CHECK_THROWS_WITH_AS(make_tokenizer("/nonexistent/minitrain_tok"), Contains("/nonexistent/minitrain_tok: "),
                         std::runtime_error);

    TempDir dir("tokenizer");
    const std::string& d = dir.path;
    CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains("holds neither encoder.json + vocab.bpe"), std::runtime_error);

    spit(dir.file("encoder.json"), small_encoder({"ab", "abc"}));
    CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains(d + "/vocab.bpe: cannot open"), std::runtime_error);

    auto merges_error = [&](const std::string& merges, const std::string& problem) {
        spit(dir.file("vocab.bpe"), merges);
        CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains(d + "/vocab.bpe: " + problem), std::runtime_error);
    };
    merges_error("#version: 0.2\na b\nabc\n", "line 3: expected two tokens");
    merges_error("#version: 0.2\na b\nab c d\n", "line 3: expected two tokens");
    merges_error("#version: 0.2\na  b\n", "line 2: expected two tokens");
    merges_error("#version: 0.2\na b\nab zz\n", "line 3: unknown token \"zz\"");
    merges_error("#version: 0.2\na c\n", "line 2: unknown token \"ac\"");
    merges_error("#version: 0.2\nab c\na b\n", "line 2: uses \"ab\" before a merge makes it");
    merges_error("a b\na b\n", "line 2: duplicate merge");
    merges_error("", "no merges (an empty merges file)");
    merges_error("#version: 0.2\n", "no merges (an empty merges file)");
    // A directory where a file should be says so (it used to read as an empty file).
    std::filesystem::remove(dir.file("vocab.bpe"));
    std::filesystem::create_directory(dir.file("vocab.bpe"));
    CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains(d + "/vocab.bpe: not a regular file"), std::runtime_error);
    std::filesystem::remove(dir.file("vocab.bpe"));

    spit(dir.file("vocab.bpe"), "a b\n");
    spit(dir.file("encoder.json"), "{\"a\": 0, \"b\": ");
    CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains(d + "/encoder.json: invalid JSON"), std::runtime_error);
    spit(dir.file("encoder.json"), "{\"a\": 0, \"b\": 1}");
    CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains(d + "/encoder.json: has 2 of the 256 one-byte tokens"),
                         std::runtime_error);
    spit(dir.file("encoder.json"), "{\"a\": 0, \"b\": 7}");
    CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains("ids must be 0..1"), std::runtime_error);
    spit(dir.file("encoder.json"), "{\"a\": 0, \"\\u4e2d\": 1}");
    CHECK_THROWS_WITH_AS(make_tokenizer(d), Contains("outside GPT-2's byte alphabet"), std::runtime_error);
    // Found by tests/fuzz/fuzz_bpe.cpp: a token with a newline in it, quoted in the error, made it two lines.
    spit(dir.file("encoder.json"), "{\"\\n\u010a\": 0}");
    CHECK(error_of([&] { make_tokenizer(d); }) ==
          d + "/encoder.json: token \"\\n\u010a\" has a character outside GPT-2's byte alphabet");
    spit(dir.file("encoder.json"), small_encoder({"ab"}));
    spit(dir.file("vocab.bpe"), "a\rb\n");
    CHECK(error_of([&] { make_tokenizer(d); }) ==
          d + "/vocab.bpe: line 1: expected two tokens separated by one space, got \"a\\rb\"");
}
