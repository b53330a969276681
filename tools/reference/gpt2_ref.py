#!/usr/bin/python3
"""PyTorch reference fixtures for tests/test_gpt2.cpp.

Run with Debian's interpreter (the one that has torch); it rewrites the two
fixtures below, bit for bit the same on every run with the same BLAS:
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas /usr/bin/python3 tools/reference/gpt2_ref.py
Generated with torch 1.13.0a0 (Debian python3-torch, CPU), numpy 1.24.2,
Python 3.11.2; the versions are also stored in each fixture (meta.*). The
LD_LIBRARY_PATH picks Debian's reference BLAS (libblas3), which wrote these
two; with OpenBLAS as libblas.so.3 the key-bias gradients, exactly zero and so
pure rounding noise (~1e-20), come out other bits. tools/reference/bert_ref.py
reuses the model, the forward/backward and the training loop here.

A nanoGPT-style GPT-2 written functionally over a dict of tensors named like
the C++ model (Hugging Face GPT2Model names, matmul weights (out, in) as in
nn.Linear): pre-LN blocks, hand-written causal attention (the mask is an
argument, so BERT's bidirectional attention is the same function), GELU with
the tanh approximation, LayerNorm eps 1e-5, LM head tied to wte. The vocabulary
is padded: wte has Vp rows, rows V..Vp-1 are zero, logits have Vp columns and
the loss looks at the first V only.

Weights are drawn in float32 (what the fixture stores) and everything is then
computed in float64, so the fixture holds the exact answer for those float32
inputs rounded once to float32; the C++ model's own float32 rounding is then
the only difference a test sees.

tests/fixtures/gpt2_train.bin: config, weights, tokens, targets, logits (B,T,V),
    loss, every gradient (grad.<name>), then 10 AdamW steps on the same batch
    with clip_grad_norm_ before each: the loss and gradient norm of each step
    (taken before its update) and the final weights (final.<name>).
tests/fixtures/gpt2_dropout.bin: the same weights and batch (read from
    gpt2_train.bin) with embedding, attention and residual dropout on, the
    masks drawn from the runtime's Philox stream (src/core/rng.h) reimplemented
    here: logits, loss, every gradient.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402

L, C, NH, V, VP, MAX_T = 2, 64, 4, 101, 128, 16
B, T = 4, 16
STEPS = 10


def f32(x):
    return float(np.float32(x))


# Hyperparameters as the C++ side holds them (float32), so both use the same values.
LR, BETA1, BETA2, EPS, WEIGHT_DECAY, GRAD_CLIP = f32(1e-3), f32(0.9), f32(0.95), f32(1e-8), f32(0.1), f32(1.0)
PDROP = f32(0.1)
DROP_SEED, DROP_STEP = 0x0123456789ABCDEF, 3  # a seed with both 32-bit halves set

DTYPE = torch.float64  # the precision of every reference computation


def param_shapes():
    """The C++ model's parameter table (src/models/gpt2.cpp, GPT2::GPT2), in order."""
    shapes = {"wte.weight": (VP, C), "wpe.weight": (MAX_T, C)}
    for l in range(L):
        h = f"h.{l}."
        shapes.update({
            h + "ln_1.weight": (C,), h + "ln_1.bias": (C,),
            h + "attn.c_attn.weight": (3 * C, C), h + "attn.c_attn.bias": (3 * C,),
            h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
            h + "ln_2.weight": (C,), h + "ln_2.bias": (C,),
            h + "mlp.c_fc.weight": (4 * C, C), h + "mlp.c_fc.bias": (4 * C,),
            h + "mlp.c_proj.weight": (C, 4 * C), h + "mlp.c_proj.bias": (C,),
        })
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    return shapes


def init_weights(gen):
    """GPT-2 initialisation (N(0, 0.02), residual projections 0.02/sqrt(2L)), then
    biases and LayerNorm parameters moved off 0 and 1 so that a gradient which
    wrongly ignores them cannot pass."""
    weights = {}
    for name, shape in param_shapes().items():
        noise = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name.startswith("ln_") or ".ln_" in name:
            weights[name] = 1.0 + 0.1 * noise if name.endswith(".weight") else 0.05 * noise
        elif name.endswith(".bias"):
            weights[name] = 0.02 * noise
        else:
            std = 0.02 / math.sqrt(2 * L) if name.endswith("c_proj.weight") else 0.02
            weights[name] = std * noise
    weights["wte.weight"][V:] = 0.0
    return weights


