// Text generation from a GPT-2: temperature, top-k and top-p (nucleus)
// sampling, one token at a time over a sliding window of the model's context.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "models/gpt2.h"

struct Sampling {
    float temperature = 0.8f;  // 0: greedy (argmax)
    int top_k = 40;            // keep the k most likely tokens (<= 0: all)
    float top_p = 1.0f;        // then the fewest whose probabilities sum to >= top_p (1: all)
};

// Picks a token from logits[0..V): argmax when temperature == 0, otherwise a
// draw (by the uniform u in [0,1)) from softmax(logits / temperature) over the
// top_k largest logits, cut to the smallest prefix (by probability) whose
// mass reaches top_p, renormalised, as Hugging Face's TopK then TopP warpers.
int sample_token(const float* logits, int V, const Sampling& s, float u);

// Appends up to n tokens to `prompt` (which must not be empty), calling
// on_token for each as it is drawn; stops early when on_token returns false.
// rng is the sampling generator's state, advanced in place. Runs the model
// in eval mode; it overwrites the activations.
std::vector<int> generate(GPT2& model, std::vector<int> prompt, int n, const Sampling& s, uint64_t& rng,
                          const std::function<bool(int)>& on_token);
