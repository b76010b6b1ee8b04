#!/usr/bin/env bash
# Fuzz every target for SECONDS each (default 600), one after another, and log the stats.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-600}; shift || true
targets=("$@")
(( ${#targets[@]} )) || targets=(config safetensors manifest tokenizer task document zip)
mkdir -p logs
for t in "${targets[@]}"; do
  echo "== $t ($secs s)"
  cargo +nightly fuzz run "$t" -s none -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    > "logs/$t.log" 2>&1
  echo "exit $? · $(grep -E '^stat::number_of_executed_units|^Done' "logs/$t.log" | tr '\n' ' ')"
  ls artifacts/"$t" 2>/dev/null | sed 's/^/  finding: /'
done
