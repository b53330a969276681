// One whole run from a TrainConfig: the task, the backend, the model and its
// starting weights (or the checkpoint to resume), the data, then the
// trainer's fit (or evaluate_only). What ./train's main calls, and what a
// program that embeds the library calls.
#pragma once
#include <vector>

#include "train/config.h"
#include "train/hooks.h"

// Validates a copy of cfg and runs it, with `hooks` joining every step after
// the configured ones; throws a one-line std::runtime_error on bad input
// (flags, files, a non-finite step under --on-nan abort). Returns the exit
// status: 0, or 128 + the signal that stopped the run (it checkpointed first).
int run_training(const TrainConfig& cfg, const std::vector<StepHook*>& hooks = {});
