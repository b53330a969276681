// ./train's flags: one table that maps each flag to its TrainConfig field,
// with its --help text; the defaults are TrainConfig's own. The table drives
// the parser (cxxopts), --help, and run files (cli/run_file.h) alike.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "train/config.h"

using FlagField = std::variant<std::string TrainConfig::*, int TrainConfig::*, float TrainConfig::*,
                               uint64_t TrainConfig::*, bool TrainConfig::*>;

struct Flag {
    const char* group;  // the --help section
    const char* name;   // the long name, without "--"
    const char* help;
    FlagField field;
    char short_name = 0;    // "-b" for --batch
    bool inverted = false;  // a switch that sets its field false (--no-shuffle)
};

const std::vector<Flag>& train_flags();
const Flag* find_flag(const std::string& name);  // null when there is no such flag

// Parses ./train's arguments into a validated config. A --config-file's
// flags come first and the command line's after them, so the command line
// wins. Returns false (after printing --help) when help was asked for.
// Throws a one-line std::runtime_error naming the flag or file at fault.
bool parse_train_flags(int argc, char** argv, TrainConfig& cfg);
