// Classification examples (see examples.h): the file format and the CSV / TSV reader.
#include "data/examples.h"

#include "core/fileio.h"


#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

namespace {

constexpr char kMagic[8] = {'M', 'T', 'E', 'X', 'A', 'M', 'P', 'L'};
constexpr uint32_t kVersion = 2;
constexpr uint64_t kMaxTokenizerName = 4096;
constexpr uint64_t kHeaderBytes = 8 + 4 * 4 + 8;
constexpr uint32_t kMaxLabels = 65536, kMaxLabelName = 1024;
// The smallest example: length, one id, one type, label.
constexpr uint64_t kMinExampleBytes = 4 + 4 + 1 + 4;

std::string line_of(long long line) { return "line " + std::to_string(line) + ": "; }

// Bytes of a file in memory, consumed front to back; each read is checked
// against what is left, so a size in the header cannot read past the end.
struct Cursor {
    const std::string& path;
    const std::vector<unsigned char>& bytes;
    uint64_t pos = 0;

    uint64_t left() const { return bytes.size() - pos; }
    const unsigned char* take(uint64_t n, const std::string& what) {
        if (n > left())
            fail(path, "truncated: " + what + " at byte " + std::to_string(pos) + " needs " + std::to_string(n) +
                           " bytes, " + std::to_string(left()) + " left");
        pos += n;
        return &bytes[pos - n];
    }
    uint64_t le(int width, const std::string& what) { return load_le(take(width, what), width); }
};

void put_le(std::vector<unsigned char>& out, uint64_t v, int width) {
    out.resize(out.size() + width);
    store_le(&out[out.size() - width], v, width);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string trimmed(const std::string& s) {
    size_t begin = 0, end = s.size();
    while (begin < end && is_space(s[begin])) begin++;
    while (end > begin && is_space(s[end - 1])) end--;
    return s.substr(begin, end - begin);
}

// "0" or digits without a leading zero (a label id or a column index); -1 otherwise.
long long small_integer(const std::string& s) {
    if (s.empty() || s.size() > 9 || (s[0] == '0' && s.size() > 1)) return -1;
    for (char c : s)
        if (c < '0' || c > '9') return -1;
    return std::stoll(s);
}

// One record per pass of the outer loop, one field per pass of the inner one.
// `line` counts every newline, those inside quoted fields too, so that rows and
// errors carry the line numbers an editor shows.
void parse_csv(const std::string& text, size_t pos, const std::string& path, std::vector<TableRow>& rows) {
    const size_t n = text.size();
    long long line = 1;
    while (pos < n) {
        TableRow row{line, {}};
        const size_t record_start = pos;
        for (;;) {
            std::string field;
            if (text[pos] == '"') {
                const long long opened = line;
                for (pos++;; pos++) {
                    if (pos == n) fail(path, line_of(opened) + "unterminated quoted field");
                    if (text[pos] == '"') {
                        if (pos + 1 < n && text[pos + 1] == '"') {
                            field += '"';
                            pos++;
                            continue;
                        }
                        pos++;
                        break;
                    }
                    if (text[pos] == '\n') line++;
                    field += text[pos];
                }
                bool at_end = pos == n || text[pos] == ',' || text[pos] == '\n' ||
                              (text[pos] == '\r' && (pos + 1 == n || text[pos + 1] == '\n'));
                if (!at_end)
                    fail(path, line_of(line) + "text after the closing quote of a field (write a quote inside a "
                                               "quoted field as \"\")");
            } else {
                size_t end = text.find_first_of(",\n", pos);
                if (end == std::string::npos) end = n;
                size_t stop = end;
                if ((end == n || text[end] == '\n') && stop > pos && text[stop - 1] == '\r') stop--;
                field.assign(text, pos, stop - pos);
                pos = end;
            }
            row.fields.push_back(std::move(field));
            if (pos < n && text[pos] == ',') {
                pos++;
                continue;
            }
            if (pos < n && text[pos] == '\r') pos++;
            if (pos < n) {
                pos++;
                line++;
            }
            break;
        }
        bool blank = row.fields.size() == 1 && row.fields[0].empty() && text[record_start] != '"';
        if (!blank) rows.push_back(std::move(row));
    }
}

void parse_tsv(const std::string& text, size_t pos, std::vector<TableRow>& rows) {
    long long line = 1;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        size_t stop = end > pos && text[end - 1] == '\r' ? end - 1 : end;
        if (stop > pos) {
            TableRow row{line, {}};
            for (size_t at = pos;;) {
                size_t tab = text.find('\t', at);
                if (tab == std::string::npos || tab > stop) tab = stop;
                row.fields.emplace_back(text, at, tab - at);
                if (tab == stop) break;
                at = tab + 1;
            }
            rows.push_back(std::move(row));
        }
        pos = end + 1;
        line++;
    }
}

// A column given as a header name or a 0-based index.
size_t column_index(const std::string& spec, const std::vector<TableRow>& table, bool header,
                    const std::string& path) {
    const size_t count = table[0].fields.size();
    if (header) {
        const std::vector<std::string>& names = table[0].fields;
        for (size_t c = 0; c < count; c++)
            if (trimmed(names[c]) == spec) return c;
    }
    long long index = small_integer(spec);
    if (index >= 0 && (size_t)index < count) return (size_t)index;
    std::string problem = "no column '" + spec + "'";
    if (header) {
        problem += " in the header (";
        for (size_t c = 0; c < count; c++) problem += (c ? ", '" : "'") + trimmed(table[0].fields[c]) + "'";
        problem += ") and no index " + spec + " among its " + std::to_string(count) + " columns";
    } else {
        problem += ": the rows have " + std::to_string(count) + " columns, 0.." + std::to_string(count - 1) +
                   " (use --header to name columns by the first row)";
    }
    fail(path, problem);
}

}  // namespace

