#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace fs = std::filesystem;

RunDirLock::RunDirLock(const std::string& dir) {
    const std::string path = dir + "/.lock";
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error(path + ": cannot open the lock file");
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = {0};
        const ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        throw std::runtime_error("--checkpoint-dir " + dir + " is in use by another ./train" +
                                 (n > 0 ? " (pid " + std::string(pid, n) + ")" : ""));
    }
    const std::string me = std::to_string(getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) != (ssize_t)me.size())
        throw std::runtime_error(path + ": cannot write the lock file");
}

RunDirLock::~RunDirLock() {
    if (fd >= 0) close(fd);  // releases the lock
}

void claim_for_fresh_run(const TrainConfig& cfg) {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(cfg.checkpoint_dir)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("step_", 0) == 0 || n == "best" || n == "best.tmp" || n == "adapter.bin") found.push_back(e.path());
    }
    const std::string log = log_path(cfg);
    std::error_code ec;
    if (fs::file_size(log, ec) > 0 && !ec) found.push_back(log);
    if (found.empty()) return;
    if (!cfg.overwrite) {
        std::string names;
        for (size_t i = 0; i < found.size() && i < 3; i++) names += (i ? ", " : "") + found[i].filename().string();
        if (found.size() > 3) names += ", ...";
        throw std::runtime_error("--checkpoint-dir " + cfg.checkpoint_dir + " holds another run (" + names +
                                 "): --resume it, --overwrite it, or choose another directory");
    }
    for (const fs::path& p : found) fs::remove_all(p);
    std::printf("--overwrite: removed %zu files of the earlier run in %s\n", found.size(), cfg.checkpoint_dir.c_str());
}
