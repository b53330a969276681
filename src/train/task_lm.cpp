// The lm task: next-token prediction on token files with a GPT-2 (its LM
// head), evaluated by mean loss and perplexity against a unigram baseline,
// with text samples during and after training.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "data/tokenizer.h"
#include "models/gpt2.h"
#include "models/sampler.h"
#include "train/task.h"

namespace {

// Cross-entropy of the validation tokens under the training tokens' unigram
// distribution (add-one smoothed): what a model that ignores context achieves.
double unigram_baseline(const std::string& train_pattern, const std::string& val_pattern, int V) {
    std::vector<double> counts(V, 1.0);
    double total = V;
    for (uint32_t t : read_token_files(train_pattern)) counts[t] += 1, total += 1;
    double nll = 0;
    size_t n = 0;
    for (uint32_t t : read_token_files(val_pattern)) nll -= std::log(counts[t] / total), n++;
    return n ? nll / n : NAN;
}

// The default run's data is made by a script from the shared corpus (or a download).
void prepare_default_data(const std::string& train_data) {
    if (train_data != kDefaultTrainData || std::filesystem::exists(kDefaultTrainData)) return;
    std::printf("preparing tinyshakespeare: data/tinyshakespeare.sh\n");
    std::fflush(stdout);
    if (std::system("bash data/tinyshakespeare.sh") != 0)
        throw std::runtime_error("no default data: data/tinyshakespeare.sh could not make it (its line above says why)");
}

class LmTask : public Task {
  public:
    explicit LmTask(const TrainConfig& c) : Task(c), tok(make_tokenizer(c.tokenizer)) {}

    void check_arch(const std::string& arch) const override {
        if (arch == "bert") throw std::runtime_error("--task lm needs a GPT-2 model; BERT trains with --task mlm");
    }
    int data_vocab() const override { return tok->vocab_size(); }

    void open_data(int B, int T, int V, uint64_t seed) override {
        if (tok->vocab_size() != V)
            throw std::runtime_error("--tokenizer " + cfg.tokenizer + ": " + std::to_string(tok->vocab_size()) +
                                     " tokens, but the model has " + std::to_string(V) +
                                     " (give the tokenizer its data was made with)");
        prepare_default_data(cfg.train_data);
        vocab = V;
        train = std::make_unique<TokenSource>(cfg.train_data, B, T, V, cfg.shuffle, seed);
        if (cfg.val_data.empty()) return;
        val = std::make_unique<TokenSource>(cfg.val_data, B, T, V, false, 0);
        if (val->batches_per_epoch() == 0)
            throw std::runtime_error("--val-data " + cfg.val_data + ": fewer samples than one batch of " +
                                     std::to_string(B) + " x " + std::to_string(T));
    }

    void print_baseline() override {
        if (!val) return;
        baseline = unigram_baseline(cfg.train_data, cfg.val_data, vocab);
        std::printf("unigram baseline on the validation data: %.4f\n", baseline);
    }

    // The mean of the batches' mean losses, and its perplexity.
    Evaluation evaluate(Model& model, Source& data, int max_batches, bool) override {
        double total = 0;
        size_t batches = 0;
        for_each_eval_batch(model, data, max_batches, [&](const Batch&, float loss) { total += loss, batches++; });
        const double loss = batches ? total / batches : NAN;
        return {{{"loss", loss}, {"ppl", std::exp(loss)}}};
    }

    std::string eval_note() const override {
        char buf[64];
        std::snprintf(buf, sizeof buf, " (unigram baseline %.4f)", baseline);
        return buf;
    }
    bool keeps_best() const override { return false; }
    bool samples() const override { return true; }

    // Prints a sample of --sample-length tokens from --prompt.
    void sample(Model& model, uint64_t& rng) override {
        std::vector<int> prompt;
        for (uint32_t id : tok->encode(cfg.prompt)) prompt.push_back((int)id);
        if (prompt.empty()) prompt.push_back(tok->eot() >= 0 ? tok->eot() : 0);
        std::printf("---- sample ----\n%s", cfg.prompt.c_str());
        Sampling s;
        s.temperature = cfg.temperature, s.top_k = cfg.top_k;
        generate(static_cast<GPT2&>(model), prompt, cfg.sample_length, s, rng, [&](int id) {
            std::string bytes = tok->decode_token((uint32_t)id);
            std::fwrite(bytes.data(), 1, bytes.size(), stdout);
            std::fflush(stdout);
            return true;
        });
        std::printf("\n----------------\n");
    }

  private:
    std::unique_ptr<Tokenizer> tok;
    int vocab = 0;
    double baseline = NAN;
};

}  // namespace

std::unique_ptr<Task> make_lm_task(const TrainConfig& cfg) { return std::make_unique<LmTask>(cfg); }
