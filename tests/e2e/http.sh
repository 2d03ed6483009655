#!/usr/bin/env bash
# HTTP end to end: the proxy in front of a real database with the extension.
# Needs the proxy binary (PROXY_BIN, default target/debug/clerk-sync-proxy).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECRET="$E2E_SECRET"
DB=e2e_http
work="$E2E_WORK"

fresh_db_with_secret "$DB"
start_proxy "$DB" MAX_BODY_BYTES=65536
port="$PROXY_PORT"
URL="$PROXY_URL"
expect_eq "GET /healthz answers 200 when the database is up" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port}/healthz")" "200"
expect_eq "GET /metrics is beside the webhook when METRICS_ADDR is not set" \
    "$(curl -s "http://127.0.0.1:${port}/metrics" | grep -c '^# TYPE clerk_sync_proxy_request_duration_seconds histogram')" "1"

# post BODY_FILE MSG_ID TIMESTAMP [SIGNATURE]: prints the HTTP status; the answer goes to $work/answer.
post() {
    local file="$1" msg_id="$2" ts="$3" signature="${4:-}"
    if [ -z "$signature" ]; then
        signature="$(q -d "$DB" -v secret="$SECRET" -v id="$msg_id" -v ts="$ts" -v body="$(cat "$file")" \
            <<<"SELECT clerk_sync.clerk_sign(:'secret', :'id', :'ts', :'body')")"
    fi
    curl -s -o "$work/answer" -w '%{http_code}' -X POST "$URL" \
        -H 'Content-Type: application/json' -H "svix-id: ${msg_id}" \
        -H "svix-timestamp: ${ts}" -H "svix-signature: ${signature}" --data-binary "@${file}"
}
users() { q -d "$DB" -c 'SELECT count(*) FROM "User"'; }
stored() { q -d "$DB" -c 'SELECT count(*) FROM clerk_sync.inbox'; }

now="$(date +%s)"
created="${E2E_ROOT}/tests/fixtures/events/user.created.email.json"
printf '%s' "$(cat "$created")" >"$work/created.json"

expect_eq "a valid user.created is answered 200" "$(post "$work/created.json" msg_1 "$now")" "200"
expect_eq "... and creates the row" "$(users)" "1"
expect_eq "... and the answer says created" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outcome"])' "$work/answer")" "created"
expect_eq "a wrong signature is answered 401" \
    "$(post "$work/created.json" msg_2 "$now" 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')" "401"
expect_eq "... and nothing is stored" "$(stored)" "1"
expect_eq "a redelivery is answered 200" "$(post "$work/created.json" msg_1 "$now")" "200"
expect_eq "... as a duplicate, changing nothing" "$(grep -o '"duplicate"' "$work/answer")" '"duplicate"'
expect_eq "a timestamp 10 minutes old is answered 401" "$(post "$work/created.json" msg_3 "$((now - 600))")" "401"
expect_eq "... with the reason" "$(grep -o 'timestamp_too_old' "$work/answer")" "timestamp_too_old"

head -c 70000 /dev/zero | tr '\0' 'x' >"$work/big.json"
expect_eq "a body over the proxy's limit is answered 413" "$(post "$work/big.json" msg_4 "$now" v1,x)" "413"
q -d "$DB" <<<"SELECT clerk_sync.set_setting('max_body_bytes', '1000')" >/dev/null
expect_eq "a body over the database's limit is answered 413" "$(post "$work/created.json" msg_5 "$now")" "413"
expect_eq "... by the database (the proxy has not read the new limit yet)" \
    "$(grep -c 'over the limit of 1000 bytes' "$work/proxy.log")" "0"
# One limit: the proxy reads the database's (at start, then every 30 s) and answers at it itself.
stop_pid "$PROXY_PID"
start_proxy "$DB" MAX_BODY_BYTES=65536
expect_eq "the proxy takes the database's limit" "$(grep -c 'body limit: 1000 bytes' "$work/proxy.log")" "1"
expect_eq "... and answers 413 at it without sending the body on" "$(post "$work/created.json" msg_5b "$now")" "413"
expect_eq "... as its log says" "$(grep -c 'over the limit of 1000 bytes' "$work/proxy.log")" "1"
expect_eq "... and the database never saw it" "$(q -d "$DB" -c "SELECT count(*) FROM clerk_sync.inbox WHERE msg_id LIKE 'msg_5%'")" "0"
q -d "$DB" <<<"SELECT clerk_sync.reset_setting('max_body_bytes')" >/dev/null
stop_pid "$PROXY_PID"
start_proxy "$DB" MAX_BODY_BYTES=65536
port="$PROXY_PORT"

printf '{"type": "user.created", ' >"$work/truncated.json"
expect_eq "malformed JSON with a valid signature is answered 400" "$(post "$work/truncated.json" msg_6 "$now")" "400"
printf '{"x": "\xff\xfe"}' >"$work/latin1.json"
expect_eq "a body that is not UTF-8 is answered 400" "$(post "$work/latin1.json" msg_7 "$now" v1,x)" "400"

updated="${E2E_ROOT}/tests/fixtures/events/user.updated.email.json"
printf '%s' "$(cat "$updated")" >"$work/updated.json"
q -d "$DB" <<<'ALTER TABLE "User" ADD CONSTRAINT no_janet CHECK ("firstName" <> '"'"'Janet'"'"')' >/dev/null
expect_eq "an apply failure is answered 500" "$(post "$work/updated.json" msg_8 "$now")" "500"
expect_eq "... and the delivery is kept as failed" \
    "$(q -d "$DB" -c "SELECT outcome || ' ' || error_code FROM clerk_sync.inbox WHERE msg_id = 'msg_8'")" "failed 23514"
q -d "$DB" <<<'ALTER TABLE "User" DROP CONSTRAINT no_janet' >/dev/null
expect_eq "after the cause is fixed, the redelivery is answered 200" "$(post "$work/updated.json" msg_8 "$now")" "200"
expect_eq "... and applied" "$(q -d "$DB" -c 'SELECT "firstName" FROM "User"')" "Janet"

send_status=0
LISTEN_ADDR="127.0.0.1:${port}" CLERK_WEBHOOK_SECRET="$SECRET" "$PROXY_BIN" send-test >"$work/send-test.out" 2>&1 || send_status=$?
expect_eq "send-test exits 0" "$send_status" "0"
expect_eq "... its event got a 2xx" "$(grep -c '^200 ' "$work/send-test.out")" "1"
expect_eq "... and a new row" "$(users)" "2"

expect_eq "the proxy logs one line per applied event, as the guide says" \
    "$(grep -c 'User created: user_' "$work/proxy.log")" "2"
expect_eq "no log line holds the secret" "$(grep -c 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' "$work/proxy.log")" "0"

kill -TERM "$PROXY_PID"
exit_status=0
wait "$PROXY_PID" || exit_status=$?
expect_eq "SIGTERM stops the proxy cleanly" "$exit_status" "0"
PROXY_PID=""

q -d postgres -c "DROP DATABASE ${DB}"
e2e_summary
