// Classification examples: the file format (round trip, every bad header and
// every truncation), the CSV / TSV reader, label mapping, and bin/make_examples
// end to end (when built) on small files and on the shared data sets.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/examples.h"
#include "support.h"

namespace fs = std::filesystem;

namespace {

Examples sample() {
    Examples ex;
    ex.max_len = 4;
    ex.vocab_size = 100;
    ex.label_names = {"neg", "pos", "负面"};
    ex.tokenizer = "byte";
    ex.add({7, 8, 9}, {0, 0, 1}, 2);
    ex.add({99}, {0}, 0);
    ex.add({0, 1, 2, 3}, {0, 1, 1, 1}, 1);
    return ex;
}

// sample() as the bytes the format defines, written out by hand.
std::string sample_bytes() {
    std::string b;
    auto le = [&](uint64_t v, int width) {
        for (int k = 0; k < width; k++) b += (char)(v >> (8 * k));
    };
    b += "MTEXAMPL";
    le(2, 4), le(4, 4), le(100, 4), le(3, 4), le(3, 8);
    for (std::string name : {"neg", "pos", "负面"}) le(name.size(), 4), b += name;
    le(4, 4), b += "byte";
    le(3, 4), le(7, 4), le(8, 4), le(9, 4), b += std::string("\0\0\1", 3), le(2, 4);
    le(1, 4), le(99, 4), b += std::string("\0", 1), le(0, 4);
    le(4, 4), le(0, 4), le(1, 4), le(2, 4), le(3, 4), b += std::string("\0\1\1\1", 4), le(1, 4);
    return b;
}

// Offsets into sample_bytes(): the header fields, then the first example.
constexpr size_t kVersionAt = 8, kMaxLenAt = 12, kVocabAt = 16, kLabelsAt = 20, kCountAt = 24, kFirstNameAt = 32;
constexpr size_t kTokenizerAt = 32 + (4 + 3) + (4 + 3) + (4 + 6), kFirstExampleAt = kTokenizerAt + 4 + 4;

std::string with_le(std::string b, size_t at, uint64_t v, int width) {
    for (int k = 0; k < width; k++) b[at + k] = (char)(v >> (8 * k));
    return b;
}

}  // namespace

TEST_CASE("examples file: round trip, byte for byte as the format says") {
    TempDir dir("examples");
    const std::string path = dir.file("ex.bin");
    write_examples(path, sample());
    CHECK(slurp(path) == sample_bytes());
    CHECK(!fs::exists(path + ".tmp"));
    Examples back = read_examples(path);
    Examples want = sample();
    CHECK(back.max_len == 4);
    CHECK(back.vocab_size == 100);
    CHECK(back.label_names == want.label_names);
    CHECK(back.offsets == std::vector<uint64_t>{0, 3, 4, 8});
    CHECK(back.tokens == want.tokens);
    CHECK(back.token_types == want.token_types);
    CHECK(back.labels == std::vector<int32_t>{2, 0, 1});
    CHECK(back.length(2) == 4);
    CHECK(back.tokenizer == "byte");
    // Version 1 (no tokenizer) still reads.
    std::string v1 = sample_bytes();
    v1.erase(kTokenizerAt, 8);
    spit(path, with_le(v1, kVersionAt, 1, 4));
    CHECK(read_examples(path).tokenizer.empty());
    CHECK(read_examples(path).labels == std::vector<int32_t>{2, 0, 1});
}

