// safetensors, Hugging Face's weight format (github.com/huggingface/safetensors):
//
//   u64      N, little-endian: the header's length in bytes (at most 100 MB)
//   char[N]  a JSON object: optional "__metadata__" (string -> string) and, per
//            tensor, name -> {"dtype": "F32", "shape": [...], "data_offsets":
//            [begin, end]}, offsets in bytes from the start of the data
//            section; padded with spaces to a multiple of 8 bytes
//   data     each tensor's elements, little-endian and row-major, in
//            [begin, end); the ranges tile the data section exactly (no
//            overlaps, no holes, nothing after the last one)
//
// Readers check all of that before trusting a size and throw
// std::runtime_error("<path>: <problem>") on one line.
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/fileio.h"

struct SafetensorsEntry {
    std::string name;
    std::string dtype;            // "F32", "F16", "BF16", "I64", ...
    std::vector<int64_t> shape;   // empty for a scalar
    uint64_t begin = 0, end = 0;  // bytes into the data section
    std::string shape_str() const;  // "(768, 2304)"
};

struct SafetensorsHeader {
    std::map<std::string, std::string> metadata;
    std::vector<SafetensorsEntry> tensors;  // sorted by name
    const SafetensorsEntry* find(const std::string& name) const;  // null if absent
};

// Parses a header (the N bytes after the length) and checks it against a data
// section of data_bytes bytes; path names the file in errors.
SafetensorsHeader parse_safetensors_header(const std::string& json, uint64_t data_bytes,
                                           const std::string& path);

// An open safetensors file whose header and length have been checked.
class SafetensorsFile {
  public:
    explicit SafetensorsFile(const std::string& path);
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::string& path() const { return path_; }
    const SafetensorsHeader& header() const { return header_; }
    // The tensor's elements as fp32: F32 as stored, F16 and BF16 widened
    // exactly; any other dtype is an error.
    std::vector<float> read_f32(const SafetensorsEntry& t);

  private:
    std::string path_;
    FilePtr file_;
    FILE* f_ = nullptr;
    uint64_t data_start_ = 0;
    SafetensorsHeader header_;
};

struct F32Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;  // row-major, product of shape elements
};

// Writes fp32 tensors the way the official library does (so a file it wrote
// comes back byte for byte): data in name order, header "__metadata__":
// {"format": "pt"} first, then the tensors in that order, padded with spaces
// to a multiple of 8 bytes. Written atomically.
void write_safetensors(const std::string& path, const std::vector<F32Tensor>& tensors);
