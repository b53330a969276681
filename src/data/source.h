// Where a task's batches come from, behind one interface: token files (the lm
// task) or examples files (classify, and mlm with its masking), each with a
// resumable position.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataloader.h"
#include "data/example_loader.h"
#include "data/examples.h"

struct Source {
    virtual ~Source() = default;
    // The batch for micro-step `step` (masked-LM corruption is keyed by it);
    // its arrays live until the next call.
    virtual const Batch& next(uint64_t step) = 0;
    virtual LoaderState state() const = 0;
    virtual void restore(const LoaderState& saved) = 0;
    virtual size_t batches_per_epoch() const = 0;
    virtual uint64_t epoch() const = 0;
    virtual void reset() = 0;
};

// Next-token batches (B x T) from token files (DataLoader).
struct TokenSource : Source {
    DataLoader loader;
    Batch batch;
    TokenSource(const std::string& pattern, int B, int T, int V, bool shuffle, uint64_t seed);
    const Batch& next(uint64_t step) override;
    LoaderState state() const override { return loader.state(); }
    void restore(const LoaderState& saved) override { loader.restore(saved); }
    size_t batches_per_epoch() const override { return loader.batches_per_epoch(); }
    uint64_t epoch() const override { return loader.epoch(); }
    void reset() override { loader.reset(); }
};

// Padded batches of an examples file (ExampleLoader), masked for MLM when
// `mlm` is given (it must outlive the source). Throws, naming the file, when
// an example is longer than T.
struct ExampleSource : Source {
    const std::string path;
    Examples ex;
    ExampleLoader loader;
    const MlmMasking* masking;  // null: batches as they are (classify)
    uint64_t seed;
    std::vector<int> tokens, targets;
    Batch batch;
    ExampleSource(const std::string& file, int B, int T, int pad_id, bool shuffle, uint64_t run_seed,
                  const MlmMasking* mlm);
    const Batch& next(uint64_t step) override;
    LoaderState state() const override { return loader.state(); }
    void restore(const LoaderState& saved) override;
    size_t batches_per_epoch() const override { return loader.batches_per_epoch(); }
    uint64_t epoch() const override { return loader.epoch(); }
    void reset() override { loader.reset(); }
};
