// BERT WordPiece tokenizer; the steps are listed in wordpiece.h.
#include "data/wordpiece.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uset.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

// ---- character classes -------------------------------------------------------------

// Hugging Face's tokenizers takes general categories and canonical
// decompositions from Rust crates whose tables are Unicode 8.0. So that ids
// match it whatever Unicode version ICU has, a character assigned after 8.0
// counts as unassigned (Cn) and does not decompose, and the six characters
// whose category changed since 8.0 keep their 8.0 category. (Checked against
// tokenizers 0.23.3 for every code point; see tests/test_wordpiece.cpp.)
// Lower-casing is the exception: tokenizers uses Rust's current tables, and
// ICU's are used here, so capitals newer than ICU's Unicode stay capitals.
struct Unicode8 {
    USet* assigned;            // the code points Unicode 8.0 assigns
    UNormalizer2* nfd;         // NFD of those; later characters pass through
    Unicode8() {
        UErrorCode err = U_ZERO_ERROR;
        UChar pattern[16];
        u_uastrcpy(pattern, "[:Age=8.0:]");  // ICU's Age sets are cumulative: 8.0 and before
        assigned = uset_openPattern(pattern, -1, &err);
        uset_freeze(assigned);  // frozen sets are safe to share between threads
        nfd = unorm2_openFiltered(unorm2_getNFDInstance(&err), assigned, &err);
        if (U_FAILURE(err)) throw std::runtime_error(std::string("wordpiece: ICU setup failed: ") + u_errorName(err));
    }
    ~Unicode8() {
        unorm2_close(nfd);
        uset_close(assigned);
    }
};

static const Unicode8& unicode8() {
    static const Unicode8 tables;
    return tables;
}

static int8_t category(UChar32 c) {
    if (c < 0x80) return (int8_t)u_charType(c);
    if (!uset_contains(unicode8().assigned, c)) return U_UNASSIGNED;
    switch (c) {
    case 0x166D:   // CANADIAN SYLLABICS CHI SIGN, So since Unicode 12
    case 0x111C9:  // SHARADA SANDHI MARK, Mn since Unicode 11
        return U_OTHER_PUNCTUATION;
    case 0x1885:   // MONGOLIAN LETTER ALI GALI BALUDA, Mn since Unicode 9
    case 0x1886:   // MONGOLIAN LETTER ALI GALI THREE BALUDA
        return U_OTHER_LETTER;
    case 0x1734:   // HANUNOO SIGN PAMUDPOD, Mc since Unicode 14
        return U_NON_SPACING_MARK;
    case 0xA9BD:   // JAVANESE CONSONANT SIGN KERET, Mn since Unicode 12
        return U_COMBINING_SPACING_MARK;
    }
    return (int8_t)u_charType(c);
}

// BERT's control characters: category Cc, Cf or Co, except tab, LF and CR,
// which are whitespace. (Unassigned code points, Cn, are kept as letters.)
static bool is_control(UChar32 c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    int8_t cat = category(c);
    return cat == U_CONTROL_CHAR || cat == U_FORMAT_CHAR || cat == U_PRIVATE_USE_CHAR;
}

// Tab, LF, CR and the Unicode White_Space property (Zs, Zl, Zp and a few Cc
// that is_control() removes first).
static bool is_whitespace(UChar32 c) {
    return c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(c);
}

// ASCII punctuation and symbols (33-47, 58-64, 91-96, 123-126), and Unicode P*.
static bool is_punctuation(UChar32 c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
    return (U_MASK(category(c)) & U_GC_P_MASK) != 0;
}

static bool is_nonspacing_mark(UChar32 c) {
    return category(c) == U_NON_SPACING_MARK;
}

// The CJK ideograph blocks BERT lists (CJK Unified Ideographs, extensions A
// to E, the two compatibility blocks); Hangul, kana and CJK punctuation are
// not among them. Extension E starts at U+2B820, but tokenizers (and so
// Hugging Face's BertTokenizer) has U+2B920, which is followed here.
static bool is_cjk(UChar32 c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// ---- normalisation -----------------------------------------------------------------

// Steps 1 and 2: clean the text and space out CJK ideographs.
static void clean(std::string_view text, std::vector<UChar32>& out) {
    const uint8_t* s = (const uint8_t*)text.data();
    int32_t n = (int32_t)text.size();
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U8_NEXT(s, i, n, c);  // c < 0 for bytes that are not UTF-8: dropped like U+FFFD
        if (c <= 0 || c == 0xFFFD || is_control(c)) continue;
        if (is_whitespace(c)) {
            out.push_back(' ');
        } else if (is_cjk(c)) {
            out.insert(out.end(), {' ', c, ' '});
        } else {
            out.push_back(c);
        }
    }
}

