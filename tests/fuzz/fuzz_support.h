// What every fuzz target shares: the readers take paths, so each input is
// written as one or two files in a scratch folder of this process (reused
// from input to input), and a std::runtime_error is the reader's right answer
// to bad bytes. Anything else that escapes (another exception, a crash, a
// sanitizer report, a leak, a hang) is a bug that libFuzzer reports.
#pragma once
#include <stdlib.h>  // mkdtemp

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

// This process's scratch folder: under $TMPDIR when set, else /dev/shm (no
// disk writes per input) when there is one, else /tmp. Made on first use and
// removed at exit; a crashed run leaves it behind with the input in it.
inline const std::string& scratch_dir() {
    static const std::string dir = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::string base = tmp && *tmp ? tmp : std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
        std::string name = base + "/minitrain_fuzz_XXXXXX";
        if (!mkdtemp(name.data())) {
            std::perror(name.c_str());
            std::abort();
        }
        return name;
    }();
    // Registered once dir is whole, so it runs before dir's destructor.
    static const int removed_at_exit = std::atexit([] { std::filesystem::remove_all(dir); });
    (void)removed_at_exit;
    return dir;
}

// Writes bytes as scratch_dir()/name, replacing the last input's, and returns its path.
inline std::string write_input(const std::string& name, const void* data, size_t size) {
    const std::string path = scratch_dir() + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
        std::perror(path.c_str());
        std::abort();
    }
    return path;
}
inline std::string write_input(const std::string& name, const std::string& bytes) {
    return write_input(name, bytes.data(), bytes.size());
}

// One input as two files: a 4-byte little-endian length n, then the first
// file's n bytes, then the second's (the rest). false when the input is
// shorter than its prefix says (tests/fuzz/make_corpus.sh packs seeds so).
inline bool split_input(const uint8_t* data, size_t size, std::string& first, std::string& second) {
    if (size < 4) return false;
    const uint64_t n = data[0] | data[1] << 8 | data[2] << 16 | (uint64_t)data[3] << 24;
    if (n > size - 4) return false;
    first.assign((const char*)data + 4, n);
    second.assign((const char*)data + 4 + n, size - 4 - n);
    return true;
}

// Runs the reader; true when it accepted the input, false when it refused it
// with a std::runtime_error. The project's rule for errors holds too: one
// line, naming the file (every path here is inside scratch_dir()).
template <typename F>
bool accepts(F&& read) {
    try {
        read();
        return true;
    } catch (const std::runtime_error& e) {
        const std::string message = e.what();
        if (message.find('\n') != std::string::npos || message.find(scratch_dir()) == std::string::npos) {
            std::fprintf(stderr, "error message of more than one line, or naming no file:\n%s\n", e.what());
            std::abort();
        }
        return false;
    }
}
