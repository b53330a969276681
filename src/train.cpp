// ./train: the command line of the trainer library. It maps flags (and a run
// file) to a TrainConfig (src/cli/) and runs it (src/train/run.h); with no
// arguments it trains a small character-level GPT on tinyshakespeare,
// preparing the data first if needed. The tasks:
//   lm        next-token prediction on token files (GPT-2), with sampling
//   classify  sequence classification on examples files (GPT-2 or BERT),
//             with classification metrics and the best checkpoint kept
//   mlm       masked-LM pretraining on examples files (BERT)
#include <cstdio>
#include <exception>

#include "cli/flags.h"
#include "train/run.h"
#include "core/threads.h"

int main(int argc, char** argv) {
    use_polite_omp_waits(argv);
    try {
        TrainConfig cfg;
        if (!parse_train_flags(argc, argv, cfg)) return 0;
        return run_training(cfg);
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "train: %s\n", e.what());
        return 1;
    }
}