// Step 3: canonical decomposition of the whole text, then drop the Mn marks.
static void strip_accents(std::vector<UChar32>& cps) {
    if (std::all_of(cps.begin(), cps.end(), [](UChar32 c) { return c < 0x80; })) return;  // ASCII has no accents
    std::vector<UChar> utf16(2 * cps.size());
    int32_t n = 0;
    for (UChar32 c : cps) U16_APPEND_UNSAFE(utf16.data(), n, c);
    const UNormalizer2* nfd = unicode8().nfd;
    UErrorCode err = U_ZERO_ERROR;
    // Ask for the decomposed length first, then decompose into a buffer of that size.
    int32_t len = unorm2_normalize(nfd, utf16.data(), n, nullptr, 0, &err);
    if (err != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(err))
        throw std::runtime_error(std::string("wordpiece: NFD failed: ") + u_errorName(err));
    std::vector<UChar> decomposed(len);
    err = U_ZERO_ERROR;
    unorm2_normalize(nfd, utf16.data(), n, decomposed.data(), len, &err);
    if (U_FAILURE(err)) throw std::runtime_error(std::string("wordpiece: NFD failed: ") + u_errorName(err));
    cps.clear();
    for (int32_t i = 0; i < len;) {
        UChar32 c;
        U16_NEXT(decomposed.data(), i, len, c);
        if (!is_nonspacing_mark(c)) cps.push_back(c);
    }
}

// Step 4 for one character: its full lower-case mapping (U+0130 -> "i\u0307"),
// without context, as tokenizers applies Rust's char::to_lowercase: a final
// capital sigma becomes σ, not ς. Writes the code points (Unicode's longest
// full mapping has 3) to out and returns how many.
static const int kMaxLower = 8;
static int lower(UChar32 c, UChar32 out[kMaxLower]) {
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    UChar src[2], dst[kMaxLower];
    int32_t n = 0;
    U16_APPEND_UNSAFE(src, n, c);
    UErrorCode err = U_ZERO_ERROR;
    int32_t m = u_strToLower(dst, kMaxLower, src, n, "", &err);
    if (U_FAILURE(err)) throw std::runtime_error(std::string("wordpiece: lower-casing failed: ") + u_errorName(err));
    int count = 0;
    for (int32_t i = 0; i < m; count++) U16_NEXT(dst, i, m, out[count]);
    return count;
}

// Steps 1-5: the words, concatenated in `chars`, and where each ends.
struct WordPiece::Words {
    std::string chars;
    std::vector<size_t> ends;      // byte offset one past each word
    std::vector<size_t> lengths;   // each word's length in characters
    std::vector<int64_t> special;  // the id of a special token written in the text, else -1
};

// Steps 1-5 on text that holds no special token: appends its words to out.
void WordPiece::split_plain(std::string_view text, Words& out) const {
    std::vector<UChar32> cps;
    cps.reserve(text.size());
    clean(text, cps);
    if (strip_accents_) strip_accents(cps);
    size_t nchars = 0;  // characters in the word being built
    auto end_word = [&]() {
        if (nchars == 0) return;
        out.ends.push_back(out.chars.size());
        out.lengths.push_back(nchars);
        out.special.push_back(-1);
        nchars = 0;
    };
    for (UChar32 c : cps) {
        UChar32 lowered[kMaxLower];
        int n = lower_ ? lower(c, lowered) : (lowered[0] = c, 1);
        for (int k = 0; k < n; k++) {
            UChar32 l = lowered[k];
            // Step 1 made every whitespace character a plain space.
            if (l == ' ') {
                end_word();
                continue;
            }
            bool punct = is_punctuation(l);
            if (punct) end_word();
            char utf8[4];
            int32_t len = 0;
            U8_APPEND_UNSAFE(utf8, len, l);
            out.chars.append(utf8, len);
            nchars++;
            if (punct) end_word();
        }
    }
    end_word();
}

