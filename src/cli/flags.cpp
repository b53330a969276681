#include "cli/flags.h"

#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/run_file.h"
#include "formats/hf_convert.h"

using C = TrainConfig;

const std::vector<Flag>& train_flags() {
    static const std::vector<Flag> flags = {
        {"model", "task", "lm (next token, GPT-2), classify (GPT-2 or BERT) or mlm (masked LM, BERT)", &C::task},
        {"model", "model", "initialise from a weight file (minitrain or llm.c v3); a classify or mlm run keeps its body and adds a fresh head where the file has another", &C::model},
        {"model", "config", "model preset without --model: GPT-2 tiny (L4 C128 H4 T256, the lm default), small (L6 C384 H6 T256), gpt2 (L12 C768 H12 T1024), gpt2-medium (L24 C1024 H16 T1024); BERT bert-tiny (L2 C128 H2 T512), bert-mini (L4 C256 H4 T512, the mlm/classify default), bert-small (L4 C512 H8 T512), bert-base (L12 C768 H12 T512)", &C::preset},
        {"model", "layers", "override the preset's number of blocks", &C::layers},
        {"model", "channels", "override the preset's channels", &C::channels},
        {"model", "heads", "override the preset's attention heads", &C::heads},
        {"model", "max-seq-len", "override the preset's context length", &C::max_seq_len},
        {"model", "dropout", "dropout after embeddings, on attention probabilities, on residual branches (and before a BERT classifier)", &C::dropout},
        {"model", "device", "cpu, cuda or cuda-bf16 (default: cuda when built with it and a GPU is present, else cpu)", &C::device},
        {"fine-tuning", "freeze", "freeze tensors: a comma-separated list of embeddings, layers:K (blocks 0..K-1), body (all but the head) and name globs", &C::freeze},
        {"fine-tuning", "layer-lr-decay", "layer-wise lr decay d: block i trains at lr * d^(L-i), the embeddings at lr * d^(L+1), the head at lr (1: off)", &C::layer_lr_decay},
        {"fine-tuning", "lora-r", "LoRA rank (0: no LoRA); the base weights freeze, the adapters (and a classification head) train", &C::lora_r},
        {"fine-tuning", "lora-alpha", "LoRA alpha: the adapter's output is scaled by alpha/r", &C::lora_alpha},
        {"fine-tuning", "lora-dropout", "dropout on the adapters' input", &C::lora_dropout},
        {"fine-tuning", "lora-targets", "projections to adapt (GPT-2: c_attn, attn.c_proj, c_fc, mlp.c_proj; BERT: query, key, value, attention.output.dense, intermediate.dense, output.dense); default PEFT's: c_attn / query,value", &C::lora_targets},
        {"fine-tuning", "lora-rslora", "rank-stabilised LoRA: scale by alpha/sqrt(r)", &C::lora_rslora},
        {"fine-tuning", "adapter", "an adapter file (written at the end of a LoRA or prompt run) over the --model it was trained on; it brings its own LoRA or prompt settings", &C::adapter},
        {"fine-tuning", "prompt-method", "prompt (prompt tuning), ptuning (P-tuning, MLP encoder) or prefix (prefix tuning / P-tuning v2); the base weights freeze", &C::prompt_method},
        {"fine-tuning", "prompt-tokens", "virtual tokens of the prompt method", &C::prompt_tokens},
        {"fine-tuning", "prompt-hidden", "ptuning: the MLP encoder's width (PEFT's encoder_hidden_size); prefix: the reparameterisation width (0: none)", &C::prompt_hidden},
        {"data", "train-data", "lm: token file or glob of shards; classify, mlm: an examples file (bin/make_examples)", &C::train_data},
        {"data", "val-data", "validation data of the same kind (\"\" for none; classify and mlm: none unless given); classify: early stopping and the best checkpoint use it", &C::val_data},
        {"data", "test-data", "classify: an examples file evaluated with the best checkpoint at the end", &C::test_data},
        {"data", "tokenizer", "lm: byte, or a directory with GPT-2 BPE files (for samples and --prompt); mlm: wordpiece:DIR (for [MASK] and the special tokens)", &C::tokenizer},
        {"data", "mlm-probability", "mlm: fraction of tokens chosen for prediction (80% [MASK], 10% random, 10% kept)", &C::mlm_probability},
        {"data", "batch", "sequences per micro-batch", &C::batch, 'b'},
        {"data", "seq-len", "tokens per sequence (classify, mlm: the longest example allowed; 0: the model's context)", &C::seq_len, 't'},
        {"data", "grad-accum", "micro-batches per optimizer step", &C::grad_accum},
        {"data", "steps", "optimizer steps (default 2000 unless --epochs is given)", &C::steps},
        {"data", "epochs", "train for this many passes over the training data instead of --steps", &C::epochs},
        {"data", "no-shuffle", "training batches in file order (llm.c's loader), not shuffled by --seed each epoch", &C::shuffle, 0, true},
        {"optimizer", "lr", "peak learning rate", &C::lr},
        {"optimizer", "min-lr", "final learning rate of linear/cosine decay, floor of restarts", &C::min_lr},
        {"optimizer", "warmup", "linear warmup steps", &C::warmup},
        {"optimizer", "schedule", "constant, linear, cosine, step or restarts", &C::schedule},
        {"optimizer", "lr-step-size", "step: steps between decays; restarts: first period", &C::lr_step_size},
        {"optimizer", "lr-gamma", "step: decay factor", &C::lr_gamma},
        {"optimizer", "restart-mult", "restarts: each period this many times longer than the last", &C::restart_mult},
        {"optimizer", "weight-decay", "AdamW decoupled weight decay (matmul weights and embeddings)", &C::weight_decay},
        {"optimizer", "no-decay-embeddings", "exclude wte/wpe from weight decay", &C::decay_embeddings, 0, true},
        {"optimizer", "l1", "L1 penalty in the loss on the same weights", &C::l1},
        {"optimizer", "l2", "L2 penalty (coupled) in the loss on the same weights", &C::l2},
        {"optimizer", "beta1", "AdamW beta1", &C::beta1},
        {"optimizer", "beta2", "AdamW beta2", &C::beta2},
        {"optimizer", "eps", "AdamW epsilon", &C::eps},
        {"optimizer", "grad-clip", "max global gradient norm (0: no clipping)", &C::grad_clip},
        {"optimizer", "seed", "seed for initialisation, data order and dropout", &C::seed},
        {"optimizer", "on-nan", "on a non-finite loss or gradient norm: skip the step, or abort", &C::on_nan},
        {"output", "eval-every", "evaluate every N steps (0: at the end of each epoch)", &C::eval_every},
        {"output", "metric", "classify, mlm: the evaluation metric that picks the best checkpoint and early stopping: loss, accuracy, f1_macro, f1_micro, f1_weighted or auc", &C::metric},
        {"output", "patience", "stop after N evaluations without improvement of --metric (0: never)", &C::patience},
        {"output", "eval-batches", "validation batches per evaluation (0: the whole set)", &C::eval_batches},
        {"output", "checkpoint-dir", "where checkpoints go (and run.json, the run's resolved flags)", &C::checkpoint_dir},
        {"output", "checkpoint-every", "checkpoint every N steps (0: only at the end)", &C::checkpoint_every},
        {"output", "keep-last", "keep the newest K checkpoints (0: all)", &C::keep_last},
        {"output", "resume", "continue from the newest checkpoint in --checkpoint-dir (an error when there is none)", &C::resume},
        {"output", "resume-if-any", "continue from the newest checkpoint in --checkpoint-dir, or start afresh (from --model) when there is none: for a job that runs in slices", &C::resume_if_any},
        {"output", "overwrite", "start afresh in a --checkpoint-dir that holds another run's checkpoints or log, deleting them", &C::overwrite},
        {"output", "eval-only", "evaluate the model on --val-data (and --test-data), log it, and stop", &C::eval_only},
        {"output", "stop-after", "end this invocation after N steps (checkpointing), as a time-sliced job would; --resume continues", &C::stop_after},
        {"testing", "inject-nan-at", "testing aid: poison the gradients with a NaN at this step (not in --help)", &C::inject_nan_at},
        {"output", "sample-every", "print a sample every N steps (0: only at the end)", &C::sample_every},
        {"output", "sample-length", "tokens per sample", &C::sample_length},
        {"output", "temperature", "sampling temperature (0: greedy)", &C::temperature},
        {"output", "top-k", "sample among the k most likely tokens (0: all)", &C::top_k},
        {"output", "prompt", "text the samples start from", &C::prompt},
        {"output", "log", "JSONL log, a record per step and per evaluation (default: <checkpoint-dir>/log.jsonl)", &C::log},
        {"output", "print-every", "without a terminal, print a progress line every N steps", &C::print_every},
        {"output", "threads", "CPU threads (0: OpenMP's default)", &C::threads},
    };
    return flags;
}

