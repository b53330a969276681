#!/usr/bin/env python3
"""A tiny Hugging Face GPT-2 folder and its logits, for tests/test_convert.cpp.

Needs Hugging Face transformers, which is not a Debian package; a venv that
sees Debian's torch is enough:
    /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv
    /tmp/hfvenv/bin/pip install transformers==4.36.2
    /tmp/hfvenv/bin/python tools/reference/make_hf_gpt2_fixture.py
Generated with transformers 4.36.2, safetensors 0.8.0, huggingface_hub
0.36.2, tokenizers 0.15.2 (PyPI), torch 1.13.0a0 and numpy 1.24.2 (Debian
python3-torch, python3-numpy, CPU), Python 3.11.2; the versions are also
stored in expected.bin (meta.*). Every run writes the same bytes.

tests/fixtures/hf_gpt2_tiny/ gets what GPT2LMHeadModel.save_pretrained writes
(config.json, generation_config.json, model.safetensors) for a random model
with n_layer 2, n_embd 32, n_head 2, vocab_size 101, n_positions 16, and
expected.bin (tools/reference/fixture.py format): tokens (B, T) int32 and
logits (B, T, V) float32 for B = 2, T = 8.

The logits come from transformers' own forward run in float64 on the float32
weights of the saved file, rounded once to float32, so a test sees only its
own float32 rounding. Every parameter is drawn at a scale that gives logits
of order 1 (a default GPT-2 init would leave them near 0, where a wrong
transpose could hide), with LayerNorm weights off 1 and biases off 0.
"""
import os
import sys

import numpy as np
import safetensors
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402

B, T = 2, 8
SEED = 20240611


def random_model():
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=101, n_positions=16)
    model = GPT2LMHeadModel(config).eval()
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.3 * noise)
    return model, gen


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures",
                           "hf_gpt2_tiny")
    os.makedirs(out_dir, exist_ok=True)
    model, gen = random_model()
    model.save_pretrained(out_dir)

    # Reload what was written, so the logits belong to the file's weights exactly.
    saved = GPT2LMHeadModel.from_pretrained(out_dir).eval()
    V = saved.config.vocab_size
    tokens = torch.randint(0, V, (B, T), generator=gen)
    tokens[0, 0], tokens[1, -1] = V - 1, 0  # both ends of the vocabulary
    with torch.no_grad():
        want = saved.double()(tokens).logits
        got32 = GPT2LMHeadModel.from_pretrained(out_dir).eval()(tokens).logits.double()
    print("transformers float32 vs float64 logits: max abs err / max abs ref =",
          float((got32 - want).abs().max() / want.abs().max()))

    meta = [("meta.transformers", transformers.__version__), ("meta.torch", torch.__version__),
            ("meta.safetensors", safetensors.__version__), ("meta.numpy", np.__version__)]
    fixture.write(os.path.join(out_dir, "expected.bin"), meta + [
        ("tokens", tokens.numpy().astype("<i4")),
        ("logits", want.numpy().astype("<f4")),
    ])


if __name__ == "__main__":
    main()
