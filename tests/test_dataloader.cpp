// Token files and the data loader. Files are written to a fresh directory under
// /tmp; bad files are built byte by byte here, independently of the writer.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "data/dataloader.h"
#include "support.h"
#include "data/tokenfile.h"

namespace {

uint32_t le32(const std::string& bytes, size_t at) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) v |= (uint32_t)(unsigned char)bytes[at + k] << (8 * k);
    return v;
}

// A 1024-byte header with the first slots given, then `body_bytes` zero bytes.
void write_raw(const std::string& path, std::vector<int32_t> slots, size_t body_bytes) {
    std::string bytes(1024 + body_bytes, '\0');
    for (size_t i = 0; i < slots.size(); i++)
        for (int k = 0; k < 4; k++) bytes[4 * i + k] = (char)((uint32_t)slots[i] >> (8 * k));
    spit(path, bytes);
}

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Three shards for T = 4: token p of shard s is 100 s + p, so a sample is named by
// its first token (100 s + 4 i) and its targets are its inputs plus one.
// 14, 21 and 11 tokens hold 3, 5 and 2 samples (the tails of shards 0 and 2 are unused).
constexpr int kT = 4, kVocab = 1000, kSamples = 10;
void write_shards(const TempDir& dir) {
    const int lengths[3] = {14, 21, 11};
    for (int s = 0; s < 3; s++) {
        std::vector<uint32_t> tokens(lengths[s]);
        for (int p = 0; p < lengths[s]; p++) tokens[p] = 100 * s + p;
        write_token_file(dir.file("shard_00" + std::to_string(s) + ".bin"), tokens, kVocab);
    }
}

// The first tokens of the next `nbatches` batches' samples, after checking each
// sample is a window of consecutive tokens with targets shifted by one.
std::vector<int> sample_stream(DataLoader& loader, int B, int nbatches) {
    std::vector<int> firsts;
    for (int n = 0; n < nbatches; n++) {
        loader.next_batch();
        for (int b = 0; b < B; b++) {
            const int* inp = loader.inputs() + b * kT;
            const int* tgt = loader.targets() + b * kT;
            for (int t = 0; t < kT; t++) {
                CHECK(inp[t] == inp[0] + t);
                CHECK(tgt[t] == inp[t] + 1);
            }
            firsts.push_back(inp[0]);
        }
    }
    return firsts;
}

const std::vector<int> kAllSamples = {0, 4, 8, 100, 104, 108, 112, 116, 200, 204};

}  // namespace

TEST_CASE("token files round-trip as uint16 and as uint32") {
    TempDir dir("loader");
    SUBCASE("uint16 up to a vocab of 65536") {
        std::string path = dir.file("small.bin");
        std::vector<uint32_t> tokens = {0, 1, 65535, 50256, 258};
        write_token_file(path, tokens, 65536);
        CHECK(read_token_file(path) == tokens);
        std::string bytes = slurp(path);
        REQUIRE(bytes.size() == 1024 + 2 * tokens.size());
        CHECK(le32(bytes, 0) == 20240520);
        CHECK(le32(bytes, 4) == 1);
        CHECK(le32(bytes, 8) == tokens.size());
        CHECK(std::all_of(bytes.begin() + 12, bytes.begin() + 1024, [](unsigned char c) { return c == 0; }));
        CHECK(bytes[1024 + 8] == 0x02);  // 258 little-endian
        CHECK(bytes[1024 + 9] == 0x01);
    }
    SUBCASE("uint32 above 65536") {
        std::string path = dir.file("wide.bin");
        std::vector<uint32_t> tokens = {0, 65536, 128255, 3};
        write_token_file(path, tokens, 128256);
        CHECK(read_token_file(path) == tokens);
        std::string bytes = slurp(path);
        REQUIRE(bytes.size() == 1024 + 4 * tokens.size());
        CHECK(le32(bytes, 0) == 20240801);
        CHECK(le32(bytes, 4) == 7);
        CHECK(le32(bytes, 8) == tokens.size());
        CHECK(le32(bytes, 1024 + 4) == 65536);
    }
    SUBCASE("no tokens") {
        std::string path = dir.file("empty.bin");
        write_token_file(path, {}, 50257);
        CHECK(read_token_file(path).empty());
    }
    using std::filesystem::directory_iterator;
    CHECK(std::distance(directory_iterator(dir.path), directory_iterator()) == 1);  // no .tmp left
}