TEST_CASE("examples file: every bad header field and value is named") {
    TempDir dir("examples");
    const std::string path = dir.file("bad.bin");
    const std::string good = sample_bytes();
    auto error_for = [&](const std::string& bytes) {
        spit(path, bytes);
        return error_of([&] { read_examples(path); });
    };
    struct Case {
        std::string bytes, message;
    };
    const size_t first_id = kFirstExampleAt + 4;
    const Case cases[] = {
        {good.substr(0, 10), "file is 10 bytes, shorter than the 32-byte header"},
        {"XTEXAMPL" + good.substr(8), "bad magic: not a minitrain examples file"},
        {with_le(good, kVersionAt, 3, 4), "unsupported version 3 (expected 1 or 2)"},
        {with_le(good, kMaxLenAt, 0, 4), "max_len 0 is outside 1..1048576"},
        {with_le(good, kMaxLenAt, 2000000, 4), "max_len 2000000 is outside 1..1048576"},
        {with_le(good, kVocabAt, 0, 4), "vocab_size 0 is outside 1..2147483647"},
        {with_le(good, kLabelsAt, 1, 4), "1 labels (expected 2..65536)"},
        {with_le(good, kLabelsAt, 70000, 4), "70000 labels (expected 2..65536)"},
        {with_le(good, kCountAt, 1ull << 40, 8),
         "truncated: the header's 1099511627776 examples need at least 13 bytes each, 64 left"},
        {with_le(good, kFirstNameAt, 5000, 4), "name of label 0 has length 5000 (at most 1024)"},
        {std::string(good).replace(kFirstNameAt + 4, 3, "pos"), "label name 'pos' appears twice"},
        {with_le(good, kFirstNameAt + 4, '\n', 1), "label 0 has a control character in its name"},
        {with_le(good, kTokenizerAt, 5000, 4), "tokenizer name of 5000 bytes (at most 4096)"},
        {with_le(good, kFirstExampleAt, 0, 4), "example 0 has 0 tokens (expected 1..max_len 4)"},
        {with_le(good, kFirstExampleAt, 5, 4), "example 0 has 5 tokens (expected 1..max_len 4)"},
        {with_le(good, first_id + 4, 100, 4),
         "example 0: token id 100 at position 1 is outside the vocabulary 0..99"},
        {with_le(good, first_id, 0xFFFFFFFF, 4),
         "example 0: token id -1 at position 0 is outside the vocabulary 0..99"},
        {with_le(good, first_id + 12 + 3, 3, 4), "example 0: label 3 is outside 0..2"},
        {with_le(good, first_id + 12 + 3, 0xFFFFFFFF, 4), "example 0: label -1 is outside 0..2"},
        {good + "x", "1 bytes after the last example"},
    };
    for (const Case& c : cases) {
        INFO("expected: " << c.message);
        CHECK(error_for(c.bytes) == path + ": " + c.message);
    }
    CHECK(error_for(good).empty());

    // Every cut short of the whole file fails cleanly and names the file.
    for (size_t n = 0; n < good.size(); n++) {
        std::string message = error_for(good.substr(0, n));
        INFO("cut at " << n << ": " << message);
        CHECK(message.rfind(path + ": ", 0) == 0);
        if (n >= 32) CHECK(message.find(": truncated: ") != std::string::npos);
    }
    CHECK(error_for(good.substr(0, 112)) == path + ": truncated: example 2 (token ids) at byte 104 needs 16 bytes, 8 left");

    CHECK(error_of([&] { read_examples(dir.file("none.bin")); }) ==
          dir.file("none.bin") + ": cannot open: No such file or directory");
    CHECK(error_of([&] { read_examples(dir.path); }) == dir.path + ": not a regular file");
}

TEST_CASE("examples file: the writer refuses what the reader would, and leaves nothing behind") {
    TempDir dir("examples");
    const std::string path = dir.file("w.bin");
    Examples ex = sample();
    ex.tokens[3] = 100;
    CHECK(error_of([&] { write_examples(path, ex); }) ==
          path + ": example 1: token id 100 at position 0 is outside the vocabulary 0..99");
    ex = sample();
    ex.labels.push_back(0);
    CHECK(error_of([&] { write_examples(path, ex); }) ==
          path + ": inconsistent example arrays (offsets, tokens, types and labels disagree)");
    ex = sample();
    ex.label_names.pop_back();
    ex.label_names.pop_back();
    CHECK(error_of([&] { write_examples(path, ex); }) == path + ": 1 labels (expected 2..65536)");
    ex = sample();
    ex.label_names[1].clear();
    CHECK(error_of([&] { write_examples(path, ex); }) == path + ": label 1 has a name of 0 bytes (expected 1..1024)");
    CHECK(fs::is_empty(dir.path));
}

