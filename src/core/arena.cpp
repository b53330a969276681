#include "core/arena.h"

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

TensorInfo& TensorTable::add(const std::string& name, std::vector<int> shape, int layer,
                             bool decay) {
    if (find(name)) throw std::logic_error("tensor " + name + " declared twice");
    for (int d : shape)
        if (d <= 0) throw std::runtime_error("tensor " + name + ": non-positive dimension");
    TensorInfo t;
    t.name = name;
    t.shape = std::move(shape);
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
    auto block = [&](size_t floats) {
        return floats ? (float*)be.alloc(floats * sizeof(float)) : nullptr;
    };
    param_mem = block(params.total);
    grad_mem = block(params.trainable_total);
    m_mem = block(params.trainable_total);
    v_mem = block(params.trainable_total);
    act_mem = block(acts.total);
}

float* Arena::param(const std::string& name) const { return param_mem + params.at(name).offset; }

float* Arena::grad(const std::string& name) const {
    const TensorInfo& t = params.at(name);
    return t.trainable ? grad_mem + t.grad_offset : nullptr;
}

float* Arena::act(const std::string& name) const { return act_mem + acts.at(name).offset; }
