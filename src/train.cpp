// ./train: trains GPT-2 and BERT models, with evaluation, early stopping,
// checkpoints and exact resume. Three tasks:
//   lm        next-token prediction on token files (GPT-2), with sampling
//   classify  sequence classification on examples files (GPT-2 or BERT),
//             with classification metrics and the best checkpoint kept
//   mlm       masked-LM pretraining on examples files (BERT)
// Run with no arguments, it trains a small character-level GPT on
// tinyshakespeare (preparing the data first if needed).
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include "models/bert.h"
#include "train/checkpoint.h"
#include "data/dataloader.h"
#include "data/example_loader.h"
#include "data/examples.h"
#include "adapters/freeze.h"
#include "models/gpt2.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "models/sampler.h"
#include "train/schedule.h"
#include "data/tokenfile.h"
#include "data/text_encoder.h"
#include "data/tokenizer.h"
#include "formats/weights.h"

static const char* DEFAULT_TRAIN = "data/tinyshakespeare_train.bin";
static const char* DEFAULT_VAL = "data/tinyshakespeare_val.bin";

struct Options {
    std::string task, model, preset, train_data, val_data, test_data, tokenizer, device, checkpoint_dir, log_path;
    std::string on_nan, prompt, metric, freeze, lora_targets, prompt_method, adapter;
    int patience, lora_r, prompt_tokens, prompt_hidden;
    float mlm_prob, layer_lr_decay, lora_alpha, lora_dropout;
    bool lora_rslora;
    int layers, channels, heads, max_T;
    int B, T, accum, steps, epochs, warmup, eval_every, eval_batches, checkpoint_every, keep_last;
    int sample_every, sample_length, top_k, threads, print_every, stop_after, inject_nan_at;
    float lr, min_lr, weight_decay, l1, l2, beta1, beta2, eps, grad_clip, dropout, temperature;
    Schedule schedule;
    uint64_t seed;
    bool resume, decay_embeddings, eval_only;
};

