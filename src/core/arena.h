// The arena: parameters, gradients, AdamW moments and activations, each one
// contiguous allocation laid out up front from a table of named tensors.
//
// A model first describes its tensors (name, shape, layer, trainable, decay),
// then freezes what it does not train, then calls allocate(). Gradients and
// moments exist only for trainable tensors, so a frozen tensor costs 4 bytes
// per element instead of 16. Nothing is allocated after that: a training step
// only reads and writes views into these blocks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.h"

struct TensorInfo {
    std::string name;
    std::vector<int> shape;
    int layer = -1;          // transformer block index, -1 for embeddings and heads
    bool trainable = true;   // has a gradient and optimizer moments
    bool decay = false;      // AdamW weight decay applies
    float lr_scale = 1.0f;   // multiplies the scheduled learning rate (a param group's lr)
    size_t offset = 0;       // floats from the start of its block
    size_t grad_offset = 0;  // floats into grads/m/v (trainable tensors only)
    size_t numel() const;
    std::string shape_str() const;  // "(768, 2304)"
};

// An ordered list of named tensors and their places in one block of floats.
struct TensorTable {
    std::vector<TensorInfo> tensors;
    size_t total = 0;            // floats, all tensors (with alignment padding)
    size_t trainable_total = 0;  // floats, trainable tensors only

    // Dimensions come in 64 bits, so a caller's product (rows = B*T) cannot wrap
    // before it is checked: each must be in 1..INT_MAX (kernels take int sizes).
    TensorInfo& add(const std::string& name, const std::vector<int64_t>& shape, int layer = -1,
                    bool decay = false);
    const TensorInfo* find(const std::string& name) const;
    const TensorInfo& at(const std::string& name) const;  // throws if absent
    size_t count_elements(bool trainable_only) const;     // without padding
    // Assigns offsets: every tensor starts on a 64-byte boundary.
    void layout();
};

struct Arena {
    Backend& be;
    TensorTable params;
    TensorTable acts;
    float* param_mem = nullptr;
    float* grad_mem = nullptr;  // trainable tensors only
    float* m_mem = nullptr;
    float* v_mem = nullptr;
    float* act_mem = nullptr;

    explicit Arena(Backend& backend) : be(backend) {}
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // Lays out both tables and allocates every block (zero-filled).
    void allocate();
    float* param(const std::string& name) const;
    float* grad(const std::string& name) const;  // null for a frozen tensor
    float* act(const std::string& name) const;
    size_t bytes_params() const { return params.total * sizeof(float); }
    size_t bytes_grads() const { return params.trainable_total * sizeof(float); }
    size_t bytes_acts() const { return acts.total * sizeof(float); }
};
