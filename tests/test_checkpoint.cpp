// Checkpoints are whole or absent: unfinished writes are ignored, a loaded
// checkpoint restores weights and AdamW moments exactly, and corrupt state
// files are refused with one line naming them.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "train/checkpoint.h"
#include "models/gpt2.h"
#include "train/optimizer.h"
#include "support.h"

namespace fs = std::filesystem;

static GPT2Config tiny() {
    GPT2Config c;
    c.L = 1, c.C = 16, c.NH = 2, c.V = 50, c.Vp = 64, c.max_T = 8;
    return c;
}

static std::vector<float> download(const GPT2& m, const float* p, size_t n) {
    std::vector<float> host(n);
    m.arena.be.download(host.data(), p, n * sizeof(float));
    return host;
}

// A model after two optimizer steps, so that its moments are not zero.
static std::unique_ptr<GPT2> trained(Backend& be) {
    auto m = std::make_unique<GPT2>(be, tiny(), 2, 8);
    m->allocate();
    m->init_weights(7);
    std::vector<int> tokens(17);
    for (int i = 0; i < 17; i++) tokens[i] = (i * 7) % 50;
    AdamWConfig opt;
    for (int t = 1; t <= 2; t++) {
        m->forward(tokens.data(), tokens.data() + 1, 2, 8);
        m->zero_grad();
        m->backward();
        adamw_step(m->arena, opt, 1e-2f, t, grad_norm(m->arena));
    }
    return m;
}

TEST_CASE("checkpoint: save and load restore weights, moments and state exactly") {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    TempDir dir("ckpt");
    auto a = trained(*be);
    TrainState st;
    st.step = 2, st.seed = 99, st.sample_rng = 12345;
    st.train_pos = {1, 0, 3, 10};
    std::string path = save_checkpoint(dir.path, *a, st, 0);
    CHECK(path == dir.file("step_00000002"));
    CHECK_FALSE(fs::exists(path + ".tmp"));

    GPT2 b(*be, tiny(), 2, 8);
    b.allocate();
    TrainState got;
    load_checkpoint(path, b, got);
    CHECK(got.step == 2);
    CHECK(got.seed == 99);
    CHECK(got.sample_rng == 12345);
    CHECK(got.train_pos.sample == 3);
    CHECK(got.train_pos.samples_per_epoch == 10);
    size_t np = a->arena.params.total, ng = a->arena.params.trainable_total;
    CHECK(download(*a, a->arena.param_mem, np) == download(b, b.arena.param_mem, np));
    CHECK(download(*a, a->arena.m_mem, ng) == download(b, b.arena.m_mem, ng));
    CHECK(download(*a, a->arena.v_mem, ng) == download(b, b.arena.v_mem, ng));
}

TEST_CASE("checkpoint: unfinished writes are ignored and the newest K are kept") {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    TempDir dir("ckpt");
    auto m = trained(*be);
    TrainState st;
    for (int step : {5, 10, 15}) {
        st.step = step;
        save_checkpoint(dir.path, *m, st, 2);
    }
    CHECK_FALSE(fs::exists(dir.file("step_00000005")));  // keep-last 2
    CHECK(latest_checkpoint(dir.path) == dir.file("step_00000015"));
    // What a kill leaves behind: a half-written temp directory, and (from a
    // tool that copied files by hand) a step directory without its state.
    fs::create_directory(dir.file("step_00000020.tmp"));
    spit(dir.file("step_00000020.tmp/model.bin"), "partial");
    fs::create_directory(dir.file("step_00000025"));
    fs::copy_file(dir.file("step_00000015/model.bin"), dir.file("step_00000025/model.bin"));
    CHECK(latest_checkpoint(dir.path) == dir.file("step_00000015"));
    CHECK(latest_checkpoint(dir.file("nowhere")).empty());
    // The next save of that step replaces the leftover.
    st.step = 20;
    save_checkpoint(dir.path, *m, st, 0);
    CHECK(latest_checkpoint(dir.path) == dir.file("step_00000020"));
    CHECK_FALSE(fs::exists(dir.file("step_00000020.tmp")));
}