// Hugging Face finds its special tokens in the raw text first, spelled exactly
// ("[MASK]", not "[mask]"), and tokenizes the stretches between them alone.
void WordPiece::split_words(std::string_view text, Words& out) const {
    auto special_at = [&](size_t i) -> int64_t {
        for (uint32_t id : {pad_, unk_, cls_, sep_, mask_})
            if (text.compare(i, tokens_[id].size(), tokens_[id]) == 0) return id;
        return -1;
    };
    size_t plain_start = 0;
    // Each special's name has one '[', its first byte, so matches cannot overlap.
    for (size_t i = text.find('['); i != std::string_view::npos; i = text.find('[', i + 1)) {
        int64_t id = special_at(i);
        if (id < 0) continue;
        split_plain(text.substr(plain_start, i - plain_start), out);
        const std::string& name = tokens_[id];
        out.chars += name;
        out.ends.push_back(out.chars.size());
        out.lengths.push_back(name.size());
        out.special.push_back(id);
        plain_start = i + name.size();
    }
    split_plain(text.substr(plain_start), out);
}

// ---- WordPiece ---------------------------------------------------------------------

static const size_t kMaxWordChars = 100;  // longer words are [UNK] (BERT's max_input_chars_per_word)

// Step 6 for one word: from the left, the longest piece in the vocabulary
// (tried from the longest candidate down, one character at a time), then the
// longest "##" piece after it, and so on. If some position has no piece, the
// whole word is one [UNK].
void WordPiece::wordpiece(std::string_view word, size_t nchars, std::vector<uint32_t>& out) const {
    if (nchars > kMaxWordChars) {
        out.push_back(unk_);
        return;
    }
    size_t first_piece = out.size();
    auto is_continuation_byte = [&](size_t i) { return ((unsigned char)word[i] & 0xC0) == 0x80; };
    for (size_t start = 0; start < word.size();) {
        const auto& pieces = start == 0 ? first_ : cont_;
        // No token is longer than longest_ bytes, so shorter candidates suffice.
        size_t end = std::min(word.size(), start + longest_);
        for (; end > start; end--) {
            if (end < word.size() && is_continuation_byte(end)) continue;  // inside a character
            auto it = pieces.find(word.substr(start, end - start));
            if (it != pieces.end()) {
                out.push_back(it->second);
                break;
            }
        }
        if (end == start) {
            out.resize(first_piece);
            out.push_back(unk_);
            return;
        }
        start = end;
    }
}

// ---- vocabulary --------------------------------------------------------------------

