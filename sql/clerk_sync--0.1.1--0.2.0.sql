-- clerk_sync 0.1.1 → 0.2.0: least privilege.
-- Released upgrade scripts are never edited; the next release gets a script of its own.
-- The library now writes app tables as their owner in a security-restricted operation, and
-- decides every event in one engine (no SQL object changes for those); here, every function whose
-- body is resolved when it runs pins its search_path, erasure moves into the library, and
-- expose_webhook refuses a function another role owns.

ALTER FUNCTION clerk_sync.clerk_apply(jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.backfill(jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.replay(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.ingest(text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.replay_each(text[]) SET search_path = pg_catalog, pg_temp;

-- Erasure moved into the library, beside the rest of the inbox's writes from Rust.
CREATE OR REPLACE FUNCTION clerk_sync.redact_user_payloads(user_id text) RETURNS bigint
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'redact_user_payloads_wrapper';

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
