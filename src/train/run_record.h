// run.json: what a run was made of, written into its checkpoint directory
// when training starts, so that the run can be repeated from that file alone
// (`./train --config-file out/run.json`):
//   { <every flag: its value>,
//     "minitrain": { "version": "...", "commit": "...",
//                    "data": [ { "flag": "train-data", "pattern": "...",
//                                "files": [ { "path", "bytes", "sha256" } ] } ] } }
// The data are the files that --train-data, --val-data, --test-data,
// --model and --adapter name (every shard of a glob).
#pragma once
#include <string>

#include "train/config.h"

// minitrain's version, and the commit it was built from ("unknown" outside git).
const char* minitrain_version();
const char* minitrain_commit();

// The "data" array for cfg's files as they are now (JSON text).
std::string data_record(const TrainConfig& cfg);

// The run recorded in <dir>/run.json started from cfg.model (or no run.json
// is there); throws "--model A: the run in DIR started from B" otherwise.
// Prints that a resumed run takes its weights from the checkpoint.
void check_resumed_model(const TrainConfig& cfg);

// Checks cfg.recorded_data (when given) against the files now: throws
// "run file: --train-data PATH has changed since it was recorded ..." when a
// file differs; then writes <checkpoint_dir>/run.json atomically (nothing
// when cfg.run_flags is empty).
void write_run_record(const TrainConfig& cfg);