const Flag* find_flag(const std::string& name) {
    for (const Flag& f : train_flags())
        if (name == f.name) return &f;
    return nullptr;
}

namespace {

// The flag's default for --task lm, as --help shows it.
std::string default_text(const Flag& f) {
    static const TrainConfig defaults = task_defaults("lm");
    return std::visit(
        [](auto field) -> std::string {
            const auto& v = defaults.*field;
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) return v == "\n" ? "\\n" : v;
            else if constexpr (std::is_same_v<T, float>) return nlohmann::json(shortest_decimal(v)).dump();
            else if constexpr (std::is_same_v<T, bool>) return "false";
            else return std::to_string(v);
        },
        f.field);
}

// Values parse as the field's type; --help shows the default unless the
// help text tells it or it is empty.
void add_flag(cxxopts::Options& opts, const Flag& f) {
    const std::string names = f.short_name ? std::string(1, f.short_name) + "," + f.name : f.name;
    const std::string shown = default_text(f);
    const bool show = !shown.empty() && std::string(f.help).find("default") == std::string::npos;
    std::visit(
        [&](auto field) {
            using T = std::decay_t<decltype(TrainConfig{}.*field)>;
            if constexpr (std::is_same_v<T, bool>) opts.add_option(f.group, {names, f.help});
            else if (show) opts.add_option(f.group, {names, f.help, cxxopts::value<T>()->default_value(shown)});
            else opts.add_option(f.group, {names, f.help, cxxopts::value<T>()});
        },
        f.field);
}

