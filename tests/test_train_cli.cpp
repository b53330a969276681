// ./train end to end: flag errors, exact resume with dropout, resume after
// SIGKILL, the NaN guard and the JSONL log. Runs the real binary (built by
// `make test`) on a small model and a token file written here.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_workspace.h"

namespace fs = std::filesystem;

static bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == s.size() - 1; }

TEST_CASE("train: bad flags and files get a one-line error and a non-zero exit") {
    if (!fs::exists("./train")) FAIL("./train is not built (run make)");
    Workspace ws;
    struct Case {
        std::string args, must_contain;
    } cases[] = {
        {"--batch 0", "--batch"},
        {"--seq-len 0", "--seq-len"},
        {"--lr -1", "--lr"},
        {"--steps 5 --epochs 1", "--epochs"},
        {"--schedule wavy", "--schedule wavy"},
        {"--on-nan maybe", "--on-nan"},
        {"--dropout 1.5", "--dropout"},
        {"--train-data " + ws.file("missing.bin"), ws.file("missing.bin")},
        {"--steps abc", "--steps abc: not a valid integer"},
        {"--lr fast", "--lr fast: not a valid number"},
        {"--model " + ws.file("missing.bin"), "--model " + ws.file("missing.bin") + " has its own shape"},
        {"--tokenizer " + ws.file("nowhere"), ws.file("nowhere")},
        {"--config huge", "--config huge"},
        {"--heads 3", "heads"},
        {"--seq-len 64", "--seq-len 64 exceeds"},
        {"--no-such-flag", "no-such-flag"},
        // Sizes past their bounds, named before any product of them can overflow an int.
        {"--batch 2147483647", "--batch"},
        {"--seq-len 2147483647", "--seq-len"},
        {"--max-seq-len 2147483647", "--max-seq-len"},
        {"--layers 2147483647", "--layers"},
        {"--channels 2147483647", "--channels"},
        {"--heads 2147483647", "--heads"},
        {"--grad-accum 2147483647", "--grad-accum"},
        {"--lora-r 2147483647", "--lora-r"},
        {"--prompt-method prompt --prompt-tokens 2147483647", "--prompt-tokens"},
        {"--prompt-method prefix --prompt-hidden 2147483647", "--prompt-hidden"},
        {"--sample-length 2147483647", "--sample-length"},
        {"--threads 2147483647", "--threads"},
        {"--batch 65536 --seq-len 65536 --max-seq-len 65536", "tokens per micro-batch"},
        {"--steps 0 --epochs 2147483647", "--epochs 2147483647"},
        // Attention's saved probabilities, 2 x 65536^2 floats: more than an int counts.
        {"--max-seq-len 65536 --seq-len 65536 --batch 1", "tensor h.0.att: dimension 8589934592"},
        // Within bounds but past any memory: the allocation fails with its size and purpose.
        {"--layers 1024 --channels 65536", "parameters: cannot allocate"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.args);
        // Later flags win, so each case overrides the valid base configuration.
        CommandResult r = run_train(ws.base("ck") + " " + c.args, ws);
        CHECK(r.status == 1);
        CHECK(one_line(r.err));
        CHECK(r.err.rfind("train: ", 0) == 0);
        CHECK(r.err.find(c.must_contain) != std::string::npos);
    }
    // Without the preset's shape flags, a missing --model is what is wrong.
    CommandResult missing = run_train(ws.common("ck") + " --model " + ws.file("missing.bin"), ws);
    CHECK(missing.status == 1);
    CHECK(one_line(missing.err));
    CHECK(missing.err.find(ws.file("missing.bin")) != std::string::npos);
    CHECK(missing.err.find("has its own shape") == std::string::npos);
    CommandResult help = run_train("--help", ws);
    CHECK(help.status == 0);
    for (const char* flag : {"--model", "--grad-accum", "--schedule", "--checkpoint-every", "--keep-last", "--resume",
                             "--top-k", "--temperature", "--threads", "--log", "--l1", "--l2", "--eval-batches"})
        CHECK(help.out.find(flag) != std::string::npos);
}

TEST_CASE("train: 40 straight steps equal 20 steps + resume + 20 steps, bit for bit, with dropout") {
    Workspace ws;
    CommandResult straight = run_train(ws.base("a") + " --steps 40 --checkpoint-every 10", ws);
    REQUIRE(straight.status == 0);
    CommandResult first = run_train(ws.base("b") + " --steps 40 --checkpoint-every 10 --stop-after 20", ws);
    REQUIRE(first.status == 0);
    CHECK(fs::exists(ws.file("b/step_00000020")));
    CHECK_FALSE(fs::exists(ws.file("b/step_00000030")));
    CommandResult second = run_train(ws.base("b") + " --steps 40 --checkpoint-every 10 --resume", ws);
    REQUIRE(second.status == 0);
    CHECK(second.out.find("resumed from") != std::string::npos);
    auto a = logged_losses(ws.file("a/log.jsonl")), b = logged_losses(ws.file("b/log.jsonl"));
    REQUIRE(a.size() == 40);
    REQUIRE(b.size() == 40);  // the resumed run appends to the same log
    for (int i = 0; i < 40; i++) {
        CAPTURE(i);
        CHECK(a[i] == b[i]);
    }
    CHECK(a[39].second != a[0].second);
    // keep-last 3: only the newest three checkpoints remain.
    int count = 0;
    for (const auto& e : fs::directory_iterator(ws.file("a")))
        count += e.path().filename().string().rfind("step_", 0) == 0;
    CHECK(count == 3);
}