void Examples::add(const std::vector<int32_t>& ids, const std::vector<uint8_t>& types, int label) {
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    token_types.insert(token_types.end(), types.begin(), types.end());
    offsets.push_back(tokens.size());
    labels.push_back(label);
}

void validate_examples(const Examples& ex, const std::string& path) {
    if (ex.max_len < 1 || ex.max_len > kMaxExampleLen)
        fail(path, "max_len " + std::to_string(ex.max_len) + " is outside 1.." + std::to_string(kMaxExampleLen));
    if (ex.vocab_size < 1) fail(path, "vocab_size " + std::to_string(ex.vocab_size) + " is not positive");
    const size_t K = ex.label_names.size();
    if (K < 2 || K > kMaxLabels)
        fail(path, std::to_string(K) + " labels (expected 2.." + std::to_string(kMaxLabels) + ")");
    std::set<std::string> seen;
    for (size_t k = 0; k < K; k++) {
        const std::string& name = ex.label_names[k];
        if (name.empty() || name.size() > kMaxLabelName)
            fail(path, "label " + std::to_string(k) + " has a name of " + std::to_string(name.size()) +
                           " bytes (expected 1.." + std::to_string(kMaxLabelName) + ")");
        for (unsigned char c : name)
            if (c < 0x20 || c == 0x7f) fail(path, "label " + std::to_string(k) + " has a control character in its name");
        if (!seen.insert(name).second) fail(path, "label name '" + name + "' appears twice");
    }
    const size_t N = ex.labels.size();
    if (ex.offsets.size() != N + 1 || ex.offsets[0] != 0 || ex.offsets[N] != ex.tokens.size() ||
        ex.token_types.size() != ex.tokens.size())
        fail(path, "inconsistent example arrays (offsets, tokens, types and labels disagree)");
    for (size_t i = 0; i < N; i++) {
        const std::string which = "example " + std::to_string(i);
        if (ex.offsets[i + 1] <= ex.offsets[i] || ex.offsets[i + 1] - ex.offsets[i] > (uint64_t)ex.max_len)
            fail(path, which + " has " + std::to_string((long long)(ex.offsets[i + 1] - ex.offsets[i])) +
                           " tokens (expected 1..max_len " + std::to_string(ex.max_len) + ")");
        for (uint64_t t = ex.offsets[i]; t < ex.offsets[i + 1]; t++)
            if (ex.tokens[t] < 0 || ex.tokens[t] >= ex.vocab_size)
                fail(path, which + ": token id " + std::to_string(ex.tokens[t]) + " at position " +
                               std::to_string(t - ex.offsets[i]) + " is outside the vocabulary 0.." +
                               std::to_string(ex.vocab_size - 1));
        if (ex.labels[i] < 0 || (size_t)ex.labels[i] >= K)
            fail(path, which + ": label " + std::to_string(ex.labels[i]) + " is outside 0.." + std::to_string(K - 1));
    }
}

