// Token files (llm.c's uint16 shards and the uint32 variant): read_token_file,
// then a shuffling DataLoader over the same file, drawing batches across an
// epoch's end and restoring saved positions, as training and --resume do.
#include <string>

#include "data/dataloader.h"
#include "data/tokenfile.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = write_input("tokens.bin", data, size);
    if (!accepts([&] { read_token_file(path); })) return 0;
    accepts([&] {
        DataLoader loader(path, 2, 3, 1 << 17, true, size);
        for (size_t i = 0; i <= loader.batches_per_epoch(); i++) loader.next_batch();
        LoaderState saved = loader.state();
        loader.restore(saved);
        loader.next_batch();
        saved.sample++;  // one past the shard's end when the file is a single sample
        loader.restore(saved);
        loader.next_batch();
    });
    return 0;
}
