// Step hooks: work that joins every optimizer step once its micro-batches
// have run backward, before the gradient norm and the update see the
// gradients. A loss term that acts on the gradients alone (a penalty) is one;
// so is the test aid that poisons a step. The trainer installs these two from
// the config; a program adds its own with Trainer::add_hook.
#pragma once
#include "core/model.h"

struct StepHook {
    virtual ~StepHook() = default;
    // step: the optimizer step being taken, from 1.
    virtual void after_backward(Model& model, int step) = 0;
};

// --l1 / --l2: the penalties' gradients on the weights that take decay.
struct PenaltyHook : StepHook {
    float l1, l2;
    PenaltyHook(float l1, float l2) : l1(l1), l2(l2) {}
    void after_backward(Model& model, int step) override;
};

// --inject-nan-at N: a NaN in the first gradient at step N (tests the NaN guard).
struct NanInjectionHook : StepHook {
    int at;
    explicit NanInjectionHook(int step) : at(step) {}
    void after_backward(Model& model, int step) override;
};