Examples read_examples(const std::string& path) {
    uint64_t size;
    FilePtr file = open_regular(path, &size);
    FILE* f = file.get();
    if (size < kHeaderBytes)
        fail(path, "file is " + std::to_string(size) + " bytes, shorter than the " +
                       std::to_string(kHeaderBytes) + "-byte header");
    std::vector<unsigned char> bytes((size_t)size);
    if (std::fread(bytes.data(), 1, bytes.size(), f) != bytes.size())
        fail(path, std::string("cannot read: ") + (std::ferror(f) ? std::strerror(errno) : "the file shrank"));

    Cursor in{path, bytes};
    if (std::memcmp(in.take(8, "magic"), kMagic, 8) != 0) fail(path, "bad magic: not a minitrain examples file");
    uint64_t version = in.le(4, "version");
    if (version != 1 && version != kVersion)
        fail(path, "unsupported version " + std::to_string(version) + " (expected 1 or " + std::to_string(kVersion) + ")");
    Examples ex;
    uint64_t max_len = in.le(4, "max_len"), vocab_size = in.le(4, "vocab_size"), K = in.le(4, "num_labels");
    uint64_t N = in.le(8, "num_examples");
    // Range checks that guard the conversions and allocations below; the rest is validate_examples'.
    if (max_len < 1 || max_len > (uint64_t)kMaxExampleLen)
        fail(path, "max_len " + std::to_string(max_len) + " is outside 1.." + std::to_string(kMaxExampleLen));
    if (vocab_size < 1 || vocab_size > INT32_MAX)
        fail(path, "vocab_size " + std::to_string(vocab_size) + " is outside 1.." + std::to_string(INT32_MAX));
    if (K < 2 || K > kMaxLabels) fail(path, std::to_string(K) + " labels (expected 2.." + std::to_string(kMaxLabels) + ")");
    ex.max_len = (int)max_len;
    ex.vocab_size = (int)vocab_size;
    for (uint64_t k = 0; k < K; k++) {
        const std::string what = "name of label " + std::to_string(k);
        uint64_t n = in.le(4, what + " (length)");
        if (n > kMaxLabelName) fail(path, what + " has length " + std::to_string(n) + " (at most " + std::to_string(kMaxLabelName) + ")");
        const unsigned char* name = in.take(n, what);
        ex.label_names.emplace_back((const char*)name, n);
    }
    if (version >= 2) {
        const uint64_t n = in.le(4, "tokenizer (length)");
        if (n > kMaxTokenizerName) fail(path, "tokenizer name of " + std::to_string(n) + " bytes (at most 4096)");
        ex.tokenizer.assign((const char*)in.take(n, "tokenizer"), n);
    }
    if (N > in.left() / kMinExampleBytes)
        fail(path, "truncated: the header's " + std::to_string(N) + " examples need at least " +
                       std::to_string(kMinExampleBytes) + " bytes each, " + std::to_string(in.left()) + " left");
    ex.offsets.reserve(N + 1);
    ex.labels.reserve(N);
    std::vector<int32_t> ids;
    std::vector<uint8_t> types;
    for (uint64_t i = 0; i < N; i++) {
        const std::string which = "example " + std::to_string(i);
        uint64_t length = in.le(4, which + " (length)");
        if (length < 1 || length > max_len)
            fail(path, which + " has " + std::to_string(length) + " tokens (expected 1..max_len " +
                           std::to_string(max_len) + ")");
        const unsigned char* id_bytes = in.take(4 * length, which + " (token ids)");
        ids.resize(length);
        for (uint64_t t = 0; t < length; t++) ids[t] = (int32_t)load_le(id_bytes + 4 * t, 4);
        const unsigned char* type_bytes = in.take(length, which + " (token types)");
        types.assign(type_bytes, type_bytes + length);
        ex.add(ids, types, (int32_t)in.le(4, which + " (label)"));
    }
    if (in.left() != 0) fail(path, std::to_string(in.left()) + " bytes after the last example");
    validate_examples(ex, path);
    return ex;
}

void write_examples(const std::string& path, const Examples& ex) {
    validate_examples(ex, path);
    std::vector<unsigned char> out(kMagic, kMagic + 8);
    put_le(out, kVersion, 4);
    put_le(out, (uint64_t)ex.max_len, 4);
    put_le(out, (uint64_t)ex.vocab_size, 4);
    put_le(out, ex.label_names.size(), 4);
    put_le(out, ex.size(), 8);
    for (const std::string& name : ex.label_names) {
        put_le(out, name.size(), 4);
        out.insert(out.end(), name.begin(), name.end());
    }
    if (ex.tokenizer.size() > kMaxTokenizerName) fail(path, "tokenizer name longer than 4096 bytes");
    put_le(out, ex.tokenizer.size(), 4);
    out.insert(out.end(), ex.tokenizer.begin(), ex.tokenizer.end());
    for (size_t i = 0; i < ex.size(); i++) {
        put_le(out, (uint64_t)ex.length(i), 4);
        for (uint64_t t = ex.offsets[i]; t < ex.offsets[i + 1]; t++) put_le(out, (uint32_t)ex.tokens[t], 4);
        out.insert(out.end(), ex.token_types.begin() + ex.offsets[i], ex.token_types.begin() + ex.offsets[i + 1]);
        put_le(out, (uint32_t)ex.labels[i], 4);
    }
    write_atomically(path, [&](FILE* f) {
        if (std::fwrite(out.data(), 1, out.size(), f) != out.size())
            fail(path, std::string("cannot write: ") + std::strerror(errno));
    });
}

