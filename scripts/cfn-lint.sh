#!/usr/bin/env bash
# Lints the CloudFormation templates under deploy/ with the pinned cfn-lint; fails on any error or
# warning. Creates (once) the same Python virtualenv as scripts/setup-moto.sh and installs the pinned
# cfn-lint into it.
#
#   scripts/cfn-lint.sh                     # every template under deploy/ (any depth)
#   scripts/cfn-lint.sh deploy/foo.yml      # just these
#   TRAILSYNC_VENV=/path scripts/cfn-lint.sh
#   PYTHON=python3.11 scripts/cfn-lint.sh
#
# Idempotent: when the pinned cfn-lint version is already installed, pip is not run at all.
# A template is a *.yml or *.yaml file with a top-level `Resources:` key; other YAML files there
# (examples, configs) are skipped, as are non-YAML files such as deploy/README.md.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
requirements="$script_dir/requirements-cfn-lint.txt"
venv="${TRAILSYNC_VENV:-$repo_root/.venv}"
python="${PYTHON:-python3}"

die() {
    echo "cfn-lint.sh: $*" >&2
    exit 1
}

# The one pinned version, read from the requirements file so the pin lives in exactly one place.
cfn_lint_version="$(sed -n 's/^cfn-lint==\([^[:space:]#]*\).*/\1/p' "$requirements")"
[ -n "$cfn_lint_version" ] || die "no 'cfn-lint==<version>' line in $requirements"

venv_python="$venv/bin/python"
cfn_lint="$venv/bin/cfn-lint"

# True when the venv already has exactly the pinned cfn-lint, importable.
installed() {
    [ -x "$venv_python" ] && [ -x "$cfn_lint" ] && "$venv_python" - "$cfn_lint_version" <<'PY' 2>/dev/null
import importlib.metadata as metadata, sys
if metadata.version("cfn-lint") != sys.argv[1]:
    sys.exit(1)
import cfnlint.api  # noqa: F401  (proves the package and its dependencies import)
PY
}

if installed; then
    echo "cfn-lint.sh: cfn-lint $cfn_lint_version already installed in $venv" >&2
else
    command -v "$python" >/dev/null 2>&1 \
        || die "$python not found: install Python 3.9+ (or set PYTHON=/path/to/python3)"
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
        || die "$("$python" --version 2>&1) is too old: cfn-lint needs Python 3.9+ (set PYTHON=/path/to/python3)"
    if [ ! -x "$venv_python" ]; then
        echo "cfn-lint.sh: creating virtualenv $venv" >&2
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
    echo "cfn-lint.sh: installing cfn-lint==$cfn_lint_version into $venv" >&2
    PIP_DISABLE_PIP_VERSION_CHECK=1 "${pip[@]}" install --quiet --requirement "$requirements" \
        || die "pip install of $requirements failed (is PyPI reachable?)"
    installed || die "cfn-lint $cfn_lint_version is still not importable from $venv_python after pip install"
    # The venv is shared with moto (scripts/setup-moto.sh): make sure the two still agree.
    PIP_DISABLE_PIP_VERSION_CHECK=1 "${pip[@]}" check >&2 \
        || die "pip check found conflicting requirements in $venv after installing cfn-lint"
fi

# The templates: given on the command line, else every CloudFormation YAML file under deploy/.
templates=()
if [ "$#" -gt 0 ]; then
    templates=("$@")
else
    while IFS= read -r -d '' file; do
        if grep -q '^Resources:' "$file"; then
            templates+=("$file")
        else
            echo "cfn-lint.sh: skipping $file (no top-level Resources: key)" >&2
        fi
    done < <(find "$repo_root/deploy" -type f \( -name '*.yml' -o -name '*.yaml' \) -print0 | LC_ALL=C sort -z)
    [ "${#templates[@]}" -gt 0 ] || die "no CloudFormation templates found under $repo_root/deploy"
fi

echo "cfn-lint.sh: cfn-lint $cfn_lint_version on ${#templates[@]} template(s)" >&2
status=0
# Errors and warnings fail the run; informational findings (--include-checks I) are shown only.
"$cfn_lint" --include-checks I --non-zero-exit-code warning -- "${templates[@]}" || status=$?
if [ "$status" -eq 0 ]; then
    for template in "${templates[@]}"; do
        echo "ok  ${template#"$repo_root"/}"
    done
fi
exit "$status"
