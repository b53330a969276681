#include "data/example_loader.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "core/rng.h"

ExampleLoader::ExampleLoader(const Examples& ex, int B, int max_T, int pad_id, bool shuffle, uint64_t seed)
    : ex_(ex), B_(B), max_T_(max_T), pad_id_(pad_id), shuffle_(shuffle), seed_(seed) {
    if (ex.size() == 0) throw std::runtime_error("no examples");
    for (size_t i = 0; i < ex.size(); i++)
        if (ex.length(i) > max_T)
            throw std::runtime_error("example " + std::to_string(i) + " has " + std::to_string(ex.length(i)) +
                                     " tokens, more than the model's " + std::to_string(max_T) +
                                     " (make the examples with a smaller --max-len)");
    pos_.samples_per_epoch = ex.size();
    order_.resize(ex.size());
    tokens_.resize((size_t)B * max_T), types_.resize((size_t)B * max_T);
    lengths_.resize(B), labels_.resize(B), rows_.resize(B);
    order();
}

void ExampleLoader::order() {
    if (shuffle_) seeded_permutation(order_.data(), (uint32_t)order_.size(), shuffle_key(seed_, pos_.epoch, 0));
    else std::iota(order_.begin(), order_.end(), 0u);
}

void ExampleLoader::reset() {
    pos_.epoch = 0, pos_.sample = 0;
    order();
}

void ExampleLoader::restore(const LoaderState& saved) {
    if (saved.samples_per_epoch != pos_.samples_per_epoch || saved.sample >= saved.samples_per_epoch)
        throw std::runtime_error("cannot restore the data position: it was saved on data with " +
                                 std::to_string(saved.samples_per_epoch) + " examples, this data has " +
                                 std::to_string(pos_.samples_per_epoch));
    pos_ = saved;
    order();
}

const Batch& ExampleLoader::next_batch() {
    const int b = (int)std::min<uint64_t>(B_, ex_.size() - pos_.sample);
    int t = 1;
    for (int i = 0; i < b; i++) {
        rows_[i] = order_[pos_.sample + i];
        t = std::max(t, ex_.length(rows_[i]));
    }
    for (int i = 0; i < b; i++) {
        const size_t e = rows_[i], start = ex_.offsets[e];
        const int len = ex_.length(e);
        for (int j = 0; j < t; j++) {
            tokens_[(size_t)i * t + j] = j < len ? ex_.tokens[start + j] : pad_id_;
            types_[(size_t)i * t + j] = j < len ? ex_.token_types[start + j] : 0;
        }
        lengths_[i] = len;
        labels_[i] = ex_.labels[e];
    }
    pos_.sample += b;
    if (pos_.sample == ex_.size()) {
        pos_.sample = 0, pos_.epoch++;
        order();
    }
    batch_ = Batch{};
    batch_.b = b, batch_.t = t;
    batch_.tokens = tokens_.data(), batch_.types = types_.data();
    batch_.lengths = lengths_.data(), batch_.labels = labels_.data();
    return batch_;
}

void mask_tokens(const MlmMasking& m, std::vector<int>& tokens, std::vector<int>& targets, Batch& batch,
                 uint64_t seed, uint64_t step) {
    const int n = batch.b * batch.t;
    tokens.assign(batch.tokens, batch.tokens + n);
    targets.assign(n, -1);
    for (int i = 0; i < batch.b; i++)
        for (int j = 0; j < batch.lengths[i]; j++) {
            const int k = i * batch.t + j;
            if (std::find(m.special.begin(), m.special.end(), tokens[k]) != m.special.end()) continue;
            // Three independent uniforms per position: chosen?, which replacement?, which random token.
            const Uniform4 u = philox_uniform4(seed, step, 0x4D4C4D, (uint32_t)k);
            if (u.u[0] >= m.prob) continue;
            targets[k] = tokens[k];
            if (u.u[1] < 0.8f) tokens[k] = m.mask_id;
            else if (u.u[1] < 0.9f) tokens[k] = std::min(m.vocab - 1, (int)(u.u[2] * m.vocab));
        }
    batch.tokens = tokens.data();
    batch.targets = targets.data();
    batch.labels = nullptr;
}
