// Helpers the test files share: the shared data folder, scratch directories,
// whole-file reads and writes, running a built program, and error messages.
#pragma once
#include <doctest/doctest.h>
#include <stdlib.h>    // mkdtemp
#include <sys/wait.h>  // WIFEXITED, WEXITSTATUS

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>

// Where the tests find shared/data (real files the project must not copy):
// $MINITRAIN_DATA, else ../shared/data from the repository root, where the
// tests run. Tests that need it skip with a MESSAGE when it is absent.

// The data folder, or an empty path when `needed` (a path inside it) is missing.
inline std::filesystem::path data_dir(const std::filesystem::path& needed) {
    const char* env = std::getenv("MINITRAIN_DATA");
    std::filesystem::path dir = env ? std::filesystem::path(env) : std::filesystem::path("..") / "shared" / "data";
    std::error_code ec;
    return std::filesystem::exists(dir / needed, ec) ? dir : std::filesystem::path();
}

inline constexpr char kNoDataMessage[] =
    "skipped: no shared data (set MINITRAIN_DATA or put it at ../shared/data)";

// Test cases that skipped themselves (tests/main.cpp reports them apart from the passed ones).
inline unsigned& skipped_tests() {
    static unsigned count = 0;
    return count;
}

// Marks the running test case skipped, saying why; the caller returns next.
#define SKIP_TEST(why) \
    do { \
        MESSAGE(why); \
        skipped_tests()++; \
    } while (0)

// A fresh directory /tmp/mt_<prefix>_XXXXXX, removed with all it holds at the end of its scope.
struct TempDir {
    std::string path;
    explicit TempDir(const std::string& prefix) {
        std::string name = "/tmp/mt_" + prefix + "_XXXXXX";
        REQUIRE(mkdtemp(name.data()) != nullptr);
        path = name;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

// The whole file, byte for byte.
inline std::string slurp(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f, "cannot open " << path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Writes `bytes` as the whole file.
inline void spit(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
    REQUIRE_MESSAGE(f, "cannot write " << path);
}

struct CommandResult {
    int status;  // the exit code, or -1 when the command did not exit (a signal)
    std::string out, err;
};

// Runs `cmd` with sh, stdin from /dev/null, capturing stdout and stderr in files in `scratch`.
inline CommandResult run_command(const std::string& cmd, const TempDir& scratch) {
    const std::string out = scratch.file("stdout.txt"), err = scratch.file("stderr.txt");
    int rc = std::system((cmd + " >'" + out + "' 2>'" + err + "' </dev/null").c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
}

// The message of the std::runtime_error that `fn` throws, or "" if it returns.
inline std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

// For CHECK_THROWS_WITH_AS: matches an exception message that contains `text`.
inline doctest::Contains Contains(const std::string& text) { return doctest::Contains(text.c_str()); }
