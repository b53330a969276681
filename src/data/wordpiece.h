// BERT's WordPiece tokenizer: text (UTF-8) -> token ids, exactly as Hugging
// Face's BertTokenizer computes them (transformers 5, which runs the
// `tokenizers` pipeline BertNormalizer + BertPreTokenizer + WordPiece + the
// [CLS]/[SEP] template).
//
// encode() runs, in order:
//   0. split off the special tokens written in the text, spelled exactly
//      ("[MASK]" is the mask token, "[mask]" is three words), and run the
//      steps below on the text between them;
//   1. clean: drop NUL, U+FFFD, bytes that are not UTF-8 and control
//      characters (categories Cc, Cf, Co, except tab, LF and CR); make every
//      whitespace character a space;
//   2. put a space on each side of every CJK ideograph, so each is a word;
//   3. strip accents (NFD, then drop nonspacing marks Mn), when enabled;
//   4. lower-case (full case mapping, one character at a time), when enabled;
//   5. split on spaces, and make each punctuation character a word of its own
//      (ASCII !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ and Unicode categories P*);
//   6. WordPiece: split each word greedily into the longest vocabulary pieces
//      from the left, later pieces spelled "##piece"; a word with a part no
//      piece covers, or longer than 100 characters, becomes one [UNK].
// Categories and decompositions follow tokenizers' Unicode 8.0 tables, not
// ICU's newer ones, so that ids match for every character; lower-casing uses
// ICU's case data (see wordpiece.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

// One model input: ids with [CLS]/[SEP], and the segment (token type) of each:
// 0 for [CLS], the first text and its [SEP]; 1 for the second text and its [SEP].
struct BertEncoding {
    std::vector<uint32_t> ids;
    std::vector<uint32_t> type_ids;
};

class WordPiece {
public:
    // vocab_path: one token per line, id = line number (0-based). strip_accents
    // unset means "same as do_lower_case", as in BERT and Hugging Face.
    // Throws std::runtime_error("<path>: <problem>") for a missing or empty
    // file, or one without [PAD], [UNK], [CLS], [SEP] and [MASK].
    explicit WordPiece(const std::string& vocab_path, bool do_lower_case = true,
                       std::optional<bool> strip_accents = std::nullopt);
    // The maps below hold views into tokens_, which a copy would not update.
    WordPiece(const WordPiece&) = delete;
    WordPiece& operator=(const WordPiece&) = delete;
    WordPiece(WordPiece&&) = default;

    std::vector<uint32_t> encode(const std::string& text) const;
    // [CLS] text [SEP], the text's ids cut to max_len - 2. Needs max_len >= 2.
    BertEncoding encode_single(const std::string& text, size_t max_len) const;
    // [CLS] a [SEP] b [SEP], at most max_len ids (needs max_len >= 3), cut by
    // Hugging Face's "longest_first" (see wordpiece.cpp for its exact split).
    // An empty b still gives the pair form, as tokenizers and transformers'
    // batched calls do (a single transformers call drops an empty pair).
    BertEncoding encode_pair(const std::string& a, const std::string& b, size_t max_len) const;
    // Tokens joined by spaces, "##" pieces glued to the token before, the ends
    // trimmed: convert_tokens_to_string of transformers' Python BertTokenizer
    // (BertTokenizerLegacy in transformers 5). Specials are kept.
    // Throws std::runtime_error for an id >= vocab_size().
    std::string decode(const std::vector<uint32_t>& ids) const;

    // The words after step 5 (BERT's BasicTokenizer), before WordPiece; a
    // special token written in the text is one word.
    std::vector<std::string> words(const std::string& text) const;

    int vocab_size() const { return (int)tokens_.size(); }
    const std::string& token(uint32_t id) const;  // throws for id >= vocab_size()
    int id_of(std::string_view token) const;      // -1 when not in the vocabulary
    uint32_t pad() const { return pad_; }
    uint32_t unk() const { return unk_; }
    uint32_t cls() const { return cls_; }
    uint32_t sep() const { return sep_; }
    uint32_t mask() const { return mask_; }

private:
    struct Words;  // the output of steps 0-5 (wordpiece.cpp)
    void split_words(std::string_view text, Words& out) const;
    void split_plain(std::string_view text, Words& out) const;
    void wordpiece(std::string_view word, size_t nchars, std::vector<uint32_t>& out) const;

    std::vector<std::string> tokens_;                         // id -> token
    std::unordered_map<std::string_view, uint32_t> first_;    // token -> id
    std::unordered_map<std::string_view, uint32_t> cont_;     // "##x" tokens: x -> id
    size_t longest_ = 0;                                      // bytes in the longest token
    bool lower_, strip_accents_;
    uint32_t pad_, unk_, cls_, sep_, mask_;
};
