#!/usr/bin/env bash
# The pg_cron recipe of docs/operating.md, as it stands: its SQL block is run in the cron database, the two
# jobs are checked, and each job's command is run in the app's database. Needs a cluster with
# shared_preload_libraries including pg_cron and cron.database_name = postgres (scripts/test
# starts one so).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=app
recipe="$E2E_WORK/pg_cron.sql"
python3 - "${E2E_ROOT}/docs/operating.md" >"$recipe" <<'PY'
import sys
text = open(sys.argv[1]).read()
after = text.split("<!-- tests/e2e/scheduled.sh runs the next block as it stands -->", 1)[1]
print(after.split("```sql\n", 1)[1].split("```", 1)[0])
PY
expect_eq "docs/operating.md has the recipe" "$(grep -c 'cron.schedule_in_database' "$recipe")" "2"

fresh_db "$DB"
q -d "$DB" <<'SQL' >/dev/null
SELECT clerk_sync.ingest('msg_old', jsonb_build_object('type', 'session.created', 'timestamp', 1, 'data', jsonb_build_object('user_id', 'user_old')));
SELECT clerk_sync.ingest('msg_recent', jsonb_build_object('type', 'session.created', 'timestamp', 2, 'data', jsonb_build_object('user_id', 'user_recent')));
UPDATE clerk_sync.inbox SET received_at = now() - interval '40 days' WHERE msg_id = 'msg_old';
SELECT clerk_sync.set_setting('target_table', 'Nobody');
SQL
ingest_fixture "$DB" msg_failed user.created.email >/dev/null
q -d "$DB" <<<"SELECT clerk_sync.reset_setting('target_table')" >/dev/null
expect_eq "before: three deliveries, one failed" \
    "$(q -d "$DB" -c "SELECT count(*) || ',' || count(*) FILTER (WHERE outcome = 'failed') FROM clerk_sync.inbox")" "3,1"

q -d postgres -c "SET client_min_messages = warning" -f "$recipe" >/dev/null
jobs="$(q -d postgres -c "SELECT string_agg(jobname || ' ' || schedule || ' ' || database, '; ' ORDER BY jobname) FROM cron.job WHERE jobname LIKE 'clerk_sync_%'")"
expect_eq "the recipe schedules both jobs in the app's database" "$jobs" \
    "clerk_sync_prune 17 3 * * * app; clerk_sync_replay_failed */15 * * * * app"

command_of() { q -d postgres -c "SELECT command FROM cron.job WHERE jobname = '$1'"; }
q -d "$DB" -c "$(command_of clerk_sync_prune)" >/dev/null
expect_eq "the prune job's command removes the old delivery only" \
    "$(q -d "$DB" -c "SELECT string_agg(msg_id, ',' ORDER BY msg_id) FROM clerk_sync.inbox")" "msg_failed,msg_recent"
expect_eq "the retry job's command applies the failed delivery" "$(q -d "$DB" -c "$(command_of clerk_sync_replay_failed)")" "1"
expect_eq "... which is now applied" \
    "$(q -d "$DB" -c "SELECT outcome || ',' || (SELECT count(*) FROM \"User\") FROM clerk_sync.inbox WHERE msg_id = 'msg_failed'")" "created,1"

q -d postgres -c "SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname LIKE 'clerk_sync_%'" >/dev/null
q -d postgres -c "DROP DATABASE ${DB}"
e2e_summary
