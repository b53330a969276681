// Classification examples files: read_examples, then one shuffled epoch of
// padded batches from an ExampleLoader, each checked as a model checks its
// input (a file the reader accepts must give batches a model accepts).
#include <algorithm>
#include <string>

#include "data/example_loader.h"
#include "data/examples.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = write_input("examples.bin", data, size);
    Examples ex;
    if (!accepts([&] { ex = read_examples(path); }) || ex.size() == 0) return 0;
    int longest = 0;
    for (size_t i = 0; i < ex.size(); i++) longest = std::max(longest, ex.length(i));
    const int B = 3;
    ExampleLoader loader(ex, B, longest, 0, true, size);
    for (size_t i = 0; i < loader.batches_per_epoch(); i++) check_batch(loader.next_batch(), B, longest, ex.vocab_size);
    return 0;
}
