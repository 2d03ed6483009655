#!/usr/bin/env bash
# pg_dump of a database using clerk_sync, restored into a new one, keeps secrets, settings,
# tombstones and the inbox — and the restored database verifies and applies as before.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECRET="$E2E_SECRET"
fresh_db e2e_dump_src
q -d e2e_dump_src -v secret="$SECRET" <<'SQL' >/dev/null
SELECT clerk_sync.add_secret(:'secret', 'primary');
SELECT clerk_sync.set_setting('timestamp_tolerance', '120');
SELECT clerk_sync.set_setting('redact_on_delete', 'off');
SQL
ingest_fixture e2e_dump_src msg_1 user.created.email >/dev/null
ingest_fixture e2e_dump_src msg_2 user.created.phone-only >/dev/null
ingest_fixture e2e_dump_src msg_3 user.deleted >/dev/null
ingest_fixture e2e_dump_src msg_4 session.created >/dev/null

dump="${E2E_WORK}/dump"
pg_dump -Fc -d e2e_dump_src -f "$dump"
q -d postgres -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS e2e_dump_dst' -c 'CREATE DATABASE e2e_dump_dst'
pg_restore --exit-on-error -d e2e_dump_dst "$dump"

snapshot() {
    q -d "$1" <<'SQL'
SELECT string_agg(format('%s/%s', label, fingerprint), ',' ORDER BY label) FROM clerk_sync.secrets();
SELECT string_agg(format('%s=%s', name, value), ',' ORDER BY name) FROM clerk_sync.settings() WHERE NOT is_default;
SELECT string_agg(format('%s:%s:%s:%s', msg_id, outcome, attempts, md5(payload::text)), ',' ORDER BY msg_id) FROM clerk_sync.inbox;
SELECT string_agg(format('%s:%s:%s', clerk_user_id, high_water_ms, deleted_at_ms), ',' ORDER BY clerk_user_id) FROM clerk_sync.user_state;
SELECT string_agg(format('%s:%s:%s', "clerkUserId", email, username), ',' ORDER BY "clerkUserId") FROM "User";
SQL
}
src="$(snapshot e2e_dump_src)"
dst="$(snapshot e2e_dump_dst)"
expect_eq "restored secrets, settings, inbox, tombstones and users equal the source" "$dst" "$src"
expect_eq "the source had all of them" "$(echo "$src" | grep -c .)" "5"

ts="$(date +%s)"
body='{"type":"ping"}'
verified="$(q -d e2e_dump_dst -v secret="$SECRET" -v ts="$ts" -v body="$body" <<'SQL'
SELECT clerk_sync.clerk_verify(
    jsonb_build_object('svix-id', 'msg_x', 'svix-timestamp', :'ts',
                       'svix-signature', clerk_sync.clerk_sign(:'secret', 'msg_x', :'ts', :'body')),
    :'body');
SQL
)"
expect_eq "the restored secret verifies" "$verified" "t"
expect_eq "the restored tolerance applies" \
    "$(q -d e2e_dump_dst -c "SELECT value FROM clerk_sync.settings() WHERE name = 'timestamp_tolerance'")" "120"
expect_eq "a restored tombstone still refuses resurrection" \
    "$(ingest_fixture e2e_dump_dst msg_5 user.updated.email)" "stale"
expect_eq "a restored applied id is still a duplicate" \
    "$(ingest_fixture e2e_dump_dst msg_1 user.created.email)" "duplicate"

q -d postgres -c 'DROP DATABASE e2e_dump_src' -c 'DROP DATABASE e2e_dump_dst'
e2e_summary
