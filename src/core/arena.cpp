#include "core/arena.h"

#include <cstdio>
#include <limits>
#include <new>
#include <stdexcept>

static const size_t ALIGN_FLOATS = 16;  // 64 bytes

size_t TensorInfo::numel() const {
    size_t n = 1;
    for (int d : shape) n *= (size_t)d;
    return n;
}

std::string TensorInfo::shape_str() const {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

TensorInfo& TensorTable::add(const std::string& name, const std::vector<int64_t>& shape, int layer,
                             bool decay) {
    if (find(name)) throw std::logic_error("tensor " + name + " declared twice");
    for (int64_t d : shape)
        if (d < 1 || d > std::numeric_limits<int>::max())
            throw std::runtime_error("tensor " + name + ": dimension " + std::to_string(d) + " not in 1.." +
                                     std::to_string(std::numeric_limits<int>::max()));
    TensorInfo t;
    t.name = name;
    t.shape.assign(shape.begin(), shape.end());
    t.layer = layer;
    t.decay = decay;
    tensors.push_back(t);
    return tensors.back();
}

const TensorInfo* TensorTable::find(const std::string& name) const {
    for (const auto& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

const TensorInfo& TensorTable::at(const std::string& name) const {
    const TensorInfo* t = find(name);
    if (!t) throw std::runtime_error("no tensor named " + name);
    return *t;
}

size_t TensorTable::count_elements(bool trainable_only) const {
    size_t n = 0;
    for (const auto& t : tensors)
        if (t.trainable || !trainable_only) n += t.numel();
    return n;
}

void TensorTable::layout() {
    auto round_up = [](size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; };
    total = trainable_total = 0;
    for (auto& t : tensors) {
        t.offset = total;
        total += round_up(t.numel());
        if (t.trainable) {
            t.grad_offset = trainable_total;
            trainable_total += round_up(t.numel());
        }
    }
}

Arena::~Arena() {
    for (float* p : {param_mem, grad_mem, m_mem, v_mem, act_mem})
        if (p) be.release(p);
}

void Arena::allocate() {
    params.layout();
    acts.layout();
    // A failed allocation names its block and size: std::bad_alloc alone would say
    // neither, and a backend's own error (CUDA's names the bytes) gets the block.
    auto block = [&](size_t floats, const char* what) -> float* {
        if (!floats) return nullptr;
        const size_t bytes = floats * sizeof(float);
        try {
            return (float*)be.alloc(bytes);
        } catch (const std::bad_alloc&) {
            char gib[32];
            std::snprintf(gib, sizeof gib, "%.1f", bytes / 1073741824.0);
            throw std::runtime_error(std::string(what) + ": cannot allocate " + std::to_string(bytes) + " bytes (" +
                                     gib + " GiB)");
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(std::string(what) + ": " + e.what());
        }
    };
    param_mem = block(params.total, "parameters");
    grad_mem = block(params.trainable_total, "gradients");
    m_mem = block(params.trainable_total, "AdamW first moments");
    v_mem = block(params.trainable_total, "AdamW second moments");
    act_mem = block(acts.total, "activations");
}

float* Arena::param(const std::string& name) const { return param_mem + params.at(name).offset; }

float* Arena::grad(const std::string& name) const {
    const TensorInfo& t = params.at(name);
    return t.trainable ? grad_mem + t.grad_offset : nullptr;
}

float* Arena::act(const std::string& name) const { return act_mem + acts.at(name).offset; }
