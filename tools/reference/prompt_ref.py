#!/usr/bin/python3
"""PyTorch reference fixtures for tests/test_prompts.cpp: prompt tuning, P-tuning and prefix tuning as
Hugging Face PEFT computes them.

Run with Debian's interpreter (the one that has torch); it rewrites the five
fixtures below, bit for bit the same on every run:
    /usr/bin/python3 tools/reference/prompt_ref.py
Generated with torch 1.13.0a0 (Debian python3-torch, CPU), numpy 1.24.2,
Python 3.11.2, OpenBLAS 0.3.21 as libblas.so.3 (gpt2_ref.py says why that
matters); the versions are also stored in each fixture (meta.*).

    /tmp/hfvenv/bin/python tools/reference/prompt_ref.py --check-peft
also builds PEFT's PROMPT_TUNING, P_TUNING (MLP encoder) and PREFIX_TUNING
(with and without prefix_projection) on the Hugging Face models holding the
same weights, prompt tensors included, and prints how far they are from the
functional models here (float64, dropout off): logits, loss and the gradient
of every tensor, base weights included. The venv is lora_ref.py's (peft 0.8.2,
transformers 4.36.2, accelerate 0.25.0 over Debian's torch). PEFT's task types:
CAUSAL_LM on GPT2LMHeadModel; SEQ_CLS on GPT2ForSequenceClassification and
BertForSequenceClassification; TOKEN_CLS on BertForMaskedLM (the prompt-learning
task that prepends type-0 token types, as SEQ_CLS does, and hands the labels,
given -100 at the virtual positions, to the model unchanged). Where minitrain
pools differently on purpose (GPT-2 classify with prepended prompts: PEFT's
Hugging Face model pools the last position, a pad token in right-padded rows,
minitrain the last real token), the check takes PEFT's final hidden states
(after ln_f), compares them at every real position, and applies the score head
at minitrain's positions to compare logits, loss and gradients. BERT classify
with prefixes pools [CLS] in both (prefixes add no positions), so there PEFT's
own logits and loss are compared, and the hidden states too.
With those versions the largest relative difference (max abs difference over
max abs value, per tensor) was 8.5e-16 (BERT classify with prefixes,
prefix.embedding.weight's gradient); logits 4.4e-16 or less, losses exact,
final hidden states at the real positions 4.7e-16 (GPT-2 classify) and
1.0e-16 (BERT classify): float64 rounding. What was found along the way:
transformers 4.36.2's BertSelfAttention does use past_key_values in an encoder
(it concatenates them in front of its keys and values), and BertEmbeddings and
GPT2Model both start the real tokens' positions at the past length, n, as
finetuning.md says; PEFT's prefix layout is [layer 0 key | layer 0 value |
layer 1 key | ...], each block head-major, as src/adapters/prompts.h's.

The models are gpt2_ref.py's and bert_ref.py's, run inside Prompts.on(), which
puts the method into their bodies (gpt2_ref.hidden, bert_ref.bert_encoder):
  prompt, ptuning  the prompts P (n, C) (the embedding, or its MLP encoding)
      are appended to the word-embedding table as rows V'..V'+n-1 (V' = the
      table's rows), and the batch the model sees starts each row with those
      ids: the prompts get positions 0..n-1, token type 0, the embedding
      LayerNorm and dropout (BERT), the real tokens positions n..n+t-1; lengths
      grow by n, targets are -1 at the virtual positions. GPT-2 classify reads
      position n+len-1, BERT's masked-LM head the positions with targets.
  prefix  the table (n, 2LC) (the embedding, or its Linear-Tanh-Linear
      reparameterisation) gives layer l its keys (columns [2lC, 2lC+C)) and
      values ([2lC+C, 2lC+2C)); they enter the attention as n rows in front of
      the sequence, visible to every query, whose own queries (zeros) are
      computed and dropped, so that the attention-probability dropout masks are
      indexed over (B, NH, n+t, n+t) as src/adapters/prompts.cpp runs the kernel; GPT-2
      stays causal among the real tokens; the real tokens take positions
      n..n+t-1; BERT pools [CLS], real position 0.
Parameters are named as src/adapters/prompts.h names them (PEFT's module names under
"prompt." / "prefix.") and drawn as PEFT initialises them: embeddings N(0, 1),
linears' weights and biases U(-1/sqrt(in), 1/sqrt(in)). Base weights are
frozen; the classification head trains (PEFT's modules_to_save: score.weight;
classifier.weight and classifier.bias, the pooler staying frozen). Each fixture
holds: config and prompt.* (method as text, n, hidden), the real batch (as the
C++ model takes it), every weight; logits, loss and the gradient of each
trainable tensor (grad.<name>) with dropout off; 10 AdamW steps on the batch
with clip_grad_norm_ over the trainable tensors before each (losses,
grad_norms, final.<name> for every tensor, the frozen ones unchanged).

tests/fixtures/prompt_gpt2_lm.bin: gpt2_ref.py's GPT-2 (LM head), prompt
    tuning, n=3, a batch of 4 x 13 (n + t = max_T); logits (B, n+t, V), the
    virtual positions' included.
tests/fixtures/prompt_gpt2_classify_ptuning.bin: the GPT-2 with a score head
    (3 labels), P-tuning, n=4, H=16, right-padded rows of 4 x 12, lengths
    12, 5, 9, 1 (pad id V-1).
tests/fixtures/prompt_gpt2_lm_prefix.bin: the GPT-2 LM, prefix tuning without
    reparameterisation, n=2, a batch of 4 x 14.
tests/fixtures/prompt_bert_classify_prefix.bin: bert_ref.py's BERT classifier
    and padded sentence-pair batch (4 x 12), prefix tuning with the
    reparameterisation, n=3, H=12; and one forward and backward with the
    model's hidden, attention and classifier dropout at 0.1 (sites as in
    bert_ref.py): dropout.logits, dropout.loss, dropout.grad.<name>.
tests/fixtures/prompt_bert_mlm.bin: bert_ref.py's BERT masked LM and its batch,
    prompt tuning, n=4 (n + t = max_T); only the prompts train.
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
from gpt2_ref import DTYPE, NO_DROPOUT, common_entries, forward_backward, lin, train  # noqa: E402

# Where each architecture's body takes the method: the module, its body function, the word and
# position embedding tables.
BODIES = {"gpt2": (gpt2_ref, "hidden", "wte.weight", "wpe.weight"),
          "bert": (bert_ref, "bert_encoder", "embeddings.word_embeddings.weight",
                   "embeddings.position_embeddings.weight")}


class Prompts:
    """One prompt method (kind "prompt", "ptuning" or "prefix", n virtual tokens, encoder width
    hidden) on a model of `layers` blocks and c channels: its tensors and what it does to the
    reference models."""

    def __init__(self, kind, n, hidden, layers, c):
        self.kind, self.n, self.hidden, self.c = kind, n, hidden, c
        group = "prefix." if kind == "prefix" else "prompt."
        self.embedding = group + "embedding.weight"
        self.width = 2 * layers * c if kind == "prefix" and not hidden else c
        # The encoder's linears (name, out, in) in the order they run, as src/adapters/prompts.cpp's linears().
        h = hidden
        if kind == "ptuning":
            self.linears = [("prompt.mlp_head.0", h, c), ("prompt.mlp_head.2", h, h), ("prompt.mlp_head.4", c, h)]
        elif kind == "prefix" and hidden:
            self.linears = [("prefix.transform.0", h, c), ("prefix.transform.2", 2 * layers * c, h)]
        else:
            self.linears = []

    def draw(self, gen):
        """The tensors as PEFT initialises them, float32: nn.Embedding N(0, 1), nn.Linear's weight
        and bias U(-1/sqrt(in), 1/sqrt(in))."""
        weights = {self.embedding: torch.randn((self.n, self.width), generator=gen)}
        for name, out, inp in self.linears:
            bound = 1.0 / math.sqrt(inp)
            weights[name + ".weight"] = (2 * torch.rand((out, inp), generator=gen) - 1) * bound
            weights[name + ".bias"] = (2 * torch.rand((out,), generator=gen) - 1) * bound
        return weights

    def encode(self, w):
        """The prompts (n, C) or the prefix table (n, 2LC): the embedding through PEFT's
        PromptEncoder (Linear, ReLU, Linear, ReLU, Linear) or PrefixEncoder (Linear, Tanh, Linear)."""
        x = w[self.embedding]
        act = torch.relu if self.kind == "ptuning" else torch.tanh
        for k, (name, _, _) in enumerate(self.linears):
            x = lin(w, x, name)
            if k + 1 < len(self.linears):
                x = act(x)
        return x

    def entries(self):
        return [("prompt.method", self.kind), ("prompt.n", self.n), ("prompt.hidden", self.hidden)]

    def seen(self, batch, first_id):
        """The batch as the model sees it: unchanged with prefixes; with prompts, each row starts
        with the virtual ids first_id..first_id+n-1 (type 0, target -1) and lengths grow by n."""
        if self.kind == "prefix":
            return batch
        b, n = batch["tokens"].shape[0], self.n
        front = {"tokens": torch.arange(first_id, first_id + n).expand(b, n),
                 "types": torch.zeros(b, n, dtype=torch.long), "targets": torch.full((b, n), -1)}
        out = {k: torch.cat([front[k], x], 1) if k in front else x for k, x in batch.items()}
        if "lengths" in batch:
            out["lengths"] = batch["lengths"] + n
        return out

    @contextlib.contextmanager
    def on(self, arch):
        """Within: the reference model of arch ("gpt2", "bert") runs with the method."""
        module, body_name, table, positions = BODIES[arch]
        body, base_attention = getattr(module, body_name), module.attention
        n, c = self.n, self.c

        def prepended(w, inputs, drop):  # the virtual ids find the prompts past the word table
            return body({**w, table: torch.cat([w[table], self.encode(w)])}, inputs, drop)

        def prefixed(w, inputs, drop):
            prefix = self.encode(w)

            def attention(qkv, visible, drop, site, nh=gpt2_ref.NH):
                l = (site - 1) // 3  # both models' attention-probability dropout sites are 1 + 3l
                b = qkv.shape[0]
                rows = torch.cat([torch.zeros(n, c, dtype=qkv.dtype), prefix[:, 2 * l * c:(2 * l + 2) * c]], 1)
                keys = torch.ones(visible.shape[:-1] + (n,), dtype=torch.bool)
                visible = torch.cat([keys, visible], -1)
                if visible.dim() == 2:  # GPT-2's causal (t, n+t): rows for the dropped prefix queries
                    visible = torch.cat([torch.ones(n, visible.shape[1], dtype=torch.bool), visible])
                return base_attention(torch.cat([rows.expand(b, n, 3 * c), qkv], 1), visible, drop, site, nh)[:, n:]

            with mock.patch.object(module, "attention", attention):
                return body({**w, positions: w[positions][n:]}, inputs, drop)

        with mock.patch.object(module, body_name, prefixed if self.kind == "prefix" else prepended):
            yield

    def loss_of(self, arch, model_loss):
        """model_loss(w, drop) -> (logits, loss) of the base model, run with the method."""
        def run(w, drop):
            with self.on(arch):
                return model_loss(w, drop)
        return run


# A fixture: the model (arch, config, base weights), the method, the real batch, model_loss(w, drop)
# -> (logits, loss) over the batch the model sees, the trained head tensors, and for --check-peft
# the Hugging Face class and PEFT's task type.
Case = collections.namedtuple("Case", "name arch prompts config batch weights model_loss heads hf_class task")


def prompt_fixture(case, weights, dropout=None):
    """The fixture's entries. dropout, if given: (the entries that set the model's dropout, its
    Dropout) for one more forward and backward with it."""
    trainable = {n: p for n, p in weights.items() if n.startswith(("prompt.", "prefix.")) or n in case.heads}
    frozen = {n: p.to(DTYPE) for n, p in weights.items() if n not in trainable}
    adapted = case.prompts.loss_of(case.arch, case.model_loss)

    def loss_of(w, drop):  # over the trainable tensors, the frozen ones fixed
        return adapted({**frozen, **w}, drop)

    meta, hyper = common_entries()
    entries = meta + [("config." + k, v) for k, v in case.config.items()] + hyper + case.prompts.entries() + \
        [(k, x.numpy().astype(np.int32)) for k, x in case.batch.items()] + \
        [(n, p.numpy()) for n, p in weights.items()] + \
        forward_backward(trainable, loss_of, NO_DROPOUT) + train(trainable, loss_of) + \
        [("final." + n, p.numpy()) for n, p in weights.items() if n not in trainable]
    if dropout:
        settings, drop = dropout
        entries += settings + forward_backward(trainable, loss_of, drop, "dropout.")
    return entries


def gpt2_lm_case(name, prompts, seed):
    """gpt2_ref's GPT-2 and a batch of n + t = max_T, targets -1 at 5 places."""
    r = gpt2_ref
    gen = torch.Generator().manual_seed(seed)
    weights = r.init_weights(gen)
    t = r.MAX_T - prompts.n
    tokens = torch.randint(0, r.V, (r.B, t), generator=gen)
    targets = torch.randint(0, r.V, (r.B, t), generator=gen)
    targets.view(-1)[torch.randperm(r.B * t, generator=gen)[:5]] = -1
    batch = {"tokens": tokens, "targets": targets}
    seen = prompts.seen(batch, r.VP)

    def model_loss(w, drop):  # logits over the real vocabulary only
        logits, loss = r.forward(w, seen["tokens"], seen["targets"], drop)
        return logits[..., :r.V], loss

    return Case(name, "gpt2", prompts, bert_ref.gpt2_config(t), batch, weights, model_loss, (), "GPT2LMHeadModel",
                "CAUSAL_LM")