# ---- Philox4x32-10, as in src/core/rng.h -------------------------------------------------
MASK32 = 0xFFFFFFFF


def philox_uniform(seed, step, site, n):
    """Elements 0..n-1 of the uniform stream keyed by (seed, step, site), float64 in [0, 1)."""
    q = np.arange((n + 3) // 4, dtype=np.uint64)
    c0, c1, c2, c3 = q, np.full_like(q, site), np.full_like(q, step & MASK32), np.full_like(q, step >> 32)
    k0, k1 = seed & MASK32, seed >> 32
    for _ in range(10):
        p0 = c0 * np.uint64(0xD2511F53)  # 32 x 32 -> 64 bits, exact in uint64
        p1 = c2 * np.uint64(0xCD9E8D57)
        hi0, lo0 = p0 >> np.uint64(32), p0 & np.uint64(MASK32)
        hi1, lo1 = p1 >> np.uint64(32), p1 & np.uint64(MASK32)
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0
        k0 = (k0 + 0x9E3779B9) & MASK32
        k1 = (k1 + 0xBB67AE85) & MASK32
    words = np.stack([c0, c1, c2, c3], axis=1).reshape(-1)[:n]
    return (words >> np.uint64(8)).astype(np.float64) / 16777216.0


class Dropout:
    """Dropout with the runtime's masks: element i of site s keeps iff u(seed, step, s, i) >= p,
    i the flat row-major index into the tensor; kept values are scaled by 1/(1-p)."""

    def __init__(self, p, seed, step):
        self.p, self.seed, self.step = p, seed, step

    def __call__(self, x, site):
        if self.p == 0.0:
            return x
        u = philox_uniform(self.seed, self.step, site, x.numel()).reshape(x.shape)
        keep = torch.from_numpy(u >= self.p).to(x.dtype)
        return x * keep / (1.0 - self.p)


NO_DROPOUT = Dropout(0.0, 0, 0)


# ---- the model --------------------------------------------------------------------------
def ln(w, x, name, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1],), w[name + ".weight"], w[name + ".bias"], eps)


def lin(w, x, name):
    return F.linear(x, w[name + ".weight"], w.get(name + ".bias"))


def causal(t):
    """The mask for attention() under which query i sees keys 0..i."""
    return torch.tril(torch.ones(t, t, dtype=torch.bool))


def attention(qkv, visible, drop, site, nh=NH):
    """Self-attention on packed qkv (B,T,3C) with nh heads: softmax(q k^T / sqrt(hs)) v per head,
    query i seeing key j iff visible[..., i, j] (broadcast to (B,nh,T,T)); dropout on the
    probabilities (B,nh,T,T)."""
    b, t, c = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
    hs = c // nh
    q, k, v = (x.view(b, t, nh, hs).transpose(1, 2) for x in qkv.split(c, dim=2))
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
    att = att.masked_fill(~visible, float("-inf")).softmax(dim=-1)
    att = drop(att, site)
    return (att @ v).transpose(1, 2).reshape(b, t, c)


def hidden(w, tokens, drop):
    """The embeddings, the L blocks and ln_f: the (B,T,C) that a head reads."""
    t = tokens.shape[1]
    # Dropout sites as in src/models/gpt2.cpp: 0 after the embeddings, then 1+3l, 2+3l, 3+3l.
    x = drop(w["wte.weight"][tokens] + w["wpe.weight"][:t], 0)
    for l in range(L):
        h = f"h.{l}."
        y = attention(lin(w, ln(w, x, h + "ln_1"), h + "attn.c_attn"), causal(t), drop, 1 + 3 * l)
        x = x + drop(lin(w, y, h + "attn.c_proj"), 2 + 3 * l)
        y = F.gelu(lin(w, ln(w, x, h + "ln_2"), h + "mlp.c_fc"), approximate="tanh")
        x = x + drop(lin(w, y, h + "mlp.c_proj"), 3 + 3 * l)
    return ln(w, x, "ln_f")


def forward(w, tokens, targets, drop):
    """Returns logits (B,T,Vp) and the mean cross-entropy over targets != -1."""
    logits = hidden(w, tokens, drop) @ w["wte.weight"].t()
    loss = F.cross_entropy(logits[..., :V].reshape(-1, V), targets.reshape(-1), ignore_index=-1)
    return logits, loss