std::vector<TableRow> parse_table(const std::string& text, TableFormat format, const std::string& path) {
    const size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
    std::vector<TableRow> rows;
    if (format == TableFormat::csv)
        parse_csv(text, start, path, rows);
    else
        parse_tsv(text, start, rows);
    if (rows.empty()) fail(path, "no rows");
    const size_t count = rows[0].fields.size();
    for (const TableRow& row : rows)
        if (row.fields.size() != count)
            fail(path, line_of(row.line) + std::to_string(row.fields.size()) + " fields, expected " +
                           std::to_string(count) + " as on line " + std::to_string(rows[0].line) + " (" +
                           (format == TableFormat::csv ? "a field with a comma needs double quotes"
                                                       : "a tab inside a text would split it") + ")");
    return rows;
}

LabelledTable labelled_rows(const std::vector<TableRow>& table, bool header, const TableColumns& columns,
                            std::vector<std::string> label_names, const std::string& path) {
    if (table.empty()) fail(path, "no rows");
    const size_t text_col = column_index(columns.text, table, header, path);
    const bool has_pair = !columns.pair.empty();
    const size_t pair_col = has_pair ? column_index(columns.pair, table, header, path) : 0;
    const size_t label_col = column_index(columns.label, table, header, path);
    if (table.size() == (header ? 1u : 0u)) fail(path, "no rows after the header");

    LabelledTable out;
    std::vector<std::string> values;
    for (size_t r = header ? 1 : 0; r < table.size(); r++) {
        const TableRow& row = table[r];
        LabelledText t{row.line, trimmed(row.fields[text_col]), has_pair ? trimmed(row.fields[pair_col]) : "", -1};
        std::string value = trimmed(row.fields[label_col]);
        if (t.text.empty()) fail(path, line_of(row.line) + "empty text in column '" + columns.text + "'");
        if (has_pair && t.pair.empty()) fail(path, line_of(row.line) + "empty text in column '" + columns.pair + "'");
        if (value.empty()) fail(path, line_of(row.line) + "empty label in column '" + columns.label + "'");
        out.rows.push_back(std::move(t));
        values.push_back(std::move(value));
    }

    if (label_names.empty()) {
        long long max_int = -1;
        bool integers = true;
        std::set<std::string> distinct;
        for (const std::string& v : values) {
            distinct.insert(v);
            long long k = small_integer(v);
            integers = integers && k >= 0;
            max_int = std::max(max_int, k);
        }
        if (integers) {
            if (max_int >= kMaxLabels)
                fail(path, "integer label " + std::to_string(max_int) + " would make " + std::to_string(max_int + 1) +
                               " classes (at most " + std::to_string(kMaxLabels) + "); name the labels with --labels");
            for (long long k = 0; k <= max_int; k++) label_names.push_back(std::to_string(k));
        } else {
            label_names.assign(distinct.begin(), distinct.end());
        }
        if (label_names.size() < 2)
            fail(path, "every row has the label '" + values[0] + "'; a classifier needs at least 2 labels (name them with --labels)");
    }
    std::map<std::string, int> id_of;
    for (size_t k = 0; k < label_names.size(); k++) id_of.emplace(label_names[k], (int)k);
    for (size_t i = 0; i < values.size(); i++) {
        auto it = id_of.find(values[i]);
        long long k = small_integer(values[i]);
        if (it != id_of.end())
            out.rows[i].label = it->second;
        else if (k >= 0 && (size_t)k < label_names.size())
            out.rows[i].label = (int)k;
        else {
            std::string known;
            for (const std::string& name : label_names) known += (known.empty() ? "" : ", ") + name;
            fail(path, line_of(out.rows[i].line) + "unknown label '" + values[i] + "' (labels: " + known + ")");
        }
    }
    out.label_names = std::move(label_names);
    return out;
}
