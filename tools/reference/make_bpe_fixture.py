"""Writes tests/fixtures/bpe_cases.json: texts and their GPT-2 BPE ids, made by tiktoken.

Two parts: "cases", short texts with their ids in full; and "corpora", whole
files from shared/data encoded at once, recorded as the token count and the
64-bit FNV-1a hash of the ids (each as 4 little-endian bytes), to keep the
fixture small while still checking every token of a few MB of real text.

Reference: tiktoken 0.14.0 (PyPI; it pulled in regex 2026.11.19). The encoding
is built offline from the local GPT-2 files in shared/data/tokenizers/gpt2 (the
sha256 checks are tiktoken's own for OpenAI's published files) with the
original GPT-2 pattern; tiktoken's faster equivalent pattern must agree.
Each case is encoded with encode_ordinary, so "<|endoftext|>" in a text is
plain text, as in src/data/tokenizer.h.

Run once, from anywhere (the C++ test reads the committed output, no Python):
    python3 -m venv /tmp/tiktoken-venv
    /tmp/tiktoken-venv/bin/pip install tiktoken==0.14.0
    /tmp/tiktoken-venv/bin/python tools/reference/make_bpe_fixture.py
The data folder is $MINITRAIN_DATA, else ../shared/data beside the repository.
"""

import json
import os
import pathlib

os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local files directly, cache nothing

import tiktoken  # noqa: E402
from tiktoken.load import data_gym_to_mergeable_bpe_ranks  # noqa: E402
from tiktoken_ext.openai_public import r50k_pat_str  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("MINITRAIN_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / "tests" / "fixtures" / "bpe_cases.json"

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def encoding(pat_str):
    gpt2 = DATA / "tokenizers" / "gpt2"
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(gpt2 / "vocab.bpe"),
        encoder_json_file=str(gpt2 / "encoder.json"),
        vocab_bpe_hash="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        encoder_json_hash="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    )
    return tiktoken.Encoding(
        name="gpt2-local", pat_str=pat_str, mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257,
    )


def corpus_excerpt(name, start, length):
    text = (DATA / "corpora" / name).read_bytes().decode("utf-8")
    return text[start:start + length]


