#!/usr/bin/env python3
"""Seed corpora for the fuzz targets from the project's own small, valid inputs (and a few
of tests/malformed/), in each target's input format. Run once before the first fuzz run;
the committed corpora (minimised with `cargo fuzz cmin`) then carry on from there."""
import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
MAL = ROOT / "tests/malformed"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


models = [ROOT / "static/models/tiny", ROOT / "tests/fixtures/tiny-qwen2", ROOT / "tests/fixtures/tiny-qwen3"]
for m in models:
    if (m / "config.json").exists():
        put("config", f"{m.name}.json", (m / "config.json").read_bytes())
    if (m / "tokenizer.json").exists():
        put("tokenizer", f"{m.name}.json", (m / "tokenizer.json").read_bytes())
for p in sorted((MAL / "model").glob("config-*/config.json"))[:12]:
    if p.stat().st_size < 20_000:
        put("config", f"{p.parent.name}.json", p.read_bytes())

put("safetensors", "tiny.safetensors", (ROOT / "static/models/tiny/model.safetensors").read_bytes())
for p in sorted((MAL / "model").glob("st-*/model.safetensors")):
    if p.stat().st_size < 400_000:
        put("safetensors", f"{p.parent.name}.safetensors", p.read_bytes())

pack = MAL / "base-pack"
put("manifest", "base-pack", (pack / "manifest.json").read_bytes() + b"\0" + (pack / "shard-00000.safetensors").read_bytes())
for p in sorted((MAL / "pack").glob("manifest-*/manifest.json"))[:10]:
    if p.stat().st_size < 20_000:
        put("manifest", p.parent.name, p.read_bytes() + b"\0" + (pack / "shard-00000.safetensors").read_bytes())

NAMES = ["task.json", "corpus.jsonl", "queries.jsonl", "qrels.tsv", "pairs.jsonl", "train.jsonl", "test.jsonl", "data.jsonl"]
for d in sorted((MAL / "task").iterdir()):
    put("task", d.name, b"\0".join((d / n).read_bytes() if (d / n).exists() else b"" for n in NAMES))
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    d = MAL / "task/bitext-empty"
    z.writestr("t/task.json", (d / "task.json").read_bytes())
    z.writestr("t/pairs.jsonl", b'{"sentence1": "a", "sentence2": "b"}\n{"sentence1": "c", "sentence2": "d"}\n')
put("task", "bitext.zip", buf.getvalue())

for i, p in enumerate(sorted((MAL / "document").iterdir())):
    if p.stat().st_size < 20_000:
        put("document", p.name, bytes([i % 6]) + p.read_bytes())
put("document", "notes.md", b"\x01# Notes\n\nWe are going to the beach.\n\n\xe6\x88\x91\xe6\x98\x8e\xe5\xa4\xa9\xe5\x8e\xbb\xe3\x80\x82\n")
put("document", "rows.csv", b"\x03id,text\n1,hello\n2,\"quoted, text\"\n")
put("document", "corpus.jsonl", b"\x02" + (ROOT / "static/corpus/corpus.jsonl").read_bytes()[:4000].rsplit(b"\n", 1)[0] + b"\n")

for p in sorted((MAL / "zip").glob("*.zip")):
    if p.stat().st_size < 400_000:
        put("zip", p.name, p.read_bytes())
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted((ROOT / "static/models/tiny").iterdir()):
        z.writestr(f"tiny/{f.name}", f.read_bytes())
put("zip", "tiny.zip", buf.getvalue())
for t in sorted(CORPUS.iterdir()):
    print(t.name, len(list(t.iterdir())))