// Writes `bytes` as the checkpoint's state.bin and checks that loading it fails
// with one line that names the file and says `problem`.
static void check_refused(Backend& be, const std::string& checkpoint, const std::string& bytes,
                          const std::string& problem) {
    const std::string state = checkpoint + "/state.bin";
    spit(state, bytes);
    GPT2 fresh(be, tiny(), 2, 8);
    fresh.allocate();
    TrainState out;
    std::string message = error_of([&] { load_checkpoint(checkpoint, fresh, out); });
    CAPTURE(problem);
    CAPTURE(message);
    CHECK(message.rfind(state + ": ", 0) == 0);
    CHECK(message.find(problem) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("checkpoint: corrupt or mismatched state files are refused naming the file") {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    TempDir dir("ckpt");
    auto m = trained(*be);
    TrainState st;
    st.step = 3;
    std::string path = save_checkpoint(dir.path, *m, st, 0);
    std::string state = path + "/state.bin", good = slurp(state);
    check_refused(*be, path, good.substr(0, good.size() - 3), "truncated");
    check_refused(*be, path, "XXSTATE" + good.substr(7), "bad magic");
    std::string version = good;
    version[8] = 9;
    check_refused(*be, path, version, "unsupported state version");
    check_refused(*be, path, good + "x", "unexpected bytes");

    // A model that trains other tensors cannot take this optimizer state.
    spit(state, good);
    GPT2 frozen(*be, tiny(), 2, 8);
    frozen.arena.params.tensors[0].trainable = false;
    frozen.allocate();
    TrainState out;
    std::string message = error_of([&] { load_checkpoint(path, frozen, out); });
    CHECK(message.find("tensors, the model trains") != std::string::npos);
}

// Byte offsets of state.bin's header fields (the layout is in checkpoint.h).
enum : size_t { kStep = 12, kEpoch = 36, kShard = 44, kSample = 52, kSamplesPerEpoch = 60, kBestStep = 76, kBadEvals = 84 };

static std::string with_u64(std::string bytes, size_t at, uint64_t value) {
    for (int i = 0; i < 8; i++) bytes[at + i] = (char)(value >> (8 * i));
    return bytes;
}

static std::string with_float(std::string bytes, size_t at, float value) {
    std::memcpy(&bytes[at], &value, sizeof value);
    return bytes;
}

TEST_CASE("checkpoint: each field of state.bin is checked, against the others too, and the moments must be finite") {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    TempDir dir("ckpt");
    auto m = trained(*be);
    TrainState st;
    st.step = 30, st.best_step = 20, st.bad_evals = 2, st.best_metric = 1.5;
    st.train_pos = {3, 1, 4, 10};
    const std::string path = save_checkpoint(dir.path, *m, st, 0), good = slurp(path + "/state.bin");
    GPT2 b(*be, tiny(), 2, 8);
    b.allocate();
    TrainState got;
    load_checkpoint(path, b, got);
    CHECK(got.best_step == 20);
    CHECK(got.bad_evals == 2);
    CHECK(got.best_metric == 1.5);
    CHECK(got.train_pos.epoch == 3);
    CHECK(got.train_pos.shard == 1);

    check_refused(*be, path, with_u64(good, kStep, (uint64_t)-5), "step -5 out of range 0..2147483647");
    check_refused(*be, path, with_u64(good, kStep, 1ull << 31), "step 2147483648 out of range");
    check_refused(*be, path, with_u64(good, kBestStep, 31), "best_step 31 out of range 0..step 30");
    check_refused(*be, path, with_u64(good, kBestStep, (uint64_t)-1), "best_step -1 out of range");
    check_refused(*be, path, with_u64(good, kBadEvals, (uint64_t)-1), "bad_evals -1 out of range");
    check_refused(*be, path, with_u64(good, kBadEvals, 11), "bad_evals 11 out of range 0..10");
    check_refused(*be, path, with_u64(with_u64(good, kBestStep, 0), kBadEvals, 0), "without a best_step");
    check_refused(*be, path, with_u64(good, kSamplesPerEpoch, 0), "with samples_per_epoch 0");
    check_refused(*be, path, with_u64(good, kShard, 10), "not inside an epoch of samples_per_epoch 10");
    check_refused(*be, path, with_u64(good, kSample, 9), "shard 1, sample 9 not inside an epoch");
    check_refused(*be, path, with_u64(good, kEpoch, 1ull << 62), "epoch 4611686018427387904 at step 30");

    // The moments: the m block, then the v block, end the file.
    const size_t ng = m->arena.params.trainable_total, m_at = good.size() - 8 * ng, v_at = good.size() - 4 * ng;
    const size_t lnf = m->arena.params.at("ln_f.bias").grad_offset;
    check_refused(*be, path, with_float(good, m_at, NAN), "m of wte.weight element 0 is nan");
    check_refused(*be, path, with_float(good, m_at + 4 * 5, -INFINITY), "m of wte.weight element 5 is -inf");
    check_refused(*be, path, with_float(good, v_at, -1.0f), "v of wte.weight element 0 is -1");
    check_refused(*be, path, with_float(good, v_at + 4 * (lnf + 3), NAN), "v of ln_f.bias element 3 is nan");
}
