// Sampling (top-k, top-p) and bin/generate end to end on a small model
// trained here: greedy generation equals an argmax loop written in the test,
// seeds reproduce, prompts come from a file or standard input, bad models and
// tokenizers are refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <filesystem>

#include "cli_workspace.h"
#include "core/backend.h"
#include "formats/weights.h"
#include "models/sampler.h"

TEST_CASE("sample_token: top-k then top-p keep the most likely tokens, renormalised") {
    // Probabilities 0.5, 0.3, 0.2 (temperature 1); token 3 is far below.
    const float logits[4] = {std::log(0.5f), std::log(0.3f), std::log(0.2f), -30.0f};
    Sampling s;
    s.temperature = 1.0f, s.top_k = 0;
    CHECK(sample_token(logits, 4, s, 0.49f) == 0);
    CHECK(sample_token(logits, 4, s, 0.79f) == 1);
    CHECK(sample_token(logits, 4, s, 0.99f) == 2);
    s.top_p = 0.6f;  // {0, 1}: 0.5 < 0.6, then 0.8 >= 0.6
    CHECK(sample_token(logits, 4, s, 0.62f) == 0);  // 0.62 * 0.8 < 0.5
    CHECK(sample_token(logits, 4, s, 0.99f) == 1);
    s.top_p = 0.5f;  // {0} alone reaches 0.5
    CHECK(sample_token(logits, 4, s, 0.99f) == 0);
    s.top_p = 1.0f, s.top_k = 2;
    CHECK(sample_token(logits, 4, s, 0.99f) == 1);
    s.temperature = 0.0f;
    CHECK(sample_token(logits, 4, s, 0.99f) == 0);
}

namespace {

// The greedy continuation by hand: the model's argmax, one token at a time.
std::string greedy_by_hand(const std::string& model_path, const std::string& prompt, int n) {
    std::unique_ptr<Backend> be(make_backend("cpu"));
    GPT2Config cfg = read_gpt2_config(model_path);
    GPT2 model(*be, cfg, 1, cfg.max_T);
    model.allocate();
    load_weights(model_path, model);
    std::vector<int> ids(prompt.begin(), prompt.end());
    std::vector<float> row(cfg.Vp);
    std::string out = prompt;
    for (int i = 0; i < n; i++) {
        const int len = std::min<int>((int)ids.size(), cfg.max_T);
        model.forward(ids.data() + ids.size() - len, nullptr, 1, len);
        be->download(row.data(), model.logits + (size_t)(len - 1) * cfg.Vp, cfg.Vp * sizeof(float));
        const int next = (int)(std::max_element(row.begin(), row.begin() + cfg.V) - row.begin());
        ids.push_back(next);
        out += (char)next;
    }
    return out;
}

}  // namespace

TEST_CASE("bin/generate: greedy equals the argmax loop; seeds reproduce; prompts from a file or stdin") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 30", ws).status == 0);
    const std::string model = ws.file("a/step_00000030/model.bin");
    const std::string gen = "OMP_NUM_THREADS=1 ./bin/generate --model " + model;
    // The window slides past the 32-token context.
    CommandResult greedy = run_command(gen + " --prompt 'the quick' --temperature 0 --max-tokens 40", ws);
    REQUIRE_MESSAGE(greedy.status == 0, greedy.err);
    CHECK(greedy.out == greedy_by_hand(model, "the quick", 40) + "\n");

    const std::string sampled = gen + " --prompt 'the' --temperature 1 --top-k 0 --top-p 0.9 --max-tokens 30";
    CommandResult s1 = run_command(sampled + " --seed 7", ws), s2 = run_command(sampled + " --seed 7", ws),
                  s3 = run_command(sampled + " --seed 8", ws);
    REQUIRE(s1.status == 0);
    CHECK(s1.out == s2.out);
    CHECK(s1.out != s3.out);

    spit(ws.file("prompts.txt"), "the lazy\nfox\n");
    CommandResult file = run_command(gen + " --input " + ws.file("prompts.txt") + " --temperature 0 --max-tokens 5", ws);
    REQUIRE(file.status == 0);
    CHECK(file.out == greedy_by_hand(model, "the lazy", 5) + "\n\n" + greedy_by_hand(model, "fox", 5) + "\n");
    // From standard input (run_command gives the command /dev/null, so a shell of its own reads the file).
    CommandResult piped = run_command("sh -c \"" + gen + " --temperature 0 --max-tokens 5 < " + ws.file("prompts.txt") + "\"", ws);
    CHECK(piped.out == file.out);
}

namespace fs = std::filesystem;

TEST_CASE("bin/generate and ./train: a tokenizer that does not fit the model is refused") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 1", ws).status == 0);
    const std::string model = ws.file("a/step_00000001/model.bin");
    if (data_dir("tokenizers/gpt2/encoder.json").empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    const std::string bpe = (data_dir("tokenizers/gpt2/encoder.json") / "tokenizers/gpt2").string();
    CommandResult gen = run_command("./bin/generate --model " + model + " --tokenizer " + bpe + " --prompt x", ws);
    CHECK(gen.status == 1);
    CHECK(gen.err == "generate: --tokenizer " + bpe + ": 50257 tokens, but the model has 256 (give the tokenizer it was trained with)\n");
    // A GPT-2-vocabulary model with the default byte tokenizer: refused before training, not at the first sample.
    REQUIRE(run_train(ws.base("c") + " --tokenizer " + bpe + " --steps 1", ws).status == 0);
    const std::string bpe_model = ws.file("c/step_00000001/model.bin");
    CommandResult train = run_train(ws.common("b") + " --model " + bpe_model + " --steps 1", ws);
    CHECK(train.status == 1);
    CHECK(train.err == "train: --tokenizer byte: 256 tokens, but the model has 50257 (give the tokenizer its data was made with)\n");
    CHECK_FALSE(fs::exists(ws.file("b/log.jsonl")));
    CommandResult gen_byte = run_command("./bin/generate --model " + bpe_model + " --prompt x", ws);
    CHECK(gen_byte.err == "generate: --tokenizer byte: 256 tokens, but the model has 50257 (give the tokenizer it was trained with)\n");
    CommandResult missing = run_command("./bin/generate --prompt x", ws);
    CHECK(missing.status == 1);
    CHECK(missing.err == "generate: --model is required (see --help)\n");
}