static Options parse_options(int argc, char** argv, bool& help) {
    cxxopts::Options opts("train", "Train GPT-2 and BERT models (see README.md).");
    opts.set_width(100);
    opts.add_options("model")
        ("task", "lm (next token, GPT-2), classify (GPT-2 or BERT) or mlm (masked LM, BERT)", cxxopts::value<std::string>()->default_value("lm"))
        ("model", "initialise from a weight file (minitrain or llm.c v3); a classify or mlm run keeps its body and adds a fresh head where the file has another", cxxopts::value<std::string>()->default_value(""))
        ("config", "model preset without --model: GPT-2 tiny (L4 C128 H4 T256, the lm default), small (L6 C384 H6 T256), gpt2 (L12 C768 H12 T1024), gpt2-medium (L24 C1024 H16 T1024); BERT bert-tiny (L2 C128 H2 T512), bert-mini (L4 C256 H4 T512, the mlm/classify default), bert-small (L4 C512 H8 T512), bert-base (L12 C768 H12 T512)", cxxopts::value<std::string>()->default_value(""))
        ("layers", "override the preset's number of blocks", cxxopts::value<int>()->default_value("0"))
        ("channels", "override the preset's channels", cxxopts::value<int>()->default_value("0"))
        ("heads", "override the preset's attention heads", cxxopts::value<int>()->default_value("0"))
        ("max-seq-len", "override the preset's context length", cxxopts::value<int>()->default_value("0"))
        ("dropout", "dropout after embeddings, on attention probabilities, on residual branches (and before a BERT classifier)", cxxopts::value<float>()->default_value("0.1"))
        ("device", "cpu, cuda or cuda-bf16 (default: cuda when built with it and a GPU is present, else cpu)", cxxopts::value<std::string>()->default_value(""));
    opts.add_options("fine-tuning")
        ("freeze", "freeze tensors: a comma-separated list of embeddings, layers:K (blocks 0..K-1), body (all but the head) and name globs", cxxopts::value<std::string>()->default_value(""))
        ("layer-lr-decay", "layer-wise lr decay d: block i trains at lr * d^(L-i), the embeddings at lr * d^(L+1), the head at lr (1: off)", cxxopts::value<float>()->default_value("1"))
        ("lora-r", "LoRA rank (0: no LoRA); the base weights freeze, the adapters (and a classification head) train", cxxopts::value<int>()->default_value("0"))
        ("lora-alpha", "LoRA alpha: the adapter's output is scaled by alpha/r", cxxopts::value<float>()->default_value("8"))
        ("lora-dropout", "dropout on the adapters' input", cxxopts::value<float>()->default_value("0"))
        ("lora-targets", "projections to adapt (GPT-2: c_attn, attn.c_proj, c_fc, mlp.c_proj; BERT: query, key, value, attention.output.dense, intermediate.dense, output.dense); default PEFT's: c_attn / query,value", cxxopts::value<std::string>()->default_value(""))
        ("lora-rslora", "rank-stabilised LoRA: scale by alpha/sqrt(r)")
        ("adapter", "an adapter file (written at the end of a LoRA or prompt run) over the --model it was trained on; it brings its own LoRA or prompt settings", cxxopts::value<std::string>()->default_value(""))
        ("prompt-method", "prompt (prompt tuning), ptuning (P-tuning, MLP encoder) or prefix (prefix tuning / P-tuning v2); the base weights freeze", cxxopts::value<std::string>()->default_value(""))
        ("prompt-tokens", "virtual tokens of the prompt method", cxxopts::value<int>()->default_value("20"))
        ("prompt-hidden", "ptuning: the MLP encoder's width (PEFT's encoder_hidden_size); prefix: the reparameterisation width (0: none)", cxxopts::value<int>()->default_value("0"));
    opts.add_options("data")
        ("train-data", "lm: token file or glob of shards; classify, mlm: an examples file (bin/make_examples)", cxxopts::value<std::string>()->default_value(DEFAULT_TRAIN))
        ("val-data", "validation data of the same kind (\"\" for none); classify: early stopping and the best checkpoint use it", cxxopts::value<std::string>()->default_value(DEFAULT_VAL))
        ("test-data", "classify: an examples file evaluated with the best checkpoint at the end", cxxopts::value<std::string>()->default_value(""))
        ("tokenizer", "lm: byte, or a directory with GPT-2 BPE files (for samples and --prompt); mlm: wordpiece:DIR (for [MASK] and the special tokens)", cxxopts::value<std::string>()->default_value("byte"))
        ("mlm-probability", "mlm: fraction of tokens chosen for prediction (80% [MASK], 10% random, 10% kept)", cxxopts::value<float>()->default_value("0.15"))
        ("b,batch", "sequences per micro-batch", cxxopts::value<int>()->default_value("16"))
        ("t,seq-len", "tokens per sequence (classify, mlm: the longest example allowed; 0: the model's context)", cxxopts::value<int>()->default_value("128"))
        ("grad-accum", "micro-batches per optimizer step", cxxopts::value<int>()->default_value("1"))
        ("steps", "optimizer steps (default 2000 unless --epochs is given)", cxxopts::value<int>()->default_value("0"))
        ("epochs", "train for this many passes over the training data instead of --steps", cxxopts::value<int>()->default_value("0"));
    opts.add_options("optimizer")
        ("lr", "peak learning rate", cxxopts::value<float>()->default_value("1e-3"))
        ("min-lr", "final learning rate of linear/cosine decay, floor of restarts", cxxopts::value<float>()->default_value("1e-4"))
        ("warmup", "linear warmup steps", cxxopts::value<int>()->default_value("100"))
        ("schedule", "constant, linear, cosine, step or restarts", cxxopts::value<std::string>()->default_value("cosine"))
        ("lr-step-size", "step: steps between decays; restarts: first period", cxxopts::value<int>()->default_value("1000"))
        ("lr-gamma", "step: decay factor", cxxopts::value<float>()->default_value("0.1"))
        ("restart-mult", "restarts: each period this many times longer than the last", cxxopts::value<float>()->default_value("1"))
        ("weight-decay", "AdamW decoupled weight decay (matmul weights and embeddings)", cxxopts::value<float>()->default_value("0.1"))
        ("no-decay-embeddings", "exclude wte/wpe from weight decay")
        ("l1", "L1 penalty in the loss on the same weights", cxxopts::value<float>()->default_value("0"))
        ("l2", "L2 penalty (coupled) in the loss on the same weights", cxxopts::value<float>()->default_value("0"))
        ("beta1", "AdamW beta1", cxxopts::value<float>()->default_value("0.9"))
        ("beta2", "AdamW beta2", cxxopts::value<float>()->default_value("0.99"))
        ("eps", "AdamW epsilon", cxxopts::value<float>()->default_value("1e-8"))
        ("grad-clip", "max global gradient norm (0: no clipping)", cxxopts::value<float>()->default_value("1.0"))
        ("seed", "seed for initialisation, data order and dropout", cxxopts::value<uint64_t>()->default_value("1337"))
        ("on-nan", "on a non-finite loss or gradient norm: skip the step, or abort", cxxopts::value<std::string>()->default_value("skip"));
    opts.add_options("output")
        ("eval-every", "evaluate every N steps (0: at the end of each epoch)", cxxopts::value<int>()->default_value("250"))
        ("metric", "classify, mlm: the evaluation metric that picks the best checkpoint and early stopping: loss, accuracy, f1_macro, f1_micro, f1_weighted or auc", cxxopts::value<std::string>()->default_value("loss"))
        ("patience", "stop after N evaluations without improvement of --metric (0: never)", cxxopts::value<int>()->default_value("0"))
        ("eval-batches", "validation batches per evaluation (0: the whole set)", cxxopts::value<int>()->default_value("0"))
        ("checkpoint-dir", "where checkpoints go", cxxopts::value<std::string>()->default_value("out"))
        ("checkpoint-every", "checkpoint every N steps (0: only at the end)", cxxopts::value<int>()->default_value("500"))
        ("keep-last", "keep the newest K checkpoints (0: all)", cxxopts::value<int>()->default_value("3"))
        ("resume", "continue from the newest checkpoint in --checkpoint-dir")
        ("eval-only", "evaluate the model on --val-data (and --test-data) and stop")
        ("stop-after", "end this invocation after N steps (checkpointing), as a time-sliced job would; --resume continues", cxxopts::value<int>()->default_value("0"))
        ("inject-nan-at", "testing aid: poison the gradients with a NaN at this step", cxxopts::value<int>()->default_value("-1"))
        ("sample-every", "print a sample every N steps (0: only at the end)", cxxopts::value<int>()->default_value("500"))
        ("sample-length", "tokens per sample", cxxopts::value<int>()->default_value("300"))
        ("temperature", "sampling temperature (0: greedy)", cxxopts::value<float>()->default_value("0.8"))
        ("top-k", "sample among the k most likely tokens (0: all)", cxxopts::value<int>()->default_value("40"))
        ("prompt", "text the samples start from", cxxopts::value<std::string>()->default_value("\n"))
        ("log", "JSONL log, a record per step and per evaluation (default: <checkpoint-dir>/log.jsonl)", cxxopts::value<std::string>()->default_value(""))
        ("print-every", "without a terminal, print a progress line every N steps", cxxopts::value<int>()->default_value("50"))
        ("threads", "CPU threads (0: OpenMP's default)", cxxopts::value<int>()->default_value("0"))
        ("h,help", "print this help");

    auto r = opts.parse(argc, argv);
    if (!r.unmatched().empty()) throw std::runtime_error("unexpected argument '" + r.unmatched()[0] + "'");
    help = r.count("help") > 0;
    if (help) {
        std::printf("%s\n", opts.help({"model", "fine-tuning", "data", "optimizer", "output"}).c_str());
        return {};
    }
    Options o;
    o.task = r["task"].as<std::string>();
    o.test_data = r["test-data"].as<std::string>();
    o.metric = r["metric"].as<std::string>();
    o.patience = r["patience"].as<int>();
    o.mlm_prob = r["mlm-probability"].as<float>();
    o.freeze = r["freeze"].as<std::string>();
    o.layer_lr_decay = r["layer-lr-decay"].as<float>();
    o.lora_r = r["lora-r"].as<int>();
    o.lora_alpha = r["lora-alpha"].as<float>();
    o.lora_dropout = r["lora-dropout"].as<float>();
    o.lora_targets = r["lora-targets"].as<std::string>();
    o.lora_rslora = r.count("lora-rslora") > 0;
    o.prompt_method = r["prompt-method"].as<std::string>();
    o.adapter = r["adapter"].as<std::string>();
    o.prompt_tokens = r["prompt-tokens"].as<int>();
    o.prompt_hidden = r["prompt-hidden"].as<int>();
    o.model = r["model"].as<std::string>();
    o.preset = r["config"].as<std::string>();
    o.layers = r["layers"].as<int>(), o.channels = r["channels"].as<int>();
    o.heads = r["heads"].as<int>(), o.max_T = r["max-seq-len"].as<int>();
    o.dropout = r["dropout"].as<float>();
    o.device = r["device"].as<std::string>();
    o.train_data = r["train-data"].as<std::string>();
    o.val_data = r["val-data"].as<std::string>();
    o.tokenizer = r["tokenizer"].as<std::string>();
    o.B = r["batch"].as<int>(), o.T = r["seq-len"].as<int>(), o.accum = r["grad-accum"].as<int>();
    o.steps = r["steps"].as<int>(), o.epochs = r["epochs"].as<int>();
    o.lr = r["lr"].as<float>(), o.min_lr = r["min-lr"].as<float>(), o.warmup = r["warmup"].as<int>();
    o.schedule.kind = r["schedule"].as<std::string>();
    o.schedule.step_size = r["lr-step-size"].as<int>();
    o.schedule.gamma = r["lr-gamma"].as<float>();
    o.schedule.step_mult = r["restart-mult"].as<float>();
    o.weight_decay = r["weight-decay"].as<float>();
    o.decay_embeddings = !r.count("no-decay-embeddings");
    o.l1 = r["l1"].as<float>(), o.l2 = r["l2"].as<float>();
    o.beta1 = r["beta1"].as<float>(), o.beta2 = r["beta2"].as<float>(), o.eps = r["eps"].as<float>();
    o.grad_clip = r["grad-clip"].as<float>();
    o.seed = r["seed"].as<uint64_t>();
    o.on_nan = r["on-nan"].as<std::string>();
    o.eval_every = r["eval-every"].as<int>(), o.eval_batches = r["eval-batches"].as<int>();
    o.checkpoint_dir = r["checkpoint-dir"].as<std::string>();
    o.checkpoint_every = r["checkpoint-every"].as<int>(), o.keep_last = r["keep-last"].as<int>();
    o.resume = r.count("resume") > 0;
    o.eval_only = r.count("eval-only") > 0;
    o.stop_after = r["stop-after"].as<int>();
    o.inject_nan_at = r["inject-nan-at"].as<int>();
    o.sample_every = r["sample-every"].as<int>(), o.sample_length = r["sample-length"].as<int>();
    o.temperature = r["temperature"].as<float>(), o.top_k = r["top-k"].as<int>();
    o.prompt = r["prompt"].as<std::string>();
    o.log_path = r["log"].as<std::string>();
    if (o.log_path.empty()) o.log_path = o.checkpoint_dir + "/log.jsonl";
    o.print_every = r["print-every"].as<int>();
    o.threads = r["threads"].as<int>();

    auto fail = [](const std::string& m) { throw std::runtime_error(m); };
    if (o.task != "lm" && o.task != "classify" && o.task != "mlm") fail("--task " + o.task + ": expected lm, classify or mlm");
    const std::vector<std::string> metrics = {"loss", "accuracy", "f1_macro", "f1_micro", "f1_weighted", "auc"};
    if (std::find(metrics.begin(), metrics.end(), o.metric) == metrics.end())
        fail("--metric " + o.metric + ": expected loss, accuracy, f1_macro, f1_micro, f1_weighted or auc");
    if (o.task == "mlm" && o.metric != "loss" && o.metric != "accuracy") fail("--metric " + o.metric + ": mlm evaluates loss and accuracy");
    if (o.task == "lm" && o.metric != "loss") fail("--metric " + o.metric + ": lm evaluates the loss");
    if (o.patience < 0) fail("--patience must be >= 0");
    if (o.lora_r < 0) fail("--lora-r must be >= 0");
    if (o.lora_r && r.count("freeze")) fail("--freeze and --lora-r are exclusive: LoRA freezes every base weight itself");
    if (r.count("freeze") && o.freeze.empty()) fail("--freeze: empty list");
    if (!o.adapter.empty() && (o.lora_r || !o.prompt_method.empty()))
        fail("--adapter carries its own LoRA or prompt settings: drop --lora-r and --prompt-method");
    if (!o.adapter.empty() && o.model.empty()) fail("--adapter needs --model, the weights it was trained on");
    if (!o.prompt_method.empty() && r.count("freeze")) fail("--freeze and --prompt-method are exclusive: prompt methods freeze every base weight");
    if (!(o.mlm_prob > 0.0f && o.mlm_prob < 1.0f)) fail("--mlm-probability must be in (0, 1)");
    if (o.task != "lm" && r["train-data"].count() == 0) fail("--task " + o.task + " needs --train-data (an examples file)");
    if (o.task != "lm" && r["val-data"].count() == 0) o.val_data = "";
    if (o.preset.empty()) o.preset = o.task == "lm" ? "tiny" : "bert-mini";
    if (o.B < 1) fail("--batch must be >= 1");
    if (o.T < 0 || (o.T == 0 && o.task == "lm")) fail("--seq-len must be >= 1");
    if (o.accum < 1) fail("--grad-accum must be >= 1");
    if (o.steps < 0 || o.epochs < 0) fail("--steps and --epochs must be >= 0");
    if (o.steps > 0 && o.epochs > 0) fail("--steps and --epochs are exclusive: give one");
    if (!(o.dropout >= 0.0f && o.dropout < 1.0f)) fail("--dropout must be in [0, 1)");
    if (!(o.weight_decay >= 0.0f)) fail("--weight-decay must be >= 0");
    if (!(o.l1 >= 0.0f) || !(o.l2 >= 0.0f)) fail("--l1 and --l2 must be >= 0");
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f)) fail("--beta1 must be in [0, 1)");
    if (!(o.beta2 >= 0.0f && o.beta2 < 1.0f)) fail("--beta2 must be in [0, 1)");
    if (!(o.eps > 0.0f)) fail("--eps must be > 0");
    if (!(o.grad_clip >= 0.0f)) fail("--grad-clip must be >= 0");
    if (o.on_nan != "skip" && o.on_nan != "abort") fail("--on-nan " + o.on_nan + ": expected skip or abort");
    if (o.eval_every < 0 || o.eval_batches < 0) fail("--eval-every and --eval-batches must be >= 0");
    if (o.checkpoint_every < 0 || o.keep_last < 0) fail("--checkpoint-every and --keep-last must be >= 0");
    if (o.sample_every < 0 || o.sample_length < 0) fail("--sample-every and --sample-length must be >= 0");
    if (!(o.temperature >= 0.0f)) fail("--temperature must be >= 0");
    if (o.top_k < 0) fail("--top-k must be >= 0");
    if (o.threads < 0) fail("--threads must be >= 0");
    if (o.stop_after < 0) fail("--stop-after must be >= 0");
    if (o.print_every < 1) fail("--print-every must be >= 1");
    if (o.layers < 0 || o.channels < 0 || o.heads < 0 || o.max_T < 0)
        fail("--layers, --channels, --heads and --max-seq-len must be positive");
    o.schedule.lr = o.lr;
    o.schedule.min_lr = o.min_lr;
    o.schedule.warmup = o.warmup;
    validate(o.schedule);
    return o;
}

