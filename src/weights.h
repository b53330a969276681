// Weight files: minitrain's own format (written and read) and llm.c's GPT-2
// checkpoint (read only).
//
// minitrain format, version 1. All integers little-endian; a string is a u32
// byte count (1..255) then that many visible ASCII bytes (0x21..0x7e):
//
//   char[8]  magic "MINITRN\0"
//   u32      version = 1
//   string   architecture ("gpt2")
//   u32      number of config fields, then for each: string name, i64 value
//            (gpt2: max_T, V, Vp, L, NH, C, each exactly once)
//   u32      number of tensors, then for each:
//              string name          ("wte.weight", "h.0.ln_1.weight", ... as in gpt2.cpp)
//              u32    dtype         (0 = fp32, the only one so far)
//              u32    ndim          (1..8), then i64 dims[ndim], each >= 1
//              u64    offset        of the data from the start of the file, a multiple of 64
//              u64    length        of the data in bytes (= 4 * product of dims)
//   data     zero padding, then each tensor's elements row-major at its offset;
//            the ranges lie after the table, do not overlap, and the file ends
//            where the last one ends.
//
// The tensors are the model's parameters by name, so the same layout holds a
// BERT (another architecture string, config fields and names) later.
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

#include "gpt2.h"

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
    std::string format;  // "minitrain v1" or "llm.c v3 (fp32)"
    std::string arch;    // "gpt2"
    std::vector<std::pair<std::string, int64_t>> config;
    std::vector<StoredTensor> tensors;  // in file order
    uint64_t file_bytes = 0;
};

// Reads either format and checks magic, version, architecture, config
// (validate()), the table against the config, and every range against the
// file length.
WeightFile read_weight_file(const std::string& path);
// The checked GPT-2 config of either format (dropout and decay fields keep their defaults).
GPT2Config read_gpt2_config(const std::string& path);
// Loads either format into an allocated model whose config must match the
// file's; also rejects non-finite values.
void load_gpt2_weights(const std::string& path, GPT2& model);
// Writes the model's parameters in the minitrain format, atomically (temp file,
// fsync, rename).
void save_gpt2_weights(const std::string& path, const GPT2& model);
