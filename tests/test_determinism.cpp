// Same seed, same data => bitwise-identical losses, whatever the thread count.
#include <doctest/doctest.h>
#include <omp.h>

#include <cstring>
#include <memory>
#include <vector>

#include "models/gpt2.h"
#include "train/optimizer.h"
#include "core/rng.h"

// 20 AdamW steps of a small GPT-2 with every dropout on, on batches drawn from
// a fixed token stream; returns the loss of each step.
static std::vector<float> train_losses(int threads, uint64_t seed) {
    omp_set_num_threads(threads);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2Config cfg;
    cfg.L = 2, cfg.C = 64, cfg.NH = 4, cfg.V = 100, cfg.Vp = 128, cfg.max_T = 32;
    cfg.embd_pdrop = cfg.attn_pdrop = cfg.resid_pdrop = 0.1f;
    const int B = 4, T = 32;
    GPT2 model(*be, cfg, B, T);
    model.allocate();
    model.init_weights(seed);
    model.training = true;
    model.seed = seed;
    AdamWConfig opt;
    opt.weight_decay = 0.1f;
    opt.grad_clip = 1.0f;
    std::vector<int> stream(4096);
    // A periodic sequence with some noise: learnable, so the loss visibly falls.
    for (size_t i = 0; i < stream.size(); i++)
        stream[i] = philox_uniform(99, 0, 0, i) < 0.1f ? (int)(philox_uniform(99, 0, 1, i) * cfg.V) : (int)(i % 37);
    std::vector<float> losses;
    for (int step = 0; step < 20; step++) {
        const int* batch = stream.data() + (step * B * T) % (stream.size() - B * T - 1);
        model.step = step;
        losses.push_back(model.forward(batch, batch + 1, B, T));
        model.zero_grad();
        model.backward();
        adamw_step(model.arena, opt, 3e-3f, step + 1, grad_norm(model.arena));
    }
    omp_set_num_threads(omp_get_num_procs());
    return losses;
}

static bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_CASE("determinism: same seed gives bit-identical losses with 1 and 2 threads") {
    std::vector<float> one_a = train_losses(1, 1234), one_b = train_losses(1, 1234);
    std::vector<float> two_a = train_losses(2, 1234), two_b = train_losses(2, 1234);
    CHECK(bitwise_equal(one_a, one_b));
    CHECK(bitwise_equal(two_a, two_b));
    CHECK(bitwise_equal(one_a, two_a));  // the thread count does not change the result either
    CHECK(one_a.back() < one_a.front());  // it does train
    // A different seed changes the initialisation and the dropout masks.
    CHECK_FALSE(bitwise_equal(one_a, train_losses(2, 4321)));
}
