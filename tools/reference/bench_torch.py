#!/usr/bin/python3
"""PyTorch peer for `bin/bench --torch`: the same GPT-2 training step
(forward + backward + AdamW with clipping), median ms over timed steps.

Run with Debian's python3-torch (1.13, CPU) under OMP_WAIT_POLICY=PASSIVE:
without it PyTorch's OpenMP threads spin against OpenBLAS's on the 2 cores.
bin/bench sets that and passes the config; by hand:
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/reference/bench_torch.py --L 4 --C 128 --NH 4 \
        --V 256 --Vp 256 --max-T 128 --B 16 --T 128
Prints one line: "torch <name> <ms> ms/step <tok/s> tok/s (...)".

Debian's torch calls whatever libblas.so.3 the alternatives system points to:
the reference BLAS unless an optimised one is installed
(apt-get install libopenblas0-pthread). The line names the BLAS that was
loaded, so a reference-BLAS figure cannot pass for a tuned one.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines here set so that
old OpenBLAS builds do not crash, pin OpenBLAS to slow kernels (its matmuls
ran at ~15 GFLOP/s on this 2-core Zen 5): the script starts itself again
without them, before OpenBLAS loads, and the line names the kernel
(OpenBLAS's core type, from threadpoolctl) that ran.
"""
import argparse
import math
import os
import sys
import time

if "OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ:
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(name, None)
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x, causal):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (y.view(b, t, self.NH, c // self.NH).transpose(1, 2) for y in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.NH))
        att = att.masked_fill(causal[:t, :t], float("-inf")).softmax(dim=-1)
        x = x + self.attn_proj((att @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, C, NH, Vp, max_T):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(Vp, C), nn.Embedding(max_T, C)
        self.blocks = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.register_buffer("causal", ~torch.tril(torch.ones(max_T, max_T, dtype=torch.bool)))

    def forward(self, idx, targets, V):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x, self.causal)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied LM head
        return F.cross_entropy(logits[..., :V].reshape(-1, V), targets.reshape(-1))


def loaded_blas():
    """The BLAS library mapped into this process (after torch has run a matmul)."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.lower() and ".so" in line}
    return ", ".join(sorted(os.path.basename(os.path.dirname(p)) + "/" + os.path.basename(p) for p in libs)) or "none"


def blas_kernel():
    """OpenBLAS's core type and version as threadpoolctl reports them, or why it cannot."""
    try:
        import threadpoolctl
    except ImportError:
        return "kernel unknown: no threadpoolctl (apt-get install python3-threadpoolctl)"
    infos = [i for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
    if not infos:
        return "kernel: no OpenBLAS"
    i = infos[0]
    return f"OpenBLAS {i.get('version')} kernel {i.get('architecture')}, {i.get('num_threads')} threads"


def main():
    p = argparse.ArgumentParser()
    for name in ("L", "C", "NH", "V", "Vp", "max-T", "B", "T"):
        p.add_argument("--" + name, type=int, required=True)
    p.add_argument("--name", default="")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = GPT(a.L, a.C, a.NH, a.Vp, a.max_T)
    decay = [q for q in model.parameters() if q.dim() == 2]
    no_decay = [q for q in model.parameters() if q.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4)
    data = torch.randint(0, a.V, (a.B, a.T + 1))
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = model(data[:, :-1], data[:, 1:], a.V)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
    ms = sorted(times)[len(times) // 2]
    print(f"torch {a.name} {ms:.1f} ms/step {a.B * a.T / (ms / 1000):.0f} tok/s "
          f"(torch {torch.__version__}, 2 threads, BLAS {loaded_blas()}, {blas_kernel()})")


if __name__ == "__main__":
    main()
