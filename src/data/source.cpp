#include "data/source.h"

#include <stdexcept>

TokenSource::TokenSource(const std::string& pattern, int B, int T, int V, bool shuffle, uint64_t seed)
    : loader(pattern, B, T, V, shuffle, seed) {
    batch.b = B, batch.t = T;
}

const Batch& TokenSource::next(uint64_t) {
    loader.next_batch();
    batch.tokens = loader.inputs(), batch.targets = loader.targets();
    return batch;
}

static const Examples& check_lengths(const Examples& ex, const std::string& file, int T) {
    for (size_t i = 0; i < ex.size(); i++)
        if (ex.length(i) > T)
            throw std::runtime_error(file + ": example " + std::to_string(i) + " has " + std::to_string(ex.length(i)) +
                                     " tokens, more than --seq-len " + std::to_string(T) +
                                     " (remake it with a smaller --max-len)");
    return ex;
}

ExampleSource::ExampleSource(const std::string& file, int B, int T, int pad_id, bool shuffle, uint64_t run_seed,
                             const MlmMasking* mlm)
    : path(file), ex(read_examples(file)), loader(check_lengths(ex, file, T), B, T, pad_id, shuffle, run_seed),
      masking(mlm), seed(run_seed) {}

const Batch& ExampleSource::next(uint64_t step) {
    batch = loader.next_batch();
    if (masking) mask_tokens(*masking, tokens, targets, batch, seed, step);
    return batch;
}

void ExampleSource::restore(const LoaderState& saved) {
    try {
        loader.restore(saved);
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}
