// convert: GPT-2 and BERT weights between a Hugging Face folder (config.json +
// model.safetensors) and a minitrain weight file, and LoRA adapters to PEFT.
//
//   bin/convert --from-hf DIR --output model.bin   (config.json's model_type picks gpt2 or bert)
//   bin/convert --to-hf model.bin --output DIR     (the file's architecture picks; model.bin may be
//                                                   an llm.c v3 checkpoint; a model with LoRA is
//                                                   written with the adapters merged)
//   bin/convert --to-peft model.bin --output DIR [--base NAME]
//                                                  (a LoRA model's adapters as a PEFT adapter folder;
//                                                   model.bin may be an adapter file)
#include <cxxopts.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "formats/hf_convert.h"
#include "formats/peft.h"
#include "formats/weights.h"
#include "core/threads.h"

int main(int argc, char** argv) {
    use_polite_omp_waits(argv);
    cxxopts::Options options("convert", "Converts GPT-2 and BERT weights between a Hugging Face folder "
                                        "(config.json + model.safetensors, as save_pretrained writes it for "
                                        "GPT2LMHeadModel, GPT2ForSequenceClassification, BertModel, "
                                        "BertForMaskedLM or BertForSequenceClassification) and a minitrain "
                                        "weight file, and exports LoRA adapters for Hugging Face PEFT.");
    options.add_options()
        ("from-hf", "Hugging Face folder to read; --output names the weight file to write", cxxopts::value<std::string>(), "DIR")
        ("to-hf", "minitrain or llm.c weight file to read; --output names the folder to write. A model with "
                  "LoRA is written merged: each adapted weight becomes W + s B A, in a plain model",
         cxxopts::value<std::string>(), "FILE")
        ("to-peft", "minitrain weight file of a model with LoRA (the full file or an adapter file) to read; "
                    "--output names the folder to write adapter_model.safetensors and adapter_config.json into, "
                    "for PeftModel.from_pretrained", cxxopts::value<std::string>(), "FILE")
        ("base", "with --to-peft: base_model_name_or_path for adapter_config.json (a hub name such as gpt2, or "
                 "the folder --to-hf wrote for the base model)", cxxopts::value<std::string>(), "NAME")
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
        if (args.count("from-hf") + args.count("to-hf") + args.count("to-peft") != 1)
            throw std::runtime_error(
                "give exactly one of --from-hf DIR and --to-hf FILE, or --to-peft FILE (see --help)");
        if (args.count("base") && !args.count("to-peft"))
            throw std::runtime_error("--base goes with --to-peft (see --help)");
        if (!args.count("output")) throw std::runtime_error("no --output given (see --help)");
        const std::string output = args["output"].as<std::string>();
        if (args.count("from-hf")) {
            convert_hf_to_minitrain(args["from-hf"].as<std::string>(), output);
            std::printf("wrote %s\n", output.c_str());
        } else if (args.count("to-hf")) {
            const std::string path = args["to-hf"].as<std::string>();
            bool lora = false;
            for (const auto& field : read_weight_file(path).config) lora |= field.first == "lora_r";
            convert_minitrain_to_hf(path, output);
            std::printf("wrote %s%s\n", output.c_str(), lora ? " (LoRA adapters merged into the base weights)" : "");
        } else {
            convert_to_peft(args["to-peft"].as<std::string>(), output,
                            args.count("base") ? args["base"].as<std::string>() : "");
            std::printf("wrote %s (PEFT LoRA adapter: adapter_model.safetensors, adapter_config.json)\n",
                        output.c_str());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convert: %s\n", e.what());
        return 1;
    }
    return 0;
}
