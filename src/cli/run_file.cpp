#include "cli/run_file.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/flags.h"
#include "core/fileio.h"
#include "formats/hf_convert.h"

using json = nlohmann::ordered_json;

namespace {

// Sets the field of `flag` from a run file's value, checking its kind.
void set_field(const std::string& file, const std::string& key, const Flag& flag, const json& value, TrainConfig& cfg) {
    auto wrong = [&](const char* kind) {
        return std::runtime_error(file + ": key '" + key + "' takes " + kind + ", not " + value.dump());
    };
    std::visit(
        [&](auto field) {
            using T = std::decay_t<decltype(cfg.*field)>;
            if constexpr (std::is_same_v<T, bool>) {
                if (!value.is_boolean()) throw wrong("true or false");
                cfg.*field = value.get<bool>() != flag.inverted;
            } else if constexpr (std::is_same_v<T, std::string>) {
                if (!value.is_string()) throw wrong("a string");
                cfg.*field = value.get<std::string>();
            } else if constexpr (std::is_same_v<T, float>) {
                if (!value.is_number()) throw wrong("a number");
                cfg.*field = std::strtof(value.dump().c_str(), nullptr);  // as the same text on the command line
            } else if constexpr (std::is_same_v<T, uint64_t>) {
                if (!value.is_number_unsigned()) throw wrong("a non-negative integer");
                cfg.*field = value.get<uint64_t>();
            } else {
                if (!value.is_number_integer() || value.get<int64_t>() != (int64_t)value.get<int>()) throw wrong("an integer");
                cfg.*field = value.get<int>();
            }
        },
        flag.field);
}

// The "minitrain" record as run.json has it: "data" lists, per data flag,
// {"flag": name, "pattern": its value, "files": [...]}; write_run_record
// compares those fields with the data now, so each must be there.
bool is_run_record(const json& record) {
    if (!record.is_object() || !record.contains("data") || !record["data"].is_array()) return false;
    for (const json& entry : record["data"])
        if (!entry.is_object() || !entry.contains("flag") || !entry["flag"].is_string() || !entry.contains("pattern") ||
            !entry["pattern"].is_string() || !entry.contains("files") || !entry["files"].is_array())
            return false;
    return true;
}

RunFile read_run_file(const std::string& path) {
    RunFile rf;
    rf.path = path;
    try {
        rf.flags = json::parse(read_file(path));
    } catch (const json::exception& e) {
        throw std::runtime_error(path + ": not a JSON run file (" + std::string(e.what()) + ")");
    }
    if (!rf.flags.is_object()) throw std::runtime_error(path + ": a run file is a JSON object of flags");
    if (rf.flags.contains("minitrain")) {
        if (!is_run_record(rf.flags["minitrain"]))
            throw std::runtime_error(path + ": \"minitrain\" must be the record a run wrote (with its \"data\")");
        rf.recorded_data = rf.flags["minitrain"]["data"].dump();
        rf.flags.erase("minitrain");
    }
    for (const auto& [key, value] : rf.flags.items())
        if (!find_flag(key)) throw std::runtime_error(path + ": unknown key '" + key + "' (not a ./train flag)");
    return rf;
}

}  // namespace

RunFile read_run_file_arg(int argc, char** argv) {
    const std::string flag = "--config-file";
    std::string path;
    int found = 0;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == flag && i + 1 < argc) path = argv[++i], found++;
        else if (a.rfind(flag + "=", 0) == 0) path = a.substr(flag.size() + 1), found++;
    }
    if (found > 1) throw std::runtime_error("--config-file: give one run file");
    if (found && path.empty()) throw std::runtime_error("--config-file: empty path");
    return found ? read_run_file(path) : RunFile{};
}

std::string RunFile::task() const {
    return flags.contains("task") && flags["task"].is_string() ? flags["task"].get<std::string>() : "lm";
}

void apply_run_file(const RunFile& rf, TrainConfig& cfg) {
    for (const auto& [key, value] : rf.flags.items()) set_field(rf.path, key, *find_flag(key), value, cfg);
}

RunFile apply_run_file_arg(int argc, char** argv, TrainConfig& cfg) {
    RunFile rf = read_run_file_arg(argc, argv);
    apply_run_file(rf, cfg);
    return rf;
}

std::string flags_json(const TrainConfig& cfg) {
    json j = json::object();
    for (const Flag& f : train_flags())
        std::visit(
            [&](auto field) {
                const auto& v = cfg.*field;
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, bool>) j[f.name] = v != f.inverted;
                else if constexpr (std::is_same_v<T, float>) j[f.name] = shortest_decimal(v);
                else j[f.name] = v;
            },
            f.field);
    return j.dump();
}
