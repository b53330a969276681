#!/usr/bin/python3
"""PyTorch reference fixtures for tests/test_bert.cpp and tests/test_gpt2_classify.cpp.

Run with Debian's interpreter (the one that has torch); it rewrites the three
fixtures below, bit for bit the same on every run:
    /usr/bin/python3 tools/reference/bert_ref.py
Generated with torch 1.13.0a0 (Debian python3-torch, CPU), numpy 1.24.2,
Python 3.11.2; the versions are also stored in each fixture (meta.*), and
OpenBLAS 0.3.21 as libblas.so.3 (gpt2_ref.py says why that matters).

    /tmp/hfvenv/bin/python tools/reference/bert_ref.py --check-hf
also runs Hugging Face's BertForSequenceClassification, BertForMaskedLM and
GPT2ForSequenceClassification (float64, dropout off) on the same weights and
batches and prints how far they are from the functional models here: logits,
loss and every gradient. The fixtures themselves never need transformers. The
venv: /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv, then
/tmp/hfvenv/bin/pip install transformers==4.36.2 (it accepts torch 1.13).
With transformers 4.36.2 the largest relative difference (max abs difference
over max abs value, per tensor) was 4.2e-16 for BERT (logits and loss 4e-17
or exact) and 6.6e-16 for GPT-2 (logits and loss exact): float64 rounding.

The models are written functionally over dicts of tensors named like the C++
parameter tables (src/models/bert.h, src/models/gpt2.h), and as in gpt2_ref.py the weights
are drawn in float32 (what the fixtures store), with biases and LayerNorm
parameters off 0 and 1, and everything is computed in float64, so a test sees
only the C++ model's own float32 rounding.

BERT (Hugging Face modeling_bert): word + position + token-type embeddings,
LayerNorm (eps 1e-12), dropout; post-LN blocks with a fused [query; key; value]
projection, bidirectional attention in which keys at positions >= lengths[b]
are invisible (padded query rows are still computed), exact-erf GELU.
Config L=2, C=32, NH=4, I=48 (not 4C, so a hard-coded 4C shows), V=53, two
token types, max_T=16; batch B=4, T=12, lengths 12, 7, 9, 3, each a sentence
pair (types 0 then 1), padding id 0 and type 0 beyond the length.

tests/fixtures/bert_classify.bin: pooler (tanh) on [CLS], dropout, classifier
    (3 labels) with bias, mean cross-entropy over the batch.
tests/fixtures/bert_mlm.bin: the masked-LM head (dense, GELU, LayerNorm, a
    decoder tied to the word embeddings plus cls.predictions.bias) at the M
    positions with a target >= 0, logits (M, V) in row-major position order,
    mean cross-entropy over those positions.
Each holds: config, batch, weights; logits, loss and every gradient
(grad.<name>) with dropout off; 10 AdamW steps on the batch with
clip_grad_norm_ before each (losses, grad_norms, final.<name>); and with
hidden, attention and classifier dropout at 0.1 (masks from the runtime's
Philox stream, gpt2_ref.Dropout): dropout.logits, dropout.loss and
dropout.grad.<name>. Dropout sites: 0 after the embedding LayerNorm, per layer
l 1+3l on the attention probabilities (B,NH,T,T), 2+3l after the attention
output dense, 3+3l after the FFN output dense; 1+3L before the classifier.

tests/fixtures/gpt2_classify.bin: gpt2_ref.py's GPT-2 config with a
    sequence-classification head as GPT2ForSequenceClassification: score.weight
    (3, C), no bias, applied to ln_f's output at each row's last real token,
    position lengths[b]-1, for right-padded rows of lengths 16, 5, 11, 1 (pad
    id V-1, which real tokens avoid so that Hugging Face finds the same
    positions). Logits (B, 3), loss, every gradient (wte's comes from the
    embedding alone: the LM head is unused) and 10 AdamW steps as above.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402
import gpt2_ref  # noqa: E402
from gpt2_ref import (DTYPE, NO_DROPOUT, Dropout, attention, common_entries, forward_backward, lin,  # noqa: E402
                      ln, train, u32_pair)

L, C, NH, I, V, TYPES, MAX_T = 2, 32, 4, 48, 53, 2, 16
B, T = 4, 12
LENGTHS = [12, 7, 9, 3]
SECOND_SENTENCE = [7, 4, 5, 2]  # where token type 1 starts in each row
NUM_LABELS = 3
LN_EPS = 1e-12

GPT2_LENGTHS = [16, 5, 11, 1]
GPT2_PAD = gpt2_ref.V - 1


# ---- BERT -------------------------------------------------------------------------------
def draw_weights(gen, shapes):
    """N(0, 0.02) matrices and embeddings; biases 0.02 N(0, 1); LayerNorm weights 1 + 0.1 N(0, 1)
    and biases 0.05 N(0, 1), so that a gradient which wrongly ignores them cannot pass."""
    weights = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=gen, dtype=torch.float32)
        if "LayerNorm" in name:
            weights[name] = 1.0 + 0.1 * noise if name.endswith(".weight") else 0.05 * noise
        else:
            weights[name] = 0.02 * noise
    return weights


def bert_param_shapes(head):
    """The C++ model's parameter table (src/models/bert.h: Hugging Face names without "bert.", a fused
    qkv per block); head is "classifier" or "mlm"."""
    shapes = {"embeddings.word_embeddings.weight": (V, C), "embeddings.position_embeddings.weight": (MAX_T, C),
              "embeddings.token_type_embeddings.weight": (TYPES, C),
              "embeddings.LayerNorm.weight": (C,), "embeddings.LayerNorm.bias": (C,)}
    for l in range(L):
        e = f"encoder.layer.{l}."
        shapes.update({
            e + "attention.self.qkv.weight": (3 * C, C), e + "attention.self.qkv.bias": (3 * C,),
            e + "attention.output.dense.weight": (C, C), e + "attention.output.dense.bias": (C,),
            e + "attention.output.LayerNorm.weight": (C,), e + "attention.output.LayerNorm.bias": (C,),
            e + "intermediate.dense.weight": (I, C), e + "intermediate.dense.bias": (I,),
            e + "output.dense.weight": (C, I), e + "output.dense.bias": (C,),
            e + "output.LayerNorm.weight": (C,), e + "output.LayerNorm.bias": (C,),
        })
    if head == "classifier":
        shapes.update({"pooler.dense.weight": (C, C), "pooler.dense.bias": (C,),
                       "classifier.weight": (NUM_LABELS, C), "classifier.bias": (NUM_LABELS,)})
    else:
        p = "cls.predictions."
        shapes.update({p + "transform.dense.weight": (C, C), p + "transform.dense.bias": (C,),
                       p + "transform.LayerNorm.weight": (C,), p + "transform.LayerNorm.bias": (C,),
                       p + "bias": (V,)})
    return shapes


def bert_encoder(w, batch, drop):
    """The last block's output (B,T,C)."""
    ids, types, lengths = batch["tokens"], batch["types"], batch["lengths"]
    t = ids.shape[1]
    visible = (torch.arange(t)[None, :] < lengths[:, None])[:, None, None, :]  # keys of each row
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t] + \
        w["embeddings.token_type_embeddings.weight"][types]
    x = drop(ln(w, x, "embeddings.LayerNorm", LN_EPS), 0)
    for l in range(L):
        e = f"encoder.layer.{l}."
        y = attention(lin(w, x, e + "attention.self.qkv"), visible, drop, 1 + 3 * l, NH)
        y = drop(lin(w, y, e + "attention.output.dense"), 2 + 3 * l)
        x = ln(w, x + y, e + "attention.output.LayerNorm", LN_EPS)
        y = drop(lin(w, F.gelu(lin(w, x, e + "intermediate.dense")), e + "output.dense"), 3 + 3 * l)
        x = ln(w, x + y, e + "output.LayerNorm", LN_EPS)
    return x


