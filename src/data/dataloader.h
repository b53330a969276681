// Next-token training data: batches of (inputs, targets) read from token files.
//
// A shard of n tokens holds (n - 1) / T samples; sample i is the window of T + 1
// tokens starting at i * T: inputs are its first T tokens, targets its last T (the
// inputs shifted by one). Consecutive windows share only their boundary token, and
// a shard's tail shorter than a window is never read.
//
// An epoch visits every sample of every shard once: shard by shard, in the shard
// order of that epoch, and within a shard in that shard's sample order. Without
// shuffling both orders are sequential. With shuffling both are permutations
// drawn from (seed, epoch) alone (see seeded_permutation), so the same seed gives
// the same order on every machine and a position is just three counters.
// Batches run on across shard and epoch boundaries: when samples_per_epoch is
// not a multiple of B, one batch ends an epoch and begins the next.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

// splitmix64 (Steele, Lea & Flood 2014, with Vigna's constants): advances *state
// and returns the next 64 pseudo-random bits.
uint64_t splitmix64(uint64_t* state);

// perm[0..n) = a permutation of 0..n-1: Fisher-Yates (for i = n..2, swap perm[i-1]
// with perm[j], j uniform in [0, i)) drawing from splitmix64 started at `key`, each
// j by rejection so that no index is favoured. Integer arithmetic only.
void seeded_permutation(uint32_t* perm, uint32_t n, uint64_t key);
// The key of one shuffle, from the run's seed, the epoch and a stream number
// (here stream 0 orders an epoch's shards, stream 1 + s the samples of shard s).
uint64_t shuffle_key(uint64_t seed, uint64_t epoch, uint64_t stream);

// Every token of every file that `pattern` names (as for DataLoader), concatenated.
std::vector<uint32_t> read_token_files(const std::string& pattern);

// The loader's whole position. The next sample is number `sample` in the current
// shard's order, the shard is number `shard` in epoch `epoch`'s shard order.
// samples_per_epoch describes the data it was taken on, so that restoring it on
// other data is an error rather than a silently different run.
struct LoaderState {
    uint64_t epoch = 0;
    uint64_t shard = 0;
    uint64_t sample = 0;
    uint64_t samples_per_epoch = 0;
};

class DataLoader {
public:
    // pattern: one token file, or a glob(3) pattern of shards taken in byte order of
    // their paths ("<pattern>: no files match" if none). Reads every shard into memory
    // and checks each token < vocab_size.
    // Throws std::runtime_error naming the file (or the pattern) on any problem.
    DataLoader(const std::string& pattern, int B, int T, int vocab_size, bool shuffle,
               uint64_t seed);

    // Fills inputs() and targets(), each (B,T), with the next B samples.
    void next_batch();
    const int* inputs() const { return inputs_.data(); }
    const int* targets() const { return targets_.data(); }

    // Back to the first sample of epoch 0 (e.g. before each pass over validation data).
    void reset();
    LoaderState state() const { return pos_; }
    // Continues from a saved position: the next batch is the one that followed the save.
    // Throws if the state does not fit this data (and leaves the loader reset).
    void restore(const LoaderState& saved);

    uint64_t epoch() const { return pos_.epoch; }
    size_t num_shards() const { return tokens_.size(); }
    size_t samples_per_epoch() const { return pos_.samples_per_epoch; }
    // Whole batches in one epoch: floor(samples_per_epoch / B).
    size_t batches_per_epoch() const { return pos_.samples_per_epoch / B_; }

private:
    uint32_t samples_in(size_t shard_id) const;
    void order_shards();   // shard_order_ for pos_.epoch
    void order_samples();  // sample_order_ for the shard at pos_.shard
    void advance();

    std::string pattern_;
    int B_, T_;
    bool shuffle_;
    uint64_t seed_;
    std::vector<std::vector<uint32_t>> tokens_;  // per shard, in path order
    std::vector<uint32_t> shard_order_;          // this epoch's shard ids
    std::vector<uint32_t> sample_order_;         // current shard's sample ids (sized for the largest)
    LoaderState pos_;
    std::vector<int> inputs_, targets_;
};
