#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "formats/weights.h"
#include "train/interrupt.h"
#include "train/run_record.h"

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds since 1970 (the log's timestamps).
double unix_time() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string format_duration(double seconds) {
    char buf[32];
    int s = (int)seconds;
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", s / 3600, s / 60 % 60);
    else std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
    return buf;
}

}  // namespace

Trainer::Trainer(const TrainConfig& c, Model& m, Task& t, TrainState& s)
    : cfg(c), model(m), task(t), st(s), opt(adamw_of(c)), tty(isatty(fileno(stdout))) {
    const size_t batches = task.train->batches_per_epoch();
    total = cfg.steps;
    if (cfg.epochs > 0) {
        // Steps are ints. In double the product cannot wrap, and it is exact
        // wherever the quotient could fit (below 2^47 with --grad-accum <= 2^16).
        const double steps = std::ceil((double)cfg.epochs * batches / cfg.grad_accum);
        if (steps > std::numeric_limits<int>::max()) {
            char count[32];
            std::snprintf(count, sizeof count, "%.0f", steps);
            throw std::runtime_error("--epochs " + std::to_string(cfg.epochs) + ": " + count + " steps, more than " +
                                     std::to_string(std::numeric_limits<int>::max()));
        }
        total = (int)steps;
    }
    if (total == 0) total = 2000;
    sched = schedule_of(cfg, total);
    const int steps_per_epoch = (int)std::clamp<size_t>(batches / cfg.grad_accum, 1, std::numeric_limits<int>::max());
    eval_every = cfg.eval_every ? cfg.eval_every : steps_per_epoch;
    first_step = (int)st.step;
    if (cfg.l1 != 0.0f || cfg.l2 != 0.0f) own_hooks.push_back(std::make_unique<PenaltyHook>(cfg.l1, cfg.l2));
    if (cfg.inject_nan_at > 0) own_hooks.push_back(std::make_unique<NanInjectionHook>(cfg.inject_nan_at));
    for (auto& h : own_hooks) add_hook(*h);
}

void Trainer::print_plan() const {
    std::printf("training: %d steps of %d x %d tokens x %d micro-batches, %zu batches per epoch, lr %g (%s, warmup %d)\n",
                total, cfg.batch, model.T, cfg.grad_accum, task.train->batches_per_epoch(), cfg.lr, sched.kind.c_str(),
                cfg.warmup);
    if (cfg.warmup > total)
        std::printf("warning: --warmup %d is longer than the run's %d steps: the learning rate never reaches --lr\n",
                    cfg.warmup, total);
}

// The checkpoint directory, locked, with the log cut back to where this run starts.
void Trainer::open_run_dir() {
    std::filesystem::create_directories(cfg.checkpoint_dir);
    lock = std::make_unique<RunDirLock>(cfg.checkpoint_dir);
    if (cfg.resume || cfg.resume_if_any) truncate_log(log_path(cfg), first_step);
    else claim_for_fresh_run(cfg);
    write_run_record(cfg);
    log = std::make_unique<RunLog>(log_path(cfg));
}

int Trainer::fit() {
    if (first_step >= total) {
        std::printf("nothing to do: the run in %s finished at step %d of %d\n", cfg.checkpoint_dir.c_str(), first_step, total);
        return 0;
    }
    open_run_dir();
    InterruptGuard interrupt;
    started = now_s();
    for (int step = first_step; step < total; step++) {
        report(step + 1, train_step(step));
        const bool end = step + 1 == total || step + 1 - first_step == cfg.stop_after;
        if ((step + 1) % eval_every == 0 || end) validate(step + 1);
        const bool last = end || stop_early;
        if (task.samples() && cfg.sample_every && (step + 1) % cfg.sample_every == 0 && !last) {
            if (tty) std::printf("\n");
            task.sample(model, st.sample_rng);
        }
        // An interrupt ends the run after what this step does anyway, so that
        // the resumed run is the uninterrupted one.
        const int signal = InterruptGuard::signal_received();
        if ((cfg.checkpoint_every && (step + 1) % cfg.checkpoint_every == 0) || last || signal) {
            check_weights_finite(step + 1);
            log->sync();  // the records are on disk before the checkpoint that follows them
            std::printf("%scheckpoint: %s\n", tty ? "\r\033[K" : "",
                        save_checkpoint(cfg.checkpoint_dir, model, st, cfg.keep_last).c_str());
        } else {
            log->flush();
        }
        if (signal) {
            std::printf("stopped by signal %d after step %d; --resume continues from the checkpoint\n", signal, step + 1);
            return 128 + signal;
        }
        if (last) break;
    }
    finish();
    return 0;
}

