#include "train/log.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

RunLog::RunLog(const std::string& p) : path(p), file(std::fopen(p.c_str(), "a"), std::fclose) {
    if (!file) throw std::runtime_error(path + ": cannot open the log for writing");
}

void RunLog::record(const std::string& fields) {
    if (std::fprintf(file.get(), "{%s}\n", fields.c_str()) < 0) throw std::runtime_error(path + ": cannot write the log");
}

void RunLog::flush() {
    if (std::fflush(file.get()) != 0) throw std::runtime_error(path + ": cannot write the log (is the disk full?)");
}

void RunLog::sync() {
    flush();
    if (fsync(fileno(file.get())) != 0) throw std::runtime_error(path + ": cannot write the log (fsync failed)");
}

void truncate_log(const std::string& path, int64_t step) {
    if (!std::filesystem::exists(path)) return;
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::string kept;
    for (size_t i = 0; i < lines.size(); i++) {
        const nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, false);
        if (j.is_discarded()) {
            if (i + 1 == lines.size()) break;  // the unfinished record a kill leaves
            throw std::runtime_error(path + ": line " + std::to_string(i + 1) + " is not a JSON record");
        }
        if (j.contains("step") && j["step"].is_number() && j["step"].get<int64_t>() > step) continue;
        kept += lines[i] + "\n";
    }
    write_atomically(path, [&](FILE* f) { std::fputs(kept.c_str(), f); });
}
