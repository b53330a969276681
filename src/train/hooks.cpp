#include "train/hooks.h"

#include <cmath>

#include "train/optimizer.h"

void PenaltyHook::after_backward(Model& model, int) { add_penalties(model.arena, l1, l2); }

void NanInjectionHook::after_backward(Model& model, int step) {
    if (step != at) return;
    const float nan = NAN;
    model.arena.be.upload(model.arena.grad_mem, &nan, sizeof nan);
}
