#!/usr/bin/env bash
# Retrain conan-mini from scratch and write the shipped packs: one command, fixed seed.
#   tools/train_mini.sh [extra conan-train flags, e.g. --no-soft-mask]
#   OUT=target/ablation-x tools/train_mini.sh --no-soft-mask   (an ablation, not shipped)
# Steps: teacher vectors over the train files (cached in target/teacher, ~8 min on
# 2 cores the first time) → conan-train (BPE vocabulary + both stages, ~65 min on 2 cores)
# → q8 and q4 packs in static/models/conan-mini (only when OUT is the default).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/conan-mini}

if [[ ! -f target/teacher/meta.json ]]; then
  tools/setup.sh --train
  .venv/bin/python tools/teacher.py --data ../shared/data --out target/teacher
fi
cargo build --release -p conan-train
cargo build -p conan-cli # converting 7M parameters needs no optimised build
./target/release/conan-train --data ../shared/data --teacher target/teacher --out "$OUT" "$@"

if [[ "$OUT" == target/conan-mini && $# -eq 0 ]]; then
  ship=static/models/conan-mini
  rm -rf "$ship/q8" "$ship/q4"
  ./target/debug/conan convert --from "$OUT/checkpoint" --quant q8 --out "$ship/q8"
  ./target/debug/conan convert --from "$OUT/checkpoint" --quant q4 --out "$ship/q4"
  cp "$OUT/loss.svg" "$OUT/training.json" "$ship/"
  echo "packs written to $ship; update its README.md with the numbers in $OUT/training.json"
fi
