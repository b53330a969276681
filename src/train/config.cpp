#include "train/config.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "core/model.h"

static void fail(const std::string& message) { throw std::runtime_error(message); }

// Size flags are bounded, so that a typo fails here naming the flag rather than
// as an int overflow in a tensor's size, an allocation of terabytes or a run
// that never ends. Model shapes and adapters take the bounds their own checks
// apply to a file (models/, adapters/); batches kMaxBatchTokens (core/model.h).
static void check_range(const char* flag, int64_t value, int64_t lo, int64_t hi) {
    if (value < lo || value > hi)
        fail(std::string("--") + flag + " " + std::to_string(value) + ": must be in " + std::to_string(lo) + ".." +
             std::to_string(hi));
}

static void validate_task(TrainConfig& c) {
    if (c.task != "lm" && c.task != "classify" && c.task != "mlm") fail("--task " + c.task + ": expected lm, classify or mlm");
    const std::vector<std::string> metrics = {"loss", "accuracy", "f1_macro", "f1_micro", "f1_weighted", "auc"};
    if (std::find(metrics.begin(), metrics.end(), c.metric) == metrics.end())
        fail("--metric " + c.metric + ": expected loss, accuracy, f1_macro, f1_micro, f1_weighted or auc");
    if (c.task == "mlm" && c.metric != "loss" && c.metric != "accuracy") fail("--metric " + c.metric + ": mlm evaluates loss and accuracy");
    if (c.task == "lm" && c.metric != "loss") fail("--metric " + c.metric + ": lm evaluates the loss");
    if (c.patience < 0) fail("--patience must be >= 0");
    if (!(c.mlm_probability > 0.0f && c.mlm_probability < 1.0f)) fail("--mlm-probability must be in (0, 1)");
    if (c.task != "lm" && c.train_data.empty()) fail("--task " + c.task + " needs --train-data (an examples file)");
    if (c.preset.empty()) c.preset = c.task == "lm" ? "tiny" : "bert-mini";
}

static void validate_methods(const TrainConfig& c) {
    check_range("lora-r", c.lora_r, 0, 4096);
    check_range("prompt-tokens", c.prompt_tokens, 1, 4096);
    check_range("prompt-hidden", c.prompt_hidden, 0, 65536);
    if (c.lora_r && !c.freeze.empty()) fail("--freeze and --lora-r are exclusive: LoRA freezes every base weight itself");
    if (!c.adapter.empty() && (c.lora_r || !c.prompt_method.empty()))
        fail("--adapter carries its own LoRA or prompt settings: drop --lora-r and --prompt-method");
    if (!c.adapter.empty() && c.model.empty()) fail("--adapter needs --model, the weights it was trained on");
    if (!c.prompt_method.empty() && !c.freeze.empty())
        fail("--freeze and --prompt-method are exclusive: prompt methods freeze every base weight");
    // 0: the preset's.
    check_range("layers", c.layers, 0, 1024);
    check_range("channels", c.channels, 0, 65536);
    check_range("heads", c.heads, 0, 65536);
    check_range("max-seq-len", c.max_seq_len, 0, 65536);
    if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) fail("--dropout must be in [0, 1)");
    if (!c.model.empty() && (c.layers || c.channels || c.heads || c.max_seq_len))
        fail("--layers, --channels, --heads and --max-seq-len shape a preset; --model " + c.model + " has its own shape");
}

static void validate_resume(const TrainConfig& c) {
    if (c.resume && c.resume_if_any) fail("--resume and --resume-if-any are exclusive: give one");
    if ((c.resume || c.resume_if_any) && c.overwrite) fail("--overwrite starts afresh: it cannot --resume");
}

