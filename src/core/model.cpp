#include "core/model.h"

#include <stdexcept>

bool is_adapter_tensor(const std::string& name) {
    return name.find(".lora_") != std::string::npos || name.rfind("prompt.", 0) == 0 || name.rfind("prefix.", 0) == 0;
}

void check_batch(const Batch& batch, int max_B, int max_T, int V) {
    const int b = batch.b, t = batch.t;
    if (b < 1 || b > max_B || t < 1 || t > max_T)
        throw std::runtime_error("batch " + std::to_string(b) + "x" + std::to_string(t) + " exceeds the " +
                                 std::to_string(max_B) + "x" + std::to_string(max_T) + " the model was sized for");
    if (!batch.tokens) throw std::runtime_error("batch without tokens");
    for (int i = 0; i < b * t; i++)
        if (batch.tokens[i] < 0 || batch.tokens[i] >= V)
            throw std::runtime_error("token id " + std::to_string(batch.tokens[i]) + " out of range for vocab " +
                                     std::to_string(V));
    if (batch.lengths)
        for (int i = 0; i < b; i++)
            if (batch.lengths[i] < 1 || batch.lengths[i] > t)
                throw std::runtime_error("sequence length " + std::to_string(batch.lengths[i]) + " not in 1.." +
                                         std::to_string(t));
}

void check_context(int B, int T, int n, int max_T) {
    if (B < 1 || T < 1 || T > max_T)
        throw std::runtime_error("batch " + std::to_string(B) + "x" + std::to_string(T) +
                                 " does not fit the model (max T " + std::to_string(max_T) + ")");
    if ((int64_t)n + T > max_T)
        throw std::runtime_error(std::to_string(n) + " virtual tokens + " + std::to_string(T) +
                                 " tokens exceed the model's context of " + std::to_string(max_T));
    const int64_t tokens = (int64_t)B * (T + n);
    if (tokens > kMaxBatchTokens)
        throw std::runtime_error("batch " + std::to_string(B) + "x" + std::to_string(T + n) + ": " +
                                 std::to_string(tokens) + " tokens, more than " + std::to_string(kMaxBatchTokens));
}

bool upload_key_mask(Backend& be, int* key_mask, const Batch& batch) {
    if (!batch.lengths) return false;
    bool padded = false;
    for (int i = 0; i < batch.b; i++) padded |= batch.lengths[i] < batch.t;
    if (!padded) return false;
    std::vector<int> mask((size_t)batch.b * batch.t);
    for (int i = 0; i < batch.b; i++)
        for (int j = 0; j < batch.t; j++) mask[(size_t)i * batch.t + j] = j < batch.lengths[i];
    be.upload(key_mask, mask.data(), mask.size() * sizeof(int));
    return true;
}

bool Model::needs_input(std::initializer_list<std::string> paths) const {
    for (const std::string& path : paths)
        for (const char* suffix : {".weight", ".lora_A.weight"}) {
            const TensorInfo* t = arena.params.find(path + suffix);
            if (t && t->trainable) return true;
        }
    return false;
}
