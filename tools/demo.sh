#!/usr/bin/env bash
# Set up, build and start the demo at http://127.0.0.1:8080 on the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# wasm-bindgen-cli has no binary in any registry we reach: its source build (minutes on a
# fresh machine, nothing when installed) runs beside the app's own build, which leaves a
# core idle much of the time.
log=$(mktemp)
tools/setup.sh >"$log" 2>&1 &
setup=$!
cargo build --release --target wasm32-unknown-unknown -p conan-web -p conan-worker
# The file server alone: no model stack is compiled for the host.
cargo build --release -p conan-serve
if ! wait "$setup"; then
  cat "$log"
  exit 1
fi
web/build.sh --release
echo "demo built in $((SECONDS - start)) s"
exec "${CARGO_TARGET_DIR:-target}/release/conan-serve" web/dist --host 127.0.0.1 --port 8080
