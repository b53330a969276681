#!/usr/bin/python3
"""PyTorch reference fixtures for tests/test_lora.cpp: LoRA as Hugging Face PEFT computes it.

Run with Debian's interpreter (the one that has torch); it rewrites the four
fixtures below, bit for bit the same on every run:
    /usr/bin/python3 tools/reference/lora_ref.py
Generated with torch 1.13.0a0 (Debian python3-torch, CPU), numpy 1.24.2,
Python 3.11.2, OpenBLAS 0.3.21 as libblas.so.3 (gpt2_ref.py says why that
matters); the versions are also stored in each fixture (meta.*).

    /tmp/hfvenv/bin/python tools/reference/lora_ref.py --check-peft
also builds PEFT's LoRA on the Hugging Face models (GPT2LMHeadModel,
GPT2ForSequenceClassification, BertForSequenceClassification, BertForMaskedLM)
holding the same weights, adapters included, and prints how far they are from
the functional models here (float64): logits, loss and the gradient of every
tensor, base weights included. The venv is bert_ref.py's, plus
    /tmp/hfvenv/bin/pip install --no-deps peft==0.8.2 accelerate==0.25.0
(--no-deps: Debian's torch calls itself 1.13.0a0, which pip does not count as
>= 1.13, so it would pull a torch 2 into the venv; peft 0.7.1 installs the same
way but has no use_rslora, which fixture 2 needs). With torch 1.13.0a0,
transformers 4.36.2, peft 0.8.2 and accelerate 0.25.0 the largest relative
difference (max abs difference over max abs value, per tensor) was 1.4e-15
(GPT-2 LM, h.0.ln_2.weight's gradient), 7.8e-16 with the LoRA dropout masks
below put into PEFT's lora_dropout modules (BERT classifier); logits 2.7e-16
or less, losses exact: float64 rounding. The check stops unless PEFT adapted
exactly the modules listed below. One naming difference showed: PEFT matches a
target by suffix, so its "output.dense" adapts BERT's attention.output.dense
too; the check names the FFN's output.dense alone by a regular expression,
which is what minitrain's "output.dense" means.

The models are gpt2_ref.py's and bert_ref.py's. They call lin() for every
projection, and Lora.adapters_on() puts a lin() that adds the LoRA terms in
its place:
    y = x W^T + b + s * dropout(x) A^T B^T,   s = alpha/r (rsLoRA: alpha/sqrt(r))
A (r, in), B (width, r); an adapter may cover a block of output columns of a
wider layer (BERT's query, key and value each own a third of the fused qkv).
Adapters are named as src/adapters/lora.h names them ("h.0.attn.c_attn.lora_A.weight",
"encoder.layer.1.attention.self.query.lora_B.weight") and counted k = 0, 1, ...
layer by layer, each layer's in lora_sites' order; adapter k's dropout mask is
the runtime's Philox stream (gpt2_ref.Dropout) at site 0x100000 + k over its
(b*t, in) input, with the model's seed and step.

As PEFT initialises them, A ~ U(-1/sqrt(in), 1/sqrt(in)); B is not PEFT's zero
but 0.02 N(0, 1), so that dA and the adapters' effect on the logits are not
zero. Base weights are frozen; the classification head trains (PEFT's
modules_to_save: score.weight; classifier.weight and classifier.bias, the
pooler staying frozen). Each fixture holds: config and lora.* (r, alpha,
rslora, targets as comma-separated text), batch, every weight; logits, loss
and the gradient of each trainable tensor (grad.<name>) with dropout off; 10
AdamW steps on the batch with clip_grad_norm_ over the trainable tensors
before each (losses, grad_norms, final.<name> for every tensor, the frozen
ones unchanged).

tests/fixtures/lora_gpt2_lm.bin: gpt2_train.bin's GPT-2, weights and batch;
    LoRA on c_attn, attn.c_proj, c_fc and mlp.c_proj, r=4, alpha=8.
tests/fixtures/lora_gpt2_classify.bin: gpt2_classify.bin's GPT-2 (score head,
    3 labels, right-padded rows), weights and batch; LoRA on c_attn, r=4,
    alpha=8, rsLoRA (s = 4, not 2).
tests/fixtures/lora_bert_classify.bin: bert_classify.bin's BERT, weights and
    batch; LoRA on query, value (PEFT's default) and intermediate.dense, r=4,
    alpha=16; and one forward and backward with the LoRA dropout at 0.1 and
    the model's hidden, attention and classifier dropout at 0.1 (sites as in
    bert_ref.py): dropout.logits, dropout.loss, dropout.grad.<name>.
tests/fixtures/lora_bert_mlm.bin: bert_mlm.bin's BERT, weights and batch; LoRA
    on key and output.dense (the FFN's), r=2, alpha=3 (s = 1.5); only the
    adapters train.
"""
import argparse
import collections
import contextlib
import math
import os
import sys
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import fixture  # noqa: E402
import gpt2_ref  # noqa: E402
from gpt2_ref import DTYPE, NO_DROPOUT, Dropout, common_entries, forward_backward, train  # noqa: E402

