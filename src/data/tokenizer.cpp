// GPT-2 byte-level BPE and the byte tokenizer.
//
// GPT-2 encodes text in three steps:
//   1. split the text into pre-tokens with a regex (words with their leading
//      space, digit runs, punctuation runs, whitespace runs);
//   2. write each pre-token's UTF-8 bytes as one-byte tokens;
//   3. merge adjacent pairs in the order the merges file lists them.
// The vocabulary files spell each token's bytes through a byte -> code point
// map that keeps printable bytes as themselves, so every token is a printable
// string; we undo that map once at load time and work on raw bytes after.
#include "core/fileio.h"
#include "data/tokenizer.h"

#include <unicode/uchar.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <string_view>

std::string Tokenizer::decode(const std::vector<uint32_t>& ids) const {
    std::string out;
    for (uint32_t id : ids) out += decode_token(id);
    return out;
}

// ---- byte tokenizer -----------------------------------------------------------

std::vector<uint32_t> ByteTokenizer::encode(const std::string& text) const {
    std::vector<uint32_t> ids(text.size());
    for (size_t i = 0; i < text.size(); i++) ids[i] = (unsigned char)text[i];
    return ids;
}

std::string ByteTokenizer::decode_token(uint32_t id) const {
    if (id >= 256) throw std::runtime_error("byte tokenizer: token id " + std::to_string(id) + " out of range (vocab 256)");
    return std::string(1, (char)id);
}

// ---- UTF-8 and character classes -------------------------------------------------

// A byte that does not start a valid UTF-8 sequence decodes to this, one byte
// long, so any byte string can be encoded and decoded back unchanged.
static const uint32_t kInvalid = 0xFFFFFFFF;

// Decodes the code point at s[i] into *cp; returns its length in bytes (1-4).
// Overlong forms, surrogates and values above U+10FFFF are invalid.
static size_t utf8_next(const unsigned char* s, size_t n, size_t i, uint32_t* cp) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 1) {
        *cp = c;
        return 1;
    }
    if (len == 0 || i + len > n) {
        *cp = kInvalid;
        return 1;
    }
    uint32_t v = c & (0x7F >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            *cp = kInvalid;
            return 1;
        }
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    bool valid = v >= min_for_len[len] && v <= 0x10FFFF && (v < 0xD800 || v > 0xDFFF);
    *cp = valid ? v : kInvalid;
    return valid ? len : 1;
}

enum CharClass : uint8_t { Letter, Number, Space, Other };

// \p{L}: general category L*; \p{N}: N* (Nd, Nl, No); \s: the Unicode
// White_Space property, which is what tiktoken's regex (Rust regex crate) and
// Python's regex module mean by \s (it excludes U+001C..U+001F, which Python's
// str.isspace() includes). The categories are those of the system's ICU
// (Debian 12: ICU 72, Unicode 15.0): a character assigned in a later Unicode
// version counts as Other here, where a newer regex engine may see a letter.
static CharClass char_class(uint32_t cp) {
    if (cp == kInvalid) return Other;
    if (u_isUWhiteSpace((UChar32)cp)) return Space;
    uint32_t mask = U_GET_GC_MASK((UChar32)cp);
    if (mask & U_GC_L_MASK) return Letter;
    if (mask & U_GC_N_MASK) return Number;
    return Other;
}

struct Char {
    CharClass cls;
    uint32_t cp;
    size_t len;  // bytes
};

static Char char_at(std::string_view text, size_t i) {
    uint32_t cp;
    size_t len = utf8_next((const unsigned char*)text.data(), text.size(), i, &cp);
    return {char_class(cp), cp, len};
}