static bool is_bert_preset(const std::string& preset) { return preset.rfind("bert-", 0) == 0; }

static GPT2Config gpt2_preset(const Options& o, int vocab) {
    GPT2Config c;
    if (o.preset == "tiny") c.L = 4, c.C = 128, c.NH = 4, c.max_T = 256;
    else if (o.preset == "small") c.L = 6, c.C = 384, c.NH = 6, c.max_T = 256;
    else if (o.preset == "gpt2") c.L = 12, c.C = 768, c.NH = 12, c.max_T = 1024;
    else if (o.preset == "gpt2-medium") c.L = 24, c.C = 1024, c.NH = 16, c.max_T = 1024;
    else throw std::runtime_error("--config " + o.preset + ": expected tiny, small, gpt2, gpt2-medium or a bert-* preset");
    if (o.layers) c.L = o.layers;
    if (o.channels) c.C = o.channels;
    if (o.heads) c.NH = o.heads;
    if (o.max_T) c.max_T = o.max_T;
    c.V = vocab;
    c.Vp = (vocab + 127) / 128 * 128;  // llm.c's padding: aligned rows for the LM head
    validate(c, "--config");
    return c;
}

// BERT presets follow Google's compact BERTs (Turc et al. 2019): I = 4C.
static BertConfig bert_preset(const Options& o, int vocab) {
    BertConfig c;
    if (o.preset == "bert-tiny") c.L = 2, c.C = 128, c.NH = 2;
    else if (o.preset == "bert-mini") c.L = 4, c.C = 256, c.NH = 4;
    else if (o.preset == "bert-small") c.L = 4, c.C = 512, c.NH = 8;
    else if (o.preset == "bert-base") c.L = 12, c.C = 768, c.NH = 12;
    else throw std::runtime_error("--config " + o.preset + ": expected bert-tiny, bert-mini, bert-small or bert-base");
    if (o.layers) c.L = o.layers;
    if (o.channels) c.C = o.channels;
    if (o.heads) c.NH = o.heads;
    if (o.max_T) c.max_T = o.max_T;
    c.I = 4 * c.C;
    c.V = vocab;
    validate(c, "--config");
    return c;
}

