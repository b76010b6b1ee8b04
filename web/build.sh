#!/usr/bin/env bash
# Build the web app into web/dist: the yew UI (conan-web) and the inference worker
# (conan-worker) to wasm32, bound with wasm-bindgen-cli, plus the page and static/.
#   web/build.sh            debug build (faster to compile; what the tests use)
#   web/build.sh --release  optimised build (what the demo uses)
#   --compile-only          only cargo's part (no wasm-bindgen-cli needed yet): lets the
#                           long compile start while wasm-bindgen-cli is still installing
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug
cargo_flags=()
compile_only=0
for arg in "$@"; do
  case "$arg" in
    --release) profile=release; cargo_flags=(--release) ;;
    --compile-only) compile_only=1 ;;
    *) echo "web/build.sh: unknown option $arg (see the comment at its top)" >&2; exit 2 ;;
  esac
done

# A target folder of its own: cargo locks the host folder (target/debug) for a cross build's
# build scripts too, so sharing it would make this build and a native one wait for each
# other; apart, the two run side by side (CI and tools/demo.sh do).
target_dir="${CARGO_TARGET_DIR:-target}/web"
build=(cargo build --target wasm32-unknown-unknown --target-dir "$target_dir" -p conan-web -p conan-worker "${cargo_flags[@]}")
if ((compile_only)); then
  "${build[@]}"
  exit 0
fi

want=$(grep -A1 'name = "wasm-bindgen"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p' | head -1)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [[ "$have" != "$want" ]]; then
  echo "wasm-bindgen-cli $want is needed (found: ${have:-none}); run tools/setup.sh" >&2
  exit 1
fi

"${build[@]}"
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
