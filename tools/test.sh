#!/usr/bin/env bash
# Everything the project tests, from a fresh clone: installs test dependencies, checks
# the committed numpy references, then runs the Rust tests (unit, reference, CLI, and
# the headless-Chromium browser tests on WebGPU and on the CPU fallback).
#   tools/test.sh            the tests
#   tools/test.sh --lint     the tests, with clippy (-D warnings) as the compiler of every
#                            workspace crate they build (the native crates with their tests
#                            and examples), so each compiles once instead of once for clippy
#                            and again for the tests, and `cargo clippy` over the wasm
#                            crates for wasm32 beside the native tests (what CI runs;
#                            tools/lint.sh --fmt does the formatting).
#   tools/test.sh --lint --no-run
#                            only compile (and lint) the native tests; nothing installed
# The browser tests run last, on the prebuilt app (web/pkg) when it matches the sources.
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
  # run below when web/pkg is stale, lints the wasm crates the same way.
  export RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
fi
cargo_test=(cargo test --workspace --exclude conan-web --exclude conan-worker --no-fail-fast)
# The tests that drive the app in headless Chromium (`test = false` in their manifest, so
# they run here, after the app is built, or when named: `cargo test -p conan-cli --test browser`).
list=$(tools/app_tests.sh) # (a failure here stops the script, as set -e cannot inside <(…))
mapfile -t app_tests <<<"$list"
"${cargo_test[@]}" --no-run
"${cargo_test[@]}" --no-run "${app_tests[@]}"
((run)) || exit 0

status=0
echo "== numpy reference (tests/reference.py)"
for m in static/models/tiny:reference-tiny tests/fixtures/tiny-qwen2:reference-tiny-qwen2 tests/fixtures/tiny-qwen3:reference-tiny-qwen3; do
  .venv/bin/python tests/reference.py "${m%%:*}" --check "tests/fixtures/${m##*:}.json" || status=$?
done

echo "== metric references (tests/eval_parity.py)"
.venv/bin/python tests/eval_parity.py --check tests/fixtures/eval-parity.json || status=$?

# The demo serves web/pkg without compiling when it was built from these sources, so a
# change to the app's crates must come with a rebuilt web/pkg (web/build.sh --release
# --update-pkg). The browser tests run that prebuilt app, what a visitor gets; while it is
# stale they run a debug build of the sources instead, and this check fails the run.
echo "== the prebuilt app (web/pkg) matches the sources (tools/wasm_stamp.py --check)"
prebuilt=1
tools/wasm_stamp.py --check || { status=1; prebuilt=0; }

# Beside the native tests, which leave a core mostly idle: with --lint, clippy over the app's
# crates for wasm32 (a check, no code generated: the prebuilt app was compiled from these
# sources); with a stale web/pkg, the app's debug build. cargo holds its lock on target/
# while it checks that the tests are built and lets go before running them, so the second
# job starts at the first "Running" line: earlier, one cargo would wait for the other.
# Sharing target/ means the host's build scripts and proc-macros are reused. A failing
# check does not stop the rest (as --no-fail-fast); the exit status says whether all passed.
app_job() {
  if ((lint)); then
    env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
      cargo clippy --target wasm32-unknown-unknown -p conan-worker -p conan-web -p conan-protocol -- -D warnings
  fi
  if ((prebuilt)); then
    web/build.sh --prebuilt
  else
    env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS tools/setup.sh && web/build.sh
  fi
}
echo "== cargo test (native; the app's crates checked beside it)"
native_log=$(mktemp) app_log=$(mktemp)
# One test thread: the other core is the app job's.
"${cargo_test[@]}" -- --test-threads=1 > >(tee "$native_log") 2>&1 &
native=$!
until grep -q '^ *Running' "$native_log" || ! kill -0 "$native" 2>/dev/null; do sleep 1; done
app_job >"$app_log" 2>&1 &
app=$!
wait "$native" || status=$?

start=$SECONDS
if ! wait "$app"; then
  cat "$app_log"
  echo "the app's lint or build failed: the browser tests cannot run" >&2
  exit 1
fi
echo "== the app ($( ((prebuilt)) && echo "prebuilt web/pkg" || echo "debug build")) was ready $((SECONDS - start)) s after the native tests"

echo "== cargo test (the app in headless Chromium)"
# One test thread: two Chromiums on SwiftShader would starve 2 cores. web/dist is fresh, so
# the tests do not build it again.
CONAN_WEB_BUILT=1 "${cargo_test[@]}" "${app_tests[@]}" -- --test-threads=1 || status=$?
exit "$status"
