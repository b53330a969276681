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
