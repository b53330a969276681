// The training data loader (see dataloader.h).
#include "data/dataloader.h"

#include <glob.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "data/tokenfile.h"

uint64_t splitmix64(uint64_t* state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void seeded_permutation(uint32_t* perm, uint32_t n, uint64_t key) {
    std::iota(perm, perm + n, 0u);
    uint64_t state = key;
    for (uint32_t i = n; i > 1; i--) {
        // Draws below 2^64 mod i would make the low residues likelier; redraw them.
        uint64_t reject_below = (0 - (uint64_t)i) % i;
        uint64_t r;
        do r = splitmix64(&state);
        while (r < reject_below);
        std::swap(perm[i - 1], perm[r % i]);
    }
}

uint64_t shuffle_key(uint64_t seed, uint64_t epoch, uint64_t stream) {
    uint64_t state = seed;
    state = splitmix64(&state) ^ epoch;
    state = splitmix64(&state) ^ stream;
    return splitmix64(&state);
}

namespace {

std::vector<std::string> match_token_files(const std::string& pattern) {
    glob_t g;
    int rc = glob(pattern.c_str(), 0, nullptr, &g);
    std::vector<std::string> paths;
    if (rc == 0) paths.assign(g.gl_pathv, g.gl_pathv + g.gl_pathc);
    globfree(&g);
    if (rc == GLOB_NOMATCH) {
        // A plain path that is missing: the file reader says why, naming the file.
        if (pattern.find_first_of("*?[") == std::string::npos) return {pattern};
        throw std::runtime_error(pattern + ": no files match");
    }
    if (rc != 0) throw std::runtime_error(pattern + ": cannot expand the pattern");
    // glob sorts by the locale's collation; byte order is the same everywhere.
    std::sort(paths.begin(), paths.end());
    return paths;
}

}  // namespace

std::vector<uint32_t> read_token_files(const std::string& pattern) {
    std::vector<uint32_t> all;
    for (const std::string& path : match_token_files(pattern)) {
        std::vector<uint32_t> tokens = read_token_file(path);
        all.insert(all.end(), tokens.begin(), tokens.end());
    }
    return all;
}

DataLoader::DataLoader(const std::string& pattern, int B, int T, int vocab_size, bool shuffle,
                       uint64_t seed)
    : pattern_(pattern), B_(B), T_(T), shuffle_(shuffle), seed_(seed) {
    if (B < 1 || T < 1 || vocab_size < 1)
        throw std::runtime_error(pattern + ": batch size " + std::to_string(B) + ", sequence length " +
                                 std::to_string(T) + " and vocab size " + std::to_string(vocab_size) +
                                 " must all be positive");
    size_t max_samples = 0;
    for (const std::string& path : match_token_files(pattern)) {
        std::vector<uint32_t> tokens = read_token_file(path);
        for (size_t k = 0; k < tokens.size(); k++)
            if (tokens[k] >= (uint32_t)vocab_size)
                throw std::runtime_error(path + ": token " + std::to_string(tokens[k]) + " at offset " +
                                         std::to_string(k) + " is out of range for vocab " +
                                         std::to_string(vocab_size));
        if (tokens.size() < (size_t)T + 1)
            throw std::runtime_error(path + ": " + std::to_string(tokens.size()) +
                                     " tokens, too short for one sample of T+1 = " +
                                     std::to_string(T + 1) + " tokens");
        tokens_.push_back(std::move(tokens));
        max_samples = std::max<size_t>(max_samples, samples_in(tokens_.size() - 1));
        pos_.samples_per_epoch += samples_in(tokens_.size() - 1);
    }
    shard_order_.resize(tokens_.size());
    sample_order_.resize(max_samples);
    inputs_.resize((size_t)B * T);
    targets_.resize((size_t)B * T);
    reset();
}

uint32_t DataLoader::samples_in(size_t shard_id) const {
    return (uint32_t)((tokens_[shard_id].size() - 1) / T_);
}

void DataLoader::order_shards() {
    uint32_t n = (uint32_t)shard_order_.size();
    if (shuffle_)
        seeded_permutation(shard_order_.data(), n, shuffle_key(seed_, pos_.epoch, 0));
    else
        std::iota(shard_order_.begin(), shard_order_.end(), 0u);
}

void DataLoader::order_samples() {
    uint32_t shard_id = shard_order_[pos_.shard];
    uint32_t n = samples_in(shard_id);
    if (shuffle_)
        seeded_permutation(sample_order_.data(), n, shuffle_key(seed_, pos_.epoch, 1 + (uint64_t)shard_id));
    else
        std::iota(sample_order_.begin(), sample_order_.begin() + n, 0u);
}

void DataLoader::advance() {
    if (++pos_.sample < samples_in(shard_order_[pos_.shard])) return;
    pos_.sample = 0;
    if (++pos_.shard == shard_order_.size()) {
        pos_.shard = 0;
        pos_.epoch++;
        order_shards();
    }
    order_samples();
}

void DataLoader::next_batch() {
    for (int b = 0; b < B_; b++) {
        const uint32_t* window =
            tokens_[shard_order_[pos_.shard]].data() + (size_t)sample_order_[pos_.sample] * T_;
        int* inp = &inputs_[(size_t)b * T_];
        int* tgt = &targets_[(size_t)b * T_];
        for (int t = 0; t < T_; t++) {
            inp[t] = (int)window[t];
            tgt[t] = (int)window[t + 1];
        }
        advance();
    }
}

void DataLoader::reset() {
    pos_.epoch = pos_.shard = pos_.sample = 0;
    order_shards();
    order_samples();
}

void DataLoader::restore(const LoaderState& saved) {
    auto fail = [&](const std::string& problem) {
        reset();
        throw std::runtime_error(pattern_ + ": cannot restore the data position: " + problem);
    };
    if (saved.samples_per_epoch != pos_.samples_per_epoch)
        fail("it was saved on data with " + std::to_string(saved.samples_per_epoch) +
             " samples per epoch, this data has " + std::to_string(pos_.samples_per_epoch));
    if (saved.shard >= shard_order_.size())
        fail("shard " + std::to_string(saved.shard) + " of " + std::to_string(shard_order_.size()));
    pos_ = saved;
    order_shards();
    uint32_t n = samples_in(shard_order_[pos_.shard]);
    if (saved.sample >= n)
        fail("sample " + std::to_string(saved.sample) + " of " + std::to_string(n) + " in shard " +
             std::to_string(saved.shard));
    order_samples();
}
