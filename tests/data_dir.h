// Where the tests find shared/data (real files the project must not copy):
// $MINITRAIN_DATA, else ../shared/data from the repository root, where the
// tests run. Tests that need it skip with a MESSAGE when it is absent.
#pragma once
#include <cstdlib>
#include <filesystem>

// The data folder, or an empty path when `needed` (a path inside it) is missing.
inline std::filesystem::path data_dir(const std::filesystem::path& needed) {
    const char* env = std::getenv("MINITRAIN_DATA");
    std::filesystem::path dir = env ? std::filesystem::path(env) : std::filesystem::path("..") / "shared" / "data";
    std::error_code ec;
    return std::filesystem::exists(dir / needed, ec) ? dir : std::filesystem::path();
}

inline constexpr char kNoDataMessage[] =
    "skipped: no shared data (set MINITRAIN_DATA or put it at ../shared/data)";
