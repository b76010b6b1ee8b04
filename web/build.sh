#!/usr/bin/env bash
# Build the web app into web/dist: the yew UI (conan-web) and the inference worker
# (conan-worker) to wasm32, bound with wasm-bindgen-cli, plus the page and static/.
#   web/build.sh            debug build (faster to compile; what the tests use)
#   web/build.sh --release  optimised build (what the demo uses)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug
cargo_flags=()
if [[ "${1:-}" == "--release" ]]; then profile=release; cargo_flags=(--release); fi

want=$(grep -A1 'name = "wasm-bindgen"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p' | head -1)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [[ "$have" != "$want" ]]; then
  echo "wasm-bindgen-cli $want is needed (found: ${have:-none}); run tools/setup.sh" >&2
  exit 1
fi

cargo build --target wasm32-unknown-unknown -p conan-web -p conan-worker "${cargo_flags[@]}"
target_dir="${CARGO_TARGET_DIR:-target}"
out=web/dist
rm -rf "$out"
mkdir -p "$out"
# The UI is a binary (conan-web.wasm), the worker a library (conan_worker.wasm).
for wasm in conan-web.wasm conan_worker.wasm; do
  wasm-bindgen --target web --no-typescript --out-name "$(basename "${wasm//-/_}" .wasm)" \
    --out-dir "$out" "$target_dir/wasm32-unknown-unknown/$profile/$wasm"
done
cp web/index.html web/main.js web/sw.js web/worker.js web/style.css "$out/"
cp -r static "$out/static"

# What the service worker keeps for offline use: the shell, the default model pack, the
# corpus and the benchmark slices. The version changes whenever any of their bytes do.
precache=(index.html main.js style.css worker.js conan_web.js conan_web_bg.wasm conan_worker.js conan_worker_bg.wasm)
while IFS= read -r f; do precache+=("$f"); done < <(cd "$out" && find static/corpus static/tasks static/models/conan-mini/q8 -type f | sort)
version=$(cd "$out" && sha256sum "${precache[@]}" | sha256sum | cut -c1-16)
{
  printf '{"version": "%s", "files": [' "$version"
  sep=""
  for f in "${precache[@]}"; do printf '%s"%s"' "$sep" "$f"; sep=", "; done
  printf ']}\n'
} > "$out/precache.json"
echo "built $out ($profile), offline cache version $version (${#precache[@]} files)"
