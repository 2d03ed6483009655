# shellcheck shell=bash
# Helpers for the end-to-end tests. Source it. Needs PGHOST, PGPORT, PGUSER of a running
# cluster with the extension installed (scripts/test starts one), of PostgreSQL PG_MAJOR.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

E2E_PASSED=0
E2E_FAILED=0
E2E_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# psql, quiet and unaligned. psql expands :'variables' only in SQL read from a file or stdin.
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

expect_eq() {
    local name="$1" actual="$2" expected="$3"
    if [ "$actual" == "$expected" ]; then
        E2E_PASSED=$((E2E_PASSED + 1))
        echo "ok - ${name}"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        echo "not ok - ${name}"
        echo "    expected: ${expected}"
        echo "    actual:   ${actual}"
    fi
}

e2e_summary() {
    echo "e2e $(basename "$0"): ${E2E_PASSED} passed, ${E2E_FAILED} failed"
    [ "$E2E_FAILED" -eq 0 ]
}

# A fresh database with the extension and the seed app's tables.
fresh_db() {
    local db="$1"
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"${db}\"" -c "CREATE DATABASE \"${db}\""
    q -d "$db" -c "CREATE EXTENSION clerk_sync" -f "${E2E_ROOT}/tests/fixtures/prisma_schema.sql"
}

# Ingests a fixture event (tests/fixtures/events/NAME.json) under a message id.
ingest_fixture() {
    local db="$1" msg_id="$2" name="$3"
    q -d "$db" -v msg_id="$msg_id" -v payload="$(cat "${E2E_ROOT}/tests/fixtures/events/${name}.json")" \
        <<<"SELECT clerk_sync.ingest(:'msg_id', :'payload'::jsonb)"
}

E2E_SECRET='whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
PROXY_BIN="${PROXY_BIN:-${E2E_ROOT}/target/debug/clerk-sync-proxy}"
E2E_WORK="$(mktemp -d)"
PROXY_PID=""
PROXY_PORT=""

# Ends a process this script started, if it still runs.
stop_pid() {
    if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
        kill "$1"
        wait "$1" 2>/dev/null || true
    fi
}

e2e_cleanup() {
    stop_pid "$PROXY_PID"
    rm -rf "$E2E_WORK"
}
trap e2e_cleanup EXIT

# fresh_db plus the test secret.
fresh_db_with_secret() {
    fresh_db "$1"
    q -d "$1" -v secret="$E2E_SECRET" <<<"SELECT clerk_sync.add_secret(:'secret')" >/dev/null
}

# start_proxy DB [NAME=value ...]: the proxy for database DB on 127.0.0.1 (the same port when
# started again), its output appended to $E2E_WORK/proxy.log; returns once /healthz answers, and
# fails when it never does. Sets PROXY_URL, the webhook URL the callers post to.
start_proxy() {
    local db="$1"
    shift
    [ -n "$PROXY_PORT" ] || PROXY_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # shellcheck disable=SC2034 # read by the scripts that source this file
    PROXY_URL="http://127.0.0.1:${PROXY_PORT}/api/webhooks/clerk"
    env DATABASE_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${db}" LISTEN_ADDR="127.0.0.1:${PROXY_PORT}" "$@" \
        "$PROXY_BIN" >>"$E2E_WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:${PROXY_PORT}/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "start_proxy: the proxy did not answer /healthz on port ${PROXY_PORT}; its log:" >&2
    tail -n 20 "$E2E_WORK/proxy.log" >&2
    return 1
}
