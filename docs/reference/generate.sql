-- Writes the reference pages from a database where clerk_sync was just created (scripts/reference
-- makes one): functions.md from the catalog (descriptions from functions.tsv, passed as
-- :'descriptions'), settings.md from clerk_sync.settings(), errors.md by provoking each error and
-- reading back its SQLSTATE, message and hint. Output directory: :'out'.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
\pset footer off
SET client_min_messages = warning;

CREATE TEMP TABLE description AS
SELECT split_part(line, E'\t', 1) AS name, split_part(line, E'\t', 2) AS text
FROM regexp_split_to_table(:'descriptions', E'\n') AS line WHERE line <> '';

CREATE TEMP VIEW extension_function AS
SELECT p.oid, p.proname::text AS name, pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result, p.prosecdef AS definer, p.provolatile AS volatility
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid AND e.extname = 'clerk_sync';

-- A function without a description, or a description of no function, stops the generator.
DO $$
DECLARE missing text;
BEGIN
    SELECT string_agg(DISTINCT name, ', ') INTO missing FROM extension_function
    WHERE name NOT IN (SELECT name FROM description);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no line in docs/reference/functions.tsv for: %', missing;
    END IF;
    SELECT string_agg(name, ', ') INTO missing FROM description
    WHERE name NOT IN (SELECT name FROM extension_function);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'docs/reference/functions.tsv describes functions that do not exist: %', missing;
    END IF;
END $$;

\set file :out '/functions.md'
\o :file
SELECT '# Functions

Every function of schema `clerk_sync`, generated from the catalog by `./scripts/reference` (the
suite fails when this page differs from what it generates). Nothing is executable by PUBLIC; see
[the security model](../security.md) for who is granted what. Runs as: *owner* for `SECURITY
DEFINER` functions, else the caller.

| function | returns | volatility | runs as | what it does |
|---|---|---|---|---|';
SELECT format('| `%s(%s)` | `%s` | %s | %s | %s |', f.name, f.arguments, f.result,
              CASE f.volatility WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
              CASE WHEN f.definer THEN 'owner' ELSE 'caller' END, d.text)
FROM extension_function AS f JOIN description AS d USING (name)
ORDER BY f.name, f.arguments;
\o

\set file :out '/settings.md'
\o :file
SELECT '# Settings

Every setting, its default and what it does, generated from `clerk_sync.settings()` by
`./scripts/reference`. Set with `clerk_sync.set_setting(name, value)` (validated: `22023` for a
bad value, `42704` for an unknown name), back to the default with `reset_setting(name)`. Settings
are rows of `clerk_sync.setting`: transactional, kept by `pg_dump`, seen by every session when
they commit.

| setting | default | what it does |
|---|---|---|';
SELECT format('| `%s` | %s | %s |', name, CASE WHEN value = '' THEN '(empty)' ELSE format('`%s`', value) END, description)
FROM clerk_sync.settings() WITH ORDINALITY AS s (name, value, is_default, description, n)
ORDER BY n;
\o

-- The README's one line per function (overloads together), spliced in by scripts/reference.
\set file :out '/readme-api.md'
\o :file
SELECT format('- `%s(%s)` — %s', f.name, CASE WHEN count(*) > 1 THEN '…' ELSE min(f.arguments) END, min(d.text))
FROM extension_function AS f JOIN description AS d USING (name)
WHERE f.name NOT IN ('config_changed', 'setting_is_valid', 'request_headers', 'respond')
GROUP BY f.name ORDER BY f.name;
\o

-- Each error, provoked: the statement that raises it, its SQLSTATE, message and hint.
\o /dev/null
CREATE SCHEMA reference;
CREATE TABLE reference.error (n serial, situation text, statement text, sqlstate text, message text, hint text);
CREATE FUNCTION reference.provoke(situation text, statement text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
    BEGIN
        EXECUTE statement;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
        INSERT INTO reference.error (situation, statement, sqlstate, message, hint)
        VALUES (situation, statement, state, msg, nullif(hint, ''));
        RETURN;
    END;
    RAISE EXCEPTION 'did not raise: %', statement;
END $$;

SELECT reference.provoke('no signing secret is configured',
    $q$SELECT clerk_sync.clerk_verify('{}'::jsonb, 'body')$q$);
SELECT reference.provoke('a secret that is not base64',
    $q$SELECT clerk_sync.add_secret('not base64!')$q$);
SELECT clerk_sync.add_secret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'main');
SELECT reference.provoke('a label another secret has',
    $q$SELECT clerk_sync.add_secret('whsec_dGVzdF9zZWNyZXRfdHdv', 'main')$q$);
