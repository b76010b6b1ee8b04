#!/usr/bin/env python3
"""Independent numpy implementation of the Conan-v2 / Llama / Qwen2 / Qwen3 encoder forward
pass, used to check the burn model. It shares nothing with the Rust code: it parses
safetensors itself, tokenizes with the `tokenizers` package from PyPI, runs each sentence
alone (no padding) in float64, and writes or checks reference embeddings.

    python tests/reference.py MODEL_DIR --out FILE      # write references
    python tests/reference.py MODEL_DIR --check FILE    # recompute and compare to FILE
"""
import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

# Lengths 1..64 tokens with the byte-level tokenizer: English, Chinese, mixed.
TEXTS = [
    "a",
    "hello",
    "你好",
    "The cat sits on the mat.",
    "我喜欢学习中文。",
    "Mixed 中文 and English text",
    "Tatoeba has many sentences in many languages",
    "Embeddings map 句子 to vectors; similar meanings land close.",
]
DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = raw[base + start : base + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=DTYPES[info["dtype"]])
        out[name.removeprefix("model.")] = arr.astype(np.float64).reshape(info["shape"])
    return out


def load(model_dir):
    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    pooling = cfg.get("pooling")
    pool_file = model_dir / "1_Pooling" / "config.json"
    if pooling is None and pool_file.exists():
        p = json.loads(pool_file.read_text())
        pooling = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
                   "pooling_mode_lasttoken": "last_token"}[next(k for k in
                   ("pooling_mode_mean_tokens", "pooling_mode_cls_token", "pooling_mode_lasttoken") if p.get(k))]
    family = cfg["model_type"]
    if pooling is None:
        pooling = "mean" if family == "conan" else "last_token"
    causal = cfg.get("is_causal")
    if causal is None:
        causal = family != "conan" and pooling == "last_token"
    weights = read_safetensors(model_dir / "model.safetensors")
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    return cfg, pooling, causal, weights, tok


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope(x, theta):
    # x: [heads, T, d]; Hugging Face rotate_half convention.
    t, d = x.shape[1], x.shape[2]
    inv = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    ang = np.outer(np.arange(t), inv)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * cos + np.concatenate([-x2, x1], -1) * sin


def proj(W, name, x):
    y = x @ W[name + ".weight"].T
    b = W.get(name + ".bias")
    return y + b if b is not None else y


def forward(cfg, pooling, causal, W, ids, dims):
    h = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or h // nh
    eps, theta = cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 10000.0)
    t = len(ids)
    x = W["embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"layers.{i}."
        a = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = proj(W, p + "self_attn.q_proj", a).reshape(t, nh, hd).transpose(1, 0, 2)
        k = proj(W, p + "self_attn.k_proj", a).reshape(t, nkv, hd).transpose(1, 0, 2)
        v = proj(W, p + "self_attn.v_proj", a).reshape(t, nkv, hd).transpose(1, 0, 2)
        if p + "self_attn.q_norm.weight" in W:
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        q, k = rope(q, theta), rope(k, theta)
        k = np.repeat(k, nh // nkv, axis=0)
        v = np.repeat(v, nh // nkv, axis=0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        if causal:
            s = s + np.triu(np.full((t, t), -np.inf), 1)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        o = (s @ v).transpose(1, 0, 2).reshape(t, nh * hd)
        x = x + proj(W, p + "self_attn.o_proj", o)
        m = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = m @ W[p + "mlp.gate_proj.weight"].T
        u = m @ W[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["norm.weight"], eps)
    v = {"mean": x.mean(0), "cls": x[0], "last_token": x[-1]}[pooling][:dims]
    return v / np.linalg.norm(v)


def compute(model_dir):
    cfg, pooling, causal, W, tok = load(model_dir)
    cases = []
    for dims in (cfg["hidden_size"], cfg["hidden_size"] // 2):
        vecs = []
        for text in TEXTS:
            ids = tok.encode(text).ids
            assert 1 <= len(ids) <= 64, (text, len(ids))
            vecs.append(forward(cfg, pooling, causal, W, ids, dims).tolist())
        cases.append({"dims": dims, "embeddings": vecs})
    return {"texts": TEXTS, "pooling": pooling, "causal": causal, "cases": cases}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--out")
    group.add_argument("--check")
    args = ap.parse_args()
    ref = compute(args.model)
    if args.out:
        Path(args.out).write_text(json.dumps(ref, indent=1) + "\n")
        print(f"wrote {args.out}")
        return
    stored = json.loads(Path(args.check).read_text())
    worst = 0.0
    assert stored["texts"] == ref["texts"], "texts differ"
    for a, b in zip(stored["cases"], ref["cases"]):
        assert a["dims"] == b["dims"]
        worst = max(worst, float(np.abs(np.array(a["embeddings"]) - np.array(b["embeddings"])).max()))
    ok = worst <= 1e-9
    print(f"{args.check}: numpy recomputation max |diff| = {worst:.2e} ({'ok' if ok else 'MISMATCH'})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
