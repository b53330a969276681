// ./train --task classify and --task mlm, and bin/predict, end to end on a
// small sentiment-like task written here: a text is positive when it says
// "good" and negative when it says "bad", among filler words. Its vocabulary
// and TSV files go through bin/make_examples as real data would.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support.h"

namespace fs = std::filesystem;

namespace {

const char* const kFiller[] = {"the", "movie", "was", "a", "plot", "with", "actors", "and", "very", "story"};

struct TaskWorkspace : TempDir {
    TaskWorkspace() : TempDir("tasks") {
        fs::create_directories(file("vocab"));
        std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ngood\nbad\n";
        for (const char* w : kFiller) vocab += std::string(w) + "\n";
        spit(file("vocab/vocab.txt"), vocab);
        uint64_t state = 12345;
        auto next = [&](int n) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            return (int)((state >> 33) % (uint64_t)n);
        };
        for (const auto& [name, rows] : {std::pair<const char*, int>{"train", 400}, {"dev", 80}, {"test", 80}}) {
            std::string tsv = "sentence\tlabel\n", plain;
            for (int i = 0; i < rows; i++) {
                const int label = next(2), len = 3 + next(8), at = next(len);
                std::string text;
                for (int k = 0; k < len; k++)
                    text += std::string(k ? " " : "") + (k == at ? (label ? "good" : "bad") : kFiller[next(10)]);
                tsv += text + "\t" + std::to_string(label) + "\n";
                plain += text + "\n";
            }
            spit(file(std::string(name) + ".txt"), plain);
            examples(name, tsv);
        }
    }
    // <name>.bin from a TSV (header, text, label) through bin/make_examples.
    void examples(const std::string& name, const std::string& tsv) const {
        spit(file(name + ".tsv"), tsv);
        CommandResult r = run_command("./bin/make_examples --input " + file(name + ".tsv") + " --header --tokenizer wordpiece:" +
                                          file("vocab") + " --max-len 16 --labels negative,positive --output " +
                                          file(name + ".bin"),
                                      *this);
        REQUIRE_MESSAGE(r.status == 0, r.err);
    }
    std::string classify(const std::string& ckpt) const {
        return "--config bert-tiny --layers 1 --channels 32 --heads 2 --max-seq-len 32 " + classify_from(ckpt);
    }
    // The same without the model's shape, for a run that starts from --model.
    std::string classify_from(const std::string& ckpt) const {
        return "--task classify --seq-len 16 --train-data " + file("train.bin") + " --val-data " + file("dev.bin") +
               " --batch 16 --lr 3e-3 --warmup 5 --weight-decay 0.01 --dropout 0.1 --print-every 1000 "
               "--checkpoint-dir " + file(ckpt);
    }
};

CommandResult run_train(const std::string& args, const TempDir& ws) {
    return run_command("OMP_NUM_THREADS=1 ./train " + args, ws);
}

// The logged values of `key` in the records of `type`, as written (with_step: "step:value").
std::vector<std::string> logged(const std::string& path, const char* type, const char* key, bool with_step = false) {
    std::vector<std::string> out;
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);) {
        auto j = nlohmann::json::parse(line);
        if (j["type"] == type) out.push_back((with_step ? j["step"].dump() + ":" : "") + j[key].dump());
    }
    return out;
}

}  // namespace