// ---- CSV and TSV ---------------------------------------------------------------------------------------

static std::vector<std::vector<std::string>> fields_of(const std::vector<TableRow>& rows) {
    std::vector<std::vector<std::string>> out;
    for (const TableRow& r : rows) out.push_back(r.fields);
    return out;
}

static std::vector<long long> lines_of(const std::vector<TableRow>& rows) {
    std::vector<long long> out;
    for (const TableRow& r : rows) out.push_back(r.line);
    return out;
}

TEST_CASE("csv: RFC 4180 quoting, CRLF, BOM, blank lines and line numbers") {
    const std::string text =
        "\xEF\xBB\xBF" "id,text,label\r\n"
        "1,\"a, b\",pos\r\n"
        "2,\"she said \"\"hi\"\"\",neg\n"
        "\n"
        "3,\"two\nlines\",pos\n"
        "4,5\" screen,\"\"\n"
        "5,,neg\n"
        "\"6\",\"\"\"\",pos";
    std::vector<TableRow> rows = parse_table(text, TableFormat::csv, "t.csv");
    CHECK(fields_of(rows) == std::vector<std::vector<std::string>>{
                                 {"id", "text", "label"},
                                 {"1", "a, b", "pos"},
                                 {"2", "she said \"hi\"", "neg"},
                                 {"3", "two\nlines", "pos"},
                                 {"4", "5\" screen", ""},
                                 {"5", "", "neg"},
                                 {"6", "\"", "pos"},
                             });
    CHECK(lines_of(rows) == std::vector<long long>{1, 2, 3, 5, 7, 8, 9});

    // A trailing comma makes an empty last field; a quoted newline keeps its CR.
    CHECK(fields_of(parse_table("a,b,\n\"x\r\ny\",z,\r\n", TableFormat::csv, "t.csv")) ==
          std::vector<std::vector<std::string>>{{"a", "b", ""}, {"x\r\ny", "z", ""}});
}

TEST_CASE("csv and tsv: malformed rows name the file and the line") {
    auto error = [](const std::string& text, TableFormat format) {
        return error_of([&] { parse_table(text, format, "d.csv"); });
    };
    CHECK(error("a,b\n\"x,y\nz,w\n", TableFormat::csv) == "d.csv: line 2: unterminated quoted field");
    CHECK(error("a,b\n1,2\n\"say \"hi\"\",2\n", TableFormat::csv) ==
          "d.csv: line 3: text after the closing quote of a field (write a quote inside a quoted field as \"\")");
    CHECK(error("a,b\n1,2\n\"x\ny\",2\n1,2,3\n", TableFormat::csv) ==
          "d.csv: line 5: 3 fields, expected 2 as on line 1 (a field with a comma needs double quotes)");
    CHECK(error("a\tb\n1\t2\n1\n", TableFormat::tsv) ==
          "d.csv: line 3: 1 fields, expected 2 as on line 1 (a tab inside a text would split it)");
    CHECK(error("\n\r\n", TableFormat::tsv) == "d.csv: no rows");
    CHECK(error("", TableFormat::csv) == "d.csv: no rows");
}

