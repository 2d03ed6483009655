-- clerk_sync 0.1.1 → 0.2.0: least privilege.
-- Released upgrade scripts are never edited; the next release gets a script of its own.
-- The library writes app tables as their owner in a security-restricted operation and decides
-- every event in one engine; every function whose body is resolved when it runs pins its
-- search_path; the delivery path and the inbox's writes move into the library; expose_webhook
-- refuses a function another role owns.

ALTER FUNCTION clerk_sync.clerk_apply(jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.backfill(jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.replay_each(text[]) SET search_path = pg_catalog, pg_temp;

-- One delivery, decided in the library: receive, ingest and replay move from PL/pgSQL into
-- src/receive.rs, and every write of the inbox into src/inbox.rs.
CREATE OR REPLACE FUNCTION clerk_sync.receive(headers jsonb, body text) RETURNS jsonb
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'receive_wrapper';

CREATE OR REPLACE FUNCTION clerk_sync.ingest(msg_id text, payload jsonb) RETURNS text
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'ingest_wrapper';

CREATE OR REPLACE FUNCTION clerk_sync.replay(msg_id text) RETURNS text
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'replay_wrapper';

CREATE OR REPLACE FUNCTION clerk_sync.prune(older_than interval, include_failed bool DEFAULT false) RETURNS bigint
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'prune_wrapper';

-- Erasure moved into the library, beside the rest of the inbox's writes.
CREATE OR REPLACE FUNCTION clerk_sync.redact_user_payloads(user_id text) RETURNS bigint
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'redact_user_payloads_wrapper';

-- lz4 where the server was built with it: it compresses a payload in a fraction of pglz's time.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_settings WHERE name = 'default_toast_compression' AND 'lz4'::text = ANY (enumvals)) THEN
        ALTER TABLE clerk_sync.inbox ALTER COLUMN payload SET COMPRESSION lz4;
    END IF;
END
$$;

-- The envelope is read once, in Rust: its SQL twins go.
DROP FUNCTION clerk_sync.event_at(jsonb);
DROP FUNCTION clerk_sync.event_user_id(jsonb);

-- Publishes the webhook in PostgREST's API schema as <api_schema>.<function_name>(json) and
-- lets anon_role call it (and nothing else of clerk_sync). Returns the path to append to the
-- PostgREST URL for the Clerk dashboard. A function of that name that another role owns is
-- refused: CREATE OR REPLACE would keep its owner, who could later change what anon_role runs.
CREATE OR REPLACE FUNCTION clerk_sync.expose_webhook(api_schema name, anon_role name, function_name name DEFAULT 'clerk_webhook')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    existing_owner name;
BEGIN
    SELECT pg_get_userbyid(p.proowner) INTO existing_owner
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = api_schema AND p.proname = function_name;
    IF FOUND AND existing_owner <> current_user THEN
        RAISE EXCEPTION 'function %.% already exists and belongs to role %', api_schema, function_name, existing_owner
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Drop it first (DROP FUNCTION %I.%I), or pass another function_name.', api_schema, function_name);
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', api_schema);
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION %I.%I(json) RETURNS jsonb LANGUAGE sql VOLATILE '
        'SET search_path = pg_catalog, pg_temp AS %L',
        api_schema, function_name, 'SELECT clerk_sync.webhook($1)');
    EXECUTE format('COMMENT ON FUNCTION %I.%I(json) IS %L', api_schema, function_name,
                   'Clerk webhook endpoint (clerk_sync): POST the raw Svix request here.');
    EXECUTE format('REVOKE ALL ON FUNCTION %I.%I(json) FROM PUBLIC', api_schema, function_name);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', api_schema, anon_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I(json) TO %I', api_schema, function_name, anon_role);
    EXECUTE format('GRANT USAGE ON SCHEMA clerk_sync TO %I', anon_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION clerk_sync.webhook(json) TO %I', anon_role);
    RETURN format('/rpc/%s', function_name);
END
$$;