TEST_CASE("train --task classify: learns the task, reports metrics, keeps the best checkpoint, tests it") {
    TaskWorkspace ws;
    CommandResult r = run_train(ws.classify("a") + " --epochs 3 --eval-every 25 --metric accuracy --test-data " +
                                    ws.file("test.bin"),
                                ws);
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(r.out.find("majority-class baseline on the validation data: accuracy") != std::string::npos);
    CHECK(r.out.find("macro avg") != std::string::npos);       // the classification report
    CHECK(r.out.find("true \\ predicted") != std::string::npos);  // the confusion matrix
    CHECK(r.out.find("test majority-class baseline") != std::string::npos);
    CHECK(fs::exists(ws.file("a/best/model.bin")));
    CHECK(slurp(ws.file("a/best/labels.txt")) == "negative\npositive\n");
    // bin/plot draws the validation accuracy in a panel of its own.
    REQUIRE(run_command("./bin/plot " + ws.file("a/log.jsonl") + " " + ws.file("a.svg"), ws).status == 0);
    CHECK(slurp(ws.file("a.svg")).find(">validation accuracy<") != std::string::npos);
    // --to-hf names the classes as labels.txt does (transformers' pipelines print id2label).
    REQUIRE(run_command("./bin/convert --to-hf " + ws.file("a/best/model.bin") + " -o " + ws.file("hf"), ws).status == 0);
    const nlohmann::json hf = nlohmann::json::parse(slurp(ws.file("hf/config.json")));
    CHECK(hf["id2label"] == nlohmann::json{{"0", "negative"}, {"1", "positive"}});
    CHECK(hf["label2id"] == nlohmann::json{{"negative", 0}, {"positive", 1}});
    // One word decides the label: the model must find it.
    std::vector<std::string> acc = logged(ws.file("a/log.jsonl"), "test", "accuracy");
    REQUIRE(acc.size() == 1);
    MESSAGE("test accuracy ", acc[0]);
    CHECK(std::stod(acc[0]) >= 0.95);

    // A tokenizer of another vocabulary is refused, naming both.
    CommandResult wrong = run_command("./bin/predict --model " + ws.file("a/best/model.bin") + " --tokenizer byte --input " +
                                          ws.file("test.txt"), ws);
    CHECK(wrong.status == 1);
    CHECK(wrong.err.find("--tokenizer byte: not the tokenizer " + ws.file("a/best/model.bin") + " was trained with") !=
          std::string::npos);
    // best/ carries the tokenizer the examples were made with; predict takes it by default.
    CHECK(slurp(ws.file("a/best/vocab.txt")) == slurp(ws.file("vocab/vocab.txt")));
    CHECK(slurp(ws.file("a/best/tokenizer.txt")) == "wordpiece\n");
    CHECK(slurp(ws.file("hf/vocab.txt")) == slurp(ws.file("vocab/vocab.txt")));  // --to-hf copied it
    fs::create_directories(ws.file("other"));
    spit(ws.file("other/vocab.txt"), slurp(ws.file("vocab/vocab.txt")) + "extra\n");
    CommandResult other = run_command("./bin/predict --model " + ws.file("a/best/model.bin") + " --tokenizer wordpiece:" +
                                          ws.file("other") + " --input " + ws.file("test.txt"), ws);
    CHECK(other.status == 1);
    CHECK(other.err.find("not the tokenizer " + ws.file("a/best/model.bin") + " was trained with") != std::string::npos);
    CommandResult saved = run_command("OMP_NUM_THREADS=1 ./bin/predict --model " + ws.file("a/best/model.bin") + " --input " +
                                          ws.file("test.txt") + " --max-len 16", ws);
    REQUIRE_MESSAGE(saved.status == 0, saved.err);
    // bin/predict with the best checkpoint: a label and probabilities per line.
    CommandResult p = run_command("OMP_NUM_THREADS=1 ./bin/predict --model " + ws.file("a/best/model.bin") +
                                      " --tokenizer wordpiece:" + ws.file("vocab") + " --input " + ws.file("test.txt") +
                                      " --max-len 16",
                                  ws);
    REQUIRE_MESSAGE(p.status == 0, p.err);
    CHECK(saved.out == p.out);
    std::istringstream lines(p.out);
    std::string line;
    std::getline(lines, line);
    CHECK(line == "label\tp(negative)\tp(positive)");
    std::istringstream texts(slurp(ws.file("test.txt")));
    int n = 0, right = 0;
    for (std::string text; std::getline(lines, line) && std::getline(texts, text); n++) {
        std::istringstream fields(line);
        std::string label;
        double p0, p1;
        fields >> label >> p0 >> p1;
        CHECK(std::fabs(p0 + p1 - 1) < 1e-5);
        CHECK(label == (p1 > p0 ? "positive" : "negative"));
        right += label == (text.find("good") != std::string::npos ? "positive" : "negative");
    }
    CHECK(n == 80);
    CHECK(right >= 76);
}

