// CPU training-step benchmark: ms per step (forward + backward + AdamW),
// tokens/s, achieved GFLOP/s and peak RSS for the README's three configs, each
// in a fresh process so that peak RSS is its own; with --torch, PyTorch on the
// same config (tools/reference/bench_torch.py) in the same run, as a ratio.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cxxopts.hpp>
#include <memory>
#include <string>
#include <vector>

#include "models/gpt2.h"
#include "train/optimizer.h"
#include "core/rng.h"
#include "core/threads.h"

struct BenchConfig {
    const char* name;
    GPT2Config model;
    int B, T;
};

static std::vector<BenchConfig> configs() {
    auto cfg = [](int L, int C, int NH, int V, int Vp, int maxT) {
        GPT2Config c;
        c.L = L, c.C = C, c.NH = NH, c.V = V, c.Vp = Vp, c.max_T = maxT;
        return c;
    };
    return {{"a", cfg(12, 768, 12, 50257, 50304, 1024), 4, 64},
            {"b", cfg(4, 256, 4, 50257, 50304, 256), 8, 256},
            {"c", cfg(4, 128, 4, 256, 256, 128), 16, 128}};
}

static double peak_rss_mib() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

// Runs one config in this process and prints one result line.
static double run_config(const BenchConfig& bc, int steps, int warmup) {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2 model(*be, bc.model, bc.B, bc.T);
    model.allocate();
    model.init_weights(1337);
    const int n = bc.B * bc.T;
    std::vector<int> tokens(n + 1);
    for (int i = 0; i <= n; i++) tokens[i] = (int)(philox_uniform(7, 0, 0, i) * bc.model.V);
    AdamWConfig opt;
    opt.weight_decay = 0.1f;
    opt.grad_clip = 1.0f;
    std::vector<double> ms;
    for (int s = 0; s < warmup + steps; s++) {
        auto t0 = std::chrono::steady_clock::now();
        model.forward(tokens.data(), tokens.data() + 1, bc.B, bc.T);
        model.zero_grad();
        model.backward();
        adamw_step(model.arena, opt, 1e-4f, s + 1, grad_norm(model.arena));
        auto t1 = std::chrono::steady_clock::now();
        if (s >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2];
    const GPT2Config& c = bc.model;
    // Parameters without position embeddings: 6N FLOPs per token for the matmuls
    // (forward 2N, backward 4N), plus attention's 12 L T C per token.
    double N = (double)model.arena.params.count_elements(false) - (double)c.max_T * c.C;
    double flops = (6.0 * N + 12.0 * c.L * bc.T * c.C) * n;
    std::printf("%s  L=%-2d C=%-3d H=%-2d V=%-5d B=%-2d T=%-4d  %9.1f ms/step  %8.0f tok/s  %6.1f GFLOP/s  %7.0f MiB peak RSS\n",
                bc.name, c.L, c.C, c.NH, c.V, bc.B, bc.T, median, n / (median / 1000.0),
                flops / (median / 1000.0) / 1e9, peak_rss_mib());
    std::fflush(stdout);
    return median;
}

// Runs a command, echoes its output, and returns the number after `key` on the
// line that has it ("... 123.4 ms/step"), or -1 if the command failed.
static double run_and_parse(const std::string& cmd) {
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return -1;
    double ms = -1;
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
        std::fputs(line, stdout);
        const char* at = std::strstr(line, " ms/step");
        if (at) {
            const char* start = at;
            while (start > line && start[-1] != ' ') start--;
            ms = std::atof(start);
        }
    }
    std::fflush(stdout);
    return pclose(f) == 0 ? ms : -1;
}

// This program's own path (the shell that popen starts has another /proc/self).
static std::string self_path() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) throw std::runtime_error("cannot find this program's path in /proc/self/exe");
    return std::string(buf, n);
}

int main(int argc, char** argv) {
    use_polite_omp_waits(argv);
    cxxopts::Options options("bench", "CPU training-step benchmark (forward + backward + AdamW)");
    options.add_options()
        ("config", "a, b, c or all", cxxopts::value<std::string>()->default_value("all"))
        ("steps", "timed steps (median reported)", cxxopts::value<int>()->default_value("10"))
        ("warmup", "untimed steps first", cxxopts::value<int>()->default_value("2"))
        ("torch", "also run PyTorch on each config and print the ratio")
        ("h,help", "print this help");
    try {
        auto args = options.parse(argc, argv);
        if (args.count("help")) {
            std::printf("%s\n", options.help().c_str());
            return 0;
        }
        std::string which = args["config"].as<std::string>();
        int steps = args["steps"].as<int>(), warmup = args["warmup"].as<int>();
        if (steps < 1 || warmup < 0) throw std::runtime_error("--steps must be >= 1 and --warmup >= 0");
        bool found = false;
        for (const BenchConfig& bc : configs()) {
            if (which != "all" && which != bc.name) continue;
            found = true;
            std::string flags = " --steps " + std::to_string(steps) + " --warmup " + std::to_string(warmup);
            // With "all", a child process per config, so each peak RSS is its own.
            double ms = which == "all"
                            ? run_and_parse(self_path() + " --config " + std::string(bc.name) + flags)
                            : run_config(bc, steps, warmup);
            if (ms < 0) throw std::runtime_error("config " + std::string(bc.name) + " failed");
            if (!args.count("torch")) continue;
            const GPT2Config& c = bc.model;
            char cmd[512];
            std::snprintf(cmd, sizeof cmd,
                          "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/reference/bench_torch.py "
                          "--name %s --L %d --C %d --NH %d --V %d --Vp %d --max-T %d --B %d --T %d%s",
                          bc.name, c.L, c.C, c.NH, c.V, c.Vp, c.max_T, bc.B, bc.T, flags.c_str());
            double torch = run_and_parse(cmd);
            if (torch < 0) throw std::runtime_error("tools/reference/bench_torch.py failed on config " + std::string(bc.name));
            std::printf("%s  minitrain / PyTorch step time: %.2f\n", bc.name, ms / torch);
        }
        if (!found) throw std::runtime_error("--config " + which + ": expected a, b, c or all");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
