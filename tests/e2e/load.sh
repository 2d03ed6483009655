#!/usr/bin/env bash
# Concurrency and load: clerk-sync-loadgen's chaos mode through the proxy. Every event delivered
# at least twice, shuffled, updates and deletes of the same users, organizations and memberships
# interleaved, 16 clients; then the users, organizations and memberships tables must equal the
# oracle and the inbox hold every message id once.
# With FAULTS=1: meanwhile the proxy is killed with SIGKILL and restarted, and PostgreSQL is
# stopped in immediate mode and restarted (needs E2E_DATA_DIR, the cluster's data directory).
# CHAOS_USERS and CHAOS_SECONDS size the run (the longer run: CHAOS_USERS=5000); KEEP_PAYLOADS
# (failed, the default, or all) is the inbox's setting keep_payloads for the run.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "${E2E_ROOT}/scripts/lib.sh"

LOADGEN_BIN="${LOADGEN_BIN:-${E2E_ROOT}/target/debug/clerk-sync-loadgen}"
KEEP="${KEEP_PAYLOADS:-failed}"
DB="e2e_load${FAULTS:+_faults}_${KEEP}"
USERS="${CHAOS_USERS:-300}"
work="$E2E_WORK"
loadgen_pid=""
trap 'stop_pid "$loadgen_pid"; e2e_cleanup' EXIT

fresh_db_with_secret "$DB"
q -d "$DB" -v keep="$KEEP" <<<"SELECT clerk_sync.set_setting('keep_payloads', :'keep')" >/dev/null
q -d "$DB" -f "${E2E_ROOT}/tests/fixtures/prisma_organizations.sql" -f "${E2E_ROOT}/tests/fixtures/prisma_subscription_items.sql" >/dev/null
start_proxy "$DB" POOL_SIZE=16 RUST_LOG=warn

"$LOADGEN_BIN" chaos "$PROXY_URL" "postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}" \
    --users "$USERS" --concurrency 16 --max-seconds "${CHAOS_SECONDS:-120}" --secret "$E2E_SECRET" >"$work/chaos.out" 2>&1 &
loadgen_pid=$!

if [ -n "${FAULTS:-}" ]; then
    [ -n "${E2E_DATA_DIR:-}" ] || die "FAULTS=1 needs E2E_DATA_DIR"
    sleep 1.5
    kill -KILL "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
    echo "    fault: proxy killed with SIGKILL" >>"$work/faults"
    sleep 0.5
    start_proxy "$DB" POOL_SIZE=16 RUST_LOG=warn
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
applied="outcome NOT IN ('failed', 'malformed')"
expect_eq "keep_payloads = ${KEEP}: the applied deliveries with a payload, without one" \
    "$(q -d "$DB" -c "SELECT count(*) FILTER (WHERE payload IS NOT NULL AND ${applied}) > 0, count(*) FILTER (WHERE payload IS NULL AND ${applied}) > 0 FROM clerk_sync.inbox")" \
    "$([ "$KEEP" = all ] && echo "t|f" || echo "f|t")"

stop_pid "$PROXY_PID"; PROXY_PID=""
q -d postgres -c "DROP DATABASE ${DB}"
e2e_summary
