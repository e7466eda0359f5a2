#!/usr/bin/env bash
# The test command of README.md: sets up moto, checks PostgreSQL, runs every test.
# Tests that need moto or PostgreSQL start or find them themselves and fail loudly when absent.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-moto.sh
export TRAILSYNC_MOTO_SERVER="${TRAILSYNC_MOTO_SERVER:-$PWD/.venv/bin/moto_server}"

# PostgreSQL is a service of the machine; start it if it is installed but stopped.
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    echo "PostgreSQL is not listening on 127.0.0.1:5432; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
