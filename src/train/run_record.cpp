#include "train/run_record.h"

#include <glob.h>
#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "core/fileio.h"

#ifndef MINITRAIN_COMMIT
#define MINITRAIN_COMMIT "unknown"
#endif

const char* minitrain_version() { return "0.2.0"; }
const char* minitrain_commit() { return MINITRAIN_COMMIT; }

using json = nlohmann::ordered_json;

namespace {

// The sha256 of a file (hex) and its size, read in 1 MiB pieces.
json file_entry(const std::string& path) {
    uint64_t bytes = 0;
    FilePtr f = open_regular(path, &bytes);
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || !EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr)) throw std::runtime_error(path + ": cannot hash (OpenSSL)");
    std::vector<unsigned char> buf(1 << 20);
    for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0;) EVP_DigestUpdate(ctx.get(), buf.data(), n);
    if (std::ferror(f.get())) throw std::runtime_error(path + ": read error");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &len);
    std::string hex;
    for (unsigned int i = 0; i < len; i++) {
        static const char* digits = "0123456789abcdef";
        hex += digits[digest[i] >> 4], hex += digits[digest[i] & 15];
    }
    return {{"path", path}, {"bytes", bytes}, {"sha256", hex}};
}

// The files a pattern names: glob(3) matches in byte order, or the path itself.
std::vector<std::string> files_of(const std::string& pattern) {
    glob_t g{};
    std::vector<std::string> out;
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) out.push_back(g.gl_pathv[i]);
    globfree(&g);
    if (out.empty()) out.push_back(pattern);
    return out;
}

}  // namespace

std::string data_record(const TrainConfig& cfg) {
    json data = json::array();
    const std::pair<const char*, const std::string*> named[] = {{"train-data", &cfg.train_data}, {"val-data", &cfg.val_data},
                                                                {"test-data", &cfg.test_data},   {"model", &cfg.model},
                                                                {"adapter", &cfg.adapter}};
    for (const auto& [flag, value] : named) {
        if (value->empty()) continue;
        json files = json::array();
        for (const std::string& path : files_of(*value)) files.push_back(file_entry(path));
        data.push_back({{"flag", flag}, {"pattern", *value}, {"files", files}});
    }
    return data.dump();
}

void check_resumed_model(const TrainConfig& cfg) {
    if (cfg.model.empty()) return;
    const std::string path = cfg.checkpoint_dir + "/run.json";
    if (std::filesystem::exists(path)) {
        const json run = json::parse(read_file(path), nullptr, false);
        if (run.is_object() && run.contains("model") && run["model"].is_string() && run["model"] != cfg.model)
            throw std::runtime_error("--model " + cfg.model + ": the run in " + cfg.checkpoint_dir + " started from " +
                                     run["model"].get<std::string>() + " (" + path + ")");
    }
    std::printf("--model %s: the run's starting point; resuming takes the weights from the checkpoint\n", cfg.model.c_str());
}

void write_run_record(const TrainConfig& cfg) {
    if (cfg.run_flags.empty() && cfg.recorded_data.empty()) return;
    const json now = json::parse(data_record(cfg));
    if (!cfg.recorded_data.empty())
        for (const json& was : json::parse(cfg.recorded_data))
            for (const json& is : now)
                if (is["flag"] == was["flag"] && is["pattern"] == was["pattern"] && is["files"] != was["files"])
                    throw std::runtime_error("run file: --" + was["flag"].get<std::string>() + " " +
                                             was["pattern"].get<std::string>() +
                                             " differs from the files it recorded (size or sha256); give the data "
                                             "the run had, or drop the run file's \"minitrain\" record");
    if (cfg.run_flags.empty()) return;
    json record = json::parse(cfg.run_flags);
    record["minitrain"] = {{"version", minitrain_version()}, {"commit", minitrain_commit()}, {"data", now}};
    const std::string text = record.dump(2) + "\n";
    write_atomically(cfg.checkpoint_dir + "/run.json", [&](FILE* f) { std::fputs(text.c_str(), f); });
}
