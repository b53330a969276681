// The run's JSONL log: one JSON object a line ("type": train, eval, skip,
// test, eval_only), each number exact (train/evaluation.h's json_number);
// train and eval records carry "time", seconds since 1970.
// Records are only ever appended; a resumed run first cuts the log back to
// its checkpoint's step (truncate_log), so the log always equals an
// uninterrupted run's.
#pragma once
#include <cstdint>
#include <string>

#include "core/fileio.h"

class RunLog {
  public:
    // Opens path to append; throws "<path>: cannot open the log for writing".
    explicit RunLog(const std::string& path);
    // Writes one record: `fields` is the object's inside ("\"type\":\"eval\",...").
    void record(const std::string& fields);
    void flush();
    // flush, then fsync: the records survive a crash (before a checkpoint
    // that follows them becomes visible). Throws on a write error (disk full).
    void sync();

  private:
    std::string path;
    FilePtr file;
};

// Rewrites the log at path (atomically) without its records of steps after
// `step`: what a run resumed from that step will write again. No file: nothing.
void truncate_log(const std::string& path, int64_t step);