// The data the default run uses is made by a script from the shared corpus (or a download).
static void prepare_default_data(const Options& o) {
    namespace fs = std::filesystem;
    if (o.train_data != DEFAULT_TRAIN || fs::exists(DEFAULT_TRAIN)) return;
    std::printf("preparing tinyshakespeare: data/tinyshakespeare.sh\n");
    std::fflush(stdout);
    if (std::system("bash data/tinyshakespeare.sh") != 0)
        throw std::runtime_error("data/tinyshakespeare.sh failed; run it by hand to see why");
}

// Cross-entropy of the validation tokens under the training tokens' unigram
// distribution (add-one smoothed): what a model that ignores context achieves.
static double unigram_baseline(const std::string& train_pattern, const std::string& val_pattern, int V) {
    std::vector<double> counts(V, 1.0);
    double total = V;
    for (uint32_t t : read_token_files(train_pattern)) counts[t] += 1, total += 1;
    double nll = 0;
    size_t n = 0;
    for (uint32_t t : read_token_files(val_pattern)) nll -= std::log(counts[t] / total), n++;
    return n ? nll / n : NAN;
}

// Exact for a float (9 significant digits round-trip), null when not finite (JSON has no NaN).
static std::string json_number(float x) {
    if (!std::isfinite(x)) return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}

static std::string format_duration(double seconds) {
    char buf[32];
    int s = (int)seconds;
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", s / 3600, s / 60 % 60);
    else std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
    return buf;
}

static void print_sample(GPT2& model, const Tokenizer& tok, const Options& o, uint64_t& rng) {
    std::vector<int> prompt;
    for (uint32_t id : tok.encode(o.prompt)) prompt.push_back((int)id);
    if (prompt.empty()) prompt.push_back(tok.eot() >= 0 ? tok.eot() : 0);
    std::printf("---- sample ----\n%s", o.prompt.c_str());
    generate(model, prompt, o.sample_length, o.temperature, o.top_k, rng, [&](int id) {
        std::string bytes = tok.decode_token((uint32_t)id);
        std::fwrite(bytes.data(), 1, bytes.size(), stdout);
        std::fflush(stdout);
    });
    std::printf("\n----------------\n");
}

// Where training batches come from: token files (lm) or examples (classify, mlm).
struct Source {
    virtual ~Source() = default;
    // The batch for micro-step `step` (masked-LM corruption is keyed by it).
    virtual const Batch& next(uint64_t step) = 0;
    virtual LoaderState state() const = 0;
    virtual void restore(const LoaderState& saved) = 0;
    virtual size_t batches_per_epoch() const = 0;
    virtual uint64_t epoch() const = 0;
    virtual void reset() = 0;
};

struct TokenSource : Source {
    DataLoader loader;
    Batch batch;
    TokenSource(const std::string& pattern, int B, int T, int V, bool shuffle, uint64_t seed)
        : loader(pattern, B, T, V, shuffle, seed) {
        batch.b = B, batch.t = T;
    }
    const Batch& next(uint64_t) override {
        loader.next_batch();
        batch.tokens = loader.inputs(), batch.targets = loader.targets();
        return batch;
    }
    LoaderState state() const override { return loader.state(); }
    void restore(const LoaderState& saved) override { loader.restore(saved); }
    size_t batches_per_epoch() const override { return loader.batches_per_epoch(); }
    uint64_t epoch() const override { return loader.epoch(); }
    void reset() override { loader.reset(); }
};

struct ExampleSource : Source {
    const std::string path;
    Examples ex;
    ExampleLoader loader;
    const MlmMasking* masking;  // null: batches as they are (classify)
    uint64_t seed;
    std::vector<int> tokens, targets;
    Batch batch;
    ExampleSource(const std::string& file, int B, int T, int pad_id, bool shuffle, uint64_t run_seed,
                  const MlmMasking* mlm)
        : path(file), ex(read_examples(file)), loader(check(ex, file, T), B, T, pad_id, shuffle, run_seed),
          masking(mlm), seed(run_seed) {}
    static const Examples& check(const Examples& ex, const std::string& file, int T) {
        for (size_t i = 0; i < ex.size(); i++)
            if (ex.length(i) > T)
                throw std::runtime_error(file + ": example " + std::to_string(i) + " has " +
                                         std::to_string(ex.length(i)) + " tokens, more than --seq-len " +
                                         std::to_string(T) + " (remake it with a smaller --max-len)");
        return ex;
    }
    const Batch& next(uint64_t step) override {
        batch = loader.next_batch();
        if (masking) mask_tokens(*masking, tokens, targets, batch, seed, step);
        return batch;
    }
    LoaderState state() const override { return loader.state(); }
    void restore(const LoaderState& saved) override {
        try {
            loader.restore(saved);
        } catch (const std::exception& e) {
            throw std::runtime_error(path + ": " + e.what());
        }
    }
    size_t batches_per_epoch() const override { return loader.batches_per_epoch(); }
    uint64_t epoch() const override { return loader.epoch(); }
    void reset() override { loader.reset(); }
};

// One evaluation: named metrics, "loss" first.
struct Evaluation {
    std::vector<std::pair<std::string, double>> metrics;
    double get(const std::string& name) const {
        for (const auto& m : metrics)
            if (m.first == name) return m.second;
        throw std::logic_error("no metric " + name);
    }
};

