// The task interface: what one kind of training (lm, classify, mlm) brings to
// the trainer's loop, which is written once for all of them (train/trainer.h).
// A task says which model and head it needs, opens its data as batches, gives
// the loss of a micro-batch (forward, then backward), evaluates with its own
// metrics, and adds its own output (samples, baselines, labels of the best
// checkpoint). A new task implements this and registers in make_task.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/model.h"
#include "data/source.h"
#include "train/config.h"
#include "train/evaluation.h"

class Task {
  public:
    explicit Task(const TrainConfig& cfg) : cfg(cfg) {}
    virtual ~Task() = default;
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;

    // Throws unless a model of this architecture ("gpt2", "bert") can do the task.
    virtual void check_arch(const std::string& arch) const = 0;
    // Classes of a classification head (0: the model's token head).
    virtual int num_labels() const { return 0; }
    // Token ids the data holds (the model's vocabulary must cover them).
    virtual int data_vocab() const = 0;
    // Opens train (and val, test when configured) for a model sized for
    // batches of B x T real tokens over a vocabulary of V.
    virtual void open_data(int B, int T, int V, uint64_t seed) = 0;
    // Printed once before training: what a model that learnt nothing scores.
    virtual void print_baseline() {}

    // One micro-batch: its loss, then (if finite) backward adds
    // scale * d(loss)/d(params) to the gradients. A loss term of its own
    // (distillation, a second head) goes here.
    virtual float forward(Model& model, const Batch& batch) { return model.forward(batch); }
    virtual void backward(Model& model, float scale) { model.backward(scale); }

    // The model on `data` (its first max_batches batches; 0: all) without
    // dropout; `report` prints the task's detailed report (classify).
    virtual Evaluation evaluate(Model& model, Source& data, int max_batches, bool report) = 0;
    // Whether evaluations during training print the detailed report.
    virtual bool reports() const { return false; }
    // Appended to a validation line (the lm task's unigram baseline).
    virtual std::string eval_note() const { return ""; }
    // Whether --metric picks a best checkpoint and early stopping.
    virtual bool keeps_best() const { return true; }
    // Class names written beside the best checkpoint (labels.txt).
    virtual std::vector<std::string> label_names() const { return {}; }
    // The tokenizer that made the data (a make_encoder spec), which the best
    // checkpoint's folder carries; "" when unknown.
    virtual std::string tokenizer() const { return ""; }
    // Text the model writes (the lm task's samples); rng: the sampling state.
    virtual bool samples() const { return false; }
    virtual void sample(Model&, uint64_t& /*rng*/) {}
    // Printed under a test evaluation (the classify task's majority class).
    virtual void print_test_baseline() {}

    std::unique_ptr<Source> train, val, test;

  protected:
    const TrainConfig& cfg;
};

// Runs the model in eval mode (no dropout) over data from its start, its first
// max_batches batches (0: all), calling fn with each batch and its loss.
// Batch i is drawn as micro-step 2^48 + i: masked-LM masks are the same at
// every evaluation and apart from training's.
void for_each_eval_batch(Model& model, Source& data, int max_batches, const std::function<void(const Batch&, float)>& fn);

// The task cfg.task names, with its training examples read (their classes
// and vocabulary decide the model's head); the default lm data is prepared
// first when missing.
std::unique_ptr<Task> make_task(const TrainConfig& cfg);
std::unique_ptr<Task> make_lm_task(const TrainConfig& cfg);
std::unique_ptr<Task> make_classify_task(const TrainConfig& cfg);
std::unique_ptr<Task> make_mlm_task(const TrainConfig& cfg);