TEST_CASE("tsv: GLUE layout with and without a header; quotes are plain text") {
    const std::string sst2 = "sentence\tlabel\nit 's a charming journey . \t1\r\nunflinchingly bleak \t0\n";
    std::vector<TableRow> rows = parse_table(sst2, TableFormat::tsv, "sst2.tsv");
    CHECK(fields_of(rows) == std::vector<std::vector<std::string>>{
                                 {"sentence", "label"}, {"it 's a charming journey . ", "1"}, {"unflinchingly bleak ", "0"}});
    LabelledTable t = labelled_rows(rows, true, {"sentence", "", "label"}, {}, "sst2.tsv");
    CHECK(t.label_names == std::vector<std::string>{"0", "1"});
    REQUIRE(t.rows.size() == 2);
    CHECK(t.rows[0].text == "it 's a charming journey .");
    CHECK(t.rows[0].label == 1);
    CHECK(t.rows[1].line == 3);

    const std::string agnews = "Wall St. \"Bears\" Claw Back\tBusiness\nNASA's probe \\ lands\tSci/Tech\n"
                               "\"Quoted\tWorld\n";
    rows = parse_table(agnews, TableFormat::tsv, "ag.tsv");
    t = labelled_rows(rows, false, {"0", "", "1"}, {}, "ag.tsv");
    CHECK(t.label_names == std::vector<std::string>{"Business", "Sci/Tech", "World"});
    CHECK(t.rows[0].text == "Wall St. \"Bears\" Claw Back");
    CHECK(t.rows[2].text == "\"Quoted");
    CHECK(t.rows[2].label == 2);
}

TEST_CASE("labelled rows: columns, label names and ids, and bad rows with line numbers") {
    const std::string csv = "premise,hypothesis,gold\nA man runs.,Someone moves.,entail\nA cat.,A dog.,contra\n";
    std::vector<TableRow> rows = parse_table(csv, TableFormat::csv, "p.csv");
    LabelledTable t = labelled_rows(rows, true, {"premise", "hypothesis", "gold"}, {"contra", "entail"}, "p.csv");
    CHECK(t.rows[0].pair == "Someone moves.");
    CHECK(t.rows[0].label == 1);
    CHECK(t.rows[1].label == 0);
    // Indices work with a header too; a given name list may be longer than the file's labels.
    t = labelled_rows(rows, true, {"0", "1", "2"}, {"contra", "entail", "neutral"}, "p.csv");
    CHECK(t.label_names.size() == 3);

    auto error = [](const std::string& text, bool header, const TableColumns& columns,
                    const std::vector<std::string>& names) {
        return error_of([&] { labelled_rows(parse_table(text, TableFormat::csv, "l.csv"), header, columns, names, "l.csv"); });
    };
    // Integer labels name the classes 0..max; with names given, an id still counts.
    std::vector<TableRow> ints = parse_table("x,2\ny,0\n", TableFormat::csv, "l.csv");
    CHECK(labelled_rows(ints, false, {"0", "", "1"}, {}, "l.csv").label_names == std::vector<std::string>{"0", "1", "2"});
    CHECK(labelled_rows(ints, false, {"0", "", "1"}, {"a", "b", "c"}, "l.csv").rows[0].label == 2);

    CHECK(error("text,label\ngood,a\nbad,c\n", true, {"text", "", "label"}, {"a", "b"}) ==
          "l.csv: line 3: unknown label 'c' (labels: a, b)");
    CHECK(error("text,label\ngood,a\nbad,2\n", true, {"text", "", "label"}, {"a", "b"}) ==
          "l.csv: line 3: unknown label '2' (labels: a, b)");
    CHECK(error("text,label\ngood,a\n\"  \",b\n", true, {"text", "", "label"}, {}) ==
          "l.csv: line 3: empty text in column 'text'");
    CHECK(error("text,label\ngood,a\nx, \n", true, {"text", "", "label"}, {}) ==
          "l.csv: line 3: empty label in column 'label'");
    CHECK(error("text,label\ngood,a\nbad,a\n", true, {"text", "", "label"}, {}) ==
          "l.csv: every row has the label 'a'; a classifier needs at least 2 labels (name them with --labels)");
    CHECK(error("text,label\ngood,a\n", true, {"sentence", "", "label"}, {}) ==
          "l.csv: no column 'sentence' in the header ('text', 'label') and no index sentence among its 2 columns");
    CHECK(error("good,a\n", false, {"0", "", "2"}, {}) ==
          "l.csv: no column '2': the rows have 2 columns, 0..1 (use --header to name columns by the first row)");
    CHECK(error("text,label\n", true, {"text", "", "label"}, {}) == "l.csv: no rows after the header");
    CHECK(error("x,100000\ny,0\n", false, {"0", "", "1"}, {}) ==
          "l.csv: integer label 100000 would make 100001 classes (at most 65536); name the labels with --labels");
}