LORA_SITE_BASE = 0x100000  # the first adapter's dropout site, apart from the models' own
LORA_PDROP = gpt2_ref.PDROP

# An adaptable projection of a block, as src/adapters/lora.cpp's lora_sites: PEFT's target name, the Hugging
# Face module path, the reference's base layer (lin's name argument), which output columns of it
# [col, col + width) the adapter covers, and its input channels.
Site = collections.namedtuple("Site", "module path base col width inp")


def lora_sites(arch, c, i):
    if arch == "gpt2":
        return [Site("c_attn", "attn.c_attn", "attn.c_attn", 0, 3 * c, c),
                Site("attn.c_proj", "attn.c_proj", "attn.c_proj", 0, c, c),
                Site("c_fc", "mlp.c_fc", "mlp.c_fc", 0, 4 * c, c),
                Site("mlp.c_proj", "mlp.c_proj", "mlp.c_proj", 0, c, 4 * c)]
    qkv = "attention.self.qkv"
    return [Site("query", "attention.self.query", qkv, 0, c, c),
            Site("key", "attention.self.key", qkv, c, c, c),
            Site("value", "attention.self.value", qkv, 2 * c, c, c),
            Site("attention.output.dense", "attention.output.dense", "attention.output.dense", 0, c, c),
            Site("intermediate.dense", "intermediate.dense", "intermediate.dense", 0, i, c),
            Site("output.dense", "output.dense", "output.dense", 0, c, i)]


class Lora:
    """One model's adapters: the config, and the adapters in the runtime's order, each a Site whose
    path and base carry its block's prefix, with its dropout site id."""

    def __init__(self, arch, r, alpha, rslora, targets, layers, c, i):
        self.arch, self.r, self.alpha, self.rslora, self.targets = arch, r, alpha, rslora, targets
        self.scaling = alpha / math.sqrt(r) if rslora else alpha / r
        prefix = "h.{}." if arch == "gpt2" else "encoder.layer.{}."
        self.adapters = []
        for l in range(layers):
            for s in lora_sites(arch, c, i):
                if s.module in targets:
                    p = prefix.format(l)
                    site = LORA_SITE_BASE + len(self.adapters)
                    self.adapters.append((s._replace(path=p + s.path, base=p + s.base), site))

    def draw(self, gen):
        """A as PEFT draws it, B nonzero (see the header), in float32."""
        weights = {}
        for s, _ in self.adapters:
            bound = 1.0 / math.sqrt(s.inp)
            weights[s.path + ".lora_A.weight"] = (2 * torch.rand((self.r, s.inp), generator=gen) - 1) * bound
            weights[s.path + ".lora_B.weight"] = 0.02 * torch.randn((s.width, self.r), generator=gen)
        return weights

    def entries(self):
        return [("lora.r", self.r), ("lora.alpha", float(self.alpha)), ("lora.rslora", int(self.rslora)),
                ("lora.targets", ",".join(self.targets))]

    @contextlib.contextmanager
    def adapters_on(self, drop):
        """Within: the reference models' projections add the adapters, with drop on their inputs."""
        base_lin = gpt2_ref.lin
        by_base = collections.defaultdict(list)
        for s, site in self.adapters:
            by_base[s.base].append((s, site))

        def lin(w, x, name):
            y = base_lin(w, x, name)
            for s, site in by_base[name]:
                u = drop(x, site) @ w[s.path + ".lora_A.weight"].t() * self.scaling
                y = y + F.pad(u @ w[s.path + ".lora_B.weight"].t(), (s.col, y.shape[-1] - s.col - s.width))
            return y

        with mock.patch.object(gpt2_ref, "lin", lin), mock.patch.object(bert_ref, "lin", lin):
            yield


def with_adapters(lora, model_loss, lora_drop):
    """model_loss(w, drop) -> (logits, loss) of the base model, as a loss_of with the adapters."""
    def loss_of(w, drop):
        with lora.adapters_on(lora_drop):
            return model_loss(w, drop)
    return loss_of


