"""Writes tests/fixtures/wordpiece_cases.json: BERT WordPiece ids made by Hugging Face.

Reference: transformers 5.24.0 BertTokenizer, which is the Rust `tokenizers`
0.23.3 pipeline (BertNormalizer, BertPreTokenizer, WordPiece, the [CLS]/[SEP]
template, its special tokens matched in the raw text), loaded with
from_pretrained from the folders in shared/data/tokenizers (the vocabularies
are read there, never copied). Decoded strings come from transformers'
BertTokenizerLegacy.convert_tokens_to_string (" ".join, drop " ##", strip).
Python 3.11.7; pip also pulled in huggingface_hub 2.4.0 and numpy 2.4.6.

Four parts:
  "cases"       texts (and text pairs) with max_len, the expected input_ids,
                token_type_ids, and the decoded string of those ids;
  "decodes"     id lists chosen by hand and their decoded strings;
  "charclasses" every code point c that Python's unicodedata (14.0.0) assigns, as
                "a" c "b" through tokenizers' BertNormalizer and
                BertPreTokenizer under the four lower-case / strip-accents
                settings; each line "<hex cp>\\t<words joined by U+001F>\\n",
                hashed with 64-bit FNV-1a per block of 4096 code points;
  "corpora"     whole files from shared/data, each line encoded without
                specials, recorded as the line and id counts and the FNV-1a
                hash of the ids (each as 4 little-endian bytes), as
                make_bpe_fixture.py does.

Run once, from anywhere (the C++ test reads the committed output, no Python):
    python3 -m venv /tmp/wp-venv
    /tmp/wp-venv/bin/pip install tokenizers==0.23.3 transformers==5.24.0
    /tmp/wp-venv/bin/python tools/reference/make_wordpiece_fixture.py
The data folder is $MINITRAIN_DATA, else ../shared/data beside the repository.
It also prints where transformers' old Python tokenizer (BertTokenizerLegacy)
disagrees with the reference, for the record. Those differences are expected:
it removes unassigned code points, lower-cases a final sigma to ς, takes
categories from Python's newer Unicode tables, starts CJK extension E at
U+2B820 (tokenizers has U+2B920), and when a cut pair's budget is odd gives the
odd id to the first text where tokenizers gives it to the second.
"""

import json
import os
import pathlib
import unicodedata

