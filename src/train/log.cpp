#include "train/log.h"

#include <stdexcept>

RunLog::RunLog(const std::string& path, bool append) : file(std::fopen(path.c_str(), append ? "a" : "w"), std::fclose) {
    if (!file) throw std::runtime_error(path + ": cannot open the log for writing");
}

void RunLog::record(const std::string& fields) { std::fprintf(file.get(), "{%s}\n", fields.c_str()); }

void RunLog::flush() { std::fflush(file.get()); }
