#!/usr/bin/env bash
# The full-size benchmark on a lent GPU machine (DEVELOPERS.md, "device"): builds nothing
# there. It writes the synthetic full-size Conan-v2 checkpoint, converts it to f32, q8 and
# q4 packs, and runs `conan bench` on native Vulkan (wgpu) for each pack beside PyTorch
# CUDA on the same weights (float32, and bfloat16 on CUDA) and the same token ids, batch
# 32 × 128 and 1 × 32 (SHAPES overrides). First each pack embeds a few texts and its cosine to
# PyTorch float32 is printed. The tables (tools/bench_torch.py) also go to
# $OUT/device-bench.md and .json.
#
# Prepare here (once): a release binary, stripped and compressed, and the Vulkan loader debs
# the device README names. What travels (the checkout and the carried paths) must stay under
# 64 MiB, and by the refusals this checkout counts for more than its 37 MB of tracked files: on 2026-11-28 the
# call went through only with static/models/conan-mini, docs/ and fuzz/corpus* deleted from
# the work tree for the call (`git checkout -- static docs fuzz` afterwards).
#   cargo build --release -p conan-cli && mkdir -p .device/b && strip -o /tmp/conan target/release/conan
#   tar -C /tmp -cJf .device/b/conan.tar.xz conan
#   (cd .gl && apt-get download libvulkan1 ...)        # see the device README
# Then, as the device tool's command, carrying .device/b and .gl:
#   tar -xJf .device/b/conan.tar.xz -C .device && tools/device_bench.sh
# A dry run on this machine (tiny preset, CPU backends, PyTorch on the CPU):
#   PRESET=tiny BACKEND=cpu TORCH_DEVICE=cpu CONAN=target/release/conan tools/device_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET=${PRESET:-conan-v2}
BACKEND=${BACKEND:-wgpu}
TORCH_DEVICE=${TORCH_DEVICE:-cuda}
CONAN=${CONAN:-.device/conan}
# Variant builds to compare on the same packs and ids, as LABEL=PATH words, e.g.
#   VARIANTS="fusion=.device/conan-fusion autotune=.device/conan-autotune"
# (each a `conan` built here with those burn features and carried like the first).
VARIANTS=${VARIANTS:-}
WORK=${WORK:-/tmp/conan-bench-$PRESET}
OUT=${OUT:-target/device-bench}
SHAPES=${SHAPES:-32x128 1x32}
mkdir -p "$OUT" "$WORK"

source tools/device_vulkan.sh
conans=(--conan "conan=$CONAN")
for v in $VARIANTS; do conans+=(--conan "$v"); done
for c in "$CONAN" $(for v in $VARIANTS; do echo "${v#*=}"; done); do
  [[ -x "$c" ]] || { echo "error: $c is missing (build it here and carry it, see the top of $0)" >&2; exit 1; }
done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

t=$(date +%s)
[[ -e "$WORK/f32/config.json" ]] || "$CONAN" synth --preset "$PRESET" --out "$WORK/f32"
for q in f32 q8 q4; do
  [[ -e "$WORK/pack-$q/manifest.json" ]] || "$CONAN" convert --from "$WORK/f32" --quant "$q" --out "$WORK/pack-$q"
done
echo "checkpoint and packs ready in $(( $(date +%s) - t )) s: $(du -sh "$WORK"/pack-* | tr '\n' ' ')"

PY=${PY:-python3}
args=(--dtype float32)
[[ "$TORCH_DEVICE" == cuda ]] && args+=(--dtype bfloat16)
for s in $SHAPES; do args+=(--shape "$s"); done
PYTHONUNBUFFERED=1 $PY tools/bench_torch.py --weights "$WORK/f32" \
  --model "$WORK/pack-q4" --model "$WORK/pack-q8" --model "$WORK/pack-f32" \
  --backend "$BACKEND" --device "$TORCH_DEVICE" "${args[@]}" \
  "${conans[@]}" --json "$OUT/device-bench.json" | tee "$OUT/device-bench.md"
