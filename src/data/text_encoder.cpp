#include "data/text_encoder.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "core/fileio.h"
#include "data/tokenizer.h"

std::shared_ptr<WordPiece> load_wordpiece(const std::string& dir) {
    bool lower = true;
    std::optional<bool> strip_accents;
    const std::string config_path = dir + "/tokenizer_config.json";
    if (std::filesystem::exists(config_path)) {
        nlohmann::json config;
        try {
            config = nlohmann::json::parse(read_file(config_path));
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error(config_path + ": " + e.what());
        }
        auto flag = [&](const char* key) -> std::optional<bool> {
            if (!config.contains(key) || config[key].is_null()) return std::nullopt;
            if (!config[key].is_boolean()) throw std::runtime_error(config_path + ": " + key + " is not true, false or null");
            return config[key].get<bool>();
        };
        lower = flag("do_lower_case").value_or(true);
        strip_accents = flag("strip_accents");
    }
    return std::make_shared<WordPiece>(dir + "/vocab.txt", lower, strip_accents);
}

Encoder make_encoder(const std::string& spec, int max_len, bool pairs) {
    const std::string wordpiece_prefix = "wordpiece:";
    if (spec.rfind(wordpiece_prefix, 0) == 0) {
        if (max_len < 3) throw std::runtime_error("--max-len " + std::to_string(max_len) + ": wordpiece needs at least 3 (for [CLS] and [SEP])");
        std::shared_ptr<WordPiece> wp = load_wordpiece(spec.substr(wordpiece_prefix.size()));
        auto encode = [wp, max_len](const std::string& text, const std::string& pair, std::vector<int32_t>& ids,
                                    std::vector<uint8_t>& types) {
            BertEncoding e = pair.empty() ? wp->encode_single(text, max_len) : wp->encode_pair(text, pair, max_len);
            ids.assign(e.ids.begin(), e.ids.end());
            types.assign(e.type_ids.begin(), e.type_ids.end());
        };
        return {encode, wp->vocab_size()};
    }
    if (pairs)
        throw std::runtime_error("--pair-column needs --tokenizer wordpiece:DIR (" + spec +
                                 " has no separator convention for a pair of texts)");
    std::shared_ptr<Tokenizer> tok = make_tokenizer(spec);
    auto encode = [tok, max_len](const std::string& text, const std::string&, std::vector<int32_t>& ids,
                                     std::vector<uint8_t>& types) {
        std::vector<uint32_t> all = tok->encode(text);
        ids.assign(all.begin(), all.begin() + std::min<size_t>(all.size(), max_len));
        types.assign(ids.size(), 0);
    };
    return {encode, tok->vocab_size()};
}

