#include "train/checkpoint.h"


#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/fileio.h"
#include "data/text_encoder.h"
#include "formats/weights.h"
#include "train/config.h"

namespace fs = std::filesystem;

static const char STATE_MAGIC[8] = {'M', 'T', 'S', 'T', 'A', 'T', 'E', '\0'};
static const uint32_t STATE_VERSION = 2;

static std::string step_name(int64_t step) {
    char name[32];
    std::snprintf(name, sizeof name, "step_%08lld", (long long)step);
    return name;
}

// Trainable tensors in arena order: the layout of the m and v blocks.
static std::vector<const TensorInfo*> trainable(const Model& model) {
    std::vector<const TensorInfo*> out;
    for (const TensorInfo& t : model.arena.params.tensors)
        if (t.trainable) out.push_back(&t);
    return out;
}

static void write_state(const std::string& path, const Model& model, const TrainState& st) {
    write_atomically(path, [&](FILE* f) {
        auto put = [&](const void* p, size_t n) {
            if (std::fwrite(p, 1, n, f) != n) fail(path, std::string("write failed: ") + std::strerror(errno));
        };
        auto put64 = [&](uint64_t v) {
            unsigned char b[8];
            store_le(b, v, 8);
            put(b, 8);
        };
        put(STATE_MAGIC, 8);
        unsigned char version[4];
        store_le(version, STATE_VERSION, 4);
        put(version, 4);
        put64((uint64_t)st.step);
        put64(st.seed);
        put64(st.sample_rng);
        put64(st.train_pos.epoch);
        put64(st.train_pos.shard);
        put64(st.train_pos.sample);
        put64(st.train_pos.samples_per_epoch);
        uint64_t best_bits;
        std::memcpy(&best_bits, &st.best_metric, 8);
        put64(best_bits);
        put64((uint64_t)st.best_step);
        put64((uint64_t)st.bad_evals);
        auto tensors = trainable(model);
        put64(tensors.size());
        for (const TensorInfo* t : tensors) {
            unsigned char len[4];
            store_le(len, t->name.size(), 4);
            put(len, 4);
            put(t->name.data(), t->name.size());
            put64(t->numel());
        }
        const Arena& a = model.arena;
        for (const float* block : {a.m_mem, a.v_mem})  // floats as the host holds them: little-endian here
            if (a.params.trainable_total) write_device_floats(f, a.be, block, a.params.trainable_total, path);
    });
}

// Writes a directory's files through fill() into <path> (made afresh); on any
// failure (a full disk) removes it again before the error goes on.
static void write_directory(const std::string& path, const std::function<void()>& fill) {
    std::error_code ec;
    fs::remove_all(path, ec);
    fs::create_directories(path, ec);
    if (ec) throw std::runtime_error(path + ": cannot create: " + ec.message());
    try {
        fill();
        fsync_path(path);
    } catch (...) {
        fs::remove_all(path, ec);
        throw;
    }
}

std::string save_checkpoint(const std::string& dir, const Model& model, const TrainState& state,
                            int keep_last) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error(dir + ": cannot create checkpoint directory: " + ec.message());
    // Unfinished checkpoints of any step (a killed run's) go first.
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("step_", 0) == 0 && n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) fs::remove_all(e.path(), ec);
    }
    std::string final_path = dir + "/" + step_name(state.step);
    std::string tmp_path = final_path + ".tmp";
    write_directory(tmp_path, [&] {
        save_weights(tmp_path + "/model.bin", model);
        write_state(tmp_path + "/state.bin", model, state);
    });
    fs::remove_all(final_path, ec);  // a checkpoint of the same step from an earlier run
    fs::rename(tmp_path, final_path, ec);
    if (ec) throw std::runtime_error(final_path + ": cannot rename into place: " + ec.message());
    fsync_path(dir);

    if (keep_last > 0) {
        std::vector<std::string> all;
        for (const auto& e : fs::directory_iterator(dir)) {
            std::string n = e.path().filename().string();
            if (n.rfind("step_", 0) == 0 && n.size() == 13) all.push_back(n);
        }
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i + keep_last < all.size(); i++) fs::remove_all(dir + "/" + all[i], ec);
    }
    return final_path;
}

