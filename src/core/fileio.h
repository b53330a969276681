// Small pieces every file reader and writer shares: explicit little-endian
// integers (a file means the same on any host), one-line "<path>: <problem>"
// errors, and atomic writes.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "core/backend.h"

// Throws std::runtime_error("<path>: <problem>") on one line: problems often
// quote what the file holds (a header, a token, a label), so its control
// characters are written as escapes (one_line).
[[noreturn]] void fail(const std::string& path, const std::string& problem);
// The text with each control character (a newline, a tab, bytes below 0x20
// and 0x7f) written as an escape: \n, \r, \t, \x01.
std::string one_line(const std::string& text);

using FilePtr = std::unique_ptr<FILE, int (*)(FILE*)>;

// Opens a regular file for reading and stores its length in *bytes; throws
// "<path>: cannot open: ...", "cannot stat: ..." or "not a regular file".
FilePtr open_regular(const std::string& path, uint64_t* bytes);

// A whole file's bytes; throws "<path>: cannot open: ..." or "<path>: read error".
std::string read_file(const std::string& path);

uint64_t load_le(const unsigned char* p, int width);
void store_le(unsigned char* p, uint64_t v, int width);

// Writes through `fill` into <path>.tmp, fsyncs it, renames it over path and
// fsyncs the directory, so that a crash leaves either the old file or the
// whole new one. `fill` may throw; the temp file is then removed.
void write_atomically(const std::string& path, const std::function<void(FILE*)>& fill);

// fsync of a directory (after a rename inside it) or a file by path.
void fsync_path(const std::string& path);

// Writes n floats of device memory to f through a host buffer of at most
// 4 Mi floats, so that saving a checkpoint does not hold a second copy of a
// large tensor (or of all the optimizer state) in host memory.
void write_device_floats(FILE* f, Backend& be, const float* src, size_t n, const std::string& path);
