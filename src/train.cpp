// ./train: trains a GPT-2 on token files, with evaluation, sampling,
// checkpoints and exact resume. Run with no arguments, it trains a small
// character-level GPT on tinyshakespeare (preparing the data first if needed).
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "dataloader.h"
#include "gpt2.h"
#include "optimizer.h"
#include "sampler.h"
#include "schedule.h"
#include "tokenfile.h"
#include "tokenizer.h"
#include "weights.h"

static const char* DEFAULT_TRAIN = "data/tinyshakespeare_train.bin";
static const char* DEFAULT_VAL = "data/tinyshakespeare_val.bin";

struct Options {
    std::string model, preset, train_data, val_data, tokenizer, device, checkpoint_dir, log_path;
    std::string on_nan, prompt;
    int layers, channels, heads, max_T;
    int B, T, accum, steps, epochs, warmup, eval_every, eval_batches, checkpoint_every, keep_last;
    int sample_every, sample_length, top_k, threads, print_every, stop_after, inject_nan_at;
    float lr, min_lr, weight_decay, l1, l2, beta1, beta2, eps, grad_clip, dropout, temperature;
    Schedule schedule;
    uint64_t seed;
    bool resume, decay_embeddings;
};

static Options parse_options(int argc, char** argv, bool& help) {
    cxxopts::Options opts("train", "Train a GPT-2 on token files (see README.md).");
    opts.set_width(100);
    opts.add_options("model")
        ("model", "initialise from a weight file (minitrain or llm.c v3); otherwise from --config", cxxopts::value<std::string>()->default_value(""))
        ("config", "model preset to initialise: tiny (L4 C128 H4 T256), small (L6 C384 H6 T256), gpt2 (L12 C768 H12 T1024), gpt2-medium (L24 C1024 H16 T1024)", cxxopts::value<std::string>()->default_value("tiny"))
        ("layers", "override the preset's number of blocks", cxxopts::value<int>()->default_value("0"))
        ("channels", "override the preset's channels", cxxopts::value<int>()->default_value("0"))
        ("heads", "override the preset's attention heads", cxxopts::value<int>()->default_value("0"))
        ("max-seq-len", "override the preset's context length", cxxopts::value<int>()->default_value("0"))
        ("dropout", "dropout after embeddings, on attention probabilities and on residual branches", cxxopts::value<float>()->default_value("0.1"))
        ("device", "cpu, cuda or cuda-bf16 (default: cuda when built with it and a GPU is present, else cpu)", cxxopts::value<std::string>()->default_value(""));
    opts.add_options("data")
        ("train-data", "token file or glob of shards", cxxopts::value<std::string>()->default_value(DEFAULT_TRAIN))
        ("val-data", "token file or glob for validation (\"\" for none)", cxxopts::value<std::string>()->default_value(DEFAULT_VAL))
        ("tokenizer", "byte, or a directory with GPT-2 BPE files (for samples and --prompt)", cxxopts::value<std::string>()->default_value("byte"))
        ("b,batch", "sequences per micro-batch", cxxopts::value<int>()->default_value("16"))
        ("t,seq-len", "tokens per sequence", cxxopts::value<int>()->default_value("128"))
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
        ("eval-every", "evaluate every N steps (0: only at the end)", cxxopts::value<int>()->default_value("250"))
        ("eval-batches", "validation batches per evaluation (0: the whole set)", cxxopts::value<int>()->default_value("0"))
        ("checkpoint-dir", "where checkpoints go", cxxopts::value<std::string>()->default_value("out"))
        ("checkpoint-every", "checkpoint every N steps (0: only at the end)", cxxopts::value<int>()->default_value("500"))
        ("keep-last", "keep the newest K checkpoints (0: all)", cxxopts::value<int>()->default_value("3"))
        ("resume", "continue from the newest checkpoint in --checkpoint-dir")
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
        std::printf("%s\n", opts.help({"model", "data", "optimizer", "output"}).c_str());
        return {};
    }
    Options o;
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
    if (o.B < 1) fail("--batch must be >= 1");
    if (o.T < 1) fail("--seq-len must be >= 1");
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