// One optimizer step (0-based `step`): micro-batches, hooks, norm, update.
Trainer::StepStats Trainer::train_step(int step) {
    const double t0 = now_s();
    StepStats s;
    s.lr = lr_at(sched, step);
    model.training = true;
    model.zero_grad();
    double loss_sum = 0;
    bool finite = true;
    for (int micro = 0; micro < cfg.grad_accum; micro++) {
        model.step = (uint64_t)step * cfg.grad_accum + micro;
        const Batch& batch = task.train->next(model.step);
        s.tokens += (size_t)batch.b * batch.t;
        const float loss = task.forward(model, batch);
        if (!std::isfinite(loss)) {
            finite = false;
            break;
        }
        task.backward(model, 1.0f / cfg.grad_accum);
        loss_sum += loss;
    }
    for (StepHook* h : hooks) h->after_backward(model, step + 1);
    s.norm = finite ? grad_norm(model.arena) : NAN;
    s.loss = finite ? (float)(loss_sum / cfg.grad_accum) : NAN;
    if (finite && std::isfinite(s.norm)) adamw_step(model.arena, opt, s.lr, step + 1, s.norm);
    else guard_non_finite(step + 1, finite);
    st.step = step + 1;
    st.train_pos = task.train->state();
    last_loss = s.loss;
    s.ms = (now_s() - t0) * 1000.0;
    return s;
}

// Weights that overflowed cannot be skipped back (the update is done), and a
// checkpoint of them would be refused by --resume: the run stops, and its
// last checkpoint is the one to go back to.
void Trainer::check_weights_finite(int step) {
    if (weights_finite(model.arena)) return;
    const std::string last = latest_checkpoint(cfg.checkpoint_dir);
    throw std::runtime_error("step " + std::to_string(step) + ": the weights are no longer finite (an update overflowed; "
                             "is --lr too high?); " + (last.empty() ? "no checkpoint was written" : "the last good checkpoint is " + last));
}

// The NaN guard: the update is skipped (and logged), or the run aborts.
void Trainer::guard_non_finite(int step, bool loss_finite) {
    check_weights_finite(step);
    const std::string what = !loss_finite ? "loss" : "gradient norm";
    if (cfg.on_nan == "abort")
        throw std::runtime_error("step " + std::to_string(step) + ": non-finite " + what + "; aborting (--on-nan abort)");
    std::printf("%sstep %d: non-finite %s; the update was skipped\n", tty ? "\r\033[K" : "", step, what.c_str());
    log->record("\"type\":\"skip\",\"step\":" + std::to_string(step) + ",\"reason\":\"non-finite " + what + "\"");
}

// The step's JSONL record and progress line (step counts from 1).
void Trainer::report(int step, const StepStats& s) {
    const double tok_s = s.tokens / (s.ms / 1000.0);
    char buf[256];
    std::snprintf(buf, sizeof buf, "\"type\":\"train\",\"step\":%d,\"epoch\":%llu,\"loss\":%s,\"lr\":%.9g,\"grad_norm\":%s,"
                  "\"ms\":%.2f,\"tokens_per_s\":%.0f,\"time\":%.3f", step, (unsigned long long)task.train->epoch(),
                  json_number(s.loss).c_str(), s.lr, json_number(s.norm).c_str(), s.ms, tok_s, unix_time());
    log->record(buf);
    if (tty || step % cfg.print_every == 0 || step == total) {
        // Whole time per step so far, evaluations and checkpoints included.
        const double per_step = (now_s() - started) / (step - first_step);
        const std::string eta = format_duration(per_step * (total - step));
        std::printf("%sstep %d/%d | loss %.4f | lr %.2e | norm %.3f | %.1f ms/step | %.0f tok/s | ETA %s%s",
                    tty ? "\r\033[K" : "", step, total, s.loss, s.lr, s.norm, s.ms, tok_s, eta.c_str(), tty ? "" : "\n");
        std::fflush(stdout);
    }
}

