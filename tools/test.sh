#!/usr/bin/env bash
# Everything the project tests, from a fresh clone: installs test dependencies, checks
# the committed numpy references, then runs the Rust tests (unit, reference, CLI, and
# the headless-Chromium browser tests on WebGPU and on the CPU fallback).
#   tools/test.sh            the tests
#   tools/test.sh --lint     the tests, with clippy (-D warnings) as the compiler of every
#                            workspace crate they build: the native crates with their tests
#                            and examples, and the wasm crates when the browser tests build
#                            the app. Each crate is compiled once instead of once for clippy
#                            and again for the tests (what CI runs; tools/lint.sh --fmt
#                            does the formatting).
#   tools/test.sh --lint --no-run
#                            only compile (and lint) the native tests; nothing installed
set -euo pipefail
cd "$(dirname "$0")/.."
lint=0 run=1
for arg in "$@"; do
  case "$arg" in
    --lint) lint=1 ;;
    --no-run) run=0 ;;
    *) echo "tools/test.sh: unknown option $arg (see the comment at its top)" >&2; exit 2 ;;
  esac
done
((run)) && tools/setup.sh --test
if ((lint)); then
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
  # What `cargo clippy` does, on a build instead of a check: clippy-driver compiles the
  # workspace's own crates (dependencies stay plain rustc) and denies warnings. Exported
  # after setup (so `cargo install` is not linted) and before any build, so web/build.sh,
  # run by the browser tests, lints the wasm crates the same way.
  export RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
fi
cargo_test=(cargo test --workspace --exclude conan-web --exclude conan-worker --no-fail-fast)
if ((!run)); then
  "${cargo_test[@]}" --no-run
  exit 0
fi

echo "== numpy reference (tests/reference.py)"
for m in static/models/tiny:reference-tiny tests/fixtures/tiny-qwen2:reference-tiny-qwen2 tests/fixtures/tiny-qwen3:reference-tiny-qwen3; do
  .venv/bin/python tests/reference.py "${m%%:*}" --check "tests/fixtures/${m##*:}.json"
done

echo "== metric references (tests/eval_parity.py)"
.venv/bin/python tests/eval_parity.py --check tests/fixtures/eval-parity.json

echo "== cargo test"
# One test thread for the browser tests: two Chromiums on SwiftShader would starve 2 cores.
"${cargo_test[@]}" -- --test-threads=1
