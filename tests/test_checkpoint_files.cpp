// What checkpoint writing leaves on disk when things go wrong: unfinished
// checkpoints of any step are removed, a failed write (a full disk) leaves
// nothing behind, a kill inside save_best loses no best checkpoint, and a log
// that cannot be written stops the run.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "cli_workspace.h"
#include "core/backend.h"
#include "models/gpt2.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;

namespace {

std::unique_ptr<GPT2> small_model(Backend& be) {
    GPT2Config c;
    c.L = 1, c.C = 16, c.NH = 2, c.V = 50, c.Vp = 64, c.max_T = 8;
    auto m = std::make_unique<GPT2>(be, c, 2, 8);
    m->allocate();
    m->init_weights(3);
    return m;
}

bool has_tmp(const std::string& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp") != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("checkpoints: an unfinished checkpoint of another step is removed by the next save") {
    TempDir dir("ckfiles");
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = small_model(*be);
    fs::create_directories(dir.file("step_00000007.tmp"));
    spit(dir.file("step_00000007.tmp/model.bin"), "half");
    TrainState st;
    st.step = 9;
    save_checkpoint(dir.path, *model, st, 3);
    CHECK_FALSE(fs::exists(dir.file("step_00000007.tmp")));
    CHECK(latest_checkpoint(dir.path) == dir.file("step_00000009"));
}

TEST_CASE("checkpoints: a write that fails (a full disk) leaves no .tmp behind") {
    TempDir dir("ckfiles");
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = small_model(*be);
    // In a child whose files may not grow past 4 KiB (the weights are ~40 KiB): writes fail as on a full disk.
    const pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &limit);
        TrainState st;
        st.step = 1;
        int code = 0;
        try {
            save_checkpoint(dir.path, *model, st, 3);
        } catch (const std::exception&) {
            code += 1;
        }
        try {
            save_best(dir.path, *model, {"a", "b"});
        } catch (const std::exception&) {
            code += 2;
        }
        _exit(code);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);  // both writes failed, with an exception
    CHECK_FALSE(has_tmp(dir.path));
    CHECK(latest_checkpoint(dir.path).empty());
    CHECK_FALSE(fs::exists(dir.file("best")));
}

TEST_CASE("checkpoints: a kill between save_best's renames loses no best checkpoint") {
    TempDir dir("ckfiles");
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = small_model(*be);
    save_best(dir.path, *model, {});
    // As a kill leaves it: the earlier best moved aside, the new one not yet in place.
    fs::rename(dir.file("best"), dir.file("best.old"));
    recover_best(dir.path);
    CHECK(fs::exists(dir.file("best/model.bin")));
    CHECK_FALSE(fs::exists(dir.file("best.old")));
    fs::rename(dir.file("best"), dir.file("best.old"));
    save_best(dir.path, *model, {});  // the next save puts it right too
    CHECK(fs::exists(dir.file("best/model.bin")));
    CHECK_FALSE(fs::exists(dir.file("best.old")));
}

TEST_CASE("train: a log that cannot be written stops the run with one line") {
    Workspace ws;
    // Files may not grow past 8 KiB: the log fills it within the first steps (checkpoints only at the end).
    CommandResult r = run_command("sh -c \"trap '' XFSZ; ulimit -f 16; OMP_NUM_THREADS=1 exec ./train " + ws.base("a") +
                                      " --steps 400 --checkpoint-every 0\"", ws);
    CHECK(r.status == 1);
    CHECK(r.err.find("train: " + ws.file("a/log.jsonl") + ": cannot write the log") != std::string::npos);
    CHECK(r.err.find('\n') == r.err.size() - 1);
}
