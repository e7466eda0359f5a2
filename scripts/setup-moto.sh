#!/usr/bin/env bash
# Creates (once) the Python virtualenv holding the pinned moto server used by the integration tests
# and the demo, and prints where moto_server is.
#
#   scripts/setup-moto.sh            # venv at <repo>/.venv
#   TRAILSYNC_VENV=/path scripts/setup-moto.sh
#   PYTHON=python3.11 scripts/setup-moto.sh
#
# Idempotent: when the pinned moto version is already installed, pip is not run at all.
# The tests find moto_server at <repo>/.venv/bin/moto_server, or at $TRAILSYNC_MOTO_SERVER.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
requirements="$script_dir/requirements-moto.txt"
venv="${TRAILSYNC_VENV:-$repo_root/.venv}"
python="${PYTHON:-python3}"

die() {
    echo "setup-moto: $*" >&2
    exit 1
}

command -v "$python" >/dev/null 2>&1 || die "$python not found: install Python 3.9+ (or set PYTHON=/path/to/python3)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
    || die "$("$python" --version 2>&1) is too old: moto needs Python 3.9+ (set PYTHON=/path/to/python3)"

# The one pinned version, read from the requirements file so the pin lives in exactly one place.
moto_version="$(sed -n 's/^moto\[server\]==\([^[:space:]#]*\).*/\1/p' "$requirements")"
[ -n "$moto_version" ] || die "no 'moto[server]==<version>' line in $requirements"

venv_python="$venv/bin/python"
moto_server="$venv/bin/moto_server"

# True when the venv already has exactly the pinned moto with its server extras importable.
installed() {
    [ -x "$venv_python" ] && [ -x "$moto_server" ] && "$venv_python" - "$moto_version" <<'PY' 2>/dev/null
import importlib.metadata as metadata, sys
if metadata.version("moto") != sys.argv[1]:
    sys.exit(1)
import moto.server  # noqa: F401  (pulls in flask: proves the [server] extra is there)
PY
}

if installed; then
    echo "setup-moto: moto $moto_version already installed in $venv" >&2
else
    if [ ! -x "$venv_python" ]; then
        echo "setup-moto: creating virtualenv $venv" >&2
        if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
            # Debian/Ubuntu ship python3 without ensurepip (python3-venv): make a pip-less venv and
            # drive the interpreter's own pip into it (pip >= 22.3 understands --python).
            rm -rf "$venv"
            "$python" -m venv --without-pip "$venv" \
                || die "could not create a virtualenv at $venv with $python -m venv"
        fi
    fi
    if "$venv_python" -m pip --version >/dev/null 2>&1; then
        pip=("$venv_python" -m pip)
    elif "$python" -m pip --version >/dev/null 2>&1; then
        pip=("$python" -m pip --python "$venv_python")
    else
        die "no pip available for $venv_python: install python3-venv or python3-pip"
    fi
    echo "setup-moto: installing moto[server]==$moto_version into $venv" >&2
    PIP_DISABLE_PIP_VERSION_CHECK=1 "${pip[@]}" install --quiet --requirement "$requirements" \
        || die "pip install of $requirements failed (is PyPI reachable?)"
    installed || die "moto $moto_version is still not importable from $venv_python after pip install"
fi

echo "$moto_server"