TEST_CASE("csv: a quoted newline in a header name or a label stays escaped in the one-line error") {
    // Found by tests/fuzz/fuzz_table.cpp: the header's one field is ".\ned", quoted.
    TempDir dir("csvnl");
    const std::string path = dir.file("t.csv");
    spit(path, "\".\ned\"");
    const std::vector<TableRow> rows = parse_table(slurp(path), TableFormat::csv, path);
    CHECK(error_of([&] { labelled_rows(rows, true, {"sentence", "", "label"}, {"negative", "positive"}, path); }) ==
          path + ": no column 'sentence' in the header ('.\\ned') and no index sentence among its 1 columns");
    spit(path, "text,label\ngood,a\nbad,\"b\r\nc\"\n");
    CHECK(error_of([&] {
              labelled_rows(parse_table(slurp(path), TableFormat::csv, path), true, {"text", "", "label"},
                            {"a", "b"}, path);
          }) == path + ": line 3: unknown label 'b\\r\\nc' (labels: a, b)");
}

// ---- the shared data sets and bin/make_examples --------------------------------------------------------

TEST_CASE("csv and tsv: the real IMDB sample and SST-2 files") {
    fs::path data = data_dir("classification");
    if (data.empty()) {
        SKIP_TEST(kNoDataMessage);
        return;
    }
    const std::string imdb = (data / "classification" / "imdb" / "imdb_small.csv").string();
    LabelledTable t = labelled_rows(parse_table(slurp(imdb), TableFormat::csv, imdb), true, {"text", "", "label"}, {}, imdb);
    // The README's counts: 3,000 reviews, 1,489 positive and 1,511 negative.
    CHECK(t.label_names == std::vector<std::string>{"Negative", "Positive"});
    REQUIRE(t.rows.size() == 3000);
    long long positive = 0;
    for (const LabelledText& r : t.rows) positive += r.label;
    CHECK(positive == 1489);
    // Row 0 quotes its doubled quotes: ... have ""clairvoyance"". People ...
    CHECK(t.rows[0].text.find("but have \"clairvoyance\". People") != std::string::npos);

    const std::string sst2 = (data / "classification" / "sst2" / "glue_dev.tsv").string();
    t = labelled_rows(parse_table(slurp(sst2), TableFormat::tsv, sst2), true, {"sentence", "", "label"}, {}, sst2);
    REQUIRE(t.rows.size() == 872);
    CHECK(t.rows[0].text == "it 's a charming and often affecting journey .");
    CHECK(t.rows[0].label == 1);
    CHECK(t.rows[871].line == 873);
}

static CommandResult make_examples(const std::string& args, const TempDir& dir) {
    return run_command("bin/make_examples " + args, dir);
}

