#include "train/checkpoint.h"


#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/fileio.h"
#include "data/text_encoder.h"
#include "formats/weights.h"

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
        a.be.upload(block, host.data(), host.size() * sizeof(float));
    }
    if (std::fgetc(f) != EOF) bad("unexpected bytes after the optimizer state");
    st = in;
}