TEST_CASE("the token file writer rejects out-of-range tokens and writes nothing") {
    TempDir dir("loader");
    std::string path = dir.file("bad.bin");
    std::string msg = error_of([&] { write_token_file(path, {1, 2, 50257}, 50257); });
    CHECK(msg == path + ": token 50257 at offset 2 is out of range for vocab 50257");
    CHECK(std::filesystem::is_empty(dir.path));
}

TEST_CASE("a failed token file write reports it and leaves no temporary file") {
    TempDir dir("loader");
    std::string path = dir.file("taken");
    std::filesystem::create_directory(path);  // the final rename onto a directory fails
    std::string msg = error_of([&] { write_token_file(path, {1, 2, 3}, 50257); });
    CHECK(starts_with(msg, path + ": cannot write"));
    CHECK(!std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("the token file reader names the file and the problem") {
    TempDir dir("loader");
    const std::string path = dir.file("bad.bin");
    auto check_problem = [&](const std::string& problem) {
        INFO("expected problem: " << problem);
        std::string msg = error_of([&] { read_token_file(path); });
        CHECK(starts_with(msg, path + ": "));
        CHECK(contains(msg, problem));
        CHECK(!contains(msg, "\n"));
    };
    check_problem("cannot open");  // no file yet
    write_raw(path, {20240520, 1, 0}, 0);
    std::filesystem::resize_file(path, 1000);
    check_problem("1000 bytes, shorter than the 1024-byte header");

    // Whole headers: slots (magic, version, token count) and the body size after them.
    struct Case {
        std::vector<int32_t> slots;
        size_t body_bytes;
        std::string problem;
    };
    const Case cases[] = {
        {{20240326, 1, 4}, 8, "bad magic 20240326"},
        {{20240520, 7, 4}, 8, "unsupported version 7 for magic 20240520"},   // uint16 magic, uint32 version
        {{20240801, 1, 4}, 16, "unsupported version 1 for magic 20240801"},  // uint32 magic, uint16 version
        // The body one token short, then one byte long.
        {{20240520, 1, 10}, 18, "file is 1042 bytes but the header's 10 tokens of 2 bytes need 1044"},
        {{20240520, 1, 10}, 21, "file is 1045 bytes but the header's 10 tokens of 2 bytes need 1044"},
        {{20240801, 7, 10}, 20, "tokens of 4 bytes need 1064"},  // a uint32 header over a uint16-sized body
        {{20240520, 1, -2}, 0, "negative token count -2"},
    };
    for (const Case& c : cases) {
        write_raw(path, c.slots, c.body_bytes);
        check_problem(c.problem);
    }
}

TEST_CASE("the loader rejects bad data sets naming the file") {
    TempDir dir("loader");
    SUBCASE("token id out of range for the model's vocab") {
        std::string path = dir.file("ids.bin");
        write_token_file(path, {1, 2, 3, 70, 5, 6, 80, 8, 9}, 100);
        CHECK(error_of([&] { DataLoader(path, 1, 4, 50, false, 0); }) ==
              path + ": token 70 at offset 3 is out of range for vocab 50");
        // The bound is exclusive: id 80 fails for vocab 80 and passes for 81.
        CHECK(error_of([&] { DataLoader(path, 1, 4, 80, false, 0); }) ==
              path + ": token 80 at offset 6 is out of range for vocab 80");
        CHECK(error_of([&] { DataLoader(path, 1, 4, 81, false, 0); }) == "");
    }
    SUBCASE("a pattern that matches nothing") {
        std::string pattern = dir.file("train_*.bin");
        CHECK(error_of([&] { DataLoader(pattern, 1, 4, 100, true, 0); }) == pattern + ": no files match");
    }
    SUBCASE("a missing plain path") {
        std::string path = dir.file("absent.bin");
        CHECK(starts_with(error_of([&] { DataLoader(path, 1, 4, 100, true, 0); }), path + ": cannot open"));
    }
    SUBCASE("a shard too short for one sample") {
        write_shards(dir);
        std::string path = dir.file("shard_003.bin");
        write_token_file(path, {1, 2, 3, 4}, kVocab);
        CHECK(error_of([&] { DataLoader(dir.file("shard_*.bin"), 1, kT, kVocab, true, 0); }) ==
              path + ": 4 tokens, too short for one sample of T+1 = 5 tokens");
    }
    SUBCASE("a bad shard among good ones") {
        write_shards(dir);
        std::string path = dir.file("shard_001.bin");
        std::filesystem::resize_file(path, 1024 + 2 * 21 - 1);
        CHECK(starts_with(error_of([&] { DataLoader(dir.file("shard_*.bin"), 1, kT, kVocab, true, 0); }),
                          path + ": file is 1065 bytes"));
    }
}

TEST_CASE("read_token_files concatenates the shards in path order") {
    TempDir dir("loader");
    write_shards(dir);
    std::vector<uint32_t> all = read_token_files(dir.file("shard_*.bin"));
    REQUIRE(all.size() == 14 + 21 + 11);
    CHECK(all[0] == 0);
    CHECK(all[13] == 13);
    CHECK(all[14] == 100);
    CHECK(all[34] == 120);
    CHECK(all[35] == 200);
    CHECK(all[45] == 210);
    CHECK(error_of([&] { read_token_files(dir.file("val_*.bin")); }) == dir.file("val_*.bin") + ": no files match");
}

TEST_CASE("without shuffling the loader reads shards and samples in order") {
    TempDir dir("loader");
    write_shards(dir);
    const int B = 3;
    DataLoader loader(dir.file("shard_*.bin"), B, kT, kVocab, false, 0);
    CHECK(loader.num_shards() == 3);
    CHECK(loader.samples_per_epoch() == kSamples);
    CHECK(loader.batches_per_epoch() == 3);
    CHECK(sample_stream(loader, B, 3) == std::vector<int>{0, 4, 8, 100, 104, 108, 112, 116, 200});
    CHECK(loader.epoch() == 0);
    // The fourth batch ends epoch 0 and begins epoch 1.
    CHECK(sample_stream(loader, B, 1) == std::vector<int>{204, 0, 4});
    CHECK(loader.epoch() == 1);

    loader.reset();
    CHECK(loader.epoch() == 0);
    CHECK(sample_stream(loader, B, 1) == std::vector<int>{0, 4, 8});
}

TEST_CASE("with shuffling every epoch is a permutation of all samples, shard by shard") {
    TempDir dir("loader");
    write_shards(dir);
    const int B = 3, epochs = 6;
    DataLoader loader(dir.file("shard_*.bin"), B, kT, kVocab, true, 12345);
    // 20 batches = 60 samples = 6 epochs exactly.
    std::vector<int> stream = sample_stream(loader, B, epochs * kSamples / B);
    CHECK(loader.epoch() == epochs);
    std::vector<std::vector<int>> orders;
    for (int e = 0; e < epochs; e++) {
        std::vector<int> order(stream.begin() + e * kSamples, stream.begin() + (e + 1) * kSamples);
        std::vector<int> sorted = order;
        std::sort(sorted.begin(), sorted.end());
        CHECK(sorted == kAllSamples);
        // Each shard's samples are contiguous: the shard (first token / 100) changes twice.
        int changes = 0;
        for (int i = 1; i < kSamples; i++) changes += order[i] / 100 != order[i - 1] / 100;
        CHECK(changes == 2);
        orders.push_back(order);
    }
    std::sort(orders.begin(), orders.end());
    CHECK(std::unique(orders.begin(), orders.end()) - orders.begin() == epochs);
}

TEST_CASE("the shuffle is fixed by the seed") {
    TempDir dir("loader");
    write_shards(dir);
    const int B = 2;
    std::string pattern = dir.file("shard_*.bin");
    DataLoader a(pattern, B, kT, kVocab, true, 2), b(pattern, B, kT, kVocab, true, 2),
        c(pattern, B, kT, kVocab, true, 3);
    std::vector<int> stream_a = sample_stream(a, B, 10);
    // Epochs 0 and 1 for seed 2, from an independent Python implementation of the
    // documented scheme (splitmix64 keys, Fisher-Yates): pins the order across machines.
    CHECK(stream_a == std::vector<int>{204, 200, 112, 116, 100, 104, 108, 8, 0, 4,
                                       108, 116, 112, 100, 104, 200, 204, 8, 0, 4});
    CHECK(sample_stream(b, B, 10) == stream_a);
    CHECK(sample_stream(c, B, 10) != stream_a);
}

TEST_CASE("splitmix64 and seeded_permutation match reference values") {
    // splitmix64 from seed 1234567 (the published Rosetta Code test vector).
    uint64_t state = 1234567;
    const uint64_t expected[5] = {6457827717110365317ull, 3203168211198807973ull, 9817491932198370423ull,
                                  4593380528125082431ull, 16408922859458223821ull};
    for (uint64_t e : expected) CHECK(splitmix64(&state) == e);

    // From the Python implementation used for the seed test above.
    std::vector<uint32_t> perm(10);
    seeded_permutation(perm.data(), 10, 42);
    CHECK(perm == std::vector<uint32_t>{0, 9, 5, 8, 6, 4, 7, 2, 1, 3});

    // All 6 orders of 3 items equally likely: over 6000 keys each count is
    // Binomial(6000, 1/6), mean 1000, sd 28.9; 150 is over 5 sd. A biased shuffle
    // (e.g. j drawn from [0, n) instead of [0, i)) puts some counts 25% off.
    int counts[6] = {};
    for (uint64_t key = 0; key < 6000; key++) {
        uint32_t p[3];
        seeded_permutation(p, 3, key);
        counts[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int count : counts) CHECK(std::abs(count - 1000) < 150);
}

TEST_CASE("a restored state continues with the very same batches") {
    TempDir dir("loader");
    write_shards(dir);
    const int B = 3;
    std::string pattern = dir.file("shard_*.bin");
    // After 1 batch: mid-shard in epoch 0; after 4: in epoch 1 (the save point's
    // epoch has its own shuffle, which restore must regenerate).
    for (int before : {1, 4}) {
        CAPTURE(before);
        DataLoader original(pattern, B, kT, kVocab, true, 99);
        sample_stream(original, B, before);
        LoaderState saved = original.state();
        std::vector<int> expected = sample_stream(original, B, 8);

        DataLoader resumed(pattern, B, kT, kVocab, true, 99);
        resumed.restore(saved);
        CHECK(resumed.epoch() == saved.epoch);
        CHECK(sample_stream(resumed, B, 8) == expected);
    }

    DataLoader loader(pattern, B, kT, kVocab, true, 99);
    LoaderState bad = loader.state();
    bad.samples_per_epoch = kSamples + 1;
    CHECK(contains(error_of([&] { loader.restore(bad); }), "saved on data with 11 samples per epoch"));
    bad = loader.state();
    bad.shard = 3;
    CHECK(contains(error_of([&] { loader.restore(bad); }), "shard 3 of 3"));
    bad = loader.state();
    bad.sample = 5;  // at most 5 samples in a shard, so index 5 is out of range wherever shard 0 is
    CHECK(starts_with(error_of([&] { loader.restore(bad); }), pattern + ": cannot restore"));
}
