# Shared by scripts/start and scripts/test: install what mamori needs, idempotently.
# Sourced, not run. Uses only Debian 12 packages and PyPI.
set -euo pipefail

MAMORI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$MAMORI_ROOT/.venv"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else echo "mamori setup: need root to run: $*" >&2; exit 2
    fi
}

# Install Debian packages that are not installed yet; no apt-get at all when none are missing.
ensure_debs() {
    local missing=()
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "mamori setup: installing Debian packages: ${missing[*]}" >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

pick_python() {
    for py in /usr/bin/python3.11 /usr/bin/python3 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "$py"; return
        fi
    done
    echo "mamori setup: Python 3.11 or newer is needed (Debian 12: apt-get install python3)" >&2
    exit 2
}

# Create .venv when missing and (re)install mamori with the given extras when pyproject changed.
ensure_venv() {
    local extras="$1"
    if command -v dpkg-query >/dev/null 2>&1; then
        ensure_debs python3 python3-venv python3-dev sqlite3 ca-certificates
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$(pick_python)" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
    fi
    local stamp="$VENV/.mamori-installed-${extras:-base}"
    local target="$MAMORI_ROOT"
    if [ -n "$extras" ]; then target="$MAMORI_ROOT[$extras]"; fi
    if [ ! -f "$stamp" ] || [ "$MAMORI_ROOT/pyproject.toml" -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install -q -e "$target"
        touch "$stamp"
    fi
}
