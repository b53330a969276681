#!/usr/bin/env python3
"""Two tiny Hugging Face BERT folders and their outputs, for tests/test_hf_bert.cpp.

Needs Hugging Face transformers, which is not a Debian package; a venv that
sees Debian's torch is enough:
    /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv
    /tmp/hfvenv/bin/pip install transformers==4.36.2
    /tmp/hfvenv/bin/python tools/reference/make_hf_bert_fixture.py
Generated with transformers 4.36.2, safetensors 0.8.0, huggingface_hub
0.36.2, tokenizers 0.15.2 (PyPI), torch 1.13.0a0 and numpy 1.24.2 (Debian
python3-torch, python3-numpy, CPU), Python 3.11.2; the versions are also
stored in expected.bin (meta.*). Every run writes the same bytes.

tests/fixtures/hf_bert_tiny/cls/ gets what BertForSequenceClassification.
save_pretrained writes (config.json, model.safetensors) and tests/fixtures/
hf_bert_tiny/mlm/ what BertForMaskedLM.save_pretrained writes (the same and
generation_config.json; the decoder, tied to the word embeddings and to
cls.predictions.bias, is not in the file), for random
models with vocab_size 99, hidden_size 32, 2 layers, 4 heads,
intermediate_size 48 (not 4 * hidden, so a swapped width shows),
max_position_embeddings 16, type_vocab_size 3 and, for cls, 3 labels.

Each folder's expected.bin (tools/reference/fixture.py format) holds a batch
of B = 3 rows of T = 8 tokens padded on the right (lengths 8, 5, 3):
tokens, types (token type ids, all three types used) and lengths (B) int32,
the attention mask transformers was given being lengths expanded; then
  cls: labels (B) int32, logits (B, 3), loss (scalar, mean cross-entropy),
       hidden (B, T, 32) the last encoder layer's output (rows past a
       row's length hold whatever transformers computed there: compare
       only real tokens);
  mlm: targets (B, T) int32, -100 where there is no loss (the padding and
       a few real tokens), logits (N, 99) at the N positions with a target
       in row-major order, loss (scalar, mean cross-entropy over them).

The outputs come from transformers' own forward run in float64 on the
float32 weights of the saved file, rounded once to float32, so a test sees
only its own float32 rounding. Every parameter is drawn at a scale that
gives logits of order 1 (a default BERT init would leave them near 0,
where a wrong split of query/key/value could hide), with LayerNorm weights
off 1 and biases off 0.
"""
import os
import sys

import numpy as np
import safetensors
import torch
import transformers
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402

B, T = 3, 8
LENGTHS = [8, 5, 3]
SEED = 20240612


def config(**extra):
    return BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=48, max_position_embeddings=16, type_vocab_size=3, **extra)


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.3 * noise)


def batch(gen, V):
    tokens = torch.randint(0, V, (B, T), generator=gen)
    tokens[0, 0], tokens[0, 1] = V - 1, 0  # both ends of the vocabulary
    types = torch.randint(0, 3, (B, T), generator=gen)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
    return tokens, types, mask


def meta():
    return [("meta.transformers", transformers.__version__), ("meta.torch", torch.__version__),
            ("meta.safetensors", safetensors.__version__), ("meta.numpy", np.__version__)]


def inputs(tokens, types, mask):
    return [("tokens", tokens.numpy().astype("<i4")), ("types", types.numpy().astype("<i4")),
            ("lengths", mask.sum(1).numpy().astype("<i4"))]


def save(cls, model, out_dir):
    """Saves, then reloads in float32 and float64 so the outputs belong to the file's weights exactly."""
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    return cls.from_pretrained(out_dir).eval(), cls.from_pretrained(out_dir).eval().double()


def report(name, got32, want):
    print(f"{name}: transformers float32 vs float64 logits: max abs err / max abs ref =",
          float((got32.double() - want).abs().max() / want.abs().max()))


def make_cls(gen, out_dir):
    model = BertForSequenceClassification(config(num_labels=3)).eval()
    randomize(model, gen)
    m32, m64 = save(BertForSequenceClassification, model, out_dir)
    tokens, types, mask = batch(gen, 99)
    labels = torch.tensor([2, 0, 1])
    with torch.no_grad():
        out = m64(input_ids=tokens, token_type_ids=types, attention_mask=mask, labels=labels,
                  output_hidden_states=True)
        report("cls", m32(input_ids=tokens, token_type_ids=types, attention_mask=mask).logits, out.logits)
    fixture.write(os.path.join(out_dir, "expected.bin"), meta() + inputs(tokens, types, mask) + [
        ("labels", labels.numpy().astype("<i4")),
        ("logits", out.logits.numpy().astype("<f4")),
        ("loss", np.float32(out.loss.item())),
        ("hidden", out.hidden_states[-1].numpy().astype("<f4")),
    ])


def make_mlm(gen, out_dir):
    model = BertForMaskedLM(config()).eval()
    randomize(model, gen)
    m32, m64 = save(BertForMaskedLM, model, out_dir)
    tokens, types, mask = batch(gen, 99)
    targets = torch.randint(0, 99, (B, T), generator=gen)
    targets[mask == 0] = -100
    targets[0, 3] = targets[1, 0] = -100  # real tokens without a target
    picked = targets >= 0
    with torch.no_grad():
        out = m64(input_ids=tokens, token_type_ids=types, attention_mask=mask, labels=targets)
        report("mlm", m32(input_ids=tokens, token_type_ids=types, attention_mask=mask).logits[picked],
               out.logits[picked])
    fixture.write(os.path.join(out_dir, "expected.bin"), meta() + inputs(tokens, types, mask) + [
        ("targets", targets.numpy().astype("<i4")),
        ("logits", out.logits[picked].numpy().astype("<f4")),
        ("loss", np.float32(out.loss.item())),
    ])


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "hf_bert_tiny")
    gen = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)  # the models' own init, overwritten by randomize()
    make_cls(gen, os.path.join(root, "cls"))
    make_mlm(gen, os.path.join(root, "mlm"))


if __name__ == "__main__":
    main()
