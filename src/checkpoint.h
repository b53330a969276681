// Training checkpoints: everything a run needs to continue exactly.
//
// A checkpoint is a directory <dir>/step_%08d/ holding
//   model.bin  the weights in the minitrain format (usable alone with --model)
//   state.bin  AdamW moments, step, seeds and the data position
// It is written as step_%08d.tmp/ (each file fsynced), then renamed into place
// and the parent directory fsynced: a checkpoint is whole or absent, and a
// leftover .tmp directory from a killed run is ignored and removed.
//
// state.bin, little-endian: char[8] "MTSTATE\0", u32 version 1, i64 step,
// u64 seed, u64 sample_rng, u64 loader epoch, shard, sample, samples_per_epoch,
// u64 number of trainable tensors, then per tensor a u32-length name and u64
// element count (checked against the model), then the m block and the v block
// (the arena's gradient layout, trainable_total floats each).
#pragma once
#include <cstdint>
#include <string>

#include "dataloader.h"
#include "gpt2.h"

struct TrainState {
    int64_t step = 0;         // optimizer steps completed
    uint64_t seed = 0;        // the run's seed (dropout masks are keyed by it and the step)
    uint64_t sample_rng = 0;  // state of the sampling generator
    LoaderState train_pos;    // where the next training batch starts
};

// Writes <dir>/step_%08d for state.step and keeps only the newest keep_last
// checkpoints (keep_last <= 0 keeps all). Returns the checkpoint's path.
std::string save_checkpoint(const std::string& dir, const GPT2& model, const TrainState& state,
                            int keep_last);
// The newest complete checkpoint under dir, or "" if there is none.
std::string latest_checkpoint(const std::string& dir);
// Loads weights and optimizer state into an allocated model whose trainable
// tensors match the checkpoint's; throws "<path>: <problem>" otherwise.
void load_checkpoint(const std::string& path, GPT2& model, TrainState& state);
