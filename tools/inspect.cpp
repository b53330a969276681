// inspect: prints what a weight file holds (format, architecture, config and
// tensor table), after the same checks a load makes short of reading the data.
//
//   bin/inspect FILE
#include <cxxopts.hpp>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "formats/weights.h"

// 124475904 -> "124,475,904"
static std::string grouped(uint64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); i++) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

static void print(const std::string& path, const WeightFile& wf) {
    std::printf("file          %s\n", path.c_str());
    std::printf("format        %s\n", wf.format.c_str());
    std::printf("architecture  %s\n", wf.arch.c_str());
    std::string config;
    for (const auto& field : wf.config)
        config += (config.empty() ? "" : ", ") + field.first + " " + std::to_string(field.second);
    std::printf("config        %s\n", config.c_str());
    std::printf("tensors       %zu\n", wf.tensors.size());

    int name_width = 4;
    for (const StoredTensor& t : wf.tensors) name_width = std::max(name_width, (int)t.name.size());
    std::printf("  %-*s  %-16s  %12s  %12s\n", name_width, "name", "shape", "offset", "bytes");
    uint64_t total = 0;
    for (const StoredTensor& t : wf.tensors) {
        std::printf("  %-*s  %-16s  %12llu  %12llu\n", name_width, t.name.c_str(), t.shape_str().c_str(),
                    (unsigned long long)t.offset, (unsigned long long)t.bytes);
        total += t.bytes / sizeof(float);
    }
    std::printf("parameters    %s (%s bytes of fp32 in a %s-byte file)\n", grouped(total).c_str(),
                grouped(total * sizeof(float)).c_str(), grouped(wf.file_bytes).c_str());
}

int main(int argc, char** argv) {
    cxxopts::Options options("inspect", "Checks a weight file (minitrain or llm.c v3) and prints its "
                                        "format, architecture, config and tensor table.");
    options.positional_help("FILE");
    options.add_options()
        ("file", "the weight file", cxxopts::value<std::string>())
        ("h,help", "print this help");
    options.parse_positional({"file"});
    try {
        auto args = options.parse(argc, argv);
        if (args.count("help")) {
            std::printf("%s\n", options.help().c_str());
            return 0;
        }
        if (!args.count("file")) throw std::runtime_error("no file given (usage: inspect FILE)");
        if (!args.unmatched().empty())
            throw std::runtime_error("one file at a time (unexpected '" + args.unmatched().front() + "')");
        const std::string path = args["file"].as<std::string>();
        print(path, read_weight_file(path));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "inspect: %s\n", e.what());
        return 1;
    }
    return 0;
}
