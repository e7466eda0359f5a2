#!/usr/bin/env bash
# The README's demo: everything it needs is set up here (moto in .venv, the binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-moto.sh
export TRAILSYNC_MOTO_SERVER="${TRAILSYNC_MOTO_SERVER:-$PWD/.venv/bin/moto_server}"
# The same package selection as the tests (`--workspace`), so the two share every compiled
# dependency: the AWS SDK is built once whichever runs first.
cargo build --locked --workspace --bins
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec "$target_dir/debug/trailsync-demo" "$@"
