#!/usr/bin/env bash
# The tests that drive the app in headless Chromium, as cargo arguments, one per line
# (`--test`, `browser`, `--test`, `search`): every integration test marked `test = false`
# in a manifest, so the list lives in the manifests alone. tools/test.sh runs them once the
# app is built; tools/lint.sh lints them (`--all-targets` leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
# Finding none fails: the callers would otherwise skip the browser tests without a word.
cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
names = [t["name"] for p in json.load(sys.stdin)["packages"] for t in p["targets"]
         if "test" in t["kind"] and not t["test"]]
if not names:
    sys.exit("tools/app_tests.sh: no integration test is marked test = false")
for name in names:
    print("--test")
    print(name)
'