TEST_CASE("train --task classify: early stopping, and exact resume") {
    TaskWorkspace ws;
    // With a negligible lr the accuracy cannot move: the first evaluation is the best, the next one stops the run.
    CommandResult r = run_train(
        ws.classify("a") + " --steps 100 --eval-every 10 --patience 1 --metric accuracy --lr 1e-12 --min-lr 0 --warmup 0", ws);
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(r.out.find("early stop") != std::string::npos);
    CHECK(logged(ws.file("a/log.jsonl"), "train", "loss").size() == 20);

    CommandResult straight = run_train(ws.classify("b") + " --steps 40 --checkpoint-every 10 --eval-every 15", ws);
    CommandResult first = run_train(ws.classify("c") + " --steps 40 --checkpoint-every 10 --eval-every 15 --stop-after 20", ws);
    CommandResult second = run_train(ws.classify("c") + " --steps 40 --checkpoint-every 10 --eval-every 15 --resume", ws);
    REQUIRE(straight.status == 0);
    REQUIRE(first.status == 0);
    REQUIRE_MESSAGE(second.status == 0, second.err);
    std::vector<std::string> a = logged(ws.file("b/log.jsonl"), "train", "loss");
    std::vector<std::string> b = logged(ws.file("c/log.jsonl"), "train", "loss");
    REQUIRE(a.size() == 40);
    CHECK(a == b);
    // The interrupted run also evaluated where it stopped (step 20); every other evaluation agrees.
    std::vector<std::string> evals = logged(ws.file("c/log.jsonl"), "eval", "accuracy", true);
    for (const std::string& e : logged(ws.file("b/log.jsonl"), "eval", "accuracy", true))
        CHECK_MESSAGE(std::find(evals.begin(), evals.end(), e) != evals.end(), e);
}

TEST_CASE("train --task mlm: masked-LM pretraining lowers the loss; bad task combinations are refused") {
    TaskWorkspace ws;
    const std::string base = "--task mlm --config bert-tiny --layers 1 --channels 32 --heads 2 --max-seq-len 16 "
                             "--seq-len 16 --train-data " + ws.file("train.bin") + " --val-data " + ws.file("dev.bin") +
                             " --batch 16 --lr 3e-3 --warmup 5 --print-every 1000 --tokenizer wordpiece:" + ws.file("vocab");
    CommandResult r = run_train(base + " --steps 60 --eval-every 30 --checkpoint-dir " + ws.file("m"), ws);
    REQUIRE_MESSAGE(r.status == 0, r.err);
    std::vector<std::string> losses = logged(ws.file("m/log.jsonl"), "eval", "loss");
    REQUIRE(losses.size() == 2);
    // A uniform guess over the 17 tokens scores log(17) = 2.83; the words that get
    // masked are the 10 fillers (log 10 = 2.30 when guessed evenly), good and bad.
    MESSAGE("masked-LM validation loss ", losses[0], " -> ", losses[1]);
    CHECK(std::stod(losses[1]) < 2.6);
    CHECK(std::stod(losses[1]) < std::stod(losses[0]));

    struct Case {
        std::string args, must_contain;
    } cases[] = {
        {"--task mlm --config bert-tiny --train-data " + ws.file("train.bin"), "--tokenizer wordpiece"},
        {"--task mlm --config tiny --train-data " + ws.file("train.bin"), "needs a BERT"},
        {"--task lm --config bert-tiny", "needs a GPT-2"},
        {"--task classify", "needs --train-data"},
        {"--task classify --metric precision --train-data " + ws.file("train.bin"), "--metric precision"},
        {"--task sort", "--task sort"},
        {"--task classify --train-data " + ws.file("train.bin") + " --seq-len 4", "more than --seq-len 4"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.args);
        CommandResult bad = run_train(c.args + " --checkpoint-dir " + ws.file("bad"), ws);
        CHECK(bad.status == 1);
        CHECK(bad.err.find(c.must_contain) != std::string::npos);
    }
}