TEST_CASE("train: a run killed with SIGKILL resumes from its last checkpoint and loses nothing else") {
    Workspace ws;
    CommandResult straight = run_train(ws.base("a") + " --steps 300 --checkpoint-every 7", ws);
    REQUIRE(straight.status == 0);

    std::string args = ws.base("b") + " --steps 300 --checkpoint-every 7";
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::string cmd = "OMP_NUM_THREADS=1 exec ./train " + args + " >/dev/null 2>&1";
        execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
        _exit(127);
    }
    // Kill it as soon as a few checkpoints exist, mid-run.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!fs::exists(ws.file("b/step_00000021")) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(fs::exists(ws.file("b/step_00000021")));
    CHECK_FALSE(fs::exists(ws.file("b/step_00000300")));

    CommandResult resumed = run_train(args + " --resume --log " + ws.file("resumed.jsonl"), ws);
    REQUIRE(resumed.status == 0);
    auto a = logged_losses(ws.file("a/log.jsonl")), r = logged_losses(ws.file("resumed.jsonl"));
    REQUIRE(a.size() == 300);
    REQUIRE(!r.empty());
    REQUIRE(r.back().first == 300);
    int start = r.front().first;
    CHECK(start % 7 == 1);  // it restarted right after a checkpoint
    for (const auto& [step, loss] : r) {
        CAPTURE(step);
        CHECK(loss == a[step - 1].second);
    }
}

TEST_CASE("train: a non-finite gradient is reported and never reaches the weights") {
    Workspace ws;
    CommandResult r = run_train(ws.base("a") + " --steps 5 --checkpoint-every 1 --keep-last 0 --inject-nan-at 3", ws);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("step 3: non-finite gradient norm; the update was skipped") != std::string::npos);
    CHECK(slurp(ws.file("a/log.jsonl")).find("{\"type\":\"skip\",\"step\":3") != std::string::npos);
    // Step 3 changed nothing: its weights are those of step 2, byte for byte.
    CHECK(slurp(ws.file("a/step_00000002/model.bin")) == slurp(ws.file("a/step_00000003/model.bin")));
    CHECK(slurp(ws.file("a/step_00000003/model.bin")) != slurp(ws.file("a/step_00000004/model.bin")));

    CommandResult abort = run_train(ws.base("b") + " --steps 5 --inject-nan-at 3 --on-nan abort", ws);
    CHECK(abort.status == 1);
    CHECK(one_line(abort.err));
    CHECK(abort.err.find("step 3: non-finite gradient norm") != std::string::npos);
}

TEST_CASE("train: progress lines, evaluation, samples and a parseable JSONL log") {
    Workspace ws;
    CommandResult r =
        run_train(ws.base("a") + " --steps 20 --eval-every 10 --sample-every 10 --sample-length 20 --print-every 5", ws);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("unigram baseline") != std::string::npos);
    CHECK(r.out.find("step 10: validation loss") != std::string::npos);
    CHECK(r.out.find("step 20/20 | loss") != std::string::npos);
    CHECK(r.out.find("---- sample ----") != std::string::npos);
    CHECK(r.out.find("parameters:") != std::string::npos);
    std::ifstream f(ws.file("a/log.jsonl"));
    std::string line;
    int train = 0, eval = 0;
    while (std::getline(f, line)) {
        auto j = nlohmann::json::parse(line);
        train += j["type"] == "train";
        eval += j["type"] == "eval";
        if (j["type"] == "train")
            for (const char* key : {"loss", "lr", "grad_norm", "ms", "tokens_per_s", "epoch", "time"}) CHECK(j.contains(key));
        if (j["type"] == "eval") CHECK(j["time"].get<double>() > 1.7e9);  // seconds since 1970, not since the start
    }
    CHECK(train == 20);
    CHECK(eval == 2);
    // The picture: train loss, its smoothed curve and the validation loss; the learning rate.
    std::string svg = ws.file("curve.svg");
    REQUIRE(run_command("./bin/plot " + ws.file("a/log.jsonl") + " " + svg, ws).status == 0);
    std::string picture = slurp(svg);
    CHECK(picture.rfind("<svg", 0) == 0);
    size_t paths = 0;
    for (size_t at = picture.find("<path"); at != std::string::npos; at = picture.find("<path", at + 1)) paths++;
    CHECK(paths == 4);
    CHECK(picture.find(">learning rate<") != std::string::npos);
    CHECK(picture.find("validation accuracy") == std::string::npos);  // an lm run has no metric panel
}

TEST_CASE("train: LoRA on a pretrained language model, and prompt tuning on one") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 10", ws).status == 0);
    const std::string base = ws.common("b") + " --model " + ws.file("a/step_00000010/model.bin") + " --steps 5";
    CommandResult lora = run_train(base + " --lora-r 2 --lora-targets c_attn,mlp.c_proj", ws);
    REQUIRE_MESSAGE(lora.status == 0, lora.err);
    CHECK(lora.out.find("initialised fresh (not in the file): h.0.attn.c_attn.lora_A.weight") != std::string::npos);
    CHECK(lora.out.find("parameters: ") != std::string::npos);
    CommandResult prompt = run_train(ws.common("c") + " --model " + ws.file("a/step_00000010/model.bin") +
                                         " --steps 5 --seq-len 24 --prompt-method prompt --prompt-tokens 8", ws);
    REQUIRE_MESSAGE(prompt.status == 0, prompt.err);
    CHECK(prompt.out.find("prompts: prompt tuning, 8 virtual tokens") != std::string::npos);
}
