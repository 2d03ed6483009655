#!/usr/bin/env bash
# `clerk-sync-proxy sync` against a fake Clerk Backend API on 127.0.0.1 (proxy/tests/sync.rs):
# 429 and 5xx, an interrupted and resumed sync, users deleted under the listing, --reconcile
# and --dry-run, a failed page that stops reconcile; the figures of a sync of 1,200 users.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=e2e_sync
work="$E2E_WORK"
fresh_db "$DB"
# sync runs as a role with exactly the grants docs/sync.md gives it.
q -d "$DB" <<'SQL'
SET client_min_messages = warning;
DROP ROLE IF EXISTS e2e_sync;
CREATE ROLE e2e_sync LOGIN;
GRANT USAGE ON SCHEMA clerk_sync TO e2e_sync;
GRANT EXECUTE ON FUNCTION clerk_sync.backfill(jsonb), clerk_sync.unlisted_users(text[]),
    clerk_sync.unlisted_organizations(text[]), clerk_sync.unlisted_memberships(text[]),
    clerk_sync.remove_unlisted(text[], text[], text[], timestamptz) TO e2e_sync;
SQL

status=0
CLERK_SYNC_TEST_DATABASE_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}" \
CLERK_SYNC_TEST_SYNC_DATABASE_URL="postgres://e2e_sync@${PGHOST}:${PGPORT}/${DB}" \
    cargo test --locked -q -p clerk_sync_proxy --test sync -- --ignored --test-threads=1 --nocapture \
    >"$work/sync.log" 2>&1 || status=$?
grep -E "^listed |^reconcile: |panicked|^test result" "$work/sync.log" | sed 's/^/    /'
expect_eq "sync against the fake Backend API: every case passes" "$status" "0"
[ "$status" -eq 0 ] || tail -n 60 "$work/sync.log"

q -d postgres -c "DROP DATABASE ${DB}" -c "DROP ROLE e2e_sync"
e2e_summary