SELECT reference.provoke('an unknown secret label',
    $q$SELECT clerk_sync.remove_secret('old')$q$);
SELECT reference.provoke('an unknown setting',
    $q$SELECT clerk_sync.set_setting('tolerance', '60')$q$);
SELECT reference.provoke('a setting value out of range',
    $q$SELECT clerk_sync.set_setting('timestamp_tolerance', '-1')$q$);
SELECT reference.provoke('NULL where a value is needed',
    $q$SELECT clerk_sync.clerk_verify('{}'::jsonb, 'body', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', NULL)$q$);
SELECT reference.provoke('a negative tolerance',
    $q$SELECT clerk_sync.clerk_verify('{}'::jsonb, 'body', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), -1)$q$);
SELECT reference.provoke('an infinite listing time',
    $q$SELECT * FROM clerk_sync.remove_unlisted('{}', '{}', '{}', 'infinity')$q$);
SELECT reference.provoke('the users table does not exist',
    $q$SELECT clerk_sync.clerk_apply('{"type": "user.created", "data": {"id": "user_1", "updated_at": 1}}')$q$);
CREATE TABLE public."User" (id text PRIMARY KEY, "clerkUserId" text UNIQUE, email text, username text UNIQUE,
    "firstName" text, "lastName" text, "photoUrl" text, "phoneNumber" text, "createdAt" timestamp(3), "updatedAt" timestamp(3));
SELECT reference.provoke('an event without data.id',
    $q$SELECT clerk_sync.clerk_apply('{"type": "user.created", "data": {}}')$q$);
SELECT reference.provoke('a field of the wrong type',
    $q$SELECT clerk_sync.clerk_apply('{"type": "user.created", "data": {"id": "user_1", "first_name": 7}}')$q$);
SELECT reference.provoke('a mapped column that does not exist',
    $q$SELECT clerk_sync.set_setting('column.email', 'mail'), clerk_sync.clerk_apply('{"type": "user.created", "data": {"id": "user_1", "updated_at": 1}}')$q$);
SELECT reference.provoke('a stored delivery that does not exist',
    $q$SELECT clerk_sync.replay('msg_none')$q$);
SELECT clerk_sync.ingest('msg_applied', '{"type": "session.created", "object": "event", "data": {"user_id": "user_1"}}');
SELECT reference.provoke('a replay of a delivery that applied, its payload not kept (keep_payloads = failed)',
    $q$SELECT clerk_sync.replay('msg_applied')$q$);
SELECT reference.provoke('the caller''s session holds temporary objects',
    $q$CREATE TEMP TABLE scratch (); SELECT clerk_sync.clerk_apply('{"type": "user.created", "data": {"id": "user_1", "updated_at": 1}}')$q$);
CREATE ROLE reference_nobody;
GRANT USAGE ON SCHEMA clerk_sync TO reference_nobody;
GRANT EXECUTE ON FUNCTION clerk_sync.clerk_verify(jsonb, text) TO reference_nobody;
SELECT reference.provoke('a role that may not read the secrets',
    $q$SET LOCAL ROLE reference_nobody; SELECT clerk_sync.clerk_verify('{}'::jsonb, 'body')$q$);
SELECT reference.provoke('a role without EXECUTE (every function, for PUBLIC)',
    $q$SET LOCAL ROLE reference_nobody; SELECT clerk_sync.secrets()$q$);
DROP OWNED BY reference_nobody;
DROP ROLE reference_nobody;

\set file :out '/errors.md'
\o :file
SELECT '# Errors

What clerk_sync raises, each provoked by `./scripts/reference` on a fresh database and read back
(SQLSTATE, message, hint), so this page is what the code does. A delivery that fails while it is
applied is kept in the inbox as `failed` with its SQLSTATE and answered 500 (Svix retries it); a
body that is not a valid Clerk event is kept and answered 400. Nothing a sender controls makes
`clerk_verify` raise. Not provoked here, because a fresh database cannot reach them in one
statement: `23505` when all nine candidate usernames of a user are taken, `23503` when a
membership refers to an organization or user row that is missing under `membership.references = clerk_ids`,
`42501` when schema `clerk_sync` belongs to another role (see [the security model](../security.md)),
`0A000` when `CREATE EXTENSION` runs in a database not encoded in UTF8 or an older `sync` calls a
function this release replaced.

| situation | statement | SQLSTATE | message | hint |
|---|---|---|---|---|';
SELECT format('| %s | `%s` | `%s` | %s | %s |', situation, replace(statement, '|', '\|'), sqlstate,
              replace(message, '|', '\|'), coalesce(replace(hint, '|', '\|'), ''))
FROM reference.error ORDER BY n;
\o
