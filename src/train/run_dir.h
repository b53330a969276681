// The checkpoint directory a training run owns: one run at a time (an
// exclusive lock), and never a new run over another run's output, which a
// new run would mix with its own (--keep-last would delete the newer, lower-
// numbered checkpoints; a later --resume would pick up the older run).
#pragma once
#include <string>

#include "train/config.h"

// flock on <dir>/.lock for as long as it lives; throws "--checkpoint-dir DIR
// is in use by another ./train (pid N)" when another process holds it.
class RunDirLock {
  public:
    explicit RunDirLock(const std::string& dir);
    ~RunDirLock();
    RunDirLock(const RunDirLock&) = delete;
    RunDirLock& operator=(const RunDirLock&) = delete;

  private:
    int fd = -1;
};

// For a run starting at step 0: throws when the directory (or --log) holds
// another run's checkpoints, best checkpoint or log, unless cfg.overwrite,
// which deletes them.
void claim_for_fresh_run(const TrainConfig& cfg);
