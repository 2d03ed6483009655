-- clerk_sync 0.4.1 → 0.4.2: hardening. The schema is ours or nothing is updated; the PostgREST
-- entry point and the functions expose_webhook wrote are bound to clerk_sync's own functions at
-- CREATE; every function that runs SQL pins its search_path.
-- Released upgrade scripts are never edited; the next release gets a script of its own.

DO $$
DECLARE
    schema_owner text;
    extension_owner text;
    creators text;
BEGIN
    SELECT pg_catalog.pg_get_userbyid(n.nspowner), pg_catalog.pg_get_userbyid(e.extowner),
           (SELECT pg_catalog.string_agg(DISTINCT CASE a.grantee WHEN 0 THEN 'PUBLIC'
                                                   ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
            FROM pg_catalog.aclexplode(n.nspacl) a
            WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner)
      INTO schema_owner, extension_owner, creators
    FROM pg_catalog.pg_namespace n, pg_catalog.pg_extension e
    WHERE n.nspname = 'clerk_sync' AND e.extname = 'clerk_sync';
    IF schema_owner IS DISTINCT FROM extension_owner THEN
        RAISE EXCEPTION 'schema clerk_sync belongs to role %, not to %, who is installing the extension', schema_owner, extension_owner
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The owner of the schema could rename it or replace what is in it and so run code as the extension''s owner.',
                  HINT = 'Never create schema clerk_sync before CREATE EXTENSION (restore dumps as a superuser). Check what is in it, then DROP SCHEMA clerk_sync, or ALTER SCHEMA clerk_sync OWNER TO ' || pg_catalog.quote_ident(extension_owner) || ', and try again.';
    END IF;
    IF creators IS NOT NULL THEN
        RAISE EXCEPTION 'roles other than its owner may create objects in schema clerk_sync: %', creators
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'REVOKE CREATE ON SCHEMA clerk_sync FROM ' || creators || ', and try again.';
    END IF;
END
$$;

-- The PostgREST entry point, as sql/webhook.sql creates it in a fresh install.
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

CREATE FUNCTION clerk_sync.respond(answer jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('response.status', answer ->> 'status', true);
    RETURN answer;
END
$$;

CREATE OR REPLACE FUNCTION clerk_sync.webhook(json) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT clerk_sync.respond(clerk_sync.receive(clerk_sync.request_headers(), $1::text));
END;

REVOKE EXECUTE ON FUNCTION clerk_sync.request_headers(), clerk_sync.respond(jsonb) FROM PUBLIC;

-- The functions expose_webhook wrote (SELECT clerk_sync.webhook($1), resolved by name when
-- called) are bound at CREATE too; owner, grants and comment stay.
DO $$
DECLARE
    published regprocedure;
BEGIN
    FOR published IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
        WHERE p.prolang = (SELECT oid FROM pg_catalog.pg_language WHERE lanname = 'sql')
          AND p.prosqlbody IS NULL AND p.prosrc = 'SELECT clerk_sync.webhook($1)'
          AND p.proargtypes = '114'::pg_catalog.oidvector AND p.prorettype = 'jsonb'::pg_catalog.regtype
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE FUNCTION %s RETURNS jsonb LANGUAGE sql VOLATILE '
            'SET search_path = pg_catalog, pg_temp BEGIN ATOMIC SELECT clerk_sync.webhook($1); END', published);
    END LOOP;
END
$$;

-- expose_webhook writes functions bound at CREATE.
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

-- Every function whose body runs SQL pins its search_path (those that run none do not).
ALTER FUNCTION clerk_sync.add_secret(text, text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.remove_secret(text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.secrets() SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.set_setting(text, text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.reset_setting(text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.settings() SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.setting_value(text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.setting_is_valid(text, text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.clerk_verify(jsonb, text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.clerk_verify(jsonb, text, timestamptz) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.clerk_verify(jsonb, text, text, timestamptz, integer) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.clerk_verify_report(jsonb, text, timestamptz) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.clerk_verify_report(jsonb, text, text, timestamptz, integer) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION clerk_sync.clerk_sign(text, text, bigint, text) SET search_path TO pg_catalog, pg_temp;

-- ensure_user() and ensure_user(claims) now return the user's row id, as the contract says (0.4.1
-- returned a word); their SQL declaration is unchanged.

-- remove_unlisted is told each id's kind (users, organizations, memberships) instead of guessing
-- it from the id's prefix. Whoever was granted the old one is granted the new one.
DO $$
DECLARE
    grantees text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)), ', ')
      INTO grantees
    FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
    WHERE p.oid = 'clerk_sync.remove_unlisted(text[], timestamptz)'::pg_catalog.regprocedure
      AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0;
    DROP FUNCTION clerk_sync.remove_unlisted(text[], timestamptz);
    CREATE FUNCTION clerk_sync.remove_unlisted(users text[], organizations text[], memberships text[], listing_began timestamptz)
    RETURNS TABLE (clerk_id text, outcome text)
    VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'remove_unlisted_of_kinds_wrapper';
    REVOKE EXECUTE ON FUNCTION clerk_sync.remove_unlisted(text[], text[], text[], timestamptz) FROM PUBLIC;
    IF grantees IS NOT NULL THEN
        EXECUTE 'GRANT EXECUTE ON FUNCTION clerk_sync.remove_unlisted(text[], text[], text[], timestamptz) TO ' || grantees;
    END IF;
END
$$;

-- What `sync` calls runs as the extension's owner, as receive does: its role needs EXECUTE on
-- them and nothing else (0.4.1 also needed rights on clerk_sync's tables, which it did not say).
ALTER FUNCTION clerk_sync.backfill(jsonb) SECURITY DEFINER;
ALTER FUNCTION clerk_sync.unlisted_users(text[]) SECURITY DEFINER;
ALTER FUNCTION clerk_sync.unlisted_organizations(text[]) SECURITY DEFINER;
ALTER FUNCTION clerk_sync.unlisted_memberships(text[]) SECURITY DEFINER;
