# Shared by scripts/setup, scripts/test and scripts/run. Source it; do not run it.
# Works as root (CI, servers) and as an ordinary user with sudo (laptops).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
export PATH="${HOME}/.cargo/bin:${PATH}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if is_root; then "$@"; else sudo "$@"; fi
}

# Runs a command as the postgres OS user (initdb refuses root).
as_postgres() {
    if is_root; then
        runuser -u postgres -- "$@"
    elif [ "$(id -un)" = postgres ]; then
        "$@"
    else
        sudo -u postgres -- "$@"
    fi
}

# The pgrx version pinned in Cargo.toml, e.g. 0.18.0.
pinned_pgrx_version() {
    sed -n 's/^pgrx = "=\([0-9.]*\)".*/\1/p' "${ROOT}/Cargo.toml" | head -n1
}
