// make_examples: turns a labelled CSV / TSV file into an examples file for
// sequence classification (src/data/examples.h).
//
//   bin/make_examples --input train.tsv --header --tokenizer wordpiece:DIR --max-len 128
//                     --output train.bin [--text-column sentence] [--pair-column C]
//                     [--label-column label] [--labels negative,positive]
//
// Columns are header names or 0-based indices (text 0 and label 1 by default);
// with indices only, --header or --no-header must say what the first row is.
// Give the same --labels to every split of a data set: labels read from the
// file are its own sorted values, which one split may lack.
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/tool_args.h"
#include "core/fileio.h"
#include "data/examples.h"
#include "data/tokenizer.h"
#include "data/text_encoder.h"

namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
    if (!s.empty() && s.back() == ',') out.push_back("");
    return out;
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Makes the output's folder and checks that a file can be written there, so
// that a bad --output fails before the tokenizing, not after it.
void check_writable(const std::string& output) {
    const std::filesystem::path dir = std::filesystem::path(output).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("--output " + output + ": cannot create " + dir.string() + " (" + ec.message() + ")");
    const std::string probe = output + ".tmp";
    std::FILE* f = std::fopen(probe.c_str(), "wb");
    if (!f) throw std::runtime_error("--output " + output + ": cannot write there (" + std::strerror(errno) + ")");
    std::fclose(f);
    std::remove(probe.c_str());
}

// --format, else the extension of --input.
TableFormat table_format(const cxxopts::ParseResult& args, const std::string& input) {
    const std::string name = args.count("format") ? args["format"].as<std::string>()
                                                  : std::filesystem::path(input).extension().string();
    if (name == "csv" || name == ".csv") return TableFormat::csv;
    if (name == "tsv" || name == ".tsv") return TableFormat::tsv;
    if (args.count("format")) throw std::runtime_error("--format " + name + ": expected csv or tsv");
    throw std::runtime_error(input + ": cannot tell CSV from TSV by the extension; pass --format csv or --format tsv");
}

// Names need a header; with indices only, a header row read as data would
// become a bogus example, so the user says which it is.
bool has_header(const cxxopts::ParseResult& args, const TableColumns& columns, const std::string& input) {
    const bool named = !all_digits(columns.text) || !all_digits(columns.label) ||
                       (!columns.pair.empty() && !all_digits(columns.pair));
    if (args.count("header") && args.count("no-header")) throw std::runtime_error("--header and --no-header both given");
    if (args.count("no-header") && named)
        throw std::runtime_error("--no-header: columns can only be named by a header; give 0-based indices");
    if (!args.count("header") && !args.count("no-header") && !named)
        throw std::runtime_error(input + ": is the first row a header? pass --header or --no-header");
    return named || args.count("header");
}

// --labels: at least two names, none empty, none twice.
std::vector<std::string> parse_labels(const std::string& text) {
    std::vector<std::string> names = split_commas(text);
    if (names.size() < 2) throw std::runtime_error("--labels needs at least 2 comma-separated names");
    for (size_t k = 0; k < names.size(); k++) {
        if (names[k].empty()) throw std::runtime_error("--labels: name " + std::to_string(k) + " is empty");
        if (std::count(names.begin(), names.begin() + k, names[k]))
            throw std::runtime_error("--labels: '" + names[k] + "' is given twice");
    }
    return names;
}

}  // namespace

