// predict: runs a sequence classifier over a text file, one prediction per line.
//
//   bin/predict --model out/best/model.bin --tokenizer wordpiece:DIR --input texts.txt
//               [--output predictions.tsv] [--max-len 128] [--batch 32] [--device cpu]
//
// Each input line is a text, or two texts separated by a tab (a pair task,
// wordpiece only). The output is TSV: a header `label  p(<class>)...`, then
// for each input line the predicted class and every class's probability.
// Class names come from labels.txt beside the model file (./train writes one
// into <checkpoint-dir>/best/), else they are the class ids.
#include <cxxopts.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/bert.h"
#include "data/example_loader.h"
#include "data/examples.h"
#include "core/fileio.h"
#include "models/gpt2.h"
#include "train/metrics.h"
#include "data/text_encoder.h"
#include "formats/weights.h"
#include "cli/tool_args.h"
#include "core/threads.h"

namespace {

// A classifier's classes, vocabulary and context, from its file's config.
struct ClassifierShape {
    int K = 0, V = 0, max_T = 0;
};

ClassifierShape classifier_shape(const std::string& path) {
    if (read_weight_file(path).arch == "gpt2") {
        const GPT2Config cfg = read_gpt2_config(path);
        if (!cfg.num_labels) throw std::runtime_error(path + ": a GPT-2 language model, not a classifier");
        return {cfg.num_labels, cfg.V, cfg.max_T - cfg.prompt.n};
    }
    const BertConfig cfg = read_bert_config(path);
    if (cfg.head != BertHead::Classifier) throw std::runtime_error(path + ": a BERT without a classifier head");
    return {cfg.num_labels, cfg.V, cfg.max_T - cfg.prompt.n};
}

// The model with activations for batches of B x T, no larger.
std::unique_ptr<Model> load_classifier(Backend& be, const std::string& path, int B, int T) {
    std::unique_ptr<Model> model;
    if (read_weight_file(path).arch == "gpt2") model = std::make_unique<GPT2>(be, read_gpt2_config(path), B, T);
    else model = std::make_unique<BERT>(be, read_bert_config(path), B, T);
    model->allocate();
    load_weights(path, *model);
    return model;
}

// labels.txt's names beside the model, else the class ids.
std::vector<std::string> class_names(const std::string& model_path, int K) {
    std::vector<std::string> names = read_label_names(model_path, K);
    if (names.empty())
        for (int k = 0; k < K; k++) names.push_back(std::to_string(k));
    return names;
}

// --tokenizer, else the one saved beside the model; a --tokenizer other than
// the saved one is refused (its ids would mean other tokens).
std::string chosen_tokenizer(const std::string& model_path, const std::string& given) {
    const std::string dir = std::filesystem::path(model_path).parent_path().string();
    const std::string saved = saved_tokenizer(dir.empty() ? "." : dir);
    if (given.empty() && saved.empty())
        throw std::runtime_error("--tokenizer is required: " + model_path + " has no tokenizer beside it");
    if (given.empty()) return saved;
    if (!saved.empty() && !same_tokenizer(given, saved))
        throw std::runtime_error("--tokenizer " + given + ": not the tokenizer " + model_path +
                                 " was trained with (the one beside it differs)");
    return given;
}

// Each line of the file: a text, or a text and its pair separated by a tab.
void read_lines(const std::string& input, std::vector<std::string>& texts, std::vector<std::string>& pairs) {
    const std::string all = read_file(input);
    for (size_t start = 0; start < all.size();) {
        size_t end = all.find('\n', start);
        if (end == std::string::npos) end = all.size();
        std::string line = all.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t tab = line.find('\t');
        texts.push_back(line.substr(0, tab));
        pairs.push_back(tab == std::string::npos ? "" : line.substr(tab + 1));
        if (line.find('\t', tab == std::string::npos ? line.size() : tab + 1) != std::string::npos)
            throw std::runtime_error(input + ": line " + std::to_string(texts.size()) + " has more than two texts");
        start = end + 1;
    }
    if (texts.empty()) throw std::runtime_error(input + ": no lines");
}

// The lines as examples of at most T tokens (label 0 stands in for the
// unknown one); `longest` gets the longest one's length.
Examples encode_lines(Encoder& enc, const std::vector<std::string>& texts, const std::vector<std::string>& pairs, int T,
                      const std::vector<std::string>& names, const std::string& input, int& longest) {
    Examples ex;
    ex.max_len = T, ex.vocab_size = enc.vocab_size, ex.label_names = names;
    std::vector<int32_t> ids;
    std::vector<uint8_t> types;
    for (size_t i = 0; i < texts.size(); i++) {
        enc.encode(texts[i], pairs[i], ids, types);
        if (ids.empty()) throw std::runtime_error(input + ": line " + std::to_string(i + 1) + " has no tokens");
        ids.resize(std::min(ids.size(), (size_t)T)), types.resize(ids.size());
        longest = std::max(longest, (int)ids.size());
        ex.add(ids, types, 0);
    }
    return ex;
}

// A TSV line per example: the predicted class, then every class's probability,
// batched as training batches them (B x T: the largest batch the model holds).
void write_predictions(Model& model, const Examples& ex, int B, int T, const std::vector<std::string>& names, FILE* out) {
    ExampleLoader loader(ex, B, T, 0, false, 0);
    std::vector<float> probs;
    for (size_t b = 0; b < loader.batches_per_epoch(); b++) {
        Batch batch = loader.next_batch();
        batch.labels = nullptr;
        model.forward(batch);
        int rows = 0, cols = 0;
        const float* dev = model.logits_view(rows, cols);
        probs.resize((size_t)rows * cols);
        model.arena.be.download(probs.data(), dev, probs.size() * sizeof(float));
        softmax_rows(probs.data(), rows, cols);
        for (int i = 0; i < rows; i++) {
            const float* row = probs.data() + (size_t)i * cols;
            std::fprintf(out, "%s", names[std::max_element(row, row + cols) - row].c_str());
            for (int k = 0; k < cols; k++) std::fprintf(out, "\t%.6f", row[k]);
            std::fprintf(out, "\n");
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    use_polite_omp_waits(argv);
    try {
        cxxopts::Options options("predict", "Classifies each line of a text file with a trained classifier.");
        options.add_options()
            ("model", "a classifier weight file (e.g. <checkpoint-dir>/best/model.bin)", cxxopts::value<std::string>())
            ("tokenizer", "what the training examples were made with: wordpiece:DIR, a GPT-2 BPE directory, or byte "
                          "(default: the one in the model's folder, which ./train puts in best/)", cxxopts::value<std::string>())
            ("input", "text file, one text (or text<TAB>pair) per line", cxxopts::value<std::string>())
            ("output", "where the TSV goes (default: stdout)", cxxopts::value<std::string>()->default_value(""))
            ("max-len", "tokens per text, as make_examples --max-len", cxxopts::value<int>()->default_value("128"))
            ("batch", "lines per forward pass", cxxopts::value<int>()->default_value("32"))
            ("device", "cpu, cuda or cuda-bf16", cxxopts::value<std::string>()->default_value("cpu"))
            ("h,help", "print this help");
        cxxopts::ParseResult r;
        if (!parse_tool_args(options, argc, argv, r, {"model", "input"})) return 0;
        const std::string model_path = r["model"].as<std::string>(), input = r["input"].as<std::string>();
        const int max_len = r["max-len"].as<int>(), B = r["batch"].as<int>();
        if (max_len < 1) throw std::runtime_error("--max-len must be >= 1");
        if (B < 1) throw std::runtime_error("--batch must be >= 1");

        std::vector<std::string> texts, pairs;
        read_lines(input, texts, pairs);
        if (texts.empty()) throw std::runtime_error(input + ": no lines");
        const bool any_pair = std::any_of(pairs.begin(), pairs.end(), [](const std::string& p) { return !p.empty(); });

        const ClassifierShape shape = classifier_shape(model_path);
        const std::vector<std::string> names = class_names(model_path, shape.K);
        const std::string tokenizer = chosen_tokenizer(model_path, r.count("tokenizer") ? r["tokenizer"].as<std::string>() : "");
        const int T = std::min(max_len, shape.max_T);
        Encoder enc = make_encoder(tokenizer, T, any_pair);
        // A tokenizer of another vocabulary gives ids that mean other tokens: refuse it.
        if (enc.vocab_size != shape.V)
            throw std::runtime_error("--tokenizer " + tokenizer + ": " + std::to_string(enc.vocab_size) +
                                     " tokens, but " + model_path + " has " + std::to_string(shape.V) +
                                     " (give the tokenizer its training examples were made with)");

        FILE* out = stdout;
        std::unique_ptr<FILE, int (*)(FILE*)> closer(nullptr, std::fclose);
        const std::string out_path = r["output"].as<std::string>();
        if (!out_path.empty()) {
            out = std::fopen(out_path.c_str(), "w");
            if (!out) throw std::runtime_error(out_path + ": cannot open for writing");
            closer.reset(out);
        }
        std::fprintf(out, "label");
        for (const std::string& n : names) std::fprintf(out, "\tp(%s)", n.c_str());
        std::fprintf(out, "\n");

        int longest = 1;
        const Examples ex = encode_lines(enc, texts, pairs, T, names, input, longest);
        // Activations sized by the input: 5 short lines need no 32 x 512 batch.
        const int rows = (int)std::min<size_t>(B, texts.size());
        std::unique_ptr<Backend> be(make_backend(r["device"].as<std::string>().c_str()));
        std::unique_ptr<Model> model = load_classifier(*be, model_path, rows, longest);
        write_predictions(*model, ex, rows, longest, names, out);
        return 0;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "predict: %s\n", e.what());
        return 1;
    }
}
