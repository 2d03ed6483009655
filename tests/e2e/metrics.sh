#!/usr/bin/env bash
# The proxy's GET /metrics, scraped after known traffic, on a listener of its own (METRICS_ADDR).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=e2e_metrics
work="$E2E_WORK"
fresh_db_with_secret "$DB"
metrics_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
start_proxy "$DB" METRICS_ADDR="127.0.0.1:${metrics_port}" MAX_BODY_BYTES=10000

# post FILE MSG_ID [SIGNATURE]: signed now unless a signature is given; prints the status.
post() {
    local file="$1" msg_id="$2" signature="${3:-}" now
    now="$(date +%s)"
    if [ -z "$signature" ]; then
        signature="$(q -d "$DB" -v secret="$E2E_SECRET" -v id="$msg_id" -v ts="$now" -v body="$(cat "$file")" \
            <<<"SELECT clerk_sync.clerk_sign(:'secret', :'id', :'ts', :'body')")"
    fi
    curl -s -o /dev/null -w '%{http_code}' -X POST "$PROXY_URL" -H 'Content-Type: application/json' \
        -H "svix-id: ${msg_id}" -H "svix-timestamp: ${now}" -H "svix-signature: ${signature}" --data-binary "@${file}"
}
printf '%s' "$(cat "${E2E_ROOT}/tests/fixtures/events/user.created.email.json")" >"$work/created.json"
printf '%s' "$(cat "${E2E_ROOT}/tests/fixtures/events/user.created.phone-only.json")" >"$work/phone.json"
head -c 20000 /dev/zero | tr '\0' 'x' >"$work/big.json"

expect_eq "known traffic" "$(post "$work/created.json" msg_1) $(post "$work/phone.json" msg_2) $(post "$work/created.json" msg_1) \
$(post "$work/created.json" msg_3 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=') $(post "$work/big.json" msg_4 v1,x)" "200 200 200 401 413"

scrape="$(curl -s "http://127.0.0.1:${metrics_port}/metrics")"
metric() { grep -E "^$1 " <<<"$scrape" | awk '{print $2}'; }
expect_eq "two deliveries created" "$(metric 'clerk_sync_proxy_requests_total\{outcome="created",status="200"\}')" "2"
expect_eq "one duplicate" "$(metric 'clerk_sync_proxy_requests_total\{outcome="duplicate",status="200"\}')" "1"
expect_eq "one unverified" "$(metric 'clerk_sync_proxy_requests_total\{outcome="unverified",status="401"\}')" "1"
expect_eq "one body over the limit" "$(metric 'clerk_sync_proxy_body_too_large_total')" "1"
expect_eq "five in the latency histogram" "$(metric 'clerk_sync_proxy_request_duration_seconds_count')" "5"
expect_eq "no database error" "$(metric 'clerk_sync_proxy_database_errors_total')" "0"
expect_eq "the pool's gauges" "$(grep -c '^clerk_sync_proxy_pool_' <<<"$scrape")" "3"
expect_eq "no /metrics on the webhook's listener when METRICS_ADDR is set" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PROXY_PORT}/metrics")" "404"

stop_pid "$PROXY_PID"
PROXY_PID=""
q -d postgres -c "DROP DATABASE ${DB}"
e2e_summary