def lora_fixture(lora, config, batch, base_weights, model_loss, heads, seed, dropout=None):
    """The fixture's entries, and all its weights (base and adapters). heads: the base tensors that
    train. dropout, if given: (the entries that set the model's dropout, its Dropout) for one more
    forward and backward with that dropout and the LoRA dropout at LORA_PDROP."""
    weights = {**base_weights, **lora.draw(torch.Generator().manual_seed(seed))}
    trainable = {n: p for n, p in weights.items() if ".lora_" in n or n in heads}
    frozen = {n: p.to(DTYPE) for n, p in weights.items() if n not in trainable}

    def loss_of(lora_drop):  # over the trainable tensors, the frozen ones fixed
        adapted = with_adapters(lora, model_loss, lora_drop)
        return lambda w, drop: adapted({**frozen, **w}, drop)

    meta, hyper = common_entries()
    entries = meta + [("config." + k, v) for k, v in config.items()] + hyper + lora.entries() + \
        [(k, x.numpy().astype(np.int32)) for k, x in batch.items()] + \
        [(n, p.numpy()) for n, p in weights.items()] + \
        forward_backward(trainable, loss_of(NO_DROPOUT), NO_DROPOUT) + train(trainable, loss_of(NO_DROPOUT)) + \
        [("final." + n, p.numpy()) for n, p in weights.items() if n not in trainable]
    if dropout:
        settings, drop = dropout
        lora_drop = Dropout(LORA_PDROP, drop.seed, drop.step)
        entries += settings + [("dropout.lora", LORA_PDROP)] + \
            forward_backward(trainable, loss_of(lora_drop), drop, "dropout.")
    return entries, weights


