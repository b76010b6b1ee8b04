#!/usr/bin/env bash
# Set up, build and start the demo at http://127.0.0.1:8080 on the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
web/build.sh --release
exec cargo run -p conan-cli -- serve web/dist --host 127.0.0.1 --port 8080