def bert_classify(w, batch, drop):
    """Logits (B, NUM_LABELS) and the mean cross-entropy against batch["labels"]."""
    pooled = torch.tanh(lin(w, bert_encoder(w, batch, drop)[:, 0], "pooler.dense"))
    logits = lin(w, drop(pooled, 1 + 3 * L), "classifier")
    return logits, F.cross_entropy(logits, batch["labels"])


def bert_mlm(w, batch, drop):
    """Logits (M, V) at the positions with a target >= 0, row-major, and their mean cross-entropy."""
    masked = batch["targets"] >= 0
    p = "cls.predictions."
    h = ln(w, F.gelu(lin(w, bert_encoder(w, batch, drop)[masked], p + "transform.dense")),
           p + "transform.LayerNorm", LN_EPS)
    logits = h @ w["embeddings.word_embeddings.weight"].t() + w[p + "bias"]
    return logits, F.cross_entropy(logits, batch["targets"][masked])


BERT_HEADS = {"classifier": bert_classify, "mlm": bert_mlm}


def bert_batch(gen, head):
    """Sentence pairs of LENGTHS real tokens (ids 1..V-1), then padding (id 0, type 0); with
    labels for the classifier, or targets at about 30% of the real positions (at least one per
    row, -1 elsewhere) for the masked LM."""
    ids = torch.zeros(B, T, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    for b, (n, second) in enumerate(zip(LENGTHS, SECOND_SENTENCE)):
        ids[b, :n] = torch.randint(1, V, (n,), generator=gen)
        types[b, second:n] = 1
    batch = {"tokens": ids, "types": types, "lengths": torch.tensor(LENGTHS)}
    if head == "classifier":
        batch["labels"] = torch.randint(0, NUM_LABELS, (B,), generator=gen)
    else:
        targets = torch.full((B, T), -1, dtype=torch.long)
        for b, n in enumerate(LENGTHS):
            picked = torch.randperm(n, generator=gen)[:max(1, round(0.3 * n))]
            targets[b, picked] = torch.randint(0, V, (len(picked),), generator=gen)
        batch["targets"] = targets
    return batch


def bert_config(head):
    """The fixture's config.* entries; num_labels for the classifier only."""
    config = dict(L=L, C=C, NH=NH, I=I, V=V, types=TYPES, max_T=MAX_T, B=B, T=T)
    if head == "classifier":
        config["num_labels"] = NUM_LABELS
    return config


def bert_dropout():
    """The entries that set the model's dropout, and its Dropout."""
    p, seed, step = gpt2_ref.PDROP, gpt2_ref.DROP_SEED, gpt2_ref.DROP_STEP
    settings = [("dropout.hidden", p), ("dropout.attn", p), ("dropout.classifier", p),
                ("dropout.seed", u32_pair(seed)), ("dropout.step", u32_pair(step))]
    return settings, Dropout(p, seed, step)


def bert_fixture(head, seed):
    """The fixture's entries, and the weights and batch for --check-hf."""
    gen = torch.Generator().manual_seed(seed)
    weights = draw_weights(gen, bert_param_shapes(head))
    batch = bert_batch(gen, head)
    model = BERT_HEADS[head]

    def loss_of(w, drop):
        return model(w, batch, drop)

    meta, hyper = common_entries()
    settings, drop = bert_dropout()
    entries = meta + [("config." + k, v) for k, v in bert_config(head).items()] + hyper + \
        [(k, x.numpy().astype(np.int32)) for k, x in batch.items()] + \
        [(n, p.numpy()) for n, p in weights.items()] + \
        forward_backward(weights, loss_of, NO_DROPOUT) + train(weights, loss_of) + settings + \
        forward_backward(weights, loss_of, drop, "dropout.")
    return entries, weights, batch


# ---- GPT-2 with a classification head ---------------------------------------------------
def gpt2_classify(w, batch):
    """gpt2_ref.hidden (dropout off), then score at position lengths[b]-1 of each row: logits
    (B, NUM_LABELS) and the mean cross-entropy against batch["labels"]."""
    tokens, lengths = batch["tokens"], batch["lengths"]
    last = gpt2_ref.hidden(w, tokens, NO_DROPOUT)[torch.arange(tokens.shape[0]), lengths - 1]
    logits = lin(w, last, "score")
    return logits, F.cross_entropy(logits, batch["labels"])


def gpt2_config(t=gpt2_ref.T, **extra):
    """gpt2_ref's GPT-2 as config.* entries, for a batch of length t."""
    r = gpt2_ref
    return dict(L=r.L, C=r.C, NH=r.NH, V=r.V, Vp=r.VP, max_T=r.MAX_T, B=r.B, T=t, **extra)


def gpt2_fixture(seed):
    gen = torch.Generator().manual_seed(seed)
    weights = gpt2_ref.init_weights(gen)
    weights["score.weight"] = 0.02 * torch.randn((NUM_LABELS, gpt2_ref.C), generator=gen, dtype=torch.float32)
    b, t = gpt2_ref.B, gpt2_ref.T
    tokens = torch.full((b, t), GPT2_PAD, dtype=torch.long)
    for row, n in enumerate(GPT2_LENGTHS):
        tokens[row, :n] = torch.randint(0, GPT2_PAD, (n,), generator=gen)
    batch = {"tokens": tokens, "lengths": torch.tensor(GPT2_LENGTHS),
             "labels": torch.randint(0, NUM_LABELS, (b,), generator=gen)}

    def loss_of(w, _drop):
        return gpt2_classify(w, batch)

    meta, hyper = common_entries()
    config = gpt2_config(num_labels=NUM_LABELS)
    entries = meta + [("config." + k, v) for k, v in config.items()] + hyper + \
        [(k, x.numpy().astype(np.int32)) for k, x in batch.items()] + \
        [(n, p.numpy()) for n, p in weights.items()] + \
        forward_backward(weights, loss_of, NO_DROPOUT) + train(weights, loss_of)
    return entries, weights, batch


# ---- the Hugging Face cross-check -------------------------------------------------------
def rel_diff(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def compare_hf(what, weights, loss_of, hf_model, to_hf, hf_loss):
    """Runs both models in float64 with dropout off and prints the worst relative differences;
    returns the worst. to_hf(name) gives the Hugging Face parameters that one of ours splits
    into along dim 0 (three for a fused qkv) and whether they are stored transposed (Conv1D);
    hf_loss(model) returns (logits, loss)."""
    w = {n: p.to(DTYPE, copy=True).requires_grad_() for n, p in weights.items()}
    logits, loss = loss_of(w, NO_DROPOUT)
    loss.backward()
    hf_model.to(DTYPE)
    hf_params = dict(hf_model.named_parameters())
    with torch.no_grad():
        for n, p in w.items():
            parts, transposed = to_hf(n)
            for part, x in zip(parts, p.chunk(len(parts))):
                hf_params[part].copy_(x.t() if transposed else x)
    hf_logits, hf_loss_value = hf_loss(hf_model)
    hf_loss_value.backward()

    def hf_grad(n):
        parts, transposed = to_hf(n)
        return torch.cat([hf_params[part].grad.t() if transposed else hf_params[part].grad for part in parts])

    diffs = {"logits": rel_diff(hf_logits, logits), "loss": rel_diff(hf_loss_value, loss)}
    diffs.update({"grad." + n: rel_diff(hf_grad(n), p.grad) for n, p in w.items()})
    worst = max(diffs, key=diffs.get)
    print(f"{what}: logits {diffs['logits']:.1e}, loss {diffs['loss']:.1e}, worst {worst} {diffs[worst]:.1e}")
    return diffs[worst]


def hf_bert_config():
    """Hugging Face's BertConfig for the fixtures' BERT, dropout off."""
    import transformers
    return transformers.BertConfig(vocab_size=V, hidden_size=C, num_hidden_layers=L, num_attention_heads=NH,
                                   intermediate_size=I, hidden_act="gelu", hidden_dropout_prob=0.0,
                                   attention_probs_dropout_prob=0.0, max_position_embeddings=MAX_T,
                                   type_vocab_size=TYPES, layer_norm_eps=LN_EPS, num_labels=NUM_LABELS)


def hf_gpt2_config():
    """Hugging Face's GPT2Config for gpt2_ref's GPT-2 with the classifier's labels and pad id, dropout off."""
    import transformers
    r = gpt2_ref
    return transformers.GPT2Config(vocab_size=r.VP, n_positions=r.MAX_T, n_embd=r.C, n_layer=r.L, n_head=r.NH,
                                   resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, num_labels=NUM_LABELS,
                                   pad_token_id=GPT2_PAD)


def check_hf_bert(head, weights, batch):
    import transformers
    cfg = hf_bert_config()
    if head == "classifier":
        model = transformers.BertForSequenceClassification(cfg)
    else:
        model = transformers.BertForMaskedLM(cfg)

    def to_hf(n):
        if n.startswith(("classifier.", "cls.")):
            return [n], False
        if ".qkv." in n:
            return ["bert." + n.replace(".qkv.", f".{part}.") for part in ("query", "key", "value")], False
        return ["bert." + n], False

    def hf_loss(m):
        mask = (torch.arange(T)[None, :] < batch["lengths"][:, None]).long()
        inputs = dict(input_ids=batch["tokens"], token_type_ids=batch["types"], attention_mask=mask)
        if head == "classifier":
            out = m(**inputs, labels=batch["labels"])
            return out.logits, out.loss
        targets = batch["targets"]
        out = m(**inputs, labels=torch.where(targets >= 0, targets, -100))
        return out.logits[targets >= 0], out.loss

    return compare_hf(f"BERT {head}", weights, lambda w, drop: BERT_HEADS[head](w, batch, drop), model, to_hf,
                      hf_loss)


def check_hf_gpt2(weights, batch):
    import transformers
    model = transformers.GPT2ForSequenceClassification(hf_gpt2_config())

    def to_hf(n):
        if n == "score.weight":
            return [n], False
        conv1d = n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))  # stored (in, out)
        return ["transformer." + n], conv1d

    def hf_loss(m):
        mask = (torch.arange(gpt2_ref.T)[None, :] < batch["lengths"][:, None]).long()
        out = m(input_ids=batch["tokens"], attention_mask=mask, labels=batch["labels"])
        return out.logits, out.loss

    return compare_hf("GPT-2 classify", weights, lambda w, _drop: gpt2_classify(w, batch), model, to_hf, hf_loss)