def gpt2_lm_case():
    """gpt2_train.bin's weights and batch, drawn as gpt2_ref.main draws them."""
    r = gpt2_ref
    gen = torch.Generator().manual_seed(1337)
    weights = r.init_weights(gen)
    tokens = torch.randint(0, r.V, (r.B, r.T), generator=gen)
    targets = torch.randint(0, r.V, (r.B, r.T), generator=gen)
    targets.view(-1)[torch.randperm(r.B * r.T, generator=gen)[:6]] = -1

    def model_loss(w, drop):  # logits over the real vocabulary only
        logits, loss = r.forward(w, tokens, targets, drop)
        return logits[..., :r.V], loss

    lora = Lora("gpt2", 4, 8, False, ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"], r.L, r.C, 4 * r.C)
    batch = {"tokens": tokens, "targets": targets}
    return lora, bert_ref.gpt2_config(), batch, weights, model_loss, ()


def gpt2_classify_case():
    _, weights, batch = bert_ref.gpt2_fixture(4444)  # gpt2_classify.bin's weights and batch
    r = gpt2_ref
    lora = Lora("gpt2", 4, 8, True, ["c_attn"], r.L, r.C, 4 * r.C)
    config = bert_ref.gpt2_config(num_labels=bert_ref.NUM_LABELS)
    return lora, config, batch, weights, lambda w, _drop: bert_ref.gpt2_classify(w, batch), ("score.weight",)


def bert_case(head, seed, r, alpha, targets, heads):
    """bert_classify.bin's or bert_mlm.bin's weights and batch, drawn as bert_ref.bert_fixture does."""
    gen = torch.Generator().manual_seed(seed)
    weights = bert_ref.draw_weights(gen, bert_ref.bert_param_shapes(head))
    batch = bert_ref.bert_batch(gen, head)
    model = bert_ref.BERT_HEADS[head]
    lora = Lora("bert", r, alpha, False, targets, bert_ref.L, bert_ref.C, bert_ref.I)
    return lora, bert_ref.bert_config(head), batch, weights, lambda w, drop: model(w, batch, drop), heads


# name, case, the LoRA adapter seed, dropout, the Hugging Face class for --check-peft.
CASES = [
    ("lora_gpt2_lm.bin", gpt2_lm_case, 5151, None, "GPT2LMHeadModel"),
    ("lora_gpt2_classify.bin", gpt2_classify_case, 5252, None, "GPT2ForSequenceClassification"),
    ("lora_bert_classify.bin",
     lambda: bert_case("classifier", 4242, 4, 16, ["query", "value", "intermediate.dense"],
                       ("classifier.weight", "classifier.bias")),
     5353, bert_ref.bert_dropout, "BertForSequenceClassification"),
    ("lora_bert_mlm.bin", lambda: bert_case("mlm", 4343, 2, 3, ["key", "output.dense"], ()), 5454, None,
     "BertForMaskedLM"),
]


# ---- the PEFT cross-check ------------------------------------------------------------------
class SiteDropout(torch.nn.Module):
    """PEFT's lora_dropout module with the runtime's mask for one adapter."""

    def __init__(self, drop, site):
        super().__init__()
        self.drop, self.site = drop, site

    def forward(self, x):
        return self.drop(x, self.site)


def check_peft(name, hf_class, lora, batch, weights, model_loss, lora_drop):
    """Builds PEFT's LoRA on the Hugging Face model, with every parameter trainable so that each
    gradient can be compared, and runs bert_ref.compare_hf (float64, model dropout off) against
    the reference with the adapters; lora_drop goes into PEFT's lora_dropout modules. Returns
    the worst relative difference."""
    import peft
    import transformers
    gpt2 = lora.arch == "gpt2"
    if gpt2:
        r, cfg, body = gpt2_ref, bert_ref.hf_gpt2_config(), "transformer."
    else:
        r, cfg, body = bert_ref, bert_ref.hf_bert_config(), "bert."
    adapted = {body + s.path for s, _ in lora.adapters}
    # A regular expression naming exactly our modules: PEFT's suffix match of "output.dense" would
    # also take attention.output.dense.
    targets = "|".join(m.replace(".", r"\.") for m in sorted(adapted))
    task = {"GPT2LMHeadModel": "CAUSAL_LM", "GPT2ForSequenceClassification": "SEQ_CLS",
            "BertForSequenceClassification": "SEQ_CLS"}.get(hf_class)
    config = peft.LoraConfig(task_type=task, r=lora.r, lora_alpha=lora.alpha, lora_dropout=0.0,
                             target_modules=targets, fan_in_fan_out=gpt2, use_rslora=lora.rslora)
    model = peft.get_peft_model(getattr(transformers, hf_class)(cfg), config)
    prefix = "base_model.model."
    found = {n[len(prefix):] for n, m in model.named_modules() if hasattr(m, "lora_A") and n.startswith(prefix)}
    if found != adapted:
        raise SystemExit(f"{name}: PEFT adapted {sorted(found)}, expected {sorted(adapted)}")
    for s, site in lora.adapters:
        model.get_submodule(prefix + body + s.path).lora_dropout["default"] = SiteDropout(lora_drop, site)
    for p in model.parameters():
        p.requires_grad_(True)
    params = dict(model.named_parameters())

    def peft_name(hf):  # where PEFT put a Hugging Face parameter: wrapped, or kept for saving
        module, leaf = hf.rsplit(".", 1)
        for wrapped in ("", ".base_layer", ".modules_to_save.default"):
            if prefix + module + wrapped + "." + leaf in params:
                return prefix + module + wrapped + "." + leaf
        raise KeyError(hf)

    def to_hf(n):
        if ".lora_" in n:
            return [prefix + body + n.replace(".weight", ".default.weight")], False
        if n.startswith(("classifier.", "cls.", "score.")):
            return [peft_name(n)], False
        if ".qkv." in n:
            return [peft_name(body + n.replace(".qkv.", f".{q}.")) for q in ("query", "key", "value")], False
        return [peft_name(body + n)], gpt2 and n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))

    def hf_loss(m):
        if gpt2 and "labels" not in batch:  # the targets are already shifted: the loss is ours
            logits = m(input_ids=batch["tokens"]).logits[..., :r.V]
            return logits, F.cross_entropy(logits.reshape(-1, r.V), batch["targets"].reshape(-1), ignore_index=-1)
        t = batch["tokens"].shape[1]
        inputs = dict(input_ids=batch["tokens"], attention_mask=(torch.arange(t)[None, :] <
                                                                 batch["lengths"][:, None]).long())
        if not gpt2:
            inputs["token_type_ids"] = batch["types"]
        if "labels" in batch:
            out = m(**inputs, labels=batch["labels"])
            return out.logits, out.loss
        targets = batch["targets"]
        out = m(**inputs, labels=torch.where(targets >= 0, targets, -100))
        return out.logits[targets >= 0], out.loss

    what = f"{name} ({hf_class}{', LoRA dropout' if lora_drop.p else ''})"
    return bert_ref.compare_hf(what, weights, with_adapters(lora, model_loss, lora_drop), model, to_hf, hf_loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check-peft", action="store_true",
                        help="also compare with Hugging Face PEFT (needs peft and transformers installed)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one summation order, so every machine writes the same bytes
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures")
    checks = []
    for name, case, seed, dropout, hf_class in CASES:
        lora, config, batch, base_weights, model_loss, heads = case()
        entries, weights = lora_fixture(lora, config, batch, base_weights, model_loss, heads, seed,
                                        dropout() if dropout else None)
        fixture.write(os.path.join(out_dir, name), entries)
        bert_ref.report(name, entries)
        checks.append((name, hf_class, lora, batch, weights, model_loss, NO_DROPOUT))
        if dropout:
            drop = dropout()[1]
            checks.append((name, hf_class, lora, batch, weights, model_loss,
                           Dropout(LORA_PDROP, drop.seed, drop.step)))
    if args.check_peft:
        import peft
        import transformers
        print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")
        print(f"worst relative difference {max(check_peft(*c) for c in checks):.1e}")


if __name__ == "__main__":
    main()
