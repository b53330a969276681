// A training run's whole configuration: plain fields, one per ./train flag
// (src/cli/flags.cpp maps them and documents each in --help). The trainer
// library reads nothing else, so a program that embeds it fills this struct
// and calls run_training (train/run.h).
#pragma once
#include <cstdint>
#include <string>

#include "train/optimizer.h"
#include "train/schedule.h"

// The lm task's data when no --train-data / --val-data is given: made from
// tinyshakespeare by data/tinyshakespeare.sh on first use.
inline constexpr char kDefaultTrainData[] = "data/tinyshakespeare_train.bin";
inline constexpr char kDefaultValData[] = "data/tinyshakespeare_val.bin";

struct TrainConfig {
    // task and model
    std::string task = "lm";  // lm | classify | mlm
    std::string model;        // initial weights (minitrain or llm.c v3); "" starts from a preset
    std::string preset;       // "" = the task's default (tiny for lm, bert-mini otherwise)
    int layers = 0, channels = 0, heads = 0, max_seq_len = 0;  // preset overrides (0: the preset's)
    float dropout = 0.1f;
    std::string device;  // "" = cuda when built with it and a GPU is present, else cpu

    // fine-tuning methods
    std::string freeze;
    float layer_lr_decay = 1.0f;
    int lora_r = 0;
    float lora_alpha = 8.0f, lora_dropout = 0.0f;
    std::string lora_targets;
    bool lora_rslora = false;
    std::string adapter, prompt_method;
    int prompt_tokens = 20, prompt_hidden = 0;

    // data
    std::string train_data = kDefaultTrainData, val_data = kDefaultValData, test_data;
    std::string tokenizer = "byte";
    float mlm_probability = 0.15f;
    int batch = 16, seq_len = 128, grad_accum = 1, steps = 0, epochs = 0;
    bool shuffle = true;  // false: training batches in file order (llm.c's loader)

    // optimizer and schedule
    float lr = 1e-3f, min_lr = 1e-4f;
    int warmup = 100;
    std::string schedule = "cosine";
    int lr_step_size = 1000;
    float lr_gamma = 0.1f, restart_mult = 1.0f;
    float weight_decay = 0.1f;
    bool decay_embeddings = true;
    float l1 = 0.0f, l2 = 0.0f;
    float beta1 = 0.9f, beta2 = 0.99f, eps = 1e-8f, grad_clip = 1.0f;
    uint64_t seed = 1337;
    std::string on_nan = "skip";  // skip | abort

    // evaluation, checkpoints, output
    int eval_every = 250;  // 0: at the end of each epoch
    std::string metric = "loss";
    int patience = 0, eval_batches = 0;
    std::string checkpoint_dir = "out";
    int checkpoint_every = 500, keep_last = 3;
    bool resume = false, eval_only = false;
    bool resume_if_any = false;  // --resume, but start afresh when there is no checkpoint
    bool overwrite = false;      // replace another run's checkpoints and log in checkpoint_dir
    int stop_after = 0, inject_nan_at = -1;
    int sample_every = 500, sample_length = 300;
    float temperature = 0.8f;
    int top_k = 40;
    std::string prompt = "\n";
    std::string log;  // "" = <checkpoint_dir>/log.jsonl
    int print_every = 50, threads = 0;

    // run.json (train/run_record.h): the flags that made this config, as a
    // JSON object ("" writes no run.json), and the data files that a run file
    // being repeated recorded, as a JSON array ("": none to check).
    std::string run_flags, recorded_data;
};

// The defaults of a task. lm keeps the pretraining defaults above (llm.c's
// and nanoGPT's: cosine to 1e-4, beta2 0.99, weight decay 0.1, evaluation
// every 250 steps); classify and mlm take the Hugging Face Trainer's
// (TrainingArguments): lr 5e-5 decaying linearly to 0 with no warmup, AdamW
// betas 0.9/0.999, weight decay 0, evaluation at the end of each epoch, and
// no default data.
TrainConfig task_defaults(const std::string& task);

// The bounds of --batch and --grad-accum: a step draws at most their product
// in samples (a checkpoint's data position is checked against it).
inline constexpr int kMaxBatch = 65536, kMaxGradAccum = 65536;

// Checks every field on its own and against the others; throws a one-line
// std::runtime_error naming the flag. Fills in the task's default preset.
void validate(TrainConfig& cfg);

// The learning-rate schedule and the AdamW settings the config describes.
Schedule schedule_of(const TrainConfig& cfg, int total_steps);
AdamWConfig adamw_of(const TrainConfig& cfg);

// The log's path: --log, or <checkpoint_dir>/log.jsonl.
std::string log_path(const TrainConfig& cfg);
