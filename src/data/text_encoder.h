// Text (or a pair of texts) to model input ids and token types, for the
// classification tools: bin/make_examples and bin/predict encode alike.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/wordpiece.h"

struct Encoder {
    // pair empty = a single text.
    std::function<void(const std::string& text, const std::string& pair, std::vector<int32_t>& ids,
                       std::vector<uint8_t>& types)>
        encode;
    int vocab_size;
};

// DIR/vocab.txt, with do_lower_case and strip_accents from DIR/tokenizer_config.json
// when it exists (Hugging Face's defaults otherwise: lower-case, strip accents).
std::shared_ptr<WordPiece> load_wordpiece(const std::string& dir);

// "wordpiece:DIR" adds BERT's [CLS] / [SEP] and handles pairs; "byte" or a GPT-2
// BPE directory encode one text, cut to its first max_len ids. A new tokenizer
// is one more branch here. Throws for pairs with a tokenizer that has no
// convention for them.
Encoder make_encoder(const std::string& spec, int max_len, bool pairs);

// A tokenizer as files, so that a model's folder can carry the one it was
// trained with (as Hugging Face's save_pretrained does). Specs are those of
// make_encoder: "byte", "wordpiece:DIR", or a GPT-2 BPE directory.

// The spec with its directory made absolute (it then names the same files from anywhere).
std::string absolute_tokenizer(const std::string& spec);

// Copies the tokenizer's files into dir under Hugging Face's names (vocab.txt
// and tokenizer_config.json; vocab.json and merges.txt), and tokenizer.txt
// naming the kind ("byte", "wordpiece", "bpe").
void save_tokenizer(const std::string& spec, const std::string& dir);

// The tokenizer save_tokenizer put in dir, as a spec; "" when there is none.
std::string saved_tokenizer(const std::string& dir);

// Whether two specs are the same tokenizer: the same kind, and files with the same bytes.
bool same_tokenizer(const std::string& a, const std::string& b);
