#!/usr/bin/env python3
"""The forward pass of `conan bench` in PyTorch, on the same weights and the same token ids,
side by side with `conan bench` in one run.

    python tools/bench_torch.py --weights HF_DIR [--model PACK_OR_DIR ...] [--backend cpu|wgpu]
        [--device cpu|cuda] [--dtype float32 --dtype bfloat16] [--shape 32x128 --shape 1x32]
        [--runs 5] [--conan PATH] [--json FILE]

HF_DIR is the Hugging Face folder (config.json + model.safetensors + tokenizer.json) the packs
were converted from; PyTorch runs it in float32, and in bfloat16 where asked (it has no q4/q8
path of its own). Before timing, every `--model` embeds the same texts with `conan embed` and
the table of agreement gives its cosine to PyTorch float32 on each (tokenized by the
`tokenizers` package, each sentence alone). Every `--model` is run by
`conan bench` with the same shapes and ids (the LCG of crates/conan-cli/src/bench.rs), and the
table gives ours/PyTorch in tokens per second. Timing follows `conan bench`: one untimed pass
(time to first embedding), one warm-up, then the median of `--runs` passes.

Needs `pip install torch safetensors` (PyPI); CUDA when `--device cuda`.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from bench_ids import lcg_ids as conan_ids

# A lent GPU's time is short: one `conan` call that hangs must not take the whole run.
BENCH_TIMEOUT_S = int(os.environ.get("BENCH_TIMEOUT_S", "300"))

# Agreement texts: English, Chinese, mixed; short to sentence length.
TEXTS = [
    "hello",
    "我们明天去北京。",
    "The cat sits on the mat.",
    "Mixed 中文 and English text",
    "Embeddings map 句子 to vectors; similar meanings land close.",
]


def lcg_ids(batch, seq, vocab):
    """The ids `conan bench` feeds its model (tools/bench_ids.py)."""
    return torch.tensor(conan_ids(batch, seq, vocab), dtype=torch.long).reshape(batch, seq)


class Encoder:
    """The Conan / Llama / Qwen encoder with the loader's conventions: HF half rotation,
    GQA, SwiGLU, RMSNorm, optional biases and q/k norms, mean pooling, L2 norm."""

    def __init__(self, model_dir, device, dtype):
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
        shards = sorted(Path(model_dir).glob("*.safetensors"))
        if not shards:
            sys.exit(f"error: {model_dir} has no .safetensors (give the Hugging Face folder the packs came from)")
        w = {}
        for shard in shards:
            for name, t in load_file(str(shard)).items():
                w[name.removeprefix("model.")] = t.to(device=device, dtype=dtype)
        self.w, self.cfg = w, cfg
        self.h = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads") or self.nh
        self.hd = cfg.get("head_dim") or self.h // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.layers = cfg["num_hidden_layers"]
        self.vocab = cfg["vocab_size"]
        theta = cfg.get("rope_theta", 10000.0)
        self.inv = theta ** (-torch.arange(0, self.hd, 2, dtype=torch.float64, device=device) / self.hd)
        self.device, self.dtype = device, dtype

    def params(self):
        return sum(t.numel() for t in self.w.values())

    def weight_bytes(self):
        return sum(t.numel() * t.element_size() for t in self.w.values())

    def norm(self, x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * g

    def lin(self, name, x):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y if b is None else y + b

    @torch.inference_mode()
    def embed(self, ids):
        b, t = ids.shape
        ang = torch.outer(torch.arange(t, dtype=torch.float64, device=self.device), self.inv)
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos().to(self.dtype), ang.sin().to(self.dtype)

        def rope(x):
            x1, x2 = x[..., : self.hd // 2], x[..., self.hd // 2 :]
            return x * cos + torch.cat([-x2, x1], -1) * sin

        x = self.w["embed_tokens.weight"][ids]
        for i in range(self.layers):
            p = f"layers.{i}."
            a = self.norm(x, self.w[p + "input_layernorm.weight"])
            q = self.lin(p + "self_attn.q_proj", a).view(b, t, self.nh, self.hd).transpose(1, 2)
            k = self.lin(p + "self_attn.k_proj", a).view(b, t, self.nkv, self.hd).transpose(1, 2)
            v = self.lin(p + "self_attn.v_proj", a).view(b, t, self.nkv, self.hd).transpose(1, 2)
            if p + "self_attn.q_norm.weight" in self.w:
                q = self.norm(q, self.w[p + "self_attn.q_norm.weight"])
                k = self.norm(k, self.w[p + "self_attn.k_norm.weight"])
            q, k = rope(q), rope(k)
            # Bidirectional: no mask (every test sequence is full length, as in `conan bench`).
            o = torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=self.nkv != self.nh)
            x = x + self.lin(p + "self_attn.o_proj", o.transpose(1, 2).reshape(b, t, self.nh * self.hd))
            m = self.norm(x, self.w[p + "post_attention_layernorm.weight"])
            g, u = self.lin(p + "mlp.gate_proj", m), self.lin(p + "mlp.up_proj", m)
            x = x + self.lin(p + "mlp.down_proj", torch.nn.functional.silu(g) * u)
        x = self.norm(x, self.w["norm.weight"]).mean(1)
        return torch.nn.functional.normalize(x.float(), dim=-1)


def torch_texts(enc, model_dir, texts):
    """PyTorch's vectors for `texts`, each tokenized by the `tokenizers` package and run alone."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    return torch.cat([enc.embed(torch.tensor([tok.encode(t).ids], device=enc.device)).cpu() for t in texts])