TEST_CASE("train: LoRA, prompts and freezing from the command line; adapters, exact resume, --eval-only") {
    TaskWorkspace ws;
    // A base model to adapt: a short full fine-tune.
    REQUIRE(run_train(ws.classify("base") + " --steps 30 --eval-every 30", ws).status == 0);
    const std::string base = ws.classify_from("x") + " --model " + ws.file("base/step_00000030/model.bin");

    CommandResult lora = run_train(base + " --steps 20 --eval-every 20 --lora-r 4 --lora-alpha 8 --lora-targets "
                                          "query,value,intermediate.dense --checkpoint-dir " + ws.file("lora"), ws);
    REQUIRE_MESSAGE(lora.status == 0, lora.err);
    CHECK(lora.out.find("LoRA: r 4, alpha 8 (scale 2), dropout 0, targets query,value,intermediate.dense") != std::string::npos);
    CHECK(lora.out.find("initialised fresh (not in the file): encoder.layer.0.attention.self.query.lora_A.weight") !=
          std::string::npos);
    // The adapter file holds the adapters and the head, a fraction of the whole model.
    const std::string adapter = ws.file("lora/adapter.bin"), full = ws.file("lora/step_00000020/model.bin");
    REQUIRE(fs::exists(adapter));
    CHECK(fs::file_size(adapter) * 5 < fs::file_size(full));

    // --eval-only on the whole LoRA model, and on base + adapter: the same figures.
    CommandResult whole = run_train(ws.classify_from("e1") + " --model " + full + " --eval-only", ws);
    CommandResult pieces = run_train(base + " --adapter " + adapter + " --eval-only --checkpoint-dir " + ws.file("e2"), ws);
    REQUIRE_MESSAGE(whole.status == 0, whole.err);
    REQUIRE_MESSAGE(pieces.status == 0, pieces.err);
    auto validation = [](const std::string& out) { return out.substr(out.find("validation: ")); };
    CHECK(validation(whole.out) == validation(pieces.out));
    // An adapter does not load into a model of another rank, and is no --model.
    CommandResult other = run_train(base + " --lora-r 2 --steps 1 --checkpoint-dir " + ws.file("o") + " --adapter " + adapter, ws);
    CHECK(other.status == 1);
    CHECK(other.err.find("drop --lora-r") != std::string::npos);
    CommandResult as_model = run_train(ws.classify_from("o2") + " --model " + adapter + " --steps 1", ws);
    CHECK(as_model.status == 1);
    CHECK(as_model.err.find("an adapter file") != std::string::npos);

    // LoRA with dropout and prefix tuning resume exactly.
    for (const char* method : {"--lora-r 4 --lora-dropout 0.1", "--prompt-method prefix --prompt-tokens 3",
                               "--prompt-method ptuning --prompt-tokens 3 --prompt-hidden 8"}) {
        CAPTURE(method);
        const std::string args = base + " " + method + " --steps 20 --checkpoint-every 10 --eval-every 20";
        CommandResult a = run_train(args + " --checkpoint-dir " + ws.file("s"), ws);
        CommandResult b1 = run_train(args + " --stop-after 10 --checkpoint-dir " + ws.file("r"), ws);
        CommandResult b2 = run_train(args + " --resume --checkpoint-dir " + ws.file("r"), ws);
        REQUIRE_MESSAGE(a.status == 0, a.err);
        REQUIRE_MESSAGE(b2.status == 0, b2.err);
        CHECK(logged(ws.file("s/log.jsonl"), "train", "loss") == logged(ws.file("r/log.jsonl"), "train", "loss"));
        fs::remove_all(ws.file("s")), fs::remove_all(ws.file("r"));
    }

    // --freeze body trains the pooler and the classifier only.
    CommandResult head = run_train(base + " --freeze body --steps 2 --checkpoint-dir " + ws.file("h"), ws);
    REQUIRE_MESSAGE(head.status == 0, head.err);
    CHECK(head.out.find("head         trainable") != std::string::npos);
    CHECK(head.out.find("embeddings   frozen") != std::string::npos);
    // A prompt that leaves no room for the sequence is refused.
    CommandResult long_prompt = run_train(base + " --prompt-method prompt --prompt-tokens 20 --steps 1", ws);
    CHECK(long_prompt.status == 1);
    CHECK(long_prompt.err.find("--seq-len 16 plus 20 virtual tokens exceeds the model's context of 32") != std::string::npos);
}

