#include "train/task.h"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "data/text_encoder.h"
#include "train/examples_task.h"

std::unique_ptr<Task> make_task(const TrainConfig& cfg) {
    if (cfg.task == "lm") return make_lm_task(cfg);
    if (cfg.task == "classify") return make_classify_task(cfg);
    if (cfg.task == "mlm") return make_mlm_task(cfg);
    throw std::runtime_error("--task " + cfg.task + ": expected lm, classify or mlm");
}

void for_each_eval_batch(Model& model, Source& data, int max_batches, const std::function<void(const Batch&, float)>& fn) {
    const bool was_training = model.training;
    model.training = false;
    data.reset();
    size_t batches = data.batches_per_epoch();
    if (max_batches > 0 && (size_t)max_batches < batches) batches = max_batches;
    // On a terminal a progress line, as evaluations of big sets take minutes.
    const bool tty = isatty(fileno(stdout));
    for (size_t i = 0; i < batches; i++) {
        if (tty) std::printf("\r\033[Kevaluating: batch %zu/%zu", i + 1, batches), std::fflush(stdout);
        const Batch& batch = data.next((1ull << 48) + i);
        fn(batch, model.forward(batch));
    }
    if (tty) std::printf("\r\033[K");
    model.training = was_training;
}

ExamplesTask::ExamplesTask(const TrainConfig& c) : Task(c), train_ex(read_examples(c.train_data)) {
    if (train_ex.tokenizer.empty()) return;
    try {
        make_encoder(train_ex.tokenizer, 8, false);
        tokenizer_spec = train_ex.tokenizer;
    } catch (const std::exception& e) {
        std::printf("note: the tokenizer that made %s is not readable (%s); best/ will not carry it\n",
                    c.train_data.c_str(), e.what());
    }
}

void ExamplesTask::open_examples(int B, int T, int V, uint64_t seed, const MlmMasking* masking) {
    // Examples carry their tokenizer's vocabulary size: another tokenizer's ids
    // would fit a larger vocabulary and silently mean other tokens.
    if (train_ex.vocab_size != V)
        throw std::runtime_error("--train-data " + cfg.train_data + ": made with a tokenizer of " +
                                 std::to_string(train_ex.vocab_size) + " tokens, but the model has " + std::to_string(V) +
                                 " (make the examples with the model's tokenizer)");
    const int pad_id = 0;  // [PAD] in BERT vocabularies; any id serves GPT-2, whose pads are masked
    train = std::make_unique<ExampleSource>(cfg.train_data, B, T, pad_id, cfg.shuffle, seed, masking);
    if (!cfg.val_data.empty()) val = std::make_unique<ExampleSource>(cfg.val_data, B, T, pad_id, false, seed, masking);
    if (!cfg.test_data.empty()) test = std::make_unique<ExampleSource>(cfg.test_data, B, T, pad_id, false, seed, masking);
    for (Source* s : {val.get(), test.get()}) {
        const ExampleSource* es = static_cast<const ExampleSource*>(s);
        if (!es) continue;
        if (es->ex.vocab_size != V)
            throw std::runtime_error(es->path + ": made with a tokenizer of " + std::to_string(es->ex.vocab_size) +
                                     " tokens, but the model has " + std::to_string(V));
        if (num_labels() && es->ex.label_names != train_ex.label_names)
            throw std::runtime_error(es->path + ": its labels differ from --train-data's (make every split with the same --labels)");
    }
}
