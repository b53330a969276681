#include "cli/tool_args.h"

#include <cstdio>
#include <stdexcept>
#include <string>

bool parse_tool_args(cxxopts::Options& options, int argc, char** argv, cxxopts::ParseResult& out,
                     std::initializer_list<const char*> required) {
    out = options.parse(argc, argv);
    if (out.count("help")) {
        std::printf("%s\n", options.help().c_str());
        return false;
    }
    if (!out.unmatched().empty()) throw std::runtime_error("unexpected argument '" + out.unmatched().front() + "'");
    for (const char* flag : required)
        if (!out.count(flag)) throw std::runtime_error(std::string("--") + flag + " is required (see --help)");
    return true;
}