int main(int argc, char** argv) {
    cxxopts::Options options("make_examples", "Tokenizes a labelled CSV or TSV file into an examples file for "
                                              "sequence classification.");
    options.add_options()
        ("input", "the CSV or TSV file (UTF-8)", cxxopts::value<std::string>())
        ("format", "csv or tsv (default: from the extension of --input)", cxxopts::value<std::string>())
        ("header", "the first row names the columns")
        ("no-header", "the first row is data")
        ("text-column", "the text: a header name or a 0-based index", cxxopts::value<std::string>()->default_value("0"))
        ("pair-column", "the second text of a pair task (wordpiece only)", cxxopts::value<std::string>())
        ("label-column", "the label: a header name or a 0-based index", cxxopts::value<std::string>()->default_value("1"))
        ("labels", "label names in id order, comma-separated; a row's label is a name or an id "
                   "(default: 0..max when the labels are integers, else their sorted values)",
         cxxopts::value<std::string>())
        ("tokenizer", "byte, a GPT-2 BPE directory, or wordpiece:DIR (DIR/vocab.txt and optional "
                      "DIR/tokenizer_config.json)", cxxopts::value<std::string>()->default_value("byte"))
        ("max-len", "the most tokens an example keeps", cxxopts::value<std::string>()->default_value("128"))
        ("max-rows", "keep only the first N data rows (0: all)", cxxopts::value<std::string>()->default_value("0"))
        ("output", "the examples file to write (its folder is made)", cxxopts::value<std::string>())
        ("h,help", "print this help");
    try {
        cxxopts::ParseResult args;
        if (!parse_tool_args(options, argc, argv, args, {"input", "output"})) return 0;
        const std::string input = args["input"].as<std::string>(), output = args["output"].as<std::string>();

        const TableFormat format = table_format(args, input);

        TableColumns columns{args["text-column"].as<std::string>(),
                             args.count("pair-column") ? args["pair-column"].as<std::string>() : "",
                             args["label-column"].as<std::string>()};
        if (args.count("pair-column") && columns.pair.empty()) throw std::runtime_error("--pair-column is empty");
        const bool header = has_header(args, columns, input);

        const std::string max_len_text = args["max-len"].as<std::string>();
        const int max_len = all_digits(max_len_text) && max_len_text.size() <= 7 ? std::stoi(max_len_text) : 0;
        if (max_len < 1 || max_len > kMaxExampleLen)
            throw std::runtime_error("--max-len " + max_len_text + ": expected a whole number from 1 to " +
                                     std::to_string(kMaxExampleLen));

        std::vector<std::string> label_names = args.count("labels") ? parse_labels(args["labels"].as<std::string>())
                                                                    : std::vector<std::string>{};

        const std::string max_rows_text = args["max-rows"].as<std::string>();
        if (!all_digits(max_rows_text) || max_rows_text.size() > 12)
            throw std::runtime_error("--max-rows " + max_rows_text + ": expected a whole number (0: all rows)");
        const size_t max_rows = std::stoull(max_rows_text);
        check_writable(output);

        const std::string tokenizer = args["tokenizer"].as<std::string>();
        Encoder encoder = make_encoder(tokenizer, max_len, !columns.pair.empty());

        auto start = std::chrono::steady_clock::now();
        std::vector<TableRow> rows = parse_table(read_file(input), format, input);
        if (max_rows && rows.size() > max_rows + header) rows.resize(max_rows + header);
        LabelledTable table = labelled_rows(rows, header, columns, std::move(label_names), input);
        Examples ex;
        ex.max_len = max_len;
        ex.vocab_size = encoder.vocab_size;
        ex.label_names = table.label_names;
        ex.tokenizer = absolute_tokenizer(tokenizer);
        std::vector<int32_t> ids;
        std::vector<uint8_t> types;
        std::vector<long long> per_label(table.label_names.size(), 0);
        long long full = 0;
        for (const LabelledText& row : table.rows) {
            encoder.encode(row.text, row.pair, ids, types);
            ex.add(ids, types, row.label);
            per_label[row.label]++;
            full += (int)ids.size() == max_len;
        }
        write_examples(output, ex);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

        std::printf("%s: %zu examples (%s%s) -> %s in %.2f s\n", input.c_str(), ex.size(),
                    format == TableFormat::csv ? "csv" : "tsv", header ? ", header" : "", output.c_str(), seconds);
        std::printf("tokens: %s, vocab %d, mean length %.1f, %lld of %zu at max-len %d\n", tokenizer.c_str(),
                    ex.vocab_size, (double)ex.tokens.size() / (double)ex.size(), full, ex.size(), max_len);
        for (size_t k = 0; k < per_label.size(); k++)
            std::printf("label %zu %s: %lld examples%s\n", k, ex.label_names[k].c_str(), per_label[k],
                        per_label[k] == 0 ? " (none in this file)" : "");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_examples: %s\n", e.what());
        return 1;
    }
    return 0;
}
