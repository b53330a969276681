// Run files and run.json end to end: a run repeated from its run.json alone
// gives the same losses bit for bit; flags override a run file; bad run files
// and changed data are refused with one line; --eval-only logs its record
// with every digit; --no-shuffle reaches the loader.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_workspace.h"

namespace fs = std::filesystem;
using nlohmann::json;

static json read_json(const std::string& path) { return json::parse(slurp(path)); }

static std::vector<json> log_records(const std::string& path, const std::string& type) {
    std::vector<json> out;
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);) {
        json j = json::parse(line);
        j.erase("time");  // when it was logged
        if (j["type"] == type) out.push_back(j);
    }
    return out;
}

TEST_CASE("run files: a run repeated from its run.json gives bit-identical losses") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 20 --eval-every 10 --grad-accum 2", ws).status == 0);
    const json first = read_json(ws.file("a/run.json"));
    CHECK(first["steps"] == 20);
    CHECK(first["grad-accum"] == 2);
    CHECK(first["dropout"] == 0.1);
    CHECK(first["no-shuffle"] == false);
    CHECK(first["minitrain"]["version"].is_string());
    const json& data = first["minitrain"]["data"];
    REQUIRE(data.size() == 2);
    CHECK(data[0]["flag"] == "train-data");
    CHECK(data[0]["files"][0]["bytes"] == fs::file_size(ws.file("train.bin")));
    CHECK(data[0]["files"][0]["sha256"].get<std::string>().size() == 64);

    CommandResult again = run_train("--config-file " + ws.file("a/run.json") + " --checkpoint-dir " + ws.file("b"), ws);
    REQUIRE_MESSAGE(again.status == 0, again.err);
    auto a = logged_losses(ws.file("a/log.jsonl")), b = logged_losses(ws.file("b/log.jsonl"));
    REQUIRE(a.size() == 20);
    CHECK(a == b);
    CHECK(log_records(ws.file("a/log.jsonl"), "eval") == log_records(ws.file("b/log.jsonl"), "eval"));
    json second = read_json(ws.file("b/run.json"));
    CHECK(second["checkpoint-dir"] == ws.file("b"));
    second["checkpoint-dir"] = first["checkpoint-dir"];
    CHECK(second == first);

    // A flag after the run file wins over it.
    CommandResult shorter = run_train("--config-file " + ws.file("a/run.json") + " --checkpoint-dir " + ws.file("c") +
                                          " --steps 5", ws);
    REQUIRE(shorter.status == 0);
    auto c = logged_losses(ws.file("c/log.jsonl"));
    REQUIRE(c.size() == 5);
}

TEST_CASE("run files: unknown keys, wrong kinds, bad JSON and changed data are one-line errors") {
    Workspace ws;
    struct Case {
        std::string text, must_contain;
    } cases[] = {
        {"{\"steps\": 3, \"lerning-rate\": 0.1}", "unknown key 'lerning-rate'"},
        {"{\"steps\": \"3\"}", "key 'steps' takes an integer"},
        {"{\"lr\": \"fast\"}", "key 'lr' takes a number"},
        {"{\"resume\": 1}", "key 'resume' takes true or false"},
        {"{\"seed\": -4}", "key 'seed' takes a non-negative integer"},
        {"{\"config-file\": \"x.json\"}", "unknown key 'config-file'"},
        {"[1, 2]", "a JSON object of flags"},
        {"{\"steps\": 3,", "not a JSON run file"},
        {"{\"minitrain\": 7}", "\"minitrain\""},
        // Found by tests/fuzz/fuzz_run_file.cpp: data entries without their fields (an assertion in
        // nlohmann::json stopped ./train), or not objects (its exception named no file).
        {"{\"minitrain\": {\"data\": [{}]}}", "\"minitrain\" must be the record a run wrote"},
        {"{\"minitrain\": {\"data\": [{\"flag\": \"train-data\", \"files\": []}]}}", "\"minitrain\""},
        {"{\"minitrain\": {\"data\": [1]}}", "\"minitrain\""},
    };
    for (const Case& c : cases) {
        CAPTURE(c.text);
        spit(ws.file("run.json"), c.text);
        CommandResult r = run_train("--config-file " + ws.file("run.json"), ws);
        CHECK(r.status == 1);
        CHECK(r.err.find('\n') == r.err.size() - 1);
        CHECK(r.err.find(ws.file("run.json")) != std::string::npos);
        CHECK(r.err.find(c.must_contain) != std::string::npos);
    }
    CommandResult missing = run_train("--config-file " + ws.file("none.json"), ws);
    CHECK(missing.status == 1);
    CHECK(missing.err.find(ws.file("none.json")) != std::string::npos);

    // The data a run recorded must be the data a repeat reads.
    REQUIRE(run_train(ws.base("a") + " --steps 2", ws).status == 0);
    std::vector<uint32_t> tokens = read_token_file(ws.file("train.bin"));
    tokens[100] ^= 1;
    write_token_file(ws.file("train.bin"), tokens, 256);
    CommandResult changed = run_train("--config-file " + ws.file("a/run.json") + " --checkpoint-dir " + ws.file("b"), ws);
    CHECK(changed.status == 1);
    CHECK(changed.err.find("--train-data " + ws.file("train.bin") + " differs from the files it recorded") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(ws.file("b/log.jsonl")));
}

TEST_CASE("--eval-only appends a record with every digit to the log") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 10 --eval-every 10", ws).status == 0);
    const std::vector<json> evals = log_records(ws.file("a/log.jsonl"), "eval");
    REQUIRE(evals.size() == 1);
    CommandResult r = run_train(ws.common("a") + " --eval-only --model " + ws.file("a/step_00000010/model.bin"), ws);
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(r.out.find("validation: loss ") != std::string::npos);
    CHECK(log_records(ws.file("a/log.jsonl"), "train").size() == 10);  // the training log is kept
    const std::vector<json> only = log_records(ws.file("a/log.jsonl"), "eval_only");
    REQUIRE(only.size() == 1);
    CHECK(only[0]["split"] == "validation");
    CHECK(only[0]["data"] == ws.file("val.bin"));
    CHECK(only[0]["model"] == ws.file("a/step_00000010/model.bin"));
    // The same weights on the same data: the same loss, to the last bit of the double.
    CHECK(only[0]["loss"].get<double>() == evals[0]["loss"].get<double>());
    CHECK(only[0]["ppl"].get<double>() == evals[0]["ppl"].get<double>());
    CHECK(only[0]["loss"].dump().size() > 12);  // more than a float's digits
}

TEST_CASE("--no-shuffle reaches the loader: another order, other losses, recorded in run.json") {
    Workspace ws;
    REQUIRE(run_train(ws.base("a") + " --steps 3", ws).status == 0);
    REQUIRE(run_train(ws.base("b") + " --steps 3 --no-shuffle", ws).status == 0);
    CHECK(read_json(ws.file("b/run.json"))["no-shuffle"] == true);
    auto a = logged_losses(ws.file("a/log.jsonl")), b = logged_losses(ws.file("b/log.jsonl"));
    REQUIRE(a.size() == 3);
    REQUIRE(b.size() == 3);
    CHECK(a[0].second != b[0].second);
    // Repeated from its run file it stays in file order.
    REQUIRE(run_train("--config-file " + ws.file("b/run.json") + " --checkpoint-dir " + ws.file("c"), ws).status == 0);
    CHECK(logged_losses(ws.file("c/log.jsonl")) == b);
}
