#include "train/schedule.h"

#include <cmath>
#include <stdexcept>

void validate(const Schedule& s) {
    auto fail = [](const std::string& m) { throw std::runtime_error(m); };
    if (s.kind != "constant" && s.kind != "linear" && s.kind != "cosine" && s.kind != "step" &&
        s.kind != "restarts")
        fail("--schedule " + s.kind + ": expected constant, linear, cosine, step or restarts");
    if (!(s.lr > 0.0f) || !std::isfinite(s.lr)) fail("--lr must be a positive number");
    if (!(s.min_lr >= 0.0f) || s.min_lr > s.lr) fail("--min-lr must be in [0, --lr]");
    if (s.warmup < 0) fail("--warmup must be >= 0");
    if (s.step_size < 1) fail("--lr-step-size must be >= 1");
    if (!(s.gamma > 0.0f && s.gamma <= 1.0f)) fail("--lr-gamma must be in (0, 1]");
    if (!(s.step_mult >= 1.0f)) fail("--restart-mult must be >= 1");
}

float lr_at(const Schedule& s, int t) {
    const double pi = 3.14159265358979323846;
    if (t < s.warmup) return (float)((double)s.lr * (t + 1) / s.warmup);
    double lr = s.lr, min_lr = s.min_lr;
    double step = t - s.warmup;
    double decay = s.total - s.warmup;
    double frac = decay > 0 ? std::fmin(step / decay, 1.0) : 1.0;
    if (s.kind == "linear") return (float)(lr + (min_lr - lr) * frac);
    if (s.kind == "cosine") return (float)(min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(pi * frac)));
    if (s.kind == "step") return (float)(lr * std::pow((double)s.gamma, std::floor(step / s.step_size)));
    if (s.kind == "restarts") {
        // Find the period that contains this step: lengths step_size * mult^i.
        double period = s.step_size, start = 0;
        while (step >= start + period) {
            start += period;
            period *= s.step_mult;
        }
        return (float)(min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(pi * (step - start) / period)));
    }
    return (float)lr;
}
