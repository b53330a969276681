// Batches of classification examples (examples.h) for BERT and GPT-2 heads,
// and BERT's masked-LM corruption of them.
//
// An epoch visits every example once, in a permutation drawn from (seed,
// epoch) when shuffling (the same scheme as DataLoader) and in file order
// otherwise. The last batch of an epoch holds the remainder, so no example is
// skipped. Each batch is as long as its longest example, padded on the right
// with pad_id; lengths tell the model where padding starts.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataloader.h"
#include "data/examples.h"
#include "core/model.h"

class ExampleLoader {
  public:
    // Throws if an example is longer than max_T.
    ExampleLoader(const Examples& ex, int B, int max_T, int pad_id, bool shuffle, uint64_t seed);
    // The next batch (up to B examples of one epoch); its arrays live until the next call.
    const Batch& next_batch();
    void reset();
    LoaderState state() const { return pos_; }
    void restore(const LoaderState& saved);  // throws if saved on other data
    uint64_t epoch() const { return pos_.epoch; }
    size_t batches_per_epoch() const { return (ex_.size() + B_ - 1) / B_; }
    // The index in the examples file of row i of the last batch.
    size_t example_of_row(int i) const { return rows_[i]; }

  private:
    const Examples& ex_;
    int B_, max_T_, pad_id_;
    bool shuffle_;
    uint64_t seed_;
    LoaderState pos_;
    std::vector<uint32_t> order_;
    std::vector<size_t> rows_;
    std::vector<int> tokens_, types_, lengths_, labels_;
    Batch batch_;
    void order();
};

// BERT's masked-LM corruption (Devlin et al. 2019, as Hugging Face's
// DataCollatorForLanguageModeling): each real token that is not a special
// one is chosen with probability `prob`; a chosen token becomes its own
// target and is replaced by [MASK] 80% of the time, by a uniformly random
// token 10%, and kept 10%. Every other position gets target -1. The draws
// come from Philox keyed by (seed, step), so a resumed run masks alike.
struct MlmMasking {
    float prob = 0.15f;
    int mask_id = -1, vocab = 0;
    std::vector<int> special;  // ids never chosen ([CLS], [SEP], [PAD], ...)
};
// Rewrites batch.tokens in place (tokens points into `tokens`) and fills targets.
void mask_tokens(const MlmMasking& m, std::vector<int>& tokens, std::vector<int>& targets, Batch& batch,
                 uint64_t seed, uint64_t step);
