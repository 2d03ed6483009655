#!/usr/bin/env bash
# Concurrency and load: clerk-sync-loadgen's chaos mode through the proxy. Every event delivered
# at least twice, shuffled, updates and deletes of the same users interleaved, 16 clients; then
# the users table must equal the oracle and the inbox hold every message id once.
# With FAULTS=1: meanwhile the proxy is killed with SIGKILL and restarted, and PostgreSQL is
# stopped in immediate mode and restarted (needs E2E_DATA_DIR, the cluster's data directory).
# CHAOS_USERS and CHAOS_SECONDS size the run (the longer run: CHAOS_USERS=5000).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "${E2E_ROOT}/scripts/lib.sh"

PROXY_BIN="${PROXY_BIN:-${E2E_ROOT}/target/debug/clerk-sync-proxy}"
LOADGEN_BIN="${LOADGEN_BIN:-${E2E_ROOT}/target/debug/clerk-sync-loadgen}"
SECRET='whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
DB="e2e_load${FAULTS:+_faults}"
USERS="${CHAOS_USERS:-300}"
work="$(mktemp -d)"
proxy_pid=""
loadgen_pid=""
stop_pid() { if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill "$1"; wait "$1" 2>/dev/null || true; fi; }
cleanup() { stop_pid "$loadgen_pid"; stop_pid "$proxy_pid"; rm -rf "$work"; }
trap cleanup EXIT

fresh_db "$DB"
q -d "$DB" -v secret="$SECRET" <<<"SELECT clerk_sync.add_secret(:'secret')" >/dev/null

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
start_proxy() {
    DATABASE_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}" LISTEN_ADDR="127.0.0.1:${port}" POOL_SIZE=16 \
        RUST_LOG=warn "$PROXY_BIN" >>"$work/proxy.log" 2>&1 &
    proxy_pid=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:${port}/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
}
start_proxy

"$LOADGEN_BIN" chaos "http://127.0.0.1:${port}/api/webhooks/clerk" "postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}" \
    --users "$USERS" --concurrency 16 --max-seconds "${CHAOS_SECONDS:-120}" --secret "$SECRET" >"$work/chaos.out" 2>&1 &
loadgen_pid=$!

if [ -n "${FAULTS:-}" ]; then
    [ -n "${E2E_DATA_DIR:-}" ] || die "FAULTS=1 needs E2E_DATA_DIR"
    sleep 1.5
    kill -KILL "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
    echo "    fault: proxy killed with SIGKILL" >>"$work/faults"
    sleep 0.5
    start_proxy
    sleep 1.5
    as_postgres "${PG_BIN}/pg_ctl" -D "$E2E_DATA_DIR" -m immediate -w stop >/dev/null
    echo "    fault: PostgreSQL stopped in immediate mode" >>"$work/faults"
    sleep 1
    cluster_start "$E2E_DATA_DIR" "$PGPORT"
    echo "    fault: PostgreSQL restarted (crash recovery)" >>"$work/faults"
fi

status=0
wait "$loadgen_pid" || status=$?
loadgen_pid=""
sed 's/^/    /' "$work/chaos.out"
[ -f "$work/faults" ] && cat "$work/faults"
expect_eq "every delivery answered 2xx in the end, and the table equals the oracle" "$status" "0"
expect_eq "no event lost" "$(grep -o 'lost=[0-9]*' "$work/chaos.out")" "lost=0"

stop_pid "$proxy_pid"; proxy_pid=""
q -d postgres -c "DROP DATABASE ${DB}"
e2e_summary
