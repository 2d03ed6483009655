#!/usr/bin/env bash
# ALTER EXTENSION clerk_sync UPDATE from every released version (sql/released/) keeps the data,
# and the upgraded schema equals a fresh install of the current version.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

extension_dir="$("$PG_CONFIG" --sharedir)/extension"
current="$(sed -n 's/^version = "\(.*\)"/\1/p' "${E2E_ROOT}/Cargo.toml" | head -n1)"
work="$E2E_WORK"

# A released install script, beside the current one. The distribution's extension directory is
# root's: an ordinary user (who installed through sudo) puts it there through sudo too.
install_released() {
    if [ -w "$extension_dir" ]; then
        cp "$1" "${extension_dir}/"
    else
        as_root install -m 644 "$1" "${extension_dir}/"
    fi
}

# What a release must keep: secrets, settings, the inbox, the users.
data_of() {
    q -d "$1" <<'SQL'
SELECT string_agg(label || '/' || fingerprint, ',') FROM clerk_sync.secrets();
SELECT string_agg(name || '=' || value, ',') FROM clerk_sync.settings() WHERE NOT is_default AND name <> 'keep_payloads';
SELECT string_agg(msg_id || ':' || outcome, ',' ORDER BY msg_id) FROM clerk_sync.inbox;
SELECT string_agg("clerkUserId" || ':' || username, ',' ORDER BY "clerkUserId") FROM "User";
SQL
}

q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS e2e_fresh" -c "CREATE DATABASE e2e_fresh"
q -d e2e_fresh -c "CREATE EXTENSION clerk_sync"
q -d e2e_fresh -f "${E2E_ROOT}/tests/e2e/schema_fingerprint.sql" >"$work/fresh"
expect_eq "a fresh install is version ${current}" "$(grep "^version " "$work/fresh")" "version ${current}"
keep_payloads() { q -d "$1" -c "SELECT value || '/' || is_default FROM clerk_sync.settings() WHERE name = 'keep_payloads'"; }
expect_eq "a fresh install keeps only failed deliveries' payloads" "$(keep_payloads e2e_fresh)" "failed/true"

for released in "${E2E_ROOT}"/sql/released/clerk_sync--*.sql; do
    old="$(basename "$released" .sql)"
    old="${old#clerk_sync--}"
    [ "$old" = "$current" ] && continue
    install_released "$released"
    db="e2e_upgrade_${old//./_}"
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ${db}" -c "CREATE DATABASE ${db}"
    q -d "$db" -c "CREATE EXTENSION clerk_sync VERSION '${old}'" -f "${E2E_ROOT}/tests/fixtures/prisma_schema.sql"
    q -d "$db" -v secret="$E2E_SECRET" <<'SQL' >/dev/null
SELECT clerk_sync.add_secret(:'secret', 'primary');
SELECT clerk_sync.set_setting('timestamp_tolerance', '120');
SQL
    # 0.6.0 and later install with keep_payloads = failed: these checks replay applied
    # deliveries, so such an install keeps every payload, as one made before 0.6.0 does.
    keep_expected="all/true all/false 0"
    if [ "$(printf '%s\n' "$old" 0.6.0 | sort -V | head -n1)" = 0.6.0 ]; then
        q -d "$db" -c "SELECT clerk_sync.set_setting('keep_payloads', 'all')" >/dev/null
        keep_expected="all/false all/false 0"
    fi
    ingest_fixture "$db" msg_1 user.created.email >/dev/null
    ingest_fixture "$db" msg_2 user.created.phone-only >/dev/null
    ingest_fixture "$db" msg_3 user.deleted >/dev/null
    ingest_fixture "$db" msg_o organization.created >/dev/null
    before="$(data_of "$db")"
    keep_before="$(keep_payloads "$db")"
    q -d "$db" -c "ALTER EXTENSION clerk_sync UPDATE"
    after="$(data_of "$db")"
    expect_eq "${old} → ${current}: secrets, settings, inbox and users survive the update" "$after" "$before"
    expect_eq "${old} → ${current}: every payload is kept, with this library before the update and written down by it" \
        "${keep_before} $(keep_payloads "$db") $(q -d "$db" -c "SELECT count(*) FROM clerk_sync.inbox WHERE payload IS NULL")" \
        "$keep_expected"
    q -d "$db" -f "${E2E_ROOT}/tests/e2e/schema_fingerprint.sql" >"$work/upgraded"
    expect_eq "${old} → ${current}: the upgraded schema equals a fresh install" \
        "$(diff "$work/fresh" "$work/upgraded" | head -20)" ""
    expect_eq "${old} → ${current}: the upgraded extension still works" \
        "$(ingest_fixture "$db" msg_4 user.updated.email)" "stale"
    q -d "$db" -f "${E2E_ROOT}/tests/fixtures/prisma_organizations.sql" >/dev/null
    expect_eq "${old} → ${current}: an organization event kept before the update replays once the app has the tables; a membership of the deleted user stays out" \
        "$(q -d "$db" -c "SELECT clerk_sync.replay('msg_o')") $(ingest_fixture "$db" msg_5 organizationMembership.created)" \
        "created stale"
    q -d postgres -c "DROP DATABASE ${db}"
done
q -d postgres -c "DROP DATABASE e2e_fresh"

# An install whose schema another role came to own (0.4.1 installed into a pre-created schema
# without a word): the update refuses until a superuser takes the schema back.
latest="$(printf '%s\n' "${E2E_ROOT}"/sql/released/clerk_sync--*.sql | grep -v -- "--${current}.sql" | sort -V | tail -n1)"
latest="$(basename "$latest" .sql)"
latest="${latest#clerk_sync--}"
q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS e2e_upgrade_owner" \
    -c "CREATE DATABASE e2e_upgrade_owner" -c "DROP ROLE IF EXISTS e2e_schema_owner" -c "CREATE ROLE e2e_schema_owner"
q -d e2e_upgrade_owner -c "CREATE EXTENSION clerk_sync VERSION '${latest}'" -c "ALTER SCHEMA clerk_sync OWNER TO e2e_schema_owner"
refused="$(psql -X -q -At -d e2e_upgrade_owner -v VERBOSITY=sqlstate -c "\\set VERBOSITY sqlstate" \
    -c "ALTER EXTENSION clerk_sync UPDATE" 2>&1 || true)"
expect_eq "${latest} → ${current}: refused while another role owns schema clerk_sync" "$refused" "ERROR:  42501"
expect_eq "... and nothing changed" "$(q -d e2e_upgrade_owner -c "SELECT extversion FROM pg_extension WHERE extname = 'clerk_sync'")" "$latest"
q -d e2e_upgrade_owner -c "ALTER SCHEMA clerk_sync OWNER TO CURRENT_USER" -c "ALTER EXTENSION clerk_sync UPDATE"
expect_eq "... and done once a superuser owns it again" \
    "$(q -d e2e_upgrade_owner -c "SELECT extversion FROM pg_extension WHERE extname = 'clerk_sync'")" "$current"
q -d postgres -c "DROP DATABASE e2e_upgrade_owner" -c "DROP ROLE e2e_schema_owner"
e2e_summary