void recover_best(const std::string& dir) {
    std::error_code ec;
    const std::string best = dir + "/best", old = best + ".old";
    if (!fs::exists(best) && fs::exists(old + "/model.bin")) fs::rename(old, best, ec);
}

void save_best(const std::string& dir, const Model& model, const std::vector<std::string>& label_names,
               const std::string& tokenizer) {
    std::error_code ec;
    const std::string final_path = dir + "/best", tmp_path = final_path + ".tmp", old_path = final_path + ".old";
    write_directory(tmp_path, [&] {
        save_weights(tmp_path + "/model.bin", model);
        if (!label_names.empty())
            write_atomically(tmp_path + "/labels.txt", [&](FILE* f) {
                for (const std::string& name : label_names) std::fprintf(f, "%s\n", name.c_str());
            });
        if (!tokenizer.empty()) save_tokenizer(tokenizer, tmp_path);
    });
    recover_best(dir);
    // A directory cannot be renamed over a full one: move the old aside first.
    // Killed in between, best.old (or best.tmp) is still whole.
    fs::remove_all(old_path, ec);
    if (fs::exists(final_path)) fs::rename(final_path, old_path, ec);
    fs::rename(tmp_path, final_path, ec);
    if (ec) throw std::runtime_error(final_path + ": cannot rename into place: " + ec.message());
    fsync_path(dir);
    fs::remove_all(old_path, ec);
}

std::string latest_checkpoint(const std::string& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return "";
    std::string best;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::string n = e.path().filename().string();
        // step_ plus 8 digits; step_XXXXXXXX.tmp is an unfinished write.
        if (n.rfind("step_", 0) != 0 || n.size() != 13 || !e.is_directory()) continue;
        if (!fs::exists(e.path() / "model.bin") || !fs::exists(e.path() / "state.bin")) continue;
        best = std::max(best, n);
    }
    return best.empty() ? "" : dir + "/" + best;
}

using Complaint = std::function<void(const std::string&)>;

// The header's fields, as the trainer writes them: steps are ints; evaluations
// come at most one a step, and best_step = 0 means none was kept yet; a data
// position lies inside its epoch (every shard holds a sample), or is all zero
// for a state without one (which a loader then refuses, naming its data), and
// no more epochs passed than the samples that many steps draw.
static void check_fields(const TrainState& s, const Complaint& bad) {
    auto str = [](auto v) { return std::to_string(v); };
    if (s.step < 0 || s.step > std::numeric_limits<int>::max())
        bad("step " + str(s.step) + " out of range 0.." + str(std::numeric_limits<int>::max()));
    if (s.best_step < 0 || s.best_step > s.step)
        bad("best_step " + str(s.best_step) + " out of range 0..step " + str(s.step));
    if (s.bad_evals < 0 || s.bad_evals > s.step - s.best_step)
        bad("bad_evals " + str(s.bad_evals) + " out of range 0.." + str(s.step - s.best_step) +
            " (the steps since best_step)");
    if (s.best_step == 0 && (s.best_metric != 0 || s.bad_evals != 0))
        bad("best_metric " + str(s.best_metric) + " and bad_evals " + str(s.bad_evals) + " without a best_step");
    const LoaderState& p = s.train_pos;
    const std::string pos = "data position shard " + str(p.shard) + ", sample " + str(p.sample);
    if (p.samples_per_epoch == 0 && (p.epoch || p.shard || p.sample))
        bad(pos + ", epoch " + str(p.epoch) + " with samples_per_epoch 0");
    if (p.samples_per_epoch && (p.shard >= p.samples_per_epoch || p.sample >= p.samples_per_epoch - p.shard))
        bad(pos + " not inside an epoch of samples_per_epoch " + str(p.samples_per_epoch));
    if (p.epoch > (uint64_t)s.step * kMaxBatch * kMaxGradAccum)
        bad("epoch " + str(p.epoch) + " at step " + str(s.step) + ": more epochs than samples drawn");
}

