// One optimizer step over an arena's trainable tensors: global-norm gradient
// clipping folded into a fused AdamW pass per tensor.
#pragma once
#include "core/arena.h"

struct AdamWConfig {
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    float weight_decay = 0.0f;  // applied to tensors whose decay flag is set
    float grad_clip = 0.0f;     // max global L2 norm; 0 disables clipping
};

// Adds the gradients of l1 * sum|w| + l2/2 * sum w^2 over the tensors that take
// weight decay (not biases or LayerNorm), before clipping sees them.
void add_penalties(Arena& arena, float l1, float l2);

// Returns the global gradient norm before clipping (sqrt of the sum of squares
// over every trainable gradient).
float grad_norm(Arena& arena);
// Whether every parameter is finite (what a checkpoint must hold to load again).
bool weights_finite(Arena& arena);

// Each trainable tensor steps as a torch param group of its own whose lr is
// lr * lr_scale, weight decay included (p *= 1 - lr*lr_scale*wd); t counts
// optimizer steps from 1; norm is grad_norm's result, for clipping.
void adamw_step(Arena& arena, const AdamWConfig& cfg, float lr, int t, float norm);
