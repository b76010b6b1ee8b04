#!/usr/bin/env bash
# Everything the project tests, from a fresh clone: installs test dependencies, checks
# the committed numpy references, then runs the Rust tests (unit, reference, CLI, and
# the headless-Chromium browser tests on WebGPU and on the CPU fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test

echo "== numpy reference (tests/reference.py)"
for m in static/models/tiny:reference-tiny tests/fixtures/tiny-qwen2:reference-tiny-qwen2 tests/fixtures/tiny-qwen3:reference-tiny-qwen3; do
  .venv/bin/python tests/reference.py "${m%%:*}" --check "tests/fixtures/${m##*:}.json"
done

echo "== metric references (tests/eval_parity.py)"
.venv/bin/python tests/eval_parity.py --check tests/fixtures/eval-parity.json

echo "== cargo test"
# One test thread for the browser tests: two Chromiums on SwiftShader would starve 2 cores.
cargo test --workspace --exclude conan-web --exclude conan-worker --no-fail-fast -- --test-threads=1
