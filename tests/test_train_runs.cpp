// What a new user hits with ./train, end to end: a directory holding another
// run, --resume without a checkpoint, Ctrl-C and kills, two runs on one
// directory, the defaults of fine-tuning, and the help text.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli_workspace.h"

namespace fs = std::filesystem;

namespace {

// Every record of a log with its timings removed, one string each.
std::vector<std::string> records_without_timings(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);) {
        nlohmann::json j = nlohmann::json::parse(line);
        j.erase("ms"), j.erase("tokens_per_s"), j.erase("time");
        out.push_back(j.dump());
    }
    return out;
}

// Starts ./train in the background (stdout and stderr to files in ws).
pid_t start_train(const std::string& args, const Workspace& ws) {
    const pid_t pid = fork();
    if (pid == 0) {
        const std::string cmd = "OMP_NUM_THREADS=1 exec ./train " + args + " >" + ws.file("bg.out") + " 2>&1";
        execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
        _exit(127);
    }
    return pid;
}

// Waits (up to a minute) until `path` exists.
bool wait_for(const std::string& path) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return fs::exists(path);
}

}  // namespace

TEST_CASE("train: a new run refuses a directory that holds another run; --overwrite replaces it") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 30 --checkpoint-every 10", ws).status == 0);
    const std::string log = slurp(ws.file("a/log.jsonl"));
    // Fine-tuning from one of its checkpoints into the same directory.
    CommandResult again = run_train(ws.common("a") + " --model " + ws.file("a/step_00000030/model.bin") + " --steps 5", ws);
    CHECK(again.status == 1);
    CHECK(again.err.find("--checkpoint-dir " + ws.file("a") + " holds another run (") != std::string::npos);
    CHECK(again.err.find("--resume it, --overwrite it, or choose another directory") != std::string::npos);
    CHECK(slurp(ws.file("a/log.jsonl")) == log);  // nothing was touched
    CHECK(fs::exists(ws.file("a/step_00000030")));
    // A log of its own at --log is not truncated either.
    CommandResult other_log = run_train(ws.base("b") + " --steps 2 --log " + ws.file("a/log.jsonl"), ws);
    CHECK(other_log.status == 1);
    CHECK(slurp(ws.file("a/log.jsonl")) == log);

    CommandResult over = run_train(ws.base("a") + " --steps 5 --overwrite", ws);
    REQUIRE_MESSAGE(over.status == 0, over.err);
    CHECK_FALSE(fs::exists(ws.file("a/step_00000030")));
    CHECK(fs::exists(ws.file("a/step_00000005")));
    CHECK(logged_losses(ws.file("a/log.jsonl")).size() == 5);
}

TEST_CASE("train: --resume needs a checkpoint, --resume-if-any starts afresh, a finished run has nothing to do") {
    Workspace ws;
    CommandResult none = run_train(ws.base("a") + " --steps 5 --resume", ws);
    CHECK(none.status == 1);
    CHECK(none.err.find("--resume: no checkpoint in " + ws.file("a")) != std::string::npos);
    CommandResult fresh = run_train(ws.base("a") + " --steps 5 --resume-if-any", ws);
    REQUIRE_MESSAGE(fresh.status == 0, fresh.err);
    CHECK(logged_losses(ws.file("a/log.jsonl")).size() == 5);
    CommandResult done = run_train(ws.base("a") + " --steps 5 --resume", ws);
    REQUIRE(done.status == 0);
    CHECK(done.out.find("nothing to do: the run in " + ws.file("a") + " finished at step 5 of 5") != std::string::npos);
    CHECK(done.out.find("nan") == std::string::npos);
    // A resumed run must be the run that started from --model.
    REQUIRE(run_train(ws.base("m") + " --steps 3", ws).status == 0);
    const std::string from = ws.common("f") + " --model " + ws.file("m/step_00000003/model.bin");
    REQUIRE(run_train(from + " --steps 6 --stop-after 3", ws).status == 0);
    CommandResult same = run_train(from + " --steps 6 --resume", ws);
    CHECK_MESSAGE(same.status == 0, same.err);
    CHECK(same.out.find("resuming takes the weights from the checkpoint") != std::string::npos);
    CommandResult other = run_train(ws.common("f") + " --model " + ws.file("a/step_00000005/model.bin") + " --steps 6 --resume", ws);
    CHECK(other.status == 1);
    CHECK(other.err.find("the run in " + ws.file("f") + " started from " + ws.file("m/step_00000003/model.bin")) !=
          std::string::npos);
}