def gpt2_classify_case(name, prompts, seed):
    """The GPT-2 with bert_ref's score head (3 labels), rows of n + t = max_T right-padded to lengths
    t, 5, 9, 1 with bert_ref's pad id."""
    r = gpt2_ref
    gen = torch.Generator().manual_seed(seed)
    weights = r.init_weights(gen)
    weights["score.weight"] = 0.02 * torch.randn((bert_ref.NUM_LABELS, r.C), generator=gen)
    t = r.MAX_T - prompts.n
    lengths = [t, 5, 9, 1]
    tokens = torch.full((r.B, t), bert_ref.GPT2_PAD, dtype=torch.long)
    for row, length in enumerate(lengths):
        tokens[row, :length] = torch.randint(0, bert_ref.GPT2_PAD, (length,), generator=gen)
    batch = {"tokens": tokens, "lengths": torch.tensor(lengths),
             "labels": torch.randint(0, bert_ref.NUM_LABELS, (r.B,), generator=gen)}
    seen = prompts.seen(batch, r.VP)
    return Case(name, "gpt2", prompts, bert_ref.gpt2_config(t, num_labels=bert_ref.NUM_LABELS), batch, weights,
                lambda w, _drop: bert_ref.gpt2_classify(w, seen), ("score.weight",), "GPT2ForSequenceClassification",
                "SEQ_CLS")


