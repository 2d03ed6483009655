#!/usr/bin/env bash
# The bad-input catalogue (proxy/tests/bad_input.rs) over HTTP and over SQL, against a fresh
# database and a proxy in front of it. Then: no secret in the proxy's log or in what the server
# logged meanwhile (SERVER_LOG, when given).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=e2e_bad_input
work="$E2E_WORK"

fresh_db_with_secret "$DB"
# pg_stat_statements (when the cluster preloads it, as scripts/test does) records every statement,
# add_secret's included.
statements=off
if q -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" 2>/dev/null && \
   q -d "$DB" -c "SELECT 1 FROM pg_stat_statements LIMIT 1" >/dev/null 2>&1; then
    statements=on
fi
log_offset=0
[ -n "${SERVER_LOG:-}" ] && log_offset="$(stat -c %s "$SERVER_LOG")"

start_proxy "$DB"

status=0
CLERK_SYNC_TEST_DATABASE_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}" \
CLERK_SYNC_TEST_PROXY_URL="$PROXY_URL" \
    cargo test --locked -q -p clerk_sync_proxy --test bad_input -- --ignored --test-threads=1 --nocapture \
    >"$work/catalogue.log" 2>&1 || status=$?
grep -E -A1 "cases sent|panicked|test result" "$work/catalogue.log" | sed 's/^/    /'
expect_eq "the catalogue passes over HTTP and over SQL" "$status" "0"
expect_eq "the users table survived every hostile string" "$(q -d "$DB" -c 'SELECT count(*) > 0 FROM "User"')" "t"
expect_eq "no proxy log line holds the secret" "$(grep -c 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' "$work/proxy.log")" "0"
if [ "$statements" = on ]; then
    expect_eq "no pg_stat_statements text holds the secret" \
        "$(q -d "$DB" -c "SELECT count(*) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query LIKE '%MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw%'")" "0"
    expect_eq "... which did record the webhook's statements" \
        "$(q -d "$DB" -c "SELECT count(*) > 0 FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query LIKE '%clerk_sync.receive%'")" "t"
fi
if [ -n "${SERVER_LOG:-}" ]; then
    expect_eq "nothing the server logged during the catalogue holds the secret" \
        "$(tail -c +"$((log_offset + 1))" "$SERVER_LOG" | grep -c -e 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' -e '31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0' || true)" "0"
fi

stop_pid "$PROXY_PID"; PROXY_PID=""
q -d postgres -c "DROP DATABASE ${DB}"
e2e_summary