def to_f32(x):
    return x.detach().to(torch.float32, copy=True).numpy()


def forward_backward(weights, loss_of, drop, prefix=""):
    """Fixture entries <prefix>logits, <prefix>loss and <prefix>grad.<name> for every tensor;
    loss_of(w, drop) returns (the logits to store, mean loss)."""
    w = {n: p.to(DTYPE, copy=True).requires_grad_() for n, p in weights.items()}
    logits, loss = loss_of(w, drop)
    loss.backward()
    entries = [(prefix + "logits", to_f32(logits)), (prefix + "loss", np.float32(loss.item()))]
    return entries + [(prefix + "grad." + n, to_f32(p.grad)) for n, p in w.items()]


def train(weights, loss_of):
    """STEPS AdamW steps on one batch (loss_of as above, dropout off), clipping the global
    gradient norm before each. The tensors with two dimensions (embeddings and matmul weights)
    take weight decay, as the C++ parameter tables mark them; biases and LayerNorm parameters
    do not."""
    w = {n: p.to(DTYPE, copy=True).requires_grad_() for n, p in weights.items()}
    opt = torch.optim.AdamW([{"params": [p for p in w.values() if p.dim() == 2], "weight_decay": WEIGHT_DECAY},
                             {"params": [p for p in w.values() if p.dim() != 2], "weight_decay": 0.0}],
                            lr=LR, betas=(BETA1, BETA2), eps=EPS)
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        _, loss = loss_of(w, NO_DROPOUT)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(w.values()), GRAD_CLIP).item())
        losses.append(loss.item())
        opt.step()
    return [("losses", np.array(losses, dtype=np.float32)), ("grad_norms", np.array(norms, dtype=np.float32))] + \
           [("final." + n, to_f32(p)) for n, p in w.items()]


def common_entries():
    """The versions (meta.*) and the optimizer settings (adamw.*) that every fixture stores."""
    meta = [("meta.torch", torch.__version__), ("meta.numpy", np.__version__)]
    hyper = [("adamw." + k, v) for k, v in
             dict(lr=LR, beta1=BETA1, beta2=BETA2, eps=EPS, weight_decay=WEIGHT_DECAY,
                  grad_clip=GRAD_CLIP).items()] + [("adamw.steps", STEPS)]
    return meta, hyper


def u32_pair(x):
    """A uint64 as two int32 words (low, high), bit for bit."""
    return np.array([x & MASK32, x >> 32], dtype=np.uint32).view(np.int32)


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures")
    gen = torch.Generator().manual_seed(1337)
    weights = init_weights(gen)
    tokens = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets.view(-1)[torch.randperm(B * T, generator=gen)[:6]] = -1

    meta, hyper = common_entries()
    config = [("config." + k, v) for k, v in
              dict(L=L, C=C, NH=NH, V=V, Vp=VP, max_T=MAX_T, B=B, T=T).items()]
    batch = [("tokens", tokens.numpy().astype(np.int32)), ("targets", targets.numpy().astype(np.int32))]
    params = [(n, p.numpy()) for n, p in weights.items()]

    def loss_of(w, drop):  # logits over the real vocabulary only
        logits, loss = forward(w, tokens, targets, drop)
        return logits[..., :V], loss

    train_entries = meta + config + hyper + batch + params + \
        forward_backward(weights, loss_of, NO_DROPOUT) + train(weights, loss_of)
    fixture.write(os.path.join(out_dir, "gpt2_train.bin"), train_entries)

    dropout = [("dropout.embd", PDROP), ("dropout.attn", PDROP), ("dropout.resid", PDROP),
               ("dropout.seed", u32_pair(DROP_SEED)), ("dropout.step", u32_pair(DROP_STEP))]
    dropout_entries = meta + dropout + \
        forward_backward(weights, loss_of, Dropout(PDROP, DROP_SEED, DROP_STEP))
    fixture.write(os.path.join(out_dir, "gpt2_dropout.bin"), dropout_entries)

    for name, entries in (("train", train_entries), ("dropout", dropout_entries)):
        d = dict(entries)
        print(f"{name}: loss {float(d['loss']):.6f}", end="")
        if "losses" in d:
            print(f", losses {d['losses'][0]:.6f} .. {d['losses'][-1]:.6f}, "
                  f"grad norms {d['grad_norms'][0]:.4f} .. {d['grad_norms'][-1]:.4f}", end="")
        print()


if __name__ == "__main__":
    main()