TEST_CASE("train: SIGTERM and SIGINT checkpoint the step in flight; the resumed run equals an uninterrupted one") {
    Workspace ws;
    // Evaluations and samples on their schedule: an interrupted run must not skip them.
    const std::string flags = " --steps 200 --checkpoint-every 1000 --eval-every 7 --sample-every 5 --sample-length 3";
    REQUIRE(run_train(ws.base("a") + flags, ws).status == 0);
    for (int sig : {SIGTERM, SIGINT}) {
        CAPTURE(sig);
        const std::string dir = sig == SIGTERM ? "t" : "i";
        const std::string args = ws.base(dir) + flags;
        fs::create_directories(ws.file(dir));
        const pid_t pid = start_train(args, ws);
        // Signal once training is under way (the log has records).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while ((!fs::exists(ws.file(dir + "/log.jsonl")) || fs::file_size(ws.file(dir + "/log.jsonl")) < 500) &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        kill(pid, sig);
        int status = 0;
        waitpid(pid, &status, 0);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 128 + sig);
        const std::string out = slurp(ws.file("bg.out"));
        CHECK(out.find("stopped by signal " + std::to_string(sig)) != std::string::npos);
        const size_t saved = logged_losses(ws.file(dir + "/log.jsonl")).size();
        REQUIRE(saved < 200);
        char name[32];
        std::snprintf(name, sizeof name, "/step_%08zu", saved);
        CHECK(fs::exists(ws.file(dir + name)));
        REQUIRE(run_train(args + " --resume", ws).status == 0);
        CHECK(records_without_timings(ws.file(dir + "/log.jsonl")) == records_without_timings(ws.file("a/log.jsonl")));
    }
}

TEST_CASE("train: after SIGKILL the resumed run's log equals an uninterrupted run's, record for record") {
    Workspace ws;
    const std::string flags = " --steps 120 --checkpoint-every 9 --eval-every 20";
    REQUIRE(run_train(ws.base("a") + flags, ws).status == 0);
    fs::create_directories(ws.file("b"));
    const pid_t pid = start_train(ws.base("b") + flags, ws);
    REQUIRE(wait_for(ws.file("b/step_00000045")));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(run_train(ws.base("b") + flags + " --resume", ws).status == 0);
    CHECK(records_without_timings(ws.file("b/log.jsonl")) == records_without_timings(ws.file("a/log.jsonl")));
}

TEST_CASE("train: a second ./train on the same directory is refused while the first runs") {
    Workspace ws;
    fs::create_directories(ws.file("a"));
    // Hold the directory's lock as a running ./train would.
    const int fd = open(ws.file("a/.lock").c_str(), O_RDWR | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(flock(fd, LOCK_EX | LOCK_NB) == 0);
    REQUIRE(write(fd, "4242", 4) == 4);
    CommandResult r = run_train(ws.base("a") + " --steps 2", ws);
    CHECK(r.status == 1);
    CHECK(r.err.find("--checkpoint-dir " + ws.file("a") + " is in use by another ./train (pid 4242)") != std::string::npos);
    CHECK_FALSE(fs::exists(ws.file("a/log.jsonl")));
    close(fd);
    CHECK(run_train(ws.base("a") + " --steps 2", ws).status == 0);
}

TEST_CASE("train: threads wait passively unless the environment says otherwise") {
    Workspace ws;
    CommandResult plain = run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_NUM_THREADS=1 ./train " + ws.base("a") +
                                          " --steps 1", ws);
    REQUIRE_MESSAGE(plain.status == 0, plain.err);
    CHECK(plain.out.find("threads (waiting: passive)") != std::string::npos);
    CommandResult active = run_command("OMP_WAIT_POLICY=active OMP_NUM_THREADS=1 ./train " + ws.base("b") + " --steps 1", ws);
    REQUIRE(active.status == 0);
    CHECK(active.out.find("threads (waiting: active)") != std::string::npos);
}

TEST_CASE("train: classify and mlm take the Hugging Face Trainer's defaults") {
    Workspace ws;
    // The token files stand in for nothing here: the defaults are resolved before any data is read.
    CommandResult r = run_train("--task classify --train-data " + ws.file("none.ex") + " --lr 2e-5", ws);
    CHECK(r.status == 1);
    CHECK(r.err.find("none.ex") != std::string::npos);  // not "--min-lr must be in [0, --lr]"
    REQUIRE(run_train(ws.base("a") + " --steps 1", ws).status == 0);
    nlohmann::json lm = nlohmann::json::parse(slurp(ws.file("a/run.json")));
    CHECK(lm["schedule"] == "cosine");
    CHECK(lm["beta2"] == 0.99);
    CHECK(lm["eval-every"] == 0);  // Workspace::base sets it
    nlohmann::json file = {{"task", "classify"}, {"train-data", ws.file("x.ex")}};
    spit(ws.file("run.json"), file.dump());
    CommandResult from_file = run_train("--config-file " + ws.file("run.json"), ws);
    CHECK(from_file.err.find("x.ex") != std::string::npos);
}

