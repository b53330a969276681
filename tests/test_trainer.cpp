// The trainer library used from a program, without ./train: tasks open their
// data in file order under --no-shuffle, and a step hook joins every step.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "data/examples.h"
#include "data/tokenfile.h"
#include "support.h"
#include "train/optimizer.h"
#include "train/run.h"
#include "train/task.h"

namespace {

std::vector<uint32_t> counting_tokens(size_t n) {
    std::vector<uint32_t> tokens(n);
    for (size_t i = 0; i < n; i++) tokens[i] = (uint32_t)(i * 7 % 251);
    return tokens;
}

// Whether the first `batches` lm batches are the file's windows in order:
// row b of batch k holds tokens [(kB + b)T, (kB + b + 1)T], targets shifted by one.
bool lm_batches_in_file_order(bool shuffle, const std::string& file, const std::vector<uint32_t>& tokens) {
    TrainConfig cfg;
    cfg.train_data = file, cfg.val_data = "", cfg.shuffle = shuffle;
    const int B = 3, T = 8;
    std::unique_ptr<Task> task = make_task(cfg);
    task->open_data(B, T, 256, cfg.seed);
    bool in_order = true;
    for (int k = 0; k < 6; k++) {
        const Batch& batch = task->train->next(k);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const size_t at = (size_t)(k * B + b) * T + t;
                in_order &= batch.tokens[b * T + t] == (int)tokens[at] && batch.targets[b * T + t] == (int)tokens[at + 1];
            }
    }
    return in_order;
}

}  // namespace

TEST_CASE("trainer library: --no-shuffle gives lm batches in file order, as llm.c's loader") {
    TempDir dir("trainer");
    const std::vector<uint32_t> tokens = counting_tokens(8 * 3 * 40 + 1);
    write_token_file(dir.file("train.bin"), tokens, 256);
    CHECK(lm_batches_in_file_order(false, dir.file("train.bin"), tokens));
    CHECK_FALSE(lm_batches_in_file_order(true, dir.file("train.bin"), tokens));
}

TEST_CASE("trainer library: --no-shuffle gives classify batches in file order across epochs") {
    TempDir dir("trainer");
    Examples ex;
    ex.max_len = 4, ex.vocab_size = 20, ex.label_names = {"a", "b"};
    for (int i = 0; i < 10; i++) {
        for (int k = 0; k < 1 + i % 3; k++) ex.tokens.push_back(1 + (i + k) % 19), ex.token_types.push_back(0);
        ex.offsets.push_back(ex.tokens.size());
        ex.labels.push_back(i % 2);
    }
    write_examples(dir.file("train.ex"), ex);
    for (bool shuffle : {false, true}) {
        TrainConfig cfg;
        cfg.task = "classify", cfg.train_data = dir.file("train.ex"), cfg.val_data = "", cfg.shuffle = shuffle;
        std::unique_ptr<Task> task = make_task(cfg);
        task->open_data(4, 4, 20, cfg.seed);
        auto& source = static_cast<ExampleSource&>(*task->train);
        std::vector<size_t> order;
        for (int k = 0; k < 6; k++) {  // 3 batches an epoch (4, 4, 2): two epochs
            const Batch& batch = source.next(k);
            for (int r = 0; r < batch.b; r++) order.push_back(source.loader.example_of_row(r));
        }
        REQUIRE(order.size() == 20);
        bool in_order = true;
        for (size_t i = 0; i < order.size(); i++) in_order &= order[i] == i % 10;
        CHECK(in_order == !shuffle);
    }
}

// A hook that records when it runs and what the gradients hold then.
struct RecordingHook : StepHook {
    std::vector<int> steps;
    std::vector<float> norms;
    void after_backward(Model& model, int step) override {
        steps.push_back(step);
        norms.push_back(grad_norm(model.arena));
    }
};

TEST_CASE("trainer library: a step hook runs once per step, after backward, before the update") {
    TempDir dir("trainer");
    write_token_file(dir.file("train.bin"), counting_tokens(20000), 256);
    TrainConfig cfg;
    cfg.train_data = dir.file("train.bin"), cfg.val_data = "";
    cfg.layers = 1, cfg.channels = 16, cfg.heads = 2, cfg.max_seq_len = 16, cfg.batch = 2, cfg.seq_len = 16;
    cfg.steps = 6, cfg.grad_accum = 2, cfg.sample_length = 0, cfg.checkpoint_dir = dir.file("ck");
    RecordingHook hook;
    run_training(cfg, {&hook});
    CHECK(hook.steps == std::vector<int>{1, 2, 3, 4, 5, 6});
    for (float norm : hook.norms) CHECK((std::isfinite(norm) && norm > 0.0f));
}
