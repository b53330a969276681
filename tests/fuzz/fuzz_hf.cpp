// Hugging Face folders (config.json + model.safetensors) through
// convert_hf_to_minitrain, as bin/convert --from-hf runs it. The input is
// both files (split_input: a 4-byte length, config.json, then the rest).
#include <string>

#include "formats/hf_convert.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string config, weights;
    if (!split_input(data, size, config, weights)) return 0;
    write_input("config.json", config);
    write_input("model.safetensors", weights);
    accepts([&] { convert_hf_to_minitrain(scratch_dir(), scratch_dir() + "/out.bin"); });
    return 0;
}
