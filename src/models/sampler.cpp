#include "models/sampler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/dataloader.h"

int sample_token(const float* logits, int V, const Sampling& s, float u) {
    if (s.temperature <= 0.0f) return (int)(std::max_element(logits, logits + V) - logits);
    std::vector<int> ids(V);
    for (int i = 0; i < V; i++) ids[i] = i;
    int k = (s.top_k > 0 && s.top_k < V) ? s.top_k : V;
    // The k largest first, ties broken by the lower id so the draw is reproducible.
    auto larger = [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), larger);
    double max_logit = logits[ids[0]], total = 0;
    std::vector<double> weights(k);
    for (int i = 0; i < k; i++) total += weights[i] = std::exp((logits[ids[i]] - max_logit) / s.temperature);
    if (s.top_p < 1.0f) {
        // The most likely tokens until their mass reaches top_p (at least one).
        double mass = 0;
        int keep = 0;
        while (keep < k && (keep == 0 || mass < s.top_p * total)) mass += weights[keep++];
        k = keep, total = mass;
    }
    double target = u * total, run = 0;
    for (int i = 0; i < k; i++) {
        run += weights[i];
        if (target < run) return ids[i];
    }
    return ids[k - 1];
}

std::vector<int> generate(GPT2& model, std::vector<int> prompt, int n, const Sampling& s, uint64_t& rng,
                          const std::function<bool(int)>& on_token) {
    if (prompt.empty()) throw std::runtime_error("generate: the prompt must hold at least one token");
    bool was_training = model.training;
    model.training = false;
    const int Vp = model.cfg.Vp;
    std::vector<float> row(Vp);
    for (int i = 0; i < n; i++) {
        int len = std::min<int>((int)prompt.size(), model.T);
        const int* window = prompt.data() + prompt.size() - len;
        model.forward(window, nullptr, 1, len);
        model.arena.be.download(row.data(), model.logits + (size_t)(len - 1) * Vp, Vp * sizeof(float));
        float u = (float)(splitmix64(&rng) >> 40) * (1.0f / 16777216.0f);
        int next = sample_token(row.data(), model.cfg.V, s, u);
        prompt.push_back(next);
        if (!on_token(next)) break;
    }
    model.training = was_training;
    return prompt;
}
