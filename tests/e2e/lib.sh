# Helpers for the end-to-end tests. Source it. Needs PGHOST, PGPORT, PGUSER of a running
# cluster with the extension installed (scripts/test starts one).
set -euo pipefail

E2E_PASSED=0
E2E_FAILED=0
E2E_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# psql, quiet and unaligned. psql expands :'variables' only in SQL read from a file or stdin.
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

expect_eq() {
    local name="$1" actual="$2" expected="$3"
    if [ "$actual" == "$expected" ]; then
        E2E_PASSED=$((E2E_PASSED + 1))
        echo "ok - ${name}"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        echo "not ok - ${name}"
        echo "    expected: ${expected}"
        echo "    actual:   ${actual}"
    fi
}

e2e_summary() {
    echo "e2e $(basename "$0"): ${E2E_PASSED} passed, ${E2E_FAILED} failed"
    [ "$E2E_FAILED" -eq 0 ]
}

# A fresh database with the extension and the seed app's tables.
fresh_db() {
    local db="$1"
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"${db}\"" -c "CREATE DATABASE \"${db}\""
    q -d "$db" -c "CREATE EXTENSION clerk_sync" -f "${E2E_ROOT}/tests/fixtures/prisma_schema.sql"
}

# Ingests a fixture event (tests/fixtures/events/NAME.json) under a message id.
ingest_fixture() {
    local db="$1" msg_id="$2" name="$3"
    q -d "$db" -v msg_id="$msg_id" -v payload="$(cat "${E2E_ROOT}/tests/fixtures/events/${name}.json")" \
        <<<"SELECT clerk_sync.ingest(:'msg_id', :'payload'::jsonb)"
}