TEST_CASE("train: --help shows each default once, the prompt's as \\n, and no test aids") {
    Workspace ws;
    CommandResult help = run_train("--help", ws);
    REQUIRE(help.status == 0);
    CHECK(help.out.find("(default: \"\")") == std::string::npos);
    CHECK(help.out.find("default: \\n") != std::string::npos);
    CHECK(help.out.find("inject-nan-at") == std::string::npos);
    CHECK(help.out.find("Hugging Face Trainer's") != std::string::npos);
    size_t lines_with_two = 0;
    for (size_t at = 0, end; (end = help.out.find('\n', at)) != std::string::npos; at = end + 1) {
        const std::string line = help.out.substr(at, end - at);
        const size_t first = line.find("default");
        lines_with_two += first != std::string::npos && line.find("(default:", first + 1) != std::string::npos;
    }
    CHECK(lines_with_two == 0);
    CommandResult eval_only = run_train(ws.base("a") + " --eval-only", ws);
    REQUIRE(eval_only.status == 0);
    CHECK(eval_only.out.find("training:") == std::string::npos);
    CommandResult warm = run_train(ws.base("b") + " --steps 3 --warmup 10", ws);
    REQUIRE(warm.status == 0);
    CHECK(warm.out.find("warning: --warmup 10 is longer than the run's 3 steps") != std::string::npos);
}

TEST_CASE("train: on a terminal, evaluation shows its progress and checkpoints are announced") {
    Workspace ws;
    // script(1) gives ./train a pseudo-terminal as its stdout.
    CommandResult r = run_command("OMP_NUM_THREADS=1 script -qec \"./train " + ws.base("a") +
                                      " --steps 4 --eval-every 2 --checkpoint-every 2\" /dev/null", ws);
    REQUIRE_MESSAGE(r.status == 0, r.out);
    CHECK(r.out.find("evaluating: batch 1/") != std::string::npos);
    CHECK(r.out.find("checkpoint: " + ws.file("a/step_00000002")) != std::string::npos);
}

TEST_CASE("data scripts: a missing corpus is one line saying where to put it") {
    Workspace ws;
    fs::create_directories(ws.file("data"));
    for (const char* script : {"corpus.sh", "tinyshakespeare.sh", "origin_of_species.sh"})
        fs::copy_file(std::string("data/") + script, ws.file(std::string("data/") + script));
    const std::string env = "MINITRAIN_DATA=" + ws.file("nowhere") + " MINITRAIN_TINYSHAKESPEARE_URL=http://127.0.0.1:9/none ";
    CommandResult shakespeare = run_command(env + "bash " + ws.file("data/tinyshakespeare.sh"), ws);
    CHECK(shakespeare.status == 1);
    CHECK(shakespeare.err == "tinyshakespeare.sh: tinyshakespeare.txt is missing: put it at " + ws.file("nowhere") +
                                 "/corpora/tinyshakespeare.txt (or point MINITRAIN_DATA at a folder with "
                                 "corpora/tinyshakespeare.txt); downloading http://127.0.0.1:9/none failed\n");
    CHECK_FALSE(fs::exists(ws.file("data/tinyshakespeare.txt.tmp")));
    spit(ws.file("data/tinyshakespeare.txt"), "not the play\n");
    CommandResult wrong = run_command(env + "bash " + ws.file("data/tinyshakespeare.sh"), ws);
    CHECK(wrong.status == 1);
    CHECK(wrong.err.find("data/tinyshakespeare.txt is not the expected tinyshakespeare.txt") != std::string::npos);
    CommandResult darwin = run_command(env + "bash " + ws.file("data/origin_of_species.sh"), ws);
    CHECK(darwin.status == 1);
    CHECK(darwin.err.find("domain/origin_of_species.txt is missing: put it at ") != std::string::npos);
}

TEST_CASE("train: weights that overflow stop the run; no checkpoint holds them") {
    Workspace ws;
    CommandResult r = run_train(ws.base("a") + " --steps 6 --checkpoint-every 1 --lr 1e38 --warmup 0", ws);
    CHECK(r.status == 1);
    CHECK(r.err.find("the weights are no longer finite (an update overflowed; is --lr too high?)") != std::string::npos);
    // Whatever checkpoints exist load again.
    for (const auto& e : fs::directory_iterator(ws.file("a")))
        if (e.path().filename().string().rfind("step_", 0) == 0)
            CHECK(run_train(ws.common("e") + " --eval-only --model " + (e.path() / "model.bin").string(), ws).status == 0);
}

TEST_CASE("train: LoRA dropout is kept in the weights and exported to PEFT") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 2", ws).status == 0);
    const std::string from = ws.common("b") + " --model " + ws.file("a/step_00000002/model.bin");
    REQUIRE(run_train(from + " --steps 2 --lora-r 2 --lora-dropout 0.1", ws).status == 0);
    REQUIRE(run_command("./bin/convert --to-peft " + ws.file("b/adapter.bin") + " -o " + ws.file("peft") + " --base x", ws)
                .status == 0);
    CHECK(nlohmann::json::parse(slurp(ws.file("peft/adapter_config.json")))["lora_dropout"] == 0.1);
    // It is how the adapter trained, not what it is: evaluating without dropout loads it.
    CHECK(run_train(from + " --eval-only --adapter " + ws.file("b/adapter.bin"), ws).status == 0);
}
