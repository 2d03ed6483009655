#!/usr/bin/env bash
# `clerk-sync-proxy sync` against a fake Clerk Backend API on 127.0.0.1 (proxy/tests/sync.rs):
# 429 and 5xx, an interrupted and resumed sync, users deleted under the listing, --reconcile
# and --dry-run, a failed page that stops reconcile; the figures of a sync of 1,200 users.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=e2e_sync
work="$E2E_WORK"
fresh_db "$DB"

status=0
CLERK_SYNC_TEST_DATABASE_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}" \
    cargo test --locked -q -p clerk_sync_proxy --test sync -- --ignored --test-threads=1 --nocapture \
    >"$work/sync.log" 2>&1 || status=$?
grep -E "^listed |^reconcile: |panicked|^test result" "$work/sync.log" | sed 's/^/    /'
expect_eq "sync against the fake Backend API: every case passes" "$status" "0"
[ "$status" -eq 0 ] || tail -n 60 "$work/sync.log"

q -d postgres -c "DROP DATABASE ${DB}"
e2e_summary
