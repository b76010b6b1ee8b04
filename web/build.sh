#!/usr/bin/env bash
# Build the web app into web/dist: the yew UI (conan-web) and the inference worker
# (conan-worker) to wasm32, bound with wasm-bindgen-cli, plus the page and static/.
#   web/build.sh                          debug build (faster to compile; what the tests use)
#   web/build.sh --release                optimised build
#   web/build.sh --release --update-pkg   optimised build, also kept in web/pkg with the
#                                         fingerprint of its sources (tools/wasm_stamp.py):
#                                         the prebuilt app the demo serves
#   web/build.sh --prebuilt               no compiling: the app from web/pkg (what the demo
#                                         runs when web/pkg matches the sources)
#   --out DIR                             assemble into DIR instead of web/dist
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug prebuilt=0 update=0 out=web/dist
cargo_flags=()
while (($#)); do
  case "$1" in
    --release) profile=release; cargo_flags=(--release) ;;
    --prebuilt) prebuilt=1 ;;
    --update-pkg) update=1 ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    *) echo "web/build.sh: unknown option $1 (see the comment at its top)" >&2; exit 2 ;;
  esac
  shift
done
if ((update)) && [[ $profile != release ]]; then
  echo "web/build.sh: --update-pkg keeps the release build: add --release" >&2
  exit 2
fi
pkg=web/pkg
bound=(conan_web.js conan_web_bg.wasm conan_worker.js conan_worker_bg.wasm)

if ((prebuilt)); then
  for f in "${bound[@]}"; do
    [[ -f $pkg/$f ]] || { echo "web/build.sh: $pkg/$f is missing: there is no prebuilt app" >&2; exit 1; }
  done
  # Assembled all the same (the demo decides whether to use it), but never silently.
  tools/wasm_stamp.py --check || echo "web/build.sh: serving web/pkg although it is older than the sources" >&2
  rm -rf "$out"
  mkdir -p "$out"
  cp "${bound[@]/#/$pkg/}" "$out/"
else
  want=$(grep -A1 'name = "wasm-bindgen"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p' | head -1)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
  if [[ "$have" != "$want" ]]; then
    echo "wasm-bindgen-cli $want is needed (found: ${have:-none}); run tools/setup.sh" >&2
    exit 1
  fi
  # The fingerprint of what is compiled, taken before compiling: an edit during the build
  # must not be recorded as built.
  ((update)) && sources=$(tools/wasm_stamp.py)
  cargo build --target wasm32-unknown-unknown -p conan-web -p conan-worker "${cargo_flags[@]}"
  target_dir="${CARGO_TARGET_DIR:-target}"
  rm -rf "$out"
  mkdir -p "$out"
  # The release build drops the function names (6.6 MB of the worker's 36 MB), which only
  # make a panic's console stack readable: the debug build keeps them.
  bind_flags=(--target web --no-typescript)
  [[ $profile == release ]] && bind_flags+=(--remove-name-section --remove-producers-section)
  # The UI is a binary (conan-web.wasm), the worker a library (conan_worker.wasm).
  for wasm in conan-web.wasm conan_worker.wasm; do
    wasm-bindgen "${bind_flags[@]}" --out-name "$(basename "${wasm//-/_}" .wasm)" \
      --out-dir "$out" "$target_dir/wasm32-unknown-unknown/$profile/$wasm"
  done
  for f in "${bound[@]}"; do
    [[ -f $out/$f ]] || { echo "web/build.sh: wasm-bindgen wrote no $f" >&2; exit 1; }
  done
  if ((update)); then
    if [[ $(tools/wasm_stamp.py) != "$sources" ]]; then
      echo "web/build.sh: the sources changed during the build; web/pkg is left as it was" >&2
      exit 1
    fi
    mkdir -p "$pkg"
    cp "${bound[@]/#/$out/}" "$pkg/"
    tools/wasm_stamp.py --write
  fi
fi
cp web/index.html web/main.js web/sw.js web/worker.js web/style.css "$out/"
cp -r static "$out/static"

# What the service worker keeps for offline use: the shell, the default model pack, the
# corpus and the benchmark slices. The version changes whenever any of their bytes do.
precache=(index.html main.js style.css worker.js "${bound[@]}")
while IFS= read -r f; do precache+=("$f"); done < <(cd "$out" && find static/corpus static/tasks static/models/conan-mini/q8 -type f | sort)
version=$(cd "$out" && sha256sum "${precache[@]}" | sha256sum | cut -c1-16)
{
  printf '{"version": "%s", "files": [' "$version"
  sep=""
  for f in "${precache[@]}"; do printf '%s"%s"' "$sep" "$f"; sep=", "; done
  printf ']}\n'
} > "$out/precache.json"
from=$profile
((prebuilt)) && from="prebuilt $pkg"
echo "built $out ($from), offline cache version $version (${#precache[@]} files)"
