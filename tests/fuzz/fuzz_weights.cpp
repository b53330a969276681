// Weight files: minitrain's format (whole models and adapter files) and
// llm.c's v3 checkpoints, through read_weight_file and the config readers;
// when the config describes a small model, that model is built and the file
// loaded into it, strictly and partially, as ./train and the tools do.
#include <memory>
#include <string>

#include "formats/weights.h"
#include "fuzz_support.h"

namespace {

// Bigger models are skipped: allocating one per input would make the
// fuzzer slow without reaching code that a small one does not.
constexpr size_t kMaxParams = 4 << 20;

// Builds the model that the file's config describes (B = T = 1, nothing
// trainable: loading needs only the parameters) and loads the file into it.
template <typename Model, typename Config>
void load_small(const std::string& path, const Config& cfg) {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    Model model(*be, cfg, 1, 1);
    if (model.arena.params.count_elements(false) > kMaxParams) return;
    for (TensorInfo& t : model.arena.params.tensors) t.trainable = false;
    model.allocate();
    accepts([&] { load_weights(path, model); });
    accepts([&] { load_weights(path, model, true); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = write_input("model.bin", data, size);
    accepts([&] {
        const WeightFile file = read_weight_file(path);
        if (file.arch == "gpt2") load_small<GPT2>(path, read_gpt2_config(path));
        else load_small<BERT>(path, read_bert_config(path));
    });
    return 0;
}
