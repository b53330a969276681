// WordPiece (BERT) tokenizer: ids against Hugging Face's BertTokenizer
// (tests/fixtures/wordpiece_cases.json, made by
// tools/reference/make_wordpiece_fixture.py), every code point's cleaning,
// normalisation and split against tokenizers', whole data files, the greedy
// match on a hand-made vocabulary, and the errors. Ids and strings are
// compared exactly: tokenisation has no tolerance.
#include <doctest/doctest.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "support.h"
#include "data/wordpiece.h"

namespace fs = std::filesystem;
using ids = std::vector<uint32_t>;

static const char* kFixture = "tests/fixtures/wordpiece_cases.json";

// 64-bit FNV-1a, as the fixture script hashes lines and ids.
static uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xCBF29CE484222325ull) {
    const unsigned char* p = (const unsigned char*)data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

static std::string hex64(uint64_t h) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
    return buf;
}

// Splits on '\n' as Python's str.split("\n") does: n newlines give n + 1 lines.
static std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(text.substr(start, nl - start));
    lines.push_back(text.substr(start));
    return lines;
}

// The fixture's vocabularies, each loaded once with the options it records.
struct Vocabs {
    std::map<std::string, std::unique_ptr<WordPiece>> by_name;
    Vocabs(const fs::path& data, const nlohmann::json& fixture) {
        for (const auto& [name, v] : fixture["vocabs"].items())
            by_name[name] = std::make_unique<WordPiece>((data / v["path"].get<std::string>()).string(),
                                                        v["do_lower_case"].get<bool>());
    }
    const WordPiece& operator[](const std::string& name) const { return *by_name.at(name); }
};