TEST_CASE("classify: with --eval-batches the majority baseline scores the examples the evaluation reads") {
    TaskWorkspace ws;
    // Training is mostly positive; the first 16 dev examples (one batch) are all negative.
    std::string train = "sentence\tlabel\n", dev = "sentence\tlabel\n";
    for (int i = 0; i < 40; i++) train += std::string(i % 5 ? "good movie" : "bad movie") + "\t" + (i % 5 ? "1" : "0") + "\n";
    for (int i = 0; i < 64; i++) dev += std::string(i < 16 ? "bad plot" : "good plot") + "\t" + (i < 16 ? "0" : "1") + "\n";
    ws.examples("skewed_train", train);
    ws.examples("skewed_dev", dev);
    const std::string args = "--task classify --config bert-tiny --layers 1 --channels 32 --heads 2 --max-seq-len 32 "
                             "--seq-len 16 --batch 16 --steps 1 --train-data " + ws.file("skewed_train.bin") +
                             " --val-data " + ws.file("skewed_dev.bin") + " --checkpoint-dir ";
    CommandResult part = run_train(args + ws.file("p") + " --eval-batches 1", ws);
    REQUIRE_MESSAGE(part.status == 0, part.err);
    CHECK(part.out.find("majority-class baseline on the validation data evaluated: accuracy 0.0000") != std::string::npos);
    CommandResult whole = run_train(args + ws.file("w"), ws);
    REQUIRE(whole.status == 0);
    CHECK(whole.out.find("majority-class baseline on the validation data: accuracy 0.7500") != std::string::npos);
}

TEST_CASE("classify: examples made with another tokenizer than the model's are refused") {
    TaskWorkspace ws;
    // A model of byte tokens (256), then WordPiece examples (17 tokens) whose ids would fit it silently.
    CommandResult bytes = run_command("./bin/make_examples --input " + ws.file("train.tsv") +
                                          " --header --tokenizer byte --max-len 32 --labels negative,positive --output " +
                                          ws.file("train_bytes.bin"), ws);
    REQUIRE_MESSAGE(bytes.status == 0, bytes.err);
    REQUIRE(run_train("--task classify --config bert-tiny --layers 1 --channels 32 --heads 2 --max-seq-len 32 --seq-len 32 "
                      "--batch 16 --steps 1 --train-data " + ws.file("train_bytes.bin") + " --checkpoint-dir " + ws.file("base"),
                      ws).status == 0);
    CommandResult r = run_train("--task classify --seq-len 16 --model " + ws.file("base/step_00000001/model.bin") +
                                    " --train-data " + ws.file("train.bin") + " --steps 1 --checkpoint-dir " + ws.file("x"), ws);
    CHECK(r.status == 1);
    CHECK(r.err == "train: --train-data " + ws.file("train.bin") + ": made with a tokenizer of 17 tokens, but the "
                   "model has 256 (make the examples with the model's tokenizer)\n");
}
