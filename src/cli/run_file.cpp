#include "cli/run_file.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/flags.h"
#include "core/fileio.h"

using json = nlohmann::ordered_json;

namespace {

// The argument that sets `flag` to `value`, or "" (a switch left off).
std::string flag_arg(const std::string& file, const std::string& key, const Flag& flag, const json& value) {
    auto wrong = [&](const char* kind) {
        return std::runtime_error(file + ": key '" + key + "' takes " + kind + ", not " + value.dump());
    };
    return std::visit(
        [&](auto field) -> std::string {
            using T = std::decay_t<decltype(TrainConfig{}.*field)>;
            if constexpr (std::is_same_v<T, bool>) {
                if (!value.is_boolean()) throw wrong("true or false");
                return value.get<bool>() ? "--" + key : "";
            } else if constexpr (std::is_same_v<T, std::string>) {
                if (!value.is_string()) throw wrong("a string");
                return "--" + key + "=" + value.get<std::string>();
            } else if constexpr (std::is_same_v<T, float>) {
                if (!value.is_number()) throw wrong("a number");
                return "--" + key + "=" + value.dump();
            } else {
                if (!value.is_number_integer() || (std::is_unsigned_v<T> && !value.is_number_unsigned()))
                    throw wrong(std::is_unsigned_v<T> ? "a non-negative integer" : "an integer");
                return "--" + key + "=" + value.dump();
            }
        },
        flag.field);
}

RunFile read_run_file(const std::string& path) {
    RunFile rf;
    rf.path = path;
    json j;
    try {
        j = json::parse(read_file(path));
    } catch (const json::exception& e) {
        throw std::runtime_error(path + ": not a JSON run file (" + std::string(e.what()) + ")");
    }
    if (!j.is_object()) throw std::runtime_error(path + ": a run file is a JSON object of flags");
    for (const auto& [key, value] : j.items()) {
        if (key == "minitrain") {
            if (!value.is_object() || !value.contains("data") || !value["data"].is_array())
                throw std::runtime_error(path + ": \"minitrain\" must be the record a run wrote (with its \"data\")");
            rf.recorded_data = value["data"].dump();
            continue;
        }
        const Flag* flag = find_flag(key);
        if (!flag) throw std::runtime_error(path + ": unknown key '" + key + "' (not a ./train flag)");
        const std::string arg = flag_arg(path, key, *flag, value);
        if (!arg.empty()) rf.args.push_back(arg);
    }
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

std::string flags_json(const TrainConfig& cfg) {
    json j = json::object();
    for (const Flag& f : train_flags())
        std::visit(
            [&](auto field) {
                const auto& v = cfg.*field;
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, bool>) j[f.name] = v != f.inverted;
                else if constexpr (std::is_same_v<T, float>) j[f.name] = std::stod(shortest_float(v));
                else j[f.name] = v;
            },
            f.field);
    return j.dump();
}