CASES = [
    ("empty", ""),
    ("prose", "The quick brown fox jumps over the lazy dog. It was the best of times, "
              "it was the worst of times; nobody expected it!"),
    ("python", "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n    if a is None:\n        return b\n\n"
               "    return a + b  # sum\n\nclass Foo(object):\n    x: int = 0   \n"),
    ("c_tabs", "int main(void) {\n\tfor (int i = 0; i < 10; i++) {\n\t\tprintf(\"%d\\n\", i);\n\t}\n"
               "\treturn 0;\n}\n"),
    ("accents", "Café naïve Zürich señor mañana Ångström façade crème brûlée Ñandú ÉCOLE"),
    ("combining_marks", "cafe\u0301 nai\u0308ve n\u0303 e\u0301e\u0301e\u0301"),
    ("chinese", "我们今天去公园散步，天气很好。机器学习是人工智能的一个分支！"),
    ("japanese", "東京は日本の首都です。ひらがなとカタカナ、そして漢字。ｶﾀｶﾅ"),
    ("korean_greek_cyrillic", "안녕하세요 세계 Καλημέρα κόσμε Привет, мир!"),
    ("arabic_hindi_thai", "مرحبا بالعالم नमस्ते दुनिया สวัสดีชาวโลก"),
    ("emoji", "I ❤️ it 👍🏽 fam 👨\u200d👩\u200d👧\u200d👦 flags 🇫🇷🇯🇵 keycap 1️⃣ 🏳️\u200d🌈 done😀😀"),
    ("space_runs", "a  b   c    d\n\ne\n\n\nf \n g\t\th \t i"),
    ("leading_trailing", "   leading and trailing   "),
    ("only_spaces", "      "),
    ("only_newlines", "\n\n\n\n"),
    ("space_before_newline", "line one  \nline two \n\n  indented\n"),
    ("crlf", "first\r\nsecond\r\n\r\nthird"),
    ("space_before_digits_and_punct", "x  12 y   !? z \t.; w"),
    ("numbers", "3.14159, 1,000,000 and $42.50 (12%) on 2024-05-20 v1.2.3 0x1F 1e-9 -7 +8"),
    ("long_number", "12345678901234567890 123 1234"),
    ("contractions", "it's don't they're we've I'm you'll he'd 's 't"),
    ("contractions_upper", "IT'S DON'T THEY'RE WE'VE I'M YOU'LL HE'D It'S"),
    ("contraction_edges", "''s rock 'n' roll 'tis x's 'll'd'm 'S 'Re"),
    ("curly_apostrophe", "it\u2019s don\u2019t \u2018quoted\u2019 \u201cdouble\u201d"),
    ("unicode_whitespace", "a\u00a0b a\u00a0\u00a0b 日本\u3000語 thin\u2009space em\u2003space"
                           " nel\u0085x ls\u2028ps\u2029 vt\x0bff\x0cx ogham\u1680x"),
    ("not_whitespace", "zw\u200bsp bom\ufeffx mvs\u180ex fs\x1cgs\x1drs\x1eus\x1fx"),
    # Whether a character is \s shows in the ids: " c" is one pre-token only if
    # it is not (seen where GPT-2 merges a space with c's first byte), and
    # "\n\nc" keeps "\n\n" whole (one token) only if it is.
    ("whitespace_definition", " ".join(f"x {c}y x\n\n{c}y" for c in [
        "\t", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u1680", "\u180e",
        "\u2000", "\u2007", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u2060", "\u3000",
        "\ufeff"])),
    ("whitespace_before_word", "\u00a0\u00a0word \u3000\u3000word \x0b\x0bword"),
    ("other_numbers", "①②③ Ⅻ ½ x² ٣٤٥ ３４"),
    ("controls", "\x00\x01\x02 bell\x07 del\x7f esc\x1b[0m"),
    ("endoftext_as_text", "end<|endoftext|>start <|endoftext|>"),
    ("long_space_run", "x" + " " * 300 + "y"),
    ("long_punct_run", "=" * 200 + "\n" + "-" * 77),
    ("long_word", "a" * 300 + " " + "ab" * 150),
    ("repeated_words", "the the the the  the   the\nthe"),
    ("mixed_scripts", "GPT2和BERT模型の比較test123テスト"),
    ("shakespeare_head", corpus_excerpt("tinyshakespeare.txt", 0, 400)),
    ("shakespeare_mid", corpus_excerpt("tinyshakespeare.txt", 500000, 400)),
    ("pride_head", corpus_excerpt("pride_and_prejudice.txt", 0, 300)),
    ("pride_mid", corpus_excerpt("pride_and_prejudice.txt", 300000, 400)),
]


CORPORA = ["corpora/tinyshakespeare.txt", "corpora/pride_and_prejudice.txt", "corpora/domain/origin_of_species.txt"]


def fnv1a64(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for byte in i.to_bytes(4, "little"):
            h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    enc = encoding(GPT2_PATTERN)
    fast = encoding(r50k_pat_str)
    names = [name for name, _ in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    lines = []
    for name, text in CASES:
        ids = enc.encode_ordinary(text)
        assert ids == fast.encode_ordinary(text), f"{name}: the two GPT-2 patterns disagree"
        assert enc.decode_bytes(ids) == text.encode("utf-8"), f"{name}: tiktoken does not round-trip"
        lines.append(json.dumps({"name": name, "text": text, "ids": ids}, ensure_ascii=False))
    corpora = []
    for rel in CORPORA:
        ids = enc.encode_ordinary((DATA / rel).read_bytes().decode("utf-8"))
        corpora.append(json.dumps({"file": rel, "ntokens": len(ids), "fnv1a64": f"{fnv1a64(ids):016x}"}))
    header = f"tiktoken {tiktoken.__version__}, GPT-2 BPE, encode_ordinary; tools/reference/make_bpe_fixture.py"
    # One case per line, so that a change to the fixture reads well in a diff.
    text = ('{"generator": ' + json.dumps(header) + ",\n"
            ' "cases": [\n  ' + ",\n  ".join(lines) + "\n ],\n"
            ' "corpora": [\n  ' + ",\n  ".join(corpora) + "\n ]}\n")
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}: {len(lines)} cases, {len(corpora)} corpora, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
