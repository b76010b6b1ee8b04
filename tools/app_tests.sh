#!/usr/bin/env bash
# The tests that drive the app in headless Chromium, as cargo arguments, one per line
# (`--test`, `browser`, `--test`, `search`): every integration test marked `test = false`
# in a manifest, so the list lives in the manifests alone. tools/test.sh runs them once the
# app is built; tools/lint.sh lints them (`--all-targets` leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for package in json.load(sys.stdin)["packages"]:
    for target in package["targets"]:
        if "test" in target["kind"] and not target["test"]:
            print("--test")
            print(target["name"])
'
