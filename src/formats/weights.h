// Weight files: minitrain's own format (written and read) and llm.c's GPT-2
// checkpoint (read only).
//
// minitrain format, version 1. All integers little-endian; a string is a u32
// byte count (1..255) then that many visible ASCII bytes (0x21..0x7e):
//
//   char[8]  magic "MINITRN\0"
//   u32      version = 1
//   string   architecture ("gpt2" or "bert")
//   u32      number of config fields, then for each: string name, i64 value
//            (gpt2: max_T, V, Vp, L, NH, C, [num_labels]; bert: see bert.h)
//   u32      number of tensors, then for each:
//              string name          ("wte.weight", "h.0.ln_1.weight", ... as in gpt2.cpp, bert.cpp)
//              u32    dtype         (0 = fp32, the only one so far)
//              u32    ndim          (1..8), then i64 dims[ndim], each >= 1
//              u64    offset        of the data from the start of the file, a multiple of 64
//              u64    length        of the data in bytes (= 4 * product of dims)
//   data     zero padding, then each tensor's elements row-major at its offset;
//            the ranges lie after the table, do not overlap, and the file ends
//            where the last one ends.
//
// The tensors are the model's parameters by name: exactly the table that the
// architecture and config imply (gpt2_param_table, bert_param_table).
//
// An adapter file is the same format holding only what fine-tuning changed:
// its config is the whole model's plus a last field "adapter" = 1, and its
// tensors are the model's trainable ones (LoRA's lora_A/lora_B, a trained
// head such as score.weight or classifier.*), a non-empty subset of the table
// the config implies, with the same shapes. It is loaded over a model that
// already holds the base weights, and only into a model whose config is the
// same (shape, head, LoRA rank, alpha and targets).
//
// llm.c checkpoint (karpathy/llm.c, train_gpt2.c): 256 little-endian int32
// (magic 20240326, version 3 = fp32 with padded vocab, [2] max_T, [3] V,
// [4] L, [5] NH, [6] C, [7] Vp), then the 16 parameter tensors back to back,
// each stacked over the L layers (all layers' ln_1.weight, then all layers'
// ln_1.bias, ...); matmul weights (out, in) like ours. The length must be
// exactly 1024 + 4 * (number of parameters).
//
// Readers check everything before they allocate or trust a size and throw
// std::runtime_error("<path>: <problem>") on one line.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/bert.h"
#include "models/gpt2.h"

struct StoredTensor {
    std::string name;
    std::vector<int64_t> shape;
    uint64_t offset = 0;  // bytes from the start of the file
    uint64_t bytes = 0;
    std::string shape_str() const;  // "(768, 2304)"
};

// A weight file's header and tensor table, read and checked (not its data).
// An llm.c checkpoint is described by the same table: one entry per layer's
// slice of each stacked tensor, under our names.
struct WeightFile {
    std::string format;  // "minitrain v1", "minitrain v1 adapter" or "llm.c v3 (fp32)"
    std::string arch;    // "gpt2" or "bert"
    bool adapter = false;  // an adapter file: some of the config's tensors
    std::vector<std::pair<std::string, int64_t>> config;  // the model's, without "adapter"
    std::vector<StoredTensor> tensors;  // in file order
    uint64_t file_bytes = 0;
};

// Reads either format and checks magic, version, architecture, config
// (validate()), the table against the config, and every range against the
// file length.
WeightFile read_weight_file(const std::string& path);
// The checked config of a file; throws if the file holds another architecture.
GPT2Config read_gpt2_config(const std::string& path);
BertConfig read_bert_config(const std::string& path);

// What a partial load left out: the model's tensors the file lacks (they keep
// their values, typically a fresh head's initialisation) and the file's
// tensors the model has no place for (another head's).
struct LoadReport {
    std::vector<std::string> missing, unused;
};
// Loads a file (either format) into an allocated model of the same
// architecture; rejects non-finite values. Strict: the config and the tensor
// set must equal the model's. partial: only the body must agree (every config
// field but head, num_labels and the adapters' lora_* / prompt_*, and the
// shape of every tensor both have); fine-tuning uses it to put a pretrained
// body under a new head and new adapters.
// An adapter file loads its tensors over the model's and leaves the rest as
// they are (the report is empty); its config must equal the model's, head
// included, whatever `partial` says.
LoadReport load_weights(const std::string& path, Model& model, bool partial = false);
// Writes the model's parameters in the minitrain format, atomically (temp file,
// fsync, rename).
void save_weights(const std::string& path, const Model& model);
// Writes an adapter file: the trainable tensors of a model that has frozen
// ones, atomically.
void save_adapter(const std::string& path, const Model& model);

// The class names of labels.txt beside a weight file (./train writes one
// into best/), one a line; empty when there is none. Throws when it does not
// name num_labels classes.
std::vector<std::string> read_label_names(const std::string& weights_path, int num_labels);
