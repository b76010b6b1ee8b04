#!/usr/bin/env bash
# Set up, build and start the demo at http://127.0.0.1:8080 on the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
web/build.sh --release
# The file server alone (no model stack), in the release profile the wasm build already
# compiled its shared build-time crates in.
exec cargo run --release -p conan-serve -- web/dist --host 127.0.0.1 --port 8080
