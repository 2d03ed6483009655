# shellcheck shell=bash
# Shared by scripts/setup, scripts/test and scripts/run. Source it; do not run it.
# Works as root (CI, servers) and as an ordinary user with sudo (laptops).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
export PATH="${CARGO_HOME:-${HOME}/.cargo}/bin:${PATH}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if is_root; then "$@"; else sudo "$@"; fi
}

# Runs a server-side command (initdb, pg_ctl): as root through the postgres OS user (initdb
# refuses root), as anyone else as that user, whose clusters live in their own directories.
as_postgres() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Builds the extension and installs it into PostgreSQL's directories, which stay as the
# distribution made them (root's, not writable by others): as an ordinary user the files are
# copied through sudo. Extra arguments go to `cargo pgrx install` (e.g. --release).
install_extension() {
    local sudo=()
    is_root || sudo=(--sudo)
    cargo pgrx install "${sudo[@]}" --pg-config "$PG_CONFIG" "$@" >/dev/null
}

# The pgrx version pinned in Cargo.toml, e.g. 0.18.0.
pinned_pgrx_version() {
    sed -n 's/^pgrx = "=\([0-9.]*\)".*/\1/p' "${ROOT}/Cargo.toml" | head -n1
}

# A private PostgreSQL cluster: data under $1, listening on 127.0.0.1:$2 and a socket in $1.
# As root, the cluster runs as the postgres OS user, which must own $1.
cluster_init() {
    local dir="$1"
    if [ ! -s "${dir}/PG_VERSION" ]; then
        mkdir -p "$dir"
        is_root && chown postgres: "$dir"
        chmod 700 "$dir"
        as_postgres "${PG_BIN}/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    fi
}

# $3: more server options, e.g. "-c shared_preload_libraries=pg_stat_statements".
cluster_start() {
    local dir="$1" port="$2" extra="${3:-}"
    as_postgres "${PG_BIN}/pg_ctl" -D "$dir" -l "${dir}/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories='${dir}' ${extra}" start >/dev/null
}

cluster_stop() {
    local dir="$1"
    [ -f "${dir}/postmaster.pid" ] || return 0
    as_postgres "${PG_BIN}/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
}

# A TCP port nobody listens on, picked by the kernel.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