// GPT-2's pre-tokenisation regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// as a scanner: returns the byte offset where the match starting at byte i
// ends. The regex engine tries the alternatives in order and takes the first
// that matches, and so does this.
static size_t pretoken_end(std::string_view text, size_t i) {
    size_t n = text.size();
    Char c = char_at(text, i);
    if (c.cp == '\'' && i + 1 < n) {  // in UTF-8 an ASCII byte is always that character
        char a = text[i + 1], b = i + 2 < n ? text[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    // " ?X+" for the three non-space classes: a space joins the run after it.
    if (c.cp == ' ' && i + 1 < n) {
        Char d = char_at(text, i + 1);
        if (d.cls != Space) {
            i += 1;
            c = d;
        }
    }
    if (c.cls != Space) {
        size_t j = i + c.len;
        for (Char d; j < n && (d = char_at(text, j)).cls == c.cls;) j += d.len;
        return j;
    }
    size_t j = i + c.len, last = i;  // last: where the run's last character starts
    for (Char d; j < n && (d = char_at(text, j)).cls == Space; j += d.len) last = j;
    // \s+(?!\S) backtracks a run that a non-space follows by one character,
    // leaving the last space to start the next word (" word"). A run of one
    // cannot give one back and falls to the plain \s+.
    return (j < n && last > i) ? last : j;
}

// ---- BPE loading ------------------------------------------------------------------

// GPT-2's bytes_to_unicode(): the printable bytes '!'..'~', '¡'..'¬', '®'..'ÿ'
// stand for themselves; the other 68 bytes, in order, become U+0100 onward.
static void byte_code_points(uint32_t byte_to_cp[256]) {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        byte_to_cp[b] = printable ? b : next++;
    }
}

BpeTokenizer::BpeTokenizer(const std::string& encoder_path, const std::string& merges_path) {
    uint32_t byte_to_cp[256];
    byte_code_points(byte_to_cp);
    int cp_to_byte[324];  // the map's code points all lie below 256 + 68
    std::fill(cp_to_byte, cp_to_byte + 324, -1);
    for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp[b]] = b;

    nlohmann::json encoder;
    try {
        encoder = nlohmann::json::parse(read_file(encoder_path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(encoder_path + ": invalid JSON: " + e.what());
    }
    if (!encoder.is_object() || encoder.empty())
        throw std::runtime_error(encoder_path + ": expected a JSON object mapping token strings to ids");

    token_bytes_.resize(encoder.size());
    std::vector<bool> id_seen(encoder.size(), false);
    std::unordered_map<std::string, uint32_t> ids;  // hashed: the JSON object's std::map is slow to search
    for (const auto& [token, value] : encoder.items()) {
        if (!value.is_number_unsigned() || value.get<uint64_t>() >= encoder.size())
            fail(encoder_path, "token \"" + token + "\" has id " + value.dump() + "; ids must be 0.." +
                                   std::to_string(encoder.size() - 1));
        if (token.empty()) throw std::runtime_error(encoder_path + ": empty token string");
        uint32_t id = value.get<uint32_t>();
        if (id_seen[id]) throw std::runtime_error(encoder_path + ": id " + std::to_string(id) + " is used twice");
        id_seen[id] = true;
        ids.emplace(token, id);
        const unsigned char* s = (const unsigned char*)token.data();
        for (size_t i = 0; i < token.size();) {
            uint32_t cp;
            i += utf8_next(s, token.size(), i, &cp);
            if (cp >= 324 || cp_to_byte[cp] < 0)
                fail(encoder_path, "token \"" + token + "\" has a character outside GPT-2's byte alphabet");
            token_bytes_[id] += (char)cp_to_byte[cp];
        }
    }

    // The byte -> code point map is one-to-one, so each byte has at most one token.
    std::vector<bool> made(token_bytes_.size(), false);  // tokens that exist before merge k
    int nbytes = 0;
    for (uint32_t id = 0; id < token_bytes_.size(); id++) {
        if (token_bytes_[id].size() != 1) continue;
        byte_token_[(unsigned char)token_bytes_[id][0]] = id;
        made[id] = true;
        nbytes++;
    }
    if (nbytes != 256)
        throw std::runtime_error(encoder_path + ": has " + std::to_string(nbytes) + " of the 256 one-byte tokens");
    auto id_of = [&](const std::string& token) -> int64_t {
        auto it = ids.find(token);
        return it == ids.end() ? int64_t(-1) : int64_t(it->second);
    };
    eot_ = (int)id_of("<|endoftext|>");

    // A merge may only use tokens that exist by then (single bytes or earlier
    // merges), as in any trained BPE. Then a merge never creates a pair that
    // outranks the one just merged, which is what lets bpe() merge one
    // occurrence at a time and still give GPT-2's result exactly.
    std::istringstream lines(read_file(merges_path));
    std::string line;
    for (int lineno = 1; std::getline(lines, line); lineno++) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
        auto fail = [&](const std::string& problem) {
            ::fail(merges_path, "line " + std::to_string(lineno) + ": " + problem);
        };
        size_t sp = line.find(' ');
        if (sp == 0 || sp == std::string::npos || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
            fail("expected two tokens separated by one space, got \"" + line + "\"");
        std::string left = line.substr(0, sp), right = line.substr(sp + 1);
        for (const std::string& token : {left, right, left + right})
            if (id_of(token) < 0) fail("unknown token \"" + token + "\" (not in " + encoder_path + ")");
        int64_t lid = id_of(left), rid = id_of(right), mid = id_of(left + right);
        if (!made[lid] || !made[rid]) fail("uses \"" + (made[lid] ? right : left) + "\" before a merge makes it");
        Merge m{(uint32_t)merges_.size(), (uint32_t)mid};
        if (!merges_.emplace((uint64_t)lid << 32 | (uint64_t)rid, m).second) fail("duplicate merge \"" + line + "\"");
        made[mid] = true;
    }
    // Without merges GPT-2's BPE would encode every text as single bytes, silently.
    if (merges_.empty()) throw std::runtime_error(merges_path + ": no merges (an empty merges file)");
}

// ---- BPE encoding ------------------------------------------------------------------

// Merges one pre-token and appends its ids to out. Start from the word's
// one-byte tokens; repeatedly merge the adjacent pair whose merge comes first
// in the merges file, leftmost first among equals, until no pair has a merge.
// GPT-2 rescans the whole word after each merge (quadratic in its length);
// here a min-heap of candidate pairs over a linked list keeps a long run of
// spaces or punctuation O(n log n). Heap entries are not removed when a
// neighbour merges; they are skipped when popped if their tokens changed.
void BpeTokenizer::bpe(std::string_view word, std::vector<uint32_t>& out) const {
    const uint32_t dead = 0xFFFFFFFF;  // token of a position merged into its left neighbour
    int n = (int)word.size();
    std::vector<uint32_t> tok(n);
    std::vector<int> prev(n), next(n);  // live neighbours, -1 at the ends
    for (int i = 0; i < n; i++) {
        tok[i] = byte_token_[(unsigned char)word[i]];
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    struct Candidate {
        uint32_t rank;
        int left;  // position of the pair's left token
        uint32_t ltok, rtok, merged;
    };
    auto after = [](const Candidate& a, const Candidate& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(after)> heap(after);
    auto consider = [&](int left) {
        if (left < 0 || next[left] < 0) return;
        uint32_t ltok = tok[left], rtok = tok[next[left]];
        auto it = merges_.find((uint64_t)ltok << 32 | rtok);
        if (it != merges_.end()) heap.push({it->second.rank, left, ltok, rtok, it->second.merged});
    };
    for (int i = 0; i < n; i++) consider(i);
    while (!heap.empty()) {
        Candidate c = heap.top();
        heap.pop();
        int right = next[c.left];
        if (tok[c.left] != c.ltok || right < 0 || tok[right] != c.rtok) continue;
        tok[c.left] = c.merged;
        tok[right] = dead;
        next[c.left] = next[right];
        if (next[right] >= 0) prev[next[right]] = c.left;
        consider(prev[c.left]);
        consider(c.left);
    }
    for (int i = 0; i >= 0; i = next[i]) out.push_back(tok[i]);
}

std::vector<uint32_t> BpeTokenizer::encode(const std::string& text) const {
    // A text repeats the same words over and over: merge each distinct
    // pre-token once and copy its ids from where it first went into out.
    std::vector<uint32_t> out;
    std::unordered_map<std::string_view, std::pair<size_t, size_t>> first;  // word -> (start, count) in out
    for (size_t i = 0; i < text.size();) {
        size_t j = pretoken_end(text, i);
        std::string_view word(text.data() + i, j - i);
        auto [it, fresh] = first.try_emplace(word, out.size(), 0);
        if (fresh) {
            bpe(word, out);
            it->second.second = out.size() - it->second.first;
        } else {
            for (size_t k = 0; k < it->second.second; k++) {
                uint32_t id = out[it->second.first + k];
                out.push_back(id);
            }
        }
        i = j;
    }
    return out;
}

std::string BpeTokenizer::decode_token(uint32_t id) const {
    if (id >= token_bytes_.size())
        throw std::runtime_error("BPE tokenizer: token id " + std::to_string(id) + " out of range (vocab " +
                                 std::to_string(token_bytes_.size()) + ")");
    return token_bytes_[id];
}

// ---- factory ------------------------------------------------------------------------

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec) {
    namespace fs = std::filesystem;
    if (spec == "byte") return std::make_unique<ByteTokenizer>();
    std::error_code ec;
    if (!fs::is_directory(spec, ec))
        throw std::runtime_error(spec + ": not \"byte\" and not a directory holding a GPT-2 BPE vocabulary");
    // The same two formats under OpenAI's and Hugging Face's names. A directory
    // with only one file of a pair fails when opening the other, naming it.
    const char* names[2][2] = {{"encoder.json", "vocab.bpe"}, {"vocab.json", "merges.txt"}};
    for (const auto& pair : names) {
        fs::path vocab = fs::path(spec) / pair[0], merges = fs::path(spec) / pair[1];
        if (fs::exists(vocab, ec) || fs::exists(merges, ec))
            return std::make_unique<BpeTokenizer>(vocab.string(), merges.string());
    }
    throw std::runtime_error(spec + ": holds neither encoder.json + vocab.bpe nor vocab.json + merges.txt");
}
