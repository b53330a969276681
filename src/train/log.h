// The run's JSONL log: one JSON object a line ("type": train, eval, skip,
// test, eval_only), each number exact (train/evaluation.h's json_number).
#pragma once
#include <string>

#include "core/fileio.h"

class RunLog {
  public:
    // Opens path to append, or truncated when !append; throws
    // "<path>: cannot open the log for writing".
    RunLog(const std::string& path, bool append);
    // Writes one record: `fields` is the object's inside ("\"type\":\"eval\",...").
    void record(const std::string& fields);
    void flush();

  private:
    FilePtr file;
};
