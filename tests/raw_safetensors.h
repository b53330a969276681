// The tests' own safetensors reader and writer (independent of
// src/formats/safetensors.cpp, which they test), and Hugging Face folders made of them.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support.h"

struct RawTensor {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::string bytes;
};
using RawTensors = std::vector<RawTensor>;

struct RawFile {
    uint64_t header_len = 0;
    nlohmann::json metadata;
    RawTensors tensors;  // in name order
};

inline RawFile read_raw_file(const std::string& path) {
    const std::string file = slurp(path);
    RawFile out;
    for (int k = 0; k < 8; k++) out.header_len |= (uint64_t)(unsigned char)file[k] << (8 * k);
    const nlohmann::json header = nlohmann::json::parse(file.substr(8, out.header_len));
    for (const auto& item : header.items()) {
        if (item.key() == "__metadata__") {
            out.metadata = item.value();
            continue;
        }
        const nlohmann::json& info = item.value();
        const uint64_t begin = info["data_offsets"][0], end = info["data_offsets"][1];
        out.tensors.push_back({item.key(), info["dtype"], info["shape"].get<std::vector<int64_t>>(),
                               file.substr(8 + out.header_len + begin, end - begin)});
    }
    return out;
}

inline RawTensors read_raw(const std::string& path) { return read_raw_file(path).tensors; }

// The 8-byte length, the header, the data.
inline std::string framed(const std::string& header, const std::string& data, uint64_t length) {
    std::string out;
    for (int k = 0; k < 8; k++) out.push_back((char)(length >> (8 * k)));
    return out + header + data;
}
inline std::string framed(const std::string& header, const std::string& data) {
    return framed(header, data, header.size());
}

// A valid file holding the tensors in the given order, data back to back.
inline std::string raw_file(const RawTensors& tensors) {
    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}};
    std::string data;
    for (const RawTensor& t : tensors) {
        nlohmann::ordered_json info;
        info["dtype"] = t.dtype;
        info["shape"] = t.shape;
        info["data_offsets"] = {data.size(), data.size() + t.bytes.size()};
        header[t.name] = info;
        data += t.bytes;
    }
    return framed(header.dump(), data);
}

inline RawTensor& find(RawTensors& tensors, const std::string& name) {
    auto it = std::find_if(tensors.begin(), tensors.end(), [&](const RawTensor& t) { return t.name == name; });
    REQUIRE_MESSAGE(it != tensors.end(), "no tensor " << name);
    return *it;
}

// The tensor renamed, e.g. a copy to add under another name.
inline RawTensor renamed(RawTensor t, const std::string& name) {
    t.name = name;
    return t;
}

// A Hugging Face folder with the config of the folder `from`, edited, and the given tensors.
inline std::string hf_folder(const std::string& from, const TempDir& tmp, const std::string& name,
                             const RawTensors& tensors, const std::function<void(nlohmann::json&)>& edit_config) {
    const std::string dir = tmp.file(name);
    std::filesystem::create_directories(dir);
    nlohmann::json config = nlohmann::json::parse(slurp(from + "/config.json"));
    if (edit_config) edit_config(config);
    spit(dir + "/config.json", config.dump(2));
    spit(dir + "/model.safetensors", raw_file(tensors));
    return dir;
}

// Runs f, which must throw a one-line error that starts with "<file>: " and mentions needle.
inline void check_error(const std::function<void()>& f, const std::string& file, const std::string& needle) {
    const std::string msg = error_of(f);
    INFO("error: " << msg);
    CHECK(msg.rfind(file + ": ", 0) == 0);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find(needle) != std::string::npos);
}
