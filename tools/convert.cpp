// convert: GPT-2 and BERT weights between a Hugging Face folder (config.json +
// model.safetensors) and a minitrain weight file.
//
//   bin/convert --from-hf DIR --output model.bin   (config.json's model_type picks gpt2 or bert)
//   bin/convert --to-hf model.bin --output DIR     (the file's architecture picks; model.bin may be
//                                                   an llm.c v3 checkpoint)
#include <cxxopts.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "hf_convert.h"

int main(int argc, char** argv) {
    cxxopts::Options options("convert", "Converts GPT-2 and BERT weights between a Hugging Face folder "
                                        "(config.json + model.safetensors, as save_pretrained writes it for "
                                        "GPT2LMHeadModel, BertModel, BertForMaskedLM or "
                                        "BertForSequenceClassification) and a minitrain weight file.");
    options.add_options()
        ("from-hf", "Hugging Face folder to read; --output names the weight file to write", cxxopts::value<std::string>(), "DIR")
        ("to-hf", "minitrain or llm.c weight file to read; --output names the folder to write", cxxopts::value<std::string>(), "FILE")
        ("o,output", "where to write", cxxopts::value<std::string>(), "PATH")
        ("h,help", "print this help");
    try {
        auto args = options.parse(argc, argv);
        if (args.count("help")) {
            std::printf("%s\n", options.help().c_str());
            return 0;
        }
        if (!args.unmatched().empty())
            throw std::runtime_error("unexpected argument '" + args.unmatched().front() + "' (see --help)");
        if (args.count("from-hf") + args.count("to-hf") != 1)
            throw std::runtime_error("give exactly one of --from-hf DIR and --to-hf FILE (see --help)");
        if (!args.count("output")) throw std::runtime_error("no --output given (see --help)");
        const std::string output = args["output"].as<std::string>();
        if (args.count("from-hf")) {
            convert_hf_to_minitrain(args["from-hf"].as<std::string>(), output);
        } else {
            convert_minitrain_to_hf(args["to-hf"].as<std::string>(), output);
        }
        std::printf("wrote %s\n", output.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convert: %s\n", e.what());
        return 1;
    }
    return 0;
}
