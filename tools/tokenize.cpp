// tokenize: turns a text file into token files for ./train.
//
//   bin/tokenize --tokenizer byte|DIR --input text.txt --output train.bin
//                [--val-output val.bin [--val-fraction 0.1]] [--append-eot]
//
// The whole text is encoded at once; with --val-output the last val-fraction
// of the tokens go to the validation file and the rest to --output.
#include <cxxopts.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cli/tool_args.h"
#include "core/fileio.h"
#include "data/tokenfile.h"
#include "data/tokenizer.h"

static void write_tokens(const std::string& path, std::vector<uint32_t> tokens, const Tokenizer& tok, bool eot) {
    if (eot) tokens.push_back((uint32_t)tok.eot());
    write_token_file(path, tokens, tok.vocab_size());
    std::printf("%s: %zu tokens\n", path.c_str(), tokens.size());
}

int main(int argc, char** argv) {
    cxxopts::Options options("tokenize", "Encodes a text file into token files (llm.c's format) for ./train.");
    options.add_options()
        ("tokenizer", "byte, or a directory with GPT-2 BPE files (encoder.json + vocab.bpe, or vocab.json + merges.txt)",
         cxxopts::value<std::string>()->default_value("byte"))
        ("input", "the text file (UTF-8)", cxxopts::value<std::string>())
        ("output", "the token file to write (all tokens, or the training part with --val-output)",
         cxxopts::value<std::string>())
        ("val-output", "also write a validation token file, from the end of the text", cxxopts::value<std::string>())
        ("val-fraction", "share of the tokens that go to --val-output", cxxopts::value<std::string>()->default_value("0.1"))
        ("append-eot", "end each file with the end-of-text token (BPE only)")
        ("h,help", "print this help");
    try {
        cxxopts::ParseResult args;
        if (!parse_tool_args(options, argc, argv, args, {"input", "output"})) return 0;
        bool split = args.count("val-output") > 0;
        if (args.count("val-fraction") && !split) throw std::runtime_error("--val-fraction needs --val-output");
        // Parsed here rather than by cxxopts, whose error would not name the flag.
        const std::string fraction = args["val-fraction"].as<std::string>();
        char* end = nullptr;
        double val_fraction = std::strtod(fraction.c_str(), &end);
        if (end == fraction.c_str() || *end != '\0' || !(val_fraction > 0 && val_fraction < 1))
            throw std::runtime_error("--val-fraction " + fraction + ": expected a number strictly between 0 and 1");

        const std::string tokenizer = args["tokenizer"].as<std::string>();
        std::unique_ptr<Tokenizer> tok = make_tokenizer(tokenizer);
        bool eot = args.count("append-eot") > 0;
        if (eot && tok->eot() < 0)
            throw std::runtime_error("--append-eot: tokenizer " + tokenizer + " has no end-of-text token");

        const std::string input = args["input"].as<std::string>();
        std::string text = read_file(input);
        if (text.empty()) throw std::runtime_error(input + ": empty file");
        auto start = std::chrono::steady_clock::now();
        std::vector<uint32_t> tokens = tok->encode(text);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("%s: %zu bytes -> %zu tokens in %.2f s\n", input.c_str(), text.size(), tokens.size(), seconds);

        if (!split) {
            write_tokens(args["output"].as<std::string>(), std::move(tokens), *tok, eot);
            return 0;
        }
        size_t nval = (size_t)std::llround(val_fraction * (double)tokens.size());
        if (nval == 0 || nval == tokens.size())
            throw std::runtime_error("--val-fraction " + fraction + " of the " + std::to_string(tokens.size()) +
                                     " tokens in " + input + " leaves one file empty");
        auto cut = tokens.end() - (std::ptrdiff_t)nval;
        write_tokens(args["output"].as<std::string>(), std::vector<uint32_t>(tokens.begin(), cut), *tok, eot);
        write_tokens(args["val-output"].as<std::string>(), std::vector<uint32_t>(cut, tokens.end()), *tok, eot);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tokenize: %s\n", e.what());
        return 1;
    }
    return 0;
}