WordPiece::WordPiece(const std::string& vocab_path, bool do_lower_case, std::optional<bool> strip_accents)
    : lower_(do_lower_case), strip_accents_(strip_accents.value_or(do_lower_case)) {
    std::ifstream f(vocab_path, std::ios::binary);
    if (!f) throw std::runtime_error(vocab_path + ": cannot open: " + std::strerror(errno));
    std::string line;
    // Lines end in LF or CRLF; the last may lack its LF. Nothing else is
    // trimmed: bert-base-chinese has tokens that are U+2028 and "##" U+2028.
    while (std::getline(f, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        tokens_.push_back(line);
    }
    if (f.bad()) throw std::runtime_error(vocab_path + ": read error");
    if (tokens_.empty()) throw std::runtime_error(vocab_path + ": empty vocabulary");
    // A token listed twice keeps its last line's id, as Hugging Face's dict does.
    for (size_t id = 0; id < tokens_.size(); id++) {
        std::string_view t = tokens_[id];
        first_[t] = (uint32_t)id;
        if (t.size() > 2 && t.compare(0, 2, "##") == 0) cont_[t.substr(2)] = (uint32_t)id;
        longest_ = std::max(longest_, t.size());
    }
    auto special = [&](const char* name) {
        int id = id_of(name);
        if (id < 0)
            throw std::runtime_error(vocab_path + ": no " + name +
                                     " token (a BERT vocabulary has [PAD], [UNK], [CLS], [SEP] and [MASK])");
        return (uint32_t)id;
    };
    pad_ = special("[PAD]");
    unk_ = special("[UNK]");
    cls_ = special("[CLS]");
    sep_ = special("[SEP]");
    mask_ = special("[MASK]");
}

int WordPiece::id_of(std::string_view token) const {
    auto it = first_.find(token);
    return it == first_.end() ? -1 : (int)it->second;
}

const std::string& WordPiece::token(uint32_t id) const {
    if (id >= tokens_.size())
        throw std::runtime_error("wordpiece: token id " + std::to_string(id) + " out of range (vocab " +
                                 std::to_string(tokens_.size()) + ")");
    return tokens_[id];
}

// ---- encoding ----------------------------------------------------------------------

std::vector<std::string> WordPiece::words(const std::string& text) const {
    Words w;
    split_words(text, w);
    std::vector<std::string> out;
    for (size_t k = 0, begin = 0; k < w.ends.size(); begin = w.ends[k++])
        out.push_back(w.chars.substr(begin, w.ends[k] - begin));
    return out;
}

std::vector<uint32_t> WordPiece::encode(const std::string& text) const {
    Words w;
    split_words(text, w);
    std::vector<uint32_t> ids;
    std::string_view chars = w.chars;
    for (size_t k = 0, begin = 0; k < w.ends.size(); begin = w.ends[k++]) {
        if (w.special[k] >= 0)
            ids.push_back((uint32_t)w.special[k]);
        else
            wordpiece(chars.substr(begin, w.ends[k] - begin), w.lengths[k], ids);
    }
    return ids;
}

BertEncoding WordPiece::encode_single(const std::string& text, size_t max_len) const {
    if (max_len < 2)
        throw std::invalid_argument("wordpiece: max_len " + std::to_string(max_len) +
                                    " leaves no room for [CLS] and [SEP]");
    std::vector<uint32_t> a = encode(text);
    a.resize(std::min(a.size(), max_len - 2));
    BertEncoding e;
    e.ids.push_back(cls_);
    e.ids.insert(e.ids.end(), a.begin(), a.end());
    e.ids.push_back(sep_);
    e.type_ids.assign(e.ids.size(), 0);
    return e;
}

// Hugging Face's longest_first for a pair that needs budget = max_len - 3 ids
// or fewer: if the shorter text fits in half the budget it is kept whole and
// the longer one is cut to the rest; otherwise both are cut to half, and the
// odd id of an odd budget goes to the second text unless the first was the
// longer. (Removing one id at a time from the longer text, as Google's BERT
// and transformers' old Python tokenizer do, gives the odd id to the first
// text instead when the second is at least as long.)
BertEncoding WordPiece::encode_pair(const std::string& a, const std::string& b, size_t max_len) const {
    if (max_len < 3)
        throw std::invalid_argument("wordpiece: max_len " + std::to_string(max_len) +
                                    " leaves no room for [CLS] and two [SEP]");
    std::vector<uint32_t> ia = encode(a), ib = encode(b);
    size_t budget = max_len - 3;
    if (ia.size() + ib.size() > budget) {
        size_t shorter = std::min(ia.size(), ib.size());
        size_t keep_a, keep_b;
        if (2 * shorter <= budget) {
            keep_a = ia.size() <= ib.size() ? ia.size() : budget - ib.size();
            keep_b = budget - keep_a;
        } else {
            size_t half = budget / 2;
            keep_a = ia.size() > ib.size() ? budget - half : half;
            keep_b = budget - keep_a;
        }
        ia.resize(keep_a);
        ib.resize(keep_b);
    }
    BertEncoding e;
    e.ids.push_back(cls_);
    e.ids.insert(e.ids.end(), ia.begin(), ia.end());
    e.ids.push_back(sep_);
    e.type_ids.assign(e.ids.size(), 0);
    e.ids.insert(e.ids.end(), ib.begin(), ib.end());
    e.ids.push_back(sep_);
    e.type_ids.resize(e.ids.size(), 1);
    return e;
}

// ---- decoding ----------------------------------------------------------------------

// Python's str.isspace(): White_Space plus the separators U+001C..U+001F.
static bool is_python_space(UChar32 c) { return u_isUWhiteSpace(c) || (c >= 0x1C && c <= 0x1F); }

std::string WordPiece::decode(const std::vector<uint32_t>& ids) const {
    std::string joined;
    for (size_t k = 0; k < ids.size(); k++) {
        const std::string& t = token(ids[k]);
        if (k > 0) joined += ' ';
        joined += t;
    }
    // " ".join(tokens).replace(" ##", "").strip()
    std::string out;
    for (size_t i = 0; i < joined.size(); i++) {
        if (joined.compare(i, 3, " ##") == 0) {
            i += 2;
            continue;
        }
        out += joined[i];
    }
    const uint8_t* s = (const uint8_t*)out.data();
    int32_t begin = 0, end = (int32_t)out.size();
    while (begin < end) {
        int32_t i = begin;
        UChar32 c;
        U8_NEXT(s, i, end, c);
        if (!is_python_space(c)) break;
        begin = i;
    }
    while (end > begin) {
        int32_t i = end;
        UChar32 c;
        U8_PREV(s, begin, i, c);
        if (!is_python_space(c)) break;
        end = i;
    }
    return out.substr(begin, end - begin);
}
