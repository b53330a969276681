// What the two tasks on examples files (classify, mlm) share: the training
// examples (their vocabulary and classes size the model), and the train, val
// and test sources opened from examples files and checked against them.
#pragma once
#include <memory>

#include "train/task.h"

class ExamplesTask : public Task {
  public:
    explicit ExamplesTask(const TrainConfig& c);
    int data_vocab() const override { return train_ex.vocab_size; }
    std::string tokenizer() const override { return tokenizer_spec; }

  protected:
    // Opens the sources, each masked by `masking` (null: none).
    void open_examples(int B, int T, int V, uint64_t seed, const MlmMasking* masking);
    Examples train_ex;
    std::string tokenizer_spec;  // train_ex's tokenizer, when its files are there
};