static Evaluation classification_evaluation(const std::vector<int>& truth, const std::vector<int>& pred,
                                            const std::vector<float>& probs, int K, double loss,
                                            const std::vector<std::string>& names, bool print) {
    ClassificationMetrics m = classification_metrics(truth.data(), pred.data(), probs.data(), (long long)truth.size(), K);
    if (print) std::printf("%s%s", format_report(m, names).c_str(), format_confusion(m, names).c_str());
    Evaluation e{{{"accuracy", m.accuracy},
             {"f1_macro", m.macro.f1},
             {"f1_micro", m.micro.f1},
             {"f1_weighted", m.weighted.f1},
             {"precision_macro", m.macro.precision},
             {"recall_macro", m.macro.recall},
             {"auc", m.roc_auc}}};
    if (!std::isnan(loss)) e.metrics.insert(e.metrics.begin(), {"loss", loss});  // a baseline has none
    return e;
}

// Runs the model over a whole data set (or its first max_batches batches) without dropout.
//   lm: the mean loss and the perplexity;
//   classify: the mean loss and the classification metrics (report printed when print);
//   mlm: the mean loss over masked tokens and their accuracy, with the same masks every time.
static Evaluation evaluate(Model& model, Source& data, const std::string& task, int max_batches,
                           const std::vector<std::string>& names, bool print) {
    bool was_training = model.training;
    model.training = false;
    data.reset();
    size_t batches = data.batches_per_epoch();
    if (max_batches > 0 && (size_t)max_batches < batches) batches = max_batches;
    double total = 0, weight = 0;
    std::vector<int> truth, pred;
    std::vector<float> probs, logits;
    long long correct = 0;
    int K = 0;
    for (size_t i = 0; i < batches; i++) {
        const Batch& batch = data.next((1ull << 48) + i);  // fixed masks, apart from training's
        float loss = model.forward(batch);
        int rows = 0, cols = 0;
        const float* dev = model.logits_view(rows, cols);
        if (task == "lm") {
            total += loss, weight += 1;
            continue;
        }
        logits.resize((size_t)rows * cols);
        model.arena.be.download(logits.data(), dev, logits.size() * sizeof(float));
        if (task == "mlm") {
            // rows are the positions with a target, in row-major order
            std::vector<int> targets;
            for (int k = 0; k < batch.b * batch.t; k++)
                if (batch.targets[k] >= 0) targets.push_back(batch.targets[k]);
            for (int r = 0; r < rows; r++) {
                const float* row = logits.data() + (size_t)r * cols;
                correct += std::max_element(row, row + cols) - row == targets[r];
            }
            total += (double)loss * rows, weight += rows;
            continue;
        }
        K = cols;
        softmax_rows(logits.data(), rows, cols);
        for (int r = 0; r < rows; r++) {
            const float* row = logits.data() + (size_t)r * cols;
            truth.push_back(batch.labels[r]);
            pred.push_back((int)(std::max_element(row, row + cols) - row));
        }
        probs.insert(probs.end(), logits.begin(), logits.end());
        total += (double)loss * rows, weight += rows;
    }
    model.training = was_training;
    double loss = weight ? total / weight : NAN;
    if (task == "lm") return {{{"loss", loss}, {"ppl", std::exp(loss)}}};
    if (task == "mlm") return {{{"loss", loss}, {"accuracy", weight ? correct / weight : NAN}}};
    return classification_evaluation(truth, pred, probs, K, loss, names, print);
}

// What always predicting the training set's most frequent class scores on `ex`.
static Evaluation majority_baseline(const Examples& train, const Examples& ex, int K,
                                    const std::vector<std::string>& names) {
    std::vector<long long> counts(K);
    for (int label : train.labels) counts[label]++;
    const int majority = (int)(std::max_element(counts.begin(), counts.end()) - counts.begin());
    std::vector<int> truth(ex.labels.begin(), ex.labels.end()), pred(ex.size(), majority);
    std::vector<float> probs(ex.size() * K, 0.0f);
    for (size_t i = 0; i < ex.size(); i++) probs[i * K + majority] = 1.0f;
    return classification_evaluation(truth, pred, probs, K, NAN, names, false);
}

static std::string metrics_line(const Evaluation& e) {
    std::string s;
    for (const auto& m : e.metrics) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%s %.4f", s.empty() ? "" : ", ", m.first.c_str(), m.second);
        s += buf;
    }
    return s;
}

static std::string metrics_json(const Evaluation& e) {
    std::string s;
    for (const auto& m : e.metrics) s += ",\"" + m.first + "\":" + json_number((float)m.second);
    return s;
}

// The special tokens of a WordPiece vocabulary that masking needs.
static MlmMasking mlm_masking(const Options& o, int V) {
    const std::string prefix = "wordpiece:";
    if (o.tokenizer.rfind(prefix, 0) != 0)
        throw std::runtime_error("--task mlm needs --tokenizer wordpiece:DIR (for [MASK] and the special tokens)");
    std::shared_ptr<WordPiece> wp = load_wordpiece(o.tokenizer.substr(prefix.size()));
    MlmMasking m;
    m.prob = o.mlm_prob;
    m.vocab = V;
    for (int id = 0; id < wp->vocab_size(); id++) {
        const std::string& tok = wp->token(id);
        if (tok == "[MASK]") m.mask_id = id;
        if (tok == "[CLS]" || tok == "[SEP]" || tok == "[PAD]" || tok == "[UNK]" || tok == "[MASK]")
            m.special.push_back(id);
    }
    if (m.mask_id < 0) throw std::runtime_error("--tokenizer " + o.tokenizer + ": the vocabulary has no [MASK]");
    if (wp->vocab_size() > V)
        throw std::runtime_error("--tokenizer " + o.tokenizer + ": vocabulary of " + std::to_string(wp->vocab_size()) +
                                 " does not fit the model's " + std::to_string(V));
    return m;
}