static void validate_optimisation(const TrainConfig& c) {
    check_range("batch", c.batch, 1, kMaxBatch);
    check_range("seq-len", c.seq_len, c.task == "lm" ? 1 : 0, 65536);  // 0: the model's context
    check_range("grad-accum", c.grad_accum, 1, kMaxGradAccum);
    const int virtual_tokens = c.prompt_method.empty() ? 0 : c.prompt_tokens;
    const int64_t tokens = (int64_t)c.batch * (c.seq_len + virtual_tokens);
    if (tokens > kMaxBatchTokens)
        fail("--batch " + std::to_string(c.batch) + " x --seq-len " + std::to_string(c.seq_len) +
             (virtual_tokens ? " + " + std::to_string(virtual_tokens) + " virtual tokens" : "") + ": " +
             std::to_string(tokens) + " tokens per micro-batch, more than " + std::to_string(kMaxBatchTokens));
    if (c.steps < 0 || c.epochs < 0) fail("--steps and --epochs must be >= 0");
    if (c.steps > 0 && c.epochs > 0) fail("--steps and --epochs are exclusive: give one");
    if (!(c.weight_decay >= 0.0f)) fail("--weight-decay must be >= 0");
    if (!(c.l1 >= 0.0f) || !(c.l2 >= 0.0f)) fail("--l1 and --l2 must be >= 0");
    if (!(c.beta1 >= 0.0f && c.beta1 < 1.0f)) fail("--beta1 must be in [0, 1)");
    if (!(c.beta2 >= 0.0f && c.beta2 < 1.0f)) fail("--beta2 must be in [0, 1)");
    if (!(c.eps > 0.0f)) fail("--eps must be > 0");
    if (!(c.grad_clip >= 0.0f)) fail("--grad-clip must be >= 0");
    if (c.on_nan != "skip" && c.on_nan != "abort") fail("--on-nan " + c.on_nan + ": expected skip or abort");
    validate(schedule_of(c, 1));
}

static void validate_output(const TrainConfig& c) {
    if (c.eval_every < 0 || c.eval_batches < 0) fail("--eval-every and --eval-batches must be >= 0");
    if (c.checkpoint_every < 0 || c.keep_last < 0) fail("--checkpoint-every and --keep-last must be >= 0");
    if (c.sample_every < 0) fail("--sample-every must be >= 0");
    check_range("sample-length", c.sample_length, 0, 1 << 20);
    if (!(c.temperature >= 0.0f)) fail("--temperature must be >= 0");
    if (c.top_k < 0) fail("--top-k must be >= 0");
    check_range("threads", c.threads, 0, 1024);
    if (c.stop_after < 0) fail("--stop-after must be >= 0");
    if (c.print_every < 1) fail("--print-every must be >= 1");
    if (c.checkpoint_dir.empty()) fail("--checkpoint-dir must not be empty");
}

void validate(TrainConfig& c) {
    validate_task(c);
    validate_methods(c);
    validate_optimisation(c);
    validate_output(c);
    validate_resume(c);
}

TrainConfig task_defaults(const std::string& task) {
    TrainConfig c;
    c.task = task;
    if (task == "lm") return c;
    c.train_data = c.val_data = "";
    c.lr = 5e-5f, c.schedule = "linear", c.min_lr = 0.0f, c.warmup = 0;
    c.beta2 = 0.999f, c.weight_decay = 0.0f, c.eval_every = 0;
    return c;
}

Schedule schedule_of(const TrainConfig& c, int total_steps) {
    Schedule s;
    s.kind = c.schedule;
    s.lr = c.lr, s.min_lr = c.min_lr, s.warmup = c.warmup;
    s.step_size = c.lr_step_size, s.gamma = c.lr_gamma, s.step_mult = c.restart_mult;
    s.total = total_steps;
    return s;
}

AdamWConfig adamw_of(const TrainConfig& c) {
    AdamWConfig a;
    a.beta1 = c.beta1, a.beta2 = c.beta2, a.eps = c.eps;
    a.weight_decay = c.weight_decay, a.grad_clip = c.grad_clip;
    return a;
}

std::string log_path(const TrainConfig& c) { return c.log.empty() ? c.checkpoint_dir + "/log.jsonl" : c.log; }
