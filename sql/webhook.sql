-- The PostgREST entry point and its publication. receive(), the whole pipeline for any proxy, is
-- in src/entry/receive.rs; webhook(json) is the same for PostgREST; expose_webhook() publishes it in
-- PostgREST's API schema. Both entry points are SECURITY DEFINER with a pinned search_path, so
-- the role that calls them needs EXECUTE on them and nothing else.

-- The request's headers as PostgREST sets them (lower-cased JSON); {} when unset or not JSON.
CREATE FUNCTION clerk_sync.request_headers() RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}'::jsonb);
EXCEPTION WHEN OTHERS THEN
    RETURN '{}'::jsonb;
END
$$;

-- Tells PostgREST the HTTP status of a pipeline's answer (response.status) and returns it.
CREATE FUNCTION clerk_sync.respond(answer jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('response.status', answer ->> 'status', true);
    RETURN answer;
END
$$;

-- The PostgREST entry point: one unnamed json parameter, so PostgREST passes the raw body
-- unchanged; headers from request.headers; the HTTP status through response.status, so that the
-- transaction (and the inbox row) commits whatever the status. Its body is resolved once, at
-- CREATE (BEGIN ATOMIC): it calls these functions by identity, and no schema renamed or planted
-- later can change what it runs as the extension's owner.
CREATE FUNCTION clerk_sync.webhook(json) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT clerk_sync.respond(clerk_sync.receive(clerk_sync.request_headers(), $1::text));
END;

-- Publishes the webhook in PostgREST's API schema as <api_schema>.<function_name>(json) and
-- lets anon_role call it (and nothing else of clerk_sync). Returns the path to append to the
-- PostgREST URL for the Clerk dashboard. Its body, too, is bound at CREATE. A function of that name that another role owns is
-- refused: CREATE OR REPLACE would keep its owner, who could later change what anon_role runs.
CREATE FUNCTION clerk_sync.expose_webhook(api_schema name, anon_role name, function_name name DEFAULT 'clerk_webhook')
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
        'SET search_path = pg_catalog, pg_temp BEGIN ATOMIC SELECT clerk_sync.webhook($1); END',
        api_schema, function_name);
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