static GPT2Config preset_config(const Options& o, int vocab) {
    GPT2Config c;
    if (o.preset == "tiny") c.L = 4, c.C = 128, c.NH = 4, c.max_T = 256;
    else if (o.preset == "small") c.L = 6, c.C = 384, c.NH = 6, c.max_T = 256;
    else if (o.preset == "gpt2") c.L = 12, c.C = 768, c.NH = 12, c.max_T = 1024;
    else if (o.preset == "gpt2-medium") c.L = 24, c.C = 1024, c.NH = 16, c.max_T = 1024;
    else throw std::runtime_error("--config " + o.preset + ": expected tiny, small, gpt2 or gpt2-medium");
    if (o.layers) c.L = o.layers;
    if (o.channels) c.C = o.channels;
    if (o.heads) c.NH = o.heads;
    if (o.max_T) c.max_T = o.max_T;
    c.V = vocab;
    c.Vp = (vocab + 127) / 128 * 128;  // llm.c's padding: aligned rows for the LM head
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

// Mean loss over the validation set (or its first max_batches batches).
static float evaluate(GPT2& model, DataLoader& val, int max_batches) {
    bool was_training = model.training;
    model.training = false;
    val.reset();
    size_t batches = val.batches_per_epoch();
    if (max_batches > 0 && (size_t)max_batches < batches) batches = max_batches;
    double total = 0;
    for (size_t i = 0; i < batches; i++) {
        val.next_batch();
        total += model.forward(val.inputs(), val.targets(), model.B, model.T);
    }
    model.training = was_training;
    return batches ? (float)(total / batches) : NAN;
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

static int run(const Options& o) {
    if (o.threads > 0) omp_set_num_threads(o.threads);
    prepare_default_data(o);
    std::unique_ptr<Tokenizer> tok = make_tokenizer(o.tokenizer);

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

    std::string resume_from = o.resume ? latest_checkpoint(o.checkpoint_dir) : "";
    std::string weights = !resume_from.empty() ? resume_from + "/model.bin" : o.model;
    GPT2Config cfg = weights.empty() ? preset_config(o, tok->vocab_size()) : read_gpt2_config(weights);
    cfg.embd_pdrop = cfg.attn_pdrop = cfg.resid_pdrop = o.dropout;
    cfg.decay_embeddings = o.decay_embeddings;
    if (o.T > cfg.max_T)
        throw std::runtime_error("--seq-len " + std::to_string(o.T) + " exceeds the model's context of " +
                                 std::to_string(cfg.max_T));
    if (tok->vocab_size() > cfg.V)
        throw std::runtime_error("--tokenizer " + o.tokenizer + ": vocabulary of " + std::to_string(tok->vocab_size()) +
                                 " does not fit the model's " + std::to_string(cfg.V));

    GPT2 model(*be, cfg, o.B, o.T);
    model.allocate();
    std::printf("device: %s, %d threads\n", be->name(), omp_get_max_threads());
    std::printf("model: GPT-2 L=%d C=%d H=%d V=%d (padded %d) max T=%d, dropout %.2f\n", cfg.L, cfg.C,
                cfg.NH, cfg.V, cfg.Vp, cfg.max_T, o.dropout);
    size_t total_params = model.arena.params.count_elements(false);
    size_t trainable_params = model.arena.params.count_elements(true);
    std::printf("parameters: %zu total, %zu trainable (%.1f%%)\n", total_params, trainable_params,
                100.0 * trainable_params / total_params);
    std::printf("arena: params %.1f MiB, grads %.1f MiB, AdamW m+v %.1f MiB, activations %.1f MiB\n",
                model.arena.bytes_params() / 1048576.0, model.arena.bytes_grads() / 1048576.0,
                2 * model.arena.bytes_grads() / 1048576.0, model.arena.bytes_acts() / 1048576.0);

    TrainState st;
    st.seed = o.seed;
    st.sample_rng = o.seed ^ 0x5EED5A3D1E5ull;
    if (!resume_from.empty()) {
        load_checkpoint(resume_from, model, st);  // the run's own seed comes back with it
        std::printf("resumed from %s at step %lld\n", resume_from.c_str(), (long long)st.step);
    } else if (!o.model.empty()) {
        load_gpt2_weights(o.model, model);
        std::printf("weights: %s\n", o.model.c_str());
    } else {
        model.init_weights(o.seed);
    }
    model.seed = st.seed;
    DataLoader train(o.train_data, o.B, o.T, cfg.V, true, st.seed);
    if (!resume_from.empty()) train.restore(st.train_pos);
    std::unique_ptr<DataLoader> val;
    if (!o.val_data.empty()) {
        val.reset(new DataLoader(o.val_data, o.B, o.T, cfg.V, false, 0));
        if (val->batches_per_epoch() == 0)
            throw std::runtime_error("--val-data " + o.val_data + ": fewer samples than one batch of " +
                                     std::to_string(o.B) + " x " + std::to_string(o.T));
    }

    Schedule sched = o.schedule;
    int total_steps = o.steps;
    if (o.epochs > 0) total_steps = (int)((o.epochs * train.batches_per_epoch() + o.accum - 1) / o.accum);
    if (total_steps == 0) total_steps = 2000;
    sched.total = total_steps;
    std::printf("training: %d steps of %d x %d tokens x %d micro-batches, %zu batches per epoch, lr %g (%s, warmup %d)\n",
                total_steps, o.B, o.T, o.accum, train.batches_per_epoch(), o.lr, sched.kind.c_str(), o.warmup);
    double baseline = NAN;
    if (val) {
        baseline = unigram_baseline(o.train_data, o.val_data, cfg.V);
        std::printf("unigram baseline on the validation data: %.4f\n", baseline);
    }

    std::filesystem::create_directories(o.checkpoint_dir);
    FILE* log = std::fopen(o.log_path.c_str(), resume_from.empty() ? "w" : "a");
    if (!log) throw std::runtime_error(o.log_path + ": cannot open the log for writing");
    std::unique_ptr<FILE, int (*)(FILE*)> log_closer(log, std::fclose);

    AdamWConfig opt;
    opt.beta1 = o.beta1, opt.beta2 = o.beta2, opt.eps = o.eps;
    opt.weight_decay = o.weight_decay, opt.grad_clip = o.grad_clip;
    const bool tty = isatty(fileno(stdout));
    const size_t tokens_per_step = (size_t)o.B * o.T * o.accum;
    auto run_start = std::chrono::steady_clock::now();
    double ms_avg = 0;
    float val_loss = NAN, last_loss = NAN;
    int first_step = (int)st.step;

    auto do_eval = [&](int step) {
        if (!val) return;
        val_loss = evaluate(model, *val, o.eval_batches);
        std::printf("%sstep %d: val loss %.4f, perplexity %.2f (unigram baseline %.4f)\n", tty ? "\r\033[K" : "", step,
                    val_loss, std::exp(val_loss), baseline);
        std::fprintf(log, "{\"type\":\"eval\",\"step\":%d,\"val_loss\":%s,\"val_ppl\":%s}\n", step,
                     json_number(val_loss).c_str(), json_number(std::exp(val_loss)).c_str());
        std::fflush(log);
    };

    for (int step = first_step; step < total_steps; step++) {
        auto t0 = std::chrono::steady_clock::now();
        float lr = lr_at(sched, step);
        model.training = true;
        model.zero_grad();
        double loss_sum = 0;
        bool finite = true;
        for (int micro = 0; micro < o.accum; micro++) {
            train.next_batch();
            model.step = (uint64_t)step * o.accum + micro;
            float loss = model.forward(train.inputs(), train.targets(), o.B, o.T);
            if (!std::isfinite(loss)) {
                finite = false;
                break;
            }
            model.backward(1.0f / o.accum);
            loss_sum += loss;
        }
        add_penalties(model.arena, o.l1, o.l2);
        if (step + 1 == o.inject_nan_at) {
            const float nan = NAN;
            be->upload(model.arena.grad_mem, &nan, sizeof nan);
        }
        float norm = finite ? grad_norm(model.arena) : NAN;
        float loss = finite ? (float)(loss_sum / o.accum) : NAN;
        if (!finite || !std::isfinite(norm)) {
            std::string what = !finite ? "loss" : "gradient norm";
            if (o.on_nan == "abort")
                throw std::runtime_error("step " + std::to_string(step + 1) + ": non-finite " + what + "; aborting (--on-nan abort)");
            std::printf("%sstep %d: non-finite %s; the update was skipped\n", tty ? "\r\033[K" : "", step + 1, what.c_str());
            std::fprintf(log, "{\"type\":\"skip\",\"step\":%d,\"reason\":\"non-finite %s\"}\n", step + 1, what.c_str());
        } else {
            adamw_step(model.arena, opt, lr, step + 1, norm);
        }
        st.step = step + 1;
        st.train_pos = train.state();
        last_loss = loss;
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        ms_avg = step == first_step ? ms : 0.9 * ms_avg + 0.1 * ms;
        double tok_s = tokens_per_step / (ms / 1000.0);
        std::fprintf(log,
                     "{\"type\":\"train\",\"step\":%d,\"epoch\":%llu,\"loss\":%s,\"lr\":%.9g,\"grad_norm\":%s,"
                     "\"ms\":%.2f,\"tokens_per_s\":%.0f}\n",
                     step + 1, (unsigned long long)train.epoch(), json_number(loss).c_str(), lr,
                     json_number(norm).c_str(), ms, tok_s);
        std::string eta = format_duration(ms_avg / 1000.0 * (total_steps - step - 1));
        if (tty || (step + 1) % o.print_every == 0 || step + 1 == total_steps) {
            std::printf("%sstep %d/%d | loss %.4f | lr %.2e | norm %.3f | %.1f ms/step | %.0f tok/s | ETA %s%s",
                        tty ? "\r\033[K" : "", step + 1, total_steps, loss, lr, norm, ms, tok_s, eta.c_str(),
                        tty ? "" : "\n");
            std::fflush(stdout);
        }
        bool last = step + 1 == total_steps || step + 1 - first_step == o.stop_after;
        if ((o.eval_every && (step + 1) % o.eval_every == 0) || last) do_eval(step + 1);
        if (o.sample_every && (step + 1) % o.sample_every == 0 && !last) {
            if (tty) std::printf("\n");
            print_sample(model, *tok, o, st.sample_rng);
        }
        if ((o.checkpoint_every && (step + 1) % o.checkpoint_every == 0) || last) {
            std::string path = save_checkpoint(o.checkpoint_dir, model, st, o.keep_last);
            if (!tty) std::printf("checkpoint: %s\n", path.c_str());
        }
        std::fflush(log);
        if (last) break;
    }
    if (tty) std::printf("\n");
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    std::printf("done: %lld steps in %s; last train loss %.4f", (long long)(st.step - first_step), format_duration(wall).c_str(),
                last_loss);
    if (val) std::printf(", val loss %.4f (unigram baseline %.4f)", val_loss, baseline);
    std::printf("\n");
    if (o.sample_length > 0) print_sample(model, *tok, o, st.sample_rng);
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