def bert_case(name, prompts, head, seed, hf_class, task):
    """bert_ref's BERT with its head and batch, drawn as bert_ref.bert_fixture draws them."""
    r = bert_ref
    gen = torch.Generator().manual_seed(seed)
    weights = r.draw_weights(gen, r.bert_param_shapes(head))
    batch = r.bert_batch(gen, head)
    seen = prompts.seen(batch, r.V)
    heads = ("classifier.weight", "classifier.bias") if head == "classifier" else ()
    model = r.BERT_HEADS[head]
    return Case(name, "bert", prompts, r.bert_config(head), batch, weights, lambda w, drop: model(w, seen, drop),
                heads, hf_class, task)


def gpt2_prompts(kind, n, hidden):
    return Prompts(kind, n, hidden, gpt2_ref.L, gpt2_ref.C)


def bert_prompts(kind, n, hidden):
    return Prompts(kind, n, hidden, bert_ref.L, bert_ref.C)


# Each case (its base weights and batch drawn from the seed it passes), the seed of its prompt
# tensors, and the dropout of its extra forward and backward (None: none).
CASES = [
    (lambda: gpt2_lm_case("prompt_gpt2_lm.bin", gpt2_prompts("prompt", 3, 0), 6161), 6162, None),
    (lambda: gpt2_classify_case("prompt_gpt2_classify_ptuning.bin", gpt2_prompts("ptuning", 4, 16), 6262), 6263,
     None),
    (lambda: gpt2_lm_case("prompt_gpt2_lm_prefix.bin", gpt2_prompts("prefix", 2, 0), 6363), 6364, None),
    (lambda: bert_case("prompt_bert_classify_prefix.bin", bert_prompts("prefix", 3, 12), "classifier", 6464,
                       "BertForSequenceClassification", "SEQ_CLS"), 6465, bert_ref.bert_dropout),
    (lambda: bert_case("prompt_bert_mlm.bin", bert_prompts("prompt", 4, 0), "mlm", 6565, "BertForMaskedLM",
                       "TOKEN_CLS"), 6566, None),
]