// The last value argv gives `flag` ("--task x" or "--task=x"), or `otherwise`.
std::string command_line_value(int argc, char** argv, const std::string& flag, const std::string& otherwise) {
    std::string value = otherwise;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == flag && i + 1 < argc) value = argv[++i];
        else if (a.rfind(flag + "=", 0) == 0) value = a.substr(flag.size() + 1);
    }
    return value;
}

// cxxopts names the text it could not parse, not the flag: find the flag.
std::runtime_error bad_value(int argc, char** argv, const std::string& message) {
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i], eq = a.substr(0, a.find('='));
        const std::string value = a.find('=') != std::string::npos ? a.substr(a.find('=') + 1) : i + 1 < argc ? argv[i + 1] : "";
        const Flag* f = a.rfind("--", 0) == 0 ? find_flag(eq.substr(2)) : nullptr;
        const bool named = message.find("'" + value + "'") != std::string::npos ||
                           message.find("\u2018" + value + "\u2019") != std::string::npos;  // cxxopts' quotes
        if (f && !value.empty() && named)
            return std::runtime_error(eq + " " + value + ": not a valid " +
                                      (std::holds_alternative<float TrainConfig::*>(f->field) ? "number" : "integer"));
    }
    return std::runtime_error(message);
}

// The command line's value of a flag it gives.
void read_flag(const cxxopts::ParseResult& r, const Flag& f, TrainConfig& cfg) {
    std::visit(
        [&](auto field) {
            using T = std::decay_t<decltype(cfg.*field)>;
            if constexpr (std::is_same_v<T, bool>) cfg.*field = !f.inverted;
            else cfg.*field = r[f.name].as<T>();
        },
        f.field);
}

}  // namespace

bool parse_train_flags(int argc, char** argv, TrainConfig& cfg) {
    cxxopts::Options opts("train", "Train GPT-2 and BERT models (see README.md). The defaults shown are --task lm's; "
                                   "classify and mlm take the Hugging Face Trainer's: --lr 5e-5 --schedule linear "
                                   "--min-lr 0 --warmup 0 --beta2 0.999 --weight-decay 0 --eval-every 0 (each epoch).");
    opts.set_width(100);
    for (const Flag& f : train_flags()) add_flag(opts, f);
    opts.add_options("output")("config-file", "a run file: a JSON object of these flags (e.g. a run's run.json); flags given here override it",
                               cxxopts::value<std::string>())("h,help", "print this help");
    // The task decides the defaults that the run file and the flags then change.
    const RunFile run_file = read_run_file_arg(argc, argv);
    cfg = task_defaults(command_line_value(argc, argv, "--task", run_file.task()));
    apply_run_file(run_file, cfg);
    cxxopts::ParseResult r;
    try {
        r = opts.parse(argc, argv);
    } catch (const cxxopts::exceptions::incorrect_argument_type& e) {
        throw bad_value(argc, argv, e.what());
    }
    if (!r.unmatched().empty()) throw std::runtime_error("unexpected argument '" + r.unmatched()[0] + "'");
    if (r.count("help")) {
        std::printf("%s\n", opts.help({"model", "fine-tuning", "data", "optimizer", "output"}).c_str());
        return false;
    }
    for (const Flag& f : train_flags())
        if (r.count(f.name)) read_flag(r, f, cfg);
    if (r.count("freeze") && cfg.freeze.empty()) throw std::runtime_error("--freeze: empty list");
    validate(cfg);
    cfg.run_flags = flags_json(cfg);
    cfg.recorded_data = run_file.recorded_data;
    return true;
}
