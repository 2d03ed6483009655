-- The schema is ours or nothing runs. A role that owns schema clerk_sync (it created it before a
-- superuser ran CREATE EXTENSION, or a restore as that role did) could rename it, plant a
-- clerk_sync.receive of its own, and have PostgREST's next unauthenticated POST run it inside the
-- SECURITY DEFINER webhook() as the superuser. Each attack tries to make the role a superuser;
-- app_is_superuser shows it did not.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS clerk_sync_schema_ownership;
DROP ROLE IF EXISTS clerk_so_app;
DROP ROLE IF EXISTS clerk_so_anon;
CREATE DATABASE clerk_sync_schema_ownership;
\c clerk_sync_schema_ownership
SET client_min_messages = warning;
\set VERBOSITY default
-- Where the error came from (PostgreSQL 18 also prints the script's statement) is not the point.
\set SHOW_CONTEXT never
CREATE ROLE clerk_so_app NOLOGIN;
CREATE ROLE clerk_so_anon NOLOGIN;
-- The app's role may create schemas, as a database's owner may.
GRANT CREATE ON DATABASE clerk_sync_schema_ownership TO clerk_so_app;
CREATE SCHEMA checks;
CREATE VIEW checks.app_is_superuser AS SELECT rolsuper AS app_is_superuser FROM pg_roles WHERE rolname = 'clerk_so_app';

-- 1. Installing into a schema another role owns, or may create in, is refused.
CREATE SCHEMA clerk_sync AUTHORIZATION clerk_so_app;
CREATE EXTENSION clerk_sync;
ALTER SCHEMA clerk_sync OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA clerk_sync TO clerk_so_app, PUBLIC;
CREATE EXTENSION clerk_sync;
REVOKE CREATE ON SCHEMA clerk_sync FROM clerk_so_app, PUBLIC;
CREATE EXTENSION clerk_sync;
SELECT clerk_sync.add_secret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw') IS NOT NULL AS secret_added;
SELECT clerk_sync.expose_webhook('api', 'clerk_so_anon');
\set VERBOSITY terse

-- The functions PostgREST reaches are bound to clerk_sync's own at CREATE (SQL-standard bodies).
SELECT p.oid::regprocedure AS function, l.lanname AS language, p.prosqlbody IS NOT NULL AS bound_at_create
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid IN ('clerk_sync.webhook(json)'::regprocedure, 'api.clerk_webhook(json)'::regprocedure)
ORDER BY 1;

-- 2. An install whose schema another role came to own (as 0.4.1 allowed): that role renames the
-- schema and plants a receive() of its own. The webhook still calls clerk_sync's own receive,
-- which refuses to run in a schema it cannot trust: 500, nothing stored, nobody escalated.
ALTER SCHEMA clerk_sync OWNER TO clerk_so_app;
SELECT severity, problem FROM clerk_sync.doctor();
SELECT clerk_sync.status() -> 'trusted_schema' AS trusted_schema;
SET ROLE clerk_so_app;
ALTER SCHEMA clerk_sync RENAME TO clerk_sync_renamed;
CREATE SCHEMA clerk_sync;
GRANT USAGE ON SCHEMA clerk_sync TO PUBLIC;
CREATE FUNCTION clerk_sync.receive(headers jsonb, body text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE clerk_so_app SUPERUSER;
    RETURN '{"status": 200, "outcome": "planted"}';
END $$;
CREATE TABLE clerk_sync.inbox (msg_id text);
RESET ROLE;
BEGIN;
SET LOCAL ROLE clerk_so_anon;
SELECT api.clerk_webhook('{"type": "user.created", "data": {"id": "user_1"}}'::json) ->> 'outcome' AS outcome;
SELECT current_setting('response.status', true) AS response_status;
COMMIT;
-- The anon role may call the entry point itself, wherever its schema went.
SET ROLE clerk_so_anon;
SELECT clerk_sync_renamed.webhook('{}'::json) ->> 'outcome' AS outcome;
RESET ROLE;
SELECT * FROM checks.app_is_superuser;
SELECT count(*) AS deliveries_stored FROM clerk_sync_renamed.inbox;
SELECT (clerk_sync_renamed.receive('{}', '{}')) ->> 'error' AS receive_error;

-- 3. Put back: the superuser takes the schema back; deliveries are answered again.
DROP SCHEMA clerk_sync CASCADE;
ALTER SCHEMA clerk_sync_renamed RENAME TO clerk_sync;
ALTER SCHEMA clerk_sync OWNER TO CURRENT_USER;
SELECT count(*) AS doctor_findings FROM clerk_sync.doctor() WHERE problem LIKE '%schema clerk_sync%';
SET ROLE clerk_so_anon;
SELECT api.clerk_webhook('{}'::json) ->> 'outcome' AS outcome;
RESET ROLE;

\c contract_regression
SET client_min_messages = warning;
DROP DATABASE clerk_sync_schema_ownership;
DROP ROLE clerk_so_app;
DROP ROLE clerk_so_anon;
