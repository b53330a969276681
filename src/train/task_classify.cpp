// The classify task: sequence classification on examples files with a
// GPT-2 or BERT classification head, evaluated by the classification metrics
// (train/evaluation.h) next to the majority-class baseline.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "train/examples_task.h"
#include "train/metrics.h"

namespace {

class ClassifyTask : public ExamplesTask {
  public:
    using ExamplesTask::ExamplesTask;
    void check_arch(const std::string&) const override {}
    int num_labels() const override { return (int)train_ex.label_names.size(); }
    void open_data(int B, int T, int V, uint64_t seed) override { open_examples(B, T, V, seed, nullptr); }

    // On the examples the evaluations read: with --eval-batches, the first
    // eval_batches * batch of the (unshuffled) validation data.
    void print_baseline() override {
        if (!val) return;
        const size_t count = cfg.eval_batches ? (size_t)cfg.eval_batches * cfg.batch : SIZE_MAX;
        std::printf("majority-class baseline on the validation data%s: %s\n", cfg.eval_batches ? " evaluated" : "",
                    metrics_line(baseline_on(*val, count)).c_str());
    }
    void print_test_baseline() override {
        std::printf("test majority-class baseline: %s\n", metrics_line(baseline_on(*test, SIZE_MAX)).c_str());
    }

    // Loss (mean over examples), predictions (argmax) and class probabilities.
    Evaluation evaluate(Model& model, Source& data, int max_batches, bool report) override {
        double total = 0, weight = 0;
        std::vector<int> truth, pred;
        std::vector<float> probs, logits;
        int K = 0;
        for_each_eval_batch(model, data, max_batches, [&](const Batch& batch, float loss) {
            int rows = 0;
            const float* dev = model.logits_view(rows, K);
            logits.resize((size_t)rows * K);
            model.arena.be.download(logits.data(), dev, logits.size() * sizeof(float));
            softmax_rows(logits.data(), rows, K);
            for (int r = 0; r < rows; r++) {
                const float* row = logits.data() + (size_t)r * K;
                truth.push_back(batch.labels[r]);
                pred.push_back((int)(std::max_element(row, row + K) - row));
            }
            probs.insert(probs.end(), logits.begin(), logits.end());
            total += (double)loss * rows, weight += rows;
        });
        return classification_evaluation(truth, pred, probs, K, weight ? total / weight : NAN, train_ex.label_names, report);
    }
    bool reports() const override { return true; }
    std::vector<std::string> label_names() const override { return train_ex.label_names; }

  private:
    Evaluation baseline_on(const Source& data, size_t count) const {
        return majority_baseline(train_ex, static_cast<const ExampleSource&>(data).ex, count, num_labels(),
                                 train_ex.label_names);
    }
};

}  // namespace

std::unique_ptr<Task> make_classify_task(const TrainConfig& cfg) { return std::make_unique<ClassifyTask>(cfg); }