TEST_CASE("bin/make_examples: byte tokens end to end, and one-line errors for bad rows and flags") {
    if (!fs::exists("bin/make_examples")) {
        SKIP_TEST("skipped: bin/make_examples not found (run the tests from the repository root after make)");
        return;
    }
    TempDir dir("examples");
    const std::string csv = dir.file("in.csv"), out = dir.file("out.bin");
    spit(csv, "text,label\n\"hi, you\",pos\nabcdef,neg\n");
    CommandResult run = make_examples("--input " + csv + " --text-column text --label-column label --max-len 4 "
                                "--labels neg,pos --output " + out, dir);
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    Examples ex = read_examples(out);
    CHECK(ex.label_names == std::vector<std::string>{"neg", "pos"});
    CHECK(ex.vocab_size == 256);
    CHECK(ex.tokens == std::vector<int32_t>{'h', 'i', ',', ' ', 'a', 'b', 'c', 'd'});
    CHECK(ex.labels == std::vector<int32_t>{1, 0});

    // --max-rows keeps the first rows; the output's folder is made.
    spit(csv, "text,label\na,pos\nb,neg\nc,pos\nd,neg\n");
    CommandResult first = make_examples("--input " + csv + " --header --labels neg,pos --max-rows 3 --output " +
                                        dir.file("new/sub/out.bin"), dir);
    REQUIRE_MESSAGE(first.status == 0, first.err);
    CHECK(read_examples(dir.file("new/sub/out.bin")).labels == std::vector<int32_t>{1, 0, 1});

    auto check_error = [&](const std::string& args, const std::string& message) {
        CommandResult r = make_examples(args, dir);
        INFO(args);
        CHECK(r.status == 1);
        CHECK(r.err == "make_examples: " + message + "\n");
    };
    spit(csv, "text,label\nfine,pos\n\"oops,neg\n");
    check_error("--input " + csv + " --text-column text --label-column label --output " + out,
                csv + ": line 3: unterminated quoted field");
    spit(csv, "text,label\nfine,pos\nwhat,maybe\n");
    check_error("--input " + csv + " --text-column text --label-column label --labels neg,pos --output " + out,
                csv + ": line 3: unknown label 'maybe' (labels: neg, pos)");
    check_error("--input " + csv + " --output " + out, csv + ": is the first row a header? pass --header or --no-header");
    // An output that cannot be written fails before the input is even read.
    spit(dir.file("file"), "x");
    check_error("--input " + dir.file("absent.csv") + " --header --output " + dir.file("file/out.bin"),
                "--output " + dir.file("file/out.bin") + ": cannot create " + dir.file("file") + " (Not a directory)");
    check_error("--input " + csv + " --header --max-rows many --output " + out,
                "--max-rows many: expected a whole number (0: all rows)");
    check_error("--input " + csv + " --header --pair-column 1 --output " + out,
                "--pair-column needs --tokenizer wordpiece:DIR (byte has no separator convention for a pair of texts)");
    check_error("--input " + dir.file("in.txt") + " --header --output " + out,
                dir.file("in.txt") + ": cannot tell CSV from TSV by the extension; pass --format csv or --format tsv");
    check_error("--input " + csv + " --header --max-len 0 --output " + out,
                "--max-len 0: expected a whole number from 1 to 1048576");
    check_error("--input " + csv + " --header --labels a,b,a --output " + out, "--labels: 'a' is given twice");
}

TEST_CASE("bin/make_examples: SST-2 with BERT's WordPiece") {
    fs::path data = data_dir("classification");
    if (data.empty() || !fs::exists("bin/make_examples")) {
        SKIP_TEST("skipped: needs shared data and bin/make_examples");
        return;
    }
    TempDir dir("examples");
    const std::string out = dir.file("sst2.bin");
    const fs::path tsv = data / "classification" / "sst2" / "glue_dev.tsv";
    const fs::path vocab_dir = data / "tokenizers" / "bert-base-uncased";
    CommandResult run = make_examples("--input " + tsv.string() + " --header --labels negative,positive"
                                      " --tokenizer wordpiece:" + vocab_dir.string() + " --max-len 16 --output " + out,
                                      dir);
    REQUIRE(run.status == 0);
    Examples ex = read_examples(out);
    REQUIRE(ex.size() == 872);
    // "it 's a charming and often affecting journey ." as Hugging Face's tokenizers 0.15.2
    // (BertWordPieceTokenizer, bert-base-uncased) encodes it:
    // [CLS] it ' s a charming and often affecting journey . [SEP]
    CHECK(std::vector<int32_t>(ex.tokens.begin(), ex.tokens.begin() + ex.length(0)) ==
          std::vector<int32_t>{101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102});
    CHECK(ex.labels[0] == 1);
    for (size_t i = 0; i < ex.size(); i++) CHECK(ex.length(i) <= 16);
}
