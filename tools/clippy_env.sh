# Sourced (tools/test.sh --lint, .ci/run): what `cargo clippy` does, on a build instead of a
# check. clippy-driver compiles the workspace's own crates (dependencies stay plain rustc)
# and denies warnings, so each crate is compiled once, linted as it is.
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
export RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
