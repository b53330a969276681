// CSV and TSV tables as bin/make_examples reads them: parse_table, then
// labelled_rows picking text, pair and label columns. The first byte picks
// the variant (bit 0: TSV, 1: a header row, 2: a pair column, 3: label
// names given); the rest is the table, read back from a file as the tool does.
#include <string>
#include <vector>

#include "core/fileio.h"
#include "data/examples.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const bool tsv = data[0] & 1, header = data[0] & 2, pair = data[0] & 4, named = data[0] & 8;
    const std::string path = write_input(tsv ? "table.tsv" : "table.csv", data + 1, size - 1);
    std::vector<TableRow> rows;
    if (!accepts([&] { rows = parse_table(read_file(path), tsv ? TableFormat::tsv : TableFormat::csv, path); }))
        return 0;
    // Header names as in GLUE's files (the other columns by index), or indices only.
    const TableColumns columns = {header ? "sentence" : "0", pair ? "1" : "", header ? "label" : pair ? "2" : "1"};
    std::vector<std::string> names;
    if (named) names = {"negative", "positive"};
    accepts([&] { labelled_rows(rows, header, columns, names, path); });
    return 0;
}
