// The mlm task: BERT's masked-LM pretraining on examples files (the masking
// is in data/example_loader.h), evaluated by the masked tokens' mean loss and
// accuracy, under masks that are the same at every evaluation.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/text_encoder.h"
#include "train/examples_task.h"

namespace {

// The special tokens of a WordPiece vocabulary that masking needs.
MlmMasking mlm_masking(const std::string& tokenizer, float prob, int V) {
    const std::string prefix = "wordpiece:";
    if (tokenizer.rfind(prefix, 0) != 0)
        throw std::runtime_error("--task mlm needs --tokenizer wordpiece:DIR (for [MASK] and the special tokens)");
    std::shared_ptr<WordPiece> wp = load_wordpiece(tokenizer.substr(prefix.size()));
    MlmMasking m;
    m.prob = prob;
    m.vocab = V;
    for (int id = 0; id < wp->vocab_size(); id++) {
        const std::string& tok = wp->token(id);
        if (tok == "[MASK]") m.mask_id = id;
        if (tok == "[CLS]" || tok == "[SEP]" || tok == "[PAD]" || tok == "[UNK]" || tok == "[MASK]") m.special.push_back(id);
    }
    if (m.mask_id < 0) throw std::runtime_error("--tokenizer " + tokenizer + ": the vocabulary has no [MASK]");
    if (wp->vocab_size() > V)
        throw std::runtime_error("--tokenizer " + tokenizer + ": vocabulary of " + std::to_string(wp->vocab_size()) +
                                 " does not fit the model's " + std::to_string(V));
    return m;
}

class MlmTask : public ExamplesTask {
  public:
    using ExamplesTask::ExamplesTask;
    void check_arch(const std::string& arch) const override {
        if (arch == "gpt2") throw std::runtime_error("--task mlm needs a BERT model (a bert-* --config or a BERT --model)");
    }
    void open_data(int B, int T, int V, uint64_t seed) override {
        masking = mlm_masking(cfg.tokenizer, cfg.mlm_probability, V);
        open_examples(B, T, V, seed, &masking);
    }

    // The logits' rows are the positions with a target, in row-major order.
    Evaluation evaluate(Model& model, Source& data, int max_batches, bool) override {
        double total = 0, weight = 0;
        long long correct = 0;
        std::vector<float> logits;
        for_each_eval_batch(model, data, max_batches, [&](const Batch& batch, float loss) {
            int rows = 0, cols = 0;
            const float* dev = model.logits_view(rows, cols);
            logits.resize((size_t)rows * cols);
            model.arena.be.download(logits.data(), dev, logits.size() * sizeof(float));
            std::vector<int> targets;
            for (int k = 0; k < batch.b * batch.t; k++)
                if (batch.targets[k] >= 0) targets.push_back(batch.targets[k]);
            for (int r = 0; r < rows; r++) {
                const float* row = logits.data() + (size_t)r * cols;
                correct += std::max_element(row, row + cols) - row == targets[r];
            }
            total += (double)loss * rows, weight += rows;
        });
        return {{{"loss", weight ? total / weight : NAN}, {"accuracy", weight ? correct / weight : NAN}}};
    }

  private:
    MlmMasking masking;
};

}  // namespace

std::unique_ptr<Task> make_mlm_task(const TrainConfig& cfg) { return std::make_unique<MlmTask>(cfg); }
