#!/usr/bin/env bash
# conan-train's GPU option on a lent machine (DEVELOPERS.md, "device"): a short run of the
# default recipe on burn's wgpu backend (Vulkan), to measure seconds per step against the
# dev box's CPU figures in the model card. It builds nothing there and has no teacher
# vectors (their cache is too large to carry), so the distillation term is off; it is one
# small matmul per step beside the encoder's forward and backward passes.
#
# Prepare here (once), beside tools/device_bench.sh's .gl debs (and its note on the 64 MiB
# that may travel):
#   cargo build --release -p conan-train --features wgpu && mkdir -p /tmp/t/data .device/t
#   strip -o /tmp/t/conan-train target/release/conan-train && cp -r ../shared/data/{tatoeba,hsk,cedict} /tmp/t/data/
#   tar -C /tmp/t -cJf .device/t/train.tar.xz conan-train data
# Then, as the device tool's command, carrying .device/t and .gl:
#   tar -xJf .device/t/train.tar.xz -C .device && tools/device_train.sh
# Extra arguments go to conan-train. A dry run here:
#   TRAIN=target/release/conan-train DATA=../shared/data BACKEND=cpu WEAK=20 SUPERVISED=20 tools/device_train.sh --limit-pairs 2000
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIN=${TRAIN:-.device/conan-train}
DATA=${DATA:-.device/data}
BACKEND=${BACKEND:-wgpu}
WEAK=${WEAK:-400}
SUPERVISED=${SUPERVISED:-300}
LIMIT_S=${LIMIT_S:-300}
OUT=${OUT:-target/device-train}
mkdir -p "$OUT"

source tools/device_vulkan.sh
[[ -x "$TRAIN" ]] || { echo "error: $TRAIN is missing (build it here and carry it, see the top of $0)" >&2; exit 1; }

# Every 50 steps conan-train prints its elapsed seconds, so a run stopped at LIMIT_S still
# tells the step time.
set +e
timeout "$LIMIT_S" "$TRAIN" --backend "$BACKEND" --data "$DATA" --distill-weight 0 \
  --out "$OUT/run" --weak-steps "$WEAK" --supervised-steps "$SUPERVISED" "$@" 2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
set -e
echo "conan-train exit $rc"
if [[ -f "$OUT/run/losses.csv" ]]; then
  # Median seconds per step by stage: the differences of the cumulative clock, so the one
  # mining and the dev scoring show up as outliers, not in the median.
  python3 - "$OUT/run/losses.csv" <<'PY' | tee "$OUT/steps.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for prev, row in zip(rows, rows[1:]):
    by.setdefault(row["stage"], []).append(float(row["seconds"]) - float(prev["seconds"]))
for stage, d in by.items():
    print(f"{stage}: {len(d)} steps, median {statistics.median(d):.3f} s/step, max {max(d):.1f} s")
PY
fi
exit "$rc"