import tokenizers
import transformers
from tokenizers import normalizers, pre_tokenizers
from transformers import BertTokenizer
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("MINITRAIN_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / "tests" / "fixtures" / "wordpiece_cases.json"

# name -> folder under DATA and the options the C++ side must use. The two
# folders with a tokenizer_config.json say do_lower_case there (false for
# bert-base-chinese); bert-base-uncased has only vocab.txt, and BertTokenizer's
# default, lower case, is its meaning. strip_accents is unset everywhere.
VOCABS = {
    "bert-base-uncased": ("tokenizers/bert-base-uncased", True),
    "bert-base-chinese": ("tokenizers/bert-base-chinese", False),
    "all-MiniLM-L6-v2": ("tokenizers/all-MiniLM-L6-v2", True),
}

ENGLISH = [
    ("punctuation", "Hello, world! How are you? I'm fine; thanks... (really)."),
    ("contractions", "I can't believe it's not butter. Don't, won't, y'all, rock'n'roll, o'clock."),
    ("numbers", "The price is $1,234.56 (approx. 3.5%) on 2024-01-15 at 10:30pm; 1e10, 0x1F, 1/2."),
    ("number_forms", "½ ² ① Ⅻ 𝟙 ٣ ७"),
    ("urls", "Visit https://www.example.com/path/to?query=1&x=2#frag or mail me@example.org now."),
    ("hyphens", "state-of-the-art well-known e-mail --- dash\u2014em\u2013en \u2010hyphen"),
    ("subwords", "unaffable antidisestablishmentarianism supercalifragilisticexpialidocious tokenization"),
    ("mixed_case", "HELLO World MiXeD CaSe iPhone McDonald's NASA"),
    ("spaces_at_ends", "   leading and trailing spaces   "),
    ("empty", ""),
    ("only_whitespace", " \t\r\n \u3000 "),
    ("punctuation_runs", "!!!???...,,,;;;---___***&&&"),
    ("code", "def f(x): return x**2 + y[0] # C++ and C# and .NET <br /> {a: 1}"),
    ("social", "#hashtag @mention :-) :D <3 ^_^ ~~~ |pipe| \\backslash\\ `tick`"),
    ("word_of_100_chars", "ab" * 50),
    ("word_of_101_chars", "ab" * 50 + "c"),
    ("word_of_300_chars", "x" * 300 + " after"),
    ("long_word_mid_sentence", "before " + "supercalifragilistic" * 6 + " after"),
    ("accents_shrink_a_long_word", "e" + "\u0301" * 120 + " x"),
    ("accented_101_chars", "\u00e9" * 101),
    ("accented_latin", "café naïve Zürich résumé Ångström Crème brûlée Ærøskøbing Łódź straße ŒUVRE façade"),
    ("decomposed_accents", "cafe\u0301 nai\u0308ve Zu\u0308rich A\u030angstro\u0308m"),
    ("turkish_dotted_i", "İstanbul ıi İI"),
    ("greek_final_sigma", "ΟΔΥΣΣΕΥΣ Σοφία ΟΔΟΣ όσος"),
    ("cyrillic", "Москва ПРИВЕТ мир Ёлка"),
    ("titlecase_digraph", "ǅemal ǈubljana ǋ"),
    ("ligatures", "ﬁne ﬂow Ǽ Ĳssel"),
    ("fullwidth", "ＡＢＣ１２３ｈｅｌｌｏ！？"),
    ("emoji", "I love it 😀👍🏽 🇺🇸 ❤️ 👨\u200d👩\u200d👧 🥹 done"),
    ("control_chars", "tab\there\r\nnew\nline\x00nul\x07bell\x1besc\x7fdel end"),
    ("format_chars", "zero\u200bwidth zw\u200dj zw\u200cnj bom\ufeffhere soft\u00adhyphen rtl\u200fmark"),
    ("replacement_char", "bad\ufffdbyte \ufffd"),
    ("odd_whitespace", "a\u00a0b\u2003c\u3000d\u2028e\u2029f\x0bg\x0ch\x85i\u202fj\u205fk\u1680l\x1cm\x1fn"),
    ("private_and_unassigned", "x\ue000y \u0378 \U0010fffd \uffff z"),
    ("unicode_newer_than_8", "a\u2e43b c\u166dd e\U000111c9f g\u08e2h \u07fd \U0002b820\U0002b920"),
    ("arabic", "مرحبا بالعالم! السَّلَامُ عَلَيْكُمْ"),
    ("hebrew", "שָׁלוֹם עוֹלָם"),
    ("thai", "สวัสดีครับ ภาษาไทย"),
    ("devanagari", "नमस्ते दुनिया। हिन्दी"),
    ("korean", "안녕하세요 세계! 한국어"),
    ("japanese", "こんにちは、世界！カタカナとひらがな。東京タワーは３３３ｍです。"),
    ("chinese_in_english_vocab", "我爱北京天安门。"),
    ("mask_in_text", "The capital of France is [MASK]."),
    ("specials_in_text", "x [CLS][SEP][PAD][UNK] y a[MASK]b [[MASK]]"),
    ("special_lookalikes", "[mask] [Mask] [MASK [ MASK] [MASK ]"),
]

CHINESE = [
    ("chinese", "我爱北京天安门。"),
    ("chinese_mixed", "BERT模型在2018年发布，效果很好！iPhone 15 Pro价格是7999元。"),
    ("chinese_fullwidth_punct", "（你好）【测试】「引号」『书名』、；：？！……——《红楼梦》"),
    ("chinese_traditional", "這間酒店環境和服務態度亦算不錯，但房間空間太小～～"),
    ("chinese_numbers", "第3章 共１２８页 ２０２４年１月 3.14 100%"),
    ("chinese_english_cased", "Hello World 你好 hello world HELLO"),
    ("chinese_accents_kept", "café naïve Zürich İstanbul"),
    ("chinese_japanese", "こんにちは、世界！東京タワー"),
    ("chinese_korean", "안녕하세요 세계"),
    ("chinese_emoji", "太好了😀👍 哈哈哈"),
    ("chinese_control", "你\t好\r\n世\x00界\u200b！\u3000结束"),
    ("chinese_ext_e_gap", "\U0002b820\U0002b91f\U0002b920 \U00020000"),
    ("chinese_mask", "北京是中国的[MASK]都。"),
    ("chinese_long_latin_word", "a" * 101 + " 中"),
]


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def ids_bytes(ids):
    return b"".join(i.to_bytes(4, "little") for i in ids)


def tsv_texts(rel, every, count):
    """Every `every`-th line's first field (the text), skipping a header line."""
    lines = (DATA / rel).read_text(encoding="utf-8").split("\n")
    if lines[0].startswith("sentence\t"):
        lines = lines[1:]
    texts = [line.split("\t")[0] for line in lines if line]
    return texts[::every][:count]


def dump(fixture):
    """JSON with one list item (a case, a corpus, a block table) per line, so diffs stay readable."""
    def one(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    parts = []
    for key, value in fixture.items():
        if isinstance(value, list):
            body = "[\n" + ",\n".join(one(item) for item in value) + "\n]"
        else:
            body = one(value)
        parts.append(one(key) + ": " + body)
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main():
    transformers.logging.set_verbosity_error()  # the legacy tokenizer warns on every truncated pair
    tok = {name: BertTokenizer.from_pretrained(str(DATA / folder)) for name, (folder, _) in VOCABS.items()}
    legacy = {name: BertTokenizerLegacy(str(DATA / folder / "vocab.txt"), do_lower_case=lower)
              for name, (folder, lower) in VOCABS.items()}
    for name, (folder, lower) in VOCABS.items():
        assert tok[name].do_lower_case == lower, name
        assert tok[name].backend_tokenizer.normalizer.lowercase == lower, name

    sst2 = tsv_texts("classification/sst2/dev.tsv", 337, 20)
    chn = tsv_texts("classification/chnsenticorp/dev.tsv", 61, 20)

    cases = []
    legacy_differs = []

    # Called with one-item batches: for a single (unbatched) call transformers
    # treats an empty text_pair as no pair at all, while batches (as
    # datasets.map(batched=True) sends them) and tokenizers keep [SEP] [SEP].
    def add(name, vocab, text, max_len, pair=None):
        args = ([text],) if pair is None else ([text], [pair])
        kwargs = dict(truncation="longest_first", max_length=max_len, return_token_type_ids=True)
        enc = {k: v[0] for k, v in tok[vocab](*args, **kwargs).items()}
        old = {k: v[0] for k, v in legacy[vocab](*args, **kwargs).items()}
        ids = enc["input_ids"]
        if old["input_ids"] != ids or old["token_type_ids"] != enc["token_type_ids"]:
            legacy_differs.append(f"{vocab}/{name}")
        case = {"name": name, "vocab": vocab, "text": text}
        if pair is not None:
            case["text_pair"] = pair
        case.update({
            "max_len": max_len,
            "input_ids": ids,
            "token_type_ids": enc["token_type_ids"],
            "decoded": legacy[vocab].convert_tokens_to_string(tok[vocab].convert_ids_to_tokens(ids)),
        })
        cases.append(case)

    for vocab in ("bert-base-uncased", "all-MiniLM-L6-v2", "bert-base-chinese"):
        for name, text in ENGLISH:
            add(name, vocab, text, 512)
    for vocab in ("bert-base-chinese", "bert-base-uncased"):
        for name, text in CHINESE:
            add(name, vocab, text, 512)
    for k, text in enumerate(sst2):
        add(f"sst2_dev_{k}", "bert-base-uncased", text, 128)
    for k, text in enumerate(chn):
        add(f"chnsenticorp_dev_{k}", "bert-base-chinese", text, 128)

    # Truncation. Word counts are chosen to reach every branch of longest_first:
    # only the longer text cut, both cut with an even or odd budget, the first
    # or the second longer or both equal, and budgets of 0 and 1.
    words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen " \
            "fifteen sixteen seventeen eighteen nineteen twenty".split()
    def w(n):
        return " ".join(words[:n])
    for vocab in ("bert-base-uncased", "all-MiniLM-L6-v2"):
        for max_len in (2, 3, 5, 8):
            add(f"single_{max_len}", vocab, w(10), max_len)
        for n1, n2, max_len in [(10, 5, 8), (5, 10, 8), (5, 5, 10), (5, 5, 9), (5, 6, 10), (6, 5, 10),
                                (3, 12, 16), (12, 3, 16), (20, 20, 16), (20, 20, 8), (7, 8, 16), (8, 7, 16),
                                (4, 4, 3), (4, 4, 4), (0, 6, 4), (6, 0, 4), (1, 6, 4), (2, 2, 64), (0, 0, 3)]:
            add(f"pair_{n1}_{n2}_max{max_len}", vocab, w(n1), max_len, pair=w(n2))
        add("pair_special_in_text", vocab, "who [SEP] is it", 32, pair="it is [MASK] me")
        for k in range(0, 8, 2):
            add(f"sst2_pair_{k}_max16", vocab, sst2[k], 16, pair=sst2[k + 1])
            add(f"sst2_pair_{k}_max24", vocab, sst2[k], 24, pair=sst2[k + 1])
    for k in range(0, 8, 2):
        add(f"chnsenticorp_pair_{k}_max16", "bert-base-chinese", chn[k], 16, pair=chn[k + 1])
        add(f"chnsenticorp_single_{k}_max8", "bert-base-chinese", chn[k], 8)

    # decode() on id lists no text encodes to: a "##" piece first, specials,
    # and bert-base-chinese's tokens that are U+2028, which strip() trims at the ends.
    decodes = []
    for vocab, tokens in [
        ("bert-base-uncased", ["##ing", "the", "##s", "[CLS]", "#", "##a", "[PAD]", "[SEP]"]),
        ("bert-base-uncased", ["un", "##able", ",", "isn", "'", "t", "it", "?"]),
        ("bert-base-chinese", ["\u2028", "我", "##\u2028", "爱", "\u2028", "[UNK]", "\u2028"]),
        ("bert-base-chinese", ["##\u2028", "中", "##国"]),
    ]:
        ids = tok[vocab].convert_tokens_to_ids(tokens)
        assert tok[vocab].convert_ids_to_tokens(ids) == tokens, tokens
        decodes.append({"vocab": vocab, "ids": ids, "text": legacy[vocab].convert_tokens_to_string(tokens)})

    pre = pre_tokenizers.BertPreTokenizer()
    charclasses = []
    for lower, strip in [(True, True), (False, False), (True, False), (False, True)]:
        norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                          strip_accents=strip, lowercase=lower)
        blocks = {}
        for cp in range(0x110000):
            cat = unicodedata.category(chr(cp))
            if cat in ("Cn", "Cs"):
                continue
            words_out = [w for w, _ in pre.pre_tokenize_str(norm.normalize_str("a" + chr(cp) + "b"))]
            line = ("%x\t%s\n" % (cp, "\x1f".join(words_out))).encode("utf-8")
            blocks.setdefault(cp >> 12, []).append(line)
        charclasses.append({
            "lower_case": lower, "strip_accents": strip,
            "blocks": {"%x" % b: "%016x" % fnv1a64(b"".join(lines)) for b, lines in sorted(blocks.items())},
        })

    corpora = []
    for vocab, rel in [("bert-base-uncased", "classification/sst2/train.tsv"),
                       ("bert-base-uncased", "corpora/pride_and_prejudice.txt"),
                       ("all-MiniLM-L6-v2", "classification/agnews/test.tsv"),
                       ("bert-base-chinese", "classification/chnsenticorp/dev.tsv"),
                       ("bert-base-chinese", "classification/tnews/dev.tsv")]:
        with open(DATA / rel, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
        ids = []
        for enc in tok[vocab](lines, add_special_tokens=False)["input_ids"]:
            ids.extend(enc)
        corpora.append({"vocab": vocab, "file": rel, "lines": len(lines), "ntokens": len(ids),
                        "fnv1a64": "%016x" % fnv1a64(ids_bytes(ids))})

    fixture = {
        "reference": f"transformers {transformers.__version__} BertTokenizer (tokenizers {tokenizers.__version__})",
        "unicode_version": unicodedata.unidata_version,
        "vocabs": {name: {"path": folder + "/vocab.txt", "do_lower_case": lower}
                   for name, (folder, lower) in VOCABS.items()},
        "cases": cases,
        "decodes": decodes,
        "charclasses": charclasses,
        "corpora": corpora,
    }
    OUT.write_text(dump(fixture), encoding="utf-8")
    print(f"wrote {OUT}: {len(cases)} cases, {len(decodes)} decodes, {len(corpora)} corpora, "
          f"{OUT.stat().st_size} bytes")
    print(f"BertTokenizerLegacy differs on {len(legacy_differs)} cases: {', '.join(legacy_differs)}")


if __name__ == "__main__":
    main()