def report(name, entries):
    d = dict(entries)
    line = f"{name}: loss {float(d['loss']):.6f}, losses {d['losses'][0]:.6f} .. {d['losses'][-1]:.6f}, " \
           f"grad norms {d['grad_norms'][0]:.4f} .. {d['grad_norms'][-1]:.4f}"
    if "dropout.loss" in d:
        line += f", dropout loss {float(d['dropout.loss']):.6f}"
    print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check-hf", action="store_true",
                        help="also compare with Hugging Face transformers (needs it installed)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one summation order, so every machine writes the same bytes
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures")
    runs = {}
    for head, name, seed in (("classifier", "bert_classify.bin", 4242), ("mlm", "bert_mlm.bin", 4343)):
        entries, weights, batch = bert_fixture(head, seed)
        fixture.write(os.path.join(out_dir, name), entries)
        runs[head] = (weights, batch)
        report(name, entries)
    entries, weights, batch = gpt2_fixture(4444)
    fixture.write(os.path.join(out_dir, "gpt2_classify.bin"), entries)
    report("gpt2_classify.bin", entries)
    if args.check_hf:
        import transformers
        print(f"transformers {transformers.__version__}, torch {torch.__version__}")
        worst = max([check_hf_bert(head, *run) for head, run in runs.items()] + [check_hf_gpt2(weights, batch)])
        print(f"worst relative difference {worst:.1e}")


if __name__ == "__main__":
    main()
