// Training checkpoints: everything a run needs to continue exactly.
//
// A checkpoint is a directory <dir>/step_%08d/ holding
//   model.bin  the weights in the minitrain format (usable alone with --model)
//   state.bin  AdamW moments, step, seeds and the data position
// It is written as step_%08d.tmp/ (each file fsynced), then renamed into place
// and the parent directory fsynced: a checkpoint is whole or absent, and a
// leftover step_*.tmp directory of any step (a killed run's) is ignored, and
// removed by the next save; a write that fails removes its own.
//
// state.bin, little-endian: char[8] "MTSTATE\0", u32 version 2, i64 step,
// u64 seed, u64 sample_rng, u64 loader epoch, shard, sample, samples_per_epoch,
// f64 best_metric, i64 best_step, i64 bad_evals (early stopping; version 2),
// u64 number of trainable tensors, then per tensor a u32-length name and u64
// element count (checked against the model), then the m block and the v block
// (the arena's gradient layout, trainable_total floats each).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataloader.h"
#include "core/model.h"

struct TrainState {
    int64_t step = 0;         // optimizer steps completed
    uint64_t seed = 0;        // the run's seed (dropout masks are keyed by it and the step)
    uint64_t sample_rng = 0;  // state of the sampling generator
    LoaderState train_pos;    // where the next training batch starts
    double best_metric = 0;   // early stopping: the best evaluation so far (at best_step > 0),
    int64_t best_step = 0;    //   and how many evaluations since then failed to beat it
    int64_t bad_evals = 0;
};

// Writes <dir>/step_%08d for state.step and keeps only the newest keep_last
// checkpoints (keep_last <= 0 keeps all). Returns the checkpoint's path.
std::string save_checkpoint(const std::string& dir, const Model& model, const TrainState& state,
                            int keep_last);
// Writes <dir>/best/model.bin (and labels.txt, one class name per line, when
// label_names is not empty, and the tokenizer's files when `tokenizer` names
// one: data/text_encoder.h's save_tokenizer), replacing an earlier best
// whole: written as best.tmp, then renamed into place.
void save_best(const std::string& dir, const Model& model, const std::vector<std::string>& label_names,
               const std::string& tokenizer = "");
// A kill between save_best's two renames leaves the earlier best whole as
// <dir>/best.old and no <dir>/best: puts it back.
void recover_best(const std::string& dir);

// The newest complete checkpoint under dir, or "" if there is none.
std::string latest_checkpoint(const std::string& dir);
// Loads weights and optimizer state into an allocated model whose trainable
// tensors match the checkpoint's; throws "<path>: <problem>" otherwise.
void load_checkpoint(const std::string& path, Model& model, TrainState& state);
