// Token files: llm.c's data shard format, read and written.
//
// A 1024-byte header of 256 little-endian int32 (unused slots zero), then the
// tokens. Two kinds, told apart by magic and version:
//   magic 20240520, version 1: uint16 tokens (llm.c's GPT-2 shards)
//   magic 20240801, version 7: uint32 tokens (llm.c's Llama-3 variant), for vocabularies over 65,536
// header[2] is the number of tokens; the file length must be exactly 1024 + ntok * width.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

// Reads all tokens of one file; throws std::runtime_error("<path>: <problem>") on a
// missing file, bad magic or version, or a length that disagrees with the header.
std::vector<uint32_t> read_token_file(const std::string& path);

// Writes tokens atomically (temp file, fsync, rename), uint16 when vocab_size <= 65536
// and uint32 otherwise. Throws if a token is >= vocab_size or the file cannot be written.
void write_token_file(const std::string& path, const std::vector<uint32_t>& tokens, int vocab_size);
