// Run files: `./train --config-file run.json` takes its flags from a JSON
// object whose keys are flag names without "--" ("lr": 3e-4, "no-shuffle":
// true, "train-data": "data/x.bin"); flags on the command line override it.
// Switches take true or false, numeric flags numbers, the others strings;
// an unknown key or a value of the wrong kind is an error naming the file.
// The run.json that every run writes (train/run_record.h) is such a file:
// it holds every flag, and its "minitrain" record (version, commit, data
// files with sizes and sha256) makes a repeated run check that its data are
// the same files.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/config.h"

struct RunFile {
    std::string path;                // "" without --config-file
    nlohmann::ordered_json flags = nlohmann::ordered_json::object();  // its flags (keys checked)
    std::string recorded_data;       // its "minitrain" record's "data" (JSON), "" if none
    std::string task() const;        // its "task", else lm's
};

// Reads the file that argv's --config-file names (none: an empty RunFile),
// checking its keys. Throws "--config-file: ..." or "PATH: unknown key 'x'".
RunFile read_run_file_arg(int argc, char** argv);
// Sets cfg's fields from the run file's flags; throws "PATH: key 'x' takes ...".
void apply_run_file(const RunFile& rf, TrainConfig& cfg);
// Both, in one call.
RunFile apply_run_file_arg(int argc, char** argv, TrainConfig& cfg);

// Every flag's value in cfg as a JSON object (the flag order of --help).
std::string flags_json(const TrainConfig& cfg);
