// Learning-rate schedules, as a function of the 0-based optimizer step t.
//
// Warmup (all schedules): lr * (t+1) / warmup for t < warmup (llm.c's
// convention: the first step already moves, the last warmup step reaches lr).
// After warmup, with s = t - warmup and D = total - warmup decay steps:
//   constant   lr
//   linear     lr + (min_lr - lr) * s / D
//   cosine     min_lr + (lr - min_lr) * (1 + cos(pi * s / D)) / 2
//   step       lr * gamma ^ floor(s / step_size)
//   restarts   SGDR (cosine with warm restarts): period step_size, each next
//              period step_mult times longer; cosine from lr to min_lr within it
#pragma once
#include <string>

struct Schedule {
    std::string kind = "cosine";  // constant | linear | cosine | step | restarts
    float lr = 3e-4f;
    float min_lr = 0.0f;
    int warmup = 0;
    int total = 1;          // total optimizer steps
    int step_size = 1000;   // step: steps between decays; restarts: first period
    float gamma = 0.1f;     // step: decay factor
    float step_mult = 1.0f; // restarts: period growth (T_mult)
};

// Throws std::runtime_error naming the flag on an unknown kind or bad values.
void validate(const Schedule& s);
float lr_at(const Schedule& s, int t);
