#include "data/text_encoder.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

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


namespace {

const char kWordpiece[] = "wordpiece:";

// The files a spec reads, as (Hugging Face's name, path); none for byte.
std::vector<std::pair<std::string, std::string>> tokenizer_files(const std::string& spec) {
    namespace fs = std::filesystem;
    if (spec == "byte") return {};
    if (spec.rfind(kWordpiece, 0) == 0) {
        const fs::path dir = spec.substr(sizeof kWordpiece - 1);
        std::vector<std::pair<std::string, std::string>> files = {{"vocab.txt", (dir / "vocab.txt").string()}};
        if (fs::exists(dir / "tokenizer_config.json"))
            files.push_back({"tokenizer_config.json", (dir / "tokenizer_config.json").string()});
        return files;
    }
    const fs::path dir = spec;
    const bool openai = fs::exists(dir / "encoder.json");
    return {{"vocab.json", (dir / (openai ? "encoder.json" : "vocab.json")).string()},
            {"merges.txt", (dir / (openai ? "vocab.bpe" : "merges.txt")).string()}};
}

std::string kind_of(const std::string& spec) {
    return spec == "byte" ? "byte" : spec.rfind(kWordpiece, 0) == 0 ? "wordpiece" : "bpe";
}

}  // namespace

std::string absolute_tokenizer(const std::string& spec) {
    if (spec == "byte") return spec;
    if (spec.rfind(kWordpiece, 0) == 0)
        return kWordpiece + std::filesystem::absolute(spec.substr(sizeof kWordpiece - 1)).lexically_normal().string();
    return std::filesystem::absolute(spec).lexically_normal().string();
}

void save_tokenizer(const std::string& spec, const std::string& dir) {
    for (const auto& [name, path] : tokenizer_files(spec)) {
        const std::string bytes = read_file(path);
        write_atomically(dir + "/" + name, [&](FILE* f) { std::fwrite(bytes.data(), 1, bytes.size(), f); });
    }
    const std::string kind = kind_of(spec) + "\n";
    write_atomically(dir + "/tokenizer.txt", [&](FILE* f) { std::fputs(kind.c_str(), f); });
}

std::string saved_tokenizer(const std::string& dir) {
    const std::string marker = dir + "/tokenizer.txt";
    if (!std::filesystem::exists(marker)) return "";
    std::string kind = read_file(marker);
    while (!kind.empty() && (kind.back() == '\n' || kind.back() == '\r')) kind.pop_back();
    if (kind == "byte") return kind;
    if (kind == "wordpiece") return kWordpiece + dir;
    if (kind == "bpe") return dir;
    throw std::runtime_error(marker + ": unknown tokenizer kind '" + kind + "' (expected byte, wordpiece or bpe)");
}

bool same_tokenizer(const std::string& a, const std::string& b) {
    if (kind_of(a) != kind_of(b)) return false;
    const auto fa = tokenizer_files(a), fb = tokenizer_files(b);
    if (fa.size() != fb.size()) return false;
    for (size_t i = 0; i < fa.size(); i++)
        if (fa[i].first != fb[i].first || read_file(fa[i].second) != read_file(fb[i].second)) return false;
    return true;
}
