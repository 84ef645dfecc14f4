# Sourced by the other scripts: make sure .venv exists with pgunify and the given extras installed.
# Usage: . scripts/bootstrap.sh [extras]
# UNIFY_VENV names another environment; UNIFY_INSTALL a built wheel to install there instead
# of the clone (how the wheel is tested as users get it).
set -euo pipefail

UNIFY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${UNIFY_VENV:-$UNIFY_ROOT/.venv}"
EXTRAS="${1:-}"

find_python() {
    # newest first among those pgserver (the embedded PostgreSQL) ships wheels for
    for candidate in python3.12 python3.11 python3.10 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PYTHON="$(find_python)" || {
        echo "pgunify needs Python 3.10 or newer (with the venv module); none was found on PATH." >&2
        echo "Install one (e.g. 'apt install python3.11 python3.11-venv' or from python.org) and run this again." >&2
        exit 1
    }
    echo "Creating a virtual environment in $VENV with $PYTHON" >&2
    "$PYTHON" -m venv "$VENV" || {
        echo "Could not create a virtual environment; install the venv module (e.g. 'apt install python3-venv')." >&2
        exit 1
    }
fi

stamp="$VENV/.pgunify-installed${EXTRAS:+-$EXTRAS}"
if [ -n "${UNIFY_INSTALL:-}" ]; then
    if [ ! -f "$stamp" ]; then
        echo "Installing $(basename "$UNIFY_INSTALL")${EXTRAS:+ with [$EXTRAS]} into $VENV" >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "pgunify${EXTRAS:+[$EXTRAS]} @ file://$(cd "$(dirname "$UNIFY_INSTALL")" && pwd)/$(basename "$UNIFY_INSTALL")"
        touch "$stamp"
    fi
elif [ ! -f "$stamp" ] || [ "$UNIFY_ROOT/pyproject.toml" -nt "$stamp" ]; then
    echo "Installing pgunify${EXTRAS:+[$EXTRAS]} into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$UNIFY_ROOT${EXTRAS:+[$EXTRAS]}"
    touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
