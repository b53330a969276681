// Checkpoint state (state.bin: AdamW moments, step, seeds, data position):
// load_checkpoint on a folder holding a fixed valid model.bin and the input
// as state.bin. The model is the one tests/fuzz/make_corpus.sh trains for
// its seeds (./train --layers 1 --channels 8 --heads 2 --max-seq-len 8 on
// bytes), so that the seeds' optimizer state fits it.
#include <memory>
#include <string>

#include "formats/weights.h"
#include "fuzz_support.h"
#include "train/checkpoint.h"

namespace {

// Built and saved once: every input is loaded into the same model.
GPT2& model() {
    static std::unique_ptr<Backend> be(make_backend("cpu"));
    static std::unique_ptr<GPT2> gpt = [] {
        GPT2Config cfg;
        cfg.max_T = 8, cfg.V = 256, cfg.Vp = 256, cfg.L = 1, cfg.NH = 2, cfg.C = 8;
        auto m = std::make_unique<GPT2>(*be, cfg, 1, 1);
        m->allocate();
        m->init_weights(1);
        save_weights(scratch_dir() + "/model.bin", *m);
        return m;
    }();
    return *gpt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    GPT2& gpt = model();
    write_input("state.bin", data, size);
    TrainState state;
    accepts([&] { load_checkpoint(scratch_dir(), gpt, state); });
    return 0;
}