# ---- the PEFT cross-check ------------------------------------------------------------------
def check_peft(case, weights):
    """Builds PEFT's method on the Hugging Face model, with every parameter trainable so that each
    gradient can be compared, and runs bert_ref.compare_hf (float64, dropout off) against the
    reference; for the classifiers also compares the final hidden states at the real positions.
    Returns the worst relative difference."""
    import peft
    import transformers
    p, gpt2 = case.prompts, case.arch == "gpt2"
    if gpt2:
        r, cfg, body = gpt2_ref, bert_ref.hf_gpt2_config(), "transformer."
    else:
        r, cfg, body = bert_ref, bert_ref.hf_bert_config(), "bert."
    common = dict(task_type=case.task, num_virtual_tokens=p.n)
    if p.kind == "prompt":
        config = peft.PromptTuningConfig(**common)
    elif p.kind == "ptuning":
        config = peft.PromptEncoderConfig(**common, encoder_reparameterization_type="MLP",
                                          encoder_hidden_size=p.hidden)
    else:
        config = peft.PrefixTuningConfig(**common, prefix_projection=p.hidden > 0,
                                         encoder_hidden_size=p.hidden or r.C)
    model = peft.get_peft_model(getattr(transformers, case.hf_class)(cfg), config)
    for param in model.parameters():
        param.requires_grad_(True)

    def to_hf(n):
        if n.startswith(("prompt.", "prefix.")):
            return ["prompt_encoder.default." + n.split(".", 1)[1]], False
        if n.startswith(("classifier.", "score.")):  # PEFT's modules_to_save copy
            module, leaf = n.rsplit(".", 1)
            return [f"base_model.{module}.modules_to_save.default.{leaf}"], False
        hf = "base_model." + ("" if n.startswith("cls.") else body)
        if ".qkv." in n:
            return [hf + n.replace(".qkv.", f".{q}.") for q in ("query", "key", "value")], False
        return [hf + n], gpt2 and n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))

    batch = case.batch
    t = batch["tokens"].shape[1]
    inputs = dict(input_ids=batch["tokens"])
    if "lengths" in batch:
        inputs["attention_mask"] = (torch.arange(t)[None, :] < batch["lengths"][:, None]).long()
    if "types" in batch:
        inputs["token_type_ids"] = batch["types"]
    seen = p.seen(batch, r.VP if gpt2 else r.V)  # the batch as the reference model sees it
    hidden = {}  # PEFT's final hidden states at the real tokens, as hf_loss saw them

    def hf_loss(m):
        if case.hf_class == "GPT2LMHeadModel":  # the targets are already shifted: the loss is ours
            logits = m(**inputs).logits[..., :r.V]
            return logits, F.cross_entropy(logits.reshape(-1, r.V), seen["targets"].reshape(-1), ignore_index=-1)
        if case.hf_class == "BertForMaskedLM":
            targets = seen["targets"]
            out = m(**inputs, labels=torch.where(targets >= 0, targets, -100))
            return out.logits[targets >= 0], out.loss
        out = m(**inputs, output_hidden_states=True, labels=None if gpt2 else batch["labels"])
        hidden["hf"] = out.hidden_states[-1][:, -t:]
        if not gpt2:
            return out.logits, out.loss
        last = out.hidden_states[-1][torch.arange(len(seen["lengths"])), seen["lengths"] - 1]
        logits = m.base_model.score(last)  # at minitrain's position, the last real token
        return logits, F.cross_entropy(logits, batch["labels"])

    projection = ", prefix_projection" if p.kind == "prefix" and p.hidden else ""
    what = f"{case.name} ({case.hf_class}, {type(config).__name__}{projection})"
    worst = bert_ref.compare_hf(what, weights, p.loss_of(case.arch, case.model_loss), model, to_hf, hf_loss)
    if hidden:
        w = {k: x.to(DTYPE) for k, x in weights.items()}
        module, body_name, _, _ = BODIES[case.arch]
        with torch.no_grad(), p.on(case.arch):
            ours = getattr(module, body_name)(w, seen["tokens"] if gpt2 else seen, NO_DROPOUT)[:, -t:]
        real = torch.arange(t)[None, :] < batch["lengths"][:, None]
        diff = bert_ref.rel_diff(hidden["hf"].detach()[real], ours[real])
        print(f"{what}: final hidden states at the real positions {diff:.1e}")
        worst = max(worst, diff)
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check-peft", action="store_true",
                        help="also compare with Hugging Face PEFT (needs peft and transformers installed)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one summation order, so every machine writes the same bytes
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures")
    checks = []
    for make_case, seed, dropout in CASES:
        case = make_case()
        weights = {**case.weights, **case.prompts.draw(torch.Generator().manual_seed(seed))}
        entries = prompt_fixture(case, weights, dropout() if dropout else None)
        fixture.write(os.path.join(out_dir, case.name), entries)
        bert_ref.report(case.name, entries)
        checks.append((case, weights))
    if args.check_peft:
        import peft
        import transformers
        print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")
        print(f"worst relative difference {max(check_peft(*c) for c in checks):.1e}")


if __name__ == "__main__":
    main()
