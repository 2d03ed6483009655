#!/usr/bin/env bash
# The proxy survives slow and greedy clients with no signature: an idle flood past the file limit
# it was started with, headers sent a byte at a time, a body declared at 1 GiB, many near-limit
# bodies held open, more connections than the cap. While each runs, a signed delivery is still
# answered. Every client is bounded (tests/e2e/slow_clients.py) and talks to 127.0.0.1 only.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=e2e_slow_clients
work="$E2E_WORK"
attack() { python3 "${E2E_ROOT}/tests/e2e/slow_clients.py" "$PROXY_PORT" "$@"; }

fresh_db_with_secret "$DB"
printf '%s' "$(cat "${E2E_ROOT}/tests/fixtures/events/user.created.email.json")" >"$work/created.json"
# signed MSG_ID: posts the signed fixture; prints the HTTP status (000: no answer within 5 s).
signed() {
    local ts signature
    ts="$(date +%s)"
    signature="$(q -d "$DB" -v secret="$E2E_SECRET" -v id="$1" -v ts="$ts" -v body="$(cat "$work/created.json")" \
        <<<"SELECT clerk_sync.clerk_sign(:'secret', :'id', :'ts', :'body')")"
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$PROXY_URL" -H 'Content-Type: application/json' \
        -H "svix-id: $1" -H "svix-timestamp: ${ts}" -H "svix-signature: ${signature}" \
        --data-binary "@$work/created.json" || true
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# Started with 512 open files allowed, as the attack found it; the proxy raises its own limit.
ulimit -Sn 512
start_proxy "$DB" HEADER_TIMEOUT_MS=1000 MAX_CONNECTIONS=700
files="$(awk '/^Max open files/ {print $4}' "/proc/${PROXY_PID}/limits")"
expect_eq "the proxy raised its open-file limit past the 512 it was started with" "$((files > 512))" "1"
expect_eq "a signed delivery is answered" "$(signed msg_before)" "200"

attack idle 600 3 >"$work/idle" &
idle_pid=$!
sleep 1.5
expect_eq "600 idle connections: a signed delivery is still answered" "$(signed msg_idle)" "200"
wait "$idle_pid"
expect_eq "... and the idle ones are closed after the header timeout" "$(grep -o 'closed_by_server [0-9]*' "$work/idle")" \
    "closed_by_server 600"

expect_eq "headers sent a byte at a time: the connection is closed at the header timeout" \
    "$(attack slow_headers 10)" "closed true after_s 1"

expect_eq "a body declared at 1 GiB: 413 at once, Connection: close, closed, nothing read" \
    "$(attack declared_length 1073741824)" "HTTP/1.1 413 Payload Too Large | connection: close | closed true"

rss_before="$(rss_kib "$PROXY_PID")"
attack near_limit 100 1000000 3 >"$work/near" &
near_pid=$!
sleep 1.5
expect_eq "100 bodies of 1 MB held open: a signed delivery is still answered" "$(signed msg_near)" "200"
rss_during="$(rss_kib "$PROXY_PID")"
wait "$near_pid"
echo "proxy memory: ${rss_before} KiB before, ${rss_during} KiB holding 100 near-limit bodies"
expect_eq "... and the proxy holds no more than the limit for each (100 x 1 MiB, plus its own)" \
    "$(((rss_during - rss_before) < 100 * 1024 + 65536))" "1"

stop_pid "$PROXY_PID"
start_proxy "$DB" HEADER_TIMEOUT_MS=1000 MAX_CONNECTIONS=20
attack refused 25 >"$work/refused"
expect_eq "over the connection cap: each extra connection is answered 503 at once" "$(cat "$work/refused")" "refused 5"
expect_eq "... and counted" "$(curl -s "http://127.0.0.1:${PROXY_PORT}/metrics" | grep '^clerk_sync_proxy_connections_refused_total')" \
    "clerk_sync_proxy_connections_refused_total 5"
attack idle 20 2 >/dev/null &
idle_pid=$!
sleep 0.5
expect_eq "... a signed delivery at the cap is refused too (Svix retries it)" "$(signed msg_cap)" "503"
wait "$idle_pid"
expect_eq "... and answered once the idle connections have timed out" "$(signed msg_after)" "200"
e2e_summary
