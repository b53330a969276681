// GPT-2 on the CPU backend against PyTorch (tools/reference/gpt2_ref.py): one
// forward and backward (logits, loss, every parameter gradient), ten AdamW
// steps with gradient clipping on one batch, the same forward and backward with
// dropout on, and a model with block 0 and the embeddings frozen.
//
// The reference computes in float64 from float32 weights, so the errors seen
// here are the C++ model's own float32 rounding. Relative error is max abs
// error over max abs reference value (gradcheck.h rel_error) per tensor; a loss
// or a norm is compared as |got - want| / |want|. Tolerance 1e-5 throughout
// (kFixtureTol, gpt2_fixture.h), except the final weights (kFinalWeightTol,
// reason beside it).
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "models/gpt2.h"
#include "gpt2_fixture.h"

namespace {

// AdamW divides each gradient element by its own running RMS, so an element
// whose gradient is (near) zero turns float32 rounding noise into a visible
// update. The key biases have an exactly zero gradient (softmax ignores a
// constant added to a row of scores): float32 leaves ~3e-11 there, and ten steps
// with eps = 1e-8 move those biases by ~8e-6, 1.2e-4 of the tensor's largest
// value; matmul weight elements with gradients ~1e-6 of their tensor's largest
// reach 8e-5. PyTorch itself in float32 ends 6.7e-5 from its float64 run on this
// fixture. The losses, which average over every weight, still hold 1e-5, and a
// missing weight decay (1e-3 here) or clipping (2e-2) stays well above 3e-4.
constexpr double kFinalWeightTol = 3e-4;

}  // namespace

TEST_CASE("gpt2 matches PyTorch: logits, loss, gradients and 10 AdamW steps") {
    Fixture fx(kTrainFixture);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto model = load_fixture_model<GPT2>(*be, fx, fixture_config(fx));
    check_training(*model, read_batch(fx), fx, kFinalWeightTol);
}

TEST_CASE("gpt2 dropout matches PyTorch: embeddings, attention probabilities, residual branches") {
    Fixture fx(kTrainFixture), drop(kDropoutFixture);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    check_forward_backward(*load_dropout_model(*be, fx, drop), read_batch(fx), drop);
}

TEST_CASE("gpt2 with block 0 and the embeddings frozen: no gradients there, the rest match PyTorch") {
    Fixture fx(kTrainFixture);
    std::unique_ptr<Backend> be(make_backend("cpu"));
    auto frozen = [](const TensorInfo& t) {
        return t.layer == 0 || t.name == "wte.weight" || t.name == "wpe.weight";
    };
    check_frozen(*load_fixture_model<GPT2>(*be, fx, fixture_config(fx), frozen), read_batch(fx), fx);
}

TEST_CASE("gpt2 fixtures: the reader rejects malformed files") {
    // A valid file with one float32 entry "x" of shape (2), built byte by byte.
    auto u32 = [](std::vector<unsigned char>& b, uint32_t v) {
        for (int k = 0; k < 4; k++) b.push_back((unsigned char)(v >> (8 * k)));
    };
    std::vector<unsigned char> good = {'M', 'T', 'F', 'X'};
    u32(good, 1);  // version
    u32(good, 1);  // count
    u32(good, 1);
    good.push_back('x');
    u32(good, 0);  // dtype float32
    u32(good, 1);  // ndim
    const size_t dims_at = good.size();
    u32(good, 2);
    u32(good, 0x3f800000);  // 1.0f
    u32(good, 0xc0000000);  // -2.0f
    Fixture ok(good, "good");
    CHECK(ok.floats("x", 2) == std::vector<float>{1.0f, -2.0f});
    CHECK_THROWS_AS(ok.floats("x", 3), std::runtime_error);
    CHECK_THROWS_AS(ok.ints("x", 2), std::runtime_error);
    CHECK_THROWS_AS(ok.at("y"), std::runtime_error);

    for (size_t len = 0; len < good.size(); len++) {
        std::vector<unsigned char> cut(good.begin(), good.begin() + len);
        CHECK_THROWS_AS(Fixture(cut, "truncated"), std::runtime_error);
    }
    auto patched = [&](size_t at, uint32_t v) {
        std::vector<unsigned char> b = good;
        for (int k = 0; k < 4; k++) b[at + k] = (unsigned char)(v >> (8 * k));
        return b;
    };
    CHECK_THROWS_AS(Fixture(patched(0, 0x584654), "magic"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(4, 2), "version"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(8, 2), "count"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(dims_at - 8, 3), "dtype"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(dims_at - 4, 9), "ndim"), std::runtime_error);
    CHECK_THROWS_AS(Fixture(patched(dims_at, 0xffffffffu), "huge dim"), std::runtime_error);
    std::vector<unsigned char> trailing = good;
    trailing.push_back(0);
    CHECK_THROWS_AS(Fixture(trailing, "trailing"), std::runtime_error);
    CHECK_THROWS_AS(Fixture("tests/fixtures/no_such_file.bin"), std::runtime_error);
}
