// Classification examples: token ids, token type ids and a label per example,
// the file that holds them, and the CSV / TSV reader that bin/make_examples
// turns into them.
//
// The examples file, all integers little-endian:
//   char[8]  magic "MTEXAMPL"
//   uint32   version (2; version 1, without the tokenizer, is read too)
//   uint32   max_len        every example has 1..max_len tokens
//   uint32   vocab_size     every token id is in 0..vocab_size-1
//   uint32   num_labels     at least 2; every label is in 0..num_labels-1
//   uint64   num_examples
//   num_labels times:   uint32 n, n bytes of UTF-8 (the label's name: 1..1024
//                       bytes, no control characters, names distinct)
//   uint32 n, n bytes:  the tokenizer that made the ids, as make_examples
//                       names it ("byte", "wordpiece:/abs/DIR", a BPE
//                       directory's absolute path; 0..4096 bytes, "" unknown)
//   num_examples times: uint32 length, int32 ids[length], uint8 types[length],
//                       int32 label
// and nothing after the last example.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

constexpr int kMaxExampleLen = 1 << 20;  // the largest max_len a file may have

struct Examples {
    int max_len = 0;
    int vocab_size = 0;
    std::vector<std::string> label_names;  // indexed by label id
    std::string tokenizer;                 // what made the ids ("" unknown)
    // Example i's ids are tokens[offsets[i] .. offsets[i+1]), its type ids the
    // same range of token_types (0 first segment, 1 second).
    std::vector<uint64_t> offsets{0};
    std::vector<int32_t> tokens;
    std::vector<uint8_t> token_types;
    std::vector<int32_t> labels;

    size_t size() const { return labels.size(); }
    int length(size_t i) const { return (int)(offsets[i + 1] - offsets[i]); }
    void add(const std::vector<int32_t>& ids, const std::vector<uint8_t>& types, int label);
};

// Checks every rule of the format above; throws std::runtime_error("<path>: <problem>").
void validate_examples(const Examples& ex, const std::string& path);

// Reads and checks a whole file. Sizes in the header are checked against the
// file's length before anything is allocated for them.
Examples read_examples(const std::string& path);

// Validates, then writes atomically (temp file, fsync, rename).
void write_examples(const std::string& path, const Examples& ex);

// ---- delimited text -------------------------------------------------------------------------------

enum class TableFormat { csv, tsv };

struct TableRow {
    long long line;  // 1-based line where the row starts
    std::vector<std::string> fields;
};

// Splits a whole file's text into rows; blank lines are skipped and a UTF-8
// byte order mark at the start is dropped. Every row must have as many fields
// as the first.
//   csv  RFC 4180: comma-separated; a field in double quotes may hold commas,
//        newlines and doubled quotes (""), and must be followed by a comma or
//        the end of the line. A quote inside an unquoted field is kept as is.
//   tsv  GLUE style: tab-separated, no quoting (quotes are ordinary characters).
// Records end with LF or CRLF. Errors name the line: "<path>: line N: <problem>".
std::vector<TableRow> parse_table(const std::string& text, TableFormat format, const std::string& path);

struct LabelledText {
    long long line;
    std::string text, pair;  // pair is empty for single-text tasks
    int label;
};

struct LabelledTable {
    std::vector<std::string> label_names;
    std::vector<LabelledText> rows;
};

// Which columns hold what: each is a header name or a 0-based index (a name
// wins when the header has it). pair_column empty = single text.
struct TableColumns {
    std::string text, pair, label;
};

// Picks the columns out of the table's rows (after the header row, when
// header) and maps labels to ids. Texts and labels are trimmed of surrounding
// whitespace (GLUE's SST-2 has a space before every tab); an empty one is an
// error. With label_names given, a label is one of the names or an id in
// 0..K-1; without, the labels are the file's values: 0..max when all are
// integers, else the distinct values in byte order. Throws "<path>: line N: ...".
LabelledTable labelled_rows(const std::vector<TableRow>& table, bool header, const TableColumns& columns,
                            std::vector<std::string> label_names, const std::string& path);