def conan_texts(conan, model, backend, texts):
    """`conan embed`'s vectors for `texts` (one per line of its input file)."""
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "texts.txt"
        inp.write_text("\n".join(texts) + "\n")
        try:
            r = subprocess.run([conan, "embed", "--model", model, "--backend", backend, "--input", str(inp)],
                               capture_output=True, text=True, timeout=BENCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"over {BENCH_TIMEOUT_S} s")
        if r.returncode != 0:
            raise RuntimeError((r.stderr or r.stdout).strip()[-500:] or f"exit {r.returncode}")
        return torch.tensor(json.loads(r.stdout)["embeddings"], dtype=torch.float32)


def torch_bench(enc, batch, seq, runs):
    ids = lcg_ids(batch, seq, enc.vocab).to(enc.device)

    def one():
        t = time.perf_counter()
        enc.embed(ids).cpu()  # read back, as `conan bench` does
        return time.perf_counter() - t

    if enc.device == "cuda":
        # Other dtypes' weights stay loaded: count this encoder's own weights plus its peak above them.
        torch.cuda.reset_peak_memory_stats()
        resident = torch.cuda.memory_allocated()
    first = one()
    one()
    times = sorted(one() for _ in range(runs))
    median = times[runs // 2]
    return {
        "median_s": median,
        "tokens_per_s": batch * seq / median,
        "sentences_per_s": batch / median,
        "time_to_first_embedding_s": first,
        "peak_bytes": torch.cuda.max_memory_allocated() - resident + enc.weight_bytes() if enc.device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def conan_bench(conan, model, backend, batch, seq, runs):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [conan, "bench", "--model", model, "--backend", backend, "--batch", str(batch),
               "--seq", str(seq), "--runs", str(runs), "--json", str(out)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"error": f"over {BENCH_TIMEOUT_S} s"}
        if r.returncode != 0:
            return {"error": (r.stderr or r.stdout).strip().splitlines()[-1] if (r.stderr or r.stdout).strip() else f"exit {r.returncode}"}
        d = json.loads(out.read_text())
        d["peak_bytes"] = d.get("device_bytes_reserved") if backend == "wgpu" and d.get("device_bytes_reserved") else d.get("peak_rss_bytes")
        return d


def conan_builds(specs):
    """(label, path) of each `--conan PATH` or `--conan LABEL=PATH`; a bare path is "conan"."""
    builds = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = "conan", spec
        if not label or not path:
            sys.exit(f"error: --conan {spec!r} is not PATH or LABEL=PATH")
        if any(label == other for other, _ in builds):
            sys.exit(f"error: --conan label {label!r} is given twice; name each build differently")
        builds.append((label, path))
    return builds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="Hugging Face folder the packs were made from")
    ap.add_argument("--model", action="append", default=[], help="a pack or folder for `conan bench` (repeatable)")
    ap.add_argument("--backend", default="cpu", choices=["cpu", "wgpu"], help="conan bench's backend")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="PyTorch's device")
    ap.add_argument("--dtype", action="append", default=[], choices=["float32", "bfloat16"],
                    help="PyTorch's dtypes to time (repeatable; default float32)")
    ap.add_argument("--shape", action="append", default=[], help="BATCHxSEQ (repeatable; default 32x128 and 1x32)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--conan", action="append", default=[],
                    help="the conan binary, or LABEL=PATH; repeat it to compare builds (variants of burn's "
                         "features) on the same packs, ids and PyTorch run (default: $CONAN or target/release/conan)")
    ap.add_argument("--json", help="write every row here")
    args = ap.parse_args()
    if args.runs < 5:
        sys.exit("error: --runs must be at least 5")
    shapes = []
    for s in args.shape or ["32x128", "1x32"]:
        try:
            b, t = (int(v) for v in s.lower().split("x"))
            assert b > 0 and t > 0
        except (ValueError, AssertionError):
            sys.exit(f"error: --shape {s!r} is not BATCHxSEQ with positive numbers")
        shapes.append((b, t))
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda, but this PyTorch sees no CUDA device")
    conans = conan_builds(args.conan or [os.environ.get("CONAN", "target/release/conan")])
    for label, path in conans:
        if args.model and not Path(path).exists():
            sys.exit(f"error: {path} ({label}) does not exist (build it: cargo build --release -p conan-cli, or pass --conan)")

    dtypes = list(dict.fromkeys(args.dtype or ["float32"]))
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    encs = {}
    for name in ["float32"] + [d for d in dtypes if d != "float32"]:
        t = time.perf_counter()
        encs[name] = Encoder(args.weights, args.device, getattr(torch, name))
        print(f"PyTorch {torch.__version__} on {where}: {args.weights}, {encs[name].params():,} parameters, "
              f"{name}, loaded in {time.perf_counter() - t:.1f} s")

    agree = []
    if args.model:
        ref = torch_texts(encs["float32"], args.weights, TEXTS)
        others = [(f"PyTorch {args.device} {d}", torch_texts(encs[d], args.weights, TEXTS)) for d in dtypes if d != "float32"]
        for label, path in conans:
            for model in args.model:
                what = f"{label} {args.backend} {Path(model).name}"
                try:
                    others.append((what, conan_texts(path, model, args.backend, TEXTS)))
                except RuntimeError as e:
                    agree.append({"what": what, "error": str(e)})
        for what, vecs in others:
            cos = (vecs * ref).sum(-1) / (vecs.norm(dim=-1) * ref.norm(dim=-1))
            agree.append({"what": what, "min_cosine": cos.min().item(), "max_abs_diff": (vecs - ref).abs().max().item()})
        print()
        print(f"Agreement with PyTorch {args.device} float32 on {len(TEXTS)} texts (each alone):")
        print("| implementation | min cosine | max |Δ| |")
        print("|---|---|---|")
        for a in agree:
            if "error" in a:
                print(f"| {a['what']} | failed: {a['error'].splitlines()[-1]} | |")
            else:
                print(f"| {a['what']} | {a['min_cosine']:.6f} | {a['max_abs_diff']:.2e} |")

    rows = []
    for batch, seq in shapes:
        for name in dtypes:
            rows.append({"impl": f"PyTorch {args.device} {name}", "model": args.weights, "batch": batch, "seq": seq,
                         **torch_bench(encs[name], batch, seq, args.runs)})
        for label, path in conans:
            for model in args.model:
                rows.append({"impl": f"{label} {args.backend}", "model": model, "batch": batch, "seq": seq,
                             **conan_bench(path, model, args.backend, batch, seq, args.runs)})

    print()
    print("| shape | implementation | model | median | tokens/s | sentences/s | first embedding | peak memory | ours / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch, seq in shapes:
        base = next(r for r in rows if r["batch"] == batch and r["seq"] == seq and r["impl"].startswith("PyTorch"))  # first dtype
        for r in (r for r in rows if r["batch"] == batch and r["seq"] == seq):
            shape = f"{batch} × {seq}"
            if "error" in r:
                print(f"| {shape} | {r['impl']} | {r['model']} | failed: {r['error']} | | | | | |")
                continue
            ratio = "1" if r is base else f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}×"
            peak = f"{r['peak_bytes'] / 1e6:,.0f} MB" if r.get("peak_bytes") else "—"
            print(f"| {shape} | {r['impl']} | {Path(r['model']).name} | {r['median_s']:.4f} s | {r['tokens_per_s']:,.0f} | "
                  f"{r['sentences_per_s']:,.1f} | {r['time_to_first_embedding_s']:.3f} s | {peak} | {ratio} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"agreement": agree, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
