#include "train/optimizer.h"

#include <cmath>

void add_penalties(Arena& arena, float l1, float l2) {
    if (l1 == 0.0f && l2 == 0.0f) return;
    for (const TensorInfo& p : arena.params.tensors)
        if (p.trainable && p.decay)
            arena.be.penalty_grad(arena.grad_mem + p.grad_offset, arena.param_mem + p.offset, p.numel(),
                                  l1, l2);
}

float grad_norm(Arena& arena) {
    // Padding between tensors is never written, so it adds zeros.
    if (!arena.grad_mem) return 0.0f;
    return (float)std::sqrt(arena.be.sum_squares(arena.grad_mem, arena.params.trainable_total));
}

bool weights_finite(Arena& arena) {
    // Squares summed in double: finite weights never overflow it, inf and NaN stay.
    for (const TensorInfo& p : arena.params.tensors)
        if (!std::isfinite(arena.be.sum_squares(arena.param_mem + p.offset, p.numel()))) return false;
    return true;
}

void adamw_step(Arena& arena, const AdamWConfig& cfg, float lr, int t, float norm) {
    // torch.nn.utils.clip_grad_norm_: scale = max_norm / (norm + 1e-6), applied only if < 1.
    float scale = 1.0f;
    if (cfg.grad_clip > 0.0f) {
        float coef = cfg.grad_clip / (norm + 1e-6f);
        if (coef < 1.0f) scale = coef;
    }
    for (const TensorInfo& p : arena.params.tensors) {
        if (!p.trainable) continue;
        arena.be.adamw(arena.param_mem + p.offset, arena.grad_mem + p.grad_offset,
                       arena.m_mem + p.grad_offset, arena.v_mem + p.grad_offset, p.numel(),
                       lr * p.lr_scale, cfg.beta1, cfg.beta2, cfg.eps,
                       p.decay ? cfg.weight_decay : 0.0f, t, scale);
    }
}
