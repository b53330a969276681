#!/usr/bin/env python3
"""Loads minitrain's PEFT export with real PEFT and compares logits with minitrain's.

Not a fixture generator: a one-off cross-check of `bin/convert --to-peft` (and of
the merged `bin/convert --to-hf`) against Hugging Face PEFT, run by hand:

    /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv
    /tmp/hfvenv/bin/pip install transformers==4.36.2
    /tmp/hfvenv/bin/pip install --no-deps peft==0.7.1 accelerate==0.25.0
    make bin/convert build/libminitrain.a
    /tmp/hfvenv/bin/python tools/reference/check_peft_export.py

Checked with peft 0.7.1, 0.8.2 and 0.13.2 (each with accelerate 0.25.0),
transformers 4.36.2, safetensors 0.8.0, huggingface_hub 0.36.2 (PyPI), torch
1.13.0a0 and numpy 1.24.2 (Debian python3-torch, python3-numpy, CPU), Python
3.11.2 (another PEFT beside the venv's: pip install --no-deps --target DIR
peft==X, then PYTHONPATH=DIR). Every version loaded every case's LoRA tensors
and head exactly; the largest logits difference (max abs over max abs) was
9.2e-07 between PEFT and minitrain and 6.6e-07 between the merged export run
by transformers and minitrain: the float32 rounding of two forwards.

For each case: a random tiny Hugging Face model (the base) is saved and
converted with `bin/convert --from-hf`; this script adds random LoRA A and B
(and a new classification head) to that weight file, writing the minitrain
format itself (src/formats/weights.h), then exports it with `bin/convert --to-peft
--base <base folder>` and `--to-hf`. PEFT's PeftModel.from_pretrained loads the
adapter onto the base; a small C++ program linked against build/libminitrain.a
prints minitrain's logits for the same tokens. Cases: GPT2LMHeadModel with all
four GPT-2 targets, GPT2ForSequenceClassification (c_attn, a new score head),
BertForSequenceClassification (query, value and the FFN's output.dense, which
the export must spell per block) and BertForMaskedLM (key and
attention.output.dense; PEFT task_type null). rsLoRA needs PEFT >= 0.8
(use_rslora); with an older PEFT that case is skipped with a message.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import peft
import safetensors.torch
import torch
import transformers
from peft import PeftModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERT = os.path.join(ROOT, "bin", "convert")
TOL = 1e-5  # max abs difference over max abs logit: float32 forwards in different orders

LOGITS_CPP = r"""
// Prints minitrain's logits for a weight file and a batch of token rows.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>
#include "bert.h"
#include "gpt2.h"
#include "weights.h"
int main(int argc, char** argv) {
    const std::string path = argv[1];
    const int b = std::atoi(argv[2]), t = std::atoi(argv[3]);
    std::vector<int> tokens;
    for (int i = 4; i < argc; i++) tokens.push_back(std::atoi(argv[i]));
    std::unique_ptr<Backend> be(make_backend("cpu"));
    std::unique_ptr<Model> m;
    if (read_weight_file(path).arch == "gpt2") m = std::make_unique<GPT2>(*be, read_gpt2_config(path), b, t);
    else m = std::make_unique<BERT>(*be, read_bert_config(path), b, t);
    m->allocate();
    load_weights(path, *m);
    Batch batch{b, t, tokens.data(), nullptr, nullptr, nullptr, nullptr};
    m->forward(batch);
    int rows = 0, cols = 0;
    const float* dev = m->logits_view(rows, cols);
    std::vector<float> host((size_t)rows * cols);
    be->download(host.data(), dev, host.size() * sizeof(float));
    std::printf("%d %d\n", rows, cols);
    for (float x : host) std::printf("%.9g\n", x);
}
"""


# ---- the minitrain weight format (src/formats/weights.h) ------------------------------------------------

def read_minitrain(path):
    data = open(path, "rb").read()
    assert data[:8] == b"MINITRN\0", path
    at = 8

    def u(fmt):
        nonlocal at
        v = struct.unpack_from(fmt, data, at)[0]
        at += struct.calcsize(fmt)
        return v

    def s():
        nonlocal at
        n = u("<I")
        at += n
        return data[at - n:at].decode()

    assert u("<I") == 1
    arch = s()
    fields = [(s(), u("<q")) for _ in range(u("<I"))]
    tensors = {}
    for _ in range(u("<I")):
        name = s()
        assert u("<I") == 0
        shape = [u("<q") for _ in range(u("<I"))]
        offset, nbytes = u("<Q"), u("<Q")
        tensors[name] = np.frombuffer(data, np.float32, nbytes // 4, offset).reshape(shape).copy()
    return arch, fields, tensors


def write_minitrain(path, arch, fields, tensors):
    def s(x):
        return struct.pack("<I", len(x)) + x.encode()

    head = b"MINITRN\0" + struct.pack("<I", 1) + s(arch) + struct.pack("<I", len(fields))
    for name, value in fields:
        head += s(name) + struct.pack("<q", value)
    head += struct.pack("<I", len(tensors))
    slots = []
    for name, t in tensors.items():
        head += s(name) + struct.pack("<II", 0, t.ndim) + b"".join(struct.pack("<q", d) for d in t.shape)
        slots.append(len(head))
        head += struct.pack("<QQ", 0, t.size * 4)
    head = bytearray(head)
    at, body = len(head), b""
    for slot, t in zip(slots, tensors.values()):
        start = (at + 63) // 64 * 64
        struct.pack_into("<Q", head, slot, start)
        body += b"\0" * (start - at) + t.astype("<f4").tobytes()
        at = start + t.size * 4
    with open(path, "wb") as f:
        f.write(bytes(head) + body)


# ---- the cases ----------------------------------------------------------------------------------

GPT2_SITES = [("c_attn", "attn.c_attn", 3, 1), ("attn.c_proj", "attn.c_proj", 1, 1),
              ("c_fc", "mlp.c_fc", 4, 1), ("mlp.c_proj", "mlp.c_proj", 1, 4)]  # name, path, out/C, in/C
BERT_SITES = [("query", "attention.self.query"), ("key", "attention.self.key"),
              ("value", "attention.self.value"), ("attention.output.dense", "attention.output.dense"),
              ("intermediate.dense", "intermediate.dense"), ("output.dense", "output.dense")]


def gpt2_model(cls, num_labels, gen):
    cfg = transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50, n_positions=16,
                                  num_labels=num_labels, pad_token_id=49)
    model = cls(cfg)
    randomize(model, gen)
    return model


def bert_model(cls, num_labels, gen):
    cfg = transformers.BertConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=32,
                                  vocab_size=40, max_position_embeddings=16, num_labels=num_labels)
    model = cls(cfg)
    randomize(model, gen)
    return model


def randomize(model, gen):
    # Order-1 logits: a default init would leave them near 0, where a wrong name could hide.
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.3 if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=gen) * scale + (1.0 if ("ln_" in name or "LayerNorm" in name) and "weight" in name else 0))


def lora_tensors(arch, L, C, I, r, targets, rng):
    out = {}
    for l in range(L):
        if arch == "gpt2":
            for name, path, o, i in GPT2_SITES:
                if name in targets:
                    out[f"h.{l}.{path}.lora_A.weight"] = rng.uniform(-0.5, 0.5, (r, i * C))
                    out[f"h.{l}.{path}.lora_B.weight"] = rng.uniform(-0.5, 0.5, (o * C, r))
        else:
            for name, path in BERT_SITES:
                if name in targets:
                    fan_in = I if name == "output.dense" else C
                    fan_out = I if name == "intermediate.dense" else C
                    out[f"encoder.layer.{l}.{path}.lora_A.weight"] = rng.uniform(-0.5, 0.5, (r, fan_in))
                    out[f"encoder.layer.{l}.{path}.lora_B.weight"] = rng.uniform(-0.5, 0.5, (fan_out, r))
    return {k: v.astype(np.float32) for k, v in out.items()}


def build_logits_program(tmp):
    src = os.path.join(tmp, "logits.cpp")
    exe = os.path.join(tmp, "logits")
    open(src, "w").write(LOGITS_CPP)
    libs = ["-licuuc"]
    flags = open(os.path.join(ROOT, "build", "flags")).read()
    if "-DMT_CUDA" in flags:  # the library holds the CUDA backend: link what it needs
        nvcc = flags.split("|")[1].split()[0]
        cuda = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
        libs += [f"-L{cuda}/lib64", f"-Wl,-rpath,{cuda}/lib64", "-lcublasLt", "-lcublas", "-lcudart"]
    subprocess.run(["g++", "-O2", "-std=c++17", "-fopenmp", "-I" + os.path.join(ROOT, "src"), src,
                    os.path.join(ROOT, "build", "libminitrain.a"), "-o", exe] + libs, check=True)
    return exe


def minitrain_logits(exe, path, tokens):
    b, t = tokens.shape
    out = subprocess.run([exe, path, str(b), str(t)] + [str(x) for x in tokens.flatten()], check=True,
                         capture_output=True, text=True).stdout.split()
    rows, cols = int(out[0]), int(out[1])
    return np.array(out[2:], dtype=np.float64).reshape(rows, cols)


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def run_case(tmp, exe, name, arch, cls, num_labels, targets, r, alpha, rslora, head, gen, rng):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    base_dir, lora_bin, peft_dir, merged_dir = (os.path.join(d, x) for x in ("base", "lora.bin", "peft", "merged"))
    base = (gpt2_model if arch == "gpt2" else bert_model)(cls, num_labels, gen)
    base.save_pretrained(base_dir, safe_serialization=True)
    subprocess.run([CONVERT, "--from-hf", base_dir, "-o", os.path.join(d, "base.bin")], check=True, capture_output=True)

    arch_read, fields, tensors = read_minitrain(os.path.join(d, "base.bin"))
    f = dict(fields)
    L, C = f["L"], f["C"]
    I = f.get("I", 4 * C)
    sites = [s[0] for s in (GPT2_SITES if arch == "gpt2" else BERT_SITES)]
    mask = sum(1 << i for i, s in enumerate(sites) if s in targets)
    fields += [("lora_r", r), ("lora_alpha_milli", round(alpha * 1000)), ("lora_rslora", int(rslora)),
               ("lora_targets", mask)]
    tensors.update(lora_tensors(arch, L, C, I, r, targets, rng))
    for h in head:  # a head the adapter must bring along: not the base's
        tensors[h] = rng.uniform(-0.5, 0.5, tensors[h].shape).astype(np.float32)
    write_minitrain(lora_bin, arch_read, fields, tensors)
    subprocess.run([CONVERT, "--to-peft", lora_bin, "-o", peft_dir, "--base", base_dir], check=True, capture_output=True)
    subprocess.run([CONVERT, "--to-hf", lora_bin, "-o", merged_dir], check=True, capture_output=True)

    model = PeftModel.from_pretrained(cls.from_pretrained(base_dir), peft_dir).eval()
    # Every LoRA tensor and head tensor PEFT holds is the exported one.
    saved = safetensors.torch.load_file(os.path.join(peft_dir, "adapter_model.safetensors"))
    state = {k.replace(".default", "").replace(".modules_to_save", ""): v for k, v in model.state_dict().items()
             if "lora_" in k or "modules_to_save" in k}
    assert set(state) == set(saved), (sorted(set(state) ^ set(saved)))[:4]
    for k, v in saved.items():
        assert torch.equal(state[k], v), k

    tokens = np.array(torch.randint(0, 40 if arch == "bert" else 48, (2, 8), generator=gen), dtype=np.int64)
    with torch.no_grad():
        got = model(input_ids=torch.tensor(tokens)).logits.double().numpy()
        merged = cls.from_pretrained(merged_dir).eval()(input_ids=torch.tensor(tokens)).logits.double().numpy()
    ours = minitrain_logits(exe, lora_bin, tokens)
    got, merged = got.reshape(-1, got.shape[-1]), merged.reshape(-1, merged.shape[-1])
    ours = ours[:, :got.shape[1]]  # an LM's rows are padded to Vp
    e_peft, e_merged = rel(got, ours), rel(merged, ours)
    print(f"{name:10s} {len(saved):3d} tensors  PEFT vs minitrain {e_peft:.2e}  merged export vs minitrain {e_merged:.2e}")
    assert e_peft <= TOL and e_merged <= TOL, name
    return max(e_peft, e_merged)


def main():
    print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")
    gen = torch.Generator().manual_seed(20261126)
    rng = np.random.default_rng(20261126)
    rslora_ok = "use_rslora" in peft.LoraConfig.__dataclass_fields__
    with tempfile.TemporaryDirectory(prefix="mt_peftcheck_") as tmp:
        exe = build_logits_program(tmp)
        worst = max(
            run_case(tmp, exe, "gpt2_lm", "gpt2", transformers.GPT2LMHeadModel, 2,
                     ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"], 4, 8.0, False, [], gen, rng),
            run_case(tmp, exe, "gpt2_cls", "gpt2", transformers.GPT2ForSequenceClassification, 3, ["c_attn"], 2, 4.0,
                     False, ["score.weight"], gen, rng),
            run_case(tmp, exe, "bert_cls", "bert", transformers.BertForSequenceClassification, 3,
                     ["query", "value", "output.dense"], 2, 16.0, False, ["classifier.weight", "classifier.bias"],
                     gen, rng),
            run_case(tmp, exe, "bert_mlm", "bert", transformers.BertForMaskedLM, 2,
                     ["key", "attention.output.dense"], 4, 4.0, False, [], gen, rng),
        )
        if rslora_ok:
            worst = max(worst, run_case(tmp, exe, "gpt2_rs", "gpt2", transformers.GPT2ForSequenceClassification, 3,
                                        ["c_attn", "mlp.c_proj"], 4, 2.5, True, ["score.weight"], gen, rng))
        else:
            print(f"rsLoRA case skipped: peft {peft.__version__} has no use_rslora (added in 0.8)")
    print(f"all cases within {TOL:g}; worst {worst:.2e}")


if __name__ == "__main__":
    sys.exit(main())
