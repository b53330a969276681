// Text generation from a GPT-2: temperature and top-k sampling, one token at a
// time over a sliding window of the model's context.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "models/gpt2.h"

// Picks a token from logits[0..V): argmax when temperature == 0, otherwise a
// draw (by the uniform u in [0,1)) from softmax(logits / temperature) over the
// top_k largest logits (top_k <= 0: all V).
int sample_token(const float* logits, int V, float temperature, int top_k, float u);

// Appends n tokens to `prompt` (which must not be empty), calling on_token for
// each as it is drawn. rng is the sampling generator's state, advanced in place.
// Runs the model in eval mode; it overwrites the activations.
std::vector<int> generate(GPT2& model, std::vector<int> prompt, int n, float temperature,
                          int top_k, uint64_t& rng, const std::function<void(int)>& on_token);