TEST_CASE("wordpiece: input and token type ids equal Hugging Face's BertTokenizer's on the fixture cases") {
    fs::path data = data_dir("tokenizers");
    if (data.empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    nlohmann::json fixture = nlohmann::json::parse(slurp(kFixture));
    Vocabs vocabs(data, fixture);
    const WordPiece& uncased = vocabs["bert-base-uncased"];
    CHECK(uncased.vocab_size() == 30522);
    CHECK(vocabs["bert-base-chinese"].vocab_size() == 21128);
    CHECK((uncased.pad() == 0 && uncased.unk() == 100 && uncased.cls() == 101 && uncased.sep() == 102 &&
           uncased.mask() == 103));
    REQUIRE(fixture["cases"].size() > 200);
    for (const auto& c : fixture["cases"]) {
        INFO("case " << c["vocab"].get<std::string>() << " / " << c["name"].get<std::string>());
        const WordPiece& wp = vocabs[c["vocab"]];
        size_t max_len = c["max_len"];
        BertEncoding e = c.contains("text_pair") ? wp.encode_pair(c["text"], c["text_pair"], max_len)
                                                 : wp.encode_single(c["text"], max_len);
        ids want = c["input_ids"];
        CHECK(e.ids == want);
        CHECK(e.type_ids == c["token_type_ids"].get<ids>());
        CHECK(wp.decode(want) == c["decoded"].get<std::string>());
    }
    for (const auto& d : fixture["decodes"]) {
        INFO("decode " << d["ids"].dump());
        CHECK(vocabs[d["vocab"]].decode(d["ids"]) == d["text"].get<std::string>());
    }
}

// Each code point c that the fixture's Unicode version assigns, as "a" c "b",
// under each lower-case / strip-accents setting: its words joined by U+001F.
// That covers which characters are removed, made spaces, spaced out as CJK,
// split off as punctuation, decomposed, stripped and lower-cased.
TEST_CASE("wordpiece: every code point is cleaned, normalised and split as tokenizers does it") {
    fs::path data = data_dir("tokenizers/bert-base-uncased/vocab.txt");
    if (data.empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    nlohmann::json fixture = nlohmann::json::parse(slurp(kFixture));
    UVersionInfo newest;
    u_versionFromString(newest, fixture["unicode_version"].get<std::string>().c_str());
    std::string vocab = (data / "tokenizers/bert-base-uncased/vocab.txt").string();
    REQUIRE(fixture["charclasses"].size() == 4);
    for (const auto& setting : fixture["charclasses"]) {
        bool lower = setting["lower_case"], strip = setting["strip_accents"];
        INFO("lower_case " << lower << ", strip_accents " << strip);
        WordPiece wp(vocab, lower, strip);
        std::map<std::string, uint64_t> hashes;  // block (code point >> 12, in hex) -> FNV-1a of its lines
        for (UChar32 c = 0; c <= 0x10FFFF; c++) {
            UVersionInfo age;
            u_charAge(c, age);
            if (U_IS_SURROGATE(c) || u_charType(c) == U_UNASSIGNED || std::memcmp(age, newest, sizeof age) > 0)
                continue;
            char utf8[4], head[16], block[8];
            int32_t n = 0;
            U8_APPEND_UNSAFE(utf8, n, c);
            std::snprintf(head, sizeof head, "%x\t", (unsigned)c);
            std::string line = head;
            std::vector<std::string> words = wp.words("a" + std::string(utf8, n) + "b");
            for (size_t k = 0; k < words.size(); k++) line += (k ? "\x1f" : "") + words[k];
            line += '\n';
            std::snprintf(block, sizeof block, "%x", (unsigned)(c >> 12));
            auto it = hashes.try_emplace(block, 0xCBF29CE484222325ull).first;
            it->second = fnv1a64(line.data(), line.size(), it->second);
        }
        std::string wrong;  // the first code point of each block that differs
        for (const auto& [block, want] : setting["blocks"].items())
            if (!hashes.count(block) || hex64(hashes[block]) != want.get<std::string>())
                wrong += " U+" + block + "000";
        CHECK(hashes.size() == setting["blocks"].size());
        CHECK_MESSAGE(wrong.empty(), "these blocks of 4096 code points differ:" << wrong);
    }
}

TEST_CASE("wordpiece: whole data files encode to Hugging Face's ids, line by line") {
    fs::path data = data_dir("tokenizers");
    if (data.empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    nlohmann::json fixture = nlohmann::json::parse(slurp(kFixture));
    Vocabs vocabs(data, fixture);
    REQUIRE(fixture["corpora"].size() == 5);
    for (const auto& c : fixture["corpora"]) {
        INFO("file " << c["file"].get<std::string>() << ", vocabulary " << c["vocab"].get<std::string>());
        const WordPiece& wp = vocabs[c["vocab"]];
        std::vector<std::string> lines = split_lines(slurp(data / c["file"].get<std::string>()));
        uint64_t h = 0xCBF29CE484222325ull;
        size_t ntokens = 0;
        for (const std::string& line : lines) {
            for (uint32_t id : wp.encode(line)) {
                unsigned char le[4] = {(unsigned char)id, (unsigned char)(id >> 8), (unsigned char)(id >> 16),
                                       (unsigned char)(id >> 24)};
                h = fnv1a64(le, 4, h);
                ntokens++;
            }
        }
        CHECK(lines.size() == c["lines"].get<size_t>());
        CHECK(ntokens == c["ntokens"].get<size_t>());
        CHECK(hex64(h) == c["fnv1a64"].get<std::string>());
    }
}

// Lower-case ASCII words with single spaces: every letter and "##" letter is in
// the vocabulary, so no word is [UNK], and decode glues the pieces back.
TEST_CASE("wordpiece: decode(encode(text)) == text for lower-case ASCII words") {
    fs::path data = data_dir("classification/sst2/dev.tsv");
    if (data.empty() || !fs::exists(data / "tokenizers/bert-base-uncased/vocab.txt")) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    WordPiece wp((data / "tokenizers/bert-base-uncased/vocab.txt").string());
    std::vector<std::string> texts = {"the quick brown fox jumps over the lazy dog",
                                      "unaffable antidisestablishmentarianism supercalifragilisticexpialidocious",
                                      "qzxv jjjjjj xkcd"};
    // SST-2 sentences made only of letters and single spaces.
    for (const std::string& line : split_lines(slurp(data / "classification/sst2/dev.tsv"))) {
        std::string text = line.substr(0, line.find(" \t"));
        bool plain = !text.empty() && text.front() != ' ' && text.back() != ' ' &&
                     text.find("  ") == std::string::npos &&
                     text.find_first_not_of("abcdefghijklmnopqrstuvwxyz ") == std::string::npos;
        if (plain) texts.push_back(text);
    }
    REQUIRE(texts.size() > 500);
    for (const std::string& text : texts) {
        INFO(text);
        std::vector<uint32_t> encoded = wp.encode(text);
        CHECK(std::find(encoded.begin(), encoded.end(), wp.unk()) == encoded.end());
        CHECK(wp.decode(encoded) == text);
    }
}

TEST_CASE("wordpiece: greedy longest match first on a hand-made vocabulary") {
    TempDir dir("wordpiece");
    // ids 0-4 the specials, 5 "ab", 6 "##c", 7 "##bc", 8 "a", 9 "un", 10 "unaff", 11 "##aff", 12 "##able",
    // 13 "cafe", 14 "café", 15 "##x", 16 ",", 17 "x" (a CRLF line), 18 "a" again, 19 "##é" (no final LF)
    const std::string vocab = dir.file("vocab.txt");
    spit(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nab\n##c\n##bc\na\nun\nunaff\n##aff\n"
                "##able\ncafe\ncaf\xC3\xA9\n##x\n,\nx\r\na\n##\xC3\xA9");
    WordPiece wp(vocab);  // lower-case and strip accents, as bert-base-uncased
    CHECK(wp.vocab_size() == 20);
    CHECK((wp.pad() == 0 && wp.unk() == 1 && wp.cls() == 2 && wp.sep() == 3 && wp.mask() == 4));
    CHECK(wp.id_of("x") == 17);
    CHECK(wp.id_of("a") == 18);  // listed twice: the last line wins, as in Hugging Face's dict
    CHECK(wp.id_of("zz") == -1);
    CHECK(wp.encode("abc") == ids{5, 6});          // "ab" + "##c", not "a" + "##bc": longest first
    CHECK(wp.encode("unaffable") == ids{10, 12});  // "unaff" + "##able"
    CHECK(wp.encode("abz") == ids{1});             // no "##z": the whole word is [UNK]
    CHECK(wp.encode("ab, Abc!") == ids{5, 16, 5, 6, 1});
    CHECK(wp.encode("a") == ids{18});
    CHECK(wp.encode(" \t\n") == ids{});
    CHECK(wp.encode("CAFÉ Café") == ids{13, 13});  // lower-cased, accent stripped
    CHECK(WordPiece(vocab, true, false).encode("CAFÉ cafe") == ids{14, 13});
    CHECK(WordPiece(vocab, false).encode("café Cafe cafe") == ids{14, 1, 13});  // strip_accents follows do_lower_case
    CHECK(WordPiece(vocab, false, true).encode("café Cafe") == ids{13, 1});
    // At most 100 characters a word, counted after normalisation.
    ids hundred{17};
    hundred.insert(hundred.end(), 99, 15);
    CHECK(wp.encode(std::string(100, 'x')) == hundred);
    CHECK(wp.encode(std::string(101, 'X') + " ab") == ids{1, 5});
    std::string accented = "x";
    for (int k = 0; k < 150; k++) accented += "\xCC\x81";  // U+0301, stripped before counting
    CHECK(wp.encode(accented) == ids{17});
    // Special tokens written in the text, exactly as spelled; the rest is text.
    CHECK(wp.encode("ab[MASK][SEP]x [CLS]") == ids{5, 4, 3, 17, 2});
    CHECK(wp.encode("[mask]") == ids{1, 1, 1});
    CHECK(wp.words("x[MASK]ABC [PAD") == std::vector<std::string>{"x", "[MASK]", "abc", "[", "pad"});
    // Bytes that are not UTF-8 are dropped, as U+FFFD is.
    CHECK(wp.encode("a\xFF\xC3" "b\xEF\xBF\xBD") == ids{5});
    CHECK(wp.decode({5, 6, 16, 9, 12, 19, 2}) == "abc , unable\xC3\xA9 [CLS]");
    CHECK_THROWS_AS(wp.decode({20}), std::runtime_error);
    CHECK_THROWS_AS(wp.token(20), std::runtime_error);

    CHECK(wp.encode_single("ab abc", 4).ids == ids{2, 5, 5, 3});
    CHECK(wp.encode_single("ab abc", 2).ids == ids{2, 3});
    BertEncoding pair = wp.encode_pair("abc", "x x x", 7);  // 2 + 3 ids into a budget of 4
    CHECK(pair.ids == ids{2, 5, 6, 3, 17, 17, 3});
    CHECK(pair.type_ids == ids{0, 0, 0, 0, 1, 1, 1});
    CHECK_THROWS_AS(wp.encode_single("x", 1), std::invalid_argument);
    CHECK_THROWS_AS(wp.encode_pair("x", "x", 2), std::invalid_argument);
}

TEST_CASE("wordpiece errors name the file and the problem") {
    CHECK_THROWS_WITH_AS(WordPiece("/nonexistent/minitrain_wp/vocab.txt"),
                         Contains("/nonexistent/minitrain_wp/vocab.txt: cannot open"), std::runtime_error);
    TempDir dir("wordpiece");
    const std::string vocab = dir.file("vocab.txt");
    const std::pair<std::string, std::string> cases[] = {  // the file's text, the problem
        {"", "empty vocabulary"},
        {"[PAD]\n[UNK]\n[SEP]\n[MASK]\nthe\n", "no [CLS] token"},
        {"[PAD]\n[UNK]\n[cls]\n[SEP]\n[MASK]\n", "no [CLS] token"},
    };
    for (const auto& [text, problem] : cases) {
        spit(vocab, text);
        CHECK_THROWS_WITH_AS(WordPiece{vocab}, Contains(vocab + ": " + problem), std::runtime_error);
    }
}
