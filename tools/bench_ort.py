#!/usr/bin/env python3
"""`conan bench` beside ONNX Runtime on the same weights, the same token ids and the same
thread count, in one run: the peer a user without a GPU would pick instead.

    .venv/bin/python tools/bench_ort.py --model static/models/conan-mini/q8
        [--shape 32x128 --shape 8x64 --shape 1x32] [--runs 7] [--threads N] [--conan PATH] [--json FILE]
        [--backend cpu|cpu-f32] [--ort-int8] [--rounds N]

The model is exported with `conan export --onnx` first (f32 weights; a q8 / q4 pack is
dequantized, so ONNX Runtime computes in f32 what ours computes from the pack). Ours runs
`--backend` (`cpu`: a pack's matrices in int8; `cpu-f32`: in f32, as the export). With
`--ort-int8` ONNX Runtime runs the export after its own dynamic quantization
(`onnxruntime.quantization.quantize_dynamic`, int8 weights per output channel, which needs
the `onnx` package: `.venv/bin/pip install onnx`), the int8 peer of ours. Both sides get
the LCG ids of crates/conan-cli/src/bench.rs with a full attention mask. Timing follows
`conan bench`: one untimed pass, one warm-up, the median of `--runs`. ONNX Runtime runs with
`--threads` intra-op threads and ours as many rayon threads (default: the CPU count).
With `--rounds N` each shape is timed N times, ours and ONNX Runtime one after the other
each round, and the median of the rounds' ratios is reported: on a machine whose speed drifts
(a shared VM), a ratio from two moments apart says more about the drift than the runtimes.
Needs onnxruntime (PyPI; tools/setup.sh --test installs it in .venv).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


from bench_ids import lcg_ids as conan_ids


def lcg_ids(batch, seq, vocab):
    return np.array(conan_ids(batch, seq, vocab), dtype=np.int64).reshape(batch, seq)


def ort_bench(session, vocab, batch, seq, runs):
    ids = lcg_ids(batch, seq, vocab)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    def one():
        t = time.perf_counter()
        session.run(["sentence_embedding"], feed)
        return time.perf_counter() - t

    first = one()
    one()
    times = sorted(one() for _ in range(runs))
    return {"median_s": times[runs // 2], "tokens_per_s": batch * seq / times[runs // 2], "time_to_first_embedding_s": first}


def conan_bench(conan, model, backend, batch, seq, runs, threads):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        # burn's CPU backend splits its matmuls over rayon's pool: the same thread count as ORT's.
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        subprocess.run([conan, "bench", "--model", model, "--backend", backend, "--batch", str(batch), "--seq", str(seq),
                        "--runs", str(runs), "--json", str(out)], check=True, capture_output=True, env=env)
        return json.loads(out.read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a model folder or pack")
    ap.add_argument("--shape", action="append", default=[], help="BATCHxSEQ (repeatable; default 32x128, 8x64, 1x32)")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--conan", default="target/release/conan" if Path("target/release/conan").exists() else "target/debug/conan")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cpu-f32"], help="ours: a pack in int8 (cpu) or f32")
    ap.add_argument("--ort-int8", action="store_true", help="ONNX Runtime on its dynamically quantized (int8) export")
    ap.add_argument("--rounds", type=int, default=1, help="time each shape this many times, alternating; report the median ratio")
    args = ap.parse_args()
    shapes = [tuple(map(int, s.lower().split("x"))) for s in (args.shape or ["32x128", "8x64", "1x32"])]
    vocab = json.loads((Path(args.model) / "config.json").read_text())["vocab_size"] if (Path(args.model) / "config.json").exists() \
        else json.loads((Path(args.model) / "manifest.json").read_text())["config"]["vocab_size"]
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "model.onnx"
        subprocess.run([args.conan, "export", "--onnx", "--model", args.model, "--out", str(onnx)], check=True, capture_output=True)
        if args.ort_int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            quantized = Path(tmp) / "model.int8.onnx"
            quantize_dynamic(str(onnx), str(quantized), per_channel=True, weight_type=QuantType.QInt8)
            onnx = quantized
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        rows = []
        for batch, seq in shapes:
            rounds = []
            for _ in range(max(1, args.rounds)):
                theirs = ort_bench(session, vocab, batch, seq, args.runs)
                ours = conan_bench(args.conan, args.model, args.backend, batch, seq, args.runs, args.threads)
                rounds.append({"ours_s": ours["median_s"], "ort_s": theirs["median_s"],
                               "ratio": theirs["median_s"] / ours["median_s"]})
            mid = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
            rows.append({"shape": f"{batch}x{seq}", "ours_s": mid["ours_s"], "ort_s": mid["ort_s"],
                         "ours_tokens_per_s": batch * seq / mid["ours_s"], "ort_tokens_per_s": batch * seq / mid["ort_s"],
                         "ratio": mid["ratio"], "round_ratios": [r["ratio"] for r in rounds]})
    theirs = "int8 (dynamic quantization)" if args.ort_int8 else "f32"
    rounds = f", the median ratio of {args.rounds} alternating rounds" if args.rounds > 1 else ""
    print(f"{args.model}: ours ({args.conan}, --backend {args.backend}) vs onnxruntime {ort.__version__} {theirs} "
          f"({args.threads} threads), median of {args.runs}{rounds}")
    print(f"{'shape':>8} {'ours':>10} {'onnxruntime':>12} {'ours/ORT speed':>15}")
    for r in rows:
        spread = ""
        if len(r["round_ratios"]) > 1:
            spread = f"   rounds {min(r['round_ratios']):.2f}-{max(r['round_ratios']):.2f}x"
        print(f"{r['shape']:>8} {r['ours_s'] * 1e3:>8.1f}ms {r['ort_s'] * 1e3:>10.1f}ms {r['ratio']:>14.2f}x{spread}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
