#!/usr/bin/env bash
# The model card's ablation table (the paper's Table 4, small): the same short run with
# each part of the recipe switched off in turn, dev Tatoeba bitext top-1 for each.
#   tools/ablate.sh [extra conan-train flags]     (~5.5 min per run on 2 cores)
# Short runs by default (300 weak + 150 supervised steps on 20,000 pairs): the table
# compares the variants with one another, not with the shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p conan-train
short=(--weak-steps 300 --supervised-steps 150 --limit-pairs 20000 --eval-every 0 "$@")
for variant in full no-soft-mask no-cross-lingual no-dynamic-negatives; do
  flag=(); [[ $variant != full ]] && flag=(--$variant)
  out=target/ablation/$variant
  if [[ ! -f $out/training.json ]]; then
    ./target/release/conan-train --out "$out" "${short[@]}" "${flag[@]}" 2> "target/ablation-$variant.log" ||
      { tail -5 "target/ablation-$variant.log"; exit 1; }
  fi
done
echo "| variant | Tatoeba zh→en | Tatoeba en→zh | HSK zh→en | HSK en→zh | zh translation above all other zh (Tatoeba) | train time |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for variant in full no-soft-mask no-cross-lingual no-dynamic-negatives; do
  python3 -c "
import json,sys
d=json.load(open('target/ablation/$variant/training.json'))
t,h=d['dev_bitext']['tatoeba'],d['dev_bitext']['hsk']
mixed=t.get('zh_translation_above_zh')
mixed='n/a' if mixed is None else f'{mixed:.4f}'
print(f\"| $variant | {t['zh_to_en']:.4f} | {t['en_to_zh']:.4f} | {h['zh_to_en']:.4f} | {h['en_to_zh']:.4f} | {mixed} | {d['train_seconds']/60:.1f} min |\")"
done
