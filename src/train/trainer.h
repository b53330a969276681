// The training loop, written once for every task (train/task.h) and backend.
//
// Each optimizer step: zero the gradients; for each of --grad-accum
// micro-batches, the task's forward and backward (scaled by 1/accum, so the
// gradients are the mean's); the step hooks (penalties); the global gradient
// norm; AdamW with clipping at the schedule's lr, unless the loss or the norm
// is not finite (the NaN guard skips the update, or aborts). Around the steps:
// evaluation every --eval-every steps (0: every epoch) with the best checkpoint
// and early stopping on --metric, samples, atomic checkpoints every
// --checkpoint-every steps and at the end, the JSONL log and the progress line.
// Resuming is exact because everything the loop keeps between steps is in
// TrainState, which checkpoints hold.
#pragma once
#include <memory>
#include <vector>

#include "core/model.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/hooks.h"
#include "train/log.h"
#include "train/optimizer.h"
#include "train/run_dir.h"
#include "train/schedule.h"
#include "train/task.h"

class Trainer {
  public:
    // The task's data must be open (and its training position restored when
    // resuming); state holds the step to start from.
    Trainer(const TrainConfig& cfg, Model& model, Task& task, TrainState& state);
    void add_hook(StepHook& hook) { hooks.push_back(&hook); }
    int total_steps() const { return total; }
    // Prints the plan: steps, batch shape, schedule.
    void print_plan() const;
    // Trains from state.step to the last step, an early stop or --stop-after,
    // then writes the adapter file, the final sample and the test evaluation.
    // A SIGINT or SIGTERM stops it after the step in flight, with a
    // checkpoint; it then returns 128 + the signal (else 0).
    int fit();
    // Evaluates on the validation (and test) data, prints and logs it.
    void evaluate_only();

  private:
    struct StepStats {
        float loss = 0, norm = 0, lr = 0;
        size_t tokens = 0;
        double ms = 0;
    };
    void open_run_dir();
    StepStats train_step(int step);
    void guard_non_finite(int step, bool loss_finite);
    void check_weights_finite(int step);
    void report(int step, const StepStats& s);
    void validate(int step);
    void keep_best(int step);
    void finish();
    void test_best();

    const TrainConfig& cfg;
    Model& model;
    Task& task;
    TrainState& st;
    Schedule sched;
    AdamWConfig opt;
    int total = 0, eval_every = 0, first_step = 0;
    std::vector<StepHook*> hooks;
    std::vector<std::unique_ptr<StepHook>> own_hooks;
    std::unique_ptr<RunDirLock> lock;
    std::unique_ptr<RunLog> log;
    const bool tty;
    double started = 0;
    float last_loss = 0;
    Evaluation last_eval;
    bool stop_early = false;
};