// Evaluates on the validation data, logs it, and keeps the best checkpoint.
void Trainer::validate(int step) {
    if (!task.val) return;
    if (tty) std::printf("\n");
    last_eval = task.evaluate(model, *task.val, cfg.eval_batches, task.reports());
    std::printf("%sstep %d: validation %s%s\n", tty ? "\r\033[K" : "", step, metrics_line(last_eval).c_str(),
                task.eval_note().c_str());
    char time[48];
    std::snprintf(time, sizeof time, ",\"time\":%.3f", unix_time());
    log->record("\"type\":\"eval\",\"step\":" + std::to_string(step) + metrics_json(last_eval) + time);
    log->flush();
    if (task.keeps_best()) keep_best(step);
}

// The best --metric so far is saved whole to <dir>/best; --patience
// evaluations without a better one stop the run.
void Trainer::keep_best(int step) {
    const double m = last_eval.get(cfg.metric);
    const bool lower_is_better = cfg.metric == "loss";
    const bool better = st.best_step == 0 || (lower_is_better ? m < st.best_metric : m > st.best_metric);
    if (better) {
        st.best_metric = m, st.best_step = step, st.bad_evals = 0;
        save_best(cfg.checkpoint_dir, model, task.label_names(), task.tokenizer());
        std::printf("best %s so far: %.4f, saved to %s/best\n", cfg.metric.c_str(), m, cfg.checkpoint_dir.c_str());
    } else if (cfg.patience && ++st.bad_evals >= cfg.patience) {
        std::printf("early stop: %s has not improved on %.4f (step %lld) for %lld evaluations\n", cfg.metric.c_str(),
                    st.best_metric, (long long)st.best_step, (long long)st.bad_evals);
        stop_early = true;
    }
}

void Trainer::finish() {
    if (tty) std::printf("\n");
    std::printf("done: %lld steps in %s; last train loss %.4f", (long long)(st.step - first_step),
                format_duration(now_s() - started).c_str(), last_loss);
    if (task.val && !last_eval.metrics.empty()) std::printf(", validation %s", metrics_line(last_eval).c_str());
    if (task.val) std::printf("%s", task.eval_note().c_str());
    std::printf("\n");
    const auto& tensors = model.arena.params.tensors;
    if (std::any_of(tensors.begin(), tensors.end(), [](const TensorInfo& t) { return is_adapter_tensor(t.name); })) {
        const std::string path = cfg.checkpoint_dir + "/adapter.bin";
        save_adapter(path, model);
        std::printf("adapter (the trained tensors alone): %s\n", path.c_str());
    }
    if (task.samples() && cfg.sample_length > 0) task.sample(model, st.sample_rng);
    if (task.test) test_best();
    log->flush();
}

// The test data under the best checkpoint (the final weights without one).
void Trainer::test_best() {
    recover_best(cfg.checkpoint_dir);
    const std::string best = cfg.checkpoint_dir + "/best/model.bin";
    if (std::filesystem::exists(best)) {
        load_weights(best, model);
        std::printf("test (%s) with the best checkpoint (step %lld, %s %.4f):\n", cfg.test_data.c_str(),
                    (long long)st.best_step, cfg.metric.c_str(), st.best_metric);
    } else {
        std::printf("test (%s) with the final weights (no validation data, so no best checkpoint):\n",
                    cfg.test_data.c_str());
    }
    const Evaluation e = task.evaluate(model, *task.test, 0, true);
    std::printf("test: %s\n", metrics_line(e).c_str());
    task.print_test_baseline();
    log->record("\"type\":\"test\"" + metrics_json(e));
}

void Trainer::evaluate_only() {
    if (!task.val) throw std::runtime_error("--eval-only needs --val-data");
    const std::string path = log_path(cfg);
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir);
    log = std::make_unique<RunLog>(path);
    const std::string weights = cfg.model.empty() ? "" : ",\"model\":" + json_string(cfg.model);
    auto one = [&](const char* split, Source& data, const std::string& file, int max_batches, bool report) {
        const Evaluation e = task.evaluate(model, data, max_batches, report);
        std::printf("%s: %s\n", split, metrics_line(e).c_str());
        log->record(std::string("\"type\":\"eval_only\",\"split\":\"") + split + "\",\"data\":" + json_string(file) +
                    weights + ",\"step\":" + std::to_string(st.step) + metrics_json(e));
    };
    one("validation", *task.val, cfg.val_data, cfg.eval_batches, task.reports());
    if (task.test) one("test", *task.test, cfg.test_data, 0, true);
    log->flush();
}