// AdamW's moments, the m or v block: finite, and v >= 0. The trainer skips an
// update whose gradient is not finite, so it never stores anything else.
static void check_moments(const std::vector<float>& block, bool second, const std::vector<const TensorInfo*>& tensors,
                          const Complaint& bad) {
    for (size_t i = 0; i < block.size(); i++) {
        if (std::isfinite(block[i]) && (!second || block[i] >= 0.0f)) continue;
        std::string where = "the padding at " + std::to_string(i);
        for (const TensorInfo* t : tensors)
            if (i >= t->grad_offset && i < t->grad_offset + t->numel())
                where = t->name + " element " + std::to_string(i - t->grad_offset);
        bad(std::string(second ? "v" : "m") + " of " + where + " is " + std::to_string(block[i]) +
            (second ? " (AdamW's second moment must be finite and >= 0)" : " (AdamW's first moment must be finite)"));
    }
}

void load_checkpoint(const std::string& path, Model& model, TrainState& st) {
    load_weights(path + "/model.bin", model);
    std::string sp = path + "/state.bin";
    FILE* f = std::fopen(sp.c_str(), "rb");
    if (!f) throw std::runtime_error(sp + ": cannot open: " + std::strerror(errno));
    std::unique_ptr<FILE, int (*)(FILE*)> closer(f, std::fclose);
    auto bad = [&](const std::string& problem) { fail(sp, problem); };
    auto get = [&](void* p, size_t n) {
        if (std::fread(p, 1, n, f) != n) bad("truncated");
    };
    auto get64 = [&]() {
        unsigned char b[8];
        get(b, 8);
        return load_le(b, 8);
    };
    char magic[8];
    unsigned char version_bytes[4];
    get(magic, 8);
    if (std::memcmp(magic, STATE_MAGIC, 8) != 0) bad("not a minitrain state file (bad magic)");
    get(version_bytes, 4);
    uint32_t version = (uint32_t)load_le(version_bytes, 4);
    if (version != STATE_VERSION)
        bad("unsupported state version " + std::to_string(version) + " (this build reads " +
            std::to_string(STATE_VERSION) + ")");
    TrainState in;
    in.step = (int64_t)get64();
    in.seed = get64();
    in.sample_rng = get64();
    in.train_pos.epoch = get64();
    in.train_pos.shard = get64();
    in.train_pos.sample = get64();
    in.train_pos.samples_per_epoch = get64();
    uint64_t best_bits = get64();
    std::memcpy(&in.best_metric, &best_bits, 8);
    in.best_step = (int64_t)get64();
    in.bad_evals = (int64_t)get64();
    check_fields(in, bad);
    auto tensors = trainable(model);
    uint64_t count = get64();
    if (count != tensors.size())
        bad("holds optimizer state for " + std::to_string(count) + " tensors, the model trains " +
             std::to_string(tensors.size()));
    for (const TensorInfo* t : tensors) {
        unsigned char len_bytes[4];
        get(len_bytes, 4);
        uint32_t len = (uint32_t)load_le(len_bytes, 4);
        if (len > 1024) bad("corrupt tensor name length");
        std::string name(len, '\0');
        get(name.data(), len);
        uint64_t numel = get64();
        if (name != t->name || numel != t->numel())
            bad("optimizer state for " + name + " does not match the model's trainable " + t->name);
    }
    const Arena& a = model.arena;
    std::vector<float> host(a.params.trainable_total);
    for (float* block : {a.m_mem, a.v_mem}) {
        if (host.empty()) break;
        get(host.data(), host.size() * sizeof(float));
        check_moments(host, block == a.v_mem, tensors, bad);
        a.be.upload(block, host.data(), host.size() * sizeof(float));
    }
    if (std::fgetc(f) != EOF) bad("unexpected bytes after the optimizer state");
    st = in;
}
