#!/usr/bin/env bash
# The user's first request before the webhook, end to end: ensure_user() makes a provisional row
# from the session token's claims (as PostgREST's db-pre-request would), the real user.created and
# user.updated then arrive over HTTP through the proxy, then user.deleted, then the old token
# again. One row throughout, the same id, the newest fields, then gone for good.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=e2e_first_request
work="$E2E_WORK"
fresh_db_with_secret "$DB"
q -d "$DB" <<'SQL' >/dev/null
SET client_min_messages = warning;
DROP ROLE IF EXISTS e2e_authenticated;
CREATE ROLE e2e_authenticated;
GRANT USAGE ON SCHEMA clerk_sync TO e2e_authenticated;
GRANT EXECUTE ON FUNCTION clerk_sync.ensure_user() TO e2e_authenticated;
SQL
start_proxy "$DB"

# What PostgREST does for a request with a verified Clerk session token, as its own role.
TOKEN_CLAIMS='{"sub": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "email": "jane.doe@example.com", "first_name": "Jane (token)", "sid": "sess_1"}'
first_request() {
    q -d "$DB" -v claims="$TOKEN_CLAIMS" <<'SQL'
BEGIN;
SET LOCAL ROLE e2e_authenticated;
SELECT set_config('request.jwt.claims', :'claims', true);
SELECT clerk_sync.ensure_user();
COMMIT;
SQL
}
# post FIXTURE MSG_ID: the fixture event, signed now, through the proxy; prints the HTTP status.
post() {
    local now file="${work}/$1.json" msg_id="$2"
    printf '%s' "$(cat "${E2E_ROOT}/tests/fixtures/events/$1.json")" >"$file"
    now="$(date +%s)"
    local signature
    signature="$(q -d "$DB" -v secret="$E2E_SECRET" -v id="$msg_id" -v ts="$now" -v body="$(cat "$file")" \
        <<<"SELECT clerk_sync.clerk_sign(:'secret', :'id', :'ts', :'body')")"
    curl -s -o "$work/answer" -w '%{http_code}' -X POST "$PROXY_URL" -H 'Content-Type: application/json' \
        -H "svix-id: ${msg_id}" -H "svix-timestamp: ${now}" -H "svix-signature: ${signature}" --data-binary "@${file}"
}
row() { q -d "$DB" <<<"SELECT count(*) || coalesce(string_agg(id || ' ' || \"firstName\", ''), '') FROM \"User\""; }
the_id() { q -d "$DB" -c 'SELECT id FROM "User"'; }

answered="$(first_request | tail -1)"
id="$(the_id)"
expect_eq "the first request makes a provisional row and gets its id" "$answered" "$id"
expect_eq "... one row, from the token" "$(row)" "1${id} Jane (token)"
expect_eq "the second request gets the same id" "$(first_request | tail -1)" "$id"

expect_eq "the real user.created over HTTP is answered 200" "$(post user.created.email msg_created)" "200"
expect_eq "... as an update of the provisional row" "$(grep -o '"outcome": *"[a-z]*"' "$work/answer" | tr -d ' ')" '"outcome":"updated"'
expect_eq "... one row, same id, Clerk's fields" "$(row)" "1${id} Jane"
expect_eq "user.updated over HTTP" "$(post user.updated.email msg_updated)" "200"
expect_eq "... one row, same id, the newest fields" "$(row)" "1${id} Janet"
expect_eq "user.deleted over HTTP" "$(post user.deleted msg_deleted)" "200"
expect_eq "... the row is gone" "$(row)" "0"
expect_eq "the old token, a minute later, brings nothing back" "$(first_request | tail -1)" ""
expect_eq "... still no row" "$(row)" "0"

stop_pid "$PROXY_PID"
PROXY_PID=""
q -d postgres -c "DROP DATABASE ${DB}" -c "DROP ROLE e2e_authenticated"
e2e_summary
