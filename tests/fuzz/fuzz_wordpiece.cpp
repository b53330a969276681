// WordPiece vocabularies (vocab.txt, and tokenizer_config.json when the
// input has a second part) through make_encoder("wordpiece:DIR"), as
// bin/make_examples and bin/predict load them, then a text and a pair
// encoded and the ids decoded again. The input is both files (split_input:
// a 4-byte length, vocab.txt, then tokenizer_config.json).
#include <filesystem>
#include <string>
#include <vector>

#include "data/text_encoder.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string vocab, config;
    if (!split_input(data, size, vocab, config)) return 0;
    write_input("vocab.txt", vocab);
    const std::string config_path = scratch_dir() + "/tokenizer_config.json";
    if (config.empty()) std::filesystem::remove(config_path);
    else write_input("tokenizer_config.json", config);

    // Accents, case, CJK, punctuation, control characters and a special token written in the text.
    const std::string text = "Héllo, WORLD! naïve café 東京タワー [MASK] un\x01known\xe2\x80\x8bword";
    const std::string pair = "the second   text's words...";
    Encoder encoder;
    if (!accepts([&] { encoder = make_encoder("wordpiece:" + scratch_dir(), 16, true); })) return 0;
    std::vector<int32_t> ids;
    std::vector<uint8_t> types;
    encoder.encode(text, "", ids, types);
    encoder.encode(text, pair, ids, types);
    const std::shared_ptr<WordPiece> wp = load_wordpiece(scratch_dir());
    wp->decode(wp->encode(text + " " + pair));
    return 0;
}
