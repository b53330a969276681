// generate: text from a GPT-2 language model.
//
//   bin/generate --model out/step_00002000/model.bin [--tokenizer byte|DIR]
//                [--prompt TEXT | --input FILE] [--max-tokens 200]
//                [--temperature 0.8] [--top-k 40] [--top-p 1] [--seed 1337]
//
// With --prompt, one completion of it; with --input, one completion per line
// of the file (each printed after its prompt, completions separated by a
// blank line). Without either, prompts come from standard input, a line
// each; on a terminal that is an interactive session ("> " before each
// prompt, Ctrl-D ends it). Generation stops after --max-tokens or at the
// tokenizer's end-of-text token (GPT-2's <|endoftext|>), unless --no-stop.
#include <unistd.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/tool_args.h"
#include "core/threads.h"
#include "data/tokenizer.h"
#include "formats/weights.h"
#include "models/sampler.h"

namespace {

struct Generator {
    std::unique_ptr<Backend> be;
    std::unique_ptr<GPT2> model;
    std::unique_ptr<Tokenizer> tok;
    Sampling sampling;
    int max_tokens = 200;
    bool stop_at_eot = true;
    uint64_t rng = 0;

    // Prints prompt + completion as the tokens come.
    void complete(const std::string& text) {
        std::vector<int> prompt;
        for (uint32_t id : tok->encode(text)) prompt.push_back((int)id);
        if (prompt.empty()) prompt.push_back(tok->eot() >= 0 ? tok->eot() : 0);
        std::fwrite(text.data(), 1, text.size(), stdout);
        generate(*model, prompt, max_tokens, sampling, rng, [&](int id) {
            if (stop_at_eot && id == tok->eot()) return false;
            const std::string bytes = tok->decode_token((uint32_t)id);
            std::fwrite(bytes.data(), 1, bytes.size(), stdout);
            std::fflush(stdout);
            return true;
        });
        std::printf("\n");
    }
};

// The model, checked to be a GPT-2 language model that the tokenizer fits.
void load(Generator& g, const std::string& path, const std::string& tokenizer, const std::string& device) {
    const WeightFile wf = read_weight_file(path);
    if (wf.arch != "gpt2") throw std::runtime_error("--model " + path + ": a " + wf.arch + " model; generation needs a GPT-2");
    if (wf.adapter) throw std::runtime_error("--model " + path + ": an adapter file; give the whole model (a checkpoint's model.bin)");
    GPT2Config cfg = read_gpt2_config(path);
    if (cfg.num_labels) throw std::runtime_error("--model " + path + ": a classifier, not a language model");
    g.tok = make_tokenizer(tokenizer);
    if (g.tok->vocab_size() != cfg.V)
        throw std::runtime_error("--tokenizer " + tokenizer + ": " + std::to_string(g.tok->vocab_size()) +
                                 " tokens, but the model has " + std::to_string(cfg.V) +
                                 " (give the tokenizer it was trained with)");
    g.be.reset(make_backend(device.c_str()));
    g.model = std::make_unique<GPT2>(*g.be, cfg, 1, cfg.max_T - cfg.prompt.n);
    g.model->allocate();
    load_weights(path, *g.model);
}

// Prompts a line each from `in`; on a terminal with "> " before each.
void complete_lines(Generator& g, std::istream& in, bool interactive) {
    bool first = true;
    for (std::string line;;) {
        if (interactive) std::printf("> "), std::fflush(stdout);
        if (!std::getline(in, line)) break;
        if (!first && !interactive) std::printf("\n");
        g.complete(line);
        first = false;
    }
    if (interactive) std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    use_polite_omp_waits(argv);
    cxxopts::Options options("generate", "Text from a GPT-2 language model (see README.md).");
    options.add_options()
        ("model", "a GPT-2 weight file (minitrain or llm.c v3)", cxxopts::value<std::string>())
        ("tokenizer", "byte, or a directory with GPT-2 BPE files (the model's own)", cxxopts::value<std::string>()->default_value("byte"))
        ("prompt", "the text to continue", cxxopts::value<std::string>())
        ("input", "a file of prompts, one a line", cxxopts::value<std::string>())
        ("max-tokens", "tokens to generate per prompt", cxxopts::value<int>()->default_value("200"))
        ("temperature", "sampling temperature (0: greedy)", cxxopts::value<float>()->default_value("0.8"))
        ("top-k", "sample among the k most likely tokens (0: all)", cxxopts::value<int>()->default_value("40"))
        ("top-p", "then among the fewest whose probabilities sum to p (1: all)", cxxopts::value<float>()->default_value("1"))
        ("seed", "seed of the sampling", cxxopts::value<uint64_t>()->default_value("1337"))
        ("no-stop", "do not stop at the end-of-text token")
        ("device", "cpu, cuda or cuda-bf16", cxxopts::value<std::string>()->default_value("cpu"))
        ("h,help", "print this help");
    try {
        cxxopts::ParseResult args;
        if (!parse_tool_args(options, argc, argv, args, {"model"})) return 0;
        if (args.count("prompt") && args.count("input")) throw std::runtime_error("--prompt and --input are exclusive: give one");
        Generator g;
        g.max_tokens = args["max-tokens"].as<int>();
        g.sampling.temperature = args["temperature"].as<float>();
        g.sampling.top_k = args["top-k"].as<int>();
        g.sampling.top_p = args["top-p"].as<float>();
        g.rng = args["seed"].as<uint64_t>();
        g.stop_at_eot = !args.count("no-stop");
        if (g.max_tokens < 1) throw std::runtime_error("--max-tokens must be >= 1");
        if (!(g.sampling.temperature >= 0.0f)) throw std::runtime_error("--temperature must be >= 0");
        if (g.sampling.top_k < 0) throw std::runtime_error("--top-k must be >= 0");
        if (!(g.sampling.top_p > 0.0f && g.sampling.top_p <= 1.0f)) throw std::runtime_error("--top-p must be in (0, 1]");
        load(g, args["model"].as<std::string>(), args["tokenizer"].as<std::string>(), args["device"].as<std::string>());
        if (args.count("prompt")) {
            g.complete(args["prompt"].as<std::string>());
        } else if (args.count("input")) {
            const std::string path = args["input"].as<std::string>();
            std::ifstream in(path);
            if (!in) throw std::runtime_error("--input " + path + ": cannot open");
            complete_lines(g, in, false);
        } else {
            complete_lines(g, std::cin, isatty(fileno(stdin)) && isatty(fileno(stdout)));
        }
        return 0;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "generate: %s\n", e.what());
        return 1;
    }
}
