// The ./train end-to-end tests' workspace: token files of a repetitive text,
// flags for a small fast model, and the losses a run logged.
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "data/tokenfile.h"
#include "support.h"

// A temp directory with train/val token files: a repetitive byte text that a
// small model learns quickly.
struct Workspace : TempDir {
    Workspace() : TempDir("cli") {
        std::string text;
        for (int i = 0; text.size() < 40000; i++)
            text += "the quick brown fox " + std::to_string(i % 97) + " jumps over the lazy dog.\n";
        std::vector<uint32_t> tokens(text.begin(), text.end());
        write_token_file(file("train.bin"), tokens, 256);
        write_token_file(file("val.bin"), std::vector<uint32_t>(tokens.begin(), tokens.begin() + 4000), 256);
    }
    // Flags for a small, fast model with every dropout on.
    std::string base(const std::string& ckpt) const {
        return "--layers 2 --channels 32 --heads 2 --max-seq-len 32 " + common(ckpt);
    }
    // The same without the model's shape, for a run that starts from --model.
    std::string common(const std::string& ckpt) const {
        return "--train-data " + file("train.bin") + " --val-data " + file("val.bin") + " --batch 4 --seq-len 32 "
               "--dropout 0.1 --lr 3e-3 --warmup 5 --eval-every 0 --sample-every 0 --sample-length 0 "
               "--checkpoint-dir " + file(ckpt);
    }
};

inline CommandResult run_train(const std::string& args, const Workspace& ws) {
    // One thread: these models are tiny, and results do not depend on the thread count.
    return run_command("OMP_NUM_THREADS=1 ./train " + args, ws);
}

// "step" -> loss, as logged (the exact 9-digit float text), for the train records.
inline std::vector<std::pair<int, std::string>> logged_losses(const std::string& path) {
    std::vector<std::pair<int, std::string>> out;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        auto j = nlohmann::json::parse(line);  // throws on a malformed line
        if (j["type"] == "train") out.push_back({j["step"].get<int>(), j["loss"].dump()});
    }
    return out;
}

