#!/usr/bin/env bash
# Set up, build and start the demo at http://127.0.0.1:8080 on the bundled default model.
#   tools/demo.sh                 the prebuilt app in web/pkg when it was built from these
#                                 sources (tools/wasm_stamp.py), else built from source
#   tools/demo.sh --from-source   always build the app from source (release wasm)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
from_source=0
case "${1:-}" in
  "") ;;
  --from-source) from_source=1 ;;
  *) echo "tools/demo.sh: unknown option $1 (see the comment at its top)" >&2; exit 2 ;;
esac

if ((!from_source)) && tools/wasm_stamp.py --check; then
  # Compiling burn and cubecl to wasm takes 14 to 26 minutes on 2 cores; web/pkg holds that
  # build, checked against the sources, so only the file server is compiled here.
  echo "tools/demo.sh: the prebuilt app (web/pkg) matches the sources; compiling the file server"
  cargo build --release -p conan-serve
  web/build.sh --prebuilt
else
  ((from_source)) || echo "tools/demo.sh: building the app from source (14 to 26 minutes on 2 cores)"
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
fi
echo "demo built in $((SECONDS - start)) s"
exec "${CARGO_TARGET_DIR:-target}/release/conan-serve" web/dist --host 127.0.0.1 --port 8080
