// Run files (./train --config-file): apply_run_file_arg reads the input's
// flags into a TrainConfig, then write_run_record checks its "minitrain"
// record of data files against the data now, as a repeated run does. The
// data is one fixed token file in the scratch folder (whatever the input
// names), so that no file outside it is read or hashed.
#include <string>

#include "cli/run_file.h"
#include "data/tokenfile.h"
#include "fuzz_support.h"
#include "train/run_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string tokens = [] {
        const std::string path = scratch_dir() + "/tokens.bin";
        write_token_file(path, {1, 2, 3}, 256);
        return path;
    }();
    std::string path = write_input("run.json", data, size);
    char* argv[] = {(char*)"train", (char*)"--config-file", path.data()};
    TrainConfig cfg;
    RunFile run_file;
    if (!accepts([&] { run_file = apply_run_file_arg(3, argv, cfg); })) return 0;
    cfg.train_data = tokens, cfg.val_data = cfg.test_data = cfg.model = cfg.adapter = "";
    cfg.checkpoint_dir = scratch_dir();
    cfg.run_flags = "";  // check the record, write no run.json
    cfg.recorded_data = run_file.recorded_data;
    accepts([&] { write_run_record(cfg); });
    return 0;
}