static int run(const Options& o) {
    if (o.threads > 0) omp_set_num_threads(o.threads);
    const bool lm = o.task == "lm", classify = o.task == "classify", mlm = o.task == "mlm";
    std::string resume_from = o.resume ? latest_checkpoint(o.checkpoint_dir) : "";
    const std::string weights = !resume_from.empty() ? resume_from + "/model.bin" : o.model;
    const std::string arch = !weights.empty() ? read_weight_file(weights).arch : is_bert_preset(o.preset) ? "bert" : "gpt2";
    if (arch == "gpt2" && mlm) throw std::runtime_error("--task mlm needs a BERT model (a bert-* --config or a BERT --model)");
    if (arch == "bert" && lm) throw std::runtime_error("--task lm needs a GPT-2 model; BERT trains with --task mlm");
    if (lm) prepare_default_data(o);

    std::unique_ptr<Backend> be;
    if (o.device.empty()) {
        try {
            be.reset(make_backend("cuda"));
        } catch (const std::exception&) {
            be.reset(make_backend("cpu"));
        }
    } else {
        be.reset(make_backend(o.device.c_str()));
    }

    // The examples say how many classes and tokens there are.
    std::unique_ptr<Examples> train_ex;
    if (!lm) train_ex = std::make_unique<Examples>(read_examples(o.train_data));
    const int num_labels = classify ? (int)train_ex->label_names.size() : 0;
    std::unique_ptr<Tokenizer> tok = lm ? make_tokenizer(o.tokenizer) : nullptr;
    const int data_vocab = lm ? tok->vocab_size() : train_ex->vocab_size;
    const int T = o.T ? o.T : (int)1e9;

    // LoRA from the flags, unless the weights being resumed carry their own.
    LoraConfig lora;
    if (o.lora_r) {
        lora.r = o.lora_r, lora.alpha = o.lora_alpha, lora.rslora = o.lora_rslora, lora.dropout = o.lora_dropout;
        std::stringstream targets(o.lora_targets);
        for (std::string t; std::getline(targets, t, ',');) lora.targets.push_back(t);
        validate(lora, arch);
    }
    if (!o.model.empty() && read_weight_file(o.model).adapter)
        throw std::runtime_error("--model " + o.model + ": an adapter file; give the base weights as --model and this as --adapter");
    if (!o.adapter.empty()) {
        const WeightFile af = read_weight_file(o.adapter);
        if (!af.adapter) throw std::runtime_error("--adapter " + o.adapter + ": not an adapter file (it holds a whole model: use --model)");
        if (af.arch != arch) throw std::runtime_error("--adapter " + o.adapter + ": made for " + af.arch + ", the model is " + arch);
        lora = lora_from_fields(af.config, arch, o.adapter);
    }
    PromptConfig prompt = !o.adapter.empty() ? prompt_from_fields(read_weight_file(o.adapter).config, o.adapter) : PromptConfig{};
    if (!o.prompt_method.empty()) {
        prompt.kind = prompt_kind(o.prompt_method), prompt.n = o.prompt_tokens, prompt.hidden = o.prompt_hidden;
        validate(prompt, "--prompt-method " + o.prompt_method);
    }
    // Adapters from the flags; without them, those the weights carry.
    auto adapters = [&](LoraConfig& c, PromptConfig& pc) {
        if (lora.r) c = lora;
        c.dropout = o.lora_dropout;
        if (prompt.kind != PromptKind::None) pc = prompt;
    };

    auto check_fits = [&](int context, int n) {
        if (o.T + n > context)
            throw std::runtime_error("--seq-len " + std::to_string(o.T) + (n ? " plus " + std::to_string(n) + " virtual tokens" : "") +
                                     " exceeds the model's context of " + std::to_string(context));
    };
    std::unique_ptr<Model> model;
    std::string description;
    int V = 0, max_T = 0, L = 0, virtual_tokens = 0;
    // What both architectures' configs get; returns the real tokens per sequence.
    auto complete = [&](auto& cfg) {
        cfg.num_labels = num_labels;
        adapters(cfg.lora, cfg.prompt);
        V = cfg.V, max_T = cfg.max_T, L = cfg.L, virtual_tokens = cfg.prompt.n;
        check_fits(max_T, virtual_tokens);
        return std::min(T, cfg.max_T - cfg.prompt.n);
    };
    if (arch == "gpt2") {
        GPT2Config cfg = weights.empty() ? gpt2_preset(o, data_vocab) : read_gpt2_config(weights);
        cfg.embd_pdrop = cfg.attn_pdrop = cfg.resid_pdrop = o.dropout;
        cfg.decay_embeddings = o.decay_embeddings;
        const int t = complete(cfg);
        model = std::make_unique<GPT2>(*be, cfg, o.B, t);
        char buf[160];
        std::snprintf(buf, sizeof buf, "GPT-2 L=%d C=%d H=%d V=%d (padded %d) max T=%d%s", cfg.L, cfg.C, cfg.NH, cfg.V,
                      cfg.Vp, cfg.max_T, classify ? ", classification head" : "");
        description = buf;
    } else {
        BertConfig cfg = weights.empty() ? bert_preset(o, data_vocab) : read_bert_config(weights);
        cfg.hidden_pdrop = cfg.attn_pdrop = cfg.classifier_pdrop = o.dropout;
        cfg.head = classify ? BertHead::Classifier : BertHead::MaskedLM;
        const int t = complete(cfg);
        model = std::make_unique<BERT>(*be, cfg, o.B, t);
        char buf[160];
        std::snprintf(buf, sizeof buf, "BERT L=%d C=%d H=%d I=%d V=%d max T=%d, %s head", cfg.L, cfg.C, cfg.NH, cfg.I,
                      cfg.V, cfg.max_T, classify ? "classification" : "masked-LM");
        description = buf;
    }
    if (data_vocab > V)
        throw std::runtime_error((lm ? "--tokenizer " + o.tokenizer : "--train-data " + o.train_data) + ": vocabulary of " +
                                 std::to_string(data_vocab) + " does not fit the model's " + std::to_string(V));
    // What trains. With adapters (LoRA, prompts): they and a classification
    // head (PEFT's modules_to_save: score, classifier), nothing else.
    TensorTable& params = model->arena.params;
    auto is_adapter = [](const TensorInfo& t) { return is_adapter_tensor(t.name); };
    if (std::any_of(params.tensors.begin(), params.tensors.end(), is_adapter))
        for (TensorInfo& t : params.tensors)
            t.trainable = is_adapter(t) || t.name == "score.weight" || t.name.rfind("classifier.", 0) == 0;
    if (!o.freeze.empty()) apply_freeze(params, o.freeze, L);
    if (o.layer_lr_decay != 1.0f) apply_layer_lr_decay(params, o.layer_lr_decay, L);
    model->allocate();
    std::printf("device: %s, %d threads\n", be->name(), omp_get_max_threads());
    std::printf("model: %s, dropout %.2f\n", description.c_str(), o.dropout);
    const LoraConfig& used = arch == "gpt2" ? static_cast<GPT2&>(*model).cfg.lora : static_cast<BERT&>(*model).cfg.lora;
    if (used.r) {
        std::string targets;
        for (const std::string& t : used.targets) targets += (targets.empty() ? "" : ",") + t;
        std::printf("LoRA: r %d, alpha %g (scale %g%s), dropout %g, targets %s\n", used.r, used.alpha, used.scaling(),
                    used.rslora ? ", rsLoRA" : "", used.dropout, targets.c_str());
    }
    const PromptConfig& prompted = arch == "gpt2" ? static_cast<GPT2&>(*model).cfg.prompt : static_cast<BERT&>(*model).cfg.prompt;
    if (prompted.kind != PromptKind::None) {
        static const char* names[] = {"", "prompt tuning", "P-tuning (MLP encoder)", "prefix tuning"};
        std::printf("prompts: %s, %d virtual tokens", names[(int)prompted.kind], prompted.n);
        if (prompted.hidden) std::printf(", encoder width %d", prompted.hidden);
        std::printf("\n");
    }
    std::printf("%s", describe_groups(params).c_str());
    size_t total_params = model->arena.params.count_elements(false);
    size_t trainable_params = model->arena.params.count_elements(true);
    std::printf("parameters: %zu total, %zu trainable (%.1f%%)\n", total_params, trainable_params,
                100.0 * trainable_params / total_params);
    std::printf("arena: params %.1f MiB, grads %.1f MiB, AdamW m+v %.1f MiB, activations %.1f MiB\n",
                model->arena.bytes_params() / 1048576.0, model->arena.bytes_grads() / 1048576.0,
                2 * model->arena.bytes_grads() / 1048576.0, model->arena.bytes_acts() / 1048576.0);

    TrainState st;
    st.seed = o.seed;
    st.sample_rng = o.seed ^ 0x5EED5A3D1E5ull;
    if (!resume_from.empty()) {
        load_checkpoint(resume_from, *model, st);  // the run's own seed comes back with it
        std::printf("resumed from %s at step %lld\n", resume_from.c_str(), (long long)st.step);
    } else if (!o.model.empty()) {
        // A pretrained body under this task's head: the head starts fresh where the file has none.
        model->init_weights(o.seed);
        // Partial where the model adds to the file: a head, or adapters.
        const bool adds = !lm || std::any_of(params.tensors.begin(), params.tensors.end(), is_adapter);
        LoadReport r = load_weights(o.model, *model, adds);
        std::printf("weights: %s\n", o.model.c_str());
        auto list = [](const std::vector<std::string>& names) {
            std::string s;
            for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
            return s;
        };
        if (!r.missing.empty()) std::printf("  initialised fresh (not in the file): %s\n", list(r.missing).c_str());
        if (!r.unused.empty()) std::printf("  not used (another head's): %s\n", list(r.unused).c_str());
        if (!o.adapter.empty()) {
            load_weights(o.adapter, *model);
            std::printf("adapter: %s\n", o.adapter.c_str());
        }
    } else {
        model->init_weights(o.seed);
    }
    model->seed = st.seed;

    std::unique_ptr<MlmMasking> masking = mlm ? std::make_unique<MlmMasking>(mlm_masking(o, V)) : nullptr;
    const int pad_id = 0;  // [PAD] in BERT vocabularies; any id serves GPT-2, whose pads are masked
    std::unique_ptr<Source> train, val, test;
    if (lm) {
        train = std::make_unique<TokenSource>(o.train_data, o.B, o.T, V, true, st.seed);
        if (!o.val_data.empty()) {
            val = std::make_unique<TokenSource>(o.val_data, o.B, o.T, V, false, 0);
            if (val->batches_per_epoch() == 0)
                throw std::runtime_error("--val-data " + o.val_data + ": fewer samples than one batch of " +
                                         std::to_string(o.B) + " x " + std::to_string(o.T));
        }
    } else {
        const int t = model->T;
        train = std::make_unique<ExampleSource>(o.train_data, o.B, t, pad_id, true, st.seed, masking.get());
        if (!o.val_data.empty()) val = std::make_unique<ExampleSource>(o.val_data, o.B, t, pad_id, false, st.seed, masking.get());
        if (!o.test_data.empty()) test = std::make_unique<ExampleSource>(o.test_data, o.B, t, pad_id, false, st.seed, nullptr);
        for (Source* s : {val.get(), test.get()}) {
            const ExampleSource* es = static_cast<const ExampleSource*>(s);
            if (!es) continue;
            if (es->ex.vocab_size > V)
                throw std::runtime_error(es->path + ": vocabulary of " + std::to_string(es->ex.vocab_size) +
                                         " does not fit the model's " + std::to_string(V));
            if (classify && es->ex.label_names != train_ex->label_names)
                throw std::runtime_error(es->path + ": its labels differ from --train-data's (make every split with the same --labels)");
        }
    }
    if (!resume_from.empty()) train->restore(st.train_pos);
    const std::vector<std::string> names = classify ? train_ex->label_names : std::vector<std::string>{};

    Schedule sched = o.schedule;
    int total_steps = o.steps;
    if (o.epochs > 0) total_steps = (int)((o.epochs * train->batches_per_epoch() + o.accum - 1) / o.accum);
    if (total_steps == 0) total_steps = 2000;
    sched.total = total_steps;
    const int steps_per_epoch = (int)std::max<size_t>(1, train->batches_per_epoch() / o.accum);
    const int eval_every = o.eval_every ? o.eval_every : steps_per_epoch;
    std::printf("training: %d steps of %d x %d tokens x %d micro-batches, %zu batches per epoch, lr %g (%s, warmup %d)\n",
                total_steps, o.B, model->T, o.accum, train->batches_per_epoch(), o.lr, sched.kind.c_str(), o.warmup);
    double baseline = NAN;
    if (val && lm) {
        baseline = unigram_baseline(o.train_data, o.val_data, V);
        std::printf("unigram baseline on the validation data: %.4f\n", baseline);
    }
    if (val && classify)
        std::printf("majority-class baseline on the validation data: %s\n",
                    metrics_line(majority_baseline(*train_ex, static_cast<ExampleSource&>(*val).ex, num_labels, names)).c_str());

    if (o.eval_only) {
        if (!val) throw std::runtime_error("--eval-only needs --val-data");
        std::printf("validation: %s\n", metrics_line(evaluate(*model, *val, o.task, o.eval_batches, names, classify)).c_str());
        if (test) std::printf("test: %s\n", metrics_line(evaluate(*model, *test, o.task, 0, names, true)).c_str());
        return 0;
    }
    std::filesystem::create_directories(o.checkpoint_dir);
    FILE* log = std::fopen(o.log_path.c_str(), resume_from.empty() ? "w" : "a");
    if (!log) throw std::runtime_error(o.log_path + ": cannot open the log for writing");
    std::unique_ptr<FILE, int (*)(FILE*)> log_closer(log, std::fclose);

    AdamWConfig opt;
    opt.beta1 = o.beta1, opt.beta2 = o.beta2, opt.eps = o.eps;
    opt.weight_decay = o.weight_decay, opt.grad_clip = o.grad_clip;
    const bool tty = isatty(fileno(stdout));
    auto run_start = std::chrono::steady_clock::now();
    double ms_avg = 0;
    float last_loss = NAN;
    Evaluation last_eval;
    int first_step = (int)st.step;
    const bool lower_is_better = o.metric == "loss";
    bool stop_early = false;

    auto do_eval = [&](int step) {
        if (!val) return;
        if (tty) std::printf("\n");
        last_eval = evaluate(*model, *val, o.task, o.eval_batches, names, classify);
        std::printf("%sstep %d: validation %s", tty ? "\r\033[K" : "", step, metrics_line(last_eval).c_str());
        if (lm) std::printf(" (unigram baseline %.4f)", baseline);
        std::printf("\n");
        std::fprintf(log, "{\"type\":\"eval\",\"step\":%d%s}\n", step, metrics_json(last_eval).c_str());
        std::fflush(log);
        if (lm) return;
        const double m = last_eval.get(o.metric);
        const bool better = st.best_step == 0 || (lower_is_better ? m < st.best_metric : m > st.best_metric);
        if (better) {
            st.best_metric = m, st.best_step = step, st.bad_evals = 0;
            save_best(o.checkpoint_dir, *model, names);
            std::printf("best %s so far: %.4f, saved to %s/best\n", o.metric.c_str(), m, o.checkpoint_dir.c_str());
        } else if (o.patience && ++st.bad_evals >= o.patience) {
            std::printf("early stop: %s has not improved on %.4f (step %lld) for %lld evaluations\n", o.metric.c_str(),
                        st.best_metric, (long long)st.best_step, (long long)st.bad_evals);
            stop_early = true;
        }
    };

    for (int step = first_step; step < total_steps; step++) {
        auto t0 = std::chrono::steady_clock::now();
        float lr = lr_at(sched, step);
        model->training = true;
        model->zero_grad();
        double loss_sum = 0;
        size_t tokens = 0;
        bool finite = true;
        for (int micro = 0; micro < o.accum; micro++) {
            model->step = (uint64_t)step * o.accum + micro;
            const Batch& batch = train->next(model->step);
            tokens += (size_t)batch.b * batch.t;
            float loss = model->forward(batch);
            if (!std::isfinite(loss)) {
                finite = false;
                break;
            }
            model->backward(1.0f / o.accum);
            loss_sum += loss;
        }
        add_penalties(model->arena, o.l1, o.l2);
        if (step + 1 == o.inject_nan_at) {
            const float nan = NAN;
            be->upload(model->arena.grad_mem, &nan, sizeof nan);
        }
        float norm = finite ? grad_norm(model->arena) : NAN;
        float loss = finite ? (float)(loss_sum / o.accum) : NAN;
        if (!finite || !std::isfinite(norm)) {
            std::string what = !finite ? "loss" : "gradient norm";
            if (o.on_nan == "abort")
                throw std::runtime_error("step " + std::to_string(step + 1) + ": non-finite " + what + "; aborting (--on-nan abort)");
            std::printf("%sstep %d: non-finite %s; the update was skipped\n", tty ? "\r\033[K" : "", step + 1, what.c_str());
            std::fprintf(log, "{\"type\":\"skip\",\"step\":%d,\"reason\":\"non-finite %s\"}\n", step + 1, what.c_str());
        } else {
            adamw_step(model->arena, opt, lr, step + 1, norm);
        }
        st.step = step + 1;
        st.train_pos = train->state();
        last_loss = loss;
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        ms_avg = step == first_step ? ms : 0.9 * ms_avg + 0.1 * ms;
        double tok_s = tokens / (ms / 1000.0);
        std::fprintf(log,
                     "{\"type\":\"train\",\"step\":%d,\"epoch\":%llu,\"loss\":%s,\"lr\":%.9g,\"grad_norm\":%s,"
                     "\"ms\":%.2f,\"tokens_per_s\":%.0f}\n",
                     step + 1, (unsigned long long)train->epoch(), json_number(loss).c_str(), lr,
                     json_number(norm).c_str(), ms, tok_s);
        std::string eta = format_duration(ms_avg / 1000.0 * (total_steps - step - 1));
        if (tty || (step + 1) % o.print_every == 0 || step + 1 == total_steps) {
            std::printf("%sstep %d/%d | loss %.4f | lr %.2e | norm %.3f | %.1f ms/step | %.0f tok/s | ETA %s%s",
                        tty ? "\r\033[K" : "", step + 1, total_steps, loss, lr, norm, ms, tok_s, eta.c_str(),
                        tty ? "" : "\n");
            std::fflush(stdout);
        }
        bool last = step + 1 == total_steps || step + 1 - first_step == o.stop_after;
        if ((step + 1) % eval_every == 0 || last) do_eval(step + 1);
        last = last || stop_early;
        if (lm && o.sample_every && (step + 1) % o.sample_every == 0 && !last) {
            if (tty) std::printf("\n");
            print_sample(static_cast<GPT2&>(*model), *tok, o, st.sample_rng);
        }
        if ((o.checkpoint_every && (step + 1) % o.checkpoint_every == 0) || last) {
            std::string path = save_checkpoint(o.checkpoint_dir, *model, st, o.keep_last);
            if (!tty) std::printf("checkpoint: %s\n", path.c_str());
        }
        std::fflush(log);
        if (last) break;
    }
    if (tty) std::printf("\n");
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    std::printf("done: %lld steps in %s; last train loss %.4f", (long long)(st.step - first_step), format_duration(wall).c_str(),
                last_loss);
    if (val && !last_eval.metrics.empty()) std::printf(", validation %s", metrics_line(last_eval).c_str());
    if (val && lm) std::printf(" (unigram baseline %.4f)", baseline);
    std::printf("\n");
    if (std::any_of(params.tensors.begin(), params.tensors.end(), is_adapter)) {
        const std::string path = o.checkpoint_dir + "/adapter.bin";
        save_adapter(path, *model);
        std::printf("adapter (the trained tensors alone): %s\n", path.c_str());
    }
    if (lm && o.sample_length > 0) print_sample(static_cast<GPT2&>(*model), *tok, o, st.sample_rng);
    if (test) {
        const std::string best = o.checkpoint_dir + "/best/model.bin";
        if (std::filesystem::exists(best)) {
            load_weights(best, *model);
            std::printf("test (%s) with the best checkpoint (step %lld, %s %.4f):\n", o.test_data.c_str(),
                        (long long)st.best_step, o.metric.c_str(), st.best_metric);
        } else {
            std::printf("test (%s) with the final weights (no validation data, so no best checkpoint):\n",
                        o.test_data.c_str());
        }
        Evaluation e = evaluate(*model, *test, o.task, 0, names, true);
        std::printf("test: %s\n", metrics_line(e).c_str());
        std::printf("test majority-class baseline: %s\n",
                    metrics_line(majority_baseline(*train_ex, static_cast<ExampleSource&>(*test).ex, num_labels, names)).c_str());
        std::fprintf(log, "{\"type\":\"test\"%s}\n", metrics_json(e).c_str());
    }
    return 0;
}

int main(int argc, char** argv) {
    try {
        bool help = false;
        Options o = parse_options(argc, argv, help);
        if (help) return 0;
        return run(o);
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "train: %s\n", e.what());
        return 1;
    }
}
