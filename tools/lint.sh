#!/usr/bin/env bash
# rustfmt and clippy over the whole workspace: native crates with their tests, the wasm
# crates (worker, UI) for wasm32, and the cargo-fuzz targets' formatting. Warnings fail.
#   tools/lint.sh          formatting, then clippy
#   tools/lint.sh --fmt    formatting only (CI lints while it compiles: tools/test.sh --lint)
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

echo "== cargo fmt --check"
cargo fmt --all --check
(cd fuzz && cargo fmt --check)
[[ "${1:-}" == "--fmt" ]] && exit 0

echo "== cargo clippy (native)"
# --all-targets leaves out the `test = false` targets (the app's browser tests): named too.
list=$(tools/app_tests.sh) # (a failure here stops the script, as set -e cannot inside <(…))
mapfile -t app_tests <<<"$list"
cargo clippy --workspace --exclude conan-web --exclude conan-worker --all-targets "${app_tests[@]}" -- -D warnings

echo "== cargo clippy (wasm32: worker and UI)"
cargo clippy --target wasm32-unknown-unknown -p conan-worker -p conan-web -p conan-protocol -- -D warnings
