#!/usr/bin/env python3
"""The fingerprint of every source the app's wasm is compiled from, and the check that the
prebuilt app in web/pkg was built from the sources in this tree.

  tools/wasm_stamp.py            print the fingerprint
  tools/wasm_stamp.py --check    exit 0 when web/pkg/STAMP holds it, 1 (saying why) when not
  tools/wasm_stamp.py --write    write web/pkg/STAMP (web/build.sh --release --update-pkg)

The sources: the workspace crates conan-web and conan-worker reach through path
dependencies (found with `cargo metadata --no-deps`, offline, so nothing is downloaded),
the files git tracks in them, the lockfile, the workspace manifest (profiles), cargo's
config (rustflags) and web/build.sh (how the wasm is bound). The compiler's version is
recorded but not compared: a newer rustc builds the same program.

Standard library only: the demo runs this before anything is installed or compiled.
"""

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = ROOT / "web" / "pkg" / "STAMP"
APP_CRATES = ("conan-web", "conan-worker")
NOT_COMPILED = ("tests", "examples", "benches")
# Files outside the crates that change what the wasm build produces.
BUILD_FILES = ("Cargo.toml", "Cargo.lock", ".cargo/config.toml", "rust-toolchain", "rust-toolchain.toml", "web/build.sh")


def crate_dirs() -> list[Path]:
    """The directories of the workspace crates the app compiles, dev-dependencies excluded."""
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--offline", "--format-version", "1"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    packages = {p["name"]: p for p in json.loads(out)["packages"]}
    seen, todo = set(), list(APP_CRATES)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dep in packages[name]["dependencies"]:
            if dep.get("path") and dep["kind"] != "dev":
                todo.append(dep["name"])
    return sorted(Path(packages[n]["manifest_path"]).parent for n in seen)


def files_in(directory: Path) -> list[Path]:
    """The files git tracks under `directory` (its working-tree contents are what is hashed),
    but for its tests, examples and benches, which the app does not compile; outside a git
    checkout, every such file but build output."""
    return [f for f in all_files_in(directory) if f.relative_to(directory).parts[0] not in NOT_COMPILED]


def all_files_in(directory: Path) -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", str(directory)], cwd=ROOT, check=True, capture_output=True
        ).stdout
        return [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for base, dirs, names in os.walk(directory):
            dirs[:] = [d for d in dirs if d != "target" and not d.startswith(".")]
            found += [Path(base) / n for n in names]
        return found


def fingerprint() -> tuple[str, int]:
    files = [ROOT / f for f in BUILD_FILES if (ROOT / f).is_file()]
    for d in crate_dirs():
        files += files_in(d)
    # A file deleted in the working tree but still tracked is simply absent from the build.
    files = sorted({f for f in files if f.is_file()})
    h = hashlib.sha256()
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        h.update(rel.encode() + b"\0" + hashlib.sha256(f.read_bytes()).hexdigest().encode() + b"\n")
    return h.hexdigest(), len(files)


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("", "--check", "--write"):
        print(__doc__, file=sys.stderr)
        return 2
    digest, count = fingerprint()
    if mode == "":
        print(digest)
    elif mode == "--write":
        STAMP.parent.mkdir(parents=True, exist_ok=True)
        STAMP.write_text(
            f"sources {digest}\n"
            f"files {count}\n"
            f"rustc {tool_version(['rustc', '--version'])}\n"
            f"wasm-bindgen {tool_version(['wasm-bindgen', '--version'])}\n"
            f"built {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        )
        print(f"wrote {STAMP.relative_to(ROOT)}: sources {digest} ({count} files)")
    else:
        if not STAMP.is_file():
            print(f"{STAMP.relative_to(ROOT)} is missing: there is no prebuilt app", file=sys.stderr)
            return 1
        recorded = dict(line.split(" ", 1) for line in STAMP.read_text().splitlines() if " " in line)
        if recorded.get("sources") != digest:
            print(
                f"web/pkg was built from other sources (its STAMP: {recorded.get('sources', 'none')}, "
                f"this tree: {digest}); rebuild it with `web/build.sh --release --update-pkg`",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
